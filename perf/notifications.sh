#!/usr/bin/env bash
# What keyspace notifications cost: SET -P 16 with `notify-keyspace-events` on and one pattern
# subscriber (`__key*__:*`) reading everything, Shoal (--shards 1) against redis-server, both
# pinned to CPU 0, the client and the subscriber (a Python socket reader, faster than
# redis-cli, so the subscriber keeps up instead of being cut off by its output limit) on CPU 1.
#
# Usage: perf/notifications.sh
# Environment:
#   N=1000000  ROUNDS=3  EVENTS=KEA  KEYSPACE=100000  CLIENTS=50
#   SKIP_BUILD=1      use the existing release binary
# Prints per round and server: requests/s and server CPU ticks, then the medians and the
# Shoal / redis-server ratios.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
perf_init

N="${N:-1000000}"
ROUNDS="${ROUNDS:-3}"
EVENTS="${EVENTS:-KEA}"
KEYSPACE="${KEYSPACE:-100000}"
CLIENTS="${CLIENTS:-50}"
build_release

# Reads a pattern subscription to the end; says how many bytes if the server closes it.
SUBSCRIBER='
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$10\r\n__key*__:*\r\n")
n = 0
while True:
    b = s.recv(1 << 20)
    if not b:
        print("subscriber cut off after %d bytes" % n, file=sys.stderr)
        break
    n += len(b)
'

declare -A ticks rates
for ((round = 1; round <= ROUNDS; round++)); do
    for name in shoal redis; do
        port=$(free_port)
        if [[ $name == shoal ]]; then
            start_shoal 0 "$port" --shards 1 --notify-keyspace-events "$EVENTS"
        else
            start_redis 0 "$port"
            redis-cli -p "$port" config set notify-keyspace-events "$EVENTS" >/dev/null
        fi
        pid=$STARTED_PID
        taskset -c 1 python3 -c "$SUBSCRIBER" "$port" &
        sub=$!
        sleep 0.2
        t0=$(cpu_ticks "$pid")
        rps=$(taskset -c 1 redis-benchmark -p "$port" -t set -n "$N" -r "$KEYSPACE" -c "$CLIENTS" \
            -P 16 --csv </dev/null | awk -F'"' 'NR > 1 && NF > 1 { v = $4 } END { print v }')
        t1=$(cpu_ticks "$pid")
        kill "$sub" 2>/dev/null || true
        wait "$sub" 2>/dev/null || true
        stop_server "$pid"
        echo "round $round $name: $((t1 - t0)) ticks, $rps SETs/s"
        ticks[$name]+="$((t1 - t0)) "
        rates[$name]+="$rps "
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
st=$(median <<<"${ticks[shoal]}") rt=$(median <<<"${ticks[redis]}")
sr=$(median <<<"${rates[shoal]}") rr=$(median <<<"${rates[redis]}")
echo "SET -P 16 with notify-keyspace-events $EVENTS and one subscriber, $N requests, median of $ROUNDS"
printf '%-22s %12s %12s %8s\n' measure shoal redis ratio
printf '%-22s %12s %12s %8s\n' "server CPU ticks" "$st" "$rt" "$(awk -v a="$st" -v b="$rt" 'BEGIN { printf "%.2f", a / b }')"
printf '%-22s %12s %12s %8s\n' "SETs per second" "$sr" "$rr" "$(awk -v a="$sr" -v b="$rr" 'BEGIN { printf "%.2f", a / b }')"
