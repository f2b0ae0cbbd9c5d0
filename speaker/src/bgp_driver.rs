//! Carries a [`Decision`] out on a [`bgp::Speaker`]: peers added, changed and removed,
//! routes announced and withdrawn, each time only the difference to what is in force.
//!
//! The differences are pure ([`plan_peers`], [`plan_routes`]) and so is the mapping of a
//! config peer to a session ([`peer_config`]); [`BgpDriver`] only remembers what it applied
//! and calls the speaker. A session is reset only when its own settings change
//! (`bgp::Speaker::update_peer` compares them); a change in the announced set is an
//! incremental UPDATE on the sessions that are up.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::{IpNet, PeerConfig, RouteAttributes, Speaker, SpeakerError};
use herald_config::{Community, Peer};
use tracing::{info, warn};

use crate::announce::{Decision, RouteSpec};

/// TTL of eBGP packets with `ebgp-multihop: true`.
const MULTIHOP_TTL: u8 = 255;
/// How long shutdown waits for the withdrawals to be written before closing sessions.
const WITHDRAW_FLUSH: Duration = Duration::from_secs(2);

/// Where a session's router id comes from when the config gives none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterIdHints {
    /// `--router-id`, else the IPv4 `--node-address`.
    pub node: Option<Ipv4Addr>,
    /// The IPv4 address the kernel would use as source towards the peer, if known.
    pub route_source: Option<Ipv4Addr>,
}

/// Why a config peer cannot become a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerMappingError {
    #[error(
        "no router id: set router-id on the peer, pass --router-id or --node-address, \
         or give an IPv4 source-address"
    )]
    NoRouterId,
    #[error("{field} of {seconds} s does not fit in 16 bits")]
    TooLong { field: &'static str, seconds: u64 },
}

impl PeerMappingError {
    /// Label for metrics and `/status`.
    pub fn label(&self) -> &'static str {
        match self {
            PeerMappingError::NoRouterId => "no_router_id",
            PeerMappingError::TooLong { .. } => "out_of_range",
        }
    }
}

/// The session settings for a config peer (`peers[i]` of the ConfigMap).
///
/// Router id: the peer's `router-id`, else `hints.node` (`--router-id` or the node's IPv4
/// address), else an IPv4 `source-address`, else the kernel's source address towards an
/// IPv4 peer. `ebgp-multihop: true` sends with TTL 255. A keepalive of exactly a third of
/// the hold time (the config's default) is left to follow the negotiated hold time.
pub fn peer_config(peer: &Peer, hints: RouterIdHints) -> Result<PeerConfig, PeerMappingError> {
    let source_v4 = match peer.source_address {
        Some(IpAddr::V4(source)) => Some(source),
        _ => None,
    };
    let router_id = peer
        .router_id
        .or(hints.node)
        .or(source_v4)
        .or(hints.route_source)
        .filter(|id| !id.is_unspecified())
        .ok_or(PeerMappingError::NoRouterId)?;
    let hold_time = seconds("hold-time", peer.hold_time)?;
    let keepalive = seconds("keepalive-time", peer.keepalive_time)?;
    let keepalive = (keepalive != 0 && keepalive != hold_time / 3).then_some(keepalive);
    // The config caps it at RFC 4724's 12 bits.
    let graceful_restart = peer
        .graceful_restart
        .as_ref()
        .map(|gr| seconds("graceful-restart", gr.restart_time))
        .transpose()?;

    let mut config = PeerConfig::new(peer.address, peer.my_asn, peer.asn, router_id);
    config.port = peer.port;
    config.source_address = peer.source_address;
    config.hold_time = hold_time;
    config.keepalive = keepalive;
    config.password = peer.password.clone().filter(|p| !p.is_empty());
    config.ebgp_multihop = peer.ebgp_multihop.then_some(MULTIHOP_TTL);
    config.gtsm = peer.gtsm;
    config.graceful_restart = graceful_restart;
    Ok(config)
}

