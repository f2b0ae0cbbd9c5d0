//! Herald's controller: gives `type: LoadBalancer` Services addresses from the pools in the
//! Herald ConfigMap and writes them to `status.loadBalancer.ingress`.
//!
//! Pure decisions, thin I/O:
//!
//! | pure                                    | I/O                                          |
//! |-----------------------------------------|----------------------------------------------|
//! | `herald_core::allocator`: who holds what| [`run`]: client, Service watcher, wiring     |
//! | `herald_core::service`: Service -> ask  | [`election`]: Lease acquire/renew/release,   |
//! | [`plan`]: what the status should say    |   one leadership: rebuild + applier          |
//! | [`status`]: ingress, ipMode, diff       | [`reconcile`]: status apply, Events          |
//! | `herald_core::reload`: accept a config? | [`config_watch`]: ConfigMap -> config        |
//! | `election::decision`: take the Lease?   | `herald_runtime::admin`: /metrics /readyz    |
//!
//! Shared by the tasks: [`context`] (client, recorder, metrics, settings), [`state`] (config,
//! allocator, leadership, readiness), [`trigger`] (what to look at again), [`retry`]
//! (pending Services, backoff counts), [`reasons`] (Event reasons).
//!
//! ```text
//!   Service watcher ──reflector──▶ Store<Service> ◀───────────── term (leader only):
//!         │                             ▲                          rebuild, applier(reconcile)
//!         └── Changed/Deleted/Resynced ─┼──▶ Trigger broadcast ──▶      ▲
//!   ConfigMap watcher ── good config ───┴──▶ Trigger::All              │
//!   election ── leader? ── starts/stops one term per leadership ───────┘
//! ```
//!
//! The truth is each Service's status: the allocator exists only while this replica holds
//! the Lease, and is rebuilt from the statuses (holders first) each time it takes it.

pub mod cli;
pub mod config_watch;
pub mod context;
pub mod election;
pub mod error;
pub mod metrics;
pub mod plan;
pub mod reasons;
pub mod reconcile;
pub mod retry;
pub mod run;
pub mod state;
pub mod status;
pub mod trigger;
pub mod validate;
