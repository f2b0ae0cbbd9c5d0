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
    "$probe/run.sh"