fn seconds(field: &'static str, duration: Duration) -> Result<u16, PeerMappingError> {
    let seconds = duration.as_secs();
    u16::try_from(seconds).map_err(|_| PeerMappingError::TooLong { field, seconds })
}

/// The path attributes of a route: standard communities (RFC 1997), large ones (RFC 8092)
/// and LOCAL_PREF (the speaker sends it on iBGP sessions only).
pub fn route_attributes(spec: &RouteSpec) -> RouteAttributes {
    let mut attributes = RouteAttributes {
        local_pref: spec.local_pref,
        ..RouteAttributes::default()
    };
    for community in &spec.communities {
        match *community {
            Community::Standard(value) => attributes.communities.push(bgp::Community(value)),
            Community::Large {
                global_admin,
                local_data1,
                local_data2,
            } => attributes.large_communities.push(bgp::LargeCommunity {
                global_admin,
                local_data1,
                local_data2,
            }),
        }
    }
    attributes
}

/// What to do with the peers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerPlan {
    pub add: Vec<PeerConfig>,
    /// Peers whose settings changed (their session is reset).
    pub update: Vec<PeerConfig>,
    pub remove: Vec<IpAddr>,
}

impl PeerPlan {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.update.is_empty() && self.remove.is_empty()
    }
}

/// The peer changes that take `current` to `wanted` (both keyed by peer address).
pub fn plan_peers(
    current: &BTreeMap<IpAddr, PeerConfig>,
    wanted: &BTreeMap<IpAddr, PeerConfig>,
) -> PeerPlan {
    let mut plan = PeerPlan::default();
    for (address, config) in wanted {
        match current.get(address) {
            None => plan.add.push(config.clone()),
            Some(now) if now != config => plan.update.push(config.clone()),
            Some(_) => {}
        }
    }
    plan.remove = current
        .keys()
        .filter(|address| !wanted.contains_key(address))
        .copied()
        .collect();
    plan
}

/// What to do with the routes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutePlan {
    /// New prefixes, and prefixes whose attributes changed (re-announced).
    pub announce: Vec<(IpNet, RouteAttributes)>,
    pub withdraw: Vec<IpNet>,
}

impl RoutePlan {
    pub fn is_empty(&self) -> bool {
        self.announce.is_empty() && self.withdraw.is_empty()
    }
}

/// The route changes that take `current` to `wanted`.
pub fn plan_routes(
    current: &BTreeMap<IpNet, RouteAttributes>,
    wanted: &BTreeMap<IpNet, RouteAttributes>,
) -> RoutePlan {
    let announce = wanted
        .iter()
        .filter(|(prefix, attributes)| current.get(prefix) != Some(attributes))
        .map(|(prefix, attributes)| (*prefix, attributes.clone()))
        .collect();
    let withdraw = current
        .keys()
        .filter(|prefix| !wanted.contains_key(prefix))
        .copied()
        .collect();
    RoutePlan { announce, withdraw }
}

/// A peer the decision asks for that is not configured on the speaker, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerProblem {
    pub address: IpAddr,
    pub error: String,
    /// Stable label (`no_router_id`, `invalid_peer`, ...).
    pub label: &'static str,
}

/// Owns the speaker's peers and routes for one node.
#[derive(Debug)]
pub struct BgpDriver {
    node: String,
    router_id: Option<Ipv4Addr>,
    speaker: Speaker,
    peers: BTreeMap<IpAddr, PeerConfig>,
    routes: BTreeMap<IpNet, RouteAttributes>,
    problems: Vec<PeerProblem>,
    /// Kernel source addresses towards peers, looked up once (only when needed for a
    /// router id) so a routing change does not reset the session.
    route_sources: BTreeMap<IpAddr, Ipv4Addr>,
}

