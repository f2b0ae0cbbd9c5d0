#!/usr/bin/env bash
# down.sh - tear Herald's Kubernetes lab down (same env as up.sh). Idempotent.
#
# Touches nothing unless $HK_STATE carries the marker up.sh wrote. Stops, per node, the
# kubelet and kube-proxy it started, every process in the node's cgroup
# (herald-k8s-<prefix>nodeI: the pods), containerd and what is left in the node's
# namespace (shims, host-network pods), the node's mount namespace holder, then removes
# the node's cgroups; then the control plane and the router by pid file, the recorded
# namespaces and the state directory. Never pkill/killall; nothing in the root namespace
# (no iptables rule, address or route is ever made there).
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ $EUID -eq 0 ]] || die "run as root"
own_state "$HK_OWNER"
nodes=$(cat "$HK_STATE/nodes" 2>/dev/null || echo "$HK_NODES")
for i in $(seq "$nodes"); do node_stop "$i"; done
stop_pidfiles "$HK_STATE"/cp/*.pid "$HK_STATE"/router/*.pid
for ns in $(recorded_ns); do kill_ns_leftovers "$ns"; done
delete_recorded_ns
frr_tmp_cleanup
if [[ -s $HK_STATE/created-dirs ]]; then
    while IFS= read -r dir; do rmdir "$dir" 2>/dev/null || true; done <"$HK_STATE/created-dirs"
fi
# the containerd state holds pod netns bind mounts only inside the (now gone) mount
# namespaces; what is left are plain files
remove_state
rmdir "$(dirname "$HK_STATE")" 2>/dev/null || true
log "lab down"
