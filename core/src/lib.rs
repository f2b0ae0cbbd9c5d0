//! `herald-core`: the pure domain logic both Herald binaries share. No I/O, no tokio, no
//! Kubernetes client: only values in, values out, so every part is unit-tested and the
//! controller and the speaker (in standalone mode) reach the same answers from the same
//! objects.
//!
//! - [`types`]: the domain types ([`ServiceKey`], [`ServicePort`] with its
//!   [`TransportProtocol`], [`TrafficPolicy`], [`IpFamily`]);
//! - [`service`]: a `v1.Service` -> is it ours, what it asks of the allocator (ports,
//!   protocols, families, policy, annotations), what its status holds. The one parser of
//!   Services: a bad port or protocol is an error, never silently dropped;
//! - [`allocator`]: which Service holds which load-balancer address;
//! - [`reload`]: accept or refuse a new config, given the addresses Services hold.
//!
//! Depends on `herald-config` (the config model) and on `k8s-openapi`'s plain object types.

pub mod allocator;
pub mod reload;
pub mod service;
pub mod types;

pub use types::{IpFamily, ServiceKey, ServicePort, TrafficPolicy, TransportProtocol};
