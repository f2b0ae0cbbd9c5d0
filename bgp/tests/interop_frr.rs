//! Herald's Speaker against FRR 8.4 bgpd (with zebra installing into the kernel FIB), in
//! network namespaces built per test. Needs root and the `frr` package; see
//! `bgp/tests/support/mod.rs` for the topology.

mod support;

use bgp::packet::{Community, LargeCommunity};
use bgp::{PeerConfig, RouteAttributes, SessionState};
use ipnet::IpNet;
use serde_json::Value;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use support::frr::{Frr, FrrOptions};
use support::herald::Herald;
use support::{NODE_AS, NODE4, NODE6, ROUTER4, ROUTER6, Topology, fib, holds_for, wait_until};

/// Generous safety net for anything that should take milliseconds to a few seconds.
const SETTLE: Duration = Duration::from_secs(30);

/// One test's world. Fields drop in order: Herald, then FRR, then the namespaces.
struct Lab {
    herald: Herald,
    frr: Frr,
    topology: Topology,
}

impl Lab {
    /// Namespaces, FRR with `options`, a Speaker with both sessions (AS `local_as`, each
    /// peer config adjusted by `adjust`).
    fn new(
        test: &str,
        options: FrrOptions,
        local_as: u32,
        adjust: impl Fn(&mut PeerConfig),
    ) -> Lab {
        let topology = Topology::new(test);
        let frr = Frr::start(&topology, options);
        let herald = Herald::start(&topology);
        herald.add_both_peers(local_as, adjust);
        Lab {
            herald,
            frr,
            topology,
        }
    }

    fn default(test: &str) -> Lab {
        Lab::new(test, FrrOptions::default(), NODE_AS, |_| {})
    }

    fn wait_both_established(&self) {
        self.frr.wait_established(NODE4.into(), SETTLE);
        self.frr.wait_established(NODE6.into(), SETTLE);
    }

    /// FRR's best path for `prefix`, once it has one.
    fn wait_path(&self, prefix: IpNet) -> Value {
        wait_until(SETTLE, &format!("FRR's RIB holds {prefix}"), || {
            self.frr.paths(prefix).into_iter().next()
        })
    }

    /// The kernel route FRR's zebra installed for `prefix`, once there is one.
    fn wait_fib(&self, prefix: IpNet) -> Value {
        wait_until(
            SETTLE,
            &format!("the router's FIB holds {prefix} (proto bgp)"),
            || {
                fib::route(&self.topology.router, prefix)
                    .filter(|r| fib::protocol(r).as_deref() == Some("bgp"))
            },
        )
    }

    fn wait_gone(&self, prefix: IpNet) {
        wait_until(
            SETTLE,
            &format!("{prefix} is gone from FRR's RIB and the FIB"),
            || {
                (self.frr.paths(prefix).is_empty()
                    && fib::route(&self.topology.router, prefix).is_none())
                .then_some(())
            },
        );
    }
}

/// `count` IPv4 host routes from 10.99.0.0 up.
fn host_routes(count: u32) -> Vec<IpNet> {
    (0..count)
        .map(|i| {
            IpNet::V4(ipnet::Ipv4Net::from(std::net::Ipv4Addr::from(
                0x0A63_0000 + i,
            )))
        })
        .collect()
}

fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

fn attributes_with_communities() -> RouteAttributes {
    RouteAttributes {
        communities: vec![Community::new(64500, 1), Community::NO_ADVERTISE],
        large_communities: vec![LargeCommunity {
            global_admin: 64500,
            local_data1: 1,
            local_data2: 2,
        }],
        ..RouteAttributes::default()
    }
}

