# shellcheck shell=bash
# lib.sh - settings and helpers of Herald's end-to-end lab (sourced by up.sh, down.sh,
# ctl.sh and scripts/demo.sh; not meant to be run).
#
#   ${P}n1  eth0 172.30.0.11 fd00:30::11 --+
#   ${P}n2  eth0 172.30.0.12 fd00:30::12 --+-- ${P}sw: br0 (plain L2 bridge)
#   ${P}n3  eth0 172.30.0.13 fd00:30::13 --+
#   ${P}r   eth0 172.30.0.1  fd00:30::1  --+
#   ${P}r   eth1 172.31.0.1  fd00:31::1  ------ ${P}c eth0 172.31.0.2 fd00:31::2
#
#   ${P}r   FRR zebra + bgpd, AS 64501, ECMP (maximum-paths 8, L4 hash), dynamic
#           neighbours for the whole node segment (lab/e2e/frr/*.conf.in)
#   ${P}nI  herald-speaker --standalone $HE_STATE/standalone --node-name nodeI (AS 64500);
#           "pods": 10.244.I.10/32 and fd00:244:I::10/128 on the node's lo,
#           answered by backend.py on port 8080; until Herald's proxy serves Service
#           addresses, backend.py also answers on port 80 of every pool address, which
#           the node treats as local (route type `local` for 10.99.0.0/20, fd00:99::/116)
#   ${P}c   the client: curl through the router to the announced addresses
#
#   Pool "l2" (layer2, not auto-assigned; a Service asks for it with the annotation
#   herald.dev/address-pool: l2, ctl.sh service --pool l2) is on the node segment itself:
#   $L2_POOL4 and $L2_POOL6, held with VRRP (advert interval $HE_L2_ADVERT) by one
#   node at a time, on its eth0. Unlike the BGP pool these addresses are not made local
#   on every node: only the VRRP master has them, and backend.py answers there.
#
# P is $HE_PREFIX (default "he-"), so several labs (tests run in parallel) never meet:
# addresses only exist inside each lab's namespaces, and the root namespace gets no
# address, route or daemon. Everything else lives in $HE_STATE, which up.sh marks as this
# lab's (lab/lib/common.sh: claim_state, owner "herald lab/e2e prefix=$HE_PREFIX"); down.sh
# does nothing to a state directory without that marker.

# shellcheck disable=SC2034  # used by the scripts that source this file
HE_LAB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)      # lab/e2e
HE_REPO=$(cd "$HE_LAB/../.." && pwd)
HE_PREFIX=${HE_PREFIX:-he-}
[[ $HE_PREFIX =~ ^[a-z0-9][a-z0-9-]{0,11}$ ]] || { echo "HE_PREFIX: 1-12 of [a-z0-9-]" >&2; exit 64; }
HE_STATE=${HE_STATE:-/run/herald-e2e/${HE_PREFIX%-}}
HE_NODES=${HE_NODES:-3}
HE_SPEAKER=${HE_SPEAKER:-$HE_REPO/target/debug/herald-speaker}
HE_HOLD_TIME=${HE_HOLD_TIME:-9s}            # the speakers' hold time; FRR takes the minimum
HE_SERVICE_BACKENDS=${HE_SERVICE_BACKENDS:-1}  # 1: backend.py answers on Service addresses :80
HE_SPEAKER_ARGS=${HE_SPEAKER_ARGS:-}        # extra flags for every speaker
HE_SPEAKER_FLAGS=${HE_SPEAKER_FLAGS:-lab}   # lab: node address, admin and log flags too;
                                            # readme: only --standalone and --node-name
HE_IPV6_ONLY=${HE_IPV6_ONLY:-0}             # 1: nodes get no IPv4 address (IPv6-only)
HE_GRACEFUL_RESTART=${HE_GRACEFUL_RESTART:-0}  # 1: the speakers' peers get graceful-restart
FRR_BIN=${FRR_BIN:-/usr/lib/frr}
PYTHON=${PYTHON:-/usr/bin/python3}
HE_OWNER="herald lab/e2e prefix=$HE_PREFIX"      # first line of the state dir's marker

