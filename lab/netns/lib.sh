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
# namespace, no system service is touched, and down.sh only stops processes whose pid
# file it wrote and that still run inside hl-r.

# shellcheck disable=SC2034  # used by the scripts that source this file
HL_LAB=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)   # the lab/ directory
HL_STATE=${HL_STATE:-/run/herald-lab}
HL_ROUTER_NS=hl-r
HL_NODE_NS=hl-n
FRR_BIN=${FRR_BIN:-/usr/lib/frr}

ROUTER4=172.30.0.1  ROUTER6=fd00:30::1  ROUTER_AS=64501
NODE4=172.30.0.2    NODE6=fd00:30::2    NODE_AS=${NODE_AS:-64500}

log() { printf '[lab %s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

ns_exists() { [[ -e /run/netns/$1 ]]; }

# render TEMPLATE OUT [NEIGHBOR_OPTIONS] : fill the @NAME@ placeholders of a lab template
# (pure bash, so values may hold newlines).
render() {
    local text name value
    text=$(<"$1")
    local -A values=(
        [ROUTER_NS]=$HL_ROUTER_NS [NODE_NS]=$HL_NODE_NS [ROUTER_AS]=$ROUTER_AS
        [ROUTER_ID]=$ROUTER4 [ROUTER4]=$ROUTER4 [ROUTER6]=$ROUTER6 [NODE_AS]=$NODE_AS
        [NODE_ID]=$NODE4 [NODE4]=$NODE4 [NODE6]=$NODE6 [API_PORT]=50051
        [STATE_DIR]=$HL_STATE/router [NEIGHBOR_OPTIONS]=${3:-}
    )
    for name in "${!values[@]}"; do
        value=${values[$name]}
        text=${text//@$name@/$value}
    done
    printf '%s\n' "$text" >"$2"
    if grep -q '@[A-Z_]*@' "$2"; then die "unfilled placeholder in $2"; fi
}

# alive PID : the process exists and is not a zombie.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != [ZX] ]]
}

# ours PIDFILE : prints the pid if it is alive and runs in the router namespace.
ours() {
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1"); pid=${pid//[^0-9]/}
    [[ -n $pid ]] && alive "$pid" || return 1
    [[ $(ip netns identify "$pid" 2>/dev/null) == "$HL_ROUTER_NS" ]] || return 1
    echo "$pid"
}

# start_bg PIDFILE LOGFILE CMD... : run CMD detached in the router namespace; the process
# itself writes its pid (exec keeps it).
start_bg() {
    local pidf=$1 logf=$2; shift 2
    rm -f "$pidf"
    # shellcheck disable=SC2016  # $$, $0 and $@ belong to the inner shell
    setsid ip netns exec "$HL_ROUTER_NS" sh -c 'echo $$ > "$0"; exec "$@"' "$pidf" "$@" \
        </dev/null >>"$logf" 2>&1 &
    disown $!
    local _
    for _ in $(seq 200); do [[ -s $pidf ]] && return 0; sleep 0.01; done
    die "$* did not start (see $logf)"
}

# wait_for SECONDS CMD... : poll CMD every 50 ms.
wait_for() {
    local tries=$(( $1 * 20 )); shift
    local _
    for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
    return 1
}
