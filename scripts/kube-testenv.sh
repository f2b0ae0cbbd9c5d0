#!/usr/bin/env bash
# scripts/kube-testenv.sh - a real Kubernetes API server (kube-apiserver v1.20.2 + etcd)
# on 127.0.0.1 for Herald's tests. `start` runs no kubelet, scheduler or
# controller-manager: only the API, so tests can create Services, EndpointSlices, Nodes,
# Leases and Events and watch what the controller writes back. `build` also builds
# kubelet, kube-proxy, kube-scheduler, kube-controller-manager, kubectl and the pause
# binary (from the same tree), and installs Helm's engine (helm-python-sdk) into a
# virtualenv, for the Kubernetes lab (lab/k8s) that runs a whole cluster.
#
# Usage:
#   scripts/kube-testenv.sh build          build once per machine into $CACHE (idempotent)
#   scripts/kube-testenv.sh start [DIR]    start etcd + kube-apiserver, state under DIR,
#                                          print KUBECONFIG=DIR/kubeconfig (idempotent)
#   scripts/kube-testenv.sh stop [DIR]     stop what `start` started there, remove DIR
#   scripts/kube-testenv.sh status [DIR]   show build and run state (exit 0 iff ready)
#
# Everything comes from Debian bookworm packages: Kubernetes' source package (1.20.2 with
# its vendor tree), Go 1.19, etcd-server 3.4. Nothing is installed system-wide except
# curl and openssl when missing (build only), and /etc/apt is never touched: a private apt
# configuration under $CACHE holds the deb and deb-src lines. Run as root.
#
# Environment:
#   HERALD_TESTENV_CACHE      build cache (default /var/cache/herald-testenv);
#                             binaries in $CACHE/bin/{kube-apiserver,etcd,kubelet,kube-proxy,
#                             kube-scheduler,kube-controller-manager,kubectl,pause},
#                             Helm's engine in $CACHE/helm-venv
#   HERALD_TESTENV_MIRROR     Debian mirror (default http://deb.debian.org/debian)
#   HERALD_TESTENV_PORT       apiserver HTTPS port (default 16443; 0 = pick a free one)
#   HERALD_TESTENV_ETCD_PORT  etcd client port, peer port is +1 (default 12379; 0 = free)
#   HERALD_TESTENV_TOKEN      admin bearer token (default: random per start)
#   HERALD_TESTENV_READY_TIMEOUT  seconds to wait for /readyz (default 90)
#   HERALD_TESTENV_DUALSTACK  0 = IPv4-only services (default: dual-stack gate on)
#   HERALD_TESTENV_APISERVER_FLAGS  extra kube-apiserver flags (word-split)
#   HERALD_TESTENV_KEEP_WORK  1 = keep sources, toolchain and Go caches after a build
set -euo pipefail

