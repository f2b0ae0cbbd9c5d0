#!/usr/bin/env bash
# ctl.sh - work with Herald's Kubernetes lab (same env as up.sh).
#
#   lab/k8s/ctl.sh install           helm install the chart (release herald, namespace
#                                    herald-system) with the lab's values: the image
#                                    herald.test/herald:lab, the router as peer, pool
#                                    10.99.0.0/24; waits for the pods to be Ready
#   lab/k8s/ctl.sh uninstall
#   lab/k8s/ctl.sh values            the lab's values (JSON)
#   lab/k8s/ctl.sh kubectl ARGS...   kubectl as admin (inside the control-plane namespace)
#   lab/k8s/ctl.sh routes            the router's routes into the pool
#   lab/k8s/ctl.sh curl ADDR [N]     N requests (default 6) from the client to http://ADDR/
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ $EUID -eq 0 ]] || die "run as root"
HELM_PY=${HELM_PY:-$HK_CACHE/helm-venv/bin/python}
RELEASE=herald NAMESPACE=herald-system

lab_values() {
    cat <<EOF
{
  "image": {"repository": "${HERALD_IMAGE%:*}", "tag": "${HERALD_IMAGE##*:}", "pullPolicy": "Never"},
  "logFormat": "text",
  "logLevel": "info,herald_speaker=debug,herald_controller=debug",
  "config": {
    "peers": [{"peer-address": "$ROUTER4", "peer-asn": 64501, "my-asn": 64500}],
    "address-pools": [{"name": "default", "protocol": "bgp", "addresses": ["$POOL4_NET"]}]
  }
}
EOF
}

cmd=${1:-}; shift || true
case $cmd in
values) lab_values ;;
install)
    [[ -x $HELM_PY ]] || die "no $HELM_PY: run scripts/kube-testenv.sh build (installs helm-python-sdk)"
    t0=$(date +%s%3N)
    lab_values | ip netns exec "$NS_CP" "$HELM_PY" "$HK_LAB/helm.py" install "$HK_REPO/charts/herald" - \
        "$RELEASE" "$NAMESPACE" "$HK_STATE/pki/admin.kubeconfig"
    t1=$(date +%s%3N)
    log "helm install done in $((t1 - t0)) ms"
    kc -n "$NAMESPACE" rollout status deployment/herald-controller --timeout=180s
    kc -n "$NAMESPACE" rollout status daemonset/herald-speaker --timeout=180s
    log "Herald Ready $(( $(date +%s%3N) - t0 )) ms after helm install started"
    ;;
uninstall)
    ip netns exec "$NS_CP" "$HELM_PY" "$HK_LAB/helm.py" uninstall "$RELEASE" "$NAMESPACE" "$HK_STATE/pki/admin.kubeconfig" ;;
kubectl) kc "$@" ;;
routes) ip -n "$NS_ROUTER" route show root "$POOL4_NET" ;;
curl)
    addr=${1:?address}; n=${2:-6}
    for _ in $(seq "$n"); do ip netns exec "$NS_CLIENT" curl -sS --max-time 3 "http://$addr/" || true; done ;;
*) sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
