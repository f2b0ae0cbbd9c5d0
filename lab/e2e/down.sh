#!/usr/bin/env bash
# down.sh - remove Herald's end-to-end lab (same HE_PREFIX / HE_STATE as up.sh).
# Idempotent.
#
# 0. touches nothing unless $HE_STATE carries the marker up.sh wrote for this HE_PREFIX
#    (no $HE_STATE: nothing to do; no marker, or another lab's: refused, exit 1);
# 1. SIGTERM to every process whose pid file is under $HE_STATE, if it is alive and runs
#    in one of the namespaces up.sh recorded (SIGKILL after 5 s);
# 2. SIGTERM, then SIGKILL, by pid to anything else still inside those namespaces
#    (e.g. a capture a test started);
# 3. deletes those namespaces (their veths and the bridge go with them) and $HE_STATE
#    (--keep-state: keeps it, with the marker, for its logs; a later down.sh removes it).
# Never pkill/killall; nothing in the root namespace is touched.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ $EUID -eq 0 ]] || die "run as root"
keep_state=0
[[ ${1:-} == --keep-state ]] && keep_state=1
own_state "$HE_OWNER"

mapfile -t pidfiles < <(find "$HE_STATE" -name '*.pid' 2>/dev/null | sort)
stop_pidfiles "${pidfiles[@]}"
mapfile -t namespaces < <(recorded_ns)
for ns in "${namespaces[@]}"; do kill_ns_leftovers "$ns"; done
delete_recorded_ns
frr_tmp_cleanup
if (( keep_state )); then
    rm -f "$HE_STATE/namespaces"
    log "lab down (prefix $HE_PREFIX; logs kept in $HE_STATE)"
else
    remove_state
    log "lab down (prefix $HE_PREFIX)"
fi
