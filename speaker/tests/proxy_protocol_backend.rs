//! PROXY protocol v1 and v2 headers read by a real backend (a python3 parser) with the
//! client's address and port as curl used them, IPv4 and IPv6.

mod proxy_support;

use herald_config::ProxyProtocol;
use herald_speaker::proxy::listener::ProxyOptions;
use proxy_support::{ProxyLab, VIP4, VIP6, listener, sock, url};

#[test]
fn a_real_backend_reads_the_clients_address_from_v1_and_v2_headers() {
    let mut lab = ProxyLab::new("proxy-protocol", ProxyOptions::default());
    // The clients' own addresses, on lo like any local address.
    lab.ns.ip(&["addr", "add", "10.99.1.5/32", "dev", "lo"]);
    lab.ns
        .ip(&["addr", "add", "fd00:99:1::5/128", "dev", "lo", "nodad"]);
    let (backend4, backend6) = (sock("127.0.0.1:9000"), sock("[::1]:9000"));
    lab.proxy_protocol_backend(backend4);
    lab.proxy_protocol_backend(backend6);
    let with = |vip, port, version, backend| {
        let mut listener = listener(vip, port, &[backend]);
        listener.proxy_protocol = version;
        listener
    };
    lab.apply(vec![
        with(VIP4, 81, ProxyProtocol::V1, backend4),
        with(VIP4, 82, ProxyProtocol::V2, backend4),
        with(VIP6, 81, ProxyProtocol::V1, backend6),
        with(VIP6, 82, ProxyProtocol::V2, backend6),
    ]);
    let cases = [
        (
            "10.99.0.1:81",
            "10.99.1.5",
            "40001",
            "v1 PROXY TCP4 10.99.1.5 10.99.0.1 40001 81",
        ),
        (
            "10.99.0.1:82",
            "10.99.1.5",
            "40002",
            "v2 cmd=0x21 TCP4 10.99.1.5 10.99.0.1 40002 82",
        ),
        (
            "[fd00:99::1]:81",
            "fd00:99:1::5",
            "40003",
            "v1 PROXY TCP6 fd00:99:1::5 fd00:99::1 40003 81",
        ),
        (
            "[fd00:99::1]:82",
            "fd00:99:1::5",
            "40004",
            "v2 cmd=0x21 TCP6 fd00:99:1::5 fd00:99::1 40004 82",
        ),
    ];
    for (front, client, client_port, expected) in cases {
        let front = sock(front);
        lab.wait_bound(front);
        let seen = lab
            .curl(
                &url(front),
                &["--interface", client, "--local-port", client_port],
            )
            .expect("curl through the proxy");
        assert_eq!(seen, expected, "via {front}");
    }
}
