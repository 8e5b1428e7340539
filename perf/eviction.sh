#!/usr/bin/env bash
# A cache at its memory limit: shoal-server against redis-server, both under `maxmemory` with
# allkeys-lru, taking SETs of new keys, so nearly every write evicts one. Prints the server's
# CPU per SET (utime+stime from /proc/<pid>/stat), the rate, the keys each holds in the same
# allowance, and the ratios.
#
# Usage: perf/eviction.sh            (from any directory)
# Environment:
#   MAXMEMORY=64mb   the allowance (above each empty server's own use)
#   POLICY=allkeys-lru
#   VALUE_SIZE=100   bytes per value
#   N=1000000        measured SETs (-r 100000000: nearly all new keys)
#   ROUNDS=3         fresh servers per round; medians are printed
#   SHARDS=1         Shoal --shards (servers on CPU 0, redis-benchmark on CPU 1)
#   SKIP_BUILD=1     use the existing release binary
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
perf_init

MAXMEMORY="${MAXMEMORY:-64mb}"
POLICY="${POLICY:-allkeys-lru}"
VALUE_SIZE="${VALUE_SIZE:-100}"
N="${N:-1000000}"
ROUNDS="${ROUNDS:-3}"
SHARDS="${SHARDS:-1}"
TCK="$(getconf CLK_TCK)"
RAW="$OUT/eviction-raw.csv"

if ((NCPU < 2)); then
    echo "eviction.sh needs at least 2 CPUs (found $NCPU)" >&2
    exit 1
fi
build_release
echo "round,server,cpu_us,rps,keys,evicted" >"$RAW"

# info_field PORT SECTION NAME
info_field() {
    redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v k="$3" '$1 == k { print $2 }'
}

# measure ROUND SERVER PORT PID: fills past the limit, then measures N SETs of new keys.
measure() {
    local round=$1 server=$2 port=$3 pid=$4 before after rps
    redis-cli -p "$port" config set maxmemory-policy "$POLICY" >/dev/null
    redis-cli -p "$port" config set maxmemory "$MAXMEMORY" >/dev/null
    # Past the limit first, so the measured writes all find a full server.
    taskset -c 1 redis-benchmark -p "$port" -t set -n "$N" -r 100000000 -d "$VALUE_SIZE" -P 16 -c 50 \
        -q </dev/null >/dev/null
    before=$(cpu_ticks "$pid")
    rps=$(taskset -c 1 redis-benchmark -p "$port" -t set -n "$N" -r 100000000 -d "$VALUE_SIZE" -P 16 \
        -c 50 --csv </dev/null | awk -F'"' 'NR > 1 && NF > 1 { v = $4 } END { print v }')
    after=$(cpu_ticks "$pid")
    echo "$round,$server,$(awk -v d=$((after - before)) -v t="$TCK" -v n="$N" \
        'BEGIN { printf "%.3f", d / t * 1e6 / n }'),$rps,$(redis-cli -p "$port" dbsize),$(info_field "$port" stats evicted_keys)" \
        >>"$RAW"
}

for ((round = 1; round <= ROUNDS; round++)); do
    echo "[eviction] round $round" >&2
    port=$(free_port)
    start_shoal 0 "$port" --shards "$SHARDS"
    measure "$round" shoal "$port" "$STARTED_PID"
    stop_server "$STARTED_PID"
    port=$(free_port)
    start_redis 0 "$port"
    measure "$round" redis "$port" "$STARTED_PID"
    stop_server "$STARTED_PID"
done

echo
echo "eviction: SET -P 16 of new keys at maxmemory $MAXMEMORY ($POLICY, ${VALUE_SIZE}-byte values), shoal (--shards $SHARDS) vs redis-server $("$REDIS_BIN" --version | awk '{print $3}' | tr -d 'v='), $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $NCPU"
awk -F, '
    NR == 1 { next }
    { cpu[$2] = cpu[$2] " " $3; rps[$2] = rps[$2] " " $4; keys[$2] = keys[$2] " " $5 }
    function median(list,    a, n, i, j, t) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        fmt = "%-22s %12s %12s %8s\n"
        printf fmt, "median of rounds", "shoal", "redis", "ratio"
        split("cpu rps keys", names, " ")
        s = median(cpu["shoal"]); r = median(cpu["redis"])
        printf fmt, "CPU us per SET", s, r, sprintf("%.2f", s / r)
        s = median(rps["shoal"]); r = median(rps["redis"])
        printf fmt, "SETs per second", s, r, sprintf("%.2f", s / r)
        s = median(keys["shoal"]); r = median(keys["redis"])
        printf fmt, "keys held", s, r, sprintf("%.2f", s / r)
    }' "$RAW"
