#!/usr/bin/env bash
# bench-vrrp.sh - VRRP failover and cost, Herald (vrrp crate, examples/vrrpd.rs) next to
# keepalived, in the same topology and the same run.
#
#   scripts/bench-vrrp.sh                 # all cases, 3 runs each (BENCH_REPS=3)
#   BENCH_INTERVALS="0.1" BENCH_CPU=0 scripts/bench-vrrp.sh
#
# Topology (network namespaces, nothing in the root namespace; torn down on exit):
#
#   bv-r1 eth0 172.31.77.11 --+
#   bv-r2 eth0 172.31.77.12 --+-- bv-sw: br0 (plain bridge)
#   bv-r3 eth0 172.31.77.13 --+   (r3 only for the CPU cases)
#   bv-c  eth0 172.31.77.2  --+   client
#
# Failover: r1 (priority 150) is master of VIP 172.31.77.100, r2 (100) backup. A UDP
# responder bound to the VIP runs in r1 and r2 and answers with its node name; the
# client sends a probe every 10 ms. Crash = SIGKILL of r1's daemon (keepalived: its
# whole process group) and r1's responder falls silent with it (the node's service
# dies too); graceful = SIGTERM (priority 0). The gap is the time between the last
# answer from r1 and the first from r2, as the client sees it.
# CPU: 1,000 addresses in 250 VRIDs (4 each), three nodes (150/100/50), CPU% of the
# daemons (utime + stime from /proc/PID/stat, summed over the three) and adverts/s
# (IP packets reaching the client, which sends nothing then) over 10 s.
#
# Needs root, iproute2, keepalived, python3 and cargo (builds vrrpd in release mode).
set -euo pipefail

[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 1; }
for program in ip keepalived python3 cargo; do
    command -v "$program" >/dev/null || { echo "missing $program" >&2; exit 1; }
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
INTERVALS=${BENCH_INTERVALS:-"1 0.1 0.02"}
CPU_INTERVALS=${BENCH_CPU_INTERVALS:-"1 0.1"}
REPS=${BENCH_REPS:-3}
RUN_CPU=${BENCH_CPU:-1}
STATE=$(mktemp -d /tmp/bench-vrrp.XXXXXX)
NAMESPACES=(bv-sw bv-r1 bv-r2 bv-r3 bv-c)
SEG=172.31.77
VIP=$SEG.100
PORT=9000
PYTHON=$(command -v python3)
ROWS=()

log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*" >&2; }

# ------------------------------------------------------------------ build ---
log "building vrrpd (release)"
(cd "$ROOT" && cargo build --quiet --release -p vrrp --example vrrpd)
VRRPD=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/vrrpd
[[ -x $VRRPD ]] || { echo "no $VRRPD" >&2; exit 1; }

# --------------------------------------------------------------- topology ---
for ns in "${NAMESPACES[@]}"; do
    if [[ -e /run/netns/$ns ]]; then echo "namespace $ns exists; not touching it" >&2; exit 1; fi
