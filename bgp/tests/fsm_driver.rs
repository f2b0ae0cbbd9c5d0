//! The driver and the Speaker handle over real TCP on loopback: two speakers of ours,
//! one passive behind a listener, one connecting from a source address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bgp::{
    IpNet, PeerConfig, PeerEvent, PeerStats, RouteAttributes, SessionState, Speaker, SpeakerConfig,
};

const ACTIVE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const PASSIVE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A free port on the passive side's address.
fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind(SocketAddr::new(PASSIVE, 0)).expect("bind");
    socket.local_addr().expect("address").port()
}

struct Pair {
    active: Speaker,
    passive: Speaker,
    active_peer: PeerConfig,
}

/// The passive speaker (AS 64501) listens; the active one (AS 64500) connects to it.
async fn pair(password: Option<(&str, &str)>) -> Pair {
    let port = free_port();
    let passive = Speaker::try_new(SpeakerConfig {
        listen: Some(SocketAddr::new(PASSIVE, port)),
    })
    .expect("listen");
    let active = Speaker::new(SpeakerConfig::default());
    let mut passive_peer = PeerConfig::new(ACTIVE, 64501, 64500, Ipv4Addr::new(10, 0, 0, 2));
    passive_peer.passive = true;
    let mut active_peer = PeerConfig::new(PASSIVE, 64500, 64501, Ipv4Addr::new(10, 0, 0, 1));
    active_peer.port = port;
    active_peer.source_address = Some(ACTIVE);
    active_peer.connect_retry = Duration::from_secs(1);
    if let Some((active_key, passive_key)) = password {
        active_peer.password = Some(active_key.to_string());
        passive_peer.password = Some(passive_key.to_string());
    }
    passive
        .add_peer(passive_peer.clone())
        .await
        .expect("add passive peer");
    active
        .add_peer(active_peer.clone())
        .await
        .expect("add active peer");
    Pair {
        active,
        passive,
        active_peer,
    }
}

async fn stats_of(speaker: &Speaker) -> PeerStats {
    speaker.stats().await.into_iter().next().expect("one peer")
}

/// Polls `speaker`'s only peer until `condition` holds (10 s at most).
async fn wait_for(
    speaker: &Speaker,
    what: &str,
    condition: impl Fn(&PeerStats) -> bool,
) -> PeerStats {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stats = stats_of(speaker).await;
        if condition(&stats) {
            return stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<PeerEvent>,
    state: SessionState,
) -> PeerEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.recv().await.expect("event");
            if event.state == state {
                return event;
            }
        }
    })
    .await
    .expect("event in time")
}

fn host(i: u32) -> IpNet {
    IpNet::from(IpAddr::V4(Ipv4Addr::from(0x0A63_0000 + i)))
}

fn established(stats: &PeerStats) -> bool {
    stats.state == SessionState::Established
}

/// TCP states as `/proc/net/tcp` numbers them.
const TCP_ESTABLISHED: u8 = 0x01;
const TCP_SYN_SENT: u8 = 0x02;
const TCP_TIME_WAIT: u8 = 0x06;
const TCP_LISTEN: u8 = 0x0A;

/// One socket of the kernel's TCP table.
#[derive(Debug)]
struct KernelSocket {
    local: String,
    remote: String,
    state: u8,
    /// Retransmissions of the segment in flight (for SYN_SENT: of the SYN).
    retransmits: u32,
}

/// An address as `/proc/net/tcp` writes it.
fn proc_address(address: IpAddr, port: u16) -> String {
    let IpAddr::V4(v4) = address else {
        panic!("{address}: only IPv4 is in /proc/net/tcp")
    };
    format!("{:08X}:{port:04X}", u32::from_le_bytes(v4.octets()))
}

/// The sockets with `port` of one of our two loopback addresses at either end.
fn kernel_sockets(port: u16) -> Vec<KernelSocket> {
    let ends = [proc_address(ACTIVE, port), proc_address(PASSIVE, port)];
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let socket = KernelSocket {
                local: fields.get(1)?.to_string(),
                remote: fields.get(2)?.to_string(),
                state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
                retransmits: u32::from_str_radix(fields.get(6)?, 16).ok()?,
            };
            (ends.contains(&socket.local) || ends.contains(&socket.remote)).then_some(socket)
        })
        .collect()
}