/// The next-hop addresses of an FRR path, with their scope ("global", "link-local"; IPv4
/// next hops have none).
fn next_hops(path: &Value) -> Vec<(String, Option<String>)> {
    path["nexthops"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|nh| {
            (
                nh["ip"].as_str().unwrap_or_default().to_owned(),
                nh["scope"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn ipv4_and_ipv6_sessions_reach_established() {
    let lab = Lab::default("ipv4_and_ipv6_sessions_reach_established");
    lab.wait_both_established();
    let pairs: [(IpAddr, IpAddr); 2] = [
        (NODE4.into(), ROUTER4.into()),
        (NODE6.into(), ROUTER6.into()),
    ];
    for (frr_side, herald_side) in pairs {
        let neighbor = lab.frr.neighbor(frr_side);
        assert_eq!(neighbor["bgpState"], "Established", "{neighbor}");
        assert_eq!(neighbor["remoteAs"], NODE_AS, "{neighbor}");
        lab.herald.wait_established(herald_side, SETTLE);
        let stats = lab.herald.peer_stats(herald_side);
        assert!(stats.established_since.is_some(), "{stats:?}");
        assert_eq!(
            stats.hold_time,
            Some(90),
            "FRR (traditional: 180) and Herald (90) negotiate 90"
        );
    }
}

#[test]
fn announced_host_routes_reach_frr_rib_with_attributes_and_kernel_fib() {
    let lab = Lab::default("announced_host_routes_reach_frr_rib_with_attributes_and_kernel_fib");
    lab.wait_both_established();
    let (v4, v6) = (net("10.99.0.10/32"), net("fd00:99::10/128"));
    lab.herald.announce(v4, attributes_with_communities());
    lab.herald.announce(v6, attributes_with_communities());

    for prefix in [v4, v6] {
        let path = lab.wait_path(prefix);
        assert_eq!(
            path["aspath"]["string"], "64500",
            "AS path of {prefix}: {path}"
        );
        assert_eq!(path["origin"], "IGP", "{path}");
        assert_eq!(
            strings(&path["community"]["list"]),
            ["64500:1", "noAdvertise"],
            "communities of {prefix}: {path}"
        );
        assert_eq!(
            strings(&path["largeCommunity"]["list"]),
            ["64500:1:2"],
            "{path}"
        );
        let hops = next_hops(&path);
        println!("FRR path for {prefix}: next hops {hops:?}");
        if prefix == v4 {
            assert_eq!(
                hops,
                [("172.30.0.2".to_owned(), None)],
                "next hop of {prefix}: {path}"
            );
        } else {
            assert!(
                hops.contains(&("fd00:30::2".to_owned(), Some("global".to_owned()))),
                "global next hop of {prefix} is the node's session address: {path}"
            );
        }
    }

    let route4 = lab.wait_fib(v4);
    assert_eq!(
        fib::gateway(&route4).as_deref(),
        Some("172.30.0.2"),
        "{route4}"
    );
    let route6 = lab.wait_fib(v6);
    let node_link_local = Topology::link_local(&lab.topology.node).to_string();
    let gateway6 = fib::gateway(&route6).unwrap_or_default();
    assert!(
        gateway6 == "fd00:30::2" || gateway6 == node_link_local,
        "IPv6 route goes via the node (global or link-local): {route6}"
    );
}

#[test]
fn withdrawn_host_routes_leave_frr_rib_and_kernel_fib() {
    let lab = Lab::default("withdrawn_host_routes_leave_frr_rib_and_kernel_fib");
    lab.wait_both_established();
    let (v4, v6) = (net("10.99.0.10/32"), net("fd00:99::10/128"));
    // A second pair stays announced: the withdraw takes away exactly what it names.
    let (keep4, keep6) = (net("10.99.0.11/32"), net("fd00:99::11/128"));
    for prefix in [v4, v6, keep4, keep6] {
        lab.herald.announce(prefix, RouteAttributes::default());
    }
    for prefix in [v4, v6, keep4, keep6] {
        lab.wait_path(prefix);
        lab.wait_fib(prefix);
    }
    let start = Instant::now();
    lab.herald.withdraw(v4);
    lab.herald.withdraw(v6);
    lab.wait_gone(v4);
    lab.wait_gone(v6);
    println!(
        "withdraw -> gone from FRR RIB and FIB: {:?}",
        start.elapsed()
    );
    for prefix in [keep4, keep6] {
        assert!(
            !lab.frr.paths(prefix).is_empty(),
            "{prefix} must stay announced"
        );
    }
    assert!(lab.frr.is_established(NODE4.into()) && lab.frr.is_established(NODE6.into()));
}

#[test]
fn link_bandwidth_reaches_frr_as_its_extended_community() {
    let lab = Lab::default("link_bandwidth_reaches_frr_as_its_extended_community");
    lab.wait_both_established();
    let (v4, v6) = (net("10.99.0.10/32"), net("fd00:99::10/128"));
    let weighted = RouteAttributes {
        link_bandwidth: Some(375_000),
        ..attributes_with_communities()
    };
    lab.herald.announce(v4, weighted.clone());
    lab.herald.announce(v6, weighted);
    for prefix in [v4, v6] {
        let path = lab.wait_path(prefix);
        println!(
            "FRR path for {prefix}: extendedCommunity {}",
            path["extendedCommunity"]
        );
        // FRR 8.4 prints the link bandwidth as "LB:<AS>:<bytes/s> (<Mbps>)".
        assert_eq!(
            path["extendedCommunity"]["string"], "LB:64500:375000 (3.000 Mbps)",
            "link bandwidth of {prefix}: {path}"
        );
        assert_eq!(
            strings(&path["community"]["list"]),
            ["64500:1", "noAdvertise"],
            "the other communities still go: {path}"
        );
    }
}

#[test]
fn four_octet_local_as_appears_in_frr_as_path() {
    const WIDE_AS: u32 = 4_200_000_001;
    let options = FrrOptions {
        node_as: WIDE_AS,
        ..FrrOptions::default()
    };
    let lab = Lab::new(
        "four_octet_local_as_appears_in_frr_as_path",
        options,
        WIDE_AS,
        |_| {},
    );
    lab.wait_both_established();
    assert_eq!(lab.frr.neighbor(NODE4.into())["remoteAs"], WIDE_AS);
    let (v4, v6) = (net("10.99.0.10/32"), net("fd00:99::10/128"));
    lab.herald.announce(v4, RouteAttributes::default());
    lab.herald.announce(v6, RouteAttributes::default());
    for prefix in [v4, v6] {
        let path = lab.wait_path(prefix);
        assert_eq!(path["aspath"]["string"], "4200000001", "{path}");
        assert_eq!(path["aspath"]["segments"][0]["list"][0], WIDE_AS, "{path}");
    }
}

#[test]
fn md5_session_with_matching_passwords_establishes() {
    let options = FrrOptions {
        neighbor_options: vec!["password s3cret-MD5".into()],
        ..FrrOptions::default()
    };
    let lab = Lab::new(
        "md5_session_with_matching_passwords_establishes",
        options,
        NODE_AS,
        |peer| {
            peer.password = Some("s3cret-MD5".into());
        },
    );
    lab.wait_both_established();
    lab.herald
        .announce(net("10.99.0.10/32"), RouteAttributes::default());
    lab.herald
        .announce(net("fd00:99::10/128"), RouteAttributes::default());
    lab.wait_path(net("10.99.0.10/32"));
    lab.wait_path(net("fd00:99::10/128"));
}

#[test]
fn md5_session_with_wrong_password_never_establishes() {
    let options = FrrOptions {
        neighbor_options: vec!["password s3cret-MD5".into()],
        ..FrrOptions::default()
    };
    let lab = Lab::new(
        "md5_session_with_wrong_password_never_establishes",
        options,
        NODE_AS,
        |peer| {
            peer.password = Some("not-the-password".into());
        },
    );
    // Segments with a wrong digest are dropped by the kernel, so nothing but time tells:
    // watch both sides for 10 s.
    holds_for(
        Duration::from_secs(10),
        "no session with a wrong MD5 password",
        || {
            for node in [IpAddr::from(NODE4), NODE6.into()] {
                let state = lab.frr.neighbor_state(node);
                if state == "Established" {
                    return Err(format!("FRR shows {node} {state}"));
                }
            }
            Ok(())
        },
    );
    for stats in lab.herald.stats() {
        assert_ne!(stats.state, SessionState::Established, "{stats:?}");
        assert!(stats.established_since.is_none(), "{stats:?}");
        assert_eq!(stats.updates_received, 0, "{stats:?}");
    }
    let established = lab
        .herald
        .events()
        .into_iter()
        .filter(|(_, e)| e.state == SessionState::Established)
        .count();
    assert_eq!(established, 0, "Herald reported Established events");
    let log = lab.frr.bgpd_log();
    assert!(
        !log.contains("%ADJCHANGE"),
        "FRR logged a session change:\n{log}"
    );
}

#[test]
fn herald_reconnects_and_reannounces_after_frr_restart() {
    let mut lab = Lab::default("herald_reconnects_and_reannounces_after_frr_restart");
    lab.wait_both_established();
    let (v4, v6) = (net("10.99.0.10/32"), net("fd00:99::10/128"));
    lab.herald.announce(v4, RouteAttributes::default());
    lab.herald.announce(v6, RouteAttributes::default());
    lab.wait_path(v4);
    lab.wait_path(v6);

    let killed = Instant::now();
    lab.frr.kill_bgpd();
    for peer in [IpAddr::from(ROUTER4), ROUTER6.into()] {
        lab.herald.wait_event(
            killed,
            SETTLE,
            &format!("Herald notices {peer} is gone"),
            |e| e.peer == peer && e.previous == SessionState::Established,
        );
    }
    lab.frr.start_bgpd();
    let restarted = Instant::now();
    lab.wait_both_established();
    lab.wait_path(v4);
    lab.wait_path(v6);
    lab.wait_fib(v4);
    println!(
        "bgpd restart -> both sessions back and routes re-announced in {:?} (bgpd down for {:?})",
        restarted.elapsed(),
        restarted - killed
    );
    assert_eq!(
        lab.frr.neighbor(NODE4.into())["connectionsEstablished"],
        1,
        "fresh bgpd"
    );
}

#[test]
fn frozen_frr_expires_herald_hold_timer() {
    let options = FrrOptions {
        neighbor_options: vec!["timers 1 3".into()],
        ..FrrOptions::default()
    };
    let lab = Lab::new(
        "frozen_frr_expires_herald_hold_timer",
        options,
        NODE_AS,
        |peer| {
            peer.hold_time = 3;
        },
    );
    lab.wait_both_established();
    for peer in [IpAddr::from(ROUTER4), ROUTER6.into()] {
        lab.herald.wait_established(peer, SETTLE);
        assert_eq!(lab.herald.peer_stats(peer).hold_time, Some(3));
    }
    assert_eq!(
        lab.frr.neighbor(NODE4.into())["bgpTimerHoldTimeMsecs"],
        3000
    );

    let frozen = Instant::now();
    lab.frr.bgpd().freeze();
    let mut expiries = vec![];
    for peer in [IpAddr::from(ROUTER4), ROUTER6.into()] {
        let (at, event) = lab.herald.wait_event(
            frozen,
            Duration::from_secs(30),
            &format!("Herald's session with {peer} leaves Established"),
            |e| e.peer == peer && e.previous == SessionState::Established,
        );
        expiries.push((peer, at - frozen, event));
    }
    lab.frr.bgpd().thaw();
    for (peer, elapsed, event) in expiries {
        println!(
            "hold timer (3 s negotiated) expired for {peer} {elapsed:?} after SIGSTOP: {event:?}"
        );
        let reason = event.reason.clone().unwrap_or_default().to_lowercase();
        assert!(
            reason.contains("hold"),
            "reason names the hold timer: {event:?}"
        );
        assert!(
            elapsed < Duration::from_secs(9),
            "within 3 x hold time: {elapsed:?}"
        );
    }
}

#[test]
fn graceful_shutdown_sends_cease_and_frr_drops_routes_at_once() {
    let lab = Lab::default("graceful_shutdown_sends_cease_and_frr_drops_routes_at_once");
    lab.wait_both_established();
    let (v4, v6) = (net("10.99.0.10/32"), net("fd00:99::10/128"));
    lab.herald.announce(v4, RouteAttributes::default());
    lab.herald.announce(v6, RouteAttributes::default());
    lab.wait_fib(v4);
    lab.wait_fib(v6);

    let start = Instant::now();
    lab.herald.shutdown();
    let returned = start.elapsed();
    lab.wait_gone(v4);
    lab.wait_gone(v6);
    println!(
        "shutdown() returned after {returned:?}; routes gone from RIB and FIB after {:?}",
        start.elapsed()
    );
    for node in [IpAddr::from(NODE4), NODE6.into()] {
        let neighbor = wait_until(SETTLE, &format!("FRR records why {node} went down"), || {
            let n = lab.frr.neighbor(node);
            n["lastNotificationReason"].is_string().then_some(n)
        });
        assert_ne!(neighbor["bgpState"], "Established", "{neighbor}");
        assert_eq!(
            neighbor["lastNotificationReason"], "Cease/Administrative Shutdown",
            "{neighbor}"
        );
        assert_eq!(
            neighbor["lastResetDueTo"], "BGP Notification received",
            "{neighbor}"
        );
    }
    let log = lab.frr.bgpd_log();
    assert!(
        log.contains("6/2 (Cease/Administrative Shutdown)"),
        "bgpd log:\n{log}"
    );
}

#[test]
fn announcing_and_withdrawing_while_established_does_not_reset_the_session() {
    let lab =
        Lab::default("announcing_and_withdrawing_while_established_does_not_reset_the_session");
    lab.wait_both_established();
    let first = net("10.99.0.1/32");
    lab.herald.announce(first, RouteAttributes::default());
    lab.wait_path(first);
    let before: Vec<Value> = [IpAddr::from(NODE4), NODE6.into()]
        .map(|n| lab.frr.neighbor(n))
        .into();

    let more4: Vec<IpNet> = (2..=50).map(|i| net(&format!("10.99.0.{i}/32"))).collect();
    let more6: Vec<IpNet> = (1..=50)
        .map(|i| net(&format!("fd00:99::{i:x}/128")))
        .collect();
    for prefix in more4.iter().chain(&more6) {
        lab.herald.announce(*prefix, RouteAttributes::default());
    }
    wait_until(SETTLE, "FRR holds all 50 + 50 prefixes", || {
        (lab.frr.rib(false).len() == 50 && lab.frr.rib(true).len() == 50).then_some(())
    });
    // Withdraw the even-numbered half of each family: 10.99.0.2, .4, ... and fd00:99::2, ...
    for i in (2..=50).step_by(2) {
        lab.herald.withdraw(net(&format!("10.99.0.{i}/32")));
        lab.herald.withdraw(net(&format!("fd00:99::{i:x}/128")));
    }
    wait_until(
        SETTLE,
        "FRR holds 25 + 25 prefixes after the withdraws",
        || (lab.frr.rib(false).len() == 25 && lab.frr.rib(true).len() == 25).then_some(()),
    );
    assert!(
        lab.frr.paths(net("10.99.0.1/32")).len() == 1
            && lab.frr.paths(net("10.99.0.2/32")).is_empty()
    );

    for (node, before) in [IpAddr::from(NODE4), NODE6.into()].into_iter().zip(before) {
        let after = lab.frr.neighbor(node);
        assert_eq!(after["bgpState"], "Established", "{after}");
        assert_eq!(after["connectionsEstablished"], 1, "{after}");
        assert_eq!(after["connectionsDropped"], 0, "{after}");
        // FRR derives this epoch from its uptime in whole seconds: it may move by one.
        let (epoch_before, epoch_after) = (
            before["bgpTimerUpEstablishedEpoch"]
                .as_i64()
                .unwrap_or_default(),
            after["bgpTimerUpEstablishedEpoch"]
                .as_i64()
                .unwrap_or_default(),
        );
        assert!((epoch_after - epoch_before).abs() <= 1, "{before}\n{after}");
        let (up_before, up_after) = (
            before["bgpTimerUpMsec"].as_u64(),
            after["bgpTimerUpMsec"].as_u64(),
        );
        assert!(
            up_after >= up_before,
            "uptime went on: {up_before:?} -> {up_after:?}"
        );
    }
    let stats4 = lab.herald.peer_stats(ROUTER4.into());
    assert_eq!(stats4.prefixes_sent, 25, "{stats4:?}");
    let stats6 = lab.herald.peer_stats(ROUTER6.into());
    assert_eq!(stats6.prefixes_sent, 25, "{stats6:?}");
    let drops = lab
        .herald
        .events()
        .into_iter()
        .filter(|(_, e)| e.previous == SessionState::Established)
        .count();
    assert_eq!(drops, 0, "Herald reported a session leaving Established");
}

#[test]
fn extended_messages_negotiated_with_frr_carry_a_large_table_in_few_updates() {
    const ROUTES: u32 = 20_000;
    let topology = Topology::new("extended_messages_with_frr");
    let frr = Frr::start(&topology, FrrOptions::default());
    let herald = Herald::start(&topology);
    // The table is there before the session, so it goes out as one full table.
    for prefix in host_routes(ROUTES) {
        herald.announce(prefix, RouteAttributes::default());
    }
    herald.add_both_peers(NODE_AS, |_| {});
    let lab = Lab {
        herald,
        frr,
        topology,
    };
    lab.wait_both_established();
    let neighbor = lab.frr.neighbor(NODE4.into());
    assert_eq!(
        neighbor["neighborCapabilities"]["extendedMessage"], "advertisedAndReceived",
        "FRR sees RFC 8654 both ways: {}",
        neighbor["neighborCapabilities"]
    );
    wait_until(
        Duration::from_secs(120),
        &format!("FRR holds the {ROUTES} routes from the node"),
        || (lab.frr.prefixes_received(NODE4.into()) == Some(u64::from(ROUTES))).then_some(()),
    );
    let stats = &lab.frr.neighbor(NODE4.into())["messageStats"];
    let updates = stats["updatesRecv"].as_u64().expect("updatesRecv");
    println!("FRR received {ROUTES} /32s in {updates} UPDATEs (End-of-RIB included): {stats}");
    // 20,000 /32s are 100,000 octets of NLRI: 2 UPDATEs of up to 65,535 octets and the
    // End-of-RIB. With 4,096-octet messages they take 25.
    assert!(updates <= 4, "{updates} UPDATEs: {stats}");
    let sent = lab.herald.peer_stats(ROUTER4.into()).updates_sent;
    assert!(sent <= 4, "Herald sent {sent} UPDATEs");
    assert_eq!(lab.frr.neighbor_state(NODE4.into()), "Established");
}
