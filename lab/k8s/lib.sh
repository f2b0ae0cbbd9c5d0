# shellcheck shell=bash
# lib.sh - settings and helpers of Herald's Kubernetes lab (sourced by up.sh, down.sh,
# status.sh, ctl.sh and scripts/demo.sh; not meant to be run).
#
# A real Kubernetes v1.20.2 cluster (binaries from scripts/kube-testenv.sh build) in
# network namespaces, the router and client of lab/e2e around it:
#
#   ${P}cp  eth0 172.30.0.5   etcd (127.0.0.1), kube-apiserver :6443, kube-scheduler,
#                             kube-controller-manager
#   ${P}nI  eth0 172.30.0.1I  containerd, kubelet, kube-proxy (iptables); pods on cni0
#                             (CNI bridge + host-local, 10.244.I.0/24); routes to the
#                             other nodes' pod ranges over the segment
#   ${P}sw  br0: the node segment 172.30.0.0/24
#   ${P}r   eth0 172.30.0.1, eth1 172.31.0.1: FRR (lab/e2e/frr templates), AS 64501,
#           dynamic neighbours for the segment, ECMP
#   ${P}c   eth0 172.31.0.2: the client (curl through the router)
#
# Each node's containerd and kubelet share a private mount namespace (held by a `sleep`
# started with unshare): there /var/log (pod logs, hard-wired in kubelet 1.20) is the
# node's own directory, /run/containerd a tmpfs, and the kernel sysctls kubelet insists
# on setting (vm.overcommit_memory, kernel.panic, ...) are files with the values it
# wants, so it never writes the host's. kube-proxy runs in the node's network namespace
# only: its iptables rules are that namespace's. Pods run under the cgroup
# /herald-k8s-${P}nodeI (cgroup v1, cgroupfs driver), so teardown finds every process
# of ours by cgroup, never by name.
#
# Everything lives in $HK_STATE (marker .herald-lab-owner, lab/lib/common.sh); down.sh
# touches only what it records.

# shellcheck disable=SC2034  # used by the scripts that source this file
HK_LAB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)      # lab/k8s
HK_REPO=$(cd "$HK_LAB/../.." && pwd)
HK_PREFIX=${HK_PREFIX:-hk-}
[[ $HK_PREFIX =~ ^[a-z0-9][a-z0-9-]{0,7}$ ]] || { echo "HK_PREFIX: 1-8 of [a-z0-9-]" >&2; exit 64; }
HK_STATE=${HK_STATE:-/run/herald-k8s/${HK_PREFIX%-}}
HK_NODES=${HK_NODES:-2}
HK_CACHE=${HERALD_TESTENV_CACHE:-/var/cache/herald-testenv}
HK_BIN=$HK_CACHE/bin
HK_CNI_BIN=${HK_CNI_BIN:-/usr/lib/cni}
HK_OWNER="herald lab/k8s prefix=$HK_PREFIX"
FRR_BIN=${FRR_BIN:-/usr/lib/frr}
PYTHON=${PYTHON:-/usr/bin/python3}

NS_ROUTER=${HK_PREFIX}r
NS_SWITCH=${HK_PREFIX}sw
NS_CLIENT=${HK_PREFIX}c
NS_CP=${HK_PREFIX}cp
ROUTER4=172.30.0.1 GATEWAY4=172.31.0.1 CLIENT4=172.31.0.2
CP4=172.30.0.5 API_PORT=6443
SERVICE_CIDR=10.96.0.0/16 KUBERNETES_SVC=10.96.0.1 CLUSTER_CIDR=10.244.0.0/16
POOL4_NET=10.99.0.0/24
PAUSE_IMAGE=herald.test/pause:v1.20.2
BACKEND_IMAGE=herald.test/backend:lab
HERALD_IMAGE=herald.test/herald:lab

LOG_TAG=k8s LAB_STATE=$HK_STATE
# shellcheck source=../lib/common.sh
source "$HK_LAB/../lib/common.sh"

node_name() { echo "node$1"; }
node_ns() { echo "${HK_PREFIX}n$1"; }
node4() { echo "172.30.0.$((10 + $1))"; }
pod_net() { echo "10.244.$1.0/24"; }
node_dir() { echo "$HK_STATE/node$1"; }
# The node's cgroup (under every v1 hierarchy); kubelet puts kubepods below it.
node_cgroup() { echo "herald-k8s-${HK_PREFIX}node$1"; }

# kubectl from the build cache, as admin, run in the control-plane namespace (the API
# server is only reachable inside the lab).
kc() { ip netns exec "$NS_CP" "$HK_BIN/kubectl" --kubeconfig "$HK_STATE/pki/admin.kubeconfig" "$@"; }
# The router's vtysh.
vty() { vtysh --vty_socket "$HK_STATE/router" "$@"; }

