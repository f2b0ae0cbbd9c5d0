//! The speaker's admin HTTP server: the shared `/metrics`, `/livez`, `/readyz`
//! (`herald_runtime::admin`) plus `/status`, a JSON account of this node: sessions,
//! routes, what is and is not announced and why, and the source's problems.
//!
//! The main loop [`AdminState::publish`]es after every decision; BGP counters are read
//! from the speaker when `/metrics` or `/status` is asked for.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bgp::{PeerStats, Speaker};
use herald_runtime::admin::{self as common, Readiness, Reply};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::announce::Decision;
use crate::bgp_driver::PeerProblem;
use crate::bgp_plan::RouterIdOrigin;
use crate::l2::L2State;
use crate::l2::plan::family_label;
use crate::metrics::Metrics;
use crate::proxy::health::HealthState;
use crate::proxy::runtime::{HandoverReport, ProxyStatus};
use crate::proxy::serving::CertificateState;

/// What the main loop last published.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The source has delivered a view (caches synced and a config in force).
    pub source_ready: bool,
    /// The source's current problems.
    pub source_errors: Vec<String>,
    /// Services of the view that Herald cannot read in full (`ns/name: why`).
    pub service_problems: Vec<String>,
    /// The decision in force.
    pub decision: Decision,
    /// The node's drain, while one runs or after it ran (`None`: serving as usual).
    pub drain: Option<DrainReport>,
    /// Peers of the decision that could not be configured.
    pub peer_problems: Vec<PeerProblem>,
    /// The speaker's own BGP identifier for sessions that set none, once one was chosen.
    pub speaker_id: Option<(Ipv4Addr, RouterIdOrigin)>,
    /// L2 mode: the VRRP instances and problems.
    pub l2: L2State,
    /// The proxy: a reader of its live state, and the last apply's problems.
    pub proxy: Option<ProxyStatus>,
    pub proxy_problems: Vec<String>,
}

/// `/status` `drain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    /// `draining` (routes carry GRACEFUL_SHUTDOWN) or `drained` (withdrawn).
    pub phase: &'static str,
    /// `node_cordoned`, `node_excluded` or `shutdown`.
    pub cause: &'static str,
    /// Until the routes are withdrawn.
    pub remaining_ms: u64,
}

/// Everything the admin handlers read.
#[derive(Debug)]
pub struct AdminState {
    node: String,
    speaker: Speaker,
    metrics: Metrics,
    registry: Arc<Registry>,
    published: Mutex<Published>,
}

impl AdminState {
    pub fn new(node: &str, speaker: Speaker, metrics: Metrics, registry: Registry) -> Arc<Self> {
        Arc::new(Self {
            node: node.to_owned(),
            speaker,
            metrics,
            registry: Arc::new(registry),
            published: Mutex::default(),
        })
    }

    pub fn publish(&self, published: Published) {
        *self.lock() = published;
    }

    /// Ready once the source has delivered a view and it has been applied.
    pub fn is_ready(&self) -> bool {
        self.lock().source_ready
    }

