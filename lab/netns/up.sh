#!/usr/bin/env bash
# up.sh - build the Herald netns lab: router namespace hl-r, node namespace hl-n.
#
#   lab/netns/up.sh [frr|bird|gobgp] [-- NEIGHBOR_OPTION...]
#
# Starts the chosen router (default frr) in hl-r, peering with 172.30.0.2 and
# fd00:30::2 (AS 64500, or $NODE_AS). hl-n stays empty: run Herald there, e.g.
#
#   ip netns exec hl-n target/debug/examples/announce --peer 172.30.0.1 --peer fd00:30::1 \
#       --remote-as 64501 --local-as 64500 --router-id 172.30.0.2 10.99.0.10/32
#
# FRR only: options after `--` become `neighbor <node> OPTION` lines for both sessions,
# e.g. `-- "password s3cret" "timers 1 3"`. Run down.sh first to rebuild.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

router=${1:-frr}; shift || true
options=""
if [[ ${1:-} == -- ]]; then
    shift
    for o in "$@"; do options+=$' neighbor '"$NODE4 $o"$'\n neighbor '"$NODE6 $o"$'\n'; done
fi
[[ $EUID -eq 0 ]] || die "run as root"
case $router in frr|bird|gobgp) ;; *) die "usage: $0 [frr|bird|gobgp] [-- OPTION...]" ;; esac
for ns in "$HL_ROUTER_NS" "$HL_NODE_NS"; do
    ns_exists "$ns" && die "$ns exists already: run lab/netns/down.sh first"
done

claim_state "$HL_OWNER"                          # refuses a state dir that is not the lab's
mkdir -p "$HL_STATE/router"
echo "$router" >"$HL_STATE/router-kind"
for ns in "$HL_ROUTER_NS" "$HL_NODE_NS"; do
    add_ns "$ns"                                 # recorded: down.sh deletes exactly these
    ip -n "$ns" link set lo up
    # no DAD: link-local addresses usable at once
    ip netns exec "$ns" sh -c 'echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad;
                               echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad'
done
ip link add eth0 netns "$HL_ROUTER_NS" type veth peer name eth0 netns "$HL_NODE_NS"
ip -n "$HL_ROUTER_NS" addr add "$ROUTER4/24" dev eth0
ip -n "$HL_ROUTER_NS" addr add "$ROUTER6/64" dev eth0 nodad
ip -n "$HL_NODE_NS" addr add "$NODE4/24" dev eth0
ip -n "$HL_NODE_NS" addr add "$NODE6/64" dev eth0 nodad
ip -n "$HL_ROUTER_NS" link set eth0 up
ip -n "$HL_NODE_NS" link set eth0 up

d=$HL_STATE/router
case $router in
frr)
    render_router "$HL_LAB/frr/zebra.conf.in" "$d/zebra.conf"
    render_router "$HL_LAB/frr/bgpd.conf.in" "$d/bgpd.conf" "${options%$'\n'}"
    frr_start_daemons "$HL_ROUTER_NS" "$d"
    log "FRR up: vtysh --vty_socket $d -c 'show bgp summary'"
    ;;
bird)
    command -v bird >/dev/null || die "BIRD missing (apt-get install bird2)"
    render_router "$HL_LAB/bird/bird.conf.in" "$d/bird.conf"
    start_bg "$HL_ROUTER_NS" "$d/bird.pid" "$d/bird.log" bird -f -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid.own"
    wait_for 10 birdc -s "$d/bird.ctl" show status || die "bird not answering (see $d/bird.log)"
    log "BIRD up: birdc -s $d/bird.ctl show protocols"
    ;;
gobgp)
    command -v gobgpd >/dev/null || die "gobgpd missing (apt-get install gobgpd)"
    render_router "$HL_LAB/gobgp/router.toml.in" "$d/gobgpd.toml"
    start_bg "$HL_ROUTER_NS" "$d/gobgpd.pid" "$d/gobgpd.log" gobgpd -f "$d/gobgpd.toml" -p -l info \
        --api-hosts 127.0.0.1:50051 --pprof-disable
    wait_for 15 ip netns exec "$HL_ROUTER_NS" gobgp global || die "gobgpd not answering (see $d/gobgpd.log)"
    log "gobgpd up: ip netns exec $HL_ROUTER_NS gobgp neighbor"
    ;;
esac
log "lab up: router $router in $HL_ROUTER_NS ($ROUTER4, $ROUTER6, AS $ROUTER_AS); node namespace $HL_NODE_NS ($NODE4, $NODE6, AS $NODE_AS)"
