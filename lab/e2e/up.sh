#!/usr/bin/env bash
# up.sh - build Herald's end-to-end lab: FRR router, N node namespaces running
# herald-speaker in standalone mode, backend pods, a client. See lib.sh for the picture.
#
#   lab/e2e/up.sh [--no-speakers] [--no-wait]
#
# Env: HE_PREFIX (namespace prefix, default "he-"), HE_STATE (default
# /run/herald-e2e/<prefix>), HE_NODES (default 3), HE_SPEAKER (binary, default
# target/debug/herald-speaker), HE_HOLD_TIME (default 9s), HE_SERVICE_BACKENDS (1),
# HE_SPEAKER_ARGS, HE_SPEAKER_FLAGS (lab | readme: the README's two flags only),
# HE_IPV6_ONLY (1: nodes without IPv4). Run lab/e2e/down.sh (same env) to remove it. $HE_STATE gets a marker
# (.herald-lab-owner) naming this lab and its prefix; a non-empty HE_STATE without it, or
# one marked by another lab, is refused.
#
# The standalone directory all speakers share is $HE_STATE/standalone: up.sh writes
# config.yaml and nodes.yaml there; put Services and EndpointSlices next to them
# (lab/e2e/ctl.sh service ... writes some).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

speakers=1 wait=1
for a in "$@"; do
    case $a in
        --no-speakers) speakers=0 ;;
        --no-wait) wait=0 ;;
        *) die "usage: $0 [--no-speakers] [--no-wait]" ;;
    esac
done
[[ $EUID -eq 0 ]] || die "run as root"
for c in ip vtysh curl openssl setsid "$PYTHON" "$FRR_BIN/zebra" "$FRR_BIN/bgpd"; do
    command -v "$c" >/dev/null || die "missing $c (apt-get install -y frr iproute2 curl python3)"
done
id frr >/dev/null 2>&1 || die "user 'frr' missing (is the frr package installed?)"
(( HE_NODES >= 1 && HE_NODES <= 9 )) || die "HE_NODES: 1..9"
(( ! speakers )) || [[ -x $HE_SPEAKER ]] || die "no speaker binary $HE_SPEAKER (cargo build -p herald-speaker, or set HE_SPEAKER)"
NODE_NS=(); for i in $(seq "$HE_NODES"); do NODE_NS+=("$(node_ns "$i")"); done
ALL_NS=("$NS_SWITCH" "$NS_ROUTER" "$NS_CLIENT" "${NODE_NS[@]}")
for ns in "${ALL_NS[@]}"; do
    ns_exists "$ns" && die "namespace $ns exists already: run lab/e2e/down.sh first (same HE_PREFIX)"
done

t0=$(date +%s%3N)
claim_state "$HE_OWNER"      # marks $HE_STATE as this lab's; refuses one that is not
mkdir -p "$HE_STATE/router" "$HE_STATE/standalone"
for i in $(seq "$HE_NODES"); do mkdir -p "$HE_STATE/$(node_name "$i")"; done

# ------------------------------------------------------------------ namespaces ---
ns_sysctl() {   # ns_sysctl NS key=value... (through /proc: no procps needed)
    local ns=$1 kv script=""; shift
    for kv in "$@"; do script+="echo ${kv#*=} > /proc/sys/$(tr . / <<<"${kv%%=*}");"; done
    nsx "$ns" sh -c "$script"
}
for ns in "${ALL_NS[@]}"; do
    add_ns "$ns"                                 # recorded: down.sh deletes exactly these
    ip -n "$ns" link set lo up
    # No DAD: IPv6 addresses usable at once. rp_filter off: replies may come back on
    # another path than the request went (ECMP).
    ns_sysctl "$ns" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
ns_sysctl "$NS_ROUTER" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
    net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1
ns_sysctl "$NS_SWITCH" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1

