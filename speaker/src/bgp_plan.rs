//! What the BGP speaker should have, pure: a session's settings for each config peer
//! ([`peer_config`]), the speaker's own BGP identifier when nothing sets one
//! ([`speaker_router_id`]), the path attributes of each route ([`route_attributes`]), and
//! the differences between what the speaker has and what the decision asks for
//! ([`plan_peers`], [`plan_routes`]). [`crate::bgp_driver`] carries the plans out.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::{BfdTimers, IpNet, PeerConfig, RouteAttributes};
use herald_config::{Community, Peer};

use crate::announce::RouteSpec;

/// TTL of eBGP packets with `ebgp-multihop: true`.
const MULTIHOP_TTL: u8 = 255;

/// Where a session's router id comes from when the config gives none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterIdHints {
    /// `--router-id`, else the IPv4 `--node-address`.
    pub node: Option<Ipv4Addr>,
    /// The IPv4 address the kernel would use as source towards the peer, if known.
    pub route_source: Option<Ipv4Addr>,
    /// The speaker's own identifier ([`speaker_router_id`]), for a session nothing above
    /// gives one: an IPv6 peer, or an IPv4 peer without a route.
    pub speaker: Option<Ipv4Addr>,
}

/// Why a config peer cannot become a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerMappingError {
    #[error("no router id: set router-id on the peer or pass --router-id")]
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
/// IPv4 peer, else the speaker's own identifier. `ebgp-multihop: true` sends with TTL 255. A keepalive of exactly a third of
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
        .or(hints.speaker)
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
    // Asynchronous mode only: `echo-mode`, `passive-mode` and `minimum-ttl` are accepted
    // by the config but not used (Herald always starts the session and never echoes).
    config.bfd = peer.bfd.as_ref().map(|bfd| BfdTimers {
        desired_min_tx: bfd.settings.transmit_interval,
        required_min_rx: bfd.settings.receive_interval,
        detect_mult: bfd.settings.detect_multiplier,
    });
    Ok(config)
}

/// Where the speaker's own BGP identifier came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterIdOrigin {
    /// `--router-id`.
    Flag,
    /// The IPv4 `--node-address`.
    NodeAddress,
    /// The IPv4 address the node uses towards its first IPv4 peer: that peer's
    /// `source-address`, or the kernel's source address towards it.
    Ipv4Session,
    /// An IPv4 `InternalIP` of the node's Node object.
    NodeObject,
    /// The lowest global IPv4 address on the host's interfaces (not `lo`).
    HostAddress,
    /// No IPv4 address anywhere: derived from the node name ([`name_router_id`]).
    NodeName,
}

impl RouterIdOrigin {
    /// A short label for the log line and `/status`.
    pub fn label(self) -> &'static str {
        match self {
            RouterIdOrigin::Flag => "flag",
            RouterIdOrigin::NodeAddress => "node_address",
            RouterIdOrigin::Ipv4Session => "ipv4_session",
            RouterIdOrigin::NodeObject => "node_object",
            RouterIdOrigin::HostAddress => "host_address",
            RouterIdOrigin::NodeName => "node_name",
        }
    }
}

/// What the speaker's own BGP identifier may be taken from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterIdInputs {
    /// `--router-id`.
    pub flag: Option<Ipv4Addr>,
    /// `--node-address`.
    pub node_address: Option<IpAddr>,
    /// The source address of each IPv4 session, in config order.
    pub ipv4_sessions: Vec<Ipv4Addr>,
    /// The Node object's `InternalIP` addresses.
    pub node_object: Vec<IpAddr>,
    /// The addresses on the host's interfaces other than `lo`.
    pub host: Vec<IpAddr>,
    /// The node's name.
    pub node_name: String,
}

