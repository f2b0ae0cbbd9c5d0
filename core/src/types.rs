//! The domain types both binaries speak: which Service, which port, which policy, which
//! address family. Small plain values, filled in from Kubernetes objects by
//! [`crate::service`] and used by the allocator, the speaker's decisions and the status
//! pages alike.

use std::fmt;

/// An address family: Herald's one family type, defined with the config's address blocks.
pub use herald_config::IpFamily;

/// A Service's identity: namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
}

impl ServiceKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A Service port's transport protocol, as in `spec.ports[].protocol` (not to be confused
/// with a pool's `protocol: bgp | layer2`, which is [`herald_config::Protocol`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportProtocol {
    Tcp,
    Udp,
    Sctp,
}

impl fmt::Display for TransportProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportProtocol::Tcp => "TCP",
            TransportProtocol::Udp => "UDP",
            TransportProtocol::Sctp => "SCTP",
        })
    }
}

/// One `(protocol, port)` a Service exposes on its load-balancer address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePort {
    pub protocol: TransportProtocol,
    pub port: u16,
}

impl ServicePort {
    pub fn tcp(port: u16) -> Self {
        Self {
            protocol: TransportProtocol::Tcp,
            port,
        }
    }

    pub fn udp(port: u16) -> Self {
        Self {
            protocol: TransportProtocol::Udp,
            port,
        }
    }
}

impl fmt::Display for ServicePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.protocol, self.port)
    }
}

/// `spec.externalTrafficPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

impl fmt::Display for TrafficPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrafficPolicy::Cluster => "Cluster",
            TrafficPolicy::Local => "Local",
        })
    }
}
