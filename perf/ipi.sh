#!/usr/bin/env bash
# Interrupts that a load costs the server's CPU: inter-processor interrupts sent to it, by the
# kernel function that sent them, and io_uring waits that armed a poll, for Shoal and
# redis-server under the same redis-benchmark run.
#
# Why: a wait on the io_uring ring that the client's send completes while the core runs is
# io_uring task work, and the kernel interrupts the core for it (`task_work_add`); epoll only
# marks the socket ready. Shoal's cores wait on the ring only when their epoll pass finds
# nothing (src/runtime/readiness.rs). This script counts both kinds, so a change to the read
# path can be judged by more than noisy timings.
#
# Usage: perf/ipi.sh                 (from any directory; needs root for tracepoints)
# Environment:
#   TEST=get  N=1000000  PIPELINE=16  CLIENTS=50  KEYSPACE=100000   the load (after a SET fill)
#   SKIP_BUILD=1        use the existing release binary
# Prints, per server: requests/s, server CPU ticks, IPIs sent to the server's CPU by call
# site (top 4), and io_uring poll arms on the server's rings.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
perf_init

TEST="${TEST:-get}"
N="${N:-1000000}"
PIPELINE="${PIPELINE:-16}"
CLIENTS="${CLIENTS:-50}"
KEYSPACE="${KEYSPACE:-100000}"

ensure_perf
if ! grep -q "ipi:ipi_send_cpu " <<<"$(perf list tracepoint 2>/dev/null)"; then
    echo "this kernel has no ipi:ipi_send_cpu tracepoint (needs 6.6 or later)" >&2
    exit 2
fi
(( NCPU >= 2 )) || { echo "needs 2 CPUs: the server on CPU 0, the client on CPU 1" >&2; exit 2; }
build_release

for flavor in shoal redis; do
    port=$(free_port)
    if [[ $flavor == shoal ]]; then
        start_shoal 0 "$port" --shards 1
    else
        start_redis 0 "$port"
    fi
    pid=$STARTED_PID
    taskset -c 1 redis-benchmark -p "$port" -t set -n 300000 -r "$KEYSPACE" -c "$CLIENTS" \
        -P 16 -q >/dev/null 2>&1
    data="$OUT/ipi-$flavor.data"
    perf record -a -e ipi:ipi_send_cpu -e io_uring:io_uring_poll_arm -o "$data" \
        >/dev/null 2>&1 &
    recorder=$!
    sleep 0.5
    t0=$(cpu_ticks "$pid")
    rps=$(taskset -c 1 redis-benchmark -p "$port" -t "$TEST" -n "$N" -r "$KEYSPACE" \
        -c "$CLIENTS" -P "$PIPELINE" --csv </dev/null | awk -F'"' 'NR > 1 && NF > 1 { v = $4 } END { print v }')
    t1=$(cpu_ticks "$pid")
    kill -INT "$recorder"
    wait "$recorder" 2>/dev/null || true
    stop_server "$pid"
    echo "== $flavor: $TEST -P $PIPELINE, $N requests: $rps requests/s, server CPU $((t1 - t0)) ticks"
    events=$(perf script -i "$data" -F event,trace 2>/dev/null)
    grep "ipi_send_cpu" <<<"$events" | grep " cpu=0 " | grep -o "callsite=[^ ]*" |
        sed 's/^callsite=//' | sort | uniq -c | sort -rn | head -4 |
        awk '{ printf "   IPIs to CPU 0 from %-36s %8d\n", $2, $1 }'
    printf "   io_uring poll arms %37s %8d\n" "" "$(grep -c "io_uring_poll_arm" <<<"$events" || true)"
done
