#!/usr/bin/env bash
# Runs every Shoal test: unit, property and integration tests (which start the real
# shoal-server binary next to a real redis-server 7.0 as the reference).
# Installs what the tests need with apt-get when it is missing (needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests run besides cargo: redis-server/redis-cli/redis-benchmark as the reference,
# `ip` (iproute2) for the protected-mode test's network namespace, `kill` (procps), and the
# C toolchain the vendored LuaJIT build needs.
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
if ! command -v redis-cli >/dev/null || ! command -v redis-benchmark >/dev/null; then missing+=(redis-tools); fi
command -v ip >/dev/null || missing+=(iproute2)
[ -x /bin/kill ] || [ -x /usr/bin/kill ] || missing+=(procps)
# The Lua engine (mlua's vendored LuaJIT) is built from C source with make and a C compiler.
command -v make >/dev/null || missing+=(make)
command -v cc >/dev/null || missing+=(gcc)
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi
# The Debian package may start a system redis-server on 6379; the tests never use fixed ports.

cargo build --all-targets
cargo test --lib --bins --tests --no-fail-fast -- --test-threads "${SHOAL_TEST_THREADS:-4}"
# Criterion benchmarks, each run once as a smoke test (they take no libtest arguments).
cargo test --benches
