//! The proxy between curl and real HTTP backends (python3) in a network namespace, IPv4
//! and IPv6: round robin spreads, least connections prefers the idle backend, a killed
//! backend never fails a client connection while others are up.

mod proxy_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use herald_config::Balance;
use herald_speaker::proxy::listener::ProxyOptions;
use herald_testsupport::wait::wait_until;
use proxy_support::{ProxyLab, VIP4, VIP6, listener, sock, url};

fn counts(answers: &[String]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for answer in answers {
        *counts.entry(answer.as_str()).or_default() += 1;
    }
    counts
}

fn round_robin_spreads_over_three_backends(vip: &str, backends: [&str; 3]) {
    let mut lab = ProxyLab::new(&format!("rr-{vip}"), ProxyOptions::default());
    let backends: Vec<SocketAddr> = backends.iter().map(|b| sock(b)).collect();
    for (name, &backend) in ["a", "b", "c"].iter().zip(&backends) {
        lab.http_backend(name, backend);
    }
    lab.apply(vec![listener(vip, 80, &backends)]);
    let front = SocketAddr::new(proxy_support::ip(vip), 80);
    lab.wait_bound(front);
    let answers: Vec<String> = (0..9)
        .map(|_| lab.curl(&url(front), &[]).expect("curl through the proxy"))
        .collect();
    assert_eq!(
        answers[..3],
        ["a", "b", "c"],
        "one backend after the other: {answers:?}"
    );
    assert_eq!(
        counts(&answers),
        BTreeMap::from([("a", 3), ("b", 3), ("c", 3)])
    );
    let snapshot = lab.snapshot(front);
    assert_eq!(snapshot.total, 9);
    assert!(snapshot.bytes_to_backend > 0 && snapshot.bytes_to_client > 0);
}

#[test]
fn round_robin_spreads_connections_over_three_backends_ipv4() {
    round_robin_spreads_over_three_backends(
        VIP4,
        ["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"],
    );
}

#[test]
fn round_robin_spreads_connections_over_three_backends_ipv6() {
    round_robin_spreads_over_three_backends(VIP6, ["[::1]:8001", "[::1]:8002", "[::1]:8003"]);
}

#[test]
fn least_connections_sends_new_connections_to_the_idle_backend() {
    let mut lab = ProxyLab::new("least-connections", ProxyOptions::default());
    let backends = [
        sock("127.0.0.1:8001"),
        sock("127.0.0.1:8002"),
        sock("127.0.0.1:8003"),
    ];
    for (name, backend) in ["a", "b", "c"].iter().zip(backends) {
        lab.http_backend(name, backend);
    }
    let mut web = listener(VIP4, 80, &backends);
    web.balance = Balance::LeastConnections;
    lab.apply(vec![web]);
    let front = sock("10.99.0.1:80");
    lab.wait_bound(front);
    // Two clients hold connections open (to a and b, the first two in rotation).
    let held = lab.runtime.block_on(async move {
        let first = tokio::net::TcpStream::connect(front)
            .await
            .expect("connect");
        let second = tokio::net::TcpStream::connect(front)
            .await
            .expect("connect");
        (first, second)
    });
    wait_until(
        Duration::from_secs(10),
        "two backends to hold one connection each",
        || {
            let open: Vec<u32> = lab
                .snapshot(front)
                .backends
                .iter()
                .map(|b| b.open)
                .collect();
            (open == [1, 1, 0]).then_some(())
        },
        || format!("{:?}", lab.snapshot(front).backends),
    );
    let answers: Vec<String> = (0..3)
        .map(|_| lab.curl(&url(front), &[]).expect("curl"))
        .collect();
    assert_eq!(answers, ["c", "c", "c"], "the idle backend takes them all");
    drop(held);
}

#[test]
fn a_killed_backend_fails_no_client_connection_while_others_are_up() {
    let mut lab = ProxyLab::new("killed-backend", ProxyOptions::default());
    let backends = [
        sock("127.0.0.1:8001"),
        sock("127.0.0.1:8002"),
        sock("127.0.0.1:8003"),
    ];
    for (name, backend) in ["a", "b", "c"].iter().zip(backends) {
        lab.http_backend(name, backend);
    }
    lab.apply(vec![listener(VIP4, 80, &backends)]);
    let front = sock("10.99.0.1:80");
    lab.wait_bound(front);
    assert_eq!(lab.curl(&url(front), &[]).as_deref(), Ok("a"));
    lab.kill_backend(backends[1]);
    // No active checks: b stays "up", every pick of b fails over to the next backend.
    let answers: Vec<String> = (0..6)
        .map(|_| {
            lab.curl(&url(front), &[])
                .expect("no client connection fails")
        })
        .collect();
    let seen = counts(&answers);
    assert!(!seen.contains_key("b"), "{answers:?}");
    assert_eq!(seen.values().sum::<usize>(), 6);
    assert!(
        seen.contains_key("a") && seen.contains_key("c"),
        "{answers:?}"
    );
    let snapshot = lab.snapshot(front);
    assert!(snapshot.connect_failures >= 1, "{snapshot:?}");
    assert_eq!(snapshot.no_backend, 0);
}
