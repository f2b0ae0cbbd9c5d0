#!/usr/bin/env bash
# down.sh - tear the Herald netns lab down. Idempotent.
#
# Touches nothing unless $HL_STATE carries the marker up.sh wrote (a missing directory:
# nothing to do; one without the marker: refused). Then stops the router daemons whose
# pid files up.sh left in $HL_STATE/router, but only if the process is alive and runs in
# a namespace up.sh recorded; deletes the namespaces up.sh recorded as created, and the
# state directory. Never pkill/killall; nothing in the root namespace.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ $EUID -eq 0 ]] || die "run as root"
own_state "$HL_OWNER"

stop_pidfiles "$HL_STATE"/router/*.pid
delete_recorded_ns
frr_tmp_cleanup
remove_state
log "lab down"
