//! `Announcing` / `Withdrawn` Events on Services (kube mode): one per Service each time this
//! node starts or stops announcing some of its addresses, with the node name in the note.
//!
//! [`plan_events`] is the pure difference between two decisions; [`EventPublisher`] sends
//! the Events from its own task so the BGP loop never waits on the API server. In L2
//! mode, [`l2_problem_events`] adds a Warning `InterfaceNotFound` on a Service whose
//! address this node cannot hold because no interface is found for it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use herald_core::ServiceKey;
use herald_runtime::events::{self, MAX_NOTE, truncate};
use kube::Client;
use kube::runtime::events::{EventType, Recorder};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::announce::Decision;
use crate::l2::L2Problem;
use crate::proxy::runtime::CertificateProblem;

/// The `reportingController` of the speaker's Events.
pub const REPORTER: &str = "herald-speaker";

/// Which Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    /// This node started announcing the addresses.
    Announcing,
    /// This node stopped announcing the addresses.
    Withdrawn,
    /// This node has no interface to hold the (L2) addresses on (Warning).
    InterfaceNotFound,
    /// The proxy cannot use the certificate for the addresses: a refused bundle (the last
    /// good one, if any, is still served) or a missing Secret (Warning).
    CertificateRefused,
    /// A BGP annotation of the Service is not used (`herald.dev/bgp-communities`,
    /// `herald.dev/bgp-localpref`); the Service is announced without it (Warning).
    InvalidAnnotation,
}

impl EventKind {
    pub fn reason(self) -> &'static str {
        match self {
            EventKind::Announcing => "Announcing",
            EventKind::Withdrawn => "Withdrawn",
            EventKind::InterfaceNotFound => "InterfaceNotFound",
            EventKind::CertificateRefused => "CertificateRefused",
            EventKind::InvalidAnnotation => "InvalidAnnotation",
        }
    }

    fn action(self) -> &'static str {
        match self {
            EventKind::Announcing => "Announce",
            EventKind::Withdrawn => "Withdraw",
            EventKind::InterfaceNotFound => "Hold",
            EventKind::CertificateRefused => "Serve",
            EventKind::InvalidAnnotation => "Announce",
        }
    }

    fn event_type(self) -> EventType {
        match self {
            EventKind::Announcing | EventKind::Withdrawn => EventType::Normal,
            EventKind::InterfaceNotFound
            | EventKind::CertificateRefused
            | EventKind::InvalidAnnotation => EventType::Warning,
        }
    }
}

/// One Event to publish about a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEvent {
    pub service: ServiceKey,
    pub kind: EventKind,
    pub addresses: Vec<IpAddr>,
    /// Why the addresses were withdrawn, when the decision says (one line per address).
    pub why: Vec<String>,
}

impl ServiceEvent {
    /// The Event's note, naming `node`.
    pub fn note(&self, node: &str) -> String {
        let addresses = self
            .addresses
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let mut note = match self.kind {
            EventKind::Announcing => format!("announcing {addresses} from node {node}"),
            EventKind::Withdrawn => format!("withdrew {addresses} from node {node}"),
            EventKind::InterfaceNotFound => format!("cannot hold {addresses} on node {node}"),
            EventKind::CertificateRefused => {
                format!("certificate problem for {addresses} on node {node}")
            }
            EventKind::InvalidAnnotation => {
                format!("announced from node {node} without an annotation")
            }
        };
        if !self.why.is_empty() {
            note.push_str(": ");
            note.push_str(&self.why.join("; "));
        }
        truncate(note, MAX_NOTE)
    }
}

/// The Events that going from `before` to `after` calls for: per Service, the addresses
/// that started being announced, then the ones that stopped (with the reason `after` gives,
/// or `withdraw_reason` when it gives none, e.g. on shutdown).
pub fn plan_events(
    before: &[(ServiceKey, IpAddr)],
    after: &Decision,
    withdraw_reason: Option<&str>,
) -> Vec<ServiceEvent> {
    let before: BTreeSet<&(ServiceKey, IpAddr)> = before.iter().collect();
    let now: BTreeSet<&(ServiceKey, IpAddr)> = after.announced.iter().collect();
    let mut grouped: BTreeMap<(&ServiceKey, EventKind), Vec<IpAddr>> = BTreeMap::new();
    for (service, address) in now.difference(&before) {
        grouped
            .entry((service, EventKind::Announcing))
            .or_default()
            .push(*address);
    }
    for (service, address) in before.difference(&now) {
        grouped
            .entry((service, EventKind::Withdrawn))
            .or_default()
            .push(*address);
    }
    grouped
        .into_iter()
        .map(|((service, kind), addresses)| {
            let mut why: Vec<String> = Vec::new();
            if kind == EventKind::Withdrawn {
                for address in &addresses {
                    let reason = after
                        .not_announced
                        .iter()
                        .find(|n| &n.service == service && n.address.is_none_or(|a| a == *address))
                        .map(|n| n.reason.to_string());
                    if let Some(reason) = reason.or_else(|| withdraw_reason.map(str::to_owned))
                        && !why.contains(&reason)
                    {
                        why.push(reason);
                    }
                }
            }
            ServiceEvent {
                service: service.clone(),
                kind,
                addresses,
                why,
            }
        })
        .collect()
}

