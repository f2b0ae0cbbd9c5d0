#!/usr/bin/env bash
# ctl.sh - poke at a running end-to-end lab (same HE_PREFIX / HE_STATE as up.sh).
#
#   ctl.sh service NAME [--policy Cluster|Local] [--family ipv4|ipv6|dual]
#                       [--endpoints all|none|node1,node3] [--pool l2|web]
#                       [--port PORT] [--target-port PORT] [--tls]
#                                          write DIR/NAME.yaml (--tls: also port 443,
#                                          https, terminated by Herald's proxy)
#   ctl.sh holders ADDR                    the nodes whose eth0 has ADDR (VRRP master)
#   ctl.sh delete NAME                     remove DIR/NAME.yaml
#   ctl.sh address NAME                    the Service's addresses (from DIR/status/)
#   ctl.sh wait-route ADDR [NEXTHOPS] [S]  wait until the router's FIB has ADDR (with
#                                          exactly NEXTHOPS, comma list, if given)
#   ctl.sh fib ADDR                        the router's kernel next hops for ADDR
#   ctl.sh curl ADDR [COUNT]               HTTP from the client, one source port each
#   ctl.sh speaker start|stop|kill|restart NODE...
#                                          start, SIGTERM, SIGKILL a node's speaker;
#                                          restart: SIGTERM and a new one at once
#   ctl.sh cordon|uncordon NODE...         set/clear spec.unschedulable in nodes.yaml
#   ctl.sh status NODE                     the speaker's /status JSON
#   ctl.sh vtysh ARGS...                   vtysh of the lab router
#   ctl.sh exec NODE|router|client CMD...  run CMD in that namespace
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ $EUID -eq 0 ]] || die "run as root"
DIR=$HE_STATE/standalone
[[ -d $DIR ]] || die "no lab with prefix $HE_PREFIX ($HE_STATE missing): run lab/e2e/up.sh"
[[ $(owner_of "$HE_STATE") == "$HE_OWNER" ]] || die "$HE_STATE was not made by lab/e2e/up.sh with prefix $HE_PREFIX"
# service_name NAME : NAME when it is a valid Service name (a DNS label), so it is also
# a plain file name in DIR.
service_name() { [[ $1 =~ ^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || die "bad Service name '$1'"; echo "$1"; }

cmd=${1:-}; shift || true
case $cmd in
service)
    name=$(service_name "${1:?service NAME}"); shift
    policy=Cluster family=ipv4 endpoints=all pool="" target=$POD_PORT tls=0 port=$SERVICE_PORT
    while (( $# )); do
        case $1 in
            --policy) policy=$2; shift 2 ;;
            --target-port) target=$2; shift 2 ;;
            --tls) tls=1; shift ;;
            --port) port=$2; shift 2 ;;
            --pool) pool=$2; shift 2 ;;
            --family) family=$2; shift 2 ;;
            --endpoints) endpoints=$2; shift 2 ;;
            *) die "unknown option $1" ;;
        esac
    done
    [[ $policy == Cluster || $policy == Local ]] || die "--policy Cluster|Local"
    service_manifest "$name" "$policy" "$family" "$endpoints" "$pool" "$target" "$tls" "$port" | write_atomic "$DIR/$name.yaml"
    log "wrote $DIR/$name.yaml"
    ;;
delete)
    name=$(service_name "${1:?delete NAME}")
    rm -f "$DIR/$name.yaml"
    ;;
address)
    f=$DIR/status/default_${1:?address NAME}.yaml
    wait_for 10 test -s "$f" || die "no $f yet (is a speaker running?)"
    sed -n 's/^- \(.*\)$/\1/p' "$f" | tr -d "'\""
    ;;
wait-route)
    addr=${1:?wait-route ADDR}; want=${2:-}; secs=${3:-30}
    have() { local h; h=$(fib_nexthops "$addr"); [[ -n $h && ( -z $want || $h == "$want" ) ]]; }
    wait_for "$secs" have || die "no route to $addr${want:+ via $want} after ${secs}s (have: '$(fib_nexthops "$addr")')"
    fib_nexthops "$addr"
    ;;
fib)
    fib_nexthops "${1:?fib ADDR}"
    ;;
holders)
    addr=${1:?holders ADDR}
    for i in $(seq "$HE_NODES"); do
        ip -n "$(node_ns "$i")" -o addr show dev eth0 | grep -q " ${addr}/" && node_name "$i"
    done
    true
    ;;
curl)
    addr=${1:?curl ADDR}; count=${2:-1}
    url="http://$addr:$SERVICE_PORT/"; [[ $addr == *:* ]] && url="http://[$addr]:$SERVICE_PORT/"
    for k in $(seq "$count"); do
        # A different source port each time, so the router's L4 hash may pick another
        # node; a range, because ports of earlier runs may still be in TIME_WAIT.
        port=$((20000 + (RANDOM * 7 + k * 101) % 40000))
        nsx "$NS_CLIENT" curl -s --max-time 3 --local-port "$port-$((port + 200))" "$url" || echo "(no answer)"
    done
    ;;
speaker)
    action=${1:?speaker start|stop|kill NODE...}; shift
    for n in "$@"; do
        i=$(node_index "$n")
        case $action in
            start) speaker_start "$i" ;;
            stop) speaker_stop "$i" TERM ;;
            kill) speaker_stop "$i" KILL ;;
            restart) speaker_restart "$i" ;;
            *) die "speaker start|stop|kill|restart" ;;
        esac
    done
    ;;
cordon|uncordon)
    cordoned=()
    [[ -s $HE_STATE/cordoned ]] && read -r -a cordoned < "$HE_STATE/cordoned"
    for n in "$@"; do
        i=$(node_index "$n")
        kept=()
        for c in "${cordoned[@]}"; do [[ $c == "$i" ]] || kept+=("$c"); done
        [[ $cmd == cordon ]] && kept+=("$i")
        cordoned=("${kept[@]}")
    done
    echo "${cordoned[*]}" > "$HE_STATE/cordoned"
    write_nodes "$DIR" "${cordoned[@]}"
    log "cordoned nodes: ${cordoned[*]:-none}"
    ;;
status)
    status "$(node_index "${1:?status NODE}")"
    ;;
vtysh)
    vty "$@"
    ;;
exec)
    where=${1:?exec NODE|router|client CMD...}; shift
    case $where in
        router) ns=$NS_ROUTER ;; client) ns=$NS_CLIENT ;; *) ns=$(node_ns "$(node_index "$where")") ;;
    esac
    nsx "$ns" "$@"
    ;;
*)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 64
    ;;
esac
