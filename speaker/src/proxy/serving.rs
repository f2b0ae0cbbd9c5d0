//! "Announce only what can be served": whether a proxied Service address may be announced
//! from this node, from the state of its listeners and backends. Pure: the data path
//! reports each port's state, this decides, the BGP driver withdraws or announces and
//! `/status` shows the reason.
//!
//! Every proxied port of the address must be able to serve (listener bound, a certificate
//! when it terminates TLS, a backend that takes new connections): a router spreads flows
//! for the address over every node that announces it, whatever their port, so a node that
//! can serve only some ports would drop the others' flows while another node could take
//! them. The first port that cannot serve, in port order, gives the reason.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use herald_core::ServiceKey;

use super::balance::BackendSet;

/// One proxied port's state as the data path sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortState {
    pub port: u16,
    /// The listening socket is bound on `address:port`.
    pub bound: bool,
    pub certificate: CertificateState,
    /// Backends in the set, draining ones excluded.
    pub backends: usize,
    /// Backends that take new connections (up and not draining).
    pub healthy: usize,
}

impl PortState {
    /// The state of a port with its backend set.
    pub fn new(port: u16, bound: bool, certificate: CertificateState, set: &BackendSet) -> Self {
        Self {
            port,
            bound,
            certificate,
            backends: set
                .backends()
                .iter()
                .filter(|b| b.drain().is_none())
                .count(),
            healthy: set.healthy(),
        }
    }
}

/// The certificate of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateState {
    /// Plain TCP.
    NotNeeded,
    /// A good certificate is loaded (the last good one counts after a bad reload).
    Loaded,
    /// TLS is wanted and no good certificate was ever loaded.
    Missing,
}

/// The decision for one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Serving {
    Announce,
    Withdraw(WithdrawReason),
}

/// Why a proxied address is withdrawn from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WithdrawReason {
    /// The speaker is stopping: routes go first, then listeners (DESIGN.md section 10).
    ShuttingDown,
    /// No proxied port: nothing listens on the address.
    NoListener,
    /// A port's listener is not bound.
    ListenerNotBound { port: u16 },
    /// A TLS port has no good certificate.
    NoCertificate { port: u16 },
    /// A port has no backend at all (no serving endpoint for its policy).
    NoBackend { port: u16 },
    /// A port has backends, none of which takes new connections (down by health checks).
    NoHealthyBackend { port: u16 },
}

impl WithdrawReason {
    /// A short stable label for metrics and JSON.
    pub fn label(self) -> &'static str {
        match self {
            Self::ShuttingDown => "shutting_down",
            Self::NoListener => "no_listener",
            Self::ListenerNotBound { .. } => "listener_not_bound",
            Self::NoCertificate { .. } => "no_certificate",
            Self::NoBackend { .. } => "no_backend",
            Self::NoHealthyBackend { .. } => "no_healthy_backend",
        }
    }

    /// The port concerned, if the reason is a port's.
    pub fn port(self) -> Option<u16> {
        match self {
            Self::ShuttingDown | Self::NoListener => None,
            Self::ListenerNotBound { port }
            | Self::NoCertificate { port }
            | Self::NoBackend { port }
            | Self::NoHealthyBackend { port } => Some(port),
        }
    }
}

impl fmt::Display for WithdrawReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShuttingDown => f.write_str("the speaker is shutting down"),
            Self::NoListener => f.write_str("no proxied port listens on the address"),
            Self::ListenerNotBound { port } => {
                write!(f, "the listener on port {port} is not bound")
            }
            Self::NoCertificate { port } => {
                write!(f, "port {port} terminates TLS and has no good certificate")
            }
            Self::NoBackend { port } => write!(f, "port {port} has no backend"),
            Self::NoHealthyBackend { port } => {
                write!(f, "no backend of port {port} passes its health checks")
            }
        }
    }
}

/// Whether an address with these proxied ports may be announced.
pub fn decide(ports: &[PortState], shutting_down: bool) -> Serving {
    if shutting_down {
        return Serving::Withdraw(WithdrawReason::ShuttingDown);
    }
    if ports.is_empty() {
        return Serving::Withdraw(WithdrawReason::NoListener);
    }
    let mut ports = ports.to_vec();
    ports.sort_by_key(|p| p.port);
    match ports.iter().find_map(port_problem) {
        Some(reason) => Serving::Withdraw(reason),
        None => Serving::Announce,
    }
}

fn port_problem(state: &PortState) -> Option<WithdrawReason> {
    let port = state.port;
    if !state.bound {
        Some(WithdrawReason::ListenerNotBound { port })
    } else if state.certificate == CertificateState::Missing {
        Some(WithdrawReason::NoCertificate { port })
    } else if state.backends == 0 {
        Some(WithdrawReason::NoBackend { port })
    } else if state.healthy == 0 {
        Some(WithdrawReason::NoHealthyBackend { port })
    } else {
        None
    }
}

/// Splits the addresses the announcement decision would announce into those still
/// announced and those withheld because the proxy cannot serve them. Addresses missing
/// from `serving` are not proxied and stay announced.
pub fn filter_announced(
    announced: &[(ServiceKey, IpAddr)],
    serving: &BTreeMap<(ServiceKey, IpAddr), Serving>,
) -> (Vec<(ServiceKey, IpAddr)>, Vec<Withheld>) {
    let mut kept = Vec::new();
    let mut withheld = Vec::new();
    for (service, address) in announced {
        match serving.get(&(service.clone(), *address)) {
            Some(Serving::Withdraw(reason)) => withheld.push(Withheld {
                service: service.clone(),
                address: *address,
                reason: *reason,
            }),
            Some(Serving::Announce) | None => kept.push((service.clone(), *address)),
        }
    }
    (kept, withheld)
}

