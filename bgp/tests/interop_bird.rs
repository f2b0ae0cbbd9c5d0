//! Herald's Speaker against BIRD 2 as the router (exporting to the namespace's kernel FIB),
//! in network namespaces built per test. Needs root and the `bird2` package.

mod support;

use bgp::RouteAttributes;
use ipnet::IpNet;
use std::time::{Duration, Instant};
use support::bird::Bird;
use support::herald::Herald;
use support::{NODE_AS, ROUTER4, Topology, fib, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

/// Fields drop in order: Herald, BIRD, the namespaces.
struct Lab {
    herald: Herald,
    bird: Bird,
    topology: Topology,
}

impl Lab {
    fn new(test: &str) -> Lab {
        let topology = Topology::new(test);
        let bird = Bird::start(&topology, NODE_AS);
        let herald = Herald::start(&topology);
        herald.add_default_peers();
        bird.wait_established("node4", SETTLE);
        bird.wait_established("node6", SETTLE);
        Lab {
            herald,
            bird,
            topology,
        }
    }

    fn in_fib(&self, prefix: IpNet) -> Option<serde_json::Value> {
        fib::route(&self.topology.router, prefix)
            .filter(|r| fib::protocol(r).as_deref() == Some("bird"))
    }
}

fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

#[test]
fn bird_learns_host_routes_with_next_hop_and_as_path() {
    let lab = Lab::new("bird_learns_host_routes_with_next_hop_and_as_path");
    for (prefix, protocol, next_hop) in [
        ("10.99.0.10/32", "node4", "172.30.0.2"),
        ("fd00:99::10/128", "node6", "fd00:30::2"),
    ] {
        let prefix = net(prefix);
        lab.herald.announce(prefix, RouteAttributes::default());
        let route = wait_until(SETTLE, &format!("BIRD holds {prefix}"), || {
            lab.bird.routes(prefix).into_iter().next()
        });
        assert_eq!(route.protocol, protocol, "{route:?}");
        assert_eq!(
            route.next_hops.first().map(String::as_str),
            Some(next_hop),
            "{route:?}"
        );
        assert_eq!(route.as_path, NODE_AS.to_string(), "{route:?}");
        let kernel = wait_until(SETTLE, &format!("the router's FIB holds {prefix}"), || {
            lab.in_fib(prefix)
        });
        assert_eq!(fib::gateway(&kernel).as_deref(), Some(next_hop), "{kernel}");
    }
}

#[test]
fn bird_forgets_withdrawn_host_routes() {
    let lab = Lab::new("bird_forgets_withdrawn_host_routes");
    let (v4, v6) = (net("10.99.0.10/32"), net("fd00:99::10/128"));
    let (keep4, keep6) = (net("10.99.0.11/32"), net("fd00:99::11/128"));
    for prefix in [v4, v6, keep4, keep6] {
        lab.herald.announce(prefix, RouteAttributes::default());
    }
    for prefix in [v4, v6, keep4, keep6] {
        wait_until(SETTLE, &format!("BIRD exports {prefix} to the FIB"), || {
            lab.in_fib(prefix)
        });
    }
    let start = Instant::now();
    lab.herald.withdraw(v4);
    lab.herald.withdraw(v6);
    for prefix in [v4, v6] {
        wait_until(
            SETTLE,
            &format!("{prefix} is gone from BIRD and the FIB"),
            || (lab.bird.routes(prefix).is_empty() && lab.in_fib(prefix).is_none()).then_some(()),
        );
    }
    println!(
        "withdraw -> gone from BIRD and the FIB: {:?}",
        start.elapsed()
    );
    assert!(!lab.bird.routes(keep4).is_empty() && !lab.bird.routes(keep6).is_empty());
    assert_eq!(lab.bird.protocol_state("node4"), "Established");
    assert_eq!(lab.bird.protocol_state("node6"), "Established");
}

/// BIRD 2 does not offer extended messages (RFC 8654) unless configured to (`enable
/// extended messages`; the lab's bird.conf.in leaves it off), so Herald keeps to 4096
/// octets: a message above that would make BIRD reset the session.
#[test]
fn a_peer_without_extended_messages_gets_4096_octet_updates() {
    const ROUTES: u32 = 20_000;
    let topology = Topology::new("bird_without_extended_messages");
    let bird = Bird::start(&topology, NODE_AS);
    let herald = Herald::start(&topology);
    for i in 0..ROUTES {
        let prefix = IpNet::V4(ipnet::Ipv4Net::from(std::net::Ipv4Addr::from(
            0x0A63_0000 + i,
        )));
        herald.announce(prefix, RouteAttributes::default());
    }
    herald.add_default_peers();
    bird.wait_established("node4", SETTLE);
    let lab = Lab {
        herald,
        bird,
        topology,
    };
    wait_until(
        Duration::from_secs(120),
        &format!("BIRD holds the {ROUTES} routes from the node"),
        || (lab.bird.route_count("master4") >= u64::from(ROUTES)).then_some(()),
    );
    let stats = lab.herald.peer_stats(ROUTER4.into());
    println!(
        "Herald sent {ROUTES} /32s to BIRD in {} UPDATEs",
        stats.updates_sent
    );
    // At most about 800 /32s fit in 4096 octets: 25 UPDATEs and the End-of-RIB.
    assert!(stats.updates_sent >= 25, "{stats:?}");
    assert_eq!(lab.bird.protocol_state("node4"), "Established");
    assert!(stats.last_error.is_none(), "{stats:?}");
}
