#!/usr/bin/env bash
# generate.sh - write the containerlab lab's generated files from the same sources the
# netns runner uses, so the two labs cannot drift apart:
#
#   frr/bgpd.conf, frr/zebra.conf   <- lab/e2e/frr/*.conf.in (LOG_DIR=/tmp)
#   standalone/config.yaml, nodes.yaml, web.yaml   <- lab/e2e/lib.sh (3 nodes, hold 9s)
#
#   lab/containerlab/generate.sh [--out DIR]   (default: lab/containerlab itself)
#
# The end-to-end test `containerlab_files_match_the_netns_lab` runs this into a temporary
# directory and compares; run it after changing a template and commit the result.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
out=$HERE
if [[ ${1:-} == --out ]]; then out=${2:?--out DIR}; fi
HE_NODES=3 HE_HOLD_TIME=9s
source "$HERE/../e2e/lib.sh"
mkdir -p "$out/frr" "$out/standalone"
render "$HE_LAB/frr/bgpd.conf.in" "$out/frr/bgpd.conf" "LOG_DIR=/tmp"
render "$HE_LAB/frr/zebra.conf.in" "$out/frr/zebra.conf" "LOG_DIR=/tmp"
HE_CERT_DIR=/etc/herald/certs write_lab_config "$out/standalone"
service_manifest web Cluster dual all | write_atomic "$out/standalone/web.yaml"
