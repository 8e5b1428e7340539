#!/usr/bin/env bash
# Throughput and latency of shoal-server against redis-server, side by side in one run.
#
# Usage: perf/compare.sh            (from any directory)
# Environment:
#   RUNS=3            runs per cell; the table shows the median of each column
#   N_P1=200000       requests per test at -P 1
#   N_P16=1000000     requests per test at -P 16 (LRANGE_* tests take a tenth of either:
#                     each of their requests moves 100-600 elements). A run of 0.2 s is
#                     only ~20 clock ticks of server CPU, too coarse for a CPU ratio.
#   PIPELINES="1 16"  redis-benchmark -P depths to run (e.g. "1" for more runs of -P 1 alone)
#   CLIENTS=50        redis-benchmark -c
#   TESTS=...         redis-benchmark -t tokens, one run each (default: every test of its
#                     default run); the server's CPU time is read around each run
#   KEYSPACE=100000   redis-benchmark -r (random keys in a keyspace of this size)
#   SPREAD_SCALE=4    -n multiplier for -P 16 runs in the spread placement: redis-benchmark
#                     --threads sees the end of a run on a 250 ms timer, so a 1.25 s run
#                     reports 1M/1.25 s whether it took 1.0 s or 1.25 s; runs of 4-6 s keep
#                     that error near 5 %
#   PLACEMENTS="pinned spread"
#       pinned: each server on CPU 0 (Shoal --shards 1), redis-benchmark on CPU 1
#       spread: servers and redis-benchmark (--threads 2) on all CPUs, Shoal default shards
#   SKIP_BUILD=1      use the existing release binary
#   REDIS_ARGS=...    extra redis-server options (lib.sh), e.g. "--io-threads 2
#                     --io-threads-do-reads yes" for the across-cores comparison
# Raw per-run CSV rows go to perf/out/compare-raw.csv, CPU ticks per run to compare-cpu.csv.
# CPU per request = server utime+stime over the run / requests. An LRANGE_* run also pays for
# redis-benchmark's LPUSH prefill of the same size: the LPUSH run's CPU per request is taken
# off for it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
perf_init

RUNS="${RUNS:-3}"
N_P1="${N_P1:-200000}"
N_P16="${N_P16:-1000000}"
PIPELINES="${PIPELINES:-1 16}"
CLIENTS="${CLIENTS:-50}"
TESTS="${TESTS:-ping_inline,ping_mbulk,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_300,lrange_500,lrange_600,mset}"
KEYSPACE="${KEYSPACE:-100000}"
PLACEMENTS="${PLACEMENTS:-pinned spread}"
SPREAD_SCALE="${SPREAD_SCALE:-4}"
RAW="$OUT/compare-raw.csv"
CPU_RAW="$OUT/compare-cpu.csv"
TCK="$(getconf CLK_TCK)"

if ((NCPU < 2)); then
    echo "compare.sh needs at least 2 CPUs (found $NCPU)" >&2
    exit 1
fi
build_release

echo "placement,pipeline,server,run,test,rps,avg,min,p50,p95,p99,max" >"$RAW"
echo "placement,pipeline,server,run,token,ticks,requests" >"$CPU_RAW"