    fn lock(&self) -> MutexGuard<'_, Published> {
        self.published
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads the speaker's counters into the metrics; returns them.
    async fn refresh(&self) -> Vec<PeerStats> {
        let stats = self.speaker.stats().await;
        self.metrics.observe_peers(&stats);
        let (instances, segments, proxy) = {
            let state = self.lock();
            (
                state.l2.instances.clone(),
                state.l2.segments.clone(),
                state.proxy.clone(),
            )
        };
        self.metrics.observe_vrrp(&instances);
        self.metrics.observe_segments(&segments);
        if let Some(proxy) = proxy {
            self.metrics
                .observe_proxy(&proxy.listeners(), &proxy.certificates());
        }
        stats
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Reply {
        let get = request.method() == Method::GET || request.method() == Method::HEAD;
        match request.uri().path() {
            "/status" if get => {
                let stats = self.refresh().await;
                let report = {
                    let published = self.lock();
                    status_report(&self.node, &published, &stats, Instant::now())
                };
                match serde_json::to_vec_pretty(&report) {
                    Ok(body) => common::reply(StatusCode::OK, "application/json", body),
                    Err(_) => common::text(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n"),
                }
            }
            "/metrics" if get => {
                self.refresh().await;
                let ready = self.readiness();
                common::respond(&request, &self.registry, &ready)
            }
            _ => common::respond(&request, &self.registry, &self.readiness()),
        }
    }

    fn readiness(self: &Arc<Self>) -> Readiness {
        let state = self.clone();
        Arc::new(move || state.is_ready())
    }
}

/// The admin server's listening socket on `addr`, with SO_REUSEPORT: during a restart the
/// next speaker binds the same port while this one still runs (the kernel allows it only
/// to processes of the same user); this one closes its listener once it has handed over.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Serves the admin paths on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>, shutdown: CancellationToken) {
    let handler = move |request: Request<Incoming>| state.clone().handle(request);
    common::serve_with(listener, handler, shutdown).await;
}

/// `/status`.
#[derive(Debug, Serialize, PartialEq)]
pub struct StatusReport {
    pub node: String,
    pub ready: bool,
    pub source_errors: Vec<String>,
    pub service_problems: Vec<String>,
    /// The BGP identifier of sessions that set none, and where it came from.
    pub router_id: Option<RouterIdReport>,
    pub peers: Vec<PeerReport>,
    pub routes: Vec<RouteReport>,
    /// A drain that runs or ran (`null` while the node serves as usual).
    pub drain: Option<DrainReport>,
    pub announced: Vec<AnnouncedReport>,
    pub not_announced: Vec<NotAnnouncedReport>,
    /// L2 mode (VRRP).
    pub l2: L2Report,
    /// The in-process proxy.
    pub proxy: ProxyReport,
}

#[derive(Debug, Serialize, PartialEq, Default)]
pub struct ProxyReport {
    pub listeners: Vec<ListenerReport>,
    pub certificates: Vec<CertificateSourceReport>,
    /// Proxied addresses this node would announce but withholds: the proxy cannot serve
    /// them now.
    pub withheld: Vec<WithheldReport>,
    pub problems: Vec<String>,
    /// The listening sockets' handover across restarts.
    pub handover: HandoverReport,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ListenerReport {
    pub service: String,
    pub pool: String,
    pub address: IpAddr,
    pub port: u16,
    pub tls: bool,
    /// `null` when bound, else why binding fails (retried).
    pub bind_error: Option<String>,
    pub backends: Vec<BackendReport>,
    pub active: u64,
    pub total: u64,
    pub refused: u64,
    pub connect_failures: u64,
    pub no_backend: u64,
    pub handshake_failures: u64,
    pub idle_timeouts: u64,
    pub bytes_to_backend: u64,
    pub bytes_to_client: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct BackendReport {
    pub address: String,
    /// `up` / `down`.
    pub health: &'static str,
    pub draining: bool,
    pub open: u32,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct CertificateSourceReport {
    pub source: String,
    /// `loaded` / `missing`.
    pub state: &'static str,
    pub subject: Option<String>,
    pub serial: Option<String>,
    pub names: Vec<String>,
    /// The newest bundle's refusal, while the previous certificate stays in use.
    pub last_failure: Option<String>,
    pub handshakes_completed: u64,
    pub handshakes_resumed: u64,
    pub handshake_failures: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct WithheldReport {
    pub service: String,
    pub address: IpAddr,
    pub reason: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct L2Report {
    pub instances: Vec<VrrpInstanceReport>,
    /// The receive sockets, one per interface and family, shared by its instances.
    pub segments: Vec<VrrpSegmentReport>,
    pub problems: Vec<L2ProblemReport>,
    /// Why this node holds no L2 address at all (`node_excluded`, ...).
    pub node_reason: Option<&'static str>,
}

/// One VRRP instance: what a keepalived `vrrp_instance` sharing the VRID needs, and how
/// it is doing.
#[derive(Debug, Serialize, PartialEq)]
pub struct VrrpInstanceReport {
    pub interface: String,
    /// `ipv4` / `ipv6`.
    pub family: &'static str,
    pub vrid: u8,
    pub priority: u8,
    pub advert_interval_ms: u32,
    /// Empty: multicast.
    pub unicast_peers: Vec<IpAddr>,
    pub addresses: Vec<IpAddr>,
    /// `initialize`, `backup`, `master`.
    pub state: &'static str,
    /// This node's primary address when master, the master's when backup.
    pub master: Option<IpAddr>,
    pub transitions: u64,
    /// Packets refused or ignored, by reason.
    pub dropped: BTreeMap<&'static str, u64>,
    pub address_mismatches: u64,
    pub v2_adverts: u64,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub errors: BTreeMap<&'static str, u64>,
}

/// One interface and family's VRRP receive socket.
#[derive(Debug, Serialize, PartialEq)]
pub struct VrrpSegmentReport {
    pub interface: String,
    pub family: &'static str,
    /// Packets read, each decoded once.
    pub received: u64,
    /// Packets the codec refused, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Adverts for VRIDs this node does not run.
    pub unknown_vrids: u64,
    pub v2_adverts: u64,
    /// Adverts dropped because their instance's queue was full.
    pub overflows: u64,
    pub receive_errors: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct L2ProblemReport {
    /// `interface_not_found`, `no_common_node`, `too_many_addresses`,
    /// `settings_conflict`, `start_failed`.
    pub kind: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct RouterIdReport {
    pub id: Ipv4Addr,
    /// `flag`, `node_address`, `ipv4_session`, `node_object`, `host_address`, `node_name`.
    pub origin: &'static str,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct PeerReport {
    pub address: IpAddr,
    pub remote_as: Option<u32>,
    pub state: String,
    /// Seconds since the session was Established.
    pub uptime_seconds: Option<u64>,
    pub hold_time: Option<u16>,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub updates_sent: u64,
    pub updates_received: u64,
    pub prefixes_sent: u64,
    pub prefixes_received: u64,
    pub last_error: Option<String>,
    /// Why Herald could not configure this peer (then it has no session).
    pub config_error: Option<String>,
    /// The BFD session with this peer, if `bfd` is configured.
    pub bfd: Option<BfdReport>,
}

/// One BFD session: its state and the intervals agreed with the peer.
#[derive(Debug, Serialize, PartialEq)]
pub struct BfdReport {
    /// `Up`, `Down`, `Init`, `AdminDown`.
    pub state: &'static str,
    pub remote_state: &'static str,
    /// Why the session last went down (RFC 5880 diagnostic).
    pub diagnostic: &'static str,
    pub transmit_interval_ms: f64,
    pub receive_interval_ms: f64,
    pub detection_time_ms: f64,
    pub flaps: u64,
    /// A socket the session needs could not be opened.
    pub error: Option<String>,
}

impl BfdReport {
    fn new(status: &bgp::BfdStatus) -> BfdReport {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        BfdReport {
            state: status.state.name(),
            remote_state: status.remote_state.name(),
            diagnostic: status.local_diag.name(),
            transmit_interval_ms: ms(status.negotiated.tx_interval),
            receive_interval_ms: ms(status.negotiated.rx_interval),
            detection_time_ms: ms(status.negotiated.detection_time),
            flaps: status.flaps,
            error: status.error.clone(),
        }
    }
}

#[derive(Debug, Serialize, PartialEq)]
pub struct RouteReport {
    pub prefix: String,
    pub communities: Vec<String>,
    pub local_pref: Option<u32>,
    /// Local serving endpoints the route's link bandwidth stands for (`link-bandwidth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_weight: Option<u32>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct AnnouncedReport {
    pub service: String,
    pub address: IpAddr,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct NotAnnouncedReport {
    pub service: String,
    pub address: Option<IpAddr>,
    pub reason: &'static str,
    pub message: String,
}

/// The `/status` document, pure.
pub fn status_report(
    node: &str,
    published: &Published,
    stats: &[PeerStats],
    now: Instant,
) -> StatusReport {
    let mut peers: Vec<PeerReport> = stats
        .iter()
        .map(|peer| PeerReport {
            address: peer.address,
            remote_as: Some(peer.remote_as),
            state: peer.state.to_string(),
            uptime_seconds: peer
                .established_since
                .map(|since| now.saturating_duration_since(since).as_secs()),
            hold_time: peer.hold_time,
            messages_sent: peer.messages_sent,
            messages_received: peer.messages_received,
            updates_sent: peer.updates_sent,
            updates_received: peer.updates_received,
            prefixes_sent: peer.prefixes_sent,
            prefixes_received: peer.prefixes_received,
            last_error: peer.last_error.clone(),
            config_error: None,
            bfd: peer.bfd.as_ref().map(BfdReport::new),
        })
        .collect();
    for problem in &published.peer_problems {
        match peers.iter_mut().find(|p| p.address == problem.address) {
            Some(peer) => peer.config_error = Some(problem.error.clone()),
            None => peers.push(PeerReport {
                address: problem.address,
                remote_as: None,
                state: "NotConfigured".to_owned(),
                uptime_seconds: None,
                hold_time: None,
                messages_sent: 0,
                messages_received: 0,
                updates_sent: 0,
                updates_received: 0,
                prefixes_sent: 0,
                prefixes_received: 0,
                last_error: None,
                config_error: Some(problem.error.clone()),
                bfd: None,
            }),
        }
    }
    let decision = &published.decision;
    StatusReport {
        node: node.to_owned(),
        ready: published.source_ready,
        source_errors: published.source_errors.clone(),
        service_problems: published.service_problems.clone(),
        router_id: published.speaker_id.map(|(id, origin)| RouterIdReport {
            id,
            origin: origin.label(),
        }),
        peers,
        routes: decision
            .routes
            .iter()
            .map(|(prefix, spec)| RouteReport {
                prefix: prefix.to_string(),
                communities: spec.communities.iter().map(ToString::to_string).collect(),
                local_pref: spec.local_pref,
                endpoint_weight: spec.endpoint_weight,
            })
            .collect(),
        drain: published.drain.clone(),
        announced: decision
            .announced
            .iter()
            .map(|(service, address)| AnnouncedReport {
                service: service.to_string(),
                address: *address,
            })
            .collect(),
        not_announced: decision
            .not_announced
            .iter()
            .map(|n| NotAnnouncedReport {
                service: n.service.to_string(),
                address: n.address,
                reason: n.reason.label(),
                message: n.reason.to_string(),
            })
            .collect(),
        l2: l2_report(&published.l2),
        proxy: proxy_report(published),
    }
}

fn proxy_report(published: &Published) -> ProxyReport {
    let Some(proxy) = &published.proxy else {
        return ProxyReport {
            problems: published.proxy_problems.clone(),
            ..ProxyReport::default()
        };
    };
    let listeners = proxy
        .listeners()
        .into_iter()
        .map(|l| ListenerReport {
            service: l.service.to_string(),
            pool: l.pool,
            address: l.address,
            port: l.port,
            tls: l.tls,
            bind_error: l.bound.err(),
            backends: l
                .backends
                .iter()
                .map(|b| BackendReport {
                    address: b.address.to_string(),
                    health: match b.health {
                        HealthState::Up => "up",
                        HealthState::Down => "down",
                    },
                    draining: b.draining,
                    open: b.open,
                })
                .collect(),
            active: l.active,
            total: l.total,
            refused: l.refused,
            connect_failures: l.connect_failures,
            no_backend: l.no_backend,
            handshake_failures: l.handshake_failures,
            idle_timeouts: l.idle_timeouts,
            bytes_to_backend: l.bytes_to_backend,
            bytes_to_client: l.bytes_to_client,
        })
        .collect();
    let certificates = proxy
        .certificates()
        .into_iter()
        .map(|c| {
            let status = c.status.first();
            let info = status.and_then(|s| s.certificate.as_ref());
            CertificateSourceReport {
                source: c.source,
                state: match c.state {
                    CertificateState::Loaded => "loaded",
                    _ => "missing",
                },
                subject: info.map(|i| i.subject.clone()),
                serial: info.map(|i| i.serial.clone()),
                names: info
                    .map(|i| i.names.iter().map(ToString::to_string).collect())
                    .unwrap_or_default(),
                last_failure: status
                    .and_then(|s| s.last_failure.as_ref())
                    .map(|f| f.message.clone()),
                handshakes_completed: c.handshakes_completed,
                handshakes_resumed: c.handshakes_resumed,
                handshake_failures: c.handshake_failures,
            }
        })
        .collect();
    ProxyReport {
        listeners,
        certificates,
        handover: proxy.handover(),
        withheld: published
            .decision
            .withheld
            .iter()
            .map(|w| WithheldReport {
                service: w.service.to_string(),
                address: w.address,
                reason: w.reason.label(),
                message: w.reason.to_string(),
            })
            .collect(),
        problems: published.proxy_problems.clone(),
    }
}

fn l2_report(l2: &L2State) -> L2Report {
    let instances = l2
        .instances
        .iter()
        .map(|instance| {
            let status = instance.status.borrow().clone();
            let plan = &instance.plan;
            let mut dropped = status.discards.clone();
            for (reason, count) in status.rejects.iter() {
                *dropped.entry(reason).or_default() += count;
            }
            VrrpInstanceReport {
                interface: plan.interface.clone(),
                family: family_label(plan.family),
                vrid: plan.vrid,
                priority: plan.priority,
                advert_interval_ms: plan.advert_interval.get().saturating_mul(10),
                unicast_peers: plan.unicast_peers.clone(),
                addresses: plan.addresses.clone(),
                state: status.state.label(),
                master: status.master,
                transitions: status.transitions,
                dropped,
                address_mismatches: status.address_mismatches,
                v2_adverts: status.v2_adverts,
                adverts_sent: status.adverts_sent,
                adverts_received: status.adverts_received,
                errors: status.errors.clone(),
            }
        })
        .collect();
    let mut problems: Vec<L2ProblemReport> = l2
        .problems
        .iter()
        .map(|problem| L2ProblemReport {
            kind: problem.label(),
            message: problem.to_string(),
        })
        .collect();
    problems.extend(l2.start_failures.iter().map(|failure| L2ProblemReport {
        kind: "start_failed",
        message: format!("{}: {}", failure.key, failure.error),
    }));
    let segments = l2
        .segments
        .iter()
        .map(|segment| {
            let status = segment.status.borrow().clone();
            VrrpSegmentReport {
                interface: segment.interface.clone(),
                family: family_label(segment.family),
                received: status.received,
                rejected: status.rejects.iter().collect(),
                unknown_vrids: status.unknown_vrids,
                v2_adverts: status.v2_adverts,
                overflows: status.overflows,
                receive_errors: status.receive_errors,
            }
        })
        .collect();
    L2Report {
        instances,
        segments,
        problems,
        node_reason: l2.node_reason.map(|reason| reason.label()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_admin_server_binds_the_port_of_a_running_one() {
        // During a restart the new speaker binds the admin port beside the old one.
        let first = bind("127.0.0.1:0".parse().expect("address")).expect("first");
        let address = first.local_addr().expect("bound");
        let second = bind(address).expect("second admin server on the same port");
        assert_eq!(second.local_addr().expect("bound"), address);
    }
    use crate::announce::{NotAnnounced, Reason, RouteSpec};
    use bgp::SessionState;
    use herald_config::Community;
    use herald_core::ServiceKey;
    use std::time::Duration;

    fn published() -> Published {
        let web = ServiceKey::new("default", "web");
        let mut decision = Decision::default();
        decision.routes.insert(
            "192.168.197.1/32".parse().expect("prefix"),
            RouteSpec {
                communities: [Community::standard(64500, 1)].into_iter().collect(),
                local_pref: Some(100),
                endpoint_weight: Some(3),
            },
        );
        decision
            .announced
            .push((web, "192.168.197.1".parse().expect("ip")));
        decision.not_announced.push(NotAnnounced {
            service: ServiceKey::new("default", "db"),
            address: Some("192.168.197.2".parse().expect("ip")),
            reason: Reason::NoServingEndpoint,
        });
        Published {
            source_ready: true,
            source_errors: vec!["config.yaml: peers[0].peer-asn: missing".into()],
            service_problems: vec!["default/odd: spec.ports has port 0, outside 1-65535".into()],
            speaker_id: Some((Ipv4Addr::new(172, 30, 0, 11), RouterIdOrigin::Ipv4Session)),
            decision,
            peer_problems: vec![PeerProblem {
                address: "2001:db8::1".parse().expect("ip"),
                error: "no router id".into(),
                label: "no_router_id",
            }],
            l2: l2_state(),
            drain: Some(DrainReport {
                phase: "draining",
                cause: "node_cordoned",
                remaining_ms: 4200,
            }),
            proxy: None,
            proxy_problems: vec![],
        }
    }

    /// One instance, master of VRID 7, and a missing interface.
    fn l2_state() -> L2State {
        use crate::l2::{InstanceHandle, InstancePlan, L2Problem};
        use herald_config::IpFamily;
        let mut rejects = vrrp::packet::RejectCounts::default();
        rejects.record(&vrrp::packet::DecodeError::Checksum {
            received: 1,
            expected: 2,
        });
        let (_sender, status) = tokio::sync::watch::channel(vrrp::driver::Status {
            state: vrrp::fsm::State::Master,
            master: Some("172.30.0.11".parse().expect("ip")),
            transitions: 2,
            rejects,
            discards: BTreeMap::from([("lower_priority", 3)]),
            v2_adverts: 0,
            adverts_received: 0,
            adverts_sent: 0,
            address_mismatches: 1,
            errors: BTreeMap::new(),
        });
        L2State {
            segments: vec![],
            instances: vec![InstanceHandle {
                plan: InstancePlan {
                    interface: "eth0".into(),
                    family: IpFamily::V4,
                    vrid: 7,
                    priority: 120,
                    advert_interval: vrrp::Centiseconds(100),
                    unicast_peers: vec![],
                    addresses: vec!["172.30.0.200".parse().expect("ip")],
                },
                status,
            }],
            problems: vec![L2Problem::InterfaceNotFound {
                pool: "l2".into(),
                service: ServiceKey::new("default", "far"),
                address: "10.9.9.9".parse().expect("ip"),
                interface: Some("eth9".into()),
            }],
            start_failures: vec![],
            node_reason: None,
        }
    }

    #[test]
    fn status_shows_each_bfd_session_with_its_intervals_and_flaps() {
        let interval = Duration::from_millis(100);
        let bfd = bgp::BfdStatus {
            peer: "172.30.0.1".parse().expect("ip"),
            local: None,
            multihop: false,
            state: bgp::bfd::State::Down,
            remote_state: bgp::bfd::State::Down,
            local_diag: bgp::bfd::Diag::CONTROL_DETECTION_TIME_EXPIRED,
            remote_diag: bgp::bfd::Diag::NONE,
            local_discriminator: 1,
            remote_discriminator: 0,
            configured: bgp::BfdTimers {
                desired_min_tx: Duration::from_millis(20),
                required_min_rx: Duration::from_millis(20),
                detect_mult: 3,
            },
            negotiated: bgp::bfd::Negotiated {
                tx_interval: interval,
                rx_interval: interval,
                detection_time: interval * 3,
            },
            flaps: 2,
            error: None,
        };
        let stats = [PeerStats {
            address: "172.30.0.1".parse().expect("ip"),
            remote_as: 64501,
            state: SessionState::Active,
            established_since: None,
            messages_sent: 0,
            messages_received: 0,
            updates_sent: 0,
            updates_received: 0,
            prefixes_sent: 0,
            prefixes_received: 0,
            last_error: Some("sent NOTIFICATION Cease/BFD Down".into()),
            hold_time: None,
            pending_messages: 0,
            bfd: Some(bfd),
        }];
        let report = status_report("n1", &published(), &stats, Instant::now());
        let json = serde_json::to_value(&report).expect("serializes");
        let bfd = &json["peers"][0]["bfd"];
        assert_eq!(bfd["state"], "Down");
        assert_eq!(bfd["diagnostic"], "Control Detection Time Expired");
        assert_eq!(bfd["transmit_interval_ms"], 100.0);
        assert_eq!(bfd["receive_interval_ms"], 100.0);
        assert_eq!(bfd["detection_time_ms"], 300.0);
        assert_eq!(bfd["flaps"], 2);
    }

    #[test]
    fn status_lists_sessions_routes_reasons_and_problems() {
        let now = Instant::now();
        let stats = [PeerStats {
            address: "172.30.0.1".parse().expect("ip"),
            remote_as: 64501,
            state: SessionState::Established,
            established_since: now.checked_sub(Duration::from_secs(42)),
            messages_sent: 10,
            messages_received: 9,
            updates_sent: 2,
            updates_received: 1,
            prefixes_sent: 1,
            prefixes_received: 0,
            last_error: Some("received NOTIFICATION Cease/Administrative Reset".into()),
            hold_time: Some(90),
            pending_messages: 0,
            bfd: None,
        }];
        let report = status_report("n1", &published(), &stats, now);
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["node"], "n1");
        assert_eq!(json["ready"], true);
        assert_eq!(json["peers"][0]["state"], "Established");
        assert_eq!(json["peers"][0]["uptime_seconds"], 42);
        assert_eq!(json["peers"][0]["updates_sent"], 2);
        assert_eq!(
            json["peers"][0]["last_error"],
            "received NOTIFICATION Cease/Administrative Reset"
        );
        assert_eq!(json["peers"][1]["address"], "2001:db8::1");
        assert_eq!(json["peers"][1]["state"], "NotConfigured");
        assert_eq!(json["peers"][1]["config_error"], "no router id");
        assert_eq!(json["routes"][0]["prefix"], "192.168.197.1/32");
        assert_eq!(json["routes"][0]["communities"][0], "64500:1");
        assert_eq!(json["routes"][0]["local_pref"], 100);
        assert_eq!(json["routes"][0]["endpoint_weight"], 3);
        assert_eq!(json["announced"][0]["service"], "default/web");
        assert_eq!(
            json["drain"],
            serde_json::json!({"phase": "draining", "cause": "node_cordoned", "remaining_ms": 4200})
        );
        assert_eq!(json["not_announced"][0]["reason"], "no_serving_endpoint");
        assert_eq!(
            json["source_errors"][0],
            "config.yaml: peers[0].peer-asn: missing"
        );
        assert_eq!(json["router_id"]["id"], "172.30.0.11");
        assert_eq!(json["router_id"]["origin"], "ipv4_session");
        assert_eq!(
            json["service_problems"][0],
            "default/odd: spec.ports has port 0, outside 1-65535"
        );
        let vrrp = &json["l2"]["instances"][0];
        assert_eq!(vrrp["interface"], "eth0");
        assert_eq!(vrrp["family"], "ipv4");
        assert_eq!(vrrp["vrid"], 7);
        assert_eq!(vrrp["priority"], 120);
        assert_eq!(vrrp["advert_interval_ms"], 1000);
        assert_eq!(vrrp["state"], "master");
        assert_eq!(vrrp["master"], "172.30.0.11");
        assert_eq!(vrrp["addresses"][0], "172.30.0.200");
        assert_eq!(vrrp["transitions"], 2);
        assert_eq!(vrrp["dropped"]["lower_priority"], 3);
        assert_eq!(vrrp["dropped"]["checksum"], 1);
        assert_eq!(vrrp["address_mismatches"], 1);
        assert_eq!(json["l2"]["problems"][0]["kind"], "interface_not_found");
    }

    #[tokio::test]
    async fn ready_once_the_main_loop_has_published_a_view() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let speaker = Speaker::new(bgp::SpeakerConfig::default());
        let state = AdminState::new("n1", speaker.clone(), metrics, registry);
        assert!(!state.is_ready());
        state.publish(Published {
            source_errors: vec!["ConfigMap herald-system/herald not found: no config".into()],
            ..Published::default()
        });
        assert!(!state.is_ready(), "errors without a view are not ready");
        state.publish(published());
        assert!(state.is_ready());
        assert!(state.refresh().await.is_empty(), "no peers yet");
        speaker.shutdown().await;
    }
}
