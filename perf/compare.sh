#!/usr/bin/env bash
# Throughput and latency of shoal-server against redis-server, side by side in one run.
#
# Usage: perf/compare.sh            (from any directory)
# Environment:
#   RUNS=3            runs per cell; the table shows the median of each column
#   N_P1=50000        requests per test at -P 1
#   N_P16=200000      requests per test at -P 16
#   CLIENTS=50        redis-benchmark -c
#   TESTS=...                      redis-benchmark -t (default: every test of its default run)
#   KEYSPACE=100000   redis-benchmark -r (random keys in a keyspace of this size)
#   PLACEMENTS="pinned spread"
#       pinned: each server on CPU 0 (Shoal --shards 1), redis-benchmark on CPU 1
#       spread: servers and redis-benchmark (--threads 2) on all CPUs, Shoal default shards
#   SKIP_BUILD=1      use the existing release binary
# Raw per-run CSV rows go to perf/out/compare-raw.csv.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
perf_init

RUNS="${RUNS:-3}"
N_P1="${N_P1:-50000}"
N_P16="${N_P16:-200000}"
CLIENTS="${CLIENTS:-50}"
TESTS="${TESTS:-ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange,mset}"
KEYSPACE="${KEYSPACE:-100000}"
PLACEMENTS="${PLACEMENTS:-pinned spread}"
RAW="$OUT/compare-raw.csv"

if ((NCPU < 2)); then
    echo "compare.sh needs at least 2 CPUs (found $NCPU)" >&2
    exit 1
fi
build_release

echo "placement,pipeline,server,run,test,rps,avg,min,p50,p95,p99,max" >"$RAW"

# bench PLACEMENT PIPELINE SERVER RUN PORT BENCH_CPUS [extra redis-benchmark args...]
bench() {
    local placement=$1 pipeline=$2 server=$3 run=$4 port=$5 cpus=$6
    shift 6
    local n=$N_P1
    ((pipeline > 1)) && n=$N_P16
    redis-cli -p "$port" flushall >/dev/null
    taskset -c "$cpus" redis-benchmark -p "$port" -c "$CLIENTS" -n "$n" -P "$pipeline" \
        -r "$KEYSPACE" -t "$TESTS" --csv "$@" </dev/null |
        awk -F'"' -v pre="$placement,$pipeline,$server,$run" \
            'NR > 1 && NF > 1 { row = $2; for (i = 4; i <= NF; i += 2) row = row "," $i; print pre "," row }' \
            >>"$RAW"
}

for placement in $PLACEMENTS; do
    case "$placement" in
        pinned)
            srv_cpus=0 bench_cpus=1 shoal_args=(--shards 1) bench_args=()
            ;;
        spread)
            srv_cpus=$ALL_CPUS bench_cpus=$ALL_CPUS shoal_args=() bench_args=(--threads 2)
            ;;
        *)
            echo "unknown placement $placement" >&2
            exit 1
            ;;
    esac
    shoal_port=$(free_port)
    start_shoal "$srv_cpus" "$shoal_port" "${shoal_args[@]}"
    shoal_pid=$STARTED_PID
    redis_port=$(free_port)
    start_redis "$srv_cpus" "$redis_port"
    redis_pid=$STARTED_PID
    for ((run = 1; run <= RUNS; run++)); do
        for pipeline in 1 16; do
            # Alternate who goes first so slow drift on a noisy machine does not favour one.
            if ((run % 2)); then order="shoal redis"; else order="redis shoal"; fi
            for server in $order; do
                port=$shoal_port
                [[ $server == redis ]] && port=$redis_port
                echo "[$placement] run $run/$RUNS -P $pipeline $server" >&2
                bench "$placement" "$pipeline" "$server" "$run" "$port" "$bench_cpus" "${bench_args[@]}"
            done
        done
    done
    stop_server "$shoal_pid"
    stop_server "$redis_pid"
done

echo
echo "shoal vs redis-server $("$REDIS_BIN" --version | awk '{print $3}' | tr -d 'v='): median of $RUNS run(s), -c $CLIENTS, -r $KEYSPACE, -n $N_P1 (P1) / $N_P16 (P16), $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $NCPU"
awk -F, '
    function median(list,    a, n, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    NR == 1 { next }
    {
        k = $5 SUBSEP $2 SUBSEP $1
        if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
        rps[k, $3] = rps[k, $3] " " $6
        p50[k, $3] = p50[k, $3] " " $9
        p99[k, $3] = p99[k, $3] " " $11
    }
    END {
        fmt = "%-16s %3s %-7s %11s %11s %6s %16s %16s\n"
        printf fmt, "test", "P", "place", "shoal rps", "redis rps", "ratio", "shoal p50/p99", "redis p50/p99"
        for (i = 1; i <= nk; i++) {
            k = order[i]; split(k, f, SUBSEP)
            sr = median(rps[k, "shoal"]); rr = median(rps[k, "redis"])
            printf fmt, f[1], f[2], f[3], sprintf("%.0f", sr), sprintf("%.0f", rr),
                (rr > 0 ? sprintf("%.2f", sr / rr) : "-"),
                sprintf("%.3f/%.3f", median(p50[k, "shoal"]), median(p99[k, "shoal"])),
                sprintf("%.3f/%.3f", median(p50[k, "redis"]), median(p99[k, "redis"]))
        }
        print "(latencies in ms; ratio = shoal rps / redis rps)"
    }' "$RAW"