# bench PLACEMENT PIPELINE SERVER RUN PORT PID BENCH_CPUS [extra redis-benchmark args...]
bench() {
    local placement=$1 pipeline=$2 server=$3 run=$4 port=$5 pid=$6 cpus=$7
    shift 7
    local n=$N_P1 token before after
    ((pipeline > 1)) && n=$N_P16
    [[ $placement == spread ]] && ((pipeline > 1)) && n=$((n * SPREAD_SCALE))
    redis-cli -p "$port" flushall >/dev/null
    local full=$n
    for token in ${TESTS//,/ }; do
        n=$full
        [[ $token == lrange* ]] && n=$((full / 10))
        before=$(cpu_ticks "$pid")
        taskset -c "$cpus" redis-benchmark -p "$port" -c "$CLIENTS" -n "$n" -P "$pipeline" \
            -r "$KEYSPACE" -t "$token" --csv "$@" </dev/null |
            awk -F'"' -v pre="$placement,$pipeline,$server,$run" \
                'NR > 1 && NF > 1 { row = $2; for (i = 4; i <= NF; i += 2) row = row "," $i; print pre "," row }' \
                >>"$RAW"
        after=$(cpu_ticks "$pid")
        echo "$placement,$pipeline,$server,$run,$token,$((after - before)),$n" >>"$CPU_RAW"
    done
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
    # shellcheck disable=SC2068
    start_shoal "$srv_cpus" "$shoal_port" ${shoal_args[@]+"${shoal_args[@]}"}
    shoal_pid=$STARTED_PID
    redis_port=$(free_port)
    start_redis "$srv_cpus" "$redis_port"
    redis_pid=$STARTED_PID
    for ((run = 1; run <= RUNS; run++)); do
        for pipeline in $PIPELINES; do
            # Alternate who goes first so slow drift on a noisy machine does not favour one.
            if ((run % 2)); then order="shoal redis"; else order="redis shoal"; fi
            for server in $order; do
                port=$shoal_port pid=$shoal_pid
                [[ $server == redis ]] && port=$redis_port pid=$redis_pid
                echo "[$placement] run $run/$RUNS -P $pipeline $server" >&2
                bench "$placement" "$pipeline" "$server" "$run" "$port" "$pid" "$bench_cpus" \
                    ${bench_args[@]+"${bench_args[@]}"}
            done
        done
    done
    stop_server "$shoal_pid"
    stop_server "$redis_pid"
done

# The median of a space-separated list, shared by both tables below.
MEDIAN_AWK='
    function median(list,    a, n, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
'

echo
echo "shoal vs redis-server $("$REDIS_BIN" --version | awk '{print $3}' | tr -d 'v='): median of $RUNS run(s), -c $CLIENTS, -r $KEYSPACE, -n $N_P1 (P1) / $N_P16 (P16; x$SPREAD_SCALE spread), $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $NCPU"
awk -F, "$MEDIAN_AWK"'
    NR == 1 { next }
    {
        k = $5 SUBSEP $2 SUBSEP $1
        if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
        rps[k, $3] = rps[k, $3] " " $6
        p50[k, $3] = p50[k, $3] " " $9
        p99[k, $3] = p99[k, $3] " " $11
    }
    END {
        fmt = "%-16s %3s %-7s %11s %11s %6s %16s %16s %11s\n"
        printf fmt, "test", "P", "place", "shoal rps", "redis rps", "ratio", "shoal p50/p99", "redis p50/p99", "target"
        # Issue 9 per-core throughput targets (pinned placement): >= 1.3 at -P 16, >= 1.0 at -P 1.
        split("SET GET INCR LPUSH LPOP SADD HSET ZADD LRANGE_100 MSET", listed, " ")
        for (j in listed) targeted[listed[j]] = 1
        for (i = 1; i <= nk; i++) {
            k = order[i]; split(k, f, SUBSEP)
            sr = median(rps[k, "shoal"]); rr = median(rps[k, "redis"])
            name = f[1]; sub(/ .*/, "", name)
            goal = ""
            if (f[3] == "pinned" && (name in targeted) && f[1] !~ /needed/ && rr > 0) {
                t = (f[2] + 0 > 1) ? 1.3 : 1.0
                goal = sprintf(">= %.1f %s", t, (sr / rr >= t) ? "pass" : "short")
            }
            printf fmt, f[1], f[2], f[3], sprintf("%.0f", sr), sprintf("%.0f", rr),
                (rr > 0 ? sprintf("%.2f", sr / rr) : "-"),
                sprintf("%.3f/%.3f", median(p50[k, "shoal"]), median(p99[k, "shoal"])),
                sprintf("%.3f/%.3f", median(p50[k, "redis"]), median(p99[k, "redis"])), goal
        }
        print "(latencies in ms; ratio = shoal rps / redis rps)"
    }' "$RAW"

echo
echo "server CPU microseconds per request (median of runs; LRANGE_* net of their LPUSH prefill)"
awk -F, -v tck="$TCK" "$MEDIAN_AWK"'
    NR == 1 { next }
    {
        k = $5 SUBSEP $2 SUBSEP $1
        if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
        us[k, $3] = us[k, $3] " " ($6 / tck * 1e6 / $7)
    }
    END {
        fmt = "%-12s %3s %-7s %10s %10s %7s %12s\n"
        printf fmt, "test", "P", "place", "shoal us", "redis us", "ratio", "target"
        for (i = 1; i <= nk; i++) {
            k = order[i]; split(k, f, SUBSEP)
            for (who = 1; who <= 2; who++) {
                srv = (who == 1) ? "shoal" : "redis"
                v[srv] = median(us[k, srv])
                if (f[1] ~ /^lrange/) v[srv] -= median(us["lpush", f[2], f[3], srv])
            }
            if (v["redis"] <= 0 || v["shoal"] <= 0) continue
            r = v["shoal"] / v["redis"]
            goal = ""
            if (f[1] == "set" || f[1] == "get") {
                t = (f[2] + 0 > 1) ? 0.6 : 0.8
                goal = sprintf("<= %.1f %s", t, (r <= t) ? "pass" : "short")
            }
            printf fmt, f[1], f[2], f[3], sprintf("%.2f", v["shoal"]), sprintf("%.2f", v["redis"]), sprintf("%.2f", r), goal
            g = f[2] SUBSEP f[3]
            logsum[g] += log(r); count[g]++
        }
        for (g in count) {
            split(g, f, SUBSEP)
            gm = exp(logsum[g] / count[g])
            printf "geometric mean of the CPU ratios, -P %s %s: %.2f over %d tests (target <= 0.8: %s)\n",
                f[1], f[2], gm, count[g], (gm <= 0.8) ? "pass" : "short"
        }
    }' "$CPU_RAW"
