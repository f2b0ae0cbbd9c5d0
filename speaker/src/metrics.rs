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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    pub peer: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

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
    /// `herald_speaker_announced_services`: Services with at least one address announced
    /// from this node.
    pub announced_services: Gauge,
    /// `herald_speaker_not_announced{reason}`: Service addresses not announced from this
    /// node, by reason.
    pub not_announced: Family<ReasonLabels, Gauge>,
    /// `herald_config_loaded` (a view is in force), `herald_config_stale` (the source
    /// reports a problem, e.g. a refused config, and the last good view stays).
    pub config: ConfigGauges,
    /// Counter values last seen per peer, to turn the speaker's totals into increments.
    seen: Arc<Mutex<BTreeMap<IpAddr, Seen>>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    updates_sent: u64,
    updates_received: u64,
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
            "herald_speaker_announced_services",
            "Services with an address announced from this node",
            metrics.announced_services.clone(),
        );
        registry.register(
            "herald_speaker_not_announced",
            "Service addresses not announced from this node, by reason",
            metrics.not_announced.clone(),
        );
        metrics
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

    pub fn set_config(&self, loaded: bool, stale: bool) {
        self.config.set(loaded, stale);
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
}
