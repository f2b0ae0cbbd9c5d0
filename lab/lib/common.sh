# shellcheck shell=bash
# common.sh - helpers shared by the lab's shell scripts: lab/netns/lib.sh, lab/e2e/lib.sh
# and bgp/tests/fixtures/capture/capture.sh source it (not meant to be run).
#
# Before sourcing, set LOG_TAG (the log prefix, e.g. "lab", "e2e") and LAB_STATE (the
# state directory of the lab: rendered configs, pid files, logs, sockets).
#
# Ownership. A script that builds something claims its state directory first
# (claim_state OWNER): the marker file $LAB_STATE/.herald-lab-owner says who made it,
# and a non-empty directory without the marker is refused. Every namespace it then
# creates goes through add_ns, which records it in $LAB_STATE/namespaces. A teardown
# starts with own_state OWNER, which stops the script when the directory is absent
# (nothing to do) or not marked by OWNER (someone else's: it is left alone), and then
# touches only what the state directory records: processes whose pid file is there and
# that run in a recorded namespace, the recorded namespaces, the directory itself.
# Nothing is ever looked up or signalled by name (no pkill/killall).

LOG_TAG=${LOG_TAG:-lab}
LAB_STATE=${LAB_STATE:?set LAB_STATE before sourcing lab/lib/common.sh}
OWNER_MARKER=.herald-lab-owner
FRR_BIN=${FRR_BIN:-/usr/lib/frr}

