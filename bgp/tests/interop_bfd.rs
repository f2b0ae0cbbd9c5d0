//! Herald's BFD (RFC 5880/5881) against FRR 8.4 bfdd, tied to BGP sessions with bgpd, in
//! network namespaces built per test. Needs root and the `frr` package; see
//! `bgp/tests/support/mod.rs` for the topology.
//!
//! Both directions of detection: Herald frozen (a separate process, SIGSTOP) -> FRR takes
//! the route out of its FIB within BFD time; FRR's bfdd frozen -> Herald ends the BGP
//! session with Cease/BFD Down. Timing figures are printed; the assertions only hold them
//! against the BGP hold time with a wide margin (the CI machine is small and busy).
#![allow(clippy::unwrap_used)] // a panic in a test is the failure report

mod support;

use bgp::{BfdTimers, PeerConfig, RouteAttributes, SessionState, Speaker, SpeakerConfig, bfd};
use ipnet::IpNet;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use support::daemon::Daemon;
use support::frr::{Frr, FrrBfd, FrrOptions};
use support::herald::Herald;
use support::{NODE_AS, NODE4, NODE6, ROUTER_AS, ROUTER4, Topology, fib, wait_until};

const SETTLE: Duration = Duration::from_secs(30);
/// FRR's default hold time: what a frozen peer costs without BFD.
const HOLD: Duration = Duration::from_secs(90);
/// Failure detection must beat the hold time by at least this factor, on any machine.
const MARGIN: u32 = 10;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn herald_bfd(tx_ms: u64, mult: u8) -> BfdTimers {
    BfdTimers {
        desired_min_tx: ms(tx_ms),
        required_min_rx: ms(tx_ms),
        detect_mult: mult,
    }
}

fn frr_bfd(interval_ms: u32, multiplier: u8) -> FrrOptions {
    FrrOptions {
        bfd: Some(FrrBfd {
            transmit_ms: interval_ms,
            receive_ms: interval_ms,
            multiplier,
        }),
        // FRR retries its own connection every second, so tests do not wait 120 s.
        neighbor_options: vec!["timers connect 1".into()],
        ..FrrOptions::default()
    }
}

fn frr_bfd_up(frr: &Frr, peer: IpAddr) -> bool {
    frr.bfd_peer(peer)
        .is_some_and(|p| p["status"].as_str() == Some("up"))
}

fn herald_bfd_state(herald: &Herald, peer: IpAddr) -> Option<bfd::State> {
    herald.peer_stats(peer).bfd.map(|b| b.state)
}

#[test]
fn frr_bfdd_and_herald_come_up_and_both_transmit_at_the_slower_sides_interval() {
    let topology = Topology::new("bfd_up_negotiated");
    let frr = Frr::start(&topology, frr_bfd(100, 3));
    let herald = Herald::start(&topology);
    herald.add_both_peers(NODE_AS, |peer| peer.bfd = Some(herald_bfd(20, 3)));
    for (node, router) in [
        (IpAddr::from(NODE4), IpAddr::from(ROUTER4)),
        (NODE6.into(), support::router_addr(true)),
    ] {
        wait_until(
            SETTLE,
            &format!("FRR's BFD session with {node} is up"),
            || frr_bfd_up(&frr, node).then_some(()),
        );
        wait_until(
            SETTLE,
            &format!("Herald's BFD session with {router} is Up"),
            || (herald_bfd_state(&herald, router) == Some(bfd::State::Up)).then_some(()),
        );
        herald.wait_established(router, SETTLE);
        frr.wait_established(node, SETTLE);
        // Herald asked for 20 ms, FRR for 100 ms: the slower side sets the pace both ways
        // (RFC 5880 sections 6.8.2 and 6.8.4), once the Poll Sequence after Up is over.
        // Each side's transmit interval applies at once, the receive side and detection time
        // once the other's Poll Sequence is answered; and FRR 8.4's bgpd re-registers its
        // BFD session when the BGP session comes up (new source address), which may restart
        // it. So wait for both sides settled, then look. (No flap count here for that
        // reason.)
        let (status, peer) = wait_until(SETTLE, "both sides settled at 100 ms", || {
            both_sides_at(&herald, &frr, router, node, ms(100))
                .filter(|(status, _)| status.negotiated.detection_time == ms(300))
        });
        println!("Herald's BFD with {router}: {status:?}");
        println!("FRR's BFD with {node}: {peer}");
        // What FRR heard from Herald: 20 ms asked for both ways, multiplier 3.
        assert_eq!(peer["remote-receive-interval"].as_u64(), Some(20));
        assert_eq!(peer["remote-transmit-interval"].as_u64(), Some(20));
        assert_eq!(peer["remote-detect-multiplier"].as_u64(), Some(3));
        assert_eq!(
            peer["remote-id"].as_u64(),
            Some(u64::from(status.local_discriminator))
        );
    }
}

