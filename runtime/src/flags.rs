//! The flags both binaries take, and their exit codes.
//!
//! Exit codes: 0 ok, [`EXIT_FAILURE`] for a run-time failure (or a config that does not
//! validate), [`EXIT_USAGE`] for bad usage.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Exit code for bad usage (sysexits EX_USAGE).
pub const EXIT_USAGE: i32 = 64;
/// Exit code for a config that does not validate, or a failure at run time.
pub const EXIT_FAILURE: i32 = 1;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    Json,
    /// Human-readable lines.
    Text,
}

/// Flags the controller and the speaker share.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Kubeconfig file to reach the API server. Default: the in-cluster service account,
    /// then the file named by $KUBECONFIG (or ~/.kube/config).
    #[arg(long, env = "HERALD_KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Namespace of the Herald ConfigMap.
    #[arg(long, env = "HERALD_CONFIG_NAMESPACE", default_value = "herald-system")]
    pub config_namespace: String,

    /// Name of the Herald ConfigMap.
    #[arg(long, env = "HERALD_CONFIG_NAME", default_value = "herald")]
    pub config_name: String,

    /// Key of the ConfigMap's `data` that holds the YAML config.
    #[arg(long, default_value = "config")]
    pub config_key: String,

    /// The `spec.loadBalancerClass` Herald handles, besides Services with no class.
    #[arg(long, env = "HERALD_LB_CLASS", default_value = herald_config::keys::LOAD_BALANCER_CLASS)]
    pub lb_class: String,

    /// Only watch Services (and EndpointSlices) in this namespace (default: all namespaces).
    /// Meant for tests and for one deployment per tenant namespace; MetalLB has no such flag.
    #[arg(long, env = "HERALD_WATCH_NAMESPACE", value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// Address of the admin HTTP server (/metrics, /livez, /readyz; the speaker adds
    /// /status). Port 0 picks a free port; the address bound is logged.
    #[arg(long, env = "HERALD_ADMIN_ADDR", default_value = "0.0.0.0:7472")]
    pub admin_addr: SocketAddr,

    /// Log format. The level comes from $RUST_LOG (default `info`).
    #[arg(long, value_enum, env = "HERALD_LOG_FORMAT", default_value = "json")]
    pub log_format: LogFormat,
}
