//! The pure announcement decision (DESIGN.md section 5): given the cluster view and this
//! node's name, which BGP peers to open, which routes to announce, and why every other
//! Service address is not announced from here.
//!
//! A node announces a Service address iff:
//!
//! 1. the address lies in a pool of protocol `bgp` (layer2 pools are VRRP's business);
//! 2. the node is in the view, not labelled
//!    `node.kubernetes.io/exclude-from-external-load-balancers` (any value), not cordoned
//!    (`spec.unschedulable`) and its `NetworkUnavailable` condition is not `"True"`;
//! 3. at least one peer's node-selectors select the node;
//! 4. the Service has a serving endpoint: anywhere for `externalTrafficPolicy: Cluster`,
//!    on this node for `Local`.
//!
//! Routes: each announced address, for each advertisement of its pool, truncated to the
//! advertisement's aggregation length for its family. A route carries the advertisement's
//! communities plus those of the Service's `herald.dev/bgp-communities` annotation, and the
//! Service's `herald.dev/bgp-localpref` if set, else the advertisement's `localpref`.
//! With `link-bandwidth: true` and `Local` policy it also carries the node's count of
//! serving local endpoints of the Service (the link bandwidth weight); `Cluster` Services
//! go unweighted, since kube-proxy spreads their traffic over every endpoint whichever node
//! receives it. When several (Service, address, advertisement) triples give the same
//! prefix, the route carries the union of their communities and the highest LOCAL_PREF
//! among them (set beats unset): a router that filters on any of the communities still
//! sees the route, and the preference is never lowered because a second Service happens to
//! share the aggregate. Their weights add up if every one is weighted, else the route goes
//! unweighted.
//!
//! Draining (RFC 8326): a node that is about to stop announcing — labelled to be
//! excluded, cordoned, or its speaker stopping — first announces what it would announce if
//! it were not stopping, every route marked with the GRACEFUL_SHUTDOWN community and
//! LOCAL_PREF 0 ([`decide_draining`]); [`crate::drain`] says for how long.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use herald_config::{BgpAdvertisement, Community, IpFamily, Peer, Protocol, keys};
use herald_core::{ServiceKey, TrafficPolicy};
use ipnet::IpNet;

use crate::proxy::driver::ServingMap;
use crate::proxy::serving::{Serving, Withheld};
use crate::view::{ClusterView, NodeView, ServiceView};

/// What one node should do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Peers whose node-selectors select this node, in config order; empty when the node
    /// is unknown, excluded or its network is unavailable.
    pub peers: Vec<Peer>,
    /// Routes to announce to every peer of the route's family.
    pub routes: BTreeMap<IpNet, RouteSpec>,
    /// The Service addresses this node announces, by Service then address order.
    pub announced: Vec<(ServiceKey, IpAddr)>,
    /// The Service addresses (or Services without any) this node does not announce.
    pub not_announced: Vec<NotAnnounced>,
    /// The node's `InternalIP` addresses from its Node object: where the BGP identifier
    /// comes from when no flag, peer or IPv4 session gives one.
    pub node_addresses: Vec<IpAddr>,
    /// Proxied addresses announced only while the proxy can serve them, withheld now
    /// (also in `not_announced` as [`Reason::ProxyNotServing`]), with the proxy's reason.
    pub withheld: Vec<Withheld>,
}

/// RFC 8326 GRACEFUL_SHUTDOWN, 65535:0.
pub const GRACEFUL_SHUTDOWN: Community = Community::Standard(0xFFFF_0000);

/// Path attributes of one announced prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteSpec {
    /// Standard and large communities.
    pub communities: BTreeSet<Community>,
    /// LOCAL_PREF (sent on iBGP sessions only).
    pub local_pref: Option<u32>,
    /// Serving endpoints on this node behind the route, for the link bandwidth extended
    /// community (`link-bandwidth: true`, `Local` policy); `None`: unweighted.
    pub endpoint_weight: Option<u32>,
}