log() { printf '[%s %s] %s\n' "$LOG_TAG" "$(date +%T.%3N)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

ns_exists() { [[ -e /run/netns/$1 ]]; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ------------------------------------------------------------------ ownership ---

# owner_of DIR : the first line of DIR's marker ("" when there is none).
owner_of() {
    local line=""
    [[ -f $1/$OWNER_MARKER ]] && IFS= read -r line <"$1/$OWNER_MARKER"
    printf '%s' "$line"
}

# claim_state OWNER : make $LAB_STATE this run's (or take it over from an earlier run of
# the same OWNER, whose logs stay). Refuses a directory someone else made.
claim_state() {
    local owner=$1 dir=$LAB_STATE have
    [[ -n $dir && $dir != / ]] || die "state directory '$dir' makes no sense"
    if [[ -e $dir/$OWNER_MARKER ]]; then
        have=$(owner_of "$dir")
        [[ $have == "$owner" ]] || die "$dir belongs to '$have', not to '$owner': leaving it alone (choose another state directory)"
        return 0
    fi
    if [[ -e $dir && ! -d $dir ]] || { [[ -d $dir ]] && [[ -n $(ls -A "$dir") ]]; }; then
        die "$dir exists and was not made by this lab (no $OWNER_MARKER): leaving it alone (choose another state directory)"
    fi
    mkdir -p "$dir"
    printf '%s\ncreated %s by pid %s (%s)\n' "$owner" "$(date -u +%FT%TZ)" "$$" "$0" >"$dir/$OWNER_MARKER"
}

# own_state OWNER : the start of every teardown. Exits 0 when $LAB_STATE does not exist
# (nothing of ours is left); dies, touching nothing, when it is not marked by OWNER.
own_state() {
    local owner=$1 dir=$LAB_STATE have
    if [[ ! -e $dir ]]; then
        log "nothing to remove: $dir does not exist"
        exit 0
    fi
    [[ -e $dir/$OWNER_MARKER ]] \
        || die "$dir has no $OWNER_MARKER: not made by this lab, leaving it (and any namespace or process it names) alone"
    have=$(owner_of "$dir")
    [[ $have == "$owner" ]] || die "$dir belongs to '$have', not to '$owner': leaving it alone"
}

# remove_state : rm -rf $LAB_STATE, only when it carries our marker.
remove_state() {
    [[ -e $LAB_STATE/$OWNER_MARKER ]] || die "$LAB_STATE has no $OWNER_MARKER: not removing it"
    rm -rf -- "$LAB_STATE"
}

# add_ns NS : create network namespace NS and record it as ours (fails if it exists).
add_ns() {
    ip netns add "$1" || die "could not create namespace $1"
    echo "$1" >>"$LAB_STATE/namespaces"
}

# recorded_ns : the namespaces this lab's runs created, one a line.
recorded_ns() {
    local ns
    [[ -s $LAB_STATE/namespaces ]] || return 0
    while IFS= read -r ns; do [[ -n $ns ]] && echo "$ns"; done <"$LAB_STATE/namespaces"
}

# delete_recorded_ns : delete the recorded namespaces that still exist.
delete_recorded_ns() {
    local ns
    while IFS= read -r ns; do
        ns_exists "$ns" || continue
        if ip netns del "$ns"; then log "deleted namespace $ns"; else log "could not delete $ns"; fi
    done < <(recorded_ns)
}

# ------------------------------------------------------------------ processes ---

# alive PID : the process exists and is not a zombie.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != [ZX] ]]
}

# ours PIDFILE : prints the pid when it is alive and runs in one of the recorded
# namespaces (so a stale pid file can never make us signal someone else's process).
ours() {
    local pid ns
    [[ -s $1 ]] || return 1
    pid=$(<"$1"); pid=${pid//[^0-9]/}
    [[ -n $pid ]] && alive "$pid" || return 1
    ns=$(ip netns identify "$pid" 2>/dev/null) || return 1
    [[ -n $ns ]] && recorded_ns | grep -qxF -- "$ns" || return 1
    echo "$pid"
}

# start_bg NS PIDFILE LOGFILE CMD... : CMD detached (own session) in NS; the exec'd
# process itself writes its pid.
start_bg() {
    local ns=$1 pidf=$2 logf=$3 _; shift 3
    rm -f "$pidf"
    # shellcheck disable=SC2016  # $$, $0 and $@ belong to the inner shell
    setsid ip netns exec "$ns" sh -c 'echo $$ > "$0"; exec "$@"' "$pidf" "$@" \
        </dev/null >>"$logf" 2>&1 &
    disown $!
    for _ in $(seq 300); do [[ -s $pidf ]] && return 0; sleep 0.01; done
    die "$* did not start (see $logf)"
}

# signal_wait PIDFILE SIGNAL [TIMEOUT_S] : signal our process, wait until it is gone.
signal_wait() {
    local pid _ tries=$(( ${3:-10} * 100 ))
    pid=$(ours "$1") || return 0
    kill -CONT "$pid" 2>/dev/null
    kill -s "$2" "$pid" 2>/dev/null || return 0
    for _ in $(seq "$tries"); do alive "$pid" || return 0; sleep 0.01; done
    return 1
}

# stop_pidfiles PIDFILE... : SIGTERM to every one of ours, SIGKILL to what still runs
# after 5 s. Leaves the pids and their command names in STOPPED_PIDS / STOPPED_COMMS.
STOPPED_PIDS=() STOPPED_COMMS=()
stop_pidfiles() {
    local f pid comm _
    for f in "$@"; do
        pid=$(ours "$f") || continue
        comm=$(cat "/proc/$pid/comm" 2>/dev/null)
        log "stopping $comm (pid $pid)"
        STOPPED_PIDS+=("$pid"); STOPPED_COMMS+=("$comm")
        kill -CONT "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${STOPPED_PIDS[@]}"; do
        for _ in $(seq 500); do alive "$pid" || break; sleep 0.01; done
        alive "$pid" && { log "pid $pid ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
    done
    return 0
}

# frr_tmp_cleanup : remove the /var/tmp/frr/DAEMON.PID directories of the FRR daemons
# stop_pidfiles stopped (and only those).
frr_tmp_cleanup() {
    local k
    for k in "${!STOPPED_PIDS[@]}"; do
        case ${STOPPED_COMMS[k]} in
            zebra|bgpd) rm -rf "/var/tmp/frr/${STOPPED_COMMS[k]}.${STOPPED_PIDS[k]}" ;;
        esac
    done
}

# live_pids NS : the live processes in NS.
live_pids() { local p; for p in $(ip netns pids "$1" 2>/dev/null); do alive "$p" && echo "$p"; done; }

# kill_ns_leftovers NS : SIGTERM, then SIGKILL, by pid to whatever still runs in NS, a
# namespace of ours (e.g. a capture a test started in it).
kill_ns_leftovers() {
    local ns=$1 sig _ left
    ns_exists "$ns" || return 0
    recorded_ns | grep -qxF -- "$ns" || die "namespace $ns is not recorded as ours"
    for sig in TERM KILL; do
        mapfile -t left < <(live_pids "$ns")
        (( ${#left[@]} )) || break
        log "$ns: SIG$sig to leftover pids ${left[*]}"
        kill -s "$sig" "${left[@]}" 2>/dev/null
        for _ in $(seq 100); do [[ -z $(live_pids "$ns") ]] && break; sleep 0.02; done
    done
    return 0
}

# -------------------------------------------------------------------- helpers ---

# wait_for SECONDS CMD... : poll CMD every 50 ms.
wait_for() {
    local tries=$(( $1 * 20 )) _; shift
    for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
    return 1
}

# render TEMPLATE OUT NAME=VALUE... : fill the @NAME@ placeholders of a lab template
# (pure bash, so values may hold newlines).
render() {
    local text kv out=$2
    text=$(<"$1"); shift 2
    for kv in "$@"; do text=${text//"@${kv%%=*}@"/"${kv#*=}"}; done
    printf '%s\n' "$text" >"$out"
    if grep -q '@[A-Z_]*@' "$out"; then die "unfilled placeholder in $out"; fi
}

# frr_start_daemons NS DIR : zebra and bgpd in NS from DIR/zebra.conf and DIR/bgpd.conf,
# with their pid files, zserv socket and vty sockets in DIR.
frr_start_daemons() {
    local ns=$1 d=$2 daemon extra
    [[ -x $FRR_BIN/bgpd ]] || die "FRR missing (apt-get install frr)"
    chown -R frr:frr "$d"
    for daemon in zebra bgpd; do
        extra=(); [[ $daemon == zebra ]] && extra=(-s 90000000)   # netlink buffer, as Debian does
        TZ=UTC nsx "$ns" "$FRR_BIN/$daemon" -d -F traditional \
            -f "$d/$daemon.conf" -i "$d/$daemon.pid" -z "$d/zserv.api" \
            --vty_socket "$d" -P 0 "${extra[@]}" >>"$d/$daemon.out" 2>&1 \
            || die "$daemon failed (see $d/$daemon.out and $d/$daemon.log)"
        wait_for 10 test -S "$d/$daemon.vty" || die "$daemon has no vty socket"
    done
}
