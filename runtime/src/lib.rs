//! `herald-runtime`: the I/O plumbing both Herald binaries share, so neither binary leans
//! on the other's crate.
//!
//! - [`process`]: command-line parsing with exit codes, log set-up, a tokio runtime whose
//!   shutdown token SIGTERM/SIGINT cancel, the grace period;
//! - [`flags`]: the flags both binaries take ([`flags::CommonArgs`]) and the exit codes;
//! - [`admin`]: the admin HTTP server (`/metrics`, `/livez`, `/readyz`; the speaker adds
//!   `/status` in front of it);
//! - [`kube_client`]: the Kubernetes client from `--kubeconfig`, in-cluster or `$KUBECONFIG`;
//! - [`metrics`]: metrics both export (`herald_config_loaded`, `herald_config_stale`) and
//!   the Prometheus text encoding;
//! - [`events`]: publishing Events, notes cut to size, failures logged.
//!
//! Depends on nothing of Herald's but `herald-config` (for the default load-balancer
//! class); domain logic lives in `herald-core`.

pub mod admin;
pub mod events;
pub mod flags;
pub mod kube_client;
pub mod metrics;
pub mod process;