NS_ROUTER=${HE_PREFIX}r
NS_SWITCH=${HE_PREFIX}sw
NS_CLIENT=${HE_PREFIX}c
ROUTER_AS=64501 NODE_AS=64500
ROUTER4=172.30.0.1  ROUTER6=fd00:30::1      # node segment side
GATEWAY4=172.31.0.1 GATEWAY6=fd00:31::1     # client side
CLIENT4=172.31.0.2  CLIENT6=fd00:31::2
POOL4=10.99.0.10-10.99.15.254  POOL6=fd00:99::10-fd00:99::fff
POOL4_NET=10.99.0.0/20         POOL6_NET=fd00:99::/116
L2_POOL4=172.30.0.200-172.30.0.250 L2_POOL6=fd00:30::200-fd00:30::250
WEB_POOL4=10.98.0.10-10.98.0.250   WEB_POOL6=fd00:98::10-fd00:98::ff   # Herald's proxy serves these
WEB_NAME=web.herald.test                    # the name in the web pool's certificate
HE_CERT_DIR=${HE_CERT_DIR:-$HE_STATE/certs}  # where write_lab_certificate puts it
HE_L2_ADVERT=${HE_L2_ADVERT:-100ms}         # VRRP advert interval of the l2 pool
ADMIN_PORT=7472                             # each speaker's admin server, 127.0.0.1 in its node
POD_PORT=8080 SERVICE_PORT=80

LOG_TAG=e2e LAB_STATE=$HE_STATE
# shellcheck source=../lib/common.sh
source "$HE_LAB/../lib/common.sh"

