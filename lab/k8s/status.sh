#!/usr/bin/env bash
# status.sh - what runs in Herald's Kubernetes lab (same env as up.sh). Exit 0 when
# every process up.sh started is alive and every node is Ready, 3 otherwise.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ $EUID -eq 0 ]] || die "run as root"
if [[ ! -e $HK_STATE/$OWNER_MARKER ]]; then echo "no lab in $HK_STATE"; exit 3; fi
ok=1
nodes=$(cat "$HK_STATE/nodes" 2>/dev/null || echo "$HK_NODES")
check() {   # check LABEL PIDFILE
    local pid
    if pid=$(ours "$2"); then printf '%-34s running (pid %s)\n' "$1" "$pid"
    else printf '%-34s NOT running\n' "$1"; ok=0; fi
}
for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    check "control plane: $c" "$HK_STATE/cp/$c.pid"
done
for i in $(seq "$nodes"); do
    for c in containerd kubelet kube-proxy; do check "node$i: $c" "$(node_dir "$i")/$c.pid"; done
done
check "router: bgpd" "$HK_STATE/router/bgpd.pid"
echo
kc get nodes -o wide 2>&1 || ok=0
nodes_ready "$nodes" || ok=0
echo
kc get pods -A -o wide 2>&1
echo
kc get svc -A 2>&1 | grep -v ClusterIP || true
echo
echo "router: $(established) BGP sessions Established; routes into $POOL4_NET:"
ip -n "$NS_ROUTER" route show root "$POOL4_NET"
((ok)) && exit 0 || exit 3
