#!/usr/bin/env bash
# bench-proxy-candidate.sh - Herald's proxy as the benchmark harness's candidate
# (PROXY_CMD of the bench-probe harness, see scripts/bench-proxy.sh): herald-speaker in
# standalone mode, exactly as users run it, with one Service on 127.0.0.1 whose pool has
# `proxy.enabled`: port TCP_PORT plain and TLS_PORT terminated with the harness's
# certificate, both forwarded to the harness's backend. Runs in the foreground.
#
#   bench-proxy-candidate.sh TCP_LISTEN TLS_LISTEN BACKEND PEM THREADS
set -euo pipefail
tcp=${1:?TCP_LISTEN} tls=${2:?TLS_LISTEN} backend=${3:?BACKEND} pem=${4:?PEM} threads=${5:-1}
speaker=${HERALD_SPEAKER:-$(cd "$(dirname "$0")/.." && pwd)/target/release/herald-speaker}
dir=$(mktemp -d /tmp/herald-bench-proxy.XXXXXX)
trap 'rm -rf "$dir"' EXIT
address=${tcp%:*}
cat >"$dir/config.yaml" <<YAML
address-pools:
- name: bench
  protocol: bgp
  addresses: [$address/32]
  proxy: {enabled: true, idle-timeout: 5m}
  tls: {bundle: $pem}
YAML
cat >"$dir/bench.yaml" <<YAML
apiVersion: v1
kind: Node
metadata: {name: bench}
---
apiVersion: v1
kind: Service
metadata: {name: bench, namespace: default}
spec:
  type: LoadBalancer
  loadBalancerIP: $address
  ports:
  - {name: http, port: ${tcp##*:}, targetPort: ${backend##*:}}
  - {name: https, port: ${tls##*:}, targetPort: ${backend##*:}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: bench-1
  namespace: default
  labels: {kubernetes.io/service-name: bench}
addressType: IPv4
ports:
- {name: http, port: ${backend##*:}}
- {name: https, port: ${backend##*:}}
endpoints:
- addresses: ["${backend%:*}"]
  nodeName: bench
  conditions: {ready: true, serving: true, terminating: false}
YAML
"$speaker" --standalone "$dir" --node-name bench --admin-addr 127.0.0.1:0 \
    --worker-threads "$threads" --log-format text &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; rm -rf "$dir"' EXIT TERM INT
wait $pid
