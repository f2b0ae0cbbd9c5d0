//! Herald's Speaker against FRR 8.4, the protocol details around the announcements:
//! routes FRR sends (decoded, counted, dropped), ROUTE-REFRESH, passive sessions and
//! connection collisions with a listening Herald. Needs root and the `frr` package.

mod support;

use bgp::{RouteAttributes, SessionState, SpeakerConfig};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use support::frr::{Frr, FrrOptions};
use support::herald::Herald;
use support::{NODE_AS, NODE4, NODE6, ROUTER4, ROUTER6, Topology, holds_for, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

#[allow(clippy::needless_update)] // SpeakerConfig may grow fields
fn listen_any() -> SpeakerConfig {
    SpeakerConfig {
        listen: Some(SocketAddr::from(([0u16; 8], 179))),
        ..SpeakerConfig::default()
    }
}

/// FRR's neighbor message counter `name` (e.g. "updatesRecv").
fn message_count(frr: &Frr, node: IpAddr, name: &str) -> u64 {
    frr.neighbor(node)["messageStats"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("FRR has no messageStats.{name} for {node}"))
}

#[test]
fn routes_frr_sends_are_counted_and_dropped() {
    let topology = Topology::new("routes_frr_sends_are_counted_and_dropped");
    let frr = Frr::start(&topology, FrrOptions::default());
    let herald = Herald::start(&topology);
    herald.add_default_peers();
    frr.wait_established(NODE4.into(), SETTLE);
    frr.wait_established(NODE6.into(), SETTLE);
    // Originate one route per family on FRR (without a matching IGP route).
    frr.configure_bgp(&[
        "no bgp network import-check",
        "address-family ipv4 unicast",
        "network 192.0.2.0/24",
        "exit-address-family",
        "address-family ipv6 unicast",
        "network 2001:db8:1::/48",
        "exit-address-family",
    ]);
    for peer in [IpAddr::from(ROUTER4), ROUTER6.into()] {
        let stats = wait_until(
            SETTLE,
            &format!("Herald counts FRR's route on {peer}"),
            || {
                let stats = herald.peer_stats(peer);
                (stats.prefixes_received == 1).then_some(stats)
            },
        );
        assert_eq!(stats.state, SessionState::Established, "{stats:?}");
        assert!(stats.updates_received >= 1, "{stats:?}");
    }
    // Withdrawn on FRR: Herald's count goes back to zero, the sessions stay.
    frr.configure_bgp(&[
        "address-family ipv4 unicast",
        "no network 192.0.2.0/24",
        "exit-address-family",
        "address-family ipv6 unicast",
        "no network 2001:db8:1::/48",
        "exit-address-family",
    ]);
    for peer in [IpAddr::from(ROUTER4), ROUTER6.into()] {
        wait_until(
            SETTLE,
            &format!("Herald's count for {peer} drops to 0"),
            || (herald.peer_stats(peer).prefixes_received == 0).then_some(()),
        );
    }
    for node in [IpAddr::from(NODE4), NODE6.into()] {
        let neighbor = frr.neighbor(node);
        assert_eq!(neighbor["bgpState"], "Established", "{neighbor}");
        assert_eq!(neighbor["connectionsDropped"], 0, "{neighbor}");
    }
}

#[test]
fn route_refresh_from_frr_gets_herald_routes_again() {
    let topology = Topology::new("route_refresh_from_frr_gets_herald_routes_again");
    let frr = Frr::start(&topology, FrrOptions::default());
    let herald = Herald::start(&topology);
    herald.add_default_peers();
    frr.wait_established(NODE4.into(), SETTLE);
    frr.wait_established(NODE6.into(), SETTLE);
    let prefixes = [net("10.99.0.10/32"), net("fd00:99::10/128")];
    for prefix in prefixes {
        herald.announce(prefix, RouteAttributes::default());
    }
    for prefix in prefixes {
        wait_until(SETTLE, &format!("FRR holds {prefix}"), || {
            frr.paths(prefix).into_iter().next()
        });
    }
    for (node, family) in [(IpAddr::from(NODE4), "ipv4"), (NODE6.into(), "ipv6")] {
        let neighbor = frr.neighbor(node);
        let advertised = &neighbor["neighborCapabilities"]["routeRefresh"];
        assert!(
            advertised.as_str().is_some_and(|s| s.contains("Received")),
            "Herald advertises route refresh (RFC 2918): {advertised}"
        );
        let updates_before = message_count(&frr, node, "updatesRecv");
        frr.vtysh(&[&format!("clear bgp {family} unicast {node} soft in")]);
        wait_until(SETTLE, &format!("FRR sent ROUTE-REFRESH to {node}"), || {
            (message_count(&frr, node, "routeRefreshSent") >= 1).then_some(())
        });
        wait_until(
            SETTLE,
            &format!("Herald answers {node}'s refresh with UPDATEs"),
            || (message_count(&frr, node, "updatesRecv") > updates_before).then_some(()),
        );
        let after = frr.neighbor(node);
        assert_eq!(after["bgpState"], "Established", "{after}");
        assert_eq!(after["connectionsDropped"], 0, "{after}");
    }
    for prefix in prefixes {
        assert_eq!(
            frr.paths(prefix).len(),
            1,
            "{prefix} still there after the refresh"
        );
    }
}

#[test]
fn passive_herald_accepts_frr_connections() {
    let topology = Topology::new("passive_herald_accepts_frr_connections");
    // Herald listens first; FRR retries its connects every second.
    let herald = Herald::start_with(&topology, listen_any());
    herald.add_both_peers(NODE_AS, |peer| peer.passive = true);
    let options = FrrOptions {
        neighbor_options: vec!["timers connect 1".into()],
        ..FrrOptions::default()
    };
    let frr = Frr::start(&topology, options);
    frr.wait_established(NODE4.into(), SETTLE);
    frr.wait_established(NODE6.into(), SETTLE);
    for node in [IpAddr::from(NODE4), NODE6.into()] {
        let neighbor = frr.neighbor(node);
        assert_eq!(
            neighbor["portForeign"], 179,
            "FRR connected to Herald's port: {neighbor}"
        );
    }
    let prefixes = [net("10.99.0.10/32"), net("fd00:99::10/128")];
    for prefix in prefixes {
        herald.announce(prefix, RouteAttributes::default());
    }
    for prefix in prefixes {
        wait_until(SETTLE, &format!("FRR holds {prefix}"), || {
            frr.paths(prefix).into_iter().next()
        });
    }
}

#[test]
fn herald_and_frr_connecting_both_ways_end_with_one_working_session() {
    let topology =
        Topology::new("herald_and_frr_connecting_both_ways_end_with_one_working_session");
    let herald = Herald::start_with(&topology, listen_any());
    let options = FrrOptions {
        neighbor_options: vec!["timers connect 1".into()],
        ..FrrOptions::default()
    };
    let frr = Frr::start(&topology, options);
    // Both sides connect at about the same time: RFC 4271 6.8 collision resolution.
    herald.add_default_peers();
    frr.wait_established(NODE4.into(), SETTLE);
    frr.wait_established(NODE6.into(), SETTLE);
    holds_for(
        Duration::from_secs(3),
        "both sessions staying Established",
        || {
            for node in [IpAddr::from(NODE4), NODE6.into()] {
                let state = frr.neighbor_state(node);
                if state != "Established" {
                    return Err(format!("FRR shows {node} {state}"));
                }
            }
            Ok(())
        },
    );
    for peer in [IpAddr::from(ROUTER4), ROUTER6.into()] {
        assert_eq!(herald.peer_stats(peer).state, SessionState::Established);
    }
    let prefix = net("10.99.0.10/32");
    herald.announce(prefix, RouteAttributes::default());
    wait_until(SETTLE, "FRR holds the route", || {
        frr.paths(prefix).into_iter().next()
    });
    for node in [IpAddr::from(NODE4), NODE6.into()] {
        let neighbor = frr.neighbor(node);
        println!(
            "{node}: connectionsEstablished {} connectionsDropped {} lastResetDueTo {}",
            neighbor["connectionsEstablished"],
            neighbor["connectionsDropped"],
            neighbor["lastResetDueTo"]
        );
        assert_eq!(neighbor["bgpState"], "Established", "{neighbor}");
    }
    println!("{}", frr.bgpd_log());
    for e in herald.events() {
        println!("{:?}", e);
    }
}

#[test]
fn gtsm_session_with_frr_ttl_security_establishes() {
    let options = FrrOptions {
        neighbor_options: vec!["ttl-security hops 1".into()],
        ..FrrOptions::default()
    };
    let topology = Topology::new("gtsm_session_with_frr_ttl_security_establishes");
    let frr = Frr::start(&topology, options);
    let herald = Herald::start(&topology);
    herald.add_both_peers(NODE_AS, |peer| peer.gtsm = true);
    frr.wait_established(NODE4.into(), SETTLE);
    frr.wait_established(NODE6.into(), SETTLE);
    let prefix = net("fd00:99::10/128");
    herald.announce(prefix, RouteAttributes::default());
    wait_until(SETTLE, "FRR holds the route", || {
        frr.paths(prefix).into_iter().next()
    });
}

#[test]
fn passive_gtsm_herald_accepts_frr_with_ttl_security() {
    let topology = Topology::new("passive_gtsm_herald_accepts_frr_with_ttl_security");
    let herald = Herald::start_with(&topology, listen_any());
    herald.add_both_peers(NODE_AS, |peer| {
        peer.passive = true;
        peer.gtsm = true;
    });
    let options = FrrOptions {
        neighbor_options: vec!["ttl-security hops 1".into(), "timers connect 1".into()],
        ..FrrOptions::default()
    };
    let frr = Frr::start(&topology, options);
    frr.wait_established(NODE4.into(), SETTLE);
    frr.wait_established(NODE6.into(), SETTLE);
}

#[test]
fn graceful_restart_keeps_routes_in_frr_while_herald_restarts() {
    let topology = Topology::new("graceful_restart_keeps_routes_in_frr_while_herald_restarts");
    // FRR 8.4 is a graceful-restart helper by default.
    let frr = Frr::start(&topology, FrrOptions::default());
    let (keep4, keep6) = (net("10.99.0.10/32"), net("fd00:99::10/128"));
    let (drop4, drop6) = (net("10.99.0.11/32"), net("fd00:99::11/128"));
    let with_restart = |peer: &mut bgp::PeerConfig| peer.graceful_restart = Some(120);

    let first = Herald::start(&topology);
    first.add_both_peers(NODE_AS, with_restart);
    for prefix in [keep4, keep6, drop4, drop6] {
        first.announce(prefix, RouteAttributes::default());
    }
    for prefix in [keep4, keep6, drop4, drop6] {
        wait_until(SETTLE, &format!("FRR holds {prefix}"), || {
            frr.paths(prefix).into_iter().next()
        });
    }
    for node in [IpAddr::from(NODE4), NODE6.into()] {
        let capability = &frr.neighbor(node)["neighborCapabilities"]["gracefulRestart"];
        assert!(
            capability.as_str().is_some_and(|s| s.contains("Received")),
            "Herald advertises graceful restart: {capability}"
        );
    }

    first.shutdown_for_restart();
    drop(first);
    for node in [IpAddr::from(NODE4), NODE6.into()] {
        wait_until(SETTLE, &format!("FRR sees {node} go down"), || {
            (!frr.is_established(node)).then_some(())
        });
    }
    // The helper keeps every route, marked stale, while Herald is away.
    for prefix in [keep4, keep6, drop4, drop6] {
        let path = wait_until(SETTLE, &format!("FRR marks {prefix} stale"), || {
            frr.paths(prefix).into_iter().find(|p| p["stale"] == true)
        });
        assert_eq!(path["aspath"]["string"], "64500", "{path}");
    }

    // Herald comes back with only part of its table: the rest goes after End-of-RIB.
    let second = Herald::start(&topology);
    for prefix in [keep4, keep6] {
        second.announce(prefix, RouteAttributes::default());
    }
    second.add_both_peers(NODE_AS, with_restart);
    frr.wait_established(NODE4.into(), SETTLE);
    frr.wait_established(NODE6.into(), SETTLE);
    for prefix in [drop4, drop6] {
        wait_until(
            SETTLE,
            &format!("FRR drops stale {prefix} after End-of-RIB"),
            || frr.paths(prefix).is_empty().then_some(()),
        );
    }
    for prefix in [keep4, keep6] {
        let path = wait_until(SETTLE, &format!("{prefix} is fresh again"), || {
            frr.paths(prefix).into_iter().find(|p| p["stale"] != true)
        });
        assert_eq!(path["valid"], true, "{path}");
    }
}

/// With extended messages negotiated (RFC 8654), FRR sends its table in UPDATEs above
/// 4096 octets; Herald decodes them and keeps the session.
#[test]
fn large_updates_from_frr_with_extended_messages_are_decoded() {
    const ROUTES: u32 = 5_000;
    let topology = Topology::new("large_updates_from_frr");
    let frr = Frr::start(&topology, FrrOptions::default());
    // The table is in FRR's RIB before the session exists, so it goes out whole.
    let networks: Vec<String> = (0..ROUTES)
        .map(|i| format!("network {}/32", std::net::Ipv4Addr::from(0xC633_0000 + i)))
        .collect();
    let mut lines = vec!["no bgp network import-check", "address-family ipv4 unicast"];
    lines.extend(networks.iter().map(String::as_str));
    lines.push("exit-address-family");
    frr.configure_bgp(&lines);
    let herald = Herald::start(&topology);
    herald.add_default_peers();
    frr.wait_established(NODE4.into(), SETTLE);
    let capabilities = &frr.neighbor(NODE4.into())["neighborCapabilities"];
    assert_eq!(
        capabilities["extendedMessage"], "advertisedAndReceived",
        "{capabilities}"
    );
    let stats = wait_until(
        Duration::from_secs(60),
        &format!("Herald counts FRR's {ROUTES} routes"),
        || {
            let stats = herald.peer_stats(ROUTER4.into());
            (stats.prefixes_received == u64::from(ROUTES)).then_some(stats)
        },
    );
    println!(
        "Herald received {ROUTES} /32s from FRR in {} UPDATEs",
        stats.updates_received
    );
    // 5,000 /32s are 25,000 octets of NLRI: at least 7 UPDATEs of 4,096 octets, so fewer
    // means FRR sent larger ones and Herald took them.
    assert!(stats.updates_received < 7, "{stats:?}");
    assert_eq!(stats.state, SessionState::Established, "{stats:?}");
    assert!(stats.last_error.is_none(), "{stats:?}");
    assert_eq!(frr.neighbor(NODE4.into())["connectionsDropped"], 0);
}