impl RouteSpec {
    /// The attributes `service` gets from `advertisement`, with `local_endpoints` serving
    /// on this node.
    fn new(advertisement: &BgpAdvertisement, service: &ServiceView, local_endpoints: u32) -> Self {
        let mut communities = advertisement.communities.clone();
        communities.extend(service.bgp.communities.iter().copied());
        let weighted =
            advertisement.link_bandwidth && service.traffic_policy == TrafficPolicy::Local;
        Self {
            communities,
            local_pref: service.bgp.local_pref.or(advertisement.local_pref),
            endpoint_weight: weighted.then_some(local_endpoints),
        }
    }

    /// RFC 8326: the GRACEFUL_SHUTDOWN community, and LOCAL_PREF 0 for iBGP peers (eBGP
    /// peers never see LOCAL_PREF; their routers act on the community).
    pub fn mark_graceful_shutdown(&mut self) {
        self.communities.insert(GRACEFUL_SHUTDOWN);
        self.local_pref = Some(0);
    }

    /// Folds another contribution to the same prefix in: union of communities, highest
    /// LOCAL_PREF, weights added when both are weighted.
    fn merge(&mut self, other: RouteSpec) {
        self.communities.extend(other.communities);
        self.local_pref = self.local_pref.max(other.local_pref);
        self.endpoint_weight = match (self.endpoint_weight, other.endpoint_weight) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            _ => None,
        };
    }
}

/// A Service address this node does not announce, or a Service with no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnnounced {
    pub service: ServiceKey,
    /// `None` with [`Reason::NoAddress`].
    pub address: Option<IpAddr>,
    pub reason: Reason,
}

impl fmt::Display for NotAnnounced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            Some(ip) => write!(f, "{} {ip}: {}", self.service, self.reason),
            None => write!(f, "{}: {}", self.service, self.reason),
        }
    }
}

/// Why an address is not announced from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The Service has no load-balancer address yet.
    NoAddress,
    /// The address lies in no configured pool.
    NotInAnyPool,
    /// The address's pool is a layer2 (VRRP) pool.
    Layer2Pool,
    /// This node is not in the view (no Node object of that name).
    NodeUnknown,
    /// The node carries `node.kubernetes.io/exclude-from-external-load-balancers`.
    NodeExcluded,
    /// The node is cordoned (`spec.unschedulable`).
    NodeCordoned,
    /// The node's `NetworkUnavailable` condition is true.
    NodeNetworkUnavailable,
    /// No peer's node-selectors select this node.
    NoPeerSelectsNode,
    /// `Cluster` policy and no serving endpoint anywhere.
    NoServingEndpoint,
    /// `Local` policy and no serving endpoint on this node.
    NoServingEndpointOnNode,
    /// Herald's proxy serves the address and cannot right now (listener not bound, no
    /// certificate, no healthy backend): `Decision::withheld` says which.
    ProxyNotServing,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 11] = [
        Reason::NoAddress,
        Reason::NotInAnyPool,
        Reason::Layer2Pool,
        Reason::NodeUnknown,
        Reason::NodeExcluded,
        Reason::NodeCordoned,
        Reason::NodeNetworkUnavailable,
        Reason::NoPeerSelectsNode,
        Reason::NoServingEndpoint,
        Reason::NoServingEndpointOnNode,
        Reason::ProxyNotServing,
    ];

    /// A short stable label for metrics and JSON.
    pub fn label(self) -> &'static str {
        match self {
            Reason::NoAddress => "no_address",
            Reason::NotInAnyPool => "not_in_any_pool",
            Reason::Layer2Pool => "layer2_pool",
            Reason::NodeUnknown => "node_unknown",
            Reason::NodeExcluded => "node_excluded",
            Reason::NodeCordoned => "node_cordoned",
            Reason::NodeNetworkUnavailable => "node_network_unavailable",
            Reason::NoPeerSelectsNode => "no_peer_selects_node",
            Reason::NoServingEndpoint => "no_serving_endpoint",
            Reason::NoServingEndpointOnNode => "no_serving_endpoint_on_node",
            Reason::ProxyNotServing => "proxy_not_serving",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::NoAddress => "the Service has no load-balancer address",
            Reason::NotInAnyPool => "the address is in no configured pool",
            Reason::Layer2Pool => "the address's pool is a layer2 pool (held with VRRP)",
            Reason::NodeUnknown => "this node has no Node object",
            Reason::NodeExcluded => {
                "the node is labelled node.kubernetes.io/exclude-from-external-load-balancers"
            }
            Reason::NodeCordoned => "the node is cordoned (spec.unschedulable)",
            Reason::NodeNetworkUnavailable => "the node's NetworkUnavailable condition is true",
            Reason::NoPeerSelectsNode => "no BGP peer's node-selectors select this node",
            Reason::NoServingEndpoint => "the Service has no serving endpoint",
            Reason::NoServingEndpointOnNode => {
                "externalTrafficPolicy is Local and no serving endpoint runs on this node"
            }
            Reason::ProxyNotServing => "Herald's proxy on this node cannot serve it",
        })
    }
}