/// Warning Events for the L2 problems in `after` that were not in `before` and concern
/// one Service's address (an interface that cannot be found), one per problem.
pub fn l2_problem_events(before: &[L2Problem], after: &[L2Problem]) -> Vec<ServiceEvent> {
    after
        .iter()
        .filter(|problem| !before.contains(problem))
        .filter_map(|problem| match problem {
            L2Problem::InterfaceNotFound {
                service, address, ..
            } => Some(ServiceEvent {
                service: service.clone(),
                kind: EventKind::InterfaceNotFound,
                addresses: vec![*address],
                why: vec![interface_reason(problem)],
            }),
            _ => None,
        })
        .collect()
}

/// Warning Events for the annotation problems (`(Service, why)`, see
/// [`crate::view::ClusterView::annotation_problems`]) in `after` that were not in `before`.
pub fn annotation_events(
    before: &[(ServiceKey, String)],
    after: &[(ServiceKey, String)],
) -> Vec<ServiceEvent> {
    after
        .iter()
        .filter(|problem| !before.contains(problem))
        .map(|(service, why)| ServiceEvent {
            service: service.clone(),
            kind: EventKind::InvalidAnnotation,
            addresses: Vec::new(),
            why: vec![why.clone()],
        })
        .collect()
}

/// Warning Events for the certificate problems in `after` that were not in `before`.
pub fn certificate_events(
    before: &[CertificateProblem],
    after: &[CertificateProblem],
) -> Vec<ServiceEvent> {
    after
        .iter()
        .filter(|problem| !before.contains(problem))
        .map(|problem| ServiceEvent {
            service: problem.service.clone(),
            kind: EventKind::CertificateRefused,
            addresses: vec![problem.address],
            why: vec![format!("{}: {}", problem.source, problem.message)],
        })
        .collect()
}

fn interface_reason(problem: &L2Problem) -> String {
    match problem {
        L2Problem::InterfaceNotFound {
            pool,
            interface: Some(interface),
            ..
        } => format!("pool {pool}'s interface {interface} does not exist on this node"),
        L2Problem::InterfaceNotFound { pool, .. } => {
            format!("no interface's subnet holds the address; set pool {pool}'s interface")
        }
        other => other.to_string(),
    }
}

/// Publishes [`ServiceEvent`]s from a task of its own; failures are logged, never fatal.
#[derive(Debug)]
pub struct EventPublisher {
    queue: mpsc::UnboundedSender<ServiceEvent>,
    task: JoinHandle<()>,
}

impl EventPublisher {
    /// Starts the publishing task; Events name `node` as the reporting instance.
    pub fn spawn(client: Client, node: &str) -> Self {
        let recorder = events::recorder(client, REPORTER, node);
        let (queue, mut pending) = mpsc::unbounded_channel::<ServiceEvent>();
        let node = node.to_owned();
        let task = tokio::spawn(async move {
            while let Some(event) = pending.recv().await {
                publish(&recorder, &node, &event).await;
            }
        });
        Self { queue, task }
    }

    pub fn send(&self, events: Vec<ServiceEvent>) {
        for event in events {
            // The task lives as long as the sender; a send can only fail after a panic.
            let _ = self.queue.send(event);
        }
    }

    /// Publishes what is queued, for at most `grace`, then stops.
    pub async fn finish(self, grace: Duration) {
        drop(self.queue);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            warn!(
                grace_ms = grace.as_millis(),
                "Events still queued at shutdown were dropped"
            );
            task.abort();
        }
    }
}