impl BgpDriver {
    /// `router_id` is the default router id of every session (`--router-id`, else the
    /// node's IPv4 address); peers with their own `router-id` use theirs.
    pub fn new(node: &str, router_id: Option<Ipv4Addr>, speaker: Speaker) -> Self {
        Self {
            node: node.to_owned(),
            router_id,
            speaker,
            peers: BTreeMap::new(),
            routes: BTreeMap::new(),
            problems: Vec::new(),
            route_sources: BTreeMap::new(),
        }
    }

    pub fn speaker(&self) -> &Speaker {
        &self.speaker
    }

    /// The routes announced now.
    pub fn routes(&self) -> &BTreeMap<IpNet, RouteAttributes> {
        &self.routes
    }

    /// Peers of the last decision that could not be configured.
    pub fn problems(&self) -> &[PeerProblem] {
        &self.problems
    }

    /// Makes the speaker do what `decision` says, changing only what differs.
    pub async fn apply(&mut self, decision: &Decision) {
        let mut problems = Vec::new();
        let mut wanted = BTreeMap::new();
        for peer in &decision.peers {
            if wanted.contains_key(&peer.address) {
                warn!(node = %self.node, peer = %peer.address, "peer listed twice for this node; the first one is used");
                continue;
            }
            let hints = RouterIdHints {
                node: self.router_id,
                route_source: self.route_source(peer),
            };
            match peer_config(peer, hints) {
                Ok(config) => {
                    wanted.insert(peer.address, config);
                }
                Err(error) => {
                    warn!(node = %self.node, peer = %peer.address, %error, "peer not configured");
                    problems.push(PeerProblem {
                        address: peer.address,
                        label: error.label(),
                        error: error.to_string(),
                    });
                }
            }
        }
        let routes: BTreeMap<IpNet, RouteAttributes> = decision
            .routes
            .iter()
            .map(|(prefix, spec)| (*prefix, route_attributes(spec)))
            .collect();

        let peer_plan = plan_peers(&self.peers, &wanted);
        let route_plan = plan_routes(&self.routes, &routes);

        for address in &peer_plan.remove {
            info!(peer = %address, "removing BGP peer");
            if let Err(error) = self.speaker.remove_peer(*address).await {
                warn!(peer = %address, %error, "removing the peer failed");
            }
            self.peers.remove(address);
        }
        // Changes to routes first: sessions that stay get them incrementally, new ones get
        // the whole table once they are up.
        if !route_plan.withdraw.is_empty() {
            info!(count = route_plan.withdraw.len(), prefixes = %some(route_plan.withdraw.iter()), "withdrawing routes");
        }
        if !route_plan.announce.is_empty() {
            info!(count = route_plan.announce.len(), prefixes = %some(route_plan.announce.iter().map(|(p, _)| p)), "announcing routes");
        }
        for prefix in &route_plan.withdraw {
            self.speaker.withdraw(*prefix);
            self.routes.remove(prefix);
        }
        for (prefix, attributes) in route_plan.announce {
            self.speaker.announce(prefix, attributes.clone());
            self.routes.insert(prefix, attributes);
        }
        for config in peer_plan.update {
            info!(peer = %config.address, asn = config.remote_as, "BGP peer settings changed; resetting that session");
            let result = match self.speaker.update_peer(config.clone()).await {
                Err(SpeakerError::UnknownPeer { .. }) => {
                    self.speaker.add_peer(config.clone()).await
                }
                other => other,
            };
            self.record(config, result, &mut problems);
        }
        for config in peer_plan.add {
            info!(peer = %config.address, asn = config.remote_as, router_id = %config.router_id, "adding BGP peer");
            let result = self.speaker.add_peer(config.clone()).await;
            self.record(config, result, &mut problems);
        }
        self.problems = problems;
    }

