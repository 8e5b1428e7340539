#!/usr/bin/env bash
# Resident memory per element of the collection types, shoal-server against redis-server:
# one big hash, set and sorted set of 1M elements each, and 100k small ones of 10 elements.
#
# Every structure is measured on a freshly started server (RSS before and after loading, so
# memory an allocator keeps after a FLUSHALL never blurs the next measurement), loaded as a
# generated RESP stream through `redis-cli --pipe`, its size checked with HLEN/SCARD/ZCARD
# or DBSIZE afterwards.
#
# Usage: perf/mem_collections.sh     (from any directory)
# Environment:
#   BIG=1000000      elements of each big structure
#   SMALL_KEYS=100000 SMALL_LEN=10   the small structures
#   BATCH=1000       elements per HSET/SADD/ZADD command of the big loads
#   SHARDS=1         Shoal --shards (servers run on CPU 0, the loader on the others)
#   SETTLE=2         seconds to wait before reading RSS
#   GIVE_BACK=12     after the table, load the big sorted set again, DEL it and print each
#                    server's resident size every second for this many seconds (0: skip)
#   SKIP_BUILD=1     use the existing release binary
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
perf_init

BIG="${BIG:-1000000}"
SMALL_KEYS="${SMALL_KEYS:-100000}"
SMALL_LEN="${SMALL_LEN:-10}"
BATCH="${BATCH:-1000}"
SHARDS="${SHARDS:-1}"
SETTLE="${SETTLE:-2}"
GIVE_BACK="${GIVE_BACK:-12}"
LOADER_CPUS=0
((NCPU > 1)) && LOADER_CPUS="1-$((NCPU - 1))"

build_release

# gen_stream SHAPE: the RESP commands that build one structure, on stdout.
#   big_hash   HSET bighash  f:<8 digits> v:<8 digits>   BIG fields, BATCH per command
#   big_set    SADD bigset   member:<8 digits>           BIG members (never integers)
#   big_zset   ZADD bigzset  <i> m:<8 digits>            BIG members, integer scores
#   small_hash HSET h:<6 digits> f:<8 digits> v:<8 digits>  SMALL_KEYS keys of SMALL_LEN
#   small_set  SADD s:<6 digits> member:<8 digits>          elements each, numbered
#   small_zset ZADD z:<6 digits> <i> m:<8 digits>           across all keys
gen_stream() {
    awk -v shape="$1" -v big="$BIG" -v batch="$BATCH" -v nkeys="$SMALL_KEYS" -v len="$SMALL_LEN" '
    function arg(s) { printf "$%d\r\n%s\r\n", length(s), s }
    # One command: verb, key, then the elements i0 .. i0+n-1 in the shape of `kind`.
    function emit(verb, key, kind, i0, n,    i, per) {
        per = (kind == "set") ? 1 : 2
        printf "*%d\r\n", 2 + per * n
        arg(verb); arg(key)
        for (i = i0; i < i0 + n; i++) {
            if (kind == "hash") { arg(sprintf("f:%08d", i)); arg(sprintf("v:%08d", i)) }
            else if (kind == "set") arg(sprintf("member:%08d", i))
            else { arg(i); arg(sprintf("m:%08d", i)) }
        }
    }
    BEGIN {
        split(shape, p, "_"); size = p[1]; kind = p[2]
        verb = (kind == "hash") ? "HSET" : (kind == "set") ? "SADD" : "ZADD"
        if (size == "big") {
            key = "big" kind
            for (i = 0; i < big; i += batch) emit(verb, key, kind, i, (big - i < batch) ? big - i : batch)
        } else {
            for (k = 0; k < nkeys; k++) emit(verb, sprintf("%s:%06d", substr(kind, 1, 1), k), kind, k * len, len)
        }
    }'
}

# count SHAPE PORT: how many elements the server holds for SHAPE.
count() {
    local shape=$1 port=$2
    case $shape in
        big_hash) redis-cli -p "$port" hlen bighash ;;
        big_set) redis-cli -p "$port" scard bigset ;;
        big_zset) redis-cli -p "$port" zcard bigzset ;;
        small_*) echo $(($(redis-cli -p "$port" dbsize) * SMALL_LEN)) ;;
    esac
}

# encoding SHAPE PORT: OBJECT ENCODING of one of its keys ("-" when the server has none).
encoding() {
    local key
    case $1 in
        big_*) key="big${1#big_}" ;;
        small_hash) key=h:000000 ;;
        small_set) key=s:000000 ;;
        small_zset) key=z:000000 ;;
    esac
    local e
    e=$(redis-cli -p "$2" object encoding "$key" 2>/dev/null || true)
    [[ -n "$e" && "$e" != ERR* ]] && echo "$e" || echo -
}