# ----------------------------------------------------------------------- links ---
# veth ends are created straight in their namespaces: nothing appears in the root one.
ip -n "$NS_SWITCH" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
ip -n "$NS_SWITCH" link set br0 up
ip link add eth0 netns "$NS_ROUTER" address 02:00:00:30:00:01 type veth peer name router netns "$NS_SWITCH"
ip link add eth1 netns "$NS_ROUTER" address 02:00:00:31:00:01 type veth \
    peer name eth0 netns "$NS_CLIENT" address 02:00:00:31:00:02
ip -n "$NS_SWITCH" link set router master br0 up
ip -n "$NS_ROUTER" -batch - <<EOF
addr add $ROUTER4/24 dev eth0
addr add $ROUTER6/64 dev eth0 nodad
addr add $GATEWAY4/24 dev eth1
addr add $GATEWAY6/64 dev eth1 nodad
link set eth0 up
link set eth1 up
EOF
ip -n "$NS_CLIENT" -batch - <<EOF
addr add $CLIENT4/24 dev eth0
addr add $CLIENT6/64 dev eth0 nodad
link set eth0 up
route add default via $GATEWAY4
route add default via $GATEWAY6
EOF
for i in $(seq "$HE_NODES"); do
    ns=$(node_ns "$i")
    ip link add eth0 netns "$ns" address "02:00:00:30:00:$((10 + i))" type veth peer name "n$i" netns "$NS_SWITCH"
    ip -n "$NS_SWITCH" link set "n$i" master br0 up
    {
        (( HE_IPV6_ONLY )) || echo "addr add $(node4 "$i")/24 dev eth0"
        echo "addr add $(node6 "$i")/64 dev eth0 nodad"
        echo "link set eth0 up"
        (( HE_IPV6_ONLY )) || echo "route add default via $ROUTER4"
        echo "route add default via $ROUTER6"
        # the node's pods: host addresses on lo (this kernel may lack the dummy type)
        echo "addr add $(pod4 "$i")/32 dev lo"
        echo "addr add $(pod6 "$i")/128 dev lo nodad"
        # other nodes' pods over the segment (for Herald's proxy, which forwards there)
        for j in $(seq "$HE_NODES"); do
            [[ $j == "$i" ]] && continue
            (( HE_IPV6_ONLY )) || echo "route add 10.244.$j.0/24 via $(node4 "$j")"
            echo "route add fd00:244:$j::/64 via $(node6 "$j")"
        done
        # Service addresses are local on every node (stand-in until the proxy binds them)
        if (( HE_SERVICE_BACKENDS )); then
            echo "route add local $POOL4_NET dev lo"
            echo "route add local $POOL6_NET dev lo"
        fi
    } | ip -n "$ns" -batch -
done
t_net=$(date +%s%3N)

# --------------------------------------------------------------------- daemons ---
write_lab_certificate
write_lab_config "$HE_STATE/standalone"
frr_start
for i in $(seq "$HE_NODES"); do backend_start "$i"; done
if (( speakers )); then
    for i in $(seq "$HE_NODES"); do speaker_start "$i"; done
fi
t_daemons=$(date +%s%3N)

want=$(( 2 * HE_NODES ))
(( HE_IPV6_ONLY )) && want=$HE_NODES   # only the IPv6 sessions can come up
if (( speakers && wait )); then
    if wait_for 60 sessions_up "$want"; then
        log "$want/$want BGP sessions Established"
    else
        log "WARNING: only $(established)/$want BGP sessions Established after 60 s"
        vty -c 'show bgp summary' >&2 || true
        exit 1
    fi
fi
t_end=$(date +%s%3N)
log "lab up (prefix $HE_PREFIX, $HE_NODES nodes): namespaces+links $((t_net - t0)) ms," \
    "daemons $((t_daemons - t_net)) ms, sessions +$((t_end - t_daemons)) ms"
log "state: $HE_STATE   router: vtysh --vty_socket $HE_STATE/router   manifests: $HE_STATE/standalone"
