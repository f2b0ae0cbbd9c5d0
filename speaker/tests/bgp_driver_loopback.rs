//! The BGP driver against a real BGP peer over loopback TCP: a second `bgp::Speaker`,
//! passive behind a listener, plays the router and counts what it receives. (The FRR runs
//! are the lab's; this checks the driver's own promises: incremental changes without a
//! session reset, a reset only when the peer's settings change, removal, shutdown, the
//! startup hold.)

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bgp::{PeerConfig, PeerStats, SessionState, Speaker, SpeakerConfig};
use herald_config::{Community, Config};
use herald_core::ServiceKey;
use herald_speaker::announce::{Decision, RouteSpec};
use herald_speaker::bgp_driver::BgpDriver;
use herald_speaker::proxy::serving::{WithdrawReason, Withheld};
use herald_testsupport::ports::free_port;
use herald_testsupport::wait::eventually_showing;
use ipnet::IpNet;

const NODE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 21));
const ROUTER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 22));

/// The "router": AS 64501, passive, listening on ROUTER:port for the node.
async fn router(port: u16) -> Speaker {
    let router = Speaker::try_new(SpeakerConfig {
        listen: Some(SocketAddr::new(ROUTER, port)),
    })
    .expect("listen");
    let mut node = PeerConfig::new(NODE, 64501, 64500, Ipv4Addr::new(10, 0, 0, 1));
    node.passive = true;
    router.add_peer(node).await.expect("add the node");
    router
}

fn config(port: u16, hold_time: &str) -> Config {
    Config::from_yaml(&format!(
        "peers:\n- peer-address: {ROUTER}\n  peer-asn: 64501\n  my-asn: 64500\n  \
         peer-port: {port}\n  source-address: {NODE}\n  hold-time: {hold_time}\n"
    ))
    .expect("valid config")
}

fn decision(config: &Config, routes: &[(&str, RouteSpec)]) -> Decision {
    Decision {
        peers: config.peers.clone(),
        routes: routes
            .iter()
            .map(|(prefix, spec)| (prefix.parse::<IpNet>().expect("prefix"), spec.clone()))
            .collect::<BTreeMap<_, _>>(),
        ..Decision::default()
    }
}

/// The node's driver, router id 10.0.0.2.
fn node_driver() -> BgpDriver {
    BgpDriver::new(
        "n1",
        Some(Ipv4Addr::new(10, 0, 0, 2)),
        Speaker::new(SpeakerConfig::default()),
    )
}