/// Polls the kernel's sockets on `port` until `condition` holds (10 s at most).
async fn wait_for_sockets(port: u16, what: &str, condition: impl Fn(&[KernelSocket]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sockets = kernel_sockets(port);
        if condition(&sockets) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {sockets:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn table_is_sent_after_established_then_changes_incrementally() {
    let pair = pair(None).await;
    for i in 0..1000 {
        pair.active.announce(host(i), RouteAttributes::default());
    }
    let received = wait_for(&pair.passive, "the table", |s| s.prefixes_received == 1000).await;
    assert_eq!(received.hold_time, Some(90));
    let sent = wait_for(&pair.active, "the table written", |s| {
        s.prefixes_sent == 1000 && s.pending_messages == 0
    })
    .await;
    // Two Heralds negotiate extended messages (RFC 8654): 1000 /32s with one set of
    // attributes fit in one UPDATE (two of 4096 octets), plus End-of-RIB.
    assert_eq!(sent.updates_sent, 2);
    let since = sent.established_since;

    for i in 0..100 {
        pair.active.withdraw(host(i));
    }
    pair.active.announce(
        "fd00:99::10/128".parse().expect("prefix"),
        RouteAttributes::default(),
    );
    wait_for(&pair.passive, "the withdrawals", |s| {
        s.prefixes_received == 900
    })
    .await;
    let sent = wait_for(&pair.active, "the withdrawals written", |s| {
        s.prefixes_sent == 900
    })
    .await;
    assert_eq!(sent.established_since, since, "the session was not reset");
    assert!(established(&stats_of(&pair.passive).await));

    // A prefix announced again with other attributes is still one prefix to the receiver.
    let updates_before = stats_of(&pair.passive).await.updates_received;
    pair.active.announce(
        host(500),
        RouteAttributes {
            med: Some(7),
            ..RouteAttributes::default()
        },
    );
    let received = wait_for(&pair.passive, "the re-announcement", |s| {
        s.updates_received > updates_before
    })
    .await;
    assert_eq!(received.prefixes_received, 900);
    pair.active.shutdown().await;
    pair.passive.shutdown().await;
}

#[tokio::test]
async fn shutdown_sends_cease_administrative_shutdown() {
    let pair = pair(None).await;
    wait_for(&pair.passive, "Established", established).await;
    let mut events = pair.passive.events();
    pair.active.shutdown().await;
    let event = next_event(&mut events, SessionState::Idle).await;
    assert_eq!(event.previous, SessionState::Established);
    assert_eq!(
        event.reason.as_deref(),
        Some("received NOTIFICATION Cease/Administrative Shutdown")
    );
    assert!(pair.active.stats().await.is_empty());
    assert!(
        pair.active
            .add_peer(pair.active_peer.clone())
            .await
            .is_err()
    );
    pair.passive.shutdown().await;
}

#[tokio::test]
async fn remove_peer_sends_cease_peer_deconfigured() {
    let pair = pair(None).await;
    wait_for(&pair.passive, "Established", established).await;
    let mut events = pair.passive.events();
    pair.active.remove_peer(PASSIVE).await.expect("remove");
    let event = next_event(&mut events, SessionState::Idle).await;
    assert_eq!(
        event.reason.as_deref(),
        Some("received NOTIFICATION Cease/Peer De-configured")
    );
    assert!(pair.active.stats().await.is_empty());
    assert!(
        pair.active.remove_peer(PASSIVE).await.is_err(),
        "already gone"
    );
    pair.passive.shutdown().await;
}

#[tokio::test]
async fn update_peer_with_equal_settings_keeps_the_session() {
    let pair = pair(None).await;
    let before = wait_for(&pair.active, "Established", established).await;
    pair.active
        .update_peer(pair.active_peer.clone())
        .await
        .expect("update");
    let after = stats_of(&pair.active).await;
    assert_eq!(after.established_since, before.established_since);
    assert!(established(&after));
    pair.active.shutdown().await;
    pair.passive.shutdown().await;
}

#[tokio::test]
async fn update_peer_with_new_settings_resets_that_session() {
    let pair = pair(None).await;
    wait_for(&pair.passive, "Established", established).await;
    let mut events = pair.passive.events();
    let mut changed = pair.active_peer.clone();
    changed.hold_time = 30;
    pair.active.update_peer(changed).await.expect("update");
    let event = next_event(&mut events, SessionState::Idle).await;
    assert_eq!(
        event.reason.as_deref(),
        Some("received NOTIFICATION Cease/Other Configuration Change")
    );
    let stats = wait_for(&pair.active, "the new session", |s| {
        established(s) && s.hold_time == Some(30)
    })
    .await;
    assert_eq!(stats.hold_time, Some(30));
    pair.active.shutdown().await;
    pair.passive.shutdown().await;
}

#[tokio::test]
async fn sessions_with_matching_md5_keys_come_up() {
    let pair = pair(Some(("s3cret", "s3cret"))).await;
    wait_for(&pair.passive, "Established", established).await;
    pair.active.shutdown().await;
    pair.passive.shutdown().await;
}

#[tokio::test]
async fn sessions_with_different_md5_keys_stay_down() {
    let pair = pair(Some(("s3cret", "other"))).await;
    // The passive side's kernel drops segments with a wrong signature. On loopback a SYN
    // that is still unanswered when it is retransmitted (a whole RTO later) was dropped:
    // once one is, the attempt has been made and refused, and nothing may be up.
    wait_for_sockets(pair.active_peer.port, "an unanswered SYN", |sockets| {
        sockets
            .iter()
            .any(|s| s.state == TCP_SYN_SENT && s.retransmits > 0)
    })
    .await;
    let stats = stats_of(&pair.active).await;
    assert!(stats.state <= SessionState::Active, "{stats:?}");
    assert_eq!(stats.messages_received, 0);
    pair.active.shutdown().await;
    pair.passive.shutdown().await;
}

#[tokio::test]
async fn invalid_peer_settings_are_refused() {
    let speaker = Speaker::new(SpeakerConfig::default());
    let mut peer = PeerConfig::new(PASSIVE, 64500, 64501, Ipv4Addr::new(10, 0, 0, 1));
    peer.hold_time = 2;
    assert!(matches!(
        speaker.add_peer(peer.clone()).await,
        Err(bgp::SpeakerError::InvalidPeer { .. })
    ));
    peer.hold_time = 90;
    speaker.add_peer(peer.clone()).await.expect("add");
    assert!(matches!(
        speaker.add_peer(peer).await,
        Err(bgp::SpeakerError::PeerExists { .. })
    ));
    speaker.shutdown().await;
}

#[tokio::test]
async fn simultaneous_connections_settle_on_one_session() {
    // Both speakers listen on the same port of their own address and connect to each
    // other at once: each sees an outgoing and an incoming connection (RFC 4271 section 6.8).
    let port = free_port();
    let a = Speaker::try_new(SpeakerConfig {
        listen: Some(SocketAddr::new(ACTIVE, port)),
    })
    .expect("listen a");
    let b = Speaker::try_new(SpeakerConfig {
        listen: Some(SocketAddr::new(PASSIVE, port)),
    })
    .expect("listen b");
    let mut to_b = PeerConfig::new(PASSIVE, 64500, 64501, Ipv4Addr::new(10, 0, 0, 1));
    to_b.port = port;
    to_b.source_address = Some(ACTIVE);
    to_b.connect_retry = Duration::from_secs(1);
    let mut to_a = PeerConfig::new(ACTIVE, 64501, 64500, Ipv4Addr::new(10, 0, 0, 2));
    to_a.port = port;
    to_a.source_address = Some(PASSIVE);
    to_a.connect_retry = Duration::from_secs(1);
    let (added_a, added_b) = tokio::join!(a.add_peer(to_b), b.add_peer(to_a));
    added_a.expect("add");
    added_b.expect("add");
    let first_a = wait_for(&a, "Established", established).await;
    let first_b = wait_for(&b, "Established", established).await;
    // The collision is over once the losing connection is closed at both ends: left are
    // the listeners, the two ends of the session, and closed connections in TIME_WAIT.
    wait_for_sockets(port, "one connection left", |sockets| {
        let open = sockets
            .iter()
            .filter(|s| s.state == TCP_ESTABLISHED)
            .count();
        open == 2
            && sockets
                .iter()
                .all(|s| matches!(s.state, TCP_ESTABLISHED | TCP_LISTEN | TCP_TIME_WAIT))
    })
    .await;
    for (speaker, first) in [(&a, first_a), (&b, first_b)] {
        let later = stats_of(speaker).await;
        assert_eq!(
            later.established_since, first.established_since,
            "the session stayed up"
        );
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn shutdown_for_restart_closes_without_notification() {
    let pair = pair(None).await;
    wait_for(&pair.passive, "Established", established).await;
    let mut events = pair.passive.events();
    pair.active.shutdown_for_restart().await;
    let event = next_event(&mut events, SessionState::Idle).await;
    assert_eq!(event.reason.as_deref(), Some("connection closed by peer"));
    pair.passive.shutdown().await;
}