done
CREATED=()
cleanup() {
    set +e
    stop_all
    for ns in "${CREATED[@]}"; do ip netns del "$ns"; done
    rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Only the processes this script started, by the pid files it wrote.
stop_all() {
    local f
    for f in "$STATE"/*.pid; do
        [[ -e $f ]] || continue
        stop_pidfile "$f" KILL
    done
}

alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != [ZX] ]]
}

# stop_pidfile FILE SIGNAL: signal the process group the file names, wait for it.
stop_pidfile() {
    local f=$1 sig=$2 pid
    pid=$(<"$f")
    kill -s "$sig" -- "-$pid" 2>/dev/null || true
    for _ in $(seq 500); do alive "$pid" || break; sleep 0.01; done
    if alive "$pid"; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
    rm -f "$f"
}

# start_bg NS NAME CMD...: CMD in NS in its own session (so its group can be
# signalled), pid in $STATE/NAME.pid, output in $STATE/NAME.log.
start_bg() {
    local ns=$1 name=$2; shift 2
    rm -f "$STATE/$name.pid"
    # shellcheck disable=SC2016  # for the inner shell
    setsid ip netns exec "$ns" sh -c 'echo $$ > "$0"; exec "$@"' "$STATE/$name.pid" "$@" \
        </dev/null >>"$STATE/$name.log" 2>&1 &
    disown $!
    for _ in $(seq 300); do [[ -s $STATE/$name.pid ]] && return 0; sleep 0.01; done
    echo "$name did not start" >&2; exit 1
}

wait_until() {   # wait_until SECONDS CMD...
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.01
    done
}

log "building the topology"
for ns in "${NAMESPACES[@]}"; do ip netns add "$ns"; CREATED+=("$ns"); done
ip -n bv-sw link add br0 type bridge
ip -n bv-sw link set br0 type bridge stp_state 0 mcast_snooping 0
ip -n bv-sw link set br0 up
declare -A ADDRESS=([bv-r1]=$SEG.11 [bv-r2]=$SEG.12 [bv-r3]=$SEG.13 [bv-c]=$SEG.2)
for ns in bv-r1 bv-r2 bv-r3 bv-c; do
    port=p-${ns#bv-}
    ip link add "$port" netns bv-sw type veth peer name eth0 netns "$ns"
    ip -n bv-sw link set "$port" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "${ADDRESS[$ns]}/24" dev eth0
    ip -n "$ns" link set eth0 up
done
# The client takes the new master's gratuitous ARP at once, whoever sends it.
ip netns exec bv-c sysctl -qw net.ipv4.conf.eth0.arp_accept=1
ip netns exec bv-c sysctl -qw net.ipv4.neigh.eth0.locktime=0

# ------------------------------------------------------------- the probes ---
cat >"$STATE/udp.py" <<'EOF'
"""respond NAME ADDR PORT MUTEFILE | probe OUT SECONDS ADDR PORT | gap FILE T FROM TO"""
import os, socket, sys, time
IP_FREEBIND = 15

def respond(name, addr, port, mute):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
    s.bind((addr, int(port)))
    while True:
        try:
            data, peer = s.recvfrom(64)
            if not os.path.exists(mute):
                s.sendto(data + b" " + name.encode(), peer)
        except OSError:
            pass  # e.g. the VIP left between the request and the answer

def probe(out, seconds, addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    start, seq, rows = time.time(), 0, []
    while time.time() - start < float(seconds):
        try:
            s.sendto(str(seq).encode(), (addr, int(port)))
        except OSError:
            pass
        seq += 1
        deadline = start + seq * 0.010
        while True:
            try:
                data, _ = s.recvfrom(64)
                rows.append("%.6f %s" % (time.time(), data.split()[1].decode()))
            except OSError:
                pass  # nothing yet, or an ICMP error from the last probe
            if time.time() >= deadline:
                break
            time.sleep(0.0005)
    open(out, "w").write("\n".join(rows) + "\n")

def gap(path, t, frm, to):
    rows = [l.split() for l in open(path) if l.strip()]
    first_to = next((float(ts) for ts, who in rows if who == to and float(ts) >= float(t)), None)
    if first_to is None:
        print("never"); return
    last_from = max((float(ts) for ts, who in rows if who == frm and float(ts) < first_to), default=float(t))
    print("%.0f" % ((first_to - last_from) * 1000))

{"respond": respond, "probe": probe, "gap": gap}[sys.argv[1]](*sys.argv[2:])
EOF
for ns in bv-r1 bv-r2; do
    start_bg "$ns" "responder-$ns" "$PYTHON" "$STATE/udp.py" respond "$ns" "$VIP" "$PORT" "$STATE/mute-$ns"
done

# ---------------------------------------------------------------- daemons ---
keepalived_config() {   # keepalived_config NS PRIORITY INTERVAL VRIDS ADDRESSES_PER_VRID
    local ns=$1 priority=$2 interval=$3 vrids=$4 per=$5 vrid a n=0
    printf 'global_defs {\n    router_id %s\n    vrrp_version 3\n}\n' "$ns"
    for ((vrid = 1; vrid <= vrids; vrid++)); do
        printf 'vrrp_instance VI%d {\n    state BACKUP\n    interface eth0\n' "$vrid"
        printf '    virtual_router_id %d\n    priority %d\n    advert_int %s\n' "$vrid" "$priority" "$interval"
        printf '    virtual_ipaddress {\n'
        if ((vrids == 1)); then
            printf '        %s/32 dev eth0\n' "$VIP"
        else
            for ((a = 0; a < per; a++, n++)); do
                printf '        172.31.%d.%d/32 dev eth0\n' $((80 + (n + 1) / 256)) $(((n + 1) % 256))
            done
        fi
        printf '    }\n}\n'
    done
}

# start_daemon IMPL NS PRIORITY INTERVAL [VRIDS]: the VIP alone, or 1,000 addresses.
start_daemon() {
    local impl=$1 ns=$2 priority=$3 interval=$4 vrids=${5:-1}
    if [[ $impl == keepalived ]]; then
        local per=$((vrids == 1 ? 1 : 1000 / vrids))
        keepalived_config "$ns" "$priority" "$interval" "$vrids" "$per" >"$STATE/$ns.conf"
        start_bg "$ns" "daemon-$ns" keepalived -n -l -P -f "$STATE/$ns.conf" \
            -p "$STATE/$ns-main.pidk" -r "$STATE/$ns-vrrp.pidk"
    else
        local ms; ms=$(awk -v i="$interval" 'BEGIN {printf "%d", i * 1000}')
        local addresses=(--address "$VIP") vrid=1
        if ((vrids > 1)); then addresses=(--address 172.31.80.1+1000); vrid=1-$vrids; fi
        start_bg "$ns" "daemon-$ns" env RUST_LOG=info "$VRRPD" --interface eth0 --vrid "$vrid" \
            --priority "$priority" --advert-interval-ms "$ms" "${addresses[@]}"
    fi
}

address_count() { ip -n "$1" -4 -o addr show dev eth0 | grep -c ' 172\.31\.8[0-3]\.' || true; }
holds_all() { [[ $(address_count "$1") -eq 1000 ]]; }
has_vip() { ip -n "$1" -4 -o addr show dev eth0 | grep -q " $VIP/"; }
clear_addresses() {
    local ns a
    for ns in bv-r1 bv-r2 bv-r3; do
        ip -n "$ns" -4 -o addr show dev eth0 | awk '$4 !~ /\/24$/ {print $4}' |
            while read -r a; do ip -n "$ns" addr del "$a" dev eth0 2>/dev/null || true; done
    done
}
client_sees() {   # client_sees NAME: one probe answered by NAME
    ip netns exec bv-c "$PYTHON" - "$VIP" "$PORT" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
s.sendto(b"0", (sys.argv[1], int(sys.argv[2])))
sys.exit(0 if s.recvfrom(64)[0].split()[1].decode() == sys.argv[3] else 1)
EOF
}

# ---------------------------------------------------------------- failover ---
# failover IMPL INTERVAL KIND -> gap in ms on stdout
failover() {
    local impl=$1 interval=$2 kind=$3
    stop_all_daemons; clear_addresses; rm -f "$STATE"/mute-*
    start_daemon "$impl" bv-r1 150 "$interval"
    wait_until 20 has_vip bv-r1 || { echo "r1 never master" >&2; return 1; }
    start_daemon "$impl" bv-r2 100 "$interval"
    wait_until 10 client_sees bv-r1 || { echo "client never reached r1" >&2; return 1; }
    # r2 has heard r1 for a while (its Master_Down_Interval runs from r1's adverts)
    sleep "$(awk -v i="$interval" 'BEGIN {print 3 * i + 0.3}')"
    has_vip bv-r2 && { echo "r2 holds the VIP too" >&2; return 1; }
    local seconds; seconds=$(awk -v i="$interval" 'BEGIN {print 0.5 + 4.5 * i + 1}')
    ip netns exec bv-c "$PYTHON" "$STATE/udp.py" probe "$STATE/probe.txt" "$seconds" "$VIP" "$PORT" &
    local probe=$!
    sleep 0.5
    local t=$EPOCHREALTIME
    if [[ $kind == crash ]]; then
        touch "$STATE/mute-bv-r1"
        kill -KILL -- "-$(<"$STATE/daemon-bv-r1.pid")"
    else
        kill -TERM "$(<"$STATE/daemon-bv-r1.pid")"
    fi
    wait "$probe"
    "$PYTHON" "$STATE/udp.py" gap "$STATE/probe.txt" "${t/,/.}" bv-r1 bv-r2
    stop_all_daemons
}

stop_all_daemons() {
    local f
    for f in "$STATE"/daemon-*.pid; do
        if [[ -e $f ]]; then stop_pidfile "$f" KILL; fi
    done
    rm -f "$STATE"/*.pidk
}

# median and range of the numbers on stdin: "123 (110-140)"
summary() { sort -n | awk 'NF {v[++n] = $1} END {if (n == 0) {print "n/a"; exit}
    m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    if (n > 1) printf "%d ms (%d-%d)\n", m, v[1], v[n]; else printf "%d ms\n", m}'; }
median() { awk '{print $1}' <<<"$1"; }
row() {   # row CASE KEEPALIVED HERALD
    local ratio
    ratio=$(awk -v k="$(median "$2")" -v h="$(median "$3")" 'BEGIN {
        if (k + 0 > 0) printf "%.2f", h / k; else print "n/a"}')
    ROWS+=("$(printf '%-38s | %-22s | %-22s | %s' "$1" "$2" "$3" "$ratio")")
}

for interval in $INTERVALS; do
    for kind in crash graceful; do
        declare -A RESULT=()
        for impl in keepalived herald; do
            values=()
            for ((rep = 1; rep <= REPS; rep++)); do
                gap=$(failover "$impl" "$interval" "$kind") || gap=""
                log "advert ${interval}s $kind $impl run $rep: ${gap:-failed} ms"
                [[ $gap =~ ^[0-9]+$ ]] && values+=("$gap")
            done
            RESULT[$impl]=$(printf '%s\n' "${values[@]}" | summary)
        done
        row "failover ${kind}, advert ${interval}s" "${RESULT[keepalived]}" "${RESULT[herald]}"
    done
done

# -------------------------------------------------------------------- CPU ---
ticks() {   # CPU ticks (utime + stime) of the process groups named by the pid files
    local total=0 f pid p stat
    for f in "$@"; do
        pid=$(<"$f")
        for p in $(pgrep -g "$pid"); do
            stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
            stat=${stat##*) }
            read -r -a fields <<<"$stat"
            total=$((total + fields[11] + fields[12]))
        done
    done
    echo "$total"
}
# IP packets the client received: during the CPU cases only adverts (multicast,
# flooded by the bridge; counted on arrival before the group check drops them).
adverts_seen() {
    ip netns exec bv-c awk '/^Ip: [0-9]/ {print $4}' /proc/net/snmp
}
cpu() {   # cpu IMPL INTERVAL -> "CPU% ADVERTS/S"
    local impl=$1 interval=$2 window=10
    stop_all_daemons; clear_addresses
    start_daemon "$impl" bv-r1 150 "$interval" 250
    wait_until 60 holds_all bv-r1 || { echo "r1 never took 1000 addresses" >&2; return 1; }
    start_daemon "$impl" bv-r2 100 "$interval" 250
    start_daemon "$impl" bv-r3 50 "$interval" 250
    sleep "$(awk -v i="$interval" 'BEGIN {print 4 * i + 4}')"   # settled, announcements over
    [[ $(address_count bv-r1) -eq 1000 && $(address_count bv-r2) -eq 0 && $(address_count bv-r3) -eq 0 ]] ||
        { echo "not settled: r1 $(address_count bv-r1) r2 $(address_count bv-r2) r3 $(address_count bv-r3)" >&2; return 1; }
    local files=("$STATE"/daemon-bv-r{1,2,3}.pid) hz; hz=$(getconf CLK_TCK)
    local t0 p0; t0=$(ticks "${files[@]}"); p0=$(adverts_seen)
    sleep "$window"
    local t1 p1; t1=$(ticks "${files[@]}"); p1=$(adverts_seen)
    awk -v t=$((t1 - t0)) -v p=$((p1 - p0)) -v hz="$hz" -v w="$window" \
        'BEGIN {printf "%.1f %d\n", 100 * t / hz / w, p / w}'
    stop_all_daemons
}

if [[ $RUN_CPU == 1 ]]; then
    for interval in $CPU_INTERVALS; do
        k=$(cpu keepalived "$interval") || k="n/a n/a"
        log "CPU advert ${interval}s keepalived: $k"
        h=$(cpu herald "$interval") || h="n/a n/a"
        log "CPU advert ${interval}s herald: $h"
        read -r kc ka <<<"$k"; read -r hc ha <<<"$h"
        row "CPU % (3 nodes), 1000 addr, ${interval}s" "$kc %" "$hc %"
        row "adverts/s (3 nodes), 1000 addr, ${interval}s" "$ka" "$ha"
    done
fi

echo
echo "VRRP benchmark: keepalived $(keepalived --version 2>&1 | awk 'NR == 1 {print $2}') vs Herald vrrpd, $REPS runs per failover case (median (min-max))"
printf '%-38s | %-22s | %-22s | %s\n' "case" "keepalived" "Herald" "ratio H/k"
printf '%s\n' "${ROWS[@]}"