/// Waits until the router's only peer's stats satisfy `condition`; returns them.
async fn wait_for(
    speaker: &Speaker,
    what: &str,
    condition: impl Fn(&PeerStats) -> bool,
) -> PeerStats {
    eventually_showing(what, || async {
        let stats = speaker.stats().await.into_iter().next().expect("one peer");
        if condition(&stats) {
            Ok(stats)
        } else {
            Err(stats)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_changes_are_incremental_and_only_changed_settings_reset_the_session() {
    let port = free_port(ROUTER);
    let router = router(port).await;
    let mut driver = BgpDriver::new("n1", None, Speaker::new(SpeakerConfig::default()));

    let plain = RouteSpec::default();
    let tagged = RouteSpec {
        communities: [Community::standard(64500, 7)].into_iter().collect(),
        local_pref: None,
        endpoint_weight: None,
    };
    let first = config(port, "90s");
    driver
        .apply(&decision(
            &first,
            &[
                ("10.99.0.10/32", plain.clone()),
                ("10.99.0.11/32", plain.clone()),
            ],
        ))
        .await;
    assert!(driver.problems().is_empty(), "{:?}", driver.problems());
    let up = wait_for(&router, "two prefixes", |s| {
        s.state == SessionState::Established && s.prefixes_received == 2
    })
    .await;
    let since = up.established_since.expect("established");

    // One withdrawn, one new: UPDATEs on the same session.
    let next = [
        ("10.99.0.11/32", plain.clone()),
        ("10.99.0.12/32", plain.clone()),
    ];
    driver.apply(&decision(&first, &next)).await;
    let changed = wait_for(&router, "the withdrawal and the new prefix", |s| {
        s.prefixes_received == 2 && s.updates_received > up.updates_received
    })
    .await;
    assert_eq!(changed.established_since, Some(since), "session was reset");

    // New attributes for one prefix: exactly one more UPDATE, same session.
    let retagged = [("10.99.0.11/32", tagged), ("10.99.0.12/32", plain.clone())];
    driver.apply(&decision(&first, &retagged)).await;
    let tagged_stats = wait_for(&router, "the re-announcement", |s| {
        s.updates_received == changed.updates_received + 1
    })
    .await;
    assert_eq!(
        tagged_stats.established_since,
        Some(since),
        "session was reset"
    );
    assert_eq!(driver.routes().len(), 2);

    // The same decision again sends nothing: shown by the next change, which the speaker
    // handles after it, arriving as exactly one more UPDATE.
    driver.apply(&decision(&first, &retagged)).await;
    let grown = [
        ("10.99.0.11/32", retagged[0].1.clone()),
        ("10.99.0.12/32", plain.clone()),
        ("10.99.0.13/32", plain.clone()),
    ];
    driver.apply(&decision(&first, &grown)).await;
    let same = wait_for(&router, "the prefix after the repeated decision", |s| {
        s.prefixes_received == 3
    })
    .await;
    assert_eq!(
        same.updates_received,
        tagged_stats.updates_received + 1,
        "the repeated decision sent an UPDATE"
    );
    assert_eq!(same.established_since, Some(since));

    // A changed hold time resets that session, which comes back with the whole table.
    let second = config(port, "30s");
    driver
        .apply(&decision(&second, &[("10.99.0.12/32", plain)]))
        .await;
    let reset = wait_for(&router, "a new session with the table", |s| {
        s.state == SessionState::Established
            && s.established_since.is_some_and(|t| t > since)
            && s.prefixes_received == 1
    })
    .await;
    assert_eq!(reset.hold_time, Some(30));

    // No peer for this node any more: Cease/Peer De-configured.
    driver.apply(&Decision::default()).await;
    let gone = wait_for(&router, "the session to close", |s| {
        s.state != SessionState::Established
    })
    .await;
    assert!(
        gone.last_error
            .as_deref()
            .is_some_and(|e| e.contains("De-configured")),
        "{gone:?}"
    );
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_withdraws_and_closes_with_administrative_shutdown() {
    let port = free_port(ROUTER);
    let router = router(port).await;
    let mut driver = node_driver();
    let config = config(port, "90s");
    driver
        .apply(&decision(
            &config,
            &[("10.99.0.10/32", RouteSpec::default())],
        ))
        .await;
    wait_for(&router, "the prefix", |s| s.prefixes_received == 1).await;

    driver.shutdown().await;
    let down = wait_for(&router, "the session to close", |s| {
        s.state != SessionState::Established
    })
    .await;
    assert!(
        down.last_error
            .as_deref()
            .is_some_and(|e| e.contains("Administrative Shutdown")),
        "{down:?}"
    );
    assert_eq!(down.prefixes_received, 0);
    assert!(driver.routes().is_empty());
    router.shutdown().await;
}

#[tokio::test]
async fn an_ipv6_peer_without_any_router_id_takes_the_speaker_id() {
    let mut driver = BgpDriver::new("n1", None, Speaker::new(SpeakerConfig::default()));
    let config = Config::from_yaml(
        "peers:\n- peer-address: 2001:db8::1\n  peer-asn: 64501\n  my-asn: 64500\n",
    )
    .expect("valid config");
    driver.apply(&decision(&config, &[])).await;
    assert!(driver.problems().is_empty(), "{:?}", driver.problems());
    let (id, _) = driver.speaker_id().expect("an id was chosen");
    assert!(!id.is_unspecified());
    let stats = driver.speaker().stats().await;
    assert_eq!(stats.len(), 1, "the peer is configured: {stats:?}");
    driver.speaker().shutdown().await;
}

/// A decision withholding one proxied address (its certificate not loaded yet).
fn withholding(config: &Config) -> Decision {
    let mut held = decision(config, &[("10.99.0.11/32", RouteSpec::default())]);
    held.withheld.push(Withheld {
        service: ServiceKey::new("ns", "web"),
        address: "10.99.0.10".parse().expect("address"),
        reason: WithdrawReason::NoCertificate { port: 443 },
    });
    held
}

/// A starting speaker keeps its sessions closed while a decision withholds a proxied
/// address (its End-of-RIB must not come before those routes); the first decision that
/// withholds nothing opens them, and the hold is over for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_hold_keeps_sessions_closed_until_nothing_is_withheld() {
    let port = free_port(ROUTER);
    let router = router(port).await;
    let mut driver = node_driver();
    let config = config(port, "90s");
    driver.hold_sessions_until(tokio::time::Instant::now() + Duration::from_secs(3600));

    driver.apply(&withholding(&config)).await;
    assert!(
        driver.speaker().stats().await.is_empty(),
        "a peer was configured during the hold"
    );
    assert_eq!(driver.routes().len(), 1, "the routes are ready meanwhile");
    assert!(driver.startup_hold().is_some());

    driver
        .apply(&decision(
            &config,
            &[("10.99.0.11/32", RouteSpec::default())],
        ))
        .await;
    wait_for(&router, "the prefix", |s| s.prefixes_received == 1).await;
    assert_eq!(driver.startup_hold(), None);
    // Over for good: an address withheld later does not close the session again.
    driver.apply(&withholding(&config)).await;
    assert_eq!(driver.speaker().stats().await.len(), 1);
    driver.shutdown().await;
    router.shutdown().await;
}

/// The hold ends at its deadline even while an address stays withheld.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_hold_ends_at_its_deadline() {
    let port = free_port(ROUTER);
    let router = router(port).await;
    let mut driver = node_driver();
    let config = config(port, "90s");
    driver.hold_sessions_until(tokio::time::Instant::now());

    driver.apply(&withholding(&config)).await;
    wait_for(&router, "the prefix", |s| s.prefixes_received == 1).await;
    assert_eq!(driver.startup_hold(), None);
    driver.shutdown().await;
    router.shutdown().await;
}