/// The decision for `node`, with no proxied address (see [`decide_serving`]).
pub fn decide(view: &ClusterView, node: &str) -> Decision {
    decide_serving(view, node, &ServingMap::new())
}

/// The decision for `node` when Herald's proxy serves some addresses: a proxied address
/// that the rules above would announce is announced only while `serving` says the proxy
/// can serve it ("announce only what can be served"); addresses missing from `serving`
/// are not proxied and follow the rules alone.
pub fn decide_serving(view: &ClusterView, node: &str, serving: &ServingMap) -> Decision {
    decide_with(view, node, serving, node_state(view, node))
}

/// The decision of a node that is draining: what it would announce if it were neither
/// excluded nor cordoned, every route marked with the GRACEFUL_SHUTDOWN community (RFC
/// 8326) and LOCAL_PREF 0, so routers move flows to other nodes before the withdraw.
pub fn decide_draining(view: &ClusterView, node: &str, serving: &ServingMap) -> Decision {
    let state = view
        .nodes
        .get(node)
        .ok_or(Reason::NodeUnknown)
        .and_then(network_state);
    let mut decision = decide_with(view, node, serving, state);
    for spec in decision.routes.values_mut() {
        spec.mark_graceful_shutdown();
    }
    decision
}

/// Why the node is to stop announcing while it runs (labelled to be excluded, or
/// cordoned): the causes a drain follows. `None` for an unknown node.
pub fn node_stopping(view: &ClusterView, node: &str) -> Option<Reason> {
    view.nodes.get(node).and_then(stop_reason)
}

