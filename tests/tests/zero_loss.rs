//! Zero lost connections through speaker restarts and node drains, with a steady client
//! (`lab/e2e/steady_client.py`: a new connection every 10 ms, six long ones open at any
//! time) in the client namespace, through the router, to a `Cluster` Service answered by
//! the backends in the node namespaces.
//!
//! 1. A rolling restart of all three speakers with `graceful-restart` on the peers: the
//!    router keeps every route (RFC 4724), no connection fails.
//! 2. A drain (cordon, then SIGTERM): the router prefers the other nodes before the node
//!    withdraws (RFC 8326 on the lab router). Connections the router was sending to the
//!    drained node when it re-routes them (the long ones, and a short one caught in
//!    flight) are reset at that moment — a stateless ECMP router (Linux, FRR) moves a
//!    flow with its next hop, and the node it lands on has no such connection — and
//!    nothing fails at any other moment: not during the drain, not at the withdraw, not
//!    when the speaker exits.
//!    The same for a Service Herald's proxy serves with TLS: the listening sockets go
//!    from the old process to the new one.
//! 3. The same rolling restart without the feature (`--drain-delay 0s`, no graceful
//!    restart), each new speaker started once the old one is gone as a DaemonSet's
//!    default update does: the router loses each node while it restarts, and connections
//!    fail — the harness can see a failure.

use std::time::{Duration, Instant};

use herald_e2e::speaker_binary::Profile;
use herald_e2e::steady::{
    FibWatch, Replace, cluster_service, proxied_tls_service, restart_lab, rolling_restart,
};
use herald_e2e::{Family, Lab};
use herald_testsupport::wait::{ms, wait_until};

const SAFETY: Duration = Duration::from_secs(60);
const PORT: u16 = 80;

#[test]
fn rolling_restart_with_graceful_restart_keeps_every_route_and_every_connection() {
    let lab = restart_lab("zero_loss_restart", Profile::Debug, true, "");
    let address = cluster_service(&lab);
    let dropped = dropped_sessions(&lab);
    let outcome = rolling_restart(&lab, address, PORT, false, Replace::AtOnce);
    println!("{}", outcome.describe("rolling restart, graceful restart"));
    assert_nothing_lost(&lab, address, &outcome, &dropped);
}

/// The same for a Service that Herald's proxy serves with TLS: the new speaker takes the
/// old one's listening sockets, the old one finishes its live connections.
#[test]
fn rolling_restart_of_a_proxied_tls_service_hands_the_listeners_over_and_loses_nothing() {
    let lab = restart_lab("zero_loss_proxy", Profile::Debug, true, "");
    let address = proxied_tls_service(&lab);
    let dropped = dropped_sessions(&lab);
    let outcome = rolling_restart(&lab, address, 443, true, Replace::AtOnce);
    println!("{}", outcome.describe("rolling restart, proxied TLS"));
    assert_nothing_lost(&lab, address, &outcome, &dropped);
}

/// Each node's IPv4 session's drop count at the router.
fn dropped_sessions(lab: &Lab) -> Vec<u64> {
    lab.all_nodes()
        .iter()
        .map(|n| lab.sessions()[&Lab::node_address(*n, Family::Ipv4)].connections_dropped)
        .collect()
}

/// Every session went down and came back (the routes survived a restart, not the absence
/// of one), the router's FIB never changed, and the client lost nothing.
fn assert_nothing_lost(
    lab: &Lab,
    address: std::net::IpAddr,
    outcome: &herald_e2e::steady::Outcome,
    dropped_before: &[u64],
) {
    for (i, node) in lab.all_nodes().into_iter().enumerate() {
        let session = &lab.sessions()[&Lab::node_address(node, Family::Ipv4)];
        assert!(
            session.connections_dropped > dropped_before[i],
            "node{node}'s session never dropped: {session:?}"
        );
        assert!(
            lab.speaker_log(node).contains("graceful restart"),
            "node{node}'s old speaker did not restart gracefully:\n{}",
            lab.speaker_log(node)
        );
    }
    let all = Lab::next_hops(&lab.all_nodes(), address);
    assert_eq!(
        outcome.fib_losses(&all),
        [],
        "the router's FIB lost a node during the restarts"
    );
    assert_eq!(
        outcome.fib.len(),
        1,
        "the router's FIB changed (even a new order moves flows): {:?}",
        outcome.fib
    );
    assert!(outcome.client.attempts > 100, "{:?}", outcome.client);
    assert!(outcome.client.long.finished > 0, "{:?}", outcome.client);
    assert_eq!(outcome.client.failed, 0, "{:?}", outcome.client.failures);
    assert_eq!(
        outcome.client.long.failed, 0,
        "{:?}",
        outcome.client.long.failures
    );
}

