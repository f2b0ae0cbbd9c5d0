//! Herald's Speaker against gobgpd 3 as the router, in network namespaces built per test.
//! Needs root and the `gobgpd` package.

mod support;

use bgp::RouteAttributes;
use ipnet::IpNet;
use std::time::{Duration, Instant};
use support::gobgp::{Gobgpd, path_as_path, path_next_hop};
use support::herald::Herald;
use support::{NODE_AS, NODE4, NODE6, Topology, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

/// Fields drop in order: Herald, gobgpd, the namespaces.
struct Lab {
    herald: Herald,
    gobgpd: Gobgpd,
    _topology: Topology,
}

impl Lab {
    fn new(test: &str) -> Lab {
        let topology = Topology::new(test);
        let gobgpd = Gobgpd::start_router(&topology, NODE_AS);
        let herald = Herald::start(&topology);
        herald.add_default_peers();
        gobgpd.wait_established(NODE4.into(), SETTLE);
        gobgpd.wait_established(NODE6.into(), SETTLE);
        Lab {
            herald,
            gobgpd,
            _topology: topology,
        }
    }
}

fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

#[test]
fn gobgpd_learns_host_routes_with_next_hop_and_as_path() {
    let lab = Lab::new("gobgpd_learns_host_routes_with_next_hop_and_as_path");
    for (prefix, next_hop) in [
        ("10.99.0.10/32", "172.30.0.2"),
        ("fd00:99::10/128", "fd00:30::2"),
    ] {
        let prefix = net(prefix);
        lab.herald.announce(prefix, RouteAttributes::default());
        let path = wait_until(SETTLE, &format!("gobgpd's RIB holds {prefix}"), || {
            lab.gobgpd.path(prefix)
        });
        assert_eq!(path_next_hop(&path).as_deref(), Some(next_hop), "{path}");
        assert_eq!(path_as_path(&path), [NODE_AS], "{path}");
    }
}

#[test]
fn gobgpd_forgets_withdrawn_host_routes() {
    let lab = Lab::new("gobgpd_forgets_withdrawn_host_routes");
    let (v4, v6) = (net("10.99.0.10/32"), net("fd00:99::10/128"));
    let (keep4, keep6) = (net("10.99.0.11/32"), net("fd00:99::11/128"));
    for prefix in [v4, v6, keep4, keep6] {
        lab.herald.announce(prefix, RouteAttributes::default());
    }
    for prefix in [v4, v6, keep4, keep6] {
        wait_until(SETTLE, &format!("gobgpd's RIB holds {prefix}"), || {
            lab.gobgpd.path(prefix)
        });
    }
    let start = Instant::now();
    lab.herald.withdraw(v4);
    lab.herald.withdraw(v6);
    for prefix in [v4, v6] {
        wait_until(
            SETTLE,
            &format!("{prefix} is gone from gobgpd's RIB"),
            || lab.gobgpd.path(prefix).is_none().then_some(()),
        );
    }
    println!("withdraw -> gone from gobgpd's RIB: {:?}", start.elapsed());
    assert!(lab.gobgpd.path(keep4).is_some() && lab.gobgpd.path(keep6).is_some());
    assert_eq!(lab.gobgpd.neighbor_state(NODE4.into()), "established");
    assert_eq!(lab.gobgpd.neighbor_state(NODE6.into()), "established");
}
