#!/usr/bin/env bash
# down.sh - remove Herald's end-to-end lab (same HE_PREFIX / HE_STATE as up.sh).
# Idempotent.
#
# 1. SIGTERM to every process whose pid file is under $HE_STATE, if it is alive and runs
#    in one of the namespaces up.sh recorded (SIGKILL after 5 s);
# 2. SIGTERM, then SIGKILL, by pid to anything else still inside those namespaces
#    (e.g. a capture a test started);
# 3. deletes those namespaces (their veths and the bridge go with them) and $HE_STATE.
# Never pkill/killall; nothing in the root namespace is touched.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
[[ $EUID -eq 0 ]] || die "run as root"
keep_state=0
[[ ${1:-} == --keep-state ]] && keep_state=1

pids=() comms=()
while IFS= read -r f; do
    if pid=$(ours "$f"); then
        pids+=("$pid"); comms+=("$(cat "/proc/$pid/comm" 2>/dev/null)")
        kill -CONT "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null
    fi
done < <(find "$HE_STATE" -name '*.pid' 2>/dev/null | sort)
for pid in "${pids[@]}"; do
    for _ in $(seq 500); do alive "$pid" || break; sleep 0.01; done
    alive "$pid" && { log "pid $pid ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
done

namespaces=()
[[ -s $HE_STATE/namespaces ]] && mapfile -t namespaces <"$HE_STATE/namespaces"
live_pids() { local p; for p in $(ip netns pids "$1" 2>/dev/null); do alive "$p" && echo "$p"; done; }
for ns in "${namespaces[@]}"; do
    ns_exists "$ns" || continue
    for sig in TERM KILL; do
        mapfile -t left < <(live_pids "$ns")
        (( ${#left[@]} )) || break
        log "$ns: SIG$sig to leftover pids ${left[*]}"
        kill -s "$sig" "${left[@]}" 2>/dev/null
        for _ in $(seq 100); do [[ -z $(live_pids "$ns") ]] && break; sleep 0.02; done
    done
done
for ns in "${namespaces[@]}"; do
    ns_exists "$ns" && { ip netns del "$ns" || log "could not delete $ns"; }
done
for k in "${!pids[@]}"; do
    case ${comms[k]} in zebra|bgpd) rm -rf "/var/tmp/frr/${comms[k]}.${pids[k]}" ;; esac
done
if (( keep_state )); then
    rm -f "$HE_STATE/namespaces"
    log "lab down (prefix $HE_PREFIX; logs kept in $HE_STATE)"
else
    rm -rf "$HE_STATE"
    log "lab down (prefix $HE_PREFIX)"
fi
