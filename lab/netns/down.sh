#!/usr/bin/env bash
# down.sh - tear the Herald netns lab down. Idempotent.
#
# Stops the router daemons whose pid files up.sh left in $HL_STATE/router, but only if
# the process is alive and runs in hl-r; then deletes the namespaces up.sh recorded as
# created, and the state directory. Never pkill/killall; nothing in the root namespace.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
[[ $EUID -eq 0 ]] || die "run as root"

pids=()
for f in "$HL_STATE"/router/*.pid; do
    [[ -e $f ]] || continue
    if pid=$(ours "$f"); then
        log "stopping $(cat "/proc/$pid/comm") (pid $pid)"
        kill -CONT "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null
        pids+=("$pid")
    fi
done
for pid in "${pids[@]}"; do
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.05; done
    alive "$pid" && { log "pid $pid ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
done
if [[ -s $HL_STATE/namespaces ]]; then
    while read -r ns; do
        ns_exists "$ns" && { ip netns del "$ns" && log "deleted namespace $ns"; }
    done <"$HL_STATE/namespaces"
fi
for pid in "${pids[@]}"; do
    rm -rf "/var/tmp/frr/zebra.$pid" "/var/tmp/frr/bgpd.$pid"
done
rm -rf "$HL_STATE"
log "lab down"
