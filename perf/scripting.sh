#!/usr/bin/env bash
# What a Lua script costs: EVALSHA of a one-call script (INCR of a random key) next to the
# plain INCR, Shoal (--shards 1) against redis-server, each pinned to CPU 0 with
# redis-benchmark on CPU 1.
#
# Usage: perf/scripting.sh
# Environment:
#   N=300000  ROUNDS=3  PIPELINE=16  KEYSPACE=100000  CLIENTS=50
#   SKIP_BUILD=1      use the existing release binary
# Prints per round, server and workload the requests/s and server CPU ticks, then the
# medians as CPU microseconds per request and the Shoal / redis-server ratios.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
perf_init

N="${N:-300000}"
ROUNDS="${ROUNDS:-3}"
PIPELINE="${PIPELINE:-16}"
KEYSPACE="${KEYSPACE:-100000}"
CLIENTS="${CLIENTS:-50}"
build_release

SCRIPT="return redis.call('INCR', KEYS[1])"
declare -A ticks rates
for ((round = 1; round <= ROUNDS; round++)); do
    for name in shoal redis; do
        port=$(free_port)
        if [[ $name == shoal ]]; then
            start_shoal 0 "$port" --shards 1
        else
            start_redis 0 "$port"
        fi
        pid=$STARTED_PID
        sha=$(redis-cli -p "$port" script load "$SCRIPT")
        for load in incr evalsha; do
            if [[ $load == incr ]]; then
                cmd=(INCR "key:__rand_int__")
            else
                cmd=(EVALSHA "$sha" 1 "key:__rand_int__")
            fi
            t0=$(cpu_ticks "$pid")
            rps=$(taskset -c 1 redis-benchmark -p "$port" -n "$N" -r "$KEYSPACE" -c "$CLIENTS" \
                -P "$PIPELINE" --csv "${cmd[@]}" </dev/null | awk -F'"' 'NR > 1 && NF > 1 { v = $4 } END { print v }')
            t1=$(cpu_ticks "$pid")
            echo "round $round $name $load: $((t1 - t0)) ticks, $rps requests/s"
            ticks[$name-$load]+="$((t1 - t0)) "
            rates[$name-$load]+="$rps "
        done
        stop_server "$pid"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "$N requests -P $PIPELINE, median of $ROUNDS; CPU in microseconds per request (1 tick = 10 ms)"
printf '%-10s %12s %12s %8s %14s %14s %8s\n' load "shoal us" "redis us" ratio "shoal rps" "redis rps" ratio
for load in incr evalsha; do
    st=$(median <<<"${ticks[shoal-$load]}") rt=$(median <<<"${ticks[redis-$load]}")
    sr=$(median <<<"${rates[shoal-$load]}") rr=$(median <<<"${rates[redis-$load]}")
    awk -v l="$load" -v st="$st" -v rt="$rt" -v sr="$sr" -v rr="$rr" -v n="$N" 'BEGIN {
        printf "%-10s %12.2f %12.2f %8.2f %14s %14s %8.2f\n", l, st * 1e4 / n, rt * 1e4 / n, st / rt, sr, rr, sr / rr }'
done
