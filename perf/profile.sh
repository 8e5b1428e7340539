#!/usr/bin/env bash
# CPU profile of shoal-server under redis-benchmark load, rendered as a flame graph.
#
# Usage: perf/profile.sh [SECONDS]    (from any directory; default 10 seconds)
# Environment:
#   TESTS=set,get   PIPELINE=16   CLIENTS=50   KEYSPACE=100000   redis-benchmark load
#   SHARDS=1        Shoal --shards; server on CPU 0, load on the other CPUs
#   FREQ=499        perf sampling frequency (Hz)
#   CALL_GRAPH=     "fp" for -g (frame pointers) or "dwarf"; default: fp when RUSTFLAGS forces
#                   frame pointers, else dwarf (Rust release builds omit frame pointers)
#   SKIP_BUILD=1    use the existing release binary
# Output: perf/out/shoal.perf.data, perf/out/shoal.folded, perf/out/shoal-flame.svg
# Needs `perf` (Debian: linux-perf) and inferno (`cargo install inferno`); installs them when
# missing, and exits non-zero with the reason when perf cannot record here.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
perf_init

SECONDS_TO_RECORD="${1:-10}"
TESTS="${TESTS:-set,get}"
PIPELINE="${PIPELINE:-16}"
CLIENTS="${CLIENTS:-50}"
KEYSPACE="${KEYSPACE:-100000}"
SHARDS="${SHARDS:-1}"
FREQ="${FREQ:-499}"

ensure_perf
if ! command -v inferno-flamegraph >/dev/null || ! command -v inferno-collapse-perf >/dev/null; then
    echo "inferno missing: cargo install inferno" >&2
    cargo install inferno >&2
fi

# Prove perf can sample here before starting anything (containers often forbid it).
probe="$OUT/perf-probe.data"
if ! probe_err=$(perf record -q -F "$FREQ" -o "$probe" -- sleep 0.1 2>&1); then
    echo "perf cannot record on this machine:" >&2
    echo "$probe_err" >&2
    echo "(kernel.perf_event_paranoid = $(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?'));" \
        "run as root or lower it with: sysctl kernel.perf_event_paranoid=1" >&2
    rm -f "$probe"
    exit 2
fi
rm -f "$probe"

case "${CALL_GRAPH:-}" in
    fp) cg=(-g) ;;
    dwarf) cg=(--call-graph "dwarf,16384") ;;
    "")
        if [[ "${RUSTFLAGS:-}" == *force-frame-pointers* ]]; then cg=(-g); else cg=(--call-graph "dwarf,16384"); fi
        ;;
    *)
        echo "CALL_GRAPH must be fp or dwarf" >&2
        exit 1
        ;;
esac

build_release

load_cpus=0
((NCPU > 1)) && load_cpus="1-$((NCPU - 1))"
port=$(free_port)
start_shoal 0 "$port" --shards "$SHARDS"
pid=$STARTED_PID

# Enough requests to outlast the recording; the load is stopped by PID once perf is done.
taskset -c "$load_cpus" redis-benchmark -p "$port" -c "$CLIENTS" -P "$PIPELINE" -r "$KEYSPACE" \
    -t "$TESTS" -n 1000000000 -l -q </dev/null >/dev/null 2>&1 &
load_pid=$!
PERF_PIDS+=("$load_pid")
sleep 1

data="$OUT/shoal.perf.data"
echo "recording shoal-server (pid $pid) for ${SECONDS_TO_RECORD}s with ${cg[*]}" >&2
perf record -F "$FREQ" "${cg[@]}" -p "$pid" -o "$data" -- sleep "$SECONDS_TO_RECORD" 2>"$OUT/perf-record.log" || {
    echo "perf record failed:" >&2
    cat "$OUT/perf-record.log" >&2
    exit 2
}
stop_server "$load_pid"

folded="$OUT/shoal.folded"
svg="$OUT/shoal-flame.svg"
perf script -i "$data" 2>/dev/null | inferno-collapse-perf >"$folded"
inferno-flamegraph --title "shoal-server: $TESTS -P $PIPELINE -c $CLIENTS, ${SECONDS_TO_RECORD}s" <"$folded" >"$svg"
echo "flame graph: $svg"
echo "top frames (self samples):"
awk '{ n = $NF; $NF = ""; split($0, f, ";"); leaf = f[length(f)]; sub(/ +$/, "", leaf); self[leaf] += n; total += n }
     END { for (l in self) printf "%6.2f%%  %s\n", 100 * self[l] / total, l }' "$folded" | sort -rn | head -15
