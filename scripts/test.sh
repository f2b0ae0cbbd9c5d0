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
# Debian starts (and enables) a package's service when it installs it, in the root
# namespace; the tests run their own daemons in namespaces. So what this run's install
# started or enabled is stopped or disabled again, and nothing else: a service that was
# running or enabled before this script started is the host's and is left as it was.
declare -A service_of=([frr]=frr [bird2]=bird [gobgpd]=gobgpd [keepalived]=keepalived [containerd]=containerd)   # package -> its service
svc_active() { systemctl is-active --quiet "$1" >/dev/null 2>&1; }
svc_enabled() { systemctl is-enabled --quiet "$1" >/dev/null 2>&1; }

need=()
command -v ip >/dev/null        || need+=(iproute2)
[[ -x /usr/lib/frr/bgpd ]]      || need+=(frr)
command -v gobgpd >/dev/null    || need+=(gobgpd)
command -v bird >/dev/null      || need+=(bird2)
command -v curl >/dev/null      || need+=(curl)
command -v openssl >/dev/null   || need+=(openssl)   # proxy TLS tests (s_client, test certificates), the lab certificate
command -v python3 >/dev/null   || need+=(python3)
command -v tcpdump >/dev/null   || need+=(tcpdump)   # herald-e2e convergence benchmark
command -v keepalived >/dev/null || need+=(keepalived) # vrrp interop tests
# the Kubernetes lab (lab/k8s): each node's containerd, runc, CNI plugins, kube-proxy's
# iptables (also the lab_bfd benchmark's cut link), umoci for the offline images, gcc for
# the static pause and backend binaries
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null      || need+=(runc)
[[ -x /usr/lib/cni/bridge ]]    || need+=(containernetworking-plugins)
command -v iptables >/dev/null  || need+=(iptables)
command -v umoci >/dev/null     || need+=(umoci)
command -v gcc >/dev/null       || need+=(gcc libc6-dev)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)   # helm-python-sdk's virtualenv
if ((${#need[@]})); then
    # the services of the packages about to be installed, and how they were before
    services=() was_active=() was_enabled=()
    for pkg in "${need[@]}"; do
        svc=${service_of[$pkg]:-}
        [[ -n $svc ]] || continue
        services+=("$svc")
        if svc_active "$svc"; then was_active+=(1); else was_active+=(0); fi
        if svc_enabled "$svc"; then was_enabled+=(1); else was_enabled+=(0); fi
    done
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    for k in "${!services[@]}"; do
        svc=${services[k]}
        if ((!was_active[k])) && svc_active "$svc"; then
            log "stopping $svc (started by the install; the tests run their own)"
            systemctl stop "$svc" >/dev/null 2>&1 || log "could not stop $svc"
        fi
        if ((!was_enabled[k])) && svc_enabled "$svc"; then
            log "disabling $svc (enabled by the install)"
            systemctl disable "$svc" >/dev/null 2>&1 || log "could not disable $svc"
        fi
    done
fi

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