/// Herald's and FRR's views of their BFD session once both are up and Herald's runs at
/// `interval` both ways.
fn both_sides_at(
    herald: &Herald,
    frr: &Frr,
    router: IpAddr,
    node: IpAddr,
    interval: Duration,
) -> Option<(bfd::BfdStatus, serde_json::Value)> {
    let status = herald.peer_stats(router).bfd?;
    let peer = frr.bfd_peer(node)?;
    (status.state == bfd::State::Up
        && status.negotiated.tx_interval == interval
        && status.negotiated.rx_interval == interval
        && peer["status"] == "up")
        .then_some((status, peer))
}

/// BGP and BFD up on both sides of the IPv4 session.
fn all_up(frr: &Frr, herald: &Herald) -> bool {
    let router = IpAddr::from(ROUTER4);
    frr_bfd_up(frr, NODE4.into())
        && herald_bfd_state(herald, router) == Some(bfd::State::Up)
        && herald.peer_stats(router).state == SessionState::Established
        && frr.is_established(NODE4.into())
}

/// FRR (bfdd at 100 ms x 3) and Herald peering over IPv4 with BFD at 100 ms x 3, all up.
/// FRR restarts its BFD session right after BGP comes up (see the first test), which can
/// take the BGP session down once more: that is let pass (settling, not a measure), then
/// everything is up again.
fn settled_pair(name: &str) -> (Topology, Frr, Herald, PeerConfig) {
    let topology = Topology::new(name);
    let frr = Frr::start(&topology, frr_bfd(100, 3));
    let herald = Herald::start(&topology);
    let router = IpAddr::from(ROUTER4);
    let mut config = Herald::peer_config(false, NODE_AS);
    config.bfd = Some(herald_bfd(100, 3));
    herald.add_peer(config.clone());
    wait_until(SETTLE, "both BFD sessions up", || {
        (frr_bfd_up(&frr, NODE4.into())
            && herald_bfd_state(&herald, router) == Some(bfd::State::Up))
        .then_some(())
    });
    herald.wait_established(router, SETTLE);
    std::thread::sleep(Duration::from_secs(2));
    wait_until(SETTLE, "BGP and BFD up on both sides", || {
        all_up(&frr, &herald).then_some(())
    });
    (topology, frr, herald, config)
}

