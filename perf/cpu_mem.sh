#!/usr/bin/env bash
# Server-side cost of shoal-server against redis-server: CPU seconds per million requests
# (utime+stime of the server process from /proc/<pid>/stat) for SET and GET at -P 16 and
# -P 1, and resident memory per key after loading 1M keys (16-byte keys, 32-byte values, the
# performance issue's figure).
#
# Usage: perf/cpu_mem.sh            (from any directory)
# Environment:
#   N_P16=500000 N_P1=100000   requests per CPU measurement
#   CLIENTS=50  KEYSPACE=100000
#   KEYS=1000000 VALUE_SIZE=32   the memory test's data set (keys are key:<12 digits>)
#   PARTS="cpu mem"  which measurements to run
#   SHARDS=1        Shoal --shards (servers run on CPU 0, redis-benchmark on CPU 1)
#   SKIP_BUILD=1    use the existing release binary
# Both servers run at the same time; measurements alternate between them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
perf_init

N_P16="${N_P16:-500000}"
N_P1="${N_P1:-100000}"
CLIENTS="${CLIENTS:-50}"
KEYSPACE="${KEYSPACE:-100000}"
KEYS="${KEYS:-1000000}"
VALUE_SIZE="${VALUE_SIZE:-32}"
PARTS="${PARTS:-cpu mem}"
SHARDS="${SHARDS:-1}"
TCK="$(getconf CLK_TCK)"

if ((NCPU < 2)); then
    echo "cpu_mem.sh needs at least 2 CPUs (found $NCPU)" >&2
    exit 1
fi
build_release

# One port and PID per server; the same placement for both.
shoal_port=$(free_port)
start_shoal 0 "$shoal_port" --shards "$SHARDS"
shoal_pid=$STARTED_PID
redis_port=$(free_port)
start_redis 0 "$redis_port"
redis_pid=$STARTED_PID

declare -A RESULT

# cpu_per_million SERVER PORT PID TEST PIPELINE -> CPU seconds per 1M requests
cpu_per_million() {
    local port=$2 pid=$3 test=$4 pipeline=$5 n before after
    n=$N_P1
    ((pipeline > 1)) && n=$N_P16
    before=$(cpu_ticks "$pid")
    taskset -c 1 redis-benchmark -p "$port" -c "$CLIENTS" -n "$n" -P "$pipeline" -r "$KEYSPACE" \
        -t "$test" -q </dev/null >/dev/null
    after=$(cpu_ticks "$pid")
    awk -v d=$((after - before)) -v t="$TCK" -v n="$n" 'BEGIN { printf "%.3f", d / t * 1000000 / n }'
}

for test in set get; do
    [[ $PARTS == *cpu* ]] || break
    for pipeline in 16 1; do
        for server in shoal redis; do
            if [[ $server == shoal ]]; then port=$shoal_port pid=$shoal_pid; else port=$redis_port pid=$redis_pid; fi
            echo "cpu: $server $test -P $pipeline" >&2
            RESULT["$server,cpu,$test,$pipeline"]=$(cpu_per_million "$server" "$port" "$pid" "$test" "$pipeline")
        done
    done
done

# The data set as a RESP stream: SET key:<12 digits> <VALUE_SIZE bytes>, like redis-benchmark's keys.
load_stream() {
    awk -v n="$KEYS" -v size="$VALUE_SIZE" 'BEGIN {
        v = sprintf("%*s", size, ""); gsub(/ /, "x", v)
        for (i = 0; i < n; i++) {
            k = sprintf("key:%012d", i)
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, size, v
        }
    }'
}

for server in shoal redis; do
    [[ $PARTS == *mem* ]] || break
    if [[ $server == shoal ]]; then port=$shoal_port pid=$shoal_pid; else port=$redis_port pid=$redis_pid; fi
    echo "mem: $server loading $KEYS keys" >&2
    redis-cli -p "$port" flushall >/dev/null
    sleep 1
    empty=$(rss_kb "$pid")
    load_stream | redis-cli -p "$port" --pipe >/dev/null
    sleep 1
    full=$(rss_kb "$pid")
    dbsize=$(redis-cli -p "$port" dbsize)
    RESULT["$server,rss_empty"]=$empty
    RESULT["$server,rss_full"]=$full
    RESULT["$server,dbsize"]=$dbsize
    RESULT["$server,per_key"]=$(awk -v e="$empty" -v f="$full" -v k="$dbsize" 'BEGIN { printf "%.1f", (f - e) * 1024 / k }')
done

echo
echo "shoal (--shards $SHARDS) vs redis-server, both on CPU 0, redis-benchmark on CPU 1, -c $CLIENTS -r $KEYSPACE; $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $NCPU"
row() { printf "%-34s %12s %12s %12s %8s %6s\n" "$@"; }
row metric shoal redis shoal/redis target ""
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
for test in set get; do
    [[ $PARTS == *cpu* ]] || break
    for pipeline in 16 1; do
        s=${RESULT["shoal,cpu,$test,$pipeline"]}
        r=${RESULT["redis,cpu,$test,$pipeline"]}
        target=0.8
        ((pipeline > 1)) && target=0.6
        row "CPU s / 1M ${test^^} -P $pipeline" "$s" "$r" "$(ratio "$s" "$r")" "<= $target" \
            "$(verdict "$(ratio "$s" "$r")" "<=" "$target")"
    done
done
for m in rss_empty rss_full; do
    [[ $PARTS == *mem* ]] || break
    row "$m (kB)" "${RESULT["shoal,$m"]}" "${RESULT["redis,$m"]}" "$(ratio "${RESULT["shoal,$m"]}" "${RESULT["redis,$m"]}")" "" ""
done
[[ $PARTS == *mem* ]] || exit 0
row "keys (DBSIZE)" "${RESULT["shoal,dbsize"]}" "${RESULT["redis,dbsize"]}" "" "" ""
per_key_ratio=$(ratio "${RESULT["shoal,per_key"]}" "${RESULT["redis,per_key"]}")
row "bytes/key (${VALUE_SIZE}B values)" "${RESULT["shoal,per_key"]}" "${RESULT["redis,per_key"]}" \
    "$per_key_ratio" "<= 0.7" "$(verdict "$per_key_ratio" "<=" 0.7)"