/// A proxied address the announcement decision allows but the proxy cannot serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withheld {
    pub service: ServiceKey,
    pub address: IpAddr,
    pub reason: WithdrawReason,
}

impl fmt::Display for Withheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.service, self.address, self.reason)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use herald_config::Balance;

    use super::*;
    use crate::proxy::health::{CheckResult, HealthCheck};

    fn port(port: u16) -> PortState {
        PortState {
            port,
            bound: true,
            certificate: CertificateState::NotNeeded,
            backends: 2,
            healthy: 2,
        }
    }

    #[test]
    fn an_address_is_announced_while_every_port_is_bound_and_has_a_healthy_backend() {
        assert_eq!(decide(&[port(80), port(443)], false), Serving::Announce);
    }

    #[test]
    fn an_unbound_listener_withdraws_the_address() {
        let unbound = PortState {
            bound: false,
            ..port(443)
        };
        assert_eq!(
            decide(&[port(80), unbound], false),
            Serving::Withdraw(WithdrawReason::ListenerNotBound { port: 443 })
        );
    }

    #[test]
    fn a_tls_port_without_a_good_certificate_withdraws_the_address() {
        let missing = PortState {
            certificate: CertificateState::Missing,
            ..port(443)
        };
        let loaded = PortState {
            certificate: CertificateState::Loaded,
            ..port(443)
        };
        assert_eq!(
            decide(&[missing], false),
            Serving::Withdraw(WithdrawReason::NoCertificate { port: 443 })
        );
        assert_eq!(decide(&[loaded], false), Serving::Announce);
    }

    #[test]
    fn no_backend_and_no_healthy_backend_are_told_apart() {
        let none = PortState {
            backends: 0,
            healthy: 0,
            ..port(80)
        };
        let down = PortState {
            healthy: 0,
            ..port(80)
        };
        assert_eq!(
            decide(&[none], false),
            Serving::Withdraw(WithdrawReason::NoBackend { port: 80 })
        );
        assert_eq!(
            decide(&[down], false),
            Serving::Withdraw(WithdrawReason::NoHealthyBackend { port: 80 })
        );
    }

    #[test]
    fn shutting_down_withdraws_first_and_no_port_means_no_listener() {
        assert_eq!(
            decide(&[port(80)], true),
            Serving::Withdraw(WithdrawReason::ShuttingDown)
        );
        assert_eq!(
            decide(&[], false),
            Serving::Withdraw(WithdrawReason::NoListener)
        );
    }

    #[test]
    fn the_lowest_port_that_cannot_serve_gives_the_reason() {
        let unbound = PortState {
            bound: false,
            ..port(8443)
        };
        let empty = PortState {
            backends: 0,
            healthy: 0,
            ..port(80)
        };
        assert_eq!(
            decide(&[unbound, empty], false),
            Serving::Withdraw(WithdrawReason::NoBackend { port: 80 })
        );
    }

    #[test]
    fn the_last_backend_failing_withdraws_and_its_recovery_announces_again() {
        let backend = SocketAddr::from(([10, 0, 0, 1], 8080));
        let check = HealthCheck {
            rise: 2,
            fall: 2,
            ..HealthCheck::default()
        };
        let mut set = BackendSet::new(Balance::RoundRobin, Some(check));
        set.update(&[backend], Instant::now(), Duration::from_secs(30));
        let serving = |set: &BackendSet| {
            decide(
                &[PortState::new(80, true, CertificateState::NotNeeded, set)],
                false,
            )
        };
        assert_eq!(serving(&set), Serving::Announce);
        for _ in 0..2 {
            set.record_check(backend, CheckResult::Failed);
        }
        assert_eq!(
            serving(&set),
            Serving::Withdraw(WithdrawReason::NoHealthyBackend { port: 80 })
        );
        for _ in 0..2 {
            set.record_check(backend, CheckResult::Passed);
        }
        assert_eq!(serving(&set), Serving::Announce);
    }

    #[test]
    fn a_port_whose_only_backend_drains_has_no_backend() {
        let backend = SocketAddr::from(([10, 0, 0, 1], 8080));
        let now = Instant::now();
        let mut set = BackendSet::new(Balance::RoundRobin, None);
        set.update(&[backend], now, Duration::from_secs(30));
        set.opened(backend);
        set.update(&[], now, Duration::from_secs(30));
        assert_eq!(
            decide(
                &[PortState::new(80, true, CertificateState::NotNeeded, &set)],
                false
            ),
            Serving::Withdraw(WithdrawReason::NoBackend { port: 80 })
        );
    }

    #[test]
    fn only_proxied_addresses_that_cannot_serve_are_withheld() {
        let web = ServiceKey::new("ns", "web");
        let dns = ServiceKey::new("ns", "dns");
        let v4: IpAddr = "192.168.10.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let dns_ip: IpAddr = "192.168.10.2".parse().unwrap();
        let announced = [(web.clone(), v4), (web.clone(), v6), (dns.clone(), dns_ip)];
        let serving = BTreeMap::from([
            ((web.clone(), v4), Serving::Announce),
            (
                (web.clone(), v6),
                Serving::Withdraw(WithdrawReason::NoHealthyBackend { port: 443 }),
            ),
        ]);
        let (kept, withheld) = filter_announced(&announced, &serving);
        assert_eq!(kept, [(web.clone(), v4), (dns, dns_ip)]);
        assert_eq!(
            withheld,
            [Withheld {
                service: web,
                address: v6,
                reason: WithdrawReason::NoHealthyBackend { port: 443 }
            }]
        );
        assert_eq!(
            withheld[0].to_string(),
            "ns/web 2001:db8::1: no backend of port 443 passes its health checks"
        );
    }
}
