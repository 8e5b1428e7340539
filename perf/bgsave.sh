#!/usr/bin/env bash
# What a background save costs while clients write, shoal-server against redis-server 7.0:
# extra memory at the peak of the save, its duration, and SET throughput and p99 before and
# during it (issue 9 targets: peak extra <= 10% of the dataset, throughput during >= 0.8x
# before; Redis's fork can double its memory under writes).
#
# For each server in turn (both run side by side, pinned to the same CPUs, the load
# generator on the others):
#   1. fill DATASET_MB of VALUE_SIZE-byte random strings under redis-benchmark's key names
#      (key:000000000042 ...), streamed through `redis-cli --pipe`;
#   2. "before": CHUNKS_BEFORE runs of `redis-benchmark -t set -r KEYS -d VALUE_SIZE -P 16`
#      of CHUNK_N requests each (random keys of the dataset, so its size stays put);
#   3. BGSAVE, and while it runs the same chunks back to back ("during": the chunks that
#      started before the save was seen finished). Memory is sampled every 50 ms:
#        Shoal: VmRSS of the process (snapshot buffers are its own memory);
#        Redis: Pss of the parent + Pss of the fork child (/proc/<pid>/smaps_rollup). Pss
#        splits pages the two still share, so this counts the dataset once plus the pages
#        copy-on-write duplicated; parent RSS + child Pss would count shared pages 1.5 times.
#      Peak extra = highest sample minus the sample just before BGSAVE. The save ends when
#      INFO persistence says rdb_bgsave_in_progress:0 after BGSAVE replied (asked every
#      100 ms, so durations are good to about 0.1 s).
# Throughput over several chunks = requests / summed chunk time; p99 = the worst chunk's.
#
# Usage: perf/bgsave.sh            (from any directory)
# Environment:
#   DATASET_MB=1024   payload of the dataset (keys x VALUE_SIZE), in MiB
#   VALUE_SIZE=100    bytes per value (fill and load)
#   CHUNK_N=200000    requests per redis-benchmark run; CLIENTS=50, PIPELINE=16
#   CHUNKS_BEFORE=3   runs measured before the save
#   SHARDS=1          Shoal --shards
#   SERVER_CPUS=0     CPUs of both servers (and so of Redis's fork child and Shoal's threads);
#                     the loaders run on the remaining CPUs
#   SAVE_DIR=         where the dumps go (default: a temp dir, removed at exit)
#   SKIP_BUILD=1      use the existing release binary
# Raw samples go to perf/out/bgsave-<server>-mem.txt, chunk rows to perf/out/bgsave-raw.csv.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
perf_init

DATASET_MB="${DATASET_MB:-1024}"
VALUE_SIZE="${VALUE_SIZE:-100}"
CHUNK_N="${CHUNK_N:-200000}"
CLIENTS="${CLIENTS:-50}"
PIPELINE="${PIPELINE:-16}"
CHUNKS_BEFORE="${CHUNKS_BEFORE:-3}"
SHARDS="${SHARDS:-1}"
SERVER_CPUS="${SERVER_CPUS:-0}"
KEYS=$((DATASET_MB * 1048576 / VALUE_SIZE))
RAW="$OUT/bgsave-raw.csv"
RESULTS="$OUT/bgsave.txt"

if ((NCPU < 2)); then
    echo "bgsave.sh needs at least 2 CPUs (found $NCPU)" >&2
    exit 1
fi
LOAD_CPUS="$(python3 -c '
import os, sys
taken = set()
for part in sys.argv[1].split(","):
    a, _, b = part.partition("-")
    taken.update(range(int(a), int(b or a) + 1))
print(",".join(str(c) for c in sorted(os.sched_getaffinity(0)) if c not in taken))' "$SERVER_CPUS")"
[[ -n "$LOAD_CPUS" ]] || { echo "SERVER_CPUS=$SERVER_CPUS leaves no CPU for the load" >&2; exit 1; }

if [[ -z "${SAVE_DIR:-}" ]]; then
    SAVE_DIR="$(mktemp -d -t shoal-bgsave-XXXXXX)"
    trap 'perf_cleanup; rm -rf "$SAVE_DIR"' EXIT
fi
build_release