/// The speaker's BGP identifier: one 32-bit value per speaker (RFC 6286 asks only that it
/// be non-zero and unique within the AS). In order: `--router-id`; the IPv4
/// `--node-address`; the IPv4 address the node already uses as router id for its IPv4
/// sessions (the first one's source); an IPv4 `InternalIP` of its Node object; the lowest
/// global IPv4 address of the host; and on a node with no IPv4 address at all, an id
/// derived from the node name ([`name_router_id`]), which is stable across restarts and
/// address changes and the same wherever it is computed.
pub fn speaker_router_id(inputs: &RouterIdInputs) -> (Ipv4Addr, RouterIdOrigin) {
    let v4 = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) if usable_router_id(*v4) => Some(*v4),
        _ => None,
    };
    if let Some(id) = inputs.flag.filter(|id| !id.is_unspecified()) {
        return (id, RouterIdOrigin::Flag);
    }
    if let Some(id) = inputs.node_address.as_ref().and_then(v4) {
        return (id, RouterIdOrigin::NodeAddress);
    }
    if let Some(id) = inputs
        .ipv4_sessions
        .iter()
        .copied()
        .find(|id| usable_router_id(*id))
    {
        return (id, RouterIdOrigin::Ipv4Session);
    }
    if let Some(id) = inputs.node_object.iter().find_map(v4) {
        return (id, RouterIdOrigin::NodeObject);
    }
    if let Some(id) = inputs.host.iter().filter_map(v4).min() {
        return (id, RouterIdOrigin::HostAddress);
    }
    (name_router_id(&inputs.node_name), RouterIdOrigin::NodeName)
}

/// An address that can stand for this node: not unspecified, loopback, link-local,
/// multicast or broadcast.
fn usable_router_id(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast())
}

/// A BGP identifier for a node without IPv4: the 32-bit FNV-1a hash of its name (1 if the
/// hash is 0, which RFC 6286 forbids).
pub fn name_router_id(name: &str) -> Ipv4Addr {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    let hash = name.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(PRIME)
    });
    Ipv4Addr::from(hash.max(1))
}

fn seconds(field: &'static str, duration: Duration) -> Result<u16, PeerMappingError> {
    let seconds = duration.as_secs();
    u16::try_from(seconds).map_err(|_| PeerMappingError::TooLong { field, seconds })
}

/// Link bandwidth per serving endpoint, in bytes per second: 1 Mbps, FRR's unit per path.
/// FRR truncates the value to whole bytes/s and reads 0 as absent, so one endpoint must be
/// worth at least 1.
pub const BYTES_PER_SECOND_PER_ENDPOINT: u32 = 125_000;

