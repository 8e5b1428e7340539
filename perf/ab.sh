#!/usr/bin/env bash
# Interleaved rounds of one redis-benchmark test over several Shoal binaries (and
# redis-server), each round on fresh servers, to compare builds on a noisy machine: the host's
# state drifts within minutes, so each round runs every build back to back and the medians
# are compared, never one run against another.
#
# Usage: perf/ab.sh                  (from any directory)
# Environment:
#   BUILDS="old=/path/to/shoal-server new=/path/to/other"   name=binary pairs (default: the
#                       release binary of this tree, as "head")
#   REDIS=1             also run redis-server in every round (0: skip it)
#   TEST=get  N=2000000  PIPELINE=16  CLIENTS=50  KEYSPACE=100000  ROUNDS=4
#   PLACE=pinned        pinned: server on CPU 0 (Shoal --shards 1), client on CPU 1;
#                       spread: servers and client (--threads 2) unpinned, Shoal --shards 2
#   SKIP_BUILD=1        use the existing release binary
# Each round fills the keyspace with SETs first, then reads the server's CPU ticks around the
# measured test. Prints ticks / requests per second per round and the median ticks per build.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
perf_init

TEST="${TEST:-get}"
N="${N:-2000000}"
PIPELINE="${PIPELINE:-16}"
CLIENTS="${CLIENTS:-50}"
KEYSPACE="${KEYSPACE:-100000}"
ROUNDS="${ROUNDS:-4}"
PLACE="${PLACE:-pinned}"
build_release
BUILDS="${BUILDS:-head=$SHOAL_BIN}"

case "$PLACE" in
    pinned) SERVER_CPUS=0 CLIENT=(taskset -c 1 redis-benchmark) SHARDS=1 ;;
    spread) SERVER_CPUS="$ALL_CPUS" CLIENT=(redis-benchmark --threads 2) SHARDS="$NCPU" ;;
    *) echo "PLACE must be pinned or spread" >&2; exit 2 ;;
esac

variants=()
for b in $BUILDS; do variants+=("$b"); done
[[ "${REDIS:-1}" == 1 ]] && variants+=("redis=")
declare -A results

for ((round = 1; round <= ROUNDS; round++)); do
    for v in "${variants[@]}"; do
        name=${v%%=*} bin=${v#*=}
        port=$(free_port)
        if [[ $name == redis ]]; then
            start_redis "$SERVER_CPUS" "$port"
        else
            SHOAL_BIN="$bin" start_shoal "$SERVER_CPUS" "$port" --shards "$SHARDS"
        fi
        pid=$STARTED_PID
        "${CLIENT[@]}" -p "$port" -t set -n 300000 -r "$KEYSPACE" -c "$CLIENTS" -P 16 -q \
            >/dev/null 2>&1
        t0=$(cpu_ticks "$pid")
        rps=$("${CLIENT[@]}" -p "$port" -t "$TEST" -n "$N" -r "$KEYSPACE" -c "$CLIENTS" \
            -P "$PIPELINE" --csv </dev/null | awk -F'"' 'NR > 1 && NF > 1 { v = $4 } END { print v }')
        t1=$(cpu_ticks "$pid")
        stop_server "$pid"
        results[$name]+=" $((t1 - t0))/${rps%.*}"
        echo "round $round $name: $((t1 - t0)) ticks, $rps requests/s" >&2
    done
done

echo "$TEST -P $PIPELINE, $N requests, $PLACE, $ROUNDS rounds (ticks/requests per second)"
for v in "${variants[@]}"; do
    name=${v%%=*}
    median=$(tr ' ' '\n' <<<"${results[$name]}" | grep . | cut -d/ -f1 | sort -n |
        awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
    printf "%-10s%s   median %s ticks\n" "$name" "${results[$name]}" "$median"
done
