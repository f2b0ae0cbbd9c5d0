#!/usr/bin/env bash
# up.sh - build Herald's Kubernetes lab: a v1.20.2 cluster in network namespaces (control
# plane + HK_NODES nodes with containerd, kubelet and kube-proxy), the FRR router and the
# client. See lib.sh for the picture. Herald itself is installed with ctl.sh install.
#
#   lab/k8s/up.sh
#
# Env: HK_PREFIX (namespace prefix, default "hk-"), HK_STATE (default
# /run/herald-k8s/<prefix>), HK_NODES (default 2), HERALD_BIN_DIR (release binaries for
# the image, default target/release). Needs `scripts/kube-testenv.sh build` first.
# Run lab/k8s/down.sh (same env) to remove it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ $EUID -eq 0 ]] || die "run as root"
for c in ip nsenter unshare openssl curl vtysh umoci ctr /usr/bin/containerd runc iptables \
    "$HK_CNI_BIN/bridge" "$HK_CNI_BIN/host-local" "$HK_CNI_BIN/loopback" "$FRR_BIN/bgpd" "$PYTHON"; do
    command -v "$c" >/dev/null || die "missing $c (scripts/test.sh installs the lab's packages)"
done
for b in etcd kube-apiserver kube-scheduler kube-controller-manager kubelet kube-proxy kubectl pause; do
    [[ -x $HK_BIN/$b ]] || die "no $HK_BIN/$b: run scripts/kube-testenv.sh build"
done
[[ -d /sys/fs/cgroup/pids && -d /sys/fs/cgroup/memory ]] || die "kubelet 1.20 needs the cgroup v1 hierarchies (pids, memory, cpu...)"
(( HK_NODES >= 1 && HK_NODES <= 9 )) || die "HK_NODES: 1..9"
NODE_NS=(); for i in $(seq "$HK_NODES"); do NODE_NS+=("$(node_ns "$i")"); done
ALL_NS=("$NS_SWITCH" "$NS_ROUTER" "$NS_CLIENT" "$NS_CP" "${NODE_NS[@]}")
for ns in "${ALL_NS[@]}"; do
    ns_exists "$ns" && die "namespace $ns exists already: run lab/k8s/down.sh first (same HK_PREFIX)"
done

t0=$(date +%s%3N)
claim_state "$HK_OWNER"
echo "$HK_NODES" >"$HK_STATE/nodes"
mkdir -p "$HK_STATE/router" "$HK_STATE/cp" "$HK_STATE/images"
for i in $(seq "$HK_NODES"); do mkdir -p "$(node_dir "$i")"; done

"$HK_LAB/images.sh" "$HK_STATE/images"
t_images=$(date +%s%3N)

# ------------------------------------------------------------------ namespaces ---
for ns in "${ALL_NS[@]}"; do
    add_ns "$ns"
    ip -n "$ns" link set lo up
    ns_sysctl "$ns" net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
        net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ns_sysctl "$NS_ROUTER" net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
for ns in "${NODE_NS[@]}"; do ns_sysctl "$ns" net.ipv4.ip_forward=1; done

ip -n "$NS_SWITCH" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
ip -n "$NS_SWITCH" link set br0 up
ip link add eth0 netns "$NS_ROUTER" type veth peer name router netns "$NS_SWITCH"
ip link add eth1 netns "$NS_ROUTER" type veth peer name eth0 netns "$NS_CLIENT"
ip link add eth0 netns "$NS_CP" type veth peer name cp netns "$NS_SWITCH"
ip -n "$NS_SWITCH" link set router master br0 up
ip -n "$NS_SWITCH" link set cp master br0 up
ip -n "$NS_ROUTER" -batch - <<EOF2
addr add $ROUTER4/24 dev eth0
addr add $GATEWAY4/24 dev eth1
link set eth0 up
link set eth1 up
EOF2
ip -n "$NS_CLIENT" -batch - <<EOF2
addr add $CLIENT4/24 dev eth0
link set eth0 up
route add default via $GATEWAY4
EOF2
{
    echo "addr add $CP4/24 dev eth0"
    echo "link set eth0 up"
    echo "route add default via $ROUTER4"
    for j in $(seq "$HK_NODES"); do echo "route add $(pod_net "$j") via $(node4 "$j")"; done
} | ip -n "$NS_CP" -batch -
for i in $(seq "$HK_NODES"); do
    ns=$(node_ns "$i")
    ip link add eth0 netns "$ns" type veth peer name "n$i" netns "$NS_SWITCH"
    ip -n "$NS_SWITCH" link set "n$i" master br0 up
    {
        echo "addr add $(node4 "$i")/24 dev eth0"
        echo "link set eth0 up"
        echo "route add default via $ROUTER4"
        for j in $(seq "$HK_NODES"); do
            [[ $j == "$i" ]] || echo "route add $(pod_net "$j") via $(node4 "$j")"
        done
    } | ip -n "$ns" -batch -
done
t_net=$(date +%s%3N)

# --------------------------------------------------------------------- daemons ---
render "$HK_REPO/lab/e2e/frr/zebra.conf.in" "$HK_STATE/router/zebra.conf" "LOG_DIR=$HK_STATE/router"
render "$HK_REPO/lab/e2e/frr/bgpd.conf.in" "$HK_STATE/router/bgpd.conf" "LOG_DIR=$HK_STATE/router"
frr_start_daemons "$NS_ROUTER" "$HK_STATE/router"

write_pki
control_plane_start
t_cp=$(date +%s%3N)
for i in $(seq "$HK_NODES"); do node_mounts "$i"; done
for i in $(seq "$HK_NODES"); do node_start "$i"; done
wait_for 120 nodes_ready "$HK_NODES" || { kc get nodes -o wide >&2 || true; die "nodes not Ready after 120 s"; }
t_end=$(date +%s%3N)
log "cluster up (prefix $HK_PREFIX, $HK_NODES nodes): images $((t_images - t0)) ms," \
    "network $((t_net - t_images)) ms, control plane $((t_cp - t_net)) ms, nodes Ready +$((t_end - t_cp)) ms" \
    "(total $((t_end - t0)) ms)"
log "kubectl: ip netns exec $NS_CP $HK_BIN/kubectl --kubeconfig $HK_STATE/pki/admin.kubeconfig ...  (or lab/k8s/ctl.sh kubectl ...)"
