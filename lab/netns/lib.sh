# shellcheck shell=bash
# lib.sh - settings and helpers of the Herald netns lab (sourced by up.sh / down.sh).
#
# The lab is two network namespaces joined by a veth pair, the same shape the interop
# tests build for themselves (bgp/tests/support), but with fixed names so people can poke
# at it by hand:
#
#   hl-r (router)  eth0 172.30.0.1/24 fd00:30::1/64  <--veth-->  eth0 172.30.0.2/24 fd00:30::2/64  hl-n (node)
#   FRR (zebra+bgpd) | BIRD 2 | gobgpd, AS 64501                 Herald (you run it), AS 64500
#
# Router configs come from the templates in lab/frr, lab/bird and lab/gobgp (the same
# files the tests use), rendered into $HL_STATE. Nothing is configured in the root
# namespace and no system service is touched. up.sh marks $HL_STATE as the netns lab's
# (lab/lib/common.sh: claim_state) and records the namespaces it creates; down.sh does
# nothing to a state directory without that marker, only stops processes whose pid file
# it wrote and that still run in a recorded namespace, and only deletes those namespaces.

# shellcheck disable=SC2034  # used by the scripts that source this file
HL_LAB=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)   # the lab/ directory
HL_STATE=${HL_STATE:-/run/herald-lab}
HL_ROUTER_NS=hl-r
HL_NODE_NS=hl-n
HL_OWNER="herald lab/netns"                                # first line of the marker
FRR_BIN=${FRR_BIN:-/usr/lib/frr}

ROUTER4=172.30.0.1  ROUTER6=fd00:30::1  ROUTER_AS=64501
NODE4=172.30.0.2    NODE6=fd00:30::2    NODE_AS=${NODE_AS:-64500}

LOG_TAG=lab LAB_STATE=$HL_STATE
# shellcheck source=../lib/common.sh
source "$HL_LAB/lib/common.sh"

# render_router TEMPLATE OUT [NEIGHBOR_OPTIONS] : a lab template with this lab's values.
render_router() {
    render "$1" "$2" ROUTER_NS="$HL_ROUTER_NS" NODE_NS="$HL_NODE_NS" ROUTER_AS="$ROUTER_AS" \
        ROUTER_ID="$ROUTER4" ROUTER4="$ROUTER4" ROUTER6="$ROUTER6" NODE_AS="$NODE_AS" \
        NODE_ID="$NODE4" NODE4="$NODE4" NODE6="$NODE6" API_PORT=50051 \
        STATE_DIR="$HL_STATE/router" NEIGHBOR_OPTIONS="${3:-}"
}