declare -A RESULT
SHAPES=(big_hash big_set big_zset small_hash small_set small_zset)

# start_fresh SERVER: starts a fresh server on CPU 0 and a free port (FRESH_PORT,
# STARTED_PID), and waits SETTLE seconds for it to settle.
start_fresh() {
    FRESH_PORT=$(free_port)
    if [[ $1 == shoal ]]; then
        start_shoal 0 "$FRESH_PORT" --shards "$SHARDS"
    else
        start_redis 0 "$FRESH_PORT"
    fi
    sleep "$SETTLE"
}

# measure SERVER SHAPE: start a fresh server, load SHAPE, record bytes per element.
measure() {
    local server=$1 shape=$2 port pid empty full n expect pipe_out errors
    start_fresh "$server"
    port=$FRESH_PORT pid=$STARTED_PID
    empty=$(rss_kb "$pid")
    pipe_out=$(gen_stream "$shape" | taskset -c "$LOADER_CPUS" redis-cli -p "$port" --pipe 2>&1)
    errors=$(sed -n 's/^errors: \([0-9]*\),.*/\1/p' <<<"$pipe_out")
    if [[ "$errors" != 0 ]]; then
        echo "$server $shape: redis-cli --pipe reported errors:" >&2
        echo "$pipe_out" >&2
        exit 1
    fi
    sleep "$SETTLE"
    full=$(rss_kb "$pid")
    n=$(count "$shape" "$port")
    if [[ $shape == big_* ]]; then expect=$BIG; else expect=$((SMALL_KEYS * SMALL_LEN)); fi
    if [[ "$n" != "$expect" ]]; then
        echo "$server $shape: holds $n elements, expected $expect" >&2
        exit 1
    fi
    RESULT["$server,$shape,enc"]=$(encoding "$shape" "$port")
    RESULT["$server,$shape,rss"]="$empty -> $full"
    RESULT["$server,$shape,per"]=$(awk -v e="$empty" -v f="$full" -v n="$n" 'BEGIN { printf "%.1f", (f - e) * 1024 / n }')
    echo "mem: $server $shape: RSS ${empty} -> ${full} kB, $n elements" >&2
    stop_server "$pid"
}

for shape in "${SHAPES[@]}"; do
    for server in shoal redis; do
        measure "$server" "$shape"
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
row() { printf "%-30s %13s %13s %11s %7s %6s   %s\n" "$@"; }
echo
echo "RSS growth per element: shoal-server --shards $SHARDS vs redis-server $("$REDIS_BIN" --version | sed -n "s/.*v=\([^ ]*\).*/\1/p") (both on CPU 0, fresh server per row, loaded via redis-cli --pipe); $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $NCPU"
row structure "shoal B/elem" "redis B/elem" shoal/redis target "" "redis encoding"
for shape in "${SHAPES[@]}"; do
    case $shape in
        big_*) label="${shape#big_} 1x${BIG}" ;;
        small_*) label="${shape#small_} ${SMALL_KEYS}x${SMALL_LEN}" ;;
    esac
    s=${RESULT["shoal,$shape,per"]}
    r=${RESULT["redis,$shape,per"]}
    row "$label" "$s" "$r" "$(ratio "$s" "$r")" "<= 1.0" "$(verdict "$(ratio "$s" "$r")" "<=" 1.0)" \
        "${RESULT["redis,$shape,enc"]}"
done
echo "elements: hash field f:<8 digits> + value v:<8 digits>; set member:<8 digits>; zset m:<8 digits> with an integer score;"
echo "big loads send $BATCH elements per command; small rows divide by all ${SMALL_KEYS}x${SMALL_LEN} elements (per key: x${SMALL_LEN})."

# give_back SERVER: how fast a server returns the memory of a deleted big sorted set while it
# is otherwise idle (a fresh server, loaded, then one DEL and no further commands).
give_back() {
    local server=$1 port pid line
    start_fresh "$server"
    port=$FRESH_PORT pid=$STARTED_PID
    line="$(printf "%-6s" "$server") empty $(($(rss_kb "$pid") / 1024))"
    gen_stream big_zset | taskset -c "$LOADER_CPUS" redis-cli -p "$port" --pipe >/dev/null
    line="$line, loaded $(($(rss_kb "$pid") / 1024)), after DEL:"
    redis-cli -p "$port" del bigzset >/dev/null
    for ((t = 0; t <= GIVE_BACK; t++)); do
        line="$line $(($(rss_kb "$pid") / 1024))"
        ((t < GIVE_BACK)) && sleep 1
    done
    echo "$line"
    stop_server "$pid"
}

if ((GIVE_BACK > 0)); then
    echo
    echo "resident MB of an idle server after DEL of the ${BIG}-member sorted set, once a second for ${GIVE_BACK} s:"
    give_back shoal
    give_back redis
fi
