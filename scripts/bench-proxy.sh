#!/usr/bin/env bash
# bench-proxy.sh - Herald's proxy against HAProxy 2.6, one worker thread each, on
# loopback, in the same run: keep-alive req/s per proxy core, new connections/s, TLS
# keep-alive, resumed and full TLS 1.3 handshakes/s, 1 GiB bulk plain and TLS, RSS per
# idle TCP and TLS connection, added latency. Prints the harness's table (a column per
# proxy) and the ratios.
#
#   sudo scripts/bench-proxy.sh            # CASES, REPS, DURATION: see the harness
#
# It drives the bench-probe harness (BENCH_PROBE, default ../shared/bench next to the
# checkout: setup.sh installs haproxy, nginx and wrk and writes certificates; run.sh
# measures) with herald-speaker (release build) as the candidate, started exactly as a
# user runs it in standalone mode (scripts/bench-proxy-candidate.sh). Run nothing else
# meanwhile: the harness pins the client and backend to CPU 0 and the proxy to CPU 1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
probe=${BENCH_PROBE:-$root/../shared/bench}
[[ -x $probe/run.sh ]] || { echo "bench-proxy: no harness at $probe (set BENCH_PROBE)" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "bench-proxy: run as root (the harness installs packages)" >&2; exit 2; }
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$root" && cargo build --release --locked -p herald-speaker --bin herald-speaker)
fi
"$probe/setup.sh"
PROXY_NAME=herald \
PROXY_CMD="$root/scripts/bench-proxy-candidate.sh {tcp_listen} {tls_listen} {backend} {pem} {threads}" \
    "$probe/run.sh" | tee "${TMPDIR:-/tmp}/herald-bench-proxy.out"

# The ratios, Herald / HAProxy, next to the targets of the proxy issue (one thread each).
python3 - "${TMPDIR:-/tmp}/herald-bench-proxy.out" <<'PY'
import sys

rows, columns = {}, None
for line in open(sys.argv[1]):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) < 3:
        continue
    if cells[:2] == ["case", "metric"]:
        columns = cells
    elif columns and len(cells) == len(columns) and not cells[0].startswith("-"):
        rows[(cells[0], cells[1])] = dict(zip(columns[2:], cells[2:]))

def value(case, metric, who):
    try:
        return float(rows[(case, metric)][who])
    except (KeyError, ValueError):
        return None

# (case, metric, what, higher is better, target ratio or None)
checks = [
    ("ka", "rps_per_proxy_core", "keep-alive req/s per proxy core", True, 1.2),
    ("close", "rps_per_proxy_core", "new connections/s per proxy core", True, None),
    ("tls_ka", "rps_per_proxy_core", "TLS keep-alive req/s per proxy core", True, None),
    ("tls_close", "rps_per_proxy_core", "resumed TLS handshakes/s per proxy core", True, None),
    ("tls_full", "rps_per_proxy_core", "full TLS 1.3 handshakes/s per proxy core", True, 2.0),
    ("bulk", "gbit_s", "1 GiB bulk, plain (Gbit/s)", True, 1.0),
    ("bulk_tls", "gbit_s", "1 GiB bulk, TLS (Gbit/s)", True, None),
    ("mem", "kib_per_conn", "RSS per idle TCP connection (KiB)", False, None),
    ("mem_tls", "kib_per_conn", "RSS per idle TLS connection (KiB)", False, 1.0),
    ("ka", "p99_ms", "keep-alive p99 latency (ms)", False, None),
]
print()
print("| measure | haproxy | herald | herald/haproxy | target |")
print("|---|---:|---:|---:|---|")
for case, metric, what, higher, target in checks:
    h, c = value(case, metric, "haproxy"), value(case, metric, "herald")
    if h is None or c is None or h == 0:
        continue
    ratio = c / h
    if target is None:
        goal = ""
    elif higher:
        goal = ">= %.1fx: %s" % (target, "met" if ratio >= target else "not met")
    else:
        goal = "<= haproxy: %s" % ("met" if ratio <= target else "not met")
    print("| %s | %g | %g | %.2fx | %s |" % (what, h, c, ratio, goal))
PY
