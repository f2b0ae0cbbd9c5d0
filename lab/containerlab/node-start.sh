#!/bin/bash
# node-start.sh - the command of a containerlab node (NODE_INDEX=1..3 in its env): the
# same node setup lab/e2e/up.sh does in a node namespace, then herald-speaker in the
# foreground. containerlab attaches eth1 after the container starts, so wait for it.
set -euo pipefail
i=${NODE_INDEX:?NODE_INDEX}
for _ in $(seq 600); do [[ -e /sys/class/net/eth1 ]] && break; sleep 0.1; done
[[ -e /sys/class/net/eth1 ]] || { echo "eth1 never appeared" >&2; exit 1; }

ip addr add "172.30.0.$((10 + i))/24" dev eth1
ip addr add "fd00:30::$((10 + i))/64" dev eth1 nodad
ip link set eth1 up
# The lab's networks go over the segment; eth0 (containerlab management) keeps the default.
ip route add 172.31.0.0/24 via 172.30.0.1
ip route add fd00:31::/64 via fd00:30::1
# pods on lo, other nodes' pods over the segment
ip addr add "10.244.$i.10/32" dev lo
ip addr add "fd00:244:$i::10/128" dev lo nodad
for j in 1 2 3; do
    [[ $j == "$i" ]] && continue
    ip route add "10.244.$j.0/24" via "172.30.0.$((10 + j))"
    ip route add "fd00:244:$j::/64" via "fd00:30::$((10 + j))"
done
# Service addresses are local on every node (until Herald's proxy binds them)
ip route add local 10.99.0.0/20 dev lo
ip route add local fd00:99::/116 dev lo

# The web pool's certificate (its proxied Services' TLS), made once for all nodes.
if [[ ! -s /etc/herald/certs/web.pem ]]; then
    mkdir -p /etc/herald/certs
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -keyout /etc/herald/certs/web.key.$i -out /etc/herald/certs/ca.pem.$i \
        -subj /CN=web.herald.test -addext subjectAltName=DNS:web.herald.test 2>/dev/null
    cat /etc/herald/certs/ca.pem.$i /etc/herald/certs/web.key.$i >/etc/herald/certs/web.pem.$i
    mv -n /etc/herald/certs/ca.pem.$i /etc/herald/certs/ca.pem
    mv -n /etc/herald/certs/web.pem.$i /etc/herald/certs/web.pem
    rm -f /etc/herald/certs/*.$i
fi

python3 /usr/local/bin/backend.py "node$i" --pod "pod-node$i=10.244.$i.10,fd00:244:$i::10" \
    --pod-port 8080 --service-port 80 &
exec herald-speaker --standalone /etc/herald --node-name "node$i" \
    --node-address "172.30.0.$((10 + i))" --admin-addr 0.0.0.0:7472 --log-format text
