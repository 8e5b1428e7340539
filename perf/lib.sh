# Shared helpers for the perf/ scripts; sourced, never run directly.
#
# Usage (from a script in perf/):
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   perf_init            # cd to the repo root, create perf/out, install the cleanup trap
#   build_release        # cargo build --release (skipped when SKIP_BUILD=1)
#   ensure_perf          # install linux-perf when `perf` is missing
#   start_shoal CPUS PORT [extra args...]   # sets STARTED_PID
#   start_redis CPUS PORT                  # sets STARTED_PID (REDIS_ARGS: extra options)
#
# Servers are started with `taskset -c CPUS` (taskset execs the server, so the PID we keep
# is the server's own) and are killed by PID when the calling script exits.

# shellcheck shell=bash

PERF_PIDS=()

perf_cleanup() {
    local pid
    for pid in "${PERF_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PERF_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PERF_PIDS=()
}

perf_init() {
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    cd "$ROOT" || exit 1
    OUT="$ROOT/perf/out"
    mkdir -p "$OUT"
    TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    case "$TARGET_DIR" in
        /*) ;;
        *) TARGET_DIR="$ROOT/$TARGET_DIR" ;;
    esac
    SHOAL_BIN="${SHOAL_BIN:-$TARGET_DIR/release/shoal-server}"
    REDIS_BIN="${REDIS_BIN:-redis-server}"
    # Read by the scripts that source this file.
    # shellcheck disable=SC2034
    NCPU="$(nproc)"
    # shellcheck disable=SC2034
    ALL_CPUS="0-$((NCPU - 1))"
    trap perf_cleanup EXIT
    trap 'exit 130' INT TERM
}

# Installs `perf` (Debian: linux-perf) when it is missing; exits 2 when that fails.
ensure_perf() {
    command -v perf >/dev/null && return 0
    echo "perf missing: installing linux-perf" >&2
    apt-get install -y linux-perf >&2 || { apt-get update >&2 && apt-get install -y linux-perf >&2; } || {
        echo "cannot install linux-perf (apt-get failed); install it and retry" >&2
        exit 2
    }
}

build_release() {
    if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
        cargo build --release --bin shoal-server >&2
    fi
    [[ -x "$SHOAL_BIN" ]] || { echo "missing $SHOAL_BIN" >&2; exit 1; }
}

# A loopback port nobody listens on: bind port 0 and let the kernel choose.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_ready() {
    local port=$1 pid=$2 i
    for ((i = 0; i < 200; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "server on port $port (pid $pid) exited during start-up" >&2
            return 1
        fi
        if [[ "$(redis-cli -p "$port" ping 2>/dev/null)" == PONG ]]; then
            return 0
        fi
        sleep 0.05
    done
    echo "server on port $port did not answer PING" >&2
    return 1
}

start_shoal() {
    local cpus=$1 port=$2
    shift 2
    # SHOAL_ARGS: extra options for every Shoal a script starts (e.g. "--core-spin-us 50").
    # shellcheck disable=SC2086
    taskset -c "$cpus" "$SHOAL_BIN" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        "$@" ${SHOAL_ARGS:-} >"$OUT/shoal-$port.log" 2>&1 &
    STARTED_PID=$!
    PERF_PIDS+=("$STARTED_PID")
    wait_ready "$port" "$STARTED_PID"
}

start_redis() {
    local cpus=$1 port=$2
    # REDIS_ARGS: extra options for every redis-server a script starts (e.g. "--io-threads 2
    # --io-threads-do-reads yes").
    # shellcheck disable=SC2086
    taskset -c "$cpus" "$REDIS_BIN" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize no ${REDIS_ARGS:-} >"$OUT/redis-$port.log" 2>&1 &
    STARTED_PID=$!
    PERF_PIDS+=("$STARTED_PID")
    wait_ready "$port" "$STARTED_PID"
}

stop_server() {
    local pid=$1 p keep=()
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PERF_PIDS[@]}"; do
        [[ "$p" == "$pid" ]] || keep+=("$p")
    done
    PERF_PIDS=("${keep[@]}")
}

# utime+stime of a process (all its threads), in clock ticks.
cpu_ticks() {
    local stat
    stat="$(cat "/proc/$1/stat")"
    # The command name may hold spaces: fields are counted after its closing parenthesis.
    stat="${stat##*) }"
    awk '{ print $12 + $13 }' <<<"$stat"
}

# Resident set size in kB.
rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# verdict RATIO OP TARGET: "pass" when RATIO OP TARGET holds (OP is <= or >=), else "short";
# "-" when there is no ratio. The performance issue's targets are ratios Shoal / redis-server.
verdict() {
    awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN {
        if (r == "-" || r == "") { print "-"; exit }
        ok = (op == "<=") ? (r + 0 <= t + 0) : (r + 0 >= t + 0)
        print (ok ? "pass" : "short")
    }'
}