fn decide_with(
    view: &ClusterView,
    node: &str,
    serving: &ServingMap,
    node_state: Result<&NodeView, Reason>,
) -> Decision {
    let peers: Vec<Peer> = match &node_state {
        Ok(node) => view.config.peers_for_node(&node.labels).cloned().collect(),
        Err(_) => Vec::new(),
    };

    let mut decision = Decision {
        peers,
        node_addresses: node_state
            .as_ref()
            .map(|node| node.internal_ips.clone())
            .unwrap_or_default(),
        ..Decision::default()
    };
    for service in view.services.values() {
        if service.addresses.is_empty() {
            decision.not_announced.push(NotAnnounced {
                service: service.key.clone(),
                address: None,
                reason: Reason::NoAddress,
            });
            continue;
        }
        for &address in &service.addresses {
            match address_decision(view, &node_state, &decision.peers, service, node, address) {
                Ok(_)
                    if let Some(Serving::Withdraw(reason)) =
                        serving.get(&(service.key.clone(), address)) =>
                {
                    decision.withheld.push(Withheld {
                        service: service.key.clone(),
                        address,
                        reason: *reason,
                    });
                    decision.not_announced.push(NotAnnounced {
                        service: service.key.clone(),
                        address: Some(address),
                        reason: Reason::ProxyNotServing,
                    });
                }
                Ok(advertisements) => {
                    let local_endpoints = local_serving_endpoints(service, node);
                    for advertisement in advertisements {
                        let prefix = aggregate(address, advertisement);
                        let spec = RouteSpec::new(advertisement, service, local_endpoints);
                        decision
                            .routes
                            .entry(prefix)
                            .and_modify(|existing| existing.merge(spec.clone()))
                            .or_insert(spec);
                    }
                    decision.announced.push((service.key.clone(), address));
                }
                Err(reason) => decision.not_announced.push(NotAnnounced {
                    service: service.key.clone(),
                    address: Some(address),
                    reason,
                }),
            }
        }
    }
    decision
}

/// The node if it may announce at all, else the reason it may not (shared with the L2
/// plan: a node that may not announce over BGP may not hold addresses with VRRP either).
pub(crate) fn node_state<'a>(view: &'a ClusterView, node: &str) -> Result<&'a NodeView, Reason> {
    let node = view.nodes.get(node).ok_or(Reason::NodeUnknown)?;
    match stop_reason(node) {
        Some(reason) => Err(reason),
        None => network_state(node),
    }
}

fn stop_reason(node: &NodeView) -> Option<Reason> {
    if keys::node_excluded(&node.labels) {
        Some(Reason::NodeExcluded)
    } else if node.unschedulable {
        Some(Reason::NodeCordoned)
    } else {
        None
    }
}

fn network_state(node: &NodeView) -> Result<&NodeView, Reason> {
    if node.network_unavailable {
        return Err(Reason::NodeNetworkUnavailable);
    }
    Ok(node)
}

/// The advertisements to announce `address` with, or why it is not announced.
fn address_decision<'a>(
    view: &'a ClusterView,
    node_state: &Result<&NodeView, Reason>,
    peers: &[Peer],
    service: &ServiceView,
    node: &str,
    address: IpAddr,
) -> Result<&'a [BgpAdvertisement], Reason> {
    let pool = view
        .config
        .pool_containing(address)
        .ok_or(Reason::NotInAnyPool)?;
    if pool.protocol == Protocol::Layer2 {
        return Err(Reason::Layer2Pool);
    }
    if let Err(reason) = node_state {
        return Err(*reason);
    }
    if peers.is_empty() {
        return Err(Reason::NoPeerSelectsNode);
    }
    match service.traffic_policy {
        TrafficPolicy::Cluster => {
            if !service.endpoints.iter().any(|e| e.is_serving()) {
                return Err(Reason::NoServingEndpoint);
            }
        }
        TrafficPolicy::Local => {
            if !service
                .endpoints
                .iter()
                .any(|e| e.is_on(node) && e.is_serving())
            {
                return Err(Reason::NoServingEndpointOnNode);
            }
        }
    }
    Ok(&pool.bgp_advertisements)
}

/// The Service's serving endpoints on `node` (an endpoint counts once whatever its
/// number of addresses).
fn local_serving_endpoints(service: &ServiceView, node: &str) -> u32 {
    let count = service
        .endpoints
        .iter()
        .filter(|e| e.is_on(node) && e.is_serving())
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// `address` truncated to the advertisement's aggregation length for its family.
fn aggregate(address: IpAddr, advertisement: &BgpAdvertisement) -> IpNet {
    let family = IpFamily::of(address);
    IpNet::new(address, advertisement.aggregation_length_for(family))
        .map(|net| net.trunc())
        // The config checked the lengths; a bad one falls back to the host route.
        .unwrap_or_else(|_| IpNet::from(address))
}