ns_sysctl() {   # ns_sysctl NS key=value... (through /proc: no procps needed)
    local ns=$1 kv script=""; shift
    for kv in "$@"; do script+="echo ${kv#*=} > /proc/sys/$(tr . / <<<"${kv%%=*}");"; done
    nsx "$ns" sh -c "$script"
}

# ------------------------------------------------------------------------ PKI ---

# write_pki : a CA, the API server's certificate, the service-account key pair, the
# static tokens of every component and a kubeconfig for each (in $HK_STATE/pki).
write_pki() {
    local p=$HK_STATE/pki who
    mkdir -p "$p" && chmod 700 "$p"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=herald-lab-ca" \
        -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
        -keyout "$p/apiserver.key" -out "$p/apiserver.csr" 2>/dev/null
    printf 'subjectAltName=IP:%s,IP:%s,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n' \
        "$CP4" "$KUBERNETES_SVC" >"$p/apiserver.ext"
    openssl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
        -days 2 -extfile "$p/apiserver.ext" -out "$p/apiserver.crt" 2>/dev/null
    openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
    openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
    : >"$p/tokens.csv"
    # name user uid groups
    token_line admin herald-admin system:masters
    token_line scheduler system:kube-scheduler ""
    token_line controller-manager system:kube-controller-manager ""
    token_line kube-proxy system:kube-proxy ""
    for i in $(seq "$HK_NODES"); do token_line "$(node_name "$i")" "system:node:$(node_name "$i")" system:nodes; done
    chmod 600 "$p/tokens.csv"
}

# token_line NAME USER GROUPS : a random token for USER, and NAME.kubeconfig with it.
token_line() {
    local p=$HK_STATE/pki token
    token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    if [[ -n $3 ]]; then echo "$token,$2,uid-$1,\"$3\"" >>"$p/tokens.csv"; else echo "$token,$2,uid-$1" >>"$p/tokens.csv"; fi
    cat >"$p/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: herald-lab
  cluster:
    server: https://$CP4:$API_PORT
    certificate-authority: $p/ca.crt
users:
- name: $1
  user:
    token: $token
contexts:
- name: herald-lab
  context: {cluster: herald-lab, user: $1}
current-context: herald-lab
EOF
    chmod 600 "$p/$1.kubeconfig"
}

# -------------------------------------------------------------- control plane ---

control_plane_start() {
    local d=$HK_STATE/cp p=$HK_STATE/pki
    mkdir -p "$d/etcd"
    start_bg "$NS_CP" "$d/etcd.pid" "$d/etcd.log" "$HK_BIN/etcd" --name herald-lab \
        --data-dir "$d/etcd" --listen-client-urls http://127.0.0.1:2379 \
        --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
        --initial-advertise-peer-urls http://127.0.0.1:2380 \
        --initial-cluster herald-lab=http://127.0.0.1:2380 --unsafe-no-fsync
    start_bg "$NS_CP" "$d/kube-apiserver.pid" "$d/kube-apiserver.log" "$HK_BIN/kube-apiserver" \
        --etcd-servers=http://127.0.0.1:2379 --bind-address=0.0.0.0 --advertise-address="$CP4" \
        --secure-port="$API_PORT" --insecure-port=0 \
        --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
        --client-ca-file="$p/ca.crt" --token-auth-file="$p/tokens.csv" \
        --authorization-mode=Node,RBAC --allow-privileged=true \
        --kubelet-preferred-address-types=InternalIP \
        --service-account-issuer=https://kubernetes.default.svc \
        --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
        --service-cluster-ip-range="$SERVICE_CIDR" --enable-priority-and-fairness=false \
        --v=1
    wait_for 90 api_ready || { tail -n 20 "$d/kube-apiserver.log" >&2; die "kube-apiserver not ready after 90 s"; }
    start_bg "$NS_CP" "$d/kube-controller-manager.pid" "$d/kube-controller-manager.log" \
        "$HK_BIN/kube-controller-manager" --kubeconfig="$p/controller-manager.kubeconfig" \
        --service-account-private-key-file="$p/sa.key" --root-ca-file="$p/ca.crt" \
        --use-service-account-credentials=true --leader-elect=false \
        --port=0 --secure-port=0 --controllers='*,-nodeipam,-route,-service,-cloud-node-lifecycle' \
        --node-monitor-grace-period=20s --pod-eviction-timeout=30s --v=1
    start_bg "$NS_CP" "$d/kube-scheduler.pid" "$d/kube-scheduler.log" \
        "$HK_BIN/kube-scheduler" --kubeconfig="$p/scheduler.kubeconfig" --leader-elect=false \
        --port=0 --secure-port=0 --v=1
}