#[test]
fn without_graceful_restart_or_drain_a_rolling_restart_loses_connections() {
    let lab = restart_lab(
        "zero_loss_control",
        Profile::Debug,
        false,
        "--drain-delay 0s",
    );
    let address = cluster_service(&lab);
    let all = Lab::next_hops(&lab.all_nodes(), address);

    // Each new speaker starts once the old one is gone and the router has dropped the
    // node, as a DaemonSet's default rolling update replaces a pod. (A new process started
    // at the same moment can re-announce so soon after the withdraw that the router's FIB
    // hardly moves and no connection happens to be caught: a control that passes by luck.)
    let outcome = rolling_restart(&lab, address, PORT, false, Replace::AfterExit);
    println!(
        "{}",
        outcome.describe("rolling restart, immediate withdraw")
    );

    assert!(
        outcome.router_moved.iter().all(Option::is_some),
        "a restart did not take its node out of the FIB: {:?}",
        outcome.fib
    );
    assert!(!outcome.fib_losses(&all).is_empty());
    let failed = outcome.client.failed + outcome.client.long.failed;
    assert!(
        failed > 0,
        "the harness saw no failure without the feature: {:?}",
        outcome.client
    );
}

#[test]
fn a_cordoned_node_drains_before_it_withdraws_and_connections_fail_only_where_the_router_reroutes()
{
    let drain = Duration::from_secs(3);
    let lab = restart_lab("zero_loss_drain", Profile::Debug, false, "--drain-delay 3s");
    let address = cluster_service(&lab);
    let others = Lab::next_hops(&[2, 3], address);
    let node1 = Lab::node_address(1, Family::Ipv4);
    let prefix = format!("{address}/32");
    let watch = FibWatch::start(&lab, address);
    let client_start = Instant::now();
    let client = lab.steady_client(address, PORT, false);
    std::thread::sleep(Duration::from_millis(500));

    let cordon = Instant::now();
    lab.cordon(1, true);
    // The router moves flows away while node1 still announces: its path is there, with
    // LOCAL_PREF 0 from the GRACEFUL_SHUTDOWN community, and not selected.
    let (_, moved) = wait_until(
        SAFETY,
        "node1's path kept with LOCAL_PREF 0, not selected",
        || {
            let rib = lab.rib(Family::Ipv4);
            let paths = rib.get(&prefix)?;
            let path = paths.iter().find(|p| p.next_hops.contains(&node1))?;
            (path.local_pref == Some(0) && !path.selected).then_some(())
        },
        || format!("{:?}", lab.rib(Family::Ipv4).get(&prefix)),
    );
    lab.wait_fib(address, &others, SAFETY);
    let status = lab.wait_status(1, "draining", |s| s["drain"]["phase"] == "draining");
    assert_eq!(status["drain"]["cause"], "node_cordoned", "{status}");
    let metrics = lab.metrics(1);
    assert!(
        metrics.contains("herald_speaker_draining 1"),
        "node1 /metrics:\n{metrics}"
    );
    assert!(
        status["routes"][0]["communities"]
            .to_string()
            .contains("65535:0"),
        "{status}"
    );

    // SIGTERM during the drain: the speaker finishes the drain, then withdraws.
    lab.signal_speaker(1, "TERM");
    let exited = lab.wait_speaker_exit(1, SAFETY);
    let withdrawn = cordon.elapsed();
    assert!(
        withdrawn >= drain,
        "node1 exited {} after the cordon, before its 3 s drain delay",
        ms(withdrawn)
    );
    // The speaker exits right after its Cease; FRR deletes the neighbour's paths when it has
    // processed that NOTIFICATION, a few milliseconds later in its own queue.
    wait_until(
        Duration::from_secs(5),
        "node1's path gone from FRR's RIB after its Cease",
        || {
            let rib = lab.rib(Family::Ipv4);
            let paths = rib.get(&prefix).cloned().unwrap_or_default();
            (!paths.iter().any(|p| p.next_hops.contains(&node1))).then_some(())
        },
        || format!("{:?}", lab.rib(Family::Ipv4).get(&prefix)),
    );
    let summary = client.finish();
    println!(
        "cordon -> router prefers the other nodes after {} (FIB: {:?}); speaker exited {} after SIGTERM, {} after the cordon; client: {summary:?}",
        ms(moved),
        watch.first_since(cordon, &others).map(ms),
        ms(exited),
        ms(withdrawn),
    );
    assert!(summary.attempts > 100, "{summary:?}");
    // The one moment a connection may fail is when the router re-routes node1's flows: a
    // stateless ECMP router moves a flow with its next hop, and a connection in flight to
    // node1 lands on a node that never saw it (and a multipath route that loses a next hop
    // may move some flows between the others too). A long connection notices at its next
    // tick (100 ms). Nothing fails before, later in the drain, at the withdraw (3 s after
    // the cordon) or when the speaker exits. (Clocks: the client's, in Unix ms; both sides
    // are sampled by threads a loaded machine can hold up for a few hundred ms, so the
    // window is 1 s, still well clear of the withdraw.)
    let rerouted = watch
        .first_since_unix_ms(client_start, &others)
        .expect("the FIB lost node1");
    let failures = summary.failures.iter().chain(&summary.long.failures);
    for failure in failures {
        // Short connections say when they ended, long ones when they broke.
        let at = summary.start_unix_ms
            + failure["end_ms"]
                .as_f64()
                .or(failure["at_ms"].as_f64())
                .expect("time");
        assert!(
            (at - rerouted).abs() < 1000.0,
            "a connection failed {:.0} ms from the moment the router re-routed: {failure}; FIB: {:?}",
            at - rerouted,
            watch.changes()
        );
    }

    // Uncordoned and started again: node1 is back in the FIB.
    lab.cordon(1, false);
    lab.start_speaker(1);
    lab.wait_fib(address, &Lab::next_hops(&[1, 2, 3], address), SAFETY);
}