/// The path attributes of a route: standard communities (RFC 1997), large ones (RFC 8092),
/// LOCAL_PREF (the speaker sends it on iBGP sessions only) and the link bandwidth of its
/// endpoint weight.
pub fn route_attributes(spec: &RouteSpec) -> RouteAttributes {
    let mut attributes = RouteAttributes {
        local_pref: spec.local_pref,
        link_bandwidth: spec
            .endpoint_weight
            .map(|endpoints| endpoints.saturating_mul(BYTES_PER_SECOND_PER_ENDPOINT)),
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
            ..RouterIdHints::default()
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
    fn bfd_profile_timers_reach_the_session() {
        let peer = one_peer(
            "bfd-profiles:\n- name: fast\n  receive-interval: 20\n  transmit-interval: 50ms\n  \
             detect-multiplier: 4\npeers:\n- peer-address: 172.30.0.1\n  peer-asn: 64501\n  \
             my-asn: 64500\n  bfd-profile: fast\n",
        );
        let config = peer_config(&peer, node_hint()).expect("maps");
        assert_eq!(
            config.bfd,
            Some(BfdTimers {
                desired_min_tx: Duration::from_millis(50),
                required_min_rx: Duration::from_millis(20),
                detect_mult: 4,
            })
        );
        let plain =
            one_peer("peers:\n- peer-address: 172.30.0.1\n  peer-asn: 64501\n  my-asn: 64500\n");
        assert_eq!(peer_config(&plain, node_hint()).expect("maps").bfd, None);
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
            route_source: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..RouterIdHints::default()
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
    fn ipv6_peer_takes_the_speaker_id_when_nothing_else_gives_one() {
        let peer =
            one_peer("peers:\n- peer-address: 2001:db8::1\n  peer-asn: 64501\n  my-asn: 64500\n");
        let speaker = RouterIdHints {
            speaker: Some(Ipv4Addr::new(172, 30, 0, 11)),
            ..RouterIdHints::default()
        };
        assert_eq!(
            peer_config(&peer, speaker).expect("maps").router_id,
            Ipv4Addr::new(172, 30, 0, 11)
        );
        let with_own = one_peer(
            "peers:\n- peer-address: 2001:db8::1\n  peer-asn: 64501\n  my-asn: 64500\n  \
             router-id: 10.9.9.9\n",
        );
        assert_eq!(
            peer_config(&with_own, speaker).expect("maps").router_id,
            Ipv4Addr::new(10, 9, 9, 9),
            "a peer's own router-id still wins"
        );
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|ip| ip.parse().expect("ip")).collect()
    }

    #[test]
    fn speaker_id_prefers_flag_then_node_address_then_ipv4_session() {
        let mut inputs = RouterIdInputs {
            flag: Some(Ipv4Addr::new(10, 0, 0, 1)),
            node_address: Some("10.0.0.2".parse().expect("ip")),
            ipv4_sessions: vec![Ipv4Addr::new(10, 0, 0, 3)],
            node_object: ips(&["10.0.0.4"]),
            host: ips(&["10.0.0.5"]),
            node_name: "node1".into(),
        };
        let mut seen = Vec::new();
        seen.push(speaker_router_id(&inputs));
        inputs.flag = None;
        seen.push(speaker_router_id(&inputs));
        inputs.node_address = Some("2001:db8::2".parse().expect("ip"));
        seen.push(speaker_router_id(&inputs));
        inputs.ipv4_sessions.clear();
        seen.push(speaker_router_id(&inputs));
        inputs.node_object = ips(&["2001:db8::4"]);
        seen.push(speaker_router_id(&inputs));
        assert_eq!(
            seen,
            [
                (Ipv4Addr::new(10, 0, 0, 1), RouterIdOrigin::Flag),
                (Ipv4Addr::new(10, 0, 0, 2), RouterIdOrigin::NodeAddress),
                (Ipv4Addr::new(10, 0, 0, 3), RouterIdOrigin::Ipv4Session),
                (Ipv4Addr::new(10, 0, 0, 4), RouterIdOrigin::NodeObject),
                (Ipv4Addr::new(10, 0, 0, 5), RouterIdOrigin::HostAddress),
            ]
        );
    }

    #[test]
    fn host_id_is_the_lowest_global_ipv4_and_skips_loopback_and_link_local() {
        let inputs = RouterIdInputs {
            host: ips(&[
                "fd00:30::2",
                "169.254.1.1",
                "172.30.0.12",
                "127.0.0.2",
                "172.30.0.11",
            ]),
            node_name: "node1".into(),
            ..RouterIdInputs::default()
        };
        assert_eq!(
            speaker_router_id(&inputs),
            (Ipv4Addr::new(172, 30, 0, 11), RouterIdOrigin::HostAddress)
        );
    }

    #[test]
    fn ipv6_only_node_gets_a_stable_nonzero_id_from_its_name() {
        let inputs = RouterIdInputs {
            node_address: Some("fd00:30::2".parse().expect("ip")),
            node_object: ips(&["fd00:30::2"]),
            host: ips(&["fd00:30::2", "fe80::1"]),
            node_name: "node1".into(),
            ..RouterIdInputs::default()
        };
        let (id, origin) = speaker_router_id(&inputs);
        assert_eq!(origin, RouterIdOrigin::NodeName);
        assert_eq!(id, name_router_id("node1"));
        assert_eq!(speaker_router_id(&inputs).0, id, "the same every time");
        assert_ne!(id, name_router_id("node2"), "other nodes get other ids");
        assert!(!id.is_unspecified());
        // FNV-1a of "node1", a fixed value: a change here would reset every session of
        // an IPv6-only node on upgrade.
        assert_eq!(id, Ipv4Addr::from(0x0f4e_2874_u32));
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
            endpoint_weight: None,
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
        assert_eq!(attributes.link_bandwidth, None, "unweighted");
    }

    #[test]
    fn each_endpoint_is_worth_one_megabit_of_link_bandwidth() {
        let bandwidth = |endpoint_weight| {
            route_attributes(&RouteSpec {
                endpoint_weight,
                ..RouteSpec::default()
            })
            .link_bandwidth
        };
        assert_eq!(bandwidth(Some(1)), Some(125_000));
        assert_eq!(bandwidth(Some(3)), Some(375_000));
        assert_eq!(bandwidth(Some(u32::MAX)), Some(u32::MAX), "saturates");
        assert_eq!(bandwidth(None), None);
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
