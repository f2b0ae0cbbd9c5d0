//! `herald-speaker`: one node's speaker. Cluster state comes in from a source, pure
//! functions decide what this node announces, drivers carry it out.
//!
//! ```text
//!   source::kube (API) ─────────┐
//!   source::standalone (DIR) ───┴─▶ SourceState { view: ClusterView, errors }
//!        │
//!        ▼  pure                                   I/O
//!   announce::decide(view, node) ─▶ Decision ─▶ bgp_driver::BgpDriver ─▶ bgp::Speaker
//!   bgp_plan: peer -> session settings,             (looks up source and host
//!     router id, routes, differences                 addresses, applies the plans)
//!   l2::plan(view, node, host) ─▶ L2Plan ───▶ l2::L2Driver ─▶ vrrp::driver::Instance
//!                                                   (one per interface, family, VRID)
//!   events::plan_events ─────────────────────▶ events::EventPublisher (kube mode)
//!   admin: /status /metrics /livez /readyz      metrics: herald_* gauges and counters
//! ```
//!
//! [`run`] wires them; `main` only parses flags and starts it on the shared runtime
//! plumbing (`herald-runtime`). Domain types, the Service parser and the allocator used in
//! standalone mode come from `herald-core`; nothing comes from the controller's crate.

pub mod admin;
pub mod announce;
pub mod bgp_driver;
pub mod bgp_plan;
pub mod cli;
pub mod drain;
pub mod events;
pub mod host;
pub mod l2;
pub mod local_addr;
pub mod metrics;
pub mod proxy;
pub mod run;
pub mod source;
pub mod view;