async fn publish(recorder: &Recorder, node: &str, event: &ServiceEvent) {
    let regarding = events::service_reference(&event.service.namespace, &event.service.name);
    let reason = event.kind.reason();
    let published = events::publish(
        recorder,
        &regarding,
        event.kind.event_type(),
        reason,
        event.kind.action(),
        event.note(node),
    )
    .await;
    if published {
        debug!(service = %event.service, reason, "Event published");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::announce::{NotAnnounced, Reason};

    fn key(name: &str) -> ServiceKey {
        ServiceKey::new("default", name)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn a_new_certificate_problem_gives_one_warning_and_a_known_one_none() {
        let problem = CertificateProblem {
            service: key("web"),
            address: ip("10.98.0.10"),
            source: "file /etc/certs/web.pem".into(),
            message: "the private key does not match the certificate".into(),
        };
        let events = certificate_events(&[], std::slice::from_ref(&problem));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind.reason(), "CertificateRefused");
        assert_eq!(events[0].kind.event_type(), EventType::Warning);
        let note = events[0].note("node1");
        assert!(
            note.contains("10.98.0.10")
                && note.contains("node1")
                && note.contains("/etc/certs/web.pem")
                && note.contains("does not match"),
            "{note}"
        );
        assert!(
            certificate_events(
                std::slice::from_ref(&problem),
                std::slice::from_ref(&problem)
            )
            .is_empty(),
            "a problem already reported is not reported again"
        );
    }

    #[test]
    fn new_addresses_give_one_announcing_event_per_service() {
        let after = Decision {
            announced: vec![
                (key("web"), ip("192.168.197.1")),
                (key("web"), ip("2001:db8::1")),
                (key("db"), ip("192.168.197.2")),
            ],
            ..Decision::default()
        };
        let events = plan_events(&[(key("db"), ip("192.168.197.2"))], &after, None);
        assert_eq!(
            events,
            [ServiceEvent {
                service: key("web"),
                kind: EventKind::Announcing,
                addresses: vec![ip("192.168.197.1"), ip("2001:db8::1")],
                why: vec![],
            }]
        );
        assert_eq!(
            events[0].note("n1"),
            "announcing 192.168.197.1, 2001:db8::1 from node n1"
        );
    }

    #[test]
    fn withdrawn_addresses_carry_the_decision_s_reason() {
        let before = [(key("web"), ip("192.168.197.1"))];
        let after = Decision {
            not_announced: vec![NotAnnounced {
                service: key("web"),
                address: Some(ip("192.168.197.1")),
                reason: Reason::NoServingEndpoint,
            }],
            ..Decision::default()
        };
        let events = plan_events(&before, &after, Some("shutting down"));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::Withdrawn);
        assert_eq!(
            events[0].note("n1"),
            "withdrew 192.168.197.1 from node n1: the Service has no serving endpoint"
        );
    }

    #[test]
    fn shutdown_withdraws_everything_with_the_given_reason() {
        let before = [
            (key("web"), ip("192.168.197.1")),
            (key("db"), ip("192.168.197.2")),
        ];
        let events = plan_events(
            &before,
            &Decision::default(),
            Some("the speaker is stopping"),
        );
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.kind == EventKind::Withdrawn));
        assert_eq!(
            events[0].note("n2"),
            "withdrew 192.168.197.2 from node n2: the speaker is stopping"
        );
    }

    #[test]
    fn a_missing_interface_gives_one_warning_on_the_service_until_it_changes() {
        let problem = L2Problem::InterfaceNotFound {
            pool: "l2".into(),
            service: key("web"),
            address: ip("172.30.0.200"),
            interface: Some("eth9".into()),
        };
        let other = L2Problem::NoCommonNode {
            family: herald_config::IpFamily::V4,
            vrid: 7,
            services: vec![key("a"), key("b")],
        };
        let events = l2_problem_events(&[], &[problem.clone(), other.clone()]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind.event_type(), EventType::Warning);
        assert_eq!(events[0].kind.reason(), "InterfaceNotFound");
        assert_eq!(
            events[0].note("n1"),
            "cannot hold 172.30.0.200 on node n1: pool l2's interface eth9 does not exist on this node"
        );
        let after = [problem.clone(), other];
        assert!(l2_problem_events(std::slice::from_ref(&problem), &after).is_empty());
    }

    #[test]
    fn a_new_annotation_problem_gives_one_warning_and_a_known_one_none() {
        let bad = (
            key("web"),
            "annotation herald.dev/bgp-localpref: \"lots\" is not a LOCAL_PREF (0-4294967295)"
                .to_string(),
        );
        let events = annotation_events(&[], std::slice::from_ref(&bad));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind.reason(), "InvalidAnnotation");
        assert_eq!(events[0].kind.event_type(), EventType::Warning);
        assert_eq!(
            events[0].note("n1"),
            format!("announced from node n1 without an annotation: {}", bad.1)
        );
        assert!(
            annotation_events(std::slice::from_ref(&bad), std::slice::from_ref(&bad)).is_empty()
        );
    }

    #[test]
    fn unchanged_announcements_give_no_events() {
        let decision = Decision {
            announced: vec![(key("web"), ip("192.168.197.1"))],
            ..Decision::default()
        };
        assert!(plan_events(&decision.announced, &decision, None).is_empty());
    }
}
