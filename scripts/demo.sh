#!/usr/bin/env bash
# scripts/demo.sh - Herald in one command: a router, three Kubernetes-less nodes running
# herald-speaker, a LoadBalancer Service announced over BGP, and curl through the router.
#
#   sudo scripts/demo.sh          build, start the lab, create a Service, show it working
#   sudo scripts/demo.sh down     remove everything the demo made
#   sudo scripts/demo.sh k8s      the same on a real Kubernetes cluster (lab/k8s: v1.20.2
#                                 built from Debian's sources, containerd, kube-proxy),
#                                 Herald installed with Helm's engine from charts/herald;
#                                 the first run builds Kubernetes (tens of minutes)
#   sudo scripts/demo.sh k8s-down remove the cluster
#
# Needs a Debian or Ubuntu machine, root, and Rust's cargo (https://rustup.rs; the
# script does not install Rust). It installs what else it needs with apt-get: frr,
# iproute2, curl, openssl, python3. Everything runs in network namespaces named herald-*; the
# machine's own network is not touched (installing frr starts frr.service with the
# distribution's empty config; the demo does not use it).
set -euo pipefail
cd "$(dirname "$0")/.."
export HE_PREFIX=herald- HE_STATE=/run/herald-demo HE_NODES=3
LAB=lab/e2e

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (sudo $0): the lab creates network namespaces"

if [[ ${1:-} == down ]]; then
    "$LAB/down.sh"
    exit 0
fi