/// A BFD change alone never makes Herald reset the BGP session: new timers go through a
/// Poll Sequence (FRR hears them, both sides agree on the slower) under the running
/// session; BFD stopped shows FRR AdminDown; BFD started again comes Up under the running
/// session. (FRR 8.4's bgpd resets the session itself when its BFD peer goes AdminDown,
/// which RFC 5882 section 4.2 says it should not; the test expects that one reset, from
/// FRR's side only.)
#[test]
fn bfd_retimed_stopped_and_started_again_under_a_running_bgp_session() {
    let (_topology, frr, herald, mut config) = settled_pair("bfd_live_change");
    let router = IpAddr::from(ROUTER4);
    let node = IpAddr::from(NODE4);
    let up = || all_up(&frr, &herald);
    let unchanged_since = |since: Instant, established: Option<Instant>| {
        let stats = herald.peer_stats(router);
        assert_eq!(
            stats.established_since, established,
            "the BGP session was reset: {stats:?}"
        );
        let changes: Vec<_> = herald
            .events()
            .into_iter()
            .filter(|(at, event)| *at >= since && event.peer == router)
            .collect();
        assert!(changes.is_empty(), "session state changed: {changes:?}");
    };

    // Slower: 300 ms x 3. The slower side sets the pace both ways (FRR's JSON shows its
    // configured intervals and what it heard from us).
    let established = herald.peer_stats(router).established_since;
    let retimed = Instant::now();
    config.bfd = Some(herald_bfd(300, 3));
    herald.update_peer(config.clone());
    let (status, peer) = wait_until(SETTLE, "both sides agree on 300 ms", || {
        both_sides_at(&herald, &frr, router, node, ms(300)).filter(|(_, peer)| {
            peer["remote-transmit-interval"].as_u64() == Some(300)
                && peer["remote-receive-interval"].as_u64() == Some(300)
        })
    });
    println!("retimed: Herald {status:?}; FRR {peer}");
    // FRR's multiplier (3) x the slower of its 100 ms and our 300 ms.
    assert_eq!(status.negotiated.detection_time, ms(900));
    unchanged_since(retimed, established);

    // Stopped: FRR hears AdminDown (diagnostic 7, RFC 5880 section 6.8.16).
    let stopped = Instant::now();
    config.bfd = None;
    herald.update_peer(config.clone());
    let peer = wait_until(SETTLE, "FRR's BFD session down on our AdminDown", || {
        let peer = frr.bfd_peer(node)?;
        (peer["status"] == "down" && peer["remote-diagnostic"] == "administratively down")
            .then_some(peer)
    });
    println!("stopped: FRR {peer}");
    assert_eq!(herald.peer_stats(router).bfd, None);
    // FRR 8.4 resets the session on that AdminDown (its Cease/BFD Down), and it comes back.
    // Waited for, so that reset cannot land in the next step.
    wait_until(SETTLE, "FRR's reset over: BGP Established again", || {
        let reset = herald.events().into_iter().any(|(at, event)| {
            at >= stopped
                && event.peer == router
                && event.reason.as_deref() == Some("received NOTIFICATION Cease/BFD Down")
        });
        let stats = herald.peer_stats(router);
        (reset
            && stats.state == SessionState::Established
            && stats.established_since != established
            && frr.is_established(node))
        .then_some(())
    });
    let sent: Vec<_> = herald
        .events()
        .into_iter()
        .filter(|(at, event)| {
            *at >= stopped
                && event.peer == router
                && event
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("sent"))
        })
        .collect();
    assert!(sent.is_empty(), "Herald closed the session: {sent:?}");

    // Started again: Up with the first timers, under the running session.
    let established = herald.peer_stats(router).established_since;
    let started = Instant::now();
    config.bfd = Some(herald_bfd(100, 3));
    herald.update_peer(config);
    wait_until(SETTLE, "BFD up again on both sides", || up().then_some(()));
    unchanged_since(started, established);
}

#[test]
fn herald_ends_the_bgp_session_with_cease_bfd_down_when_frr_bfdd_freezes_and_recovers_after() {
    let (_topology, frr, herald, _) = settled_pair("bfd_frr_frozen");
    let router = IpAddr::from(ROUTER4);
    let flaps_before = herald.peer_stats(router).bfd.unwrap().flaps;

    let frozen_at = Instant::now();
    frr.bfdd().freeze();
    let (left_at, event) = herald.wait_event(
        frozen_at,
        SETTLE,
        "Herald's session leaves Established",
        |e| e.peer == router && e.previous == SessionState::Established,
    );
    let took = left_at - frozen_at;
    println!("bfdd frozen -> Herald closed the BGP session after {took:?}: {event:?}");
    assert_eq!(
        event.reason.as_deref(),
        Some("sent NOTIFICATION Cease/BFD Down")
    );
    assert!(took < HOLD / MARGIN, "{took:?}");
    let status = herald.peer_stats(router).bfd.unwrap();
    assert_eq!(status.state, bfd::State::Down);
    assert_eq!(status.local_diag, bfd::Diag::CONTROL_DETECTION_TIME_EXPIRED);
    assert_eq!(status.flaps, flaps_before + 1);
    // bgpd got the NOTIFICATION: code 6 (Cease), subcode 10 (BFD Down).
    wait_until(SETTLE, "bgpd logs Cease/10 from Herald", || {
        frr.bgpd_log()
            .lines()
            .any(|l| l.contains("received from neighbor 172.30.0.2") && l.contains(" 6/10"))
            .then_some(())
    });

    frr.bfdd().thaw();
    wait_until(SETTLE, "BFD back Up on both sides", || {
        (frr_bfd_up(&frr, NODE4.into())
            && herald_bfd_state(&herald, router) == Some(bfd::State::Up))
        .then_some(())
    });
    herald.wait_established(router, SETTLE);
    frr.wait_established(NODE4.into(), SETTLE);
    let stats = herald.peer_stats(router);
    assert_eq!(stats.state, SessionState::Established);
    println!("after thaw: {:?}", stats.bfd);
}