readonly CACHE=${HERALD_TESTENV_CACHE:-/var/cache/herald-testenv}
readonly MIRROR=${HERALD_TESTENV_MIRROR:-http://deb.debian.org/debian}
readonly SUITE=bookworm
readonly KUBE_VERSION=v1.20.2
readonly GO_PKG=golang-1.19
readonly DEFAULT_DIR=/run/herald-testenv
readonly MARKER=.herald-testenv   # present in every DIR this script owns
# How `start` sets the server up; an instance started with another layout is restarted.
# 2: the built-in discovery.k8s.io/v1beta1 EndpointSlices, no v1 CRD shim.
readonly LAYOUT=2

log() { printf '%s [kube-testenv] %s\n' "$(date '+%F %T')" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ======================================================================================
# build
# ======================================================================================

# apt-get with a private configuration: our own sources list, lists and archive cache.
apt_private() {
    apt-get \
        -o Dir::Etc::SourceList="$CACHE/apt/sources.list" \
        -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$CACHE/apt/lists" \
        -o Dir::Cache="$CACHE/apt/cache" \
        -o APT::Sandbox::User=root \
        "$@"
}

# The API-only test environment needs kube-apiserver and etcd; the lab cluster
# (lab/k8s) also needs the node and control-plane binaries and the pause binary.
readonly KUBE_BINS=(kube-apiserver kubelet kube-proxy kube-scheduler kube-controller-manager kubectl)

kube_bin_ok() {
    local name=$1
    [[ -x $CACHE/bin/$name ]] || return 1
    if [[ $name == kubectl ]]; then
        "$CACHE/bin/kubectl" version --client --short 2>/dev/null | grep -q "$KUBE_VERSION"
    else
        "$CACHE/bin/$name" --version 2>/dev/null | grep -qx "Kubernetes $KUBE_VERSION"
    fi
}

# What `start` needs.
apiserver_ok() {
    kube_bin_ok kube-apiserver && [[ -x $CACHE/bin/etcd ]] && "$CACHE/bin/etcd" --version >/dev/null 2>&1
}

# Kubernetes binaries not yet built (one name a line).
missing_kube_bins() {
    local name
    for name in "${KUBE_BINS[@]}"; do kube_bin_ok "$name" || echo "$name"; done
}

# Everything `build` makes: all of the above plus the static pause binary.
binaries_ok() {
    apiserver_ok || return 1
    [[ -z $(missing_kube_bins) ]] || return 1
    [[ -x $CACHE/bin/pause ]] && "$CACHE/bin/pause" -v 2>/dev/null | grep -q pause
}

# curl and openssl are what `start` needs at run time; everything else is built or
# unpacked under $CACHE.
ensure_host_tools() {
    local need=()
    command -v curl >/dev/null || need+=(curl)
    command -v openssl >/dev/null || need+=(openssl)
    command -v gcc >/dev/null || need+=(gcc)
    [[ -e /usr/lib/x86_64-linux-gnu/libc.a || -n $(find /usr/lib -maxdepth 2 -name libc.a -print -quit) ]] || need+=(libc6-dev)
    command -v apt-get >/dev/null || die "apt-get not found: this script needs Debian 12"
    ((${#need[@]})) || return 0
    log "installing host tools: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${need[@]}" >/dev/null
}

setup_private_apt() {
    mkdir -p "$CACHE"/apt/{lists/partial,cache/archives/partial}
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -r $keyring ]] || die "$keyring missing (package debian-archive-keyring)"
    cat >"$CACHE/apt/sources.list" <<EOF
deb [signed-by=$keyring] $MIRROR $SUITE main
deb-src [signed-by=$keyring] $MIRROR $SUITE main
EOF
    log "apt update (private lists under $CACHE/apt)"
    apt_private update -qq
}

# Binary packages are unpacked (dpkg -x) into $CACHE/root: nothing is installed, no
# service is started. make is included because minimal Debian images lack it.
fetch_toolchain() {
    local debs=$CACHE/debs root=$CACHE/root
    rm -rf "$debs" && mkdir -p "$debs"
    log "downloading $GO_PKG, etcd-server, make, reflect2 and json-iterator sources"
    (cd "$debs" && apt_private download -qq \
        "$GO_PKG-go" "$GO_PKG-src" etcd-server make \
        golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev)
    rm -rf "$root" && mkdir -p "$root"
    local deb
    for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
    [[ -x $root/usr/lib/go-1.19/bin/go ]] || die "Go 1.19 not found after unpacking"
    [[ -x $root/usr/bin/etcd ]] || die "etcd not found after unpacking"
}

# Debian's kubernetes source package ships the upstream 1.20.2 tree, vendor/ included, as
# its orig tarball; we build that tree as is (Debian's packaging patches are not needed).
fetch_kube_source() {
    local src=$CACHE/src work=$CACHE/work
    mkdir -p "$src"
    log "downloading the kubernetes source package"
    (cd "$src" && apt_private source --download-only -qq kubernetes)
    local orig
    orig=$(ls "$src"/kubernetes_*.orig.tar.gz 2>/dev/null | head -n1)
    [[ -n $orig ]] || die "no kubernetes orig tarball in $src"
    rm -rf "$work" && mkdir -p "$work"
    log "unpacking $(basename "$orig")"
    tar -xzf "$orig" -C "$work"
    KUBE_TREE=$work/kubernetes-${KUBE_VERSION#v}
    [[ -f $KUBE_TREE/cmd/kube-apiserver/apiserver.go ]] \
        || die "expected tree $KUBE_TREE (is the source package still $KUBE_VERSION?)"
}

# The vendored modern-go/reflect2 1.0.1 crashes at run time when built with Go >= 1.18.
# Debian ships reflect2 1.0.2 and the json-iterator 1.1.12 that goes with it: swap both in.
patch_vendor() {
    local gocode=$CACHE/root/usr/share/gocode/src/github.com
    local vendor=$KUBE_TREE/vendor/github.com
    log "replacing vendored reflect2 and json-iterator with Debian's (Go 1.18+ fix)"
    rm -rf "$vendor/modern-go/reflect2" "$vendor/json-iterator/go"
    cp -a "$gocode/modern-go/reflect2" "$vendor/modern-go/reflect2"
    cp -a "$gocode/json-iterator/go" "$vendor/json-iterator/go"
}

# Kubernetes' build scripts copy each built binary with `rsync -pc SRC DEST` and use
# rsync for nothing else in a local build; a stand-in saves installing rsync.
write_rsync_shim() {
    local shim=$1/rsync
    mkdir -p "$1"
    cat >"$shim" <<'EOF'
#!/bin/sh
# kube-testenv stand-in for `rsync -pc SRC DEST` (options are dropped; -p = cp -p).
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
exec cp -p "$@"
EOF
    chmod 0755 "$shim"
}

# GOPATH mode from the vendor tree, no network. The version file saves asking git; the
# commit is the one `git archive` wrote into the tarball's hack/lib/version.sh.
compile_kube() {
    local root=$CACHE/root work=$CACHE/work commit
    commit=$(sed -n "s/^ *KUBE_GIT_COMMIT='\([0-9a-f]\{40\}\)'.*/\1/p" "$KUBE_TREE/hack/lib/version.sh" | head -n1)
    cat >"$work/version.env" <<EOF
KUBE_GIT_VERSION='$KUBE_VERSION'
KUBE_GIT_MAJOR='1'
KUBE_GIT_MINOR='20'
KUBE_GIT_COMMIT='$commit'
KUBE_GIT_TREE_STATE='clean'
EOF
    write_rsync_shim "$work/shim"
    local what=() name
    for name in $(missing_kube_bins); do what+=("cmd/$name"); done
    log "compiling ${what[*]} (make -p=2; 10-40 minutes on 2 cores; log: $work/make.log)"
    (
        cd "$KUBE_TREE"
        unset GOPATH GOFLAGS GOBIN
        export GOROOT=$root/usr/lib/go-1.19
        export PATH=$work/shim:$GOROOT/bin:$root/usr/bin:$PATH
        export GOPROXY=off GO111MODULE=off CGO_ENABLED=0 GOTOOLCHAIN=local
        export HOME=$work/home GOCACHE=$work/home/go-build
        export KUBE_GIT_VERSION_FILE=$work/version.env
        mkdir -p "$HOME"
        make WHAT="${what[*]}" GOFLAGS=-p=2 >"$work/make.log" 2>&1
    ) || { tail -n 30 "$work/make.log" >&2; die "make failed (full log: $work/make.log)"; }
    mkdir -p "$CACHE/bin"
    for name in "${what[@]#cmd/}"; do
        install -m 0755 "$KUBE_TREE/_output/bin/$name" "$CACHE/bin/$name.new"
        mv -f "$CACHE/bin/$name.new" "$CACHE/bin/$name"
    done
    if ! [[ -x $CACHE/bin/etcd ]]; then
        install -m 0755 "$root/usr/bin/etcd" "$CACHE/bin/etcd.new"
        mv -f "$CACHE/bin/etcd.new" "$CACHE/bin/etcd"
    fi
}

# The pause container's process, from the tree's build/pause (C, static, as upstream
# builds it); the lab wraps it into the sandbox image.
compile_pause() {
    local src="" candidate
    for candidate in "$KUBE_TREE"/build/pause/linux/pause.c "$KUBE_TREE"/build/pause/pause.c; do
        [[ -f $candidate ]] && { src=$candidate; break; }
    done
    [[ -n $src ]] || die "no build/pause source in $KUBE_TREE"
    command -v gcc >/dev/null || die "gcc is needed for the pause binary (package gcc, libc6-dev)"
    log "compiling pause from ${src#"$KUBE_TREE"/}"
    gcc -Os -Wall -Werror -static -DVERSION="$KUBE_VERSION" -o "$CACHE/bin/pause.new" "$src"
    strip "$CACHE/bin/pause.new" 2>/dev/null || true
    mv -f "$CACHE/bin/pause.new" "$CACHE/bin/pause"
}

cmd_build() {
    [[ $EUID -eq 0 ]] || die "build runs as root (it may apt-get install curl/openssl/gcc)"
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    flock 9   # a second build waits for the first, then finds the binaries
    ensure_host_tools
    ensure_helm_sdk
    if binaries_ok; then
        log "already built: $CACHE/bin (${KUBE_BINS[*]} $KUBE_VERSION, pause, etcd $(etcd_version))"
        return 0
    fi
    local t0=$SECONDS
    setup_private_apt
    fetch_toolchain
    fetch_kube_source
    patch_vendor
    [[ -n $(missing_kube_bins) ]] && compile_kube
    compile_pause
    binaries_ok || die "built binaries do not answer --version"
    if [[ ${HERALD_TESTENV_KEEP_WORK:-0} != 1 ]]; then
        # ~2.5 GB: source tree, Go caches, unpacked toolchain and the downloads.
        rm -rf "$CACHE/work" "$CACHE/root" "$CACHE/debs" "$CACHE/src"
    fi
    local took=$((SECONDS - t0))
    printf 'built_at=%s\nbuild_seconds=%s\n' "$(date '+%F %T')" "$took" >"$CACHE/build-info"
    log "built in ${took}s: $CACHE/bin/kube-apiserver ($KUBE_VERSION), $CACHE/bin/etcd ($(etcd_version))"
}

# Helm's engine for the lab cluster and the chart tests: PyPI's helm-python-sdk bundles
# Helm v4's Go SDK as a shared library (no helm binary, works offline once installed),
# in a virtualenv of its own under the cache.
readonly HELM_SDK=helm-python-sdk==0.2.2
helm_sdk_ok() { "$CACHE/helm-venv/bin/python" -c 'import helm_python' 2>/dev/null; }
ensure_helm_sdk() {
    helm_sdk_ok && return 0
    log "installing $HELM_SDK into $CACHE/helm-venv"
    rm -rf "$CACHE/helm-venv"
    python3 -m venv "$CACHE/helm-venv" || die "python3 -m venv failed (package python3-venv)"
    "$CACHE/helm-venv/bin/pip" install -q --disable-pip-version-check "$HELM_SDK" || die "pip install $HELM_SDK failed"
    helm_sdk_ok || die "helm_python does not import after installing $HELM_SDK"
}

etcd_version() { "$CACHE/bin/etcd" --version 2>/dev/null | sed -n 's/^etcd Version: //p'; }

# ======================================================================================
# start / stop / status
# ======================================================================================

# Load DIR/env (written by start) into variables, if present.
load_env() {
    local dir=$1
    [[ -f $dir/env ]] || return 1
    # shellcheck disable=SC1091
    source "$dir/env"
}

# A pid file names our process only if the process has the expected name and was started
# with DIR on its command line: a recycled pid is never mistaken for ours.
our_pid() {
    local dir=$1 name=$2 pid
    [[ -f $dir/$name.pid ]] || return 1
    pid=$(<"$dir/$name.pid")
    [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/comm ]] || return 1
    [[ $(</proc/"$pid"/comm) == "$name" ]] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF -- "$dir/" || return 1
    printf '%s\n' "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# First free port (and, with span 2, its successor too) from a random start in 20000-29999.
pick_free_port() {
    local span=$1 p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 10000))
        port_in_use "$p" && continue
        ((span == 2)) && port_in_use $((p + 1)) && continue
        printf '%s\n' "$p"
        return 0
    done
    die "no free port found"
}

readyz() {
    local server=$1 token=$2
    [[ $(curl -sk --max-time 2 -H "Authorization: Bearer $token" "$server/readyz" 2>/dev/null) == ok ]]
}

start_etcd() {
    local dir=$1
    mkdir -p "$dir/etcd"
    local arch
    arch=$(uname -m)
    # etcd 3.4 refuses to run on anything but amd64 unless told it may.
    [[ $arch == x86_64 ]] || export ETCD_UNSUPPORTED_ARCH=${arch/aarch64/arm64}
    setsid "$CACHE/bin/etcd" --name herald-testenv --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
        --initial-cluster "herald-testenv=http://127.0.0.1:$((ETCD_PORT + 1))" \
        --unsafe-no-fsync \
        </dev/null >"$dir/etcd.log" 2>&1 9>&- &
    echo $! >"$dir/etcd.pid"
}

# IPv4 first (Services without ipFamilies get IPv4); with dual-stack (alpha in 1.20, on
# unless HERALD_TESTENV_DUALSTACK=0) an IPv6 range too, and spec.ipFamilies/ipFamilyPolicy
# are kept and defaulted as on current servers instead of being dropped.
service_cidrs() {
    if dualstack; then echo 10.96.0.0/16,fd00:10:96::/112; else echo 10.96.0.0/16; fi
}
dualstack() { [[ ${HERALD_TESTENV_DUALSTACK:-1} != 0 ]]; }

start_apiserver() {
    local dir=$1 feature_gates=() extra_flags=()
    dualstack && feature_gates=(--feature-gates=IPv6DualStack=true)
    read -r -a extra_flags <<<"${HERALD_TESTENV_APISERVER_FLAGS:-}"
    # Tokens: one admin (system:masters) and unprivileged identities for RBAC tests.
    cat >"$dir/tokens.csv" <<EOF
$TOKEN,herald-admin,uid-admin,system:masters
$TOKEN-controller,herald-controller,uid-controller
$TOKEN-speaker,herald-speaker,uid-speaker
EOF
    chmod 600 "$dir/tokens.csv"
    mkdir -p "$dir/certs"
    openssl genrsa -out "$dir/certs/sa.key" 2048 2>/dev/null
    openssl rsa -in "$dir/certs/sa.key" -pubout -out "$dir/certs/sa.pub" 2>/dev/null
    # ServiceAccount admission is off: without a controller-manager no token or default
    # ServiceAccount would ever appear. Priority-and-fairness is off (faster start), and
    # no endpoint reconciler writes the `kubernetes` Service's endpoints. EndpointSlices
    # are what 1.20 serves: discovery.k8s.io/v1beta1 (v1 arrived in 1.21).
    setsid "$CACHE/bin/kube-apiserver" \
        --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
        --secure-port="$PORT" --insecure-port=0 --cert-dir="$dir/certs" \
        --token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC \
        --service-account-issuer=https://kubernetes.default.svc \
        --service-account-key-file="$dir/certs/sa.pub" \
        --service-account-signing-key-file="$dir/certs/sa.key" \
        --service-cluster-ip-range="$(service_cidrs)" \
        --disable-admission-plugins=ServiceAccount \
        --enable-priority-and-fairness=false \
        --endpoint-reconciler-type=none \
        "${feature_gates[@]}" \
        "${extra_flags[@]}" \
        --v=1 \
        </dev/null >"$dir/apiserver.log" 2>&1 9>&- &
    echo $! >"$dir/kube-apiserver.pid"
}

wait_ready() {
    local dir=$1 deadline=$((SECONDS + ${HERALD_TESTENV_READY_TIMEOUT:-90}))
    until readyz "$SERVER" "$TOKEN"; do
        if ! our_pid "$dir" kube-apiserver >/dev/null; then
            tail -n 20 "$dir/apiserver.log" >&2
            return 1
        fi
        if ! our_pid "$dir" etcd >/dev/null; then
            tail -n 20 "$dir/etcd.log" >&2
            return 1
        fi
        ((SECONDS < deadline)) || { log "no /readyz after ${HERALD_TESTENV_READY_TIMEOUT:-90}s"; return 1; }
        sleep 0.1
    done
}

# The serving certificate the apiserver generates is a leaf followed by the self-signed CA
# that issued it; the kubeconfig trusts that CA (the block whose subject is its issuer).
extract_ca() {
    local bundle=$1 out=$2 tmp
    tmp=$(mktemp -d)
    awk -v d="$tmp" '/-----BEGIN CERTIFICATE-----/ {n++} n {print > (d "/cert" n ".pem")}' "$bundle"
    local f
    for f in "$tmp"/cert*.pem; do
        if [[ $(openssl x509 -in "$f" -noout -subject -nameopt compat | sed 's/^subject=//') == \
              "$(openssl x509 -in "$f" -noout -issuer -nameopt compat | sed 's/^issuer=//')" ]]; then
            cp "$f" "$out"
            rm -rf "$tmp"
            return 0
        fi
    done
    rm -rf "$tmp"
    return 1
}

write_kubeconfig() {
    local dir=$1
    extract_ca "$dir/certs/apiserver.crt" "$dir/ca.crt" || die "no CA certificate in $dir/certs/apiserver.crt"
    openssl verify -CAfile "$dir/ca.crt" "$dir/certs/apiserver.crt" >/dev/null \
        || die "apiserver.crt does not verify against its CA"
    umask 077
    cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: herald-testenv
  cluster:
    server: $SERVER
    certificate-authority-data: $(base64 -w0 "$dir/ca.crt")
users:
- name: herald-admin
  user:
    token: $TOKEN
contexts:
- name: herald-testenv
  context:
    cluster: herald-testenv
    user: herald-admin
current-context: herald-testenv
EOF
    cat >"$dir/env" <<EOF
KUBECONFIG=$dir/kubeconfig
HERALD_TESTENV_SERVER=$SERVER
HERALD_TESTENV_TOKEN=$TOKEN
HERALD_TESTENV_CA=$dir/ca.crt
HERALD_TESTENV_ETCD=http://127.0.0.1:$ETCD_PORT
PORT=$PORT
ETCD_PORT=$ETCD_PORT
HERALD_TESTENV_LAYOUT=$LAYOUT
EOF
}

# Prepare a fresh DIR. A non-empty DIR without our marker is someone else's: refuse it.
# (DIR must not contain spaces: DIR/env is plain KEY=VALUE lines.)
claim_dir() {
    local dir=$1
    if [[ -d $dir && ! -e $dir/$MARKER ]] && [[ -n $(ls -A "$dir") ]]; then
        die "$dir exists, is not empty and was not made by this script"
    fi
    mkdir -p "$dir"
    chmod 700 "$dir"
    touch "$dir/$MARKER"
}

choose_ports() {
    PORT=${HERALD_TESTENV_PORT:-16443}
    ETCD_PORT=${HERALD_TESTENV_ETCD_PORT:-12379}
    [[ $PORT == 0 ]] && PORT=$(pick_free_port 1)
    [[ $ETCD_PORT == 0 ]] && ETCD_PORT=$(pick_free_port 2)
    local p
    for p in "$PORT" "$ETCD_PORT" $((ETCD_PORT + 1)); do
        port_in_use "$p" && die "port $p on 127.0.0.1 is in use (set HERALD_TESTENV_PORT / HERALD_TESTENV_ETCD_PORT, 0 = any free)"
    done
    SERVER=https://127.0.0.1:$PORT
}

cmd_start() {
    local dir=${1:-$DEFAULT_DIR}
    dir=$(realpath -m "$dir")
    apiserver_ok || die "no kube-apiserver/etcd in $CACHE/bin: run '$0 build' first"
    command -v curl >/dev/null && command -v openssl >/dev/null || die "curl and openssl are needed ('$0 build' installs them)"
    mkdir -p "$(dirname "$dir")"
    exec 9>"$dir.lock"
    flock 9
    if is_ready "$dir"; then
        if [[ ${HERALD_TESTENV_LAYOUT:-1} == "$LAYOUT" ]]; then
            log "already running and ready in $dir ($SERVER)"
            echo "KUBECONFIG=$dir/kubeconfig"
            return 0
        fi
        log "running in $dir with setup layout ${HERALD_TESTENV_LAYOUT:-1}, not $LAYOUT: restarting it"
    fi
    if [[ -e $dir/$MARKER ]]; then
        stop_processes "$dir"   # leftovers of a half-dead instance, if any
    fi
    choose_ports
    if [[ -e $dir/$MARKER ]]; then
        find "$dir" -mindepth 1 -delete
    fi
    claim_dir "$dir"
    TOKEN=${HERALD_TESTENV_TOKEN:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
    local t0=$EPOCHREALTIME
    start_etcd "$dir"
    start_apiserver "$dir"
    if ! wait_ready "$dir"; then
        stop_processes "$dir"
        die "kube-apiserver did not become ready (logs in $dir)"
    fi
    local t_ready=$EPOCHREALTIME
    write_kubeconfig "$dir"
    local t_done=$EPOCHREALTIME
    log "ready in $(elapsed "$t0" "$t_ready")s, with kubeconfig in $(elapsed "$t0" "$t_done")s:" \
        "apiserver $SERVER (pid $(<"$dir/kube-apiserver.pid")), etcd 127.0.0.1:$ETCD_PORT (pid $(<"$dir/etcd.pid"))"
    echo "KUBECONFIG=$dir/kubeconfig"
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# True when both processes of DIR are ours and alive and /readyz answers ok. Sets SERVER/TOKEN.
is_ready() {
    local dir=$1
    load_env "$dir" 2>/dev/null || return 1
    SERVER=$HERALD_TESTENV_SERVER TOKEN=$HERALD_TESTENV_TOKEN
    our_pid "$dir" etcd >/dev/null && our_pid "$dir" kube-apiserver >/dev/null && readyz "$SERVER" "$TOKEN"
}

# Alive = exists and is not a zombie waiting for its new parent to reap it.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

stop_one() {
    local dir=$1 name=$2 pid i
    if ! pid=$(our_pid "$dir" "$name"); then
        [[ -f $dir/$name.pid ]] && log "$name: pid file present but the process is gone or not ours; not signalling"
        rm -f "$dir/$name.pid"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        log "$name did not exit after 10s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$name.pid"
}

stop_processes() {
    local dir=$1
    stop_one "$dir" kube-apiserver
    stop_one "$dir" etcd
}

cmd_stop() {
    local dir=${1:-$DEFAULT_DIR}
    dir=$(realpath -m "$dir")
    [[ -d $dir ]] || { log "nothing to stop in $dir"; return 0; }
    [[ -e $dir/$MARKER ]] || die "$dir was not made by this script; leaving it alone"
    exec 9>"$dir.lock"
    flock 9
    stop_processes "$dir"
    rm -rf "$dir"   # the empty $dir.lock stays: removing it would race a waiting start
    log "stopped; removed $dir"
}

cmd_status() {
    local dir=${1:-$DEFAULT_DIR}
    dir=$(realpath -m "$dir")
    if binaries_ok; then
        echo "build: $CACHE/bin ($("$CACHE/bin/kube-apiserver" --version), etcd $(etcd_version))"
        [[ -f $CACHE/build-info ]] && sed 's/^/build: /' "$CACHE/build-info"
    else
        echo "build: missing (run '$0 build')"
    fi
    local name pid
    for name in etcd kube-apiserver; do
        if pid=$(our_pid "$dir" "$name"); then echo "$name: running (pid $pid)"; else echo "$name: not running"; fi
    done
    if is_ready "$dir"; then
        echo "apiserver: ready at $SERVER"
        echo "KUBECONFIG=$dir/kubeconfig"
        return 0
    fi
    echo "apiserver: not ready ($dir)"
    return 3
}

main() {
    local cmd=${1:-}
    shift || true
    case $cmd in
        build) cmd_build "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        status) cmd_status "$@" ;;
        -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
        *) sed -n '7,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
}

main "$@"
