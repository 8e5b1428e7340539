#!/usr/bin/env bash
# What cross-shard atomicity costs: the same multi-key work with every key on one shard
# (hash tag {t}) and with the keys on two different shards, on `shoal-server --shards 2`.
#
#   mset    redis-benchmark, CLIENTS connections, pipeline PIPELINE:
#           MSET {t}a v {t}b v   vs   MSET key:0 v key:6 v
#   multi   MULTI / INCR / INCR / EXEC transactions, pipelined, through TX_CONNS parallel
#           `redis-cli --pipe` connections (redis-benchmark sends single commands only, so it
#           cannot drive a transaction): INCR {t}a, INCR {t}b  vs  INCR key:0, INCR key:6
#
# Printed per case: requests/s (wall clock, a transaction counts as one request) and server
# CPU time per request (utime+stime of the server process over the run), then the
# cross/single ratios. key:0 / key:6 sitting on different shards of two is asserted by
# `key_placement_premises` in tests/transactions.rs.
#
# Usage: perf/cross_shard.sh
# Environment:
#   N=200000          MSET requests per case
#   CLIENTS=50        redis-benchmark -c
#   PIPELINE=16       redis-benchmark -P
#   TX_N=200000       transactions per case (split over the connections)
#   TX_CONNS=4        parallel redis-cli --pipe connections
#   SKIP_BUILD=1      use the existing release binary
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
perf_init

N="${N:-200000}"
CLIENTS="${CLIENTS:-50}"
PIPELINE="${PIPELINE:-16}"
TX_N="${TX_N:-200000}"
TX_CONNS="${TX_CONNS:-4}"
SAME_A='{t}a' SAME_B='{t}b'
CROSS_A='key:0' CROSS_B='key:6'
TICK_HZ="$(getconf CLK_TCK)"

build_release
PORT="$(free_port)"
start_shoal "$ALL_CPUS" "$PORT" --shards 2
PID=$STARTED_PID

# RESP for COUNT transactions `MULTI; INCR A; INCR B; EXEC` on stdout.
tx_stream() {
    local count=$1 a=$2 b=$3
    awk -v n="$count" -v a="$a" -v b="$b" 'BEGIN {
        tx = sprintf("*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n*1\r\n$4\r\nEXEC\r\n",
                     length(a), a, length(b), b)
        for (i = 0; i < n; i++) printf "%s", tx
    }'
}

# Runs the rest of the arguments as one measured case; prints "NAME RPS CPU_US_PER_REQ".
measure() {
    local name=$1 requests=$2
    shift 2
    local t0 t1 s e
    t0="$(cpu_ticks "$PID")"
    s="$(date +%s%N)"
    "$@"
    e="$(date +%s%N)"
    t1="$(cpu_ticks "$PID")"
    awk -v n="$name" -v r="$requests" -v ns=$((e - s)) -v ticks=$((t1 - t0)) -v hz="$TICK_HZ" \
        'BEGIN { printf "%s %.0f %.3f\n", n, r / (ns / 1e9), ticks / hz * 1e6 / r }'
}

bench_mset() {
    local a=$1 b=$2
    redis-benchmark -p "$PORT" -c "$CLIENTS" -n "$N" -P "$PIPELINE" -q MSET "$a" v "$b" v \
        </dev/null >/dev/null
}

run_tx() {
    local a=$1 b=$2 per=$((TX_N / TX_CONNS)) i out
    local pids=() files=()
    for ((i = 0; i < TX_CONNS; i++)); do
        out="$OUT/cross_shard-pipe-$i.txt"
        files+=("$out")
        tx_stream "$per" "$a" "$b" | redis-cli -p "$PORT" --pipe >"$out" 2>&1 &
        pids+=($!)
    done
    for i in "${pids[@]}"; do
        wait "$i"
    done
    for out in "${files[@]}"; do
        # redis-cli --pipe ends with "errors: E, replies: R".
        if ! grep -q "errors: 0, replies: $((per * 4))" "$out"; then
            echo "redis-cli --pipe reported a problem:" >&2
            cat "$out" >&2
            exit 1
        fi
    done
}

check_values() {
    local a=$1 b=$2 want=$3 got
    got="$(redis-cli -p "$PORT" mget "$a" "$b" | tr '\n' ' ')"
    if [[ "$got" != "$want $want " ]]; then
        echo "after the transactions $a $b = $got, expected $want each" >&2
        exit 1
    fi
}

RESULTS="$OUT/cross_shard.txt"
{
    redis-cli -p "$PORT" flushall >/dev/null
    measure mset-single "$N" bench_mset "$SAME_A" "$SAME_B"
    measure mset-cross "$N" bench_mset "$CROSS_A" "$CROSS_B"
    redis-cli -p "$PORT" flushall >/dev/null
    tx_total=$(((TX_N / TX_CONNS) * TX_CONNS))
    measure multi-single "$tx_total" run_tx "$SAME_A" "$SAME_B"
    check_values "$SAME_A" "$SAME_B" "$tx_total"
    measure multi-cross "$tx_total" run_tx "$CROSS_A" "$CROSS_B"
    check_values "$CROSS_A" "$CROSS_B" "$tx_total"
} >"$RESULTS"

echo "shoal-server --shards 2 on cpus $ALL_CPUS; mset: $N req, -c $CLIENTS -P $PIPELINE;" \
    "multi: $TX_N tx over $TX_CONNS redis-cli --pipe connections"
awk '
    { rps[$1] = $2; cpu[$1] = $3; order[NR] = $1 }
    END {
        printf "%-14s %12s %16s\n", "case", "req/s", "server-cpu-us/req"
        for (i = 1; i <= NR; i++) printf "%-14s %12d %16.3f\n", order[i], rps[order[i]], cpu[order[i]]
        printf "\n%-14s %12s %16s %10s\n", "cross/single", "req/s ratio", "cpu/req ratio", "target"
        split("mset multi", kinds, " ")
        for (k = 1; k <= 2; k++) {
            s = kinds[k] "-single"; c = kinds[k] "-cross"
            r = (cpu[s] > 0 ? cpu[c] / cpu[s] : 0)
            printf "%-14s %12.2f %16.2f %10s\n", kinds[k], rps[c] / rps[s], r,
                (kinds[k] == "mset" ? (r <= 2 ? "<= 2 pass" : "<= 2 short") : "")
        }
    }' "$RESULTS"
