//! The speaker's in-process TCP/TLS proxy (DESIGN.md section 8): pure decisions first.
//!
//! - [`service`] reads what the proxy needs from Kubernetes objects beyond the view: the
//!   proxy/TLS annotations, port names and target ports, EndpointSlices with their ports.
//! - [`select`] decides which (address, port) listeners this node runs, TLS or not, the
//!   certificate source and the backends, and why everything else is not proxied.

pub mod balance;
pub mod health;
pub mod select;
pub mod service;