# fill PORT: KEYS SETs of VALUE_SIZE random base64 characters, one redis-cli --pipe stream.
fill() {
    local port=$1 out="$OUT/bgsave-fill.txt"
    # base64 dies of SIGPIPE when head has enough: not a failure.
    { base64 -w "$VALUE_SIZE" /dev/urandom || true; } | head -n "$KEYS" |
        awk -v size="$VALUE_SIZE" '{
            key = sprintf("key:%012d", NR - 1)
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(key), key, size, $0
        }' |
        taskset -c "$LOAD_CPUS" redis-cli -p "$port" --pipe >"$out" 2>&1
    if ! grep -q "errors: 0, replies: $KEYS" "$out"; then
        echo "filling port $port failed:" >&2
        cat "$out" >&2
        exit 1
    fi
}

# read_kb FILE FIELD: sets KB to the kB figure of "FIELD: n kB" in FILE (0 when absent).
# Bash builtins only: the sampler must keep its 50 ms pace on a busy machine.
read_kb() {
    local k v _
    KB=0
    while read -r k v _; do
        if [[ $k == "$2:" ]]; then
            KB=$v
            return
        fi
    done <"$1" 2>/dev/null || true
}

# mem_kb SERVER PID: sets MEM to the memory the save is charged with (see the header), in kB.
mem_kb() {
    local server=$1 pid=$2 f kids child
    if [[ $server == shoal ]]; then
        read_kb "/proc/$pid/status" VmRSS
        MEM=$KB
        return
    fi
    read_kb "/proc/$pid/smaps_rollup" Pss
    MEM=$KB
    for f in /proc/"$pid"/task/*/children; do
        read -r -a kids <"$f" 2>/dev/null || true
        for child in "${kids[@]}"; do
            # The child may exit between the listing and the read: it then counts 0.
            read_kb "/proc/$child/smaps_rollup" Pss
            MEM=$((MEM + KB))
        done
    done
}

# save_done PORT: true when INFO persistence reports no save in progress (one process).
save_done() {
    local info
    info="$(redis-cli -p "$1" info persistence)"
    [[ $info == *"rdb_bgsave_in_progress:0"* ]]
}

# chunk SERVER PHASE PORT: one redis-benchmark run; appends "server,phase,rps,p99" to RAW.
chunk() {
    local server=$1 phase=$2 port=$3
    taskset -c "$LOAD_CPUS" redis-benchmark -p "$port" -c "$CLIENTS" -n "$CHUNK_N" -P "$PIPELINE" \
        -r "$KEYS" -d "$VALUE_SIZE" -t set --csv </dev/null |
        awk -F'"' -v pre="$server,$phase" 'NR > 1 && NF > 1 { print pre "," $4 "," $14 }' >>"$RAW"
}

# sample_save SERVER PID PORT BGSAVE_PID OUTFILE: samples memory every 50 ms until the save
# is over, then writes "base_kb peak_kb duration_ms" to OUTFILE.
sample_save() {
    local server=$1 pid=$2 port=$3 bg=$4 outfile=$5 base peak start now i=0
    local log="$OUT/bgsave-$server-mem.txt"
    mem_kb "$server" "$pid"
    base=$MEM
    peak=$base
    start=${EPOCHREALTIME/./}
    : >"$log"
    # A 50 ms pause without a `sleep` process per sample: a read timing out on a pipe that
    # never delivers.
    local pause
    exec {pause}<> <(:)
    while :; do
        mem_kb "$server" "$pid"
        now=${EPOCHREALTIME/./}
        ((MEM > peak)) && peak=$MEM
        echo "$(((now - start) / 1000)) $MEM" >>"$log"
        # Done only once BGSAVE has replied (Shoal may reply after encoding) and the server
        # no longer reports a save in progress; INFO is asked every other sample (100 ms).
        if ((i++ % 2 == 1)) && ! kill -0 "$bg" 2>/dev/null && save_done "$port"; then
            break
        fi
        read -r -t 0.05 -u "$pause" || true
    done
    exec {pause}<&-
    echo "$base $peak $(((now - start) / 1000))" >"$outfile"
}

# measure SERVER PORT PID: the whole procedure for one server; appends a summary row.
measure() {
    local server=$1 port=$2 pid=$3 empty loaded keys i bg sampler base peak duration
    local done_file="$OUT/bgsave-$server-done.txt"
    empty="$(rss_kb "$pid")"
    echo "[$server] filling $KEYS keys of $VALUE_SIZE bytes" >&2
    fill "$port"
    keys="$(redis-cli -p "$port" dbsize)"
    loaded="$(rss_kb "$pid")"
    echo "[$server] $keys keys, RSS $((loaded / 1024)) MB; measuring before the save" >&2
    for ((i = 0; i < CHUNKS_BEFORE; i++)); do
        chunk "$server" before "$port"
    done
    rm -f "$done_file"
    redis-cli -p "$port" bgsave >/dev/null &
    bg=$!
    sample_save "$server" "$pid" "$port" "$bg" "$done_file" &
    sampler=$!
    echo "[$server] BGSAVE started; load runs until it ends" >&2
    while [[ ! -s "$done_file" ]]; do
        chunk "$server" during "$port"
    done
    wait "$bg" || true
    wait "$sampler"
    read -r base peak duration <"$done_file"
    echo "$server $keys $(((loaded - empty) / 1024)) $base $peak $duration" >>"$RESULTS"
}

echo "server,phase,rps,p99" >"$RAW"
: >"$RESULTS"
mkdir -p "$SAVE_DIR/shoal" "$SAVE_DIR/redis"
shoal_port=$(free_port)
pushd "$SAVE_DIR/shoal" >/dev/null
start_shoal "$SERVER_CPUS" "$shoal_port" --shards "$SHARDS"
shoal_pid=$STARTED_PID
popd >/dev/null
redis_port=$(free_port)
pushd "$SAVE_DIR/redis" >/dev/null
start_redis "$SERVER_CPUS" "$redis_port"
redis_pid=$STARTED_PID
popd >/dev/null

measure shoal "$shoal_port" "$shoal_pid"
redis-cli -p "$shoal_port" flushall >/dev/null
measure redis "$redis_port" "$redis_pid"

echo
echo "BGSAVE under a random-key SET load: shoal-server --shards $SHARDS vs redis-server" \
    "$("$REDIS_BIN" --version | awk '{print $3}' | tr -d 'v='), servers on cpus $SERVER_CPUS," \
    "load on $LOAD_CPUS; $KEYS keys x $VALUE_SIZE B (${DATASET_MB} MiB payload);" \
    "redis-benchmark -c $CLIENTS -P $PIPELINE -n $CHUNK_N per chunk; $(date -u '+%Y-%m-%d %H:%M UTC')"
awk -F, -v results="$RESULTS" '
    # Chunks: throughput = requests / summed time, p99 = worst chunk.
    NR > 1 {
        k = $1 SUBSEP $2
        n[k]++; secs[k] += 1 / $3; if ($4 > p99[k]) p99[k] = $4
    }
    function rps(s, ph,    k) { k = s SUBSEP ph; return n[k] ? n[k] / secs[k] : 0 }
    END {
        while ((getline line < results) > 0) {
            split(line, f, " ")
            s = f[1]; keys[s] = f[2]; data[s] = f[3]; extra[s] = (f[5] - f[4]) / 1024; dur[s] = f[6] / 1000
            pct[s] = data[s] > 0 ? 100 * extra[s] / data[s] : 0
            before[s] = rps(s, "before"); during[s] = rps(s, "during")
            ratio[s] = before[s] > 0 ? during[s] / before[s] : 0
            chunks[s] = n[s SUBSEP "during"]
        }
        fmt = "%-30s %12s %12s %12s   %s\n"
        printf fmt, "", "shoal", "redis", "shoal/redis", "issue-9 target"
        row("keys", keys["shoal"], keys["redis"], "%d", "")
        row("dataset (RSS growth) MB", data["shoal"], data["redis"], "%.0f", "")
        row("save duration s", dur["shoal"], dur["redis"], "%.2f", "")
        row("peak extra memory MB", extra["shoal"], extra["redis"], "%.1f", "")
        row("peak extra % of dataset", pct["shoal"], pct["redis"], "%.1f", "<= 10%")
        row("SET rps before", before["shoal"], before["redis"], "%.0f", "")
        row("SET rps during", during["shoal"], during["redis"], "%.0f", "")
        row("during / before", ratio["shoal"], ratio["redis"], "%.2f", ">= 0.80")
        row("SET p99 ms before", p99["shoal" SUBSEP "before"], p99["redis" SUBSEP "before"], "%.3f", "")
        row("SET p99 ms during", p99["shoal" SUBSEP "during"], p99["redis" SUBSEP "during"], "%.3f", "")
        row("chunks during the save", chunks["shoal"], chunks["redis"], "%d", "")
        printf "shoal meets the targets: memory %s, throughput %s\n",
            (pct["shoal"] <= 10 ? "yes" : "no"), (ratio["shoal"] >= 0.8 ? "yes" : "no")
    }
    function row(name, a, b, f, target) {
        printf "%-30s %12s %12s %12s   %s\n", name, sprintf(f, a), sprintf(f, b),
            (b > 0 ? sprintf("%.2f", a / b) : "-"), target
    }' "$RAW"