/// The environment variable that makes [`child_speaker`] run (in the node namespace).
const CHILD: &str = "HERALD_BFD_CHILD";
const SERVICE: &str = "10.99.0.10/32";

/// Not a test: the separate process that `frr_removes_the_route_when_the_herald_process_freezes`
/// starts and freezes. It runs a Speaker with BFD at `HERALD_BFD_CHILD` ms x 3 to the
/// router and announces [`SERVICE`] until it is killed.
#[test]
#[ignore = "helper process of the interop_bfd tests, started by them"]
fn child_speaker() {
    let Ok(interval) = std::env::var(CHILD) else {
        return;
    };
    let interval: u64 = interval.parse().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let speaker = Speaker::try_new(SpeakerConfig::default()).unwrap();
        let mut peer = PeerConfig::new(ROUTER4.into(), NODE_AS, ROUTER_AS, NODE4);
        peer.connect_retry = Duration::from_secs(1);
        peer.bfd = Some(herald_bfd(interval, 3));
        speaker.add_peer(peer).await.unwrap();
        speaker.announce(SERVICE.parse().unwrap(), RouteAttributes::default());
        std::future::pending::<()>().await;
    });
}

fn start_child(topology: &Topology, interval_ms: u64, log: &std::path::Path) -> Daemon {
    let exe = std::env::current_exe().unwrap().display().to_string();
    let interval = interval_ms.to_string();
    Daemon::spawn_with_env(
        &topology.node,
        "herald-child",
        &exe,
        &["--exact", "child_speaker", "--ignored", "--nocapture"],
        &[(CHILD, interval.as_str())],
        log,
    )
}

#[test]
fn frr_removes_the_route_within_bfd_time_when_the_herald_process_freezes() {
    let topology = Topology::new("bfd_herald_frozen");
    let frr = Frr::start(&topology, frr_bfd(20, 3));
    let log = frr.dir().join("herald-child.out");
    let mut child = start_child(&topology, 20, &log);
    let service: IpNet = SERVICE.parse().unwrap();
    wait_until(SETTLE, "the router's FIB holds the service route", || {
        child.assert_running();
        fib::route(&topology.router, service).filter(|r| fib::protocol(r).as_deref() == Some("bgp"))
    });
    wait_until(SETTLE, "FRR's BFD session with Herald is up", || {
        frr_bfd_up(&frr, NODE4.into()).then_some(())
    });
    // Past FRR's restart of its BFD session after BGP came up (settling, not a measure).
    std::thread::sleep(Duration::from_secs(2));
    wait_until(SETTLE, "route and BFD session in place", || {
        (frr_bfd_up(&frr, NODE4.into()) && fib::route(&topology.router, service).is_some())
            .then_some(())
    });

    let frozen_at = Instant::now();
    child.freeze();
    wait_until(HOLD / 2, "the route leaves the router's FIB", || {
        fib::route(&topology.router, service)
            .is_none()
            .then_some(())
    });
    let took = frozen_at.elapsed();
    println!(
        "Herald frozen -> route out of FRR's FIB after {took:?} (BFD 20 ms x 3, hold {HOLD:?})"
    );
    assert!(took < HOLD / MARGIN, "{took:?}");
    let peer = frr.bfd_peer(NODE4.into()).unwrap();
    assert_eq!(peer["status"].as_str(), Some("down"), "{peer}");
    assert_ne!(frr.neighbor_state(NODE4.into()), "Established");

    child.thaw();
    wait_until(SETTLE, "the route is back once Herald runs again", || {
        child.assert_running();
        fib::route(&topology.router, service).filter(|r| fib::protocol(r).as_deref() == Some("bgp"))
    });
    child.stop();
}