# Node I (1-based): name, namespace and addresses.
node_name() { echo "node$1"; }
node_ns() { echo "${HE_PREFIX}n$1"; }
node4() { echo "172.30.0.$((10 + $1))"; }
node6() { echo "fd00:30::$((10 + $1))"; }
pod4() { echo "10.244.$1.10"; }
pod6() { echo "fd00:244:$1::10"; }
# node_index NAME|I : "node2" or "2" -> 2
node_index() {
    local i=${1#node}
    if ! [[ $i =~ ^[0-9]+$ ]] || (( i < 1 || i > HE_NODES )); then die "no node '$1' (1..$HE_NODES)"; fi
    echo "$i"
}

# The lab's own vtysh: the router's daemons have their vty sockets in $HE_STATE/router.
vty() { vtysh --vty_socket "$HE_STATE/router" "$@"; }

# write_atomic FILE : stdin -> FILE via a hidden temporary file and rename, so a speaker
# polling the directory never reads half a file.
write_atomic() {
    local dir base tmp
    dir=$(dirname "$1"); base=$(basename "$1")
    tmp=$dir/.$base.$$.tmp
    cat >"$tmp" && mv -f "$tmp" "$1"
}

# established : number of Established sessions on the router (IPv4 + IPv6).
established() {
    vty -c 'show bgp summary json' 2>/dev/null | "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
print(sum(p.get("state") == "Established"
          for af in d.values() if isinstance(af, dict)
          for p in af.get("peers", {}).values()))' 2>/dev/null || echo 0
}
sessions_up() { [[ $(established) -ge $1 ]]; }

# fib_nexthops ADDR : the router's kernel next hops for ADDR's host route, sorted,
# comma separated ("" when there is no route).
fib_nexthops() {
    local fam=-4
    [[ $1 == *:* ]] && fam=-6
    ip -n "$NS_ROUTER" "$fam" -j route show "$1" 2>/dev/null | "$PYTHON" -c '
import json, sys
hops = set()
for r in json.load(sys.stdin):
    if r.get("gateway"):
        hops.add(r["gateway"])
    for h in r.get("nexthops", []):
        if h.get("gateway"):
            hops.add(h["gateway"])
print(",".join(sorted(hops)))' 2>/dev/null
}

# ------------------------------------------------------------------ manifests ---

# write_lab_config DIR : config.yaml and nodes.yaml of the lab's standalone directory.
write_lab_config() {
    local d=$1 i
    write_atomic "$d/config.yaml" <<EOF
# Herald config of the end-to-end lab (written by lab/e2e/lib.sh): every node peers with
# the router over IPv4 and IPv6; one BGP pool for both families, a layer2 (VRRP) pool
# on the node segment, and a BGP pool whose Services Herald's proxy serves itself (TLS on
# port 443 with the lab's certificate); Services ask for the last two by name.
peers:
- peer-address: $ROUTER4
  peer-asn: $ROUTER_AS
  my-asn: $NODE_AS
  hold-time: $HE_HOLD_TIME$(graceful_restart_line)
- peer-address: $ROUTER6
  peer-asn: $ROUTER_AS
  my-asn: $NODE_AS
  hold-time: $HE_HOLD_TIME$(graceful_restart_line)
address-pools:
- name: default
  protocol: bgp
  addresses:
  - $POOL4
  - $POOL6
- name: l2
  protocol: layer2
  auto-assign: false
  addresses:
  - $L2_POOL4
  - $L2_POOL6
  vrrp:
    advert-interval: $HE_L2_ADVERT
- name: web
  protocol: bgp
  auto-assign: false
  addresses:
  - $WEB_POOL4
  - $WEB_POOL6
  proxy:
    enabled: true
    health-check: {interval: 300ms, rise: 1, fall: 2}
  tls:
    bundle: $HE_CERT_DIR/web.pem
EOF
    write_nodes "$d"
}

# graceful_restart_line : the peers' graceful-restart key when HE_GRACEFUL_RESTART=1.
graceful_restart_line() {
    (( HE_GRACEFUL_RESTART )) && printf '\n  graceful-restart: true'
    true
}

# write_nodes DIR [CORDONED...] : DIR/nodes.yaml, the lab's Nodes; the nodes given by
# index are cordoned (spec.unschedulable: true, what kubectl cordon sets).
write_nodes() {
    local d=$1 i; shift
    local cordoned=" $* "
    {
        echo "# The lab's Nodes (written by lab/e2e/lib.sh); speaker I runs as --node-name nodeI."
        for i in $(seq "$HE_NODES"); do
            [[ $i == 1 ]] || echo "---"
            cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $(node_name "$i")
  labels:
    kubernetes.io/hostname: $(node_name "$i")
EOF
            [[ $cordoned == *" $i "* ]] && printf 'spec:\n  unschedulable: true\n'
        done
        true
    } | write_atomic "$d/nodes.yaml"
}

# write_lab_certificate : a self-signed certificate for $WEB_NAME (and *.herald.test) in
# $HE_CERT_DIR: web.pem (chain then key, the web pool's bundle) and ca.pem (for clients'
# --cacert).
write_lab_certificate() {
    local d=$HE_CERT_DIR
    mkdir -p "$d"
    [[ -s $d/web.pem ]] && return 0
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -keyout "$d/web.key" -out "$d/ca.pem" -subj "/CN=$WEB_NAME" \
        -addext "subjectAltName=DNS:$WEB_NAME,DNS:*.herald.test" 2>/dev/null
    cat "$d/ca.pem" "$d/web.key" >"$d/web.pem"
    chmod 600 "$d/web.key" "$d/web.pem"
}

# service_manifest NAME POLICY FAMILY NODES [POOL] [TARGET_PORT] [TLS] [PORT] : a LoadBalancer
# Service in namespace default, with one pod endpoint on each listed node (comma list of
# names or indexes, "all" or "none"). FAMILY: ipv4 | ipv6 | dual. POOL: the pool it asks
# for (annotation herald.dev/address-pool), default none (the auto-assigned pool).
# TARGET_PORT: the pods' port (default $POD_PORT). TLS=1: also port 443 named https
# (terminated by Herald's proxy) to the same target port. PORT: the plain port (default
# $SERVICE_PORT, where backend.py already answers on every node: proxied Services need
# another one).
service_manifest() {
    local name=$1 policy=$2 family=$3 nodes=$4 pool=${5:-} target=${6:-$POD_PORT} tls=${7:-0}
    local port=${8:-$SERVICE_PORT}
    local i list=() fams annotations=""
    [[ -z $pool ]] || annotations=$'\n'"  annotations: {herald.dev/address-pool: $pool}"
    case $nodes in
        all) mapfile -t list < <(seq "$HE_NODES") ;;
        none|"") list=() ;;
        *) IFS=, read -ra list <<<"$nodes"; for i in "${!list[@]}"; do list[i]=$(node_index "${list[i]}"); done ;;
    esac
    case $family in
        ipv4) fams="[IPv4]"; policy_line="SingleStack" ;;
        ipv6) fams="[IPv6]"; policy_line="SingleStack" ;;
        dual) fams="[IPv4, IPv6]"; policy_line="RequireDualStack" ;;
        *) die "family: ipv4 | ipv6 | dual" ;;
    esac
    cat <<EOF
# Service $name (externalTrafficPolicy $policy, $family), endpoints on: ${nodes:-none}
apiVersion: v1
kind: Service
metadata:
  name: $name
  namespace: default$annotations
spec:
  type: LoadBalancer
  externalTrafficPolicy: $policy
  ipFamilyPolicy: $policy_line
  ipFamilies: $fams
  selector: {app: $name}
  ports:
  - {name: http, port: $port, protocol: TCP, targetPort: $target}
