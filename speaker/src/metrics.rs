//! The speaker's Prometheus metrics. One [`Registry`] is created in `main` and passed down;
//! [`Metrics`] holds the handles. BGP counters are read from `bgp::Speaker::stats()` when
//! `/metrics` or `/status` is asked for, so they are exact at scrape time.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use bgp::{PeerStats, SessionState};
use herald_runtime::metrics::ConfigGauges;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::announce::{Decision, Reason};
use crate::l2::plan::family_label;
use crate::l2::{InstanceHandle, InstanceKey, L2Problem, SegmentHandle};
use crate::proxy::health::HealthState;
use crate::proxy::listener::ListenerSnapshot;
use crate::proxy::runtime::CertificateReport;
use crate::proxy::serving::CertificateState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    pub peer: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// One VRRP instance: interface, family (`ipv4`/`ipv6`), VRID.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VrrpLabels {
    pub interface: String,
    pub family: &'static str,
    pub vrid: u8,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VrrpStateLabels {
    pub interface: String,
    pub family: &'static str,
    pub vrid: u8,
    pub state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    pub service: String,
    pub address: String,
    pub port: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerKindLabels {
    pub service: String,
    pub address: String,
    pub port: u16,
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SegmentKindLabels {
    pub interface: String,
    pub family: &'static str,
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VrrpReasonLabels {
    pub interface: String,
    pub family: &'static str,
    pub vrid: u8,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProblemLabels {
    pub problem: &'static str,
}

/// The VRRP states, as `herald_vrrp_state` labels them.
const VRRP_STATES: [vrrp::fsm::State; 3] = [
    vrrp::fsm::State::Initialize,
    vrrp::fsm::State::Backup,
    vrrp::fsm::State::Master,
];

/// Handles to every speaker metric.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// `herald_bgp_session_up{peer}`: 1 while the session is Established.
    pub session_up: Family<PeerLabels, Gauge>,
    /// `herald_bgp_updates_sent_total{peer}`.
    pub updates_sent: Family<PeerLabels, Counter>,
    /// `herald_bgp_updates_received_total{peer}`.
    pub updates_received: Family<PeerLabels, Counter>,
    /// `herald_bgp_announced_prefixes{peer}`: prefixes advertised on the session now.
    pub announced_prefixes: Family<PeerLabels, Gauge>,
    /// `herald_bfd_session_state{peer}`: the BFD session's state as RFC 5880 numbers it
    /// (0 AdminDown, 1 Down, 2 Init, 3 Up); absent for peers without BFD.
    pub bfd_state: Family<PeerLabels, Gauge>,
    /// `herald_bfd_session_flaps_total{peer}`: BFD Up -> Down transitions.
    pub bfd_flaps: Family<PeerLabels, Counter>,
    /// `herald_speaker_announced_services`: Services with at least one address announced
    /// from this node.
    pub announced_services: Gauge,
    /// `herald_speaker_not_announced{reason}`: Service addresses not announced from this
    /// node, by reason.
    pub not_announced: Family<ReasonLabels, Gauge>,
    /// `herald_speaker_draining`: 1 while this node's routes carry GRACEFUL_SHUTDOWN (a
    /// cordon, the exclusion label or a stopping speaker), else 0.
    pub draining: Gauge,
    /// `herald_vrrp_state{interface,family,vrid,state}`: 1 for the instance's state.
    pub vrrp_state: Family<VrrpStateLabels, Gauge>,
    /// `herald_vrrp_priority{interface,family,vrid}`: this node's priority.
    pub vrrp_priority: Family<VrrpLabels, Gauge>,
    /// `herald_vrrp_addresses{interface,family,vrid}`: virtual addresses in the instance.
    pub vrrp_addresses: Family<VrrpLabels, Gauge>,
    /// `herald_vrrp_transitions_total{interface,family,vrid}`: state changes (becoming
    /// master or backup).
    pub vrrp_transitions: Family<VrrpLabels, Counter>,
    /// `herald_vrrp_dropped_packets_total{interface,family,vrid,reason}`: packets the
    /// codec refused or the state machine ignored, by reason.
    pub vrrp_dropped: Family<VrrpReasonLabels, Counter>,
    /// `herald_vrrp_adverts_total{interface,family,vrid,kind}`: adverts `sent` and
    /// `received` by the instance.
    pub vrrp_adverts: Family<VrrpReasonLabels, Counter>,
    /// `herald_vrrp_address_mismatches_total{interface,family,vrid}`: adverts listing
    /// other addresses than ours (counted, obeyed).
    pub vrrp_address_mismatches: Family<VrrpLabels, Counter>,
    /// `herald_vrrp_errors_total{interface,family,vrid,reason}`: failed sends,
    /// announcements and address changes.
    pub vrrp_errors: Family<VrrpReasonLabels, Counter>,
    /// `herald_l2_problems{problem}`: what keeps L2 addresses from being held, by kind.
    pub l2_problems: Family<ProblemLabels, Gauge>,
    /// `herald_vrrp_segment_packets_total{interface,family,kind}`: packets the segment's
    /// one receive socket read (`received`), and of them adverts for VRIDs this node does
    /// not run (`unknown_vrid`), VRRPv2 adverts (`v2`), adverts dropped on a full instance
    /// queue (`overflow`); failed reads (`receive_error`).
    pub vrrp_segment_packets: Family<SegmentKindLabels, Counter>,
    /// `herald_vrrp_segment_rejected_packets_total{interface,family,reason}`: packets the
    /// codec refused (bad checksum, TTL, version, length...), counted once per segment.
    pub vrrp_segment_rejected: Family<SegmentKindLabels, Counter>,
    /// `herald_proxy_connections_active{service,address,port}`: connections open now.
    pub proxy_active: Family<ListenerLabels, Gauge>,
    /// `herald_proxy_connections_total{service,address,port,outcome}`: connections accepted
    /// (`accepted`), refused at the cap (`refused`), closed for want of a backend
    /// (`no_backend`), cut at the idle timeout (`idle_timeout`).
    pub proxy_connections: Family<ListenerKindLabels, Counter>,
    /// `herald_proxy_bytes_total{service,address,port,kind}`: bytes `to_backend` and
    /// `to_client`.
    pub proxy_bytes: Family<ListenerKindLabels, Counter>,
    /// `herald_proxy_errors_total{service,address,port,kind}`: failed backend connects
    /// (`backend_connect`, each attempt) and TLS handshakes (`tls_handshake`).
    pub proxy_errors: Family<ListenerKindLabels, Counter>,
    /// `herald_proxy_backends{service,address,port,kind}`: backends `up`, `down` (active
    /// checks) and `draining`.
    pub proxy_backends: Family<ListenerKindLabels, Gauge>,
    /// `herald_proxy_certificate_loaded{source}`: 1 while the source has a certificate to
    /// present.
    pub proxy_certificate_loaded: Family<SourceLabels, Gauge>,
    /// `herald_proxy_certificate_refused{source}`: 1 while the source's newest bundle is
    /// refused (the previous certificate, if any, is still served).
    pub proxy_certificate_refused: Family<SourceLabels, Gauge>,
    proxy_seen: Arc<Mutex<BTreeMap<ListenerKey, SeenCounts>>>,
    /// Counter values last seen per segment.
    segment_seen: Arc<Mutex<BTreeMap<(String, &'static str), SeenCounts>>>,
    /// Counter values last seen per VRRP instance.
    vrrp_seen: Arc<Mutex<BTreeMap<InstanceKey, VrrpSeen>>>,
    /// `herald_config_loaded` (a view is in force), `herald_config_stale` (the source
    /// reports a problem, e.g. a refused config, and the last good view stays).
    pub config: ConfigGauges,
    /// Counter values last seen per peer, to turn the speaker's totals into increments.
    seen: Arc<Mutex<BTreeMap<IpAddr, Seen>>>,
}

/// A listener: Service, address, port.
type ListenerKey = (String, IpAddr, u16);

/// Counter values last seen, by label.
type SeenCounts = BTreeMap<&'static str, u64>;

#[derive(Debug, Clone, Default)]
struct VrrpSeen {
    transitions: u64,
    adverts: SeenCounts,
    address_mismatches: u64,
    dropped: BTreeMap<&'static str, u64>,
    errors: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    updates_sent: u64,
    updates_received: u64,
    bfd_flaps: u64,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            config: ConfigGauges::register(registry),
            ..Self::default()
        };
        registry.register(
            "herald_bgp_session_up",
            "1 while the BGP session with the peer is Established",
            metrics.session_up.clone(),
        );
        registry.register(
            "herald_bgp_updates_sent",
            "BGP UPDATE messages written to the peer",
            metrics.updates_sent.clone(),
        );
        registry.register(
            "herald_bgp_updates_received",
            "BGP UPDATE messages received from the peer",
            metrics.updates_received.clone(),
        );
        registry.register(
            "herald_bgp_announced_prefixes",
            "Prefixes currently advertised to the peer",
            metrics.announced_prefixes.clone(),
        );
        registry.register(
            "herald_bfd_session_state",
            "State of the BFD session with the peer: 0 AdminDown, 1 Down, 2 Init, 3 Up",
            metrics.bfd_state.clone(),
        );
        registry.register(
            "herald_bfd_session_flaps",
            "BFD sessions going from Up to Down",
            metrics.bfd_flaps.clone(),
        );
        registry.register(
            "herald_speaker_announced_services",
            "Services with an address announced from this node",
            metrics.announced_services.clone(),
        );
        registry.register(
            "herald_speaker_draining",
            "1 while this node's routes carry the GRACEFUL_SHUTDOWN community before a withdraw",
            metrics.draining.clone(),
        );
        registry.register(
            "herald_speaker_not_announced",
            "Service addresses not announced from this node, by reason",
            metrics.not_announced.clone(),
        );
        registry.register(
            "herald_vrrp_state",
            "1 for the VRRP instance's state (initialize, backup, master)",
            metrics.vrrp_state.clone(),
        );
        registry.register(
            "herald_vrrp_priority",
            "This node's priority in the VRRP instance",
            metrics.vrrp_priority.clone(),
        );
        registry.register(
            "herald_vrrp_addresses",
            "Virtual addresses the VRRP instance holds when master",
            metrics.vrrp_addresses.clone(),
        );
        registry.register(
            "herald_vrrp_transitions",
            "State changes of the VRRP instance (to master or backup)",
            metrics.vrrp_transitions.clone(),
        );
        registry.register(
            "herald_vrrp_dropped_packets",
            "VRRP packets refused or ignored, by reason",
            metrics.vrrp_dropped.clone(),
        );
        registry.register(
            "herald_vrrp_adverts",
            "VRRP adverts sent and received by the instance (reason: sent, received)",
            metrics.vrrp_adverts.clone(),
        );
        registry.register(
            "herald_vrrp_address_mismatches",
            "Adverts listing other addresses than this node's (obeyed)",
            metrics.vrrp_address_mismatches.clone(),
        );
        registry.register(
            "herald_vrrp_errors",
            "Failed sends, announcements and address changes, by what failed",
            metrics.vrrp_errors.clone(),
        );
        registry.register(
            "herald_proxy_connections_active",
            "Connections the proxy has open now, per listener",
            metrics.proxy_active.clone(),
        );
        registry.register(
            "herald_proxy_connections",
            "Connections per listener by outcome (accepted, refused, no_backend, idle_timeout)",
            metrics.proxy_connections.clone(),
        );
        registry.register(
            "herald_proxy_bytes",
            "Bytes the proxy forwarded per listener, to_backend and to_client",
            metrics.proxy_bytes.clone(),
        );
        registry.register(
            "herald_proxy_errors",
            "Failed backend connects and TLS handshakes per listener",
            metrics.proxy_errors.clone(),
        );
        registry.register(
            "herald_proxy_backends",
            "A listener's backends by health (up, down, draining)",
            metrics.proxy_backends.clone(),
        );
        registry.register(
            "herald_proxy_certificate_loaded",
            "1 while the certificate source has a certificate to present",
            metrics.proxy_certificate_loaded.clone(),
        );
        registry.register(
            "herald_proxy_certificate_refused",
            "1 while the source's newest bundle is refused (the last good one is served)",
            metrics.proxy_certificate_refused.clone(),
        );
        registry.register(
            "herald_vrrp_segment_packets",
            "Packets read by the VRRP receive socket of an interface and family, by kind",
            metrics.vrrp_segment_packets.clone(),
        );
        registry.register(
            "herald_vrrp_segment_rejected_packets",
            "VRRP packets the codec refused on an interface and family, by reason",
            metrics.vrrp_segment_rejected.clone(),
        );
        registry.register(
            "herald_l2_problems",
            "What keeps L2 addresses from being held from this node, by kind",
            metrics.l2_problems.clone(),
        );
        metrics
    }

    /// Publishes the VRRP instances' state and counters; instances that stopped
    /// disappear.
    pub fn observe_vrrp(&self, instances: &[InstanceHandle]) {
        let mut seen = self
            .vrrp_seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let keys: Vec<InstanceKey> = instances.iter().map(|i| i.plan.key()).collect();
        let gone: Vec<InstanceKey> = seen
            .keys()
            .filter(|key| !keys.contains(key))
            .cloned()
            .collect();
        for key in gone {
            let Some(last) = seen.remove(&key) else {
                continue;
            };
            let labels = vrrp_labels(&key);
            for state in VRRP_STATES {
                self.vrrp_state
                    .remove(&state_labels(&labels, state.label()));
            }
            self.vrrp_priority.remove(&labels);
            self.vrrp_addresses.remove(&labels);
            self.vrrp_transitions.remove(&labels);
            self.vrrp_address_mismatches.remove(&labels);
            for kind in last.adverts.keys() {
                self.vrrp_adverts.remove(&reason_labels(&labels, kind));
            }
            for reason in last.dropped.keys() {
                self.vrrp_dropped.remove(&reason_labels(&labels, reason));
            }
            for reason in last.errors.keys() {
                self.vrrp_errors.remove(&reason_labels(&labels, reason));
            }
        }
        for instance in instances {
            let key = instance.plan.key();
            let labels = vrrp_labels(&key);
            let status = instance.status.borrow().clone();
            let last = seen.entry(key).or_default();
            for state in VRRP_STATES {
                self.vrrp_state
                    .get_or_create(&state_labels(&labels, state.label()))
                    .set(i64::from(status.state == state));
            }
            self.vrrp_priority
                .get_or_create(&labels)
                .set(i64::from(instance.plan.priority));
            self.vrrp_addresses
                .get_or_create(&labels)
                .set(i64::try_from(instance.plan.addresses.len()).unwrap_or(i64::MAX));
            self.vrrp_transitions
                .get_or_create(&labels)
                .inc_by(increment(&mut last.transitions, status.transitions));
            self.vrrp_address_mismatches
                .get_or_create(&labels)
                .inc_by(increment(
                    &mut last.address_mismatches,
                    status.address_mismatches,
                ));
            for (kind, count) in [
                ("sent", status.adverts_sent),
                ("received", status.adverts_received),
            ] {
                self.vrrp_adverts
                    .get_or_create(&reason_labels(&labels, kind))
                    .inc_by(increment(last.adverts.entry(kind).or_default(), count));
            }
            let mut dropped: BTreeMap<&'static str, u64> = status.discards.clone();
            for (reason, count) in status.rejects.iter() {
                *dropped.entry(reason).or_default() += count;
            }
            for (reason, count) in dropped {
                self.vrrp_dropped
                    .get_or_create(&reason_labels(&labels, reason))
                    .inc_by(increment(last.dropped.entry(reason).or_default(), count));
            }
            for (reason, count) in &status.errors {
                self.vrrp_errors
                    .get_or_create(&reason_labels(&labels, reason))
                    .inc_by(increment(last.errors.entry(reason).or_default(), *count));
            }
        }
    }

    /// Publishes the proxy's listeners and certificates (live counters, read at scrape).
    pub fn observe_proxy(
        &self,
        listeners: &[ListenerSnapshot],
        certificates: &[CertificateReport],
    ) {
        let mut seen = self
            .proxy_seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for listener in listeners {
            let service = listener.service.to_string();
            let address = listener.address.to_string();
            let port = listener.port;
            let kind = |kind| ListenerKindLabels {
                service: service.clone(),
                address: address.clone(),
                port,
                kind,
            };
            self.proxy_active
                .get_or_create(&ListenerLabels {
                    service: service.clone(),
                    address: address.clone(),
                    port,
                })
                .set(i64::try_from(listener.active).unwrap_or(i64::MAX));
            let last = seen
                .entry((service.clone(), listener.address, port))
                .or_default();
            let counters: [(&Family<ListenerKindLabels, Counter>, &'static str, u64); 8] = [
                (&self.proxy_connections, "accepted", listener.total),
                (&self.proxy_connections, "refused", listener.refused),
                (&self.proxy_connections, "no_backend", listener.no_backend),
                (
                    &self.proxy_connections,
                    "idle_timeout",
                    listener.idle_timeouts,
                ),
                (&self.proxy_bytes, "to_backend", listener.bytes_to_backend),
                (&self.proxy_bytes, "to_client", listener.bytes_to_client),
                (
                    &self.proxy_errors,
                    "backend_connect",
                    listener.connect_failures,
                ),
                (
                    &self.proxy_errors,
                    "tls_handshake",
                    listener.handshake_failures,
                ),
            ];
            for (family, label, count) in counters {
                family
                    .get_or_create(&kind(label))
                    .inc_by(increment(last.entry(label).or_default(), count));
            }
            let up = listener
                .backends
                .iter()
                .filter(|b| b.health == HealthState::Up && !b.draining)
                .count();
            let draining = listener.backends.iter().filter(|b| b.draining).count();
            let down = listener.backends.len() - up - draining;
            for (label, count) in [("up", up), ("down", down), ("draining", draining)] {
                self.proxy_backends
                    .get_or_create(&kind(label))
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
        for certificate in certificates {
            let labels = SourceLabels {
                source: certificate.source.clone(),
            };
            self.proxy_certificate_loaded
                .get_or_create(&labels)
                .set(i64::from(certificate.state == CertificateState::Loaded));
            let refused = certificate
                .status
                .iter()
                .any(|status| status.last_failure.is_some());
            self.proxy_certificate_refused
                .get_or_create(&labels)
                .set(i64::from(refused));
        }
    }

    /// Publishes the segments' receive counters.
    pub fn observe_segments(&self, segments: &[SegmentHandle]) {
        let mut seen = self
            .segment_seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for segment in segments {
            let family = family_label(segment.family);
            let status = segment.status.borrow().clone();
            let last = seen.entry((segment.interface.clone(), family)).or_default();
            let labels = |kind| SegmentKindLabels {
                interface: segment.interface.clone(),
                family,
                kind,
            };
            for (kind, count) in [
                ("received", status.received),
                ("unknown_vrid", status.unknown_vrids),
                ("v2", status.v2_adverts),
                ("overflow", status.overflows),
                ("receive_error", status.receive_errors),
            ] {
                self.vrrp_segment_packets
                    .get_or_create(&labels(kind))
                    .inc_by(increment(last.entry(kind).or_default(), count));
            }
            for (reason, count) in status.rejects.iter() {
                // Reasons and kinds never share a label, so one map keeps both.
                self.vrrp_segment_rejected
                    .get_or_create(&labels(reason))
                    .inc_by(increment(last.entry(reason).or_default(), count));
            }
        }
    }

    /// Publishes the L2 problems by kind; `start_failures` counts as `start_failed`.
    pub fn observe_l2_problems(&self, problems: &[L2Problem], start_failures: usize) {
        for label in L2Problem::LABELS {
            let count = problems.iter().filter(|p| p.label() == label).count();
            self.l2_problems
                .get_or_create(&ProblemLabels { problem: label })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        self.l2_problems
            .get_or_create(&ProblemLabels {
                problem: "start_failed",
            })
            .set(i64::try_from(start_failures).unwrap_or(i64::MAX));
    }

    /// Publishes the peers' state and counters; peers no longer configured disappear.
    pub fn observe_peers(&self, stats: &[PeerStats]) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let gone: Vec<IpAddr> = seen
            .keys()
            .filter(|address| !stats.iter().any(|peer| peer.address == **address))
            .copied()
            .collect();
        for address in gone {
            seen.remove(&address);
            let labels = peer_labels(address);
            self.session_up.remove(&labels);
            self.updates_sent.remove(&labels);
            self.updates_received.remove(&labels);
            self.announced_prefixes.remove(&labels);
            self.bfd_state.remove(&labels);
            self.bfd_flaps.remove(&labels);
        }
        for peer in stats {
            let labels = peer_labels(peer.address);
            let last = seen.entry(peer.address).or_default();
            self.session_up
                .get_or_create(&labels)
                .set(i64::from(peer.state == SessionState::Established));
            self.announced_prefixes
                .get_or_create(&labels)
                .set(i64::try_from(peer.prefixes_sent).unwrap_or(i64::MAX));
            self.updates_sent
                .get_or_create(&labels)
                .inc_by(increment(&mut last.updates_sent, peer.updates_sent));
            self.updates_received
                .get_or_create(&labels)
                .inc_by(increment(&mut last.updates_received, peer.updates_received));
            match &peer.bfd {
                Some(bfd) => {
                    self.bfd_state
                        .get_or_create(&labels)
                        .set(i64::from(bfd.state as u8));
                    self.bfd_flaps
                        .get_or_create(&labels)
                        .inc_by(increment(&mut last.bfd_flaps, bfd.flaps));
                }
                None => {
                    self.bfd_state.remove(&labels);
                    self.bfd_flaps.remove(&labels);
                }
            }
        }
    }

    /// Publishes what the latest decision announces and why the rest is not announced.
    pub fn observe_decision(&self, decision: &Decision) {
        let mut services: Vec<_> = decision.announced.iter().map(|(key, _)| key).collect();
        services.dedup();
        self.announced_services
            .set(i64::try_from(services.len()).unwrap_or(i64::MAX));
        for reason in Reason::ALL {
            let count = decision
                .not_announced
                .iter()
                .filter(|n| n.reason == reason)
                .count();
            self.not_announced
                .get_or_create(&ReasonLabels {
                    reason: reason.label(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    pub fn set_draining(&self, draining: bool) {
        self.draining.set(i64::from(draining));
    }

    pub fn set_config(&self, loaded: bool, stale: bool) {
        self.config.set(loaded, stale);
    }
}

fn vrrp_labels(key: &InstanceKey) -> VrrpLabels {
    VrrpLabels {
        interface: key.interface.clone(),
        family: family_label(key.family),
        vrid: key.vrid,
    }
}

fn state_labels(labels: &VrrpLabels, state: &'static str) -> VrrpStateLabels {
    VrrpStateLabels {
        interface: labels.interface.clone(),
        family: labels.family,
        vrid: labels.vrid,
        state,
    }
}

fn reason_labels(labels: &VrrpLabels, reason: &'static str) -> VrrpReasonLabels {
    VrrpReasonLabels {
        interface: labels.interface.clone(),
        family: labels.family,
        vrid: labels.vrid,
        reason,
    }
}

fn peer_labels(address: IpAddr) -> PeerLabels {
    PeerLabels {
        peer: address.to_string(),
    }
}

/// How much a total grew since `last` (all of it when the total went back: the peer's
/// session task started again), and remembers it.
fn increment(last: &mut u64, now: u64) -> u64 {
    let grown = if now >= *last { now - *last } else { now };
    *last = now;
    grown
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_runtime::metrics::encode;

    fn stats(address: &str, state: SessionState, sent: u64, received: u64) -> PeerStats {
        PeerStats {
            address: address.parse().expect("ip"),
            remote_as: 64501,
            state,
            established_since: None,
            messages_sent: sent,
            messages_received: received,
            updates_sent: sent,
            updates_received: received,
            prefixes_sent: 3,
            prefixes_received: 0,
            last_error: None,
            hold_time: None,
            pending_messages: 0,
            bfd: None,
        }
    }

    #[test]
    fn peer_series_follow_the_speaker_and_vanish_with_the_peer() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        metrics.observe_peers(&[
            stats("172.30.0.1", SessionState::Established, 5, 2),
            stats("2001:db8::1", SessionState::Active, 0, 0),
        ]);
        metrics.observe_peers(&[
            stats("172.30.0.1", SessionState::Established, 7, 2),
            stats("2001:db8::1", SessionState::Active, 0, 0),
        ]);
        let text = encode(&registry).expect("encodes");
        for line in [
            "herald_bgp_session_up{peer=\"172.30.0.1\"} 1",
            "herald_bgp_session_up{peer=\"2001:db8::1\"} 0",
            "herald_bgp_updates_sent_total{peer=\"172.30.0.1\"} 7",
            "herald_bgp_updates_received_total{peer=\"172.30.0.1\"} 2",
            "herald_bgp_announced_prefixes{peer=\"172.30.0.1\"} 3",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }

        metrics.observe_peers(&[stats("172.30.0.1", SessionState::Idle, 1, 0)]);
        let text = encode(&registry).expect("encodes");
        assert!(!text.contains("2001:db8::1"), "{text}");
        assert!(
            text.contains("herald_bgp_updates_sent_total{peer=\"172.30.0.1\"} 8"),
            "a restarted total counts on from where it was:\n{text}"
        );
        assert!(text.contains("herald_bgp_session_up{peer=\"172.30.0.1\"} 0"));
    }

    fn bfd_status(state: bgp::bfd::State, flaps: u64) -> bgp::BfdStatus {
        let interval = std::time::Duration::from_millis(20);
        bgp::BfdStatus {
            peer: "172.30.0.1".parse().expect("ip"),
            local: None,
            multihop: false,
            state,
            remote_state: state,
            local_diag: bgp::bfd::Diag::NONE,
            remote_diag: bgp::bfd::Diag::NONE,
            local_discriminator: 1,
            remote_discriminator: 2,
            configured: bgp::BfdTimers {
                desired_min_tx: interval,
                required_min_rx: interval,
                detect_mult: 3,
            },
            negotiated: bgp::bfd::Negotiated {
                tx_interval: interval,
                rx_interval: interval,
                detection_time: interval * 3,
            },
            flaps,
            error: None,
        }
    }

    #[test]
    fn bfd_series_show_the_state_and_count_flaps_across_restarts() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let mut peer = stats("172.30.0.1", SessionState::Established, 1, 1);
        peer.bfd = Some(bfd_status(bgp::bfd::State::Up, 2));
        metrics.observe_peers(std::slice::from_ref(&peer));
        // The session was replaced (a config change): its count starts again at 1.
        peer.bfd = Some(bfd_status(bgp::bfd::State::Down, 1));
        metrics.observe_peers(std::slice::from_ref(&peer));
        let text = encode(&registry).expect("encodes");
        for line in [
            "herald_bfd_session_state{peer=\"172.30.0.1\"} 1",
            "herald_bfd_session_flaps_total{peer=\"172.30.0.1\"} 3",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        peer.bfd = None;
        metrics.observe_peers(std::slice::from_ref(&peer));
        let text = encode(&registry).expect("encodes");
        assert!(!text.contains("herald_bfd_session_state{"), "{text}");
    }

    #[test]
    fn decision_and_config_gauges_are_exported() {
        use crate::announce::NotAnnounced;
        use herald_core::ServiceKey;
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let web = ServiceKey::new("default", "web");
        let decision = Decision {
            announced: vec![
                (web.clone(), "192.168.197.1".parse().expect("ip")),
                (web, "2001:db8::1".parse().expect("ip")),
            ],
            not_announced: vec![NotAnnounced {
                service: ServiceKey::new("default", "db"),
                address: None,
                reason: Reason::NoAddress,
            }],
            ..Decision::default()
        };
        metrics.observe_decision(&decision);
        metrics.set_config(true, true);
        let text = encode(&registry).expect("encodes");
        for line in [
            "herald_speaker_announced_services 1",
            "herald_speaker_not_announced{reason=\"no_address\"} 1",
            "herald_speaker_not_announced{reason=\"no_serving_endpoint\"} 0",
            "herald_config_loaded 1",
            "herald_config_stale 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn vrrp_series_follow_the_instances_and_vanish_with_them() {
        use crate::l2::{InstanceHandle, InstancePlan};
        use herald_config::IpFamily;
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let status = |state, transitions| vrrp::driver::Status {
            state,
            master: None,
            transitions,
            rejects: vrrp::packet::RejectCounts::default(),
            discards: BTreeMap::from([("lower_priority", 4)]),
            v2_adverts: 0,
            adverts_received: 0,
            adverts_sent: 0,
            address_mismatches: 0,
            errors: BTreeMap::new(),
        };
        let (sender, receiver) = tokio::sync::watch::channel(status(vrrp::fsm::State::Backup, 1));
        let instance = InstanceHandle {
            plan: InstancePlan {
                interface: "eth0".into(),
                family: IpFamily::V6,
                vrid: 9,
                priority: 77,
                advert_interval: vrrp::Centiseconds(100),
                unicast_peers: vec![],
                addresses: vec!["fd00:30::200".parse().expect("ip")],
            },
            status: receiver,
        };
        metrics.observe_vrrp(std::slice::from_ref(&instance));
        sender.send_replace(status(vrrp::fsm::State::Master, 2));
        metrics.observe_vrrp(std::slice::from_ref(&instance));
        metrics.observe_l2_problems(&[], 1);
        let text = encode(&registry).expect("encodes");
        let labels = "interface=\"eth0\",family=\"ipv6\",vrid=\"9\"";
        for line in [
            format!("herald_vrrp_state{{{labels},state=\"master\"}} 1"),
            format!("herald_vrrp_state{{{labels},state=\"backup\"}} 0"),
            format!("herald_vrrp_priority{{{labels}}} 77"),
            format!("herald_vrrp_addresses{{{labels}}} 1"),
            format!("herald_vrrp_transitions_total{{{labels}}} 2"),
            format!("herald_vrrp_dropped_packets_total{{{labels},reason=\"lower_priority\"}} 4"),
            "herald_l2_problems{problem=\"start_failed\"} 1".to_owned(),
            "herald_l2_problems{problem=\"interface_not_found\"} 0".to_owned(),
        ] {
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        metrics.observe_vrrp(&[]);
        let text = encode(&registry).expect("encodes");
        assert!(!text.contains("vrid=\"9\""), "{text}");
    }
}