    /// The kernel's source address towards `peer`, when nothing else gives a router id.
    fn route_source(&mut self, peer: &Peer) -> Option<Ipv4Addr> {
        let needed = peer.router_id.is_none()
            && self.router_id.is_none()
            && !matches!(peer.source_address, Some(IpAddr::V4(_)));
        if !needed {
            return None;
        }
        if let Some(source) = self.route_sources.get(&peer.address) {
            return Some(*source);
        }
        let source = route_source_towards(peer)?;
        self.route_sources.insert(peer.address, source);
        Some(source)
    }

    fn record(
        &mut self,
        config: PeerConfig,
        result: Result<(), SpeakerError>,
        problems: &mut Vec<PeerProblem>,
    ) {
        match result {
            Ok(()) => {
                self.peers.insert(config.address, config);
            }
            Err(error) => {
                warn!(peer = %config.address, %error, "the speaker refused the peer");
                problems.push(PeerProblem {
                    address: config.address,
                    error: error.to_string(),
                    label: speaker_error_label(&error),
                });
                // If an update was refused the old session may still run; forget it so
                // the next decision tries again from scratch.
                self.peers.remove(&config.address);
            }
        }
    }

    /// Withdraws every route, waits (briefly) until the withdrawals are on the wire, then
    /// closes every session with Cease/Administrative Shutdown.
    pub async fn shutdown(&mut self) {
        for prefix in std::mem::take(&mut self.routes).into_keys() {
            self.speaker.withdraw(prefix);
        }
        let deadline = tokio::time::Instant::now() + WITHDRAW_FLUSH;
        loop {
            // `stats` also makes the speaker publish the withdrawals queued before it.
            let stats = self.speaker.stats().await;
            let flushed = stats.iter().all(|peer| {
                peer.state != bgp::SessionState::Established
                    || (peer.prefixes_sent == 0 && peer.pending_messages == 0)
            });
            if flushed || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.speaker.shutdown().await;
        self.peers.clear();
    }
}

/// Up to eight prefixes for a log line, then how many more: a change to 10,000 routes
/// stays one readable line.
fn some<'a>(prefixes: impl ExactSizeIterator<Item = &'a IpNet>) -> String {
    const SHOWN: usize = 8;
    let total = prefixes.len();
    let mut text = prefixes
        .take(SHOWN)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if total > SHOWN {
        text.push_str(&format!(" (+{} more)", total - SHOWN));
    }
    text
}

fn speaker_error_label(error: &SpeakerError) -> &'static str {
    match error {
        SpeakerError::InvalidPeer { .. } => "invalid_peer",
        SpeakerError::ListenerMd5 { .. } => "listener_md5",
        SpeakerError::ShutDown => "shut_down",
        _ => "speaker_error",
    }
}

