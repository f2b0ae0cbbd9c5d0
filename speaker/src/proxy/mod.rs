//! The speaker's in-process TCP/TLS proxy (DESIGN.md section 8). This module holds its
//! pure decisions; the data path (sockets, rustls, timers) drives them.
//!
//! - [`service`] reads what the proxy needs from Kubernetes objects beyond the view: the
//!   proxy/TLS annotations, port names and target ports, EndpointSlices with their ports.
//! - [`select`] decides which (address, port) listeners this node runs, TLS or not, the
//!   certificate source and the backends, and why everything else is not proxied.
//! - [`health`] keeps each backend's active-check state (rise/fall) and drain deadline.
//! - [`balance`] picks a backend per connection (round robin or least connections) over a
//!   backend set that changes, and the next one after a connect failure.
//! - [`serving`] decides whether a proxied address may be announced: listeners bound and
//!   a healthy backend on every port, else a typed reason for the withdrawal.
//!
//! ```text
//!  ClusterView + Services + EndpointSlices
//!        │  service::proxy_service_specs, service::slice_backends
//!        ▼
//!  select::select(view, specs, slices, node) ─▶ Selection { listeners, not_proxied }
//!        │ per listener                                │
//!        ▼                                             ▼ /status
//!  BackendSet::update(backends, now, grace)     (data path) bind address:port,
//!  BackendSet::pick / next_candidate  ◀──────── accept, connect, opened/closed
//!  BackendSet::record_check  ◀───────────────── active TCP checks every interval
//!  BackendSet::sweep(now)  ─▶ drained / expired backends (close what is left)
//!        │ PortState::new(port, bound, certificate, &set)
//!        ▼
//!  serving::decide(ports, shutting_down) ─▶ Announce | Withdraw(reason)
//!  serving::filter_announced(announce::Decision.announced, ..) ─▶ kept, withheld
//! ```

pub mod balance;
pub mod health;
pub mod select;
pub mod service;
pub mod serving;
pub mod tls;
