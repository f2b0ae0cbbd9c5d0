//! Herald's controller: gives `type: LoadBalancer` Services addresses from the pools in the
//! Herald ConfigMap and writes them to `status.loadBalancer.ingress`.
//!
//! Pure decisions, thin I/O:
//!
//! | pure                                   | I/O                                         |
//! |----------------------------------------|---------------------------------------------|
//! | [`allocator`]: who holds which address | [`run`]: client, Service watcher, wiring    |
//! | [`service`]: Service -> request, class | [`term`]: one leadership: rebuild + applier |
//! | [`plan`]: what the status should say   | [`reconcile`]: status apply, Events         |
//! | [`status`]: ingress, ipMode, diff      | [`config_watch`]: ConfigMap -> config       |
//! | [`reload`]: accept or refuse a config  | [`leader`]: Lease acquire/renew/release     |
//! | [`lease`]: may I take the Lease        | [`admin`]: /metrics /livez /readyz          |
//!
//! ```text
//!   Service watcher ──reflector──▶ Store<Service> ◀───────────── term (leader only):
//!         │                             ▲                          rebuild, applier(reconcile)
//!         └── Changed/Deleted/Resynced ─┼──▶ Trigger broadcast ──▶      ▲
//!   ConfigMap watcher ── good config ───┴──▶ Trigger::All              │
//!   Lease loop ── leader? ── starts/stops one term per leadership ─────┘
//! ```
//!
//! The truth is each Service's status: the allocator exists only while this replica holds
//! the Lease, and is rebuilt from the statuses (holders first) each time it takes it.

pub mod cli;
pub mod config_watch;
pub mod context;
pub mod error;
pub mod leader;
pub mod lease;
pub mod metrics;
pub mod plan;
pub mod reconcile;
pub mod run;
pub mod status;
pub mod term;
pub mod validate;