/// The IPv4 address the kernel would use as source towards an IPv4 peer (a UDP socket
/// "connected" to it; no packet is sent). `None` for IPv6 peers or without a route.
fn route_source_towards(peer: &Peer) -> Option<Ipv4Addr> {
    let IpAddr::V4(address) = peer.address else {
        return None;
    };
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((address, peer.port)).ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V4(source) if !source.is_unspecified() => Some(source),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(yaml: &str) -> Vec<Peer> {
        herald_config::Config::from_yaml(yaml)
            .expect("valid config")
            .peers
    }

    fn one_peer(yaml: &str) -> Peer {
        peers(yaml).remove(0)
    }

    const NODE_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);

    fn node_hint() -> RouterIdHints {
        RouterIdHints {
            node: Some(NODE_ID),
            route_source: None,
        }
    }

    #[test]
    fn every_peer_setting_reaches_the_session() {
        let peer = one_peer(
            "peers:\n- peer-address: 172.30.0.1\n  peer-asn: 64501\n  my-asn: 64500\n  \
             peer-port: 1179\n  hold-time: 9s\n  keepalive-time: 1s\n  router-id: 10.9.9.9\n  \
             source-address: 172.30.0.11\n  password: s3cret\n  ebgp-multihop: true\n  \
             graceful-restart: 30s\n",
        );
        let config = peer_config(&peer, node_hint()).expect("maps");
        let mut expected = PeerConfig::new(
            "172.30.0.1".parse().expect("ip"),
            64500,
            64501,
            Ipv4Addr::new(10, 9, 9, 9),
        );
        expected.port = 1179;
        expected.hold_time = 9;
        expected.keepalive = Some(1);
        expected.source_address = Some("172.30.0.11".parse().expect("ip"));
        expected.password = Some("s3cret".into());
        expected.ebgp_multihop = Some(255);
        expected.graceful_restart = Some(30);
        assert_eq!(config, expected);
    }

    #[test]
    fn defaults_give_a_plain_ebgp_session() {
        let peer =
            one_peer("peers:\n- peer-address: 172.30.0.1\n  peer-asn: 64501\n  my-asn: 64500\n");
        let config = peer_config(&peer, node_hint()).expect("maps");
        assert_eq!(
            config,
            PeerConfig::new("172.30.0.1".parse().expect("ip"), 64500, 64501, NODE_ID),
            "port 179, hold 90 s, keepalive follows the negotiated hold time, TTL 1"
        );
    }

    #[test]
    fn router_id_falls_back_from_flag_to_source_address_to_route_source() {
        let with_source = one_peer(
            "peers:\n- peer-address: 172.30.0.1\n  peer-asn: 64501\n  my-asn: 64500\n  \
             source-address: 172.30.0.12\n",
        );
        assert_eq!(
            peer_config(&with_source, node_hint())
                .expect("maps")
                .router_id,
            NODE_ID,
            "the flag beats the source address"
        );
        let no_hints = RouterIdHints {
            node: None,
            route_source: Some(Ipv4Addr::new(192, 0, 2, 1)),
        };
        assert_eq!(
            peer_config(&with_source, no_hints).expect("maps").router_id,
            Ipv4Addr::new(172, 30, 0, 12)
        );
        let bare =
            one_peer("peers:\n- peer-address: 172.30.0.1\n  peer-asn: 64501\n  my-asn: 64500\n");
        assert_eq!(
            peer_config(&bare, no_hints).expect("maps").router_id,
            Ipv4Addr::new(192, 0, 2, 1)
        );
    }

    #[test]
    fn ipv6_peer_without_any_ipv4_hint_has_no_router_id() {
        let peer = one_peer(
            "peers:\n- peer-address: 2001:db8::1\n  peer-asn: 64501\n  my-asn: 64500\n  \
             source-address: 2001:db8::11\n",
        );
        assert_eq!(
            peer_config(&peer, RouterIdHints::default()),
            Err(PeerMappingError::NoRouterId)
        );
        assert_eq!(
            peer_config(&peer, node_hint()).expect("maps").router_id,
            NODE_ID
        );
    }

    #[test]
    fn hold_time_zero_means_no_keepalives() {
        let peer = one_peer(
            "peers:\n- peer-address: 172.30.0.1\n  peer-asn: 64501\n  my-asn: 64500\n  hold-time: 0s\n",
        );
        let config = peer_config(&peer, node_hint()).expect("maps");
        assert_eq!((config.hold_time, config.keepalive), (0, None));
    }

    #[test]
    fn gtsm_and_graceful_restart_default_time_reach_the_session() {
        let peer = one_peer(
            "peers:\n- peer-address: 172.30.0.1\n  peer-asn: 64501\n  my-asn: 64500\n  \
             gtsm: true\n  graceful-restart: true\n",
        );
        let config = peer_config(&peer, node_hint()).expect("maps");
        assert!(config.gtsm);
        assert_eq!(config.ebgp_multihop, None);
        assert_eq!(config.graceful_restart, Some(120));
    }

    #[test]
    fn communities_split_into_standard_and_large_with_local_pref() {
        let spec = RouteSpec {
            communities: [
                Community::standard(65535, 65282),
                Community::Large {
                    global_admin: 64500,
                    local_data1: 1,
                    local_data2: 2,
                },
                Community::standard(64500, 1),
            ]
            .into_iter()
            .collect(),
            local_pref: Some(150),
        };
        let attributes = route_attributes(&spec);
        assert_eq!(
            attributes.communities,
            [bgp::Community(0xFBF4_0001), bgp::Community(0xFFFF_FF02)]
        );
        assert_eq!(
            attributes.large_communities,
            [bgp::LargeCommunity {
                global_admin: 64500,
                local_data1: 1,
                local_data2: 2
            }]
        );
        assert_eq!(attributes.local_pref, Some(150));
        assert_eq!(attributes.origin, bgp::Origin::Igp);
    }

    fn session(address: &str, remote_as: u32) -> PeerConfig {
        PeerConfig::new(address.parse().expect("ip"), 64500, remote_as, NODE_ID)
    }

    fn by_address(peers: &[PeerConfig]) -> BTreeMap<IpAddr, PeerConfig> {
        peers.iter().map(|p| (p.address, p.clone())).collect()
    }

    #[test]
    fn peer_plan_adds_new_updates_changed_keeps_unchanged_removes_gone() {
        let kept = session("172.30.0.1", 64501);
        let changed_before = session("172.30.0.2", 64502);
        let mut changed_after = changed_before.clone();
        changed_after.hold_time = 9;
        let gone = session("172.30.0.3", 64503);
        let new = session("2001:db8::1", 64504);

        let plan = plan_peers(
            &by_address(&[kept.clone(), changed_before, gone.clone()]),
            &by_address(&[kept, changed_after.clone(), new.clone()]),
        );
        assert_eq!(
            plan,
            PeerPlan {
                add: vec![new],
                update: vec![changed_after],
                remove: vec![gone.address],
            }
        );
    }

    #[test]
    fn same_peers_give_an_empty_plan() {
        let peers = by_address(&[session("172.30.0.1", 64501), session("172.30.0.2", 64502)]);
        assert!(plan_peers(&peers, &peers).is_empty());
    }

    fn route(communities: &[u32]) -> RouteAttributes {
        RouteAttributes {
            communities: communities.iter().map(|&c| bgp::Community(c)).collect(),
            ..RouteAttributes::default()
        }
    }

    fn net(text: &str) -> IpNet {
        text.parse().expect("prefix")
    }

    #[test]
    fn route_plan_announces_new_and_changed_and_withdraws_gone() {
        let current: BTreeMap<IpNet, RouteAttributes> = [
            (net("192.168.197.1/32"), route(&[])),
            (net("192.168.197.2/32"), route(&[1])),
            (net("2001:db8::1/128"), route(&[])),
        ]
        .into_iter()
        .collect();
        let wanted: BTreeMap<IpNet, RouteAttributes> = [
            (net("192.168.197.1/32"), route(&[])),
            (net("192.168.197.2/32"), route(&[1, 2])),
            (net("192.168.197.3/32"), route(&[])),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            plan_routes(&current, &wanted),
            RoutePlan {
                announce: vec![
                    (net("192.168.197.2/32"), route(&[1, 2])),
                    (net("192.168.197.3/32"), route(&[])),
                ],
                withdraw: vec![net("2001:db8::1/128")],
            }
        );
        assert!(plan_routes(&wanted, &wanted).is_empty());
    }

    #[test]
    fn a_changed_local_pref_is_announced_again() {
        let before: BTreeMap<IpNet, RouteAttributes> =
            [(net("10.0.0.10/32"), route(&[]))].into_iter().collect();
        let mut preferred = route(&[]);
        preferred.local_pref = Some(200);
        let after: BTreeMap<IpNet, RouteAttributes> = [(net("10.0.0.10/32"), preferred.clone())]
            .into_iter()
            .collect();
        let plan = plan_routes(&before, &after);
        assert_eq!(plan.announce, [(net("10.0.0.10/32"), preferred)]);
        assert!(plan.withdraw.is_empty());
    }
}