api_ready() { [[ $(kc get --raw /readyz 2>/dev/null) == ok ]]; }

# ----------------------------------------------------------------------- nodes ---

# node_mounts I : the private mount namespace of node I (a holder process), with the
# node's /var/log, a tmpfs on /run/containerd and the sysctl files kubelet checks.
node_mounts() {
    local i=$1 d sys
    d=$(node_dir "$i")
    sys=$d/sysctl
    mkdir -p "$d/varlog" "$sys"
    # kubelet's setupKernelTunables wants these values and writes them when they differ.
    declare -A want=([vm/overcommit_memory]=1 [vm/panic_on_oom]=0 [kernel/panic]=10
                     [kernel/panic_on_oops]=1 [kernel/keys/root_maxkeys]=1000000
                     [kernel/keys/root_maxbytes]=25000000)
    local script="set -e; mount --bind '$d/varlog' /var/log; mount -t tmpfs tmpfs /run/containerd;"
    local k
    for k in "${!want[@]}"; do
        echo "${want[$k]}" >"$sys/${k//\//.}"
        script+=" mount --bind '$sys/${k//\//.}' /proc/sys/$k;"
    done
    if [[ ! -d /run/containerd ]]; then
        mkdir -p /run/containerd && echo /run/containerd >>"$HK_STATE/created-dirs"
    fi
    rm -f "$d/mnt.pid"
    # shellcheck disable=SC2016
    setsid unshare --mount --propagation private sh -c "$script"' echo $$ > "$0"; exec sleep infinity' "$d/mnt.pid" \
        </dev/null >>"$d/mnt.log" 2>&1 &
    disown $!
    wait_for 10 test -s "$d/mnt.pid" || die "node $i: mount namespace holder did not start (see $d/mnt.log)"
}

# node_exec_bg I NAME CMD... : CMD in node I's network and mount namespaces, detached,
# pid in DIR/NAME.pid, output in DIR/NAME.log.
node_exec_bg() {
    local i=$1 name=$2 d holder; shift 2
    d=$(node_dir "$i")
    holder=$(<"$d/mnt.pid")
    rm -f "$d/$name.pid"
    # shellcheck disable=SC2016
    setsid nsenter --mount="/proc/$holder/ns/mnt" --net="/run/netns/$(node_ns "$i")" \
        sh -c 'echo $$ > "$0"; exec "$@"' "$d/$name.pid" "$@" </dev/null >>"$d/$name.log" 2>&1 &
    disown $!
    wait_for 10 test -s "$d/$name.pid" || die "node $i: $name did not start (see $d/$name.log)"
}