#[test]
fn a_node_uncordoned_after_its_drain_announces_again_without_a_restart() {
    let lab = restart_lab(
        "zero_loss_uncordon",
        Profile::Debug,
        false,
        "--drain-delay 1s",
    );
    let address = cluster_service(&lab);
    let node1 = Lab::node_address(1, Family::Ipv4);
    let prefix = format!("{address}/32");
    let pid = lab.speaker(1);

    lab.cordon(1, true);
    lab.wait_fib(address, &Lab::next_hops(&[2, 3], address), SAFETY);
    // The drain ends: node1's path leaves FRR's RIB altogether.
    wait_until(
        SAFETY,
        "node1's path withdrawn after the drain",
        || {
            let rib = lab.rib(Family::Ipv4);
            (!rib
                .get(&prefix)
                .into_iter()
                .flatten()
                .any(|p| p.next_hops.contains(&node1)))
            .then_some(())
        },
        || format!("{:?}", lab.rib(Family::Ipv4).get(&prefix)),
    );
    let status = lab.wait_status(1, "drained", |s| s["drain"]["phase"] == "drained");
    assert_eq!(
        status["not_announced"][0]["reason"], "node_cordoned",
        "{status}"
    );

    lab.cordon(1, false);
    let took = lab.wait_fib(address, &Lab::next_hops(&[1, 2, 3], address), SAFETY);
    println!(
        "uncordon -> node1 back in the router's FIB after {}",
        ms(took)
    );
    assert_eq!(
        lab.speaker(1),
        pid,
        "the same speaker process announces again"
    );
    lab.wait_status(1, "no drain", |s| s["drain"].is_null());
}
