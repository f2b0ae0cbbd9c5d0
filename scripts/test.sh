#!/usr/bin/env bash
# scripts/test.sh - Herald's whole test suite, as CI runs it.
#
# Installs the OS packages the tests need when they are missing (Debian/Ubuntu, root),
# then runs formatting and lint checks and every test of the workspace, including the
# ones that start FRR, GoBGP and BIRD in network namespaces. Nothing is skipped: a test
# whose peer is missing fails.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[test] %s\n' "$*" >&2; }

[[ $EUID -eq 0 ]] || { log "run as root: the interop tests create network namespaces"; exit 1; }

# ---- OS packages -----------------------------------------------------------------
need=()
command -v ip >/dev/null        || need+=(iproute2)
[[ -x /usr/lib/frr/bgpd ]]      || need+=(frr)
command -v gobgpd >/dev/null    || need+=(gobgpd)
command -v bird >/dev/null      || need+=(bird2)
command -v curl >/dev/null      || need+=(curl)
command -v python3 >/dev/null   || need+=(python3)
command -v tcpdump >/dev/null   || need+=(tcpdump)   # herald-e2e convergence benchmark
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The packages start their services in the root namespace; the tests use their own.
for svc in frr bird gobgpd; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
done

# A real kube-apiserver (v1.20, built once per machine from Debian's sources into a cache
# outside the repo; minutes the first time, instant after) for the controller's tests.
log "kube-apiserver test environment"
./scripts/kube-testenv.sh build
# The tests start the API server on demand under target/tmp/kube-testenv; stop it at the end.
trap './scripts/kube-testenv.sh stop target/tmp/kube-testenv >/dev/null 2>&1 || true' EXIT

# ---- checks and tests ----------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo test"
# One test at a time: the suites that start routers, speakers and an API server are heavy
# for a 2-core machine and their timing margins are kinder that way. (An environment
# variable, not `-- --test-threads`: the benchmarks' own harnesses run too, in test mode.)
RUST_TEST_THREADS=1 cargo test --workspace --all-targets --locked
