//! The speaker's in-process TCP/TLS proxy (DESIGN.md section 8): pure decisions, and the
//! data path (sockets, timers; rustls behind [`terminate`]) that carries them out.
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
//! - [`proxy_protocol`] encodes the PROXY protocol v1/v2 header sent to backends.
//!
//! The data path:
//! - [`driver`] runs a listener per selected `address:port`, applies new selections,
//!   publishes the serving decision per address (a `watch`), snapshots for `/status` and
//!   metrics, and shuts down gracefully.
//! - [`listener`] binds, accepts under the connection cap, connects backends with retries,
//!   runs the active checks and the drain sweep.
//! - [`forward`] copies both ways with half-close and an idle timeout, with buffers lent
//!   per read from a per-thread pool (none held while idle).
//! - [`terminate`] is the hook through which a listener terminates TLS.
//! - [`handover`] passes the listening sockets to the speaker that replaces this one
//!   (a Unix socket, SCM_RIGHTS), so a restart refuses no connection.
//!
//! ```text
//!  ClusterView + Services + EndpointSlices
//!        │  service::proxy_service_specs, service::slice_backends
//!        ▼
//!  select::select(view, specs, slices, node) ─▶ Selection { listeners, not_proxied }
//!        │ per listener                                │
//!        ▼                                             ▼ /status
//!  driver::ProxyDriver::apply(&Selection) ─▶ listener per address:port
//!  BackendSet::update(backends, now, grace)     listener: bind address:port (freebind),
//!  BackendSet::pick / next_candidate  ◀──────── accept (cap), Terminate (TLS), connect,
//!                                               opened/closed, proxy_protocol::header,
//!                                               forward::forward (idle timeout)
//!  BackendSet::record_check  ◀───────────────── active TCP checks every interval
//!  BackendSet::sweep(now)  ─▶ drained / expired backends (close what is left)
//!        │ PortState::new(port, bound, certificate, &set)
//!        ▼
//!  serving::decide(ports, shutting_down) ─▶ Announce | Withdraw(reason)
//!        │ driver: watch::Receiver<ServingMap>, changed on bind, health, updates
//!  serving::filter_announced(announce::Decision.announced, ..) ─▶ kept, withheld
//! ```

pub mod balance;
pub mod driver;
pub mod forward;
pub mod handover;
pub mod health;
pub mod listener;
pub mod proxy_protocol;
pub mod runtime;
pub mod select;
pub mod service;
pub mod serving;
pub mod terminate;
pub mod tls;
