//! The allocator's input and output types: what a Service asks for and what it gets.
//!
//! Filled in from a `v1.Service` by [`crate::service`] (in the controller and in standalone
//! mode alike); the allocator never sees Kubernetes objects. The domain types they are made
//! of live in [`crate::types`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::types::{IpFamily, ServiceKey, ServicePort, TrafficPolicy};

/// `spec.ipFamilyPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IpFamilyPolicy {
    #[default]
    SingleStack,
    PreferDualStack,
    RequireDualStack,
}

/// What a Service asks of the allocator.
///
/// The caller fills it from the Service: `requested_ips` from `spec.loadBalancerIP` or the
/// load-balancer-ips annotation (at most one per family), `pool` from the address-pool
/// annotation with aliases already resolved, `sharing_key` from the allow-shared-ip
/// annotation, `ip_families` from `spec.ipFamilies` (primary first; when the Service has
/// none, the caller decides, e.g. the families of `requested_ips` or `[V4]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRequest {
    pub key: ServiceKey,
    pub requested_ips: Vec<IpAddr>,
    pub pool: Option<String>,
    pub sharing_key: Option<String>,
    pub ports: Vec<ServicePort>,
    pub traffic_policy: TrafficPolicy,
    /// `spec.selector`; only compared for sharing under `Local` policy.
    pub selector: BTreeMap<String, String>,
    pub ip_families: Vec<IpFamily>,
    pub ip_family_policy: IpFamilyPolicy,
}

impl ServiceRequest {
    /// A request with no preferences: single-stack IPv4, `Cluster` policy, no ports.
    pub fn new(key: ServiceKey) -> Self {
        Self {
            key,
            requested_ips: Vec::new(),
            pool: None,
            sharing_key: None,
            ports: Vec::new(),
            traffic_policy: TrafficPolicy::Cluster,
            selector: BTreeMap::new(),
            ip_families: vec![IpFamily::V4],
            ip_family_policy: IpFamilyPolicy::SingleStack,
        }
    }

    pub fn with_requested_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.requested_ips = ips.into_iter().collect();
        self
    }

    pub fn with_pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }

    pub fn with_sharing_key(mut self, key: impl Into<String>) -> Self {
        self.sharing_key = Some(key.into());
        self
    }

    pub fn with_ports(mut self, ports: impl IntoIterator<Item = ServicePort>) -> Self {
        self.ports = ports.into_iter().collect();
        self
    }

    pub fn with_local_policy<K, V>(mut self, selector: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.traffic_policy = TrafficPolicy::Local;
        self.selector = selector
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    pub fn with_families(
        mut self,
        families: impl IntoIterator<Item = IpFamily>,
        policy: IpFamilyPolicy,
    ) -> Self {
        self.ip_families = families.into_iter().collect();
        self.ip_family_policy = policy;
        self
    }

    /// The families this Service wants, primary first, and whether the second is required.
    pub(crate) fn wanted_families(&self) -> WantedFamilies {
        let primary = self
            .ip_families
            .first()
            .copied()
            .or_else(|| self.requested_ips.first().map(|ip| IpFamily::of(*ip)))
            .unwrap_or(IpFamily::V4);
        let listed_secondary = self.ip_families.iter().copied().find(|f| *f != primary);
        let secondary = match self.ip_family_policy {
            IpFamilyPolicy::SingleStack => None,
            IpFamilyPolicy::PreferDualStack => listed_secondary,
            IpFamilyPolicy::RequireDualStack => Some(primary.other()),
        };
        WantedFamilies {
            primary,
            secondary,
            require_both: self.ip_family_policy == IpFamilyPolicy::RequireDualStack,
        }
    }

    /// What decides whether two Services may share an address besides the sharing key.
    pub(crate) fn backend_key(&self) -> BackendKey {
        match self.traffic_policy {
            TrafficPolicy::Cluster => BackendKey::Cluster,
            TrafficPolicy::Local => BackendKey::Local(canonical_selector(&self.selector)),
        }
    }
}

/// The families a request wants, resolved from `ip_families` and `ip_family_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WantedFamilies {
    pub primary: IpFamily,
    pub secondary: Option<IpFamily>,
    pub require_both: bool,
}

impl WantedFamilies {
    pub fn contains(&self, family: IpFamily) -> bool {
        self.primary == family || self.secondary == Some(family)
    }
}

/// Services sharing an address must agree on this: all `Cluster`, or all `Local` with the
/// same selector (so the address is announced from the same nodes for all of them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum BackendKey {
    Cluster,
    Local(String),
}

/// `k1=v1,k2=v2` in key order, the form `kubectl` prints a selector in.
fn canonical_selector(selector: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in selector.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// What a Service holds: the pool and its addresses, primary family first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub pool: String,
    pub addresses: Vec<IpAddr>,
}

impl fmt::Display for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, ip) in self.addresses.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{ip}")?;
        }
        write!(f, " from pool {}", self.pool)
    }
}