# ------------------------------------------------------------ k8s variant ---
k8s_demo() {
    export HK_PREFIX=herald-k HK_STATE=/run/herald-demo-k8s HK_NODES=2
    local K=lab/k8s
    if [[ ${1:-} == down ]]; then "$K/down.sh"; return; fi
    say "installing what the cluster needs and building Kubernetes v1.20.2 once (scripts/test.sh's list)"
    local need=()
    for c in containerd runc iptables umoci curl openssl; do command -v "$c" >/dev/null || need+=("$c"); done
    command -v gcc >/dev/null || need+=(gcc libc6-dev)
    [[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
    [[ -x /usr/lib/frr/bgpd ]] || need+=(frr)
    if ((${#need[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    scripts/kube-testenv.sh build
    say "building herald-controller and herald-speaker (release) for the image"
    cargo build --release --locked -p herald-controller -p herald-speaker
    export HERALD_BIN_DIR=${CARGO_TARGET_DIR:-$PWD/target}/release
    say "starting the cluster: control plane, node1 and node2 (containerd, kubelet, kube-proxy), router, client"
    "$K/down.sh" >/dev/null 2>&1 || true
    "$K/up.sh"
    say "helm install herald charts/herald -n herald-system (values: lab/k8s/ctl.sh values)"
    "$K/ctl.sh" install
    "$K/ctl.sh" kubectl get pods -n herald-system -o wide
    say "a Deployment of 3 backend pods and a LoadBalancer Service (Cluster policy)"
    "$K/ctl.sh" kubectl create deployment hello --image=herald.test/backend:lab --replicas=3
    "$K/ctl.sh" kubectl expose deployment hello --type=LoadBalancer --port=80 --target-port=8080
    "$K/ctl.sh" kubectl rollout status deployment/hello --timeout=120s
    local v4="" _
    for _ in $(seq 120); do
        v4=$("$K/ctl.sh" kubectl get service hello -o jsonpath='{.status.loadBalancer.ingress[0].ip}' 2>/dev/null || true)
        [[ -n $v4 ]] && break; sleep 1
    done
    [[ -n $v4 ]] || die "Service hello got no address"
    "$K/ctl.sh" kubectl get service hello
    say "waiting for the router to learn $v4 from both nodes"
    for _ in $(seq 120); do
        [[ $(ip -n "${HK_PREFIX}r" route show "$v4" | grep -c 'via 172.30.0.1[12]') == 2 ]] && break; sleep 1
    done
    say "the router's BGP table and kernel route"
    vtysh --vty_socket "$HK_STATE/router" -c 'show bgp ipv4 unicast'
    ip -n "${HK_PREFIX}r" route show "$v4"
    say "curl http://$v4/ from the client, 8 connections: router -> node -> kube-proxy -> pod"
    "$K/ctl.sh" curl "$v4" 8
    cat <<EOF2

The cluster stays up. As root, from $(pwd):
  export HK_PREFIX=$HK_PREFIX HK_STATE=$HK_STATE
  lab/k8s/status.sh
  lab/k8s/ctl.sh kubectl get pods -A -o wide
  lab/k8s/ctl.sh kubectl patch service hello -p '{"spec":{"externalTrafficPolicy":"Local"}}'
  lab/k8s/ctl.sh routes
Remove it:  sudo scripts/demo.sh k8s-down
EOF2
}
case ${1:-} in
    k8s) k8s_demo; exit 0 ;;
    k8s-down) k8s_demo down; exit 0 ;;
esac
[[ -z ${1:-} || ${1:-} == up ]] || die "usage: $0 [up|down|k8s|k8s-down]"

# ---------------------------------------------------------------- packages ---
if [[ -n ${SUDO_USER:-} ]] && ! command -v cargo >/dev/null; then
    # cargo usually lives in the invoking user's ~/.cargo/bin, which sudo drops from PATH
    user_home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
    [[ -x $user_home/.cargo/bin/cargo ]] && PATH=$user_home/.cargo/bin:$PATH
fi
command -v cargo >/dev/null || die "cargo not found: install Rust first (https://rustup.rs), then run this again"
need=()
[[ -x /usr/lib/frr/bgpd ]] || need+=(frr)
command -v vtysh >/dev/null || need+=(frr)
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
[[ -x /usr/bin/python3 ]] || need+=(python3)
if ((${#need[@]})); then
    command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get: install them yourself"
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ------------------------------------------------------------------- build ---
say "building herald-speaker (release; the first build takes a few minutes)"
cargo build --release -p herald-speaker
export HE_SPEAKER=$PWD/target/release/herald-speaker

# --------------------------------------------------------------------- lab ---
say "starting the lab: router (FRR, AS 64501), node1..node3 (herald-speaker, AS 64500), client"
"$LAB/down.sh" >/dev/null 2>&1 || true
"$LAB/up.sh"
cat <<EOF

  client 172.31.0.2 --- router 172.31.0.1 | 172.30.0.1 --- L2 --- node1 172.30.0.11
                        (FRR, ECMP)                            node2 172.30.0.12
                                                               node3 172.30.0.13
EOF

say "creating Service default/hello (LoadBalancer, dual-stack, Cluster policy, a pod on every node)"
"$LAB/ctl.sh" service hello --policy Cluster --family dual --endpoints all
echo "  manifest: $HE_STATE/standalone/hello.yaml"
mapfile -t addresses < <("$LAB/ctl.sh" address hello)
v4=${addresses[0]} v6=${addresses[1]:-}
echo "  allocated by the speakers: ${addresses[*]} (see $HE_STATE/standalone/status/default_hello.yaml)"

say "waiting for the router to learn $v4 from all three nodes"
"$LAB/ctl.sh" wait-route "$v4" 172.30.0.11,172.30.0.12,172.30.0.13 60 >/dev/null
[[ -n $v6 ]] && "$LAB/ctl.sh" wait-route "$v6" fd00:30::11,fd00:30::12,fd00:30::13 60 >/dev/null
echo "  done"

say "the router's BGP table: vtysh -c 'show bgp ipv4 unicast'"
"$LAB/ctl.sh" vtysh -c 'show bgp ipv4 unicast'
if [[ -n $v6 ]]; then
    say "vtysh -c 'show bgp ipv6 unicast'"
    "$LAB/ctl.sh" vtysh -c 'show bgp ipv6 unicast'
fi

say "the ECMP route in the router's kernel: ip -n ${HE_PREFIX}r route show $v4"
ip -n "${HE_PREFIX}r" route show "$v4"
[[ -n $v6 ]] && { echo; ip -n "${HE_PREFIX}r" -6 route show "$v6"; }

say "curl http://$v4/ from the client, 8 connections (each from another source port)"
"$LAB/ctl.sh" curl "$v4" 8
if [[ -n $v6 ]]; then
    say "curl 'http://[$v6]/' from the client, 4 connections"
    "$LAB/ctl.sh" curl "$v6" 4
fi

say "creating Service default/secure in pool 'web': Herald's own proxy serves it, TLS on 443"
"$LAB/ctl.sh" service secure --pool web --policy Cluster --family dual --endpoints node1,node2 \
    --tls --port 8000
mapfile -t secure < <("$LAB/ctl.sh" address secure)
"$LAB/ctl.sh" wait-route "${secure[0]}" 172.30.0.11,172.30.0.12,172.30.0.13 60 >/dev/null
say "curl https://web.herald.test/ through the router to ${secure[0]}: the node's proxy terminates TLS"
for _ in 1 2 3 4; do
    "$LAB/ctl.sh" exec client curl -sS --max-time 3 --cacert "$HE_STATE/certs/ca.pem" \
        --resolve "web.herald.test:443:${secure[0]}" https://web.herald.test/
done
if [[ -n ${secure[1]:-} ]]; then
    "$LAB/ctl.sh" wait-route "${secure[1]}" fd00:30::11,fd00:30::12,fd00:30::13 60 >/dev/null
    say "the same over IPv6 (${secure[1]})"
    "$LAB/ctl.sh" exec client curl -sS --max-time 3 --cacert "$HE_STATE/certs/ca.pem" \
        --resolve "web.herald.test:443:[${secure[1]}]" https://web.herald.test/
fi

cat <<EOF

The lab stays up. Things to try (as root, from $(pwd)):

  export HE_PREFIX=$HE_PREFIX HE_STATE=$HE_STATE
  lab/e2e/ctl.sh service hello --policy Local --family dual --endpoints node2
                                         # only node2 announces now (watch the next line)
  lab/e2e/ctl.sh fib $v4
  lab/e2e/ctl.sh speaker stop node1      # SIGTERM: node1 withdraws, sends Cease
  lab/e2e/ctl.sh speaker start node1
  lab/e2e/ctl.sh status node1            # the speaker's /status JSON
  lab/e2e/ctl.sh vtysh -c 'show bgp summary'
  lab/e2e/ctl.sh curl $v4 5
  lab/e2e/ctl.sh status node3 | python3 -m json.tool | less   # "proxy": listeners, backends

Logs: $HE_STATE/node1/speaker.log, $HE_STATE/router/bgpd.log
Remove everything:  sudo scripts/demo.sh down
EOF