EOF
    if (( tls )); then echo "  - {name: https, port: 443, protocol: TCP, targetPort: $target}"; fi
    local fam addr slice
    for fam in 4 6; do
        [[ $family == ipv$fam || $family == dual ]] || continue
        slice=IPv$fam
        cat <<EOF
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $name-v$fam
  namespace: default
  labels:
    kubernetes.io/service-name: $name
addressType: $slice
ports:
- {name: http, port: $target, protocol: TCP}
EOF
        if (( tls )); then echo "- {name: https, port: $target, protocol: TCP}"; fi
        if (( ${#list[@]} == 0 )); then echo "endpoints: []"; continue; fi
        echo "endpoints:"
        for i in "${list[@]}"; do
            addr=$(pod"$fam" "$i")
            cat <<EOF
- addresses: ["$addr"]
  nodeName: $(node_name "$i")
  targetRef: {kind: Pod, namespace: default, name: $name-$(node_name "$i")}
  conditions: {ready: true, serving: true, terminating: false}
EOF
        done
    done
}

# ----------------------------------------------------------------- processes ---

frr_start() {
    local d=$HE_STATE/router
    render "$HE_LAB/frr/zebra.conf.in" "$d/zebra.conf" "LOG_DIR=$d"
    render "$HE_LAB/frr/bgpd.conf.in" "$d/bgpd.conf" "LOG_DIR=$d"
    frr_start_daemons "$NS_ROUTER" "$d"
}

backend_start() {
    local i=$1 d args
    d=$HE_STATE/$(node_name "$1")
    args=("$(node_name "$i")" --pod "pod-$(node_name "$i")=$(pod4 "$i"),$(pod6 "$i")" --pod-port "$POD_PORT")
    (( HE_SERVICE_BACKENDS )) && args+=(--service-port "$SERVICE_PORT")
    start_bg "$(node_ns "$i")" "$d/backend.pid" "$d/backend.log" "$PYTHON" "$HE_LAB/backend.py" "${args[@]}"
}

# speaker_start I : herald-speaker for node I (no-op when it runs).
speaker_start() {
    local i=$1 d extra=()
    d=$HE_STATE/$(node_name "$1")
    ours "$d/speaker.pid" >/dev/null && return 0
    [[ -x $HE_SPEAKER ]] || die "no speaker binary $HE_SPEAKER (cargo build -p herald-speaker, or set HE_SPEAKER)"
    # shellcheck disable=SC2206  # word splitting of the extra flags is wanted
    extra=($HE_SPEAKER_ARGS)
    echo "=== $(date -u +%FT%T.%6NZ) start" >>"$d/speaker.log"
    if [[ $HE_SPEAKER_FLAGS == readme ]]; then
        # Exactly the README's command (admin server on its default 0.0.0.0:$ADMIN_PORT).
        start_bg "$(node_ns "$i")" "$d/speaker.pid" "$d/speaker.log" \
            env RUST_LOG="${RUST_LOG:-info}" HERALD_HANDOVER_SOCKET="$d/handover.sock" "$HE_SPEAKER" --standalone "$HE_STATE/standalone" \
            --node-name "$(node_name "$i")" "${extra[@]}"
        return
    fi
    start_bg "$(node_ns "$i")" "$d/speaker.pid" "$d/speaker.log" \
        env RUST_LOG="${RUST_LOG:-info}" HERALD_HANDOVER_SOCKET="$d/handover.sock" "$HE_SPEAKER" --standalone "$HE_STATE/standalone" \
        --node-name "$(node_name "$i")" --node-address "$(node4 "$i")" \
        --admin-addr "127.0.0.1:$ADMIN_PORT" --log-format text "${extra[@]}"
}

# speaker_stop I [SIGNAL] : SIGTERM (default) or another signal; waits until it exited.
speaker_stop() {
    local d
    d=$HE_STATE/$(node_name "$1")
    signal_wait "$d/speaker.pid" "${2:-TERM}" 15 || die "speaker of node $1 still runs after SIG${2:-TERM}"
}

# speaker_restart I : SIGTERM to node I's speaker and, without waiting for it to exit,
# a new one (as a DaemonSet upgrade does); the old one's pid file becomes speaker.old.pid
# until it exits.
speaker_restart() {
    local i=$1 d pid
    d=$HE_STATE/$(node_name "$1")
    pid=$(ours "$d/speaker.pid") || die "the speaker of node $i does not run"
    mv "$d/speaker.pid" "$d/speaker.old.pid"
    kill -s TERM "$pid"
    speaker_start "$i"
}

# status I : the speaker's /status JSON.
status() {
    nsx "$(node_ns "$1")" curl -sf --max-time 3 "http://127.0.0.1:$ADMIN_PORT/status"
}