write_node_configs() {
    local i=$1 d addr
    d=$(node_dir "$i")
    addr=$(node4 "$i")
    mkdir -p "$d/cni" "$d/kubelet" "$d/containerd" "$d/volume-plugins"
    cat >"$d/containerd.toml" <<EOF
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  netns_mounts_under_state_dir = true
  # Root on the lab machines lacks CAP_SYS_RESOURCE, so no process may lower its
  # oom_score_adj (the sandbox asks for -998): runc's init fails ("can't get final
  # child's PID from pipe: EOF"). Clamp the containers' adjustments to containerd's own.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$d/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$HK_CNI_BIN"
    conf_dir = "$d/cni"
EOF
    cat >"$d/cni/10-herald-lab.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "herald-lab",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$d/cni-ipam",
        "ranges": [[{"subnet": "$(pod_net "$i")"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
    cat >"$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $addr
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
# The lab's API server reaches the kubelet for logs and exec without a client certificate.
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: /$(node_cgroup "$i")
cgroupsPerQOS: true
failSwapOn: false
protectKernelDefaults: false
# The nodes share one disk and memory: no evictions, no image garbage collection.
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
resolvConf: /etc/resolv.conf
nodeStatusUpdateFrequency: 4s
EOF
}

# node_cgroups I : node I's cgroup in every v1 hierarchy (kubelet wants its cgroup root
# to exist); cpuset needs its cpus and mems filled in before anything can join.
node_cgroups() {
    local h cg
    cg=$(node_cgroup "$1")
    for h in /sys/fs/cgroup/*/; do
        [[ -e ${h}cgroup.procs && ${h} != */unified/ ]] || continue
        mkdir -p "$h$cg"
        if [[ -e $h${cg}/cpuset.cpus ]]; then
            cat "${h}cpuset.cpus" >"$h$cg/cpuset.cpus"
            cat "${h}cpuset.mems" >"$h$cg/cpuset.mems"
        fi
    done
}

node_start() {
    local i=$1 d ns
    d=$(node_dir "$i")
    ns=$(node_ns "$i")
    write_node_configs "$i"
    node_cgroups "$i"
    node_exec_bg "$i" containerd /usr/bin/containerd --config "$d/containerd.toml"
    wait_for 30 ctr_node "$i" version || die "node $i: containerd not answering (see $d/containerd.log)"
    local img
    for img in pause backend herald; do
        ctr_node "$i" images import --base-name "herald.test/$img" "$HK_STATE/images/$img.tar" >/dev/null \
            || die "node $i: importing $img failed"
    done
    node_exec_bg "$i" kubelet "$HK_BIN/kubelet" --config="$d/kubelet.yaml" \
        --kubeconfig="$HK_STATE/pki/$(node_name "$i").kubeconfig" \
        --container-runtime=remote --container-runtime-endpoint="unix://$d/containerd.sock" \
        --root-dir="$d/kubelet" --cert-dir="$d/kubelet/pki" --volume-plugin-dir="$d/volume-plugins" \
        --hostname-override="$(node_name "$i")" --node-ip="$(node4 "$i")" \
        --pod-infra-container-image="$PAUSE_IMAGE" --v=1
    start_bg "$ns" "$d/kube-proxy.pid" "$d/kube-proxy.log" "$HK_BIN/kube-proxy" \
        --kubeconfig="$HK_STATE/pki/kube-proxy.kubeconfig" --hostname-override="$(node_name "$i")" \
        --proxy-mode=iptables --cluster-cidr="$CLUSTER_CIDR" \
        --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 \
        --conntrack-tcp-timeout-close-wait=0 \
        --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address="$(node4 "$i"):10256" --v=1
}

ctr_node() { local i=$1; shift; ctr --address "$(node_dir "$i")/containerd.sock" --namespace k8s.io "$@"; }

# node_cgroup_pids I : every process in node I's cgroup tree (pids hierarchy).
node_cgroup_pids() {
    local base
    base=/sys/fs/cgroup/pids/$(node_cgroup "$1")
    [[ -d $base ]] || return 0
    find "$base" -name cgroup.procs -exec cat {} + 2>/dev/null
}

# node_stop I : kubelet and kube-proxy, every pod process (by cgroup), containerd and its
# shims (by namespace), the mount namespace; then the node's cgroups.
node_stop() {
    local i=$1 d ns sig pids _ h
    d=$(node_dir "$i")
    ns=$(node_ns "$i")
    stop_pidfiles "$d/kubelet.pid" "$d/kube-proxy.pid"
    for sig in TERM KILL; do
        mapfile -t pids < <(node_cgroup_pids "$i")
        ((${#pids[@]})) || break
        log "node $i: SIG$sig to the ${#pids[@]} pod processes in cgroup $(node_cgroup "$i")"
        kill -s "$sig" "${pids[@]}" 2>/dev/null
        for _ in $(seq 100); do [[ -z $(node_cgroup_pids "$i") ]] && break; sleep 0.05; done
    done
    stop_pidfiles "$d/containerd.pid"
    ns_exists "$ns" && kill_ns_leftovers "$ns"   # shims, host-network pods
    # the holder is in the root network namespace: ours() cannot vouch for it, so check
    # that it is the sleep we started with that pid file
    if [[ -s $d/mnt.pid ]]; then
        h=$(<"$d/mnt.pid")
        if alive "$h" && [[ $(cat "/proc/$h/comm" 2>/dev/null) == sleep ]] \
            && [[ $(readlink "/proc/$h/ns/mnt") != "$(readlink /proc/self/ns/mnt)" ]]; then
            kill -TERM "$h" 2>/dev/null
        fi
    fi
    # every hierarchy, the unified (v2) one included: kubelet and runc make the node's
    # cgroup there too
    for h in /sys/fs/cgroup/*/"$(node_cgroup "$i")"; do
        [[ -d $h ]] || continue
        find "$h" -depth -type d -exec rmdir {} + 2>/dev/null || log "node $i: could not remove $h"
    done
}

# --------------------------------------------------------------------- status ---

# nodes_ready N : N nodes report Ready.
nodes_ready() {
    [[ $(kc get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null \
        | grep -c True) -ge $1 ]]
}

established() {
    vty -c 'show bgp summary json' 2>/dev/null | "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
print(sum(p.get("state") == "Established"
          for af in d.values() if isinstance(af, dict)
          for p in af.get("peers", {}).values()))' 2>/dev/null || echo 0
}