#[test]
fn ebgp_multihop_peers_run_multihop_bfd_with_frr() {
    let topology = Topology::new("bfd_multihop");
    let mut options = frr_bfd(100, 3);
    options.neighbor_options.push("ebgp-multihop 2".into());
    let frr = Frr::start(&topology, options);
    let herald = Herald::start(&topology);
    let router = IpAddr::from(ROUTER4);
    let mut config = Herald::peer_config(false, NODE_AS);
    config.ebgp_multihop = Some(2);
    config.bfd = Some(herald_bfd(100, 3));
    herald.add_peer(config);
    wait_until(SETTLE, "multihop BFD up on both sides", || {
        (frr_bfd_up(&frr, NODE4.into())
            && herald_bfd_state(&herald, router) == Some(bfd::State::Up))
        .then_some(())
    });
    let peer = frr.bfd_peer(NODE4.into()).unwrap();
    println!("FRR's multihop BFD with {NODE4}: {peer}");
    assert_eq!(peer["multihop"].as_bool(), Some(true), "{peer}");
    let status = herald.peer_stats(router).bfd.unwrap();
    assert!(status.multihop);
    herald.wait_established(router, SETTLE);
}

/// A speaker that restarts gracefully (a DaemonSet upgrade) also takes its BFD sessions
/// down: they send AdminDown (RFC 5880 section 6.8.16), which RFC 5882 section 3.2 says is
/// not a failure. FRR, the graceful-restart helper, must keep the routes then, as it does
/// without BFD, until the new process has sent them again.
#[test]
fn a_graceful_restart_with_bfd_keeps_the_routes_in_frr() {
    let topology = Topology::new("bfd_graceful_restart");
    let frr = Frr::start(&topology, frr_bfd(100, 3));
    let prefix: IpNet = "10.99.0.30/32".parse().unwrap();
    let with_both = |peer: &mut PeerConfig| {
        peer.bfd = Some(herald_bfd(100, 3));
        peer.graceful_restart = Some(120);
    };
    let first = Herald::start(&topology);
    first.announce(prefix, RouteAttributes::default());
    first.add_both_peers(NODE_AS, with_both);
    let node: IpAddr = NODE4.into();
    frr.wait_established(node, SETTLE);
    wait_until(SETTLE, "FRR's BFD session with the node is up", || {
        frr_bfd_up(&frr, node).then_some(())
    });
    wait_until(SETTLE, "the route in FRR's FIB", || {
        fib::route(&topology.router, prefix).map(|_| ())
    });

    first.shutdown_for_restart();
    drop(first);
    wait_until(SETTLE, "FRR's BFD session with the node goes down", || {
        (!frr_bfd_up(&frr, node)).then_some(())
    });
    wait_until(SETTLE, "FRR sees the BGP session go down", || {
        (!frr.is_established(node)).then_some(())
    });
    // Both downs processed: the route is still there, stale, and in the FIB.
    let path = wait_until(SETTLE, "FRR marks the route stale", || {
        frr.paths(prefix).into_iter().find(|p| p["stale"] == true)
    });
    println!("after BFD and BGP went down: {path}");
    std::thread::sleep(Duration::from_millis(500)); // past BFD detection (300 ms) again
    assert!(
        !frr.paths(prefix).is_empty(),
        "FRR dropped the route when BFD went down"
    );
    assert!(
        fib::route(&topology.router, prefix).is_some(),
        "the FIB lost the route"
    );

    let second = Herald::start(&topology);
    second.announce(prefix, RouteAttributes::default());
    second.add_both_peers(NODE_AS, with_both);
    frr.wait_established(node, SETTLE);
    wait_until(SETTLE, "the route fresh again", || {
        frr.paths(prefix).into_iter().find(|p| p["stale"] != true)
    });
}
