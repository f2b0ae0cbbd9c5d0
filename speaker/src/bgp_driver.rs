//! Carries a [`Decision`] out on a [`bgp::Speaker`]: peers added, changed and removed,
//! routes announced and withdrawn, each time only the difference to what is in force.
//!
//! What to do is decided in [`crate::bgp_plan`] (pure: session settings, the speaker's BGP
//! identifier, route attributes, the differences); [`BgpDriver`] only looks up what the
//! host knows (source addresses, interface addresses), remembers what it applied and
//! calls the speaker. A session is reset only when its own settings change
//! (`bgp::Speaker::update_peer` compares them; BFD settings alone apply to the running
//! session); a change in the announced set is an incremental UPDATE on the sessions that
//! are up.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::{IpNet, PeerConfig, RouteAttributes, Speaker, SpeakerError};
use herald_config::Peer;
use tracing::{debug, info, warn};

use crate::announce::Decision;
use crate::bgp_plan::{
    RouterIdHints, RouterIdInputs, RouterIdOrigin, peer_config, plan_peers, plan_routes,
    route_attributes, speaker_router_id,
};
use crate::host::HostInterfaces;

/// How long shutdown waits for the withdrawals to be written before closing sessions.
const WITHDRAW_FLUSH: Duration = Duration::from_secs(2);

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
    route_sources: BTreeMap<IpAddr, Option<Ipv4Addr>>,
    /// The speaker's own BGP identifier, chosen once when a session first needs it.
    speaker_id: Option<(Ipv4Addr, RouterIdOrigin)>,
    /// While set: no session opens as long as a decision withholds a proxied address
    /// (see [`BgpDriver::hold_sessions_until`]).
    startup_hold: Option<tokio::time::Instant>,
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
            speaker_id: None,
            startup_hold: None,
        }
    }

    /// Keeps every BGP session closed, at most until `until`, while a decision withholds
    /// a proxied address (the proxy cannot serve it yet: certificate loading, listener
    /// binding). A restarted speaker's End-of-RIB must not come before its proxied
    /// routes, or routers that kept them through a graceful restart would drop them. The
    /// hold ends for good at the first decision that withholds nothing, or at `until`.
    pub fn hold_sessions_until(&mut self, until: tokio::time::Instant) {
        self.startup_hold = Some(until);
    }

    /// When the startup hold ends, while it holds sessions closed.
    pub fn startup_hold(&self) -> Option<tokio::time::Instant> {
        self.startup_hold
    }

    pub fn speaker(&self) -> &Speaker {
        &self.speaker
    }

    /// The routes announced now.
    pub fn routes(&self) -> &BTreeMap<IpNet, RouteAttributes> {
        &self.routes
    }

    /// The speaker's own BGP identifier and where it came from, once a session needed it.
    pub fn speaker_id(&self) -> Option<(Ipv4Addr, RouterIdOrigin)> {
        self.speaker_id
    }

    /// Peers of the last decision that could not be configured.
    pub fn problems(&self) -> &[PeerProblem] {
        &self.problems
    }

    /// Makes the speaker do what `decision` says, changing only what differs (without
    /// peers while the startup hold lasts).
    pub async fn apply(&mut self, decision: &Decision) {
        let held;
        let decision = match self.startup_hold {
            Some(until) if !decision.withheld.is_empty() && tokio::time::Instant::now() < until => {
                debug!(
                    withheld = decision.withheld.len(),
                    "holding BGP sessions until the proxy serves"
                );
                held = Decision {
                    peers: Vec::new(),
                    ..decision.clone()
                };
                &held
            }
            _ => {
                self.startup_hold = None;
                decision
            }
        };
        let mut problems = Vec::new();
        let mut wanted = BTreeMap::new();
        for peer in &decision.peers {
            if wanted.contains_key(&peer.address) {
                warn!(node = %self.node, peer = %peer.address, "peer listed twice for this node; the first one is used");
                continue;
            }
            let mut hints = RouterIdHints {
                node: self.router_id,
                route_source: self.route_source(peer),
                speaker: None,
            };
            let has_own = peer.router_id.is_some()
                || hints.node.is_some()
                || hints.route_source.is_some()
                || matches!(peer.source_address, Some(IpAddr::V4(_)));
            if !has_own {
                hints.speaker = Some(self.choose_speaker_id(decision));
            }
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
        self.cached_route_source(peer)
    }

    fn cached_route_source(&mut self, peer: &Peer) -> Option<Ipv4Addr> {
        *self
            .route_sources
            .entry(peer.address)
            .or_insert_with(|| route_source_towards(peer))
    }

    /// The speaker's BGP identifier ([`speaker_router_id`]), chosen the first time a session
    /// needs it and kept for the life of the process, so no later event resets sessions.
    fn choose_speaker_id(&mut self, decision: &Decision) -> Ipv4Addr {
        if let Some((id, _)) = self.speaker_id {
            return id;
        }
        let mut ipv4_sessions = Vec::new();
        for peer in decision.peers.iter().filter(|peer| peer.address.is_ipv4()) {
            let source = match peer.source_address {
                Some(IpAddr::V4(source)) => Some(source),
                _ => self.cached_route_source(peer),
            };
            ipv4_sessions.extend(source);
        }
        let inputs = RouterIdInputs {
            flag: self.router_id,
            node_address: None,
            ipv4_sessions,
            node_object: decision.node_addresses.clone(),
            host: HostInterfaces::read().non_loopback(),
            node_name: self.node.clone(),
        };
        let (id, origin) = speaker_router_id(&inputs);
        info!(node = %self.node, router_id = %id, origin = origin.label(), "BGP identifier chosen for sessions that set none");
        self.speaker_id = Some((id, origin));
        id
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

    /// The node has peers and every one has `graceful-restart`: each keeps the routes
    /// while the speaker restarts.
    pub fn all_peers_restart_gracefully(&self) -> bool {
        !self.peers.is_empty()
            && self
                .peers
                .values()
                .all(|peer| peer.graceful_restart.is_some())
    }

    /// Closes every session without a NOTIFICATION and without withdrawing (RFC 4724):
    /// peers that negotiated graceful restart keep the routes, marked stale, until the next
    /// speaker has sent them again (End-of-RIB) or the restart time runs out.
    pub async fn shutdown_for_restart(&mut self) {
        self.speaker.shutdown_for_restart().await;
        self.routes.clear();
        self.peers.clear();
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
