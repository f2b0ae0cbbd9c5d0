//! Command line of `herald-speaker`. Parsing is all here so `main` stays short and the
//! flags can be tested without a process. Exit codes: 0 ok, 1 a failure at start or run
//! time (e.g. a standalone directory whose contents do not load), 64 bad usage.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;
use herald_runtime::flags::CommonArgs;

pub use herald_runtime::flags::{EXIT_FAILURE, EXIT_USAGE, LogFormat};

/// Herald's per-node speaker: announces the addresses of `type: LoadBalancer` Services to
/// BGP peers from this node, following the Herald config.
///
/// Two sources of cluster state: the Kubernetes API (default; Services, EndpointSlices,
/// Nodes and the Herald ConfigMap), or a directory of manifests with `--standalone DIR`
/// (no Kubernetes: DIR/config.yaml is the config, every other DIR/*.yaml holds Services,
/// EndpointSlices and Nodes; addresses are allocated in-process and written to
/// DIR/status/).
///
/// SIGTERM or SIGINT stops the speaker in one of two ways (`--shutdown-mode`): a drain
/// (RFC 8326: routes re-announced with the GRACEFUL_SHUTDOWN community, `--drain-delay`
/// for routers to move flows away, then withdrawn and the sessions closed with Cease) when
/// the node stops serving (cordoned or labelled to be excluded), or a graceful restart
/// (RFC 4724: sessions closed without withdrawing, so routers keep the routes while the
/// next process starts, and the proxy's listening sockets handed over to it) otherwise.
#[derive(Debug, Parser)]
#[command(name = "herald-speaker", version, about, long_about)]
pub struct Cli {
    /// Run without Kubernetes from this directory: DIR/config.yaml (the ConfigMap manifest
    /// or its bare `config` payload) and manifests in every other DIR/*.yaml. Changes are
    /// picked up live; a bad change is reported and the last good state stays.
    #[arg(long, env = "HERALD_STANDALONE", value_name = "DIR")]
    pub standalone: Option<PathBuf>,

    /// This node's name: the Node object whose labels select peers, and where `Local`
    /// endpoints must run. In a DaemonSet set it from `spec.nodeName`.
    #[arg(long, env = "NODE_NAME", value_name = "NAME")]
    pub node_name: String,

    #[command(flatten)]
    pub common: CommonArgs,

    /// Default BGP router id of every session (a peer's `router-id` in the config wins).
    /// Default: the IPv4 --node-address, else the peer's IPv4 `source-address`, else the
    /// address the kernel would use to reach the peer; IPv6 sessions take the id of the
    /// IPv4 ones, and a node without IPv4 one derived from its name.
    #[arg(long, env = "HERALD_ROUTER_ID", value_name = "IPV4")]
    pub router_id: Option<Ipv4Addr>,

    /// This node's own IP address (in a DaemonSet: `status.hostIP`). Only used as the
    /// default router id when it is IPv4.
    #[arg(long, env = "HERALD_NODE_ADDRESS", value_name = "IP")]
    pub node_address: Option<IpAddr>,

    /// Also accept BGP connections from peers on this address, e.g. `0.0.0.0:179` or
    /// `[::]:179` (both families). Default: only connect out.
    #[arg(long, env = "HERALD_BGP_LISTEN", value_name = "ADDR")]
    pub bgp_listen: Option<SocketAddr>,

    /// Watch `kubernetes.io/tls` Secrets (in --namespace, else all namespaces) so that a
    /// proxied Service can name its certificate with `herald.dev/tls-secret`. Set to
    /// `false` when the speaker is not allowed to read Secrets (the chart's
    /// `speaker.tlsSecrets: false`): such Services then get no certificate.
    #[arg(long, env = "HERALD_TLS_SECRETS", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_secrets: bool,

    /// At SIGTERM, after the routes are withdrawn, how long the proxy's live connections
    /// may go on before they are closed (`0s`: at once). Keep it below the pod's
    /// terminationGracePeriodSeconds.
    #[arg(long, env = "HERALD_PROXY_GRACE_PERIOD", value_name = "DURATION", default_value = "20s", value_parser = parse_grace)]
    pub proxy_grace_period: std::time::Duration,

    /// How SIGTERM stops the speaker: `auto` drains when the node is cordoned or carries
    /// `node.kubernetes.io/exclude-from-external-load-balancers` (or when no peer has
    /// `graceful-restart`) and restarts gracefully otherwise; `drain` and `restart` force
    /// one; `withdraw` withdraws at once (no drain, no graceful restart).
    #[arg(
        long,
        env = "HERALD_SHUTDOWN_MODE",
        value_name = "MODE",
        default_value = "auto"
    )]
    pub shutdown_mode: ShutdownMode,

    /// How long a drain keeps the routes announced with the GRACEFUL_SHUTDOWN community
    /// (LOCAL_PREF 0 on iBGP) before withdrawing them, at SIGTERM and when the node is
    /// cordoned or excluded while running. `0s` turns the drain off: routes are withdrawn
    /// at once.
    #[arg(long, env = "HERALD_DRAIN_DELAY", value_name = "DURATION", default_value = "5s", value_parser = parse_grace)]
    pub drain_delay: std::time::Duration,

    /// Where the speaker offers its proxy's listening sockets to the process that
    /// replaces it (a graceful restart) and where a new process asks for them. Both
    /// processes of one node must see the same path (the chart mounts /run/herald).
    #[arg(
        long,
        env = "HERALD_HANDOVER_SOCKET",
        value_name = "PATH",
        default_value = "/run/herald/handover.sock"
    )]
    pub handover_socket: PathBuf,

    /// Worker threads of the speaker's runtime (BGP, VRRP, the proxy's data path).
    /// Default: one per core. With 1 everything runs on one thread (tokio's
    /// current-thread scheduler), the way HAProxy runs with `nbthread 1`.
    #[arg(long, env = "HERALD_WORKER_THREADS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_threads: Option<u16>,
}

/// `--shutdown-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShutdownMode {
    /// Drain when the node stops serving, else restart gracefully.
    Auto,
    /// Always drain (RFC 8326), then withdraw.
    Drain,
    /// Always restart gracefully (RFC 4724): keep the routes at the routers, hand the
    /// proxy's listeners to the next process.
    Restart,
    /// Withdraw at once.
    Withdraw,
}

fn parse_grace(text: &str) -> Result<std::time::Duration, String> {
    herald_config::parse_duration(text).map_err(|fault| fault.to_string())
}

impl Cli {
    /// Checks what clap cannot: a non-empty node name, an existing standalone directory.
    /// The error is a usage error (exit code [`EXIT_USAGE`]).
    pub fn check(&self) -> Result<(), String> {
        if self.node_name.trim().is_empty() {
            return Err("--node-name (or NODE_NAME) must not be empty".to_owned());
        }
        if let Some(dir) = &self.standalone
            && !dir.is_dir()
        {
            return Err(format!("--standalone {}: not a directory", dir.display()));
        }
        Ok(())
    }

    /// The router id sessions use unless the config gives one: `--router-id`, else an
    /// IPv4 `--node-address`.
    pub fn router_id(&self) -> Option<Ipv4Addr> {
        self.router_id.or(match self.node_address {
            Some(IpAddr::V4(address)) => Some(address),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("herald-speaker").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_match_the_documentation() {
        let cli = parse(&["--node-name", "n1"]).expect("parses");
        assert_eq!(cli.node_name, "n1");
        assert_eq!(cli.standalone, None);
        assert_eq!(cli.common.config_namespace, "herald-system");
        assert_eq!(cli.common.config_name, "herald");
        assert_eq!(cli.common.lb_class, "herald.dev/lb");
        assert_eq!(cli.common.admin_addr.to_string(), "0.0.0.0:7472");
        assert_eq!(cli.common.log_format, LogFormat::Json);
        assert_eq!(cli.bgp_listen, None);
        assert_eq!(cli.router_id(), None);
        assert!(cli.tls_secrets, "Secrets are watched unless switched off");
        assert_eq!(cli.proxy_grace_period, std::time::Duration::from_secs(20));
        assert_eq!(cli.shutdown_mode, ShutdownMode::Auto);
        assert_eq!(cli.drain_delay, std::time::Duration::from_secs(5));
        assert_eq!(
            cli.handover_socket,
            PathBuf::from("/run/herald/handover.sock")
        );
    }

    #[test]
    fn router_id_prefers_the_flag_then_an_ipv4_node_address() {
        let both = parse(&[
            "--node-name",
            "n1",
            "--router-id",
            "10.0.0.1",
            "--node-address",
            "10.0.0.2",
        ])
        .expect("parses");
        assert_eq!(both.router_id(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        let address = parse(&["--node-name", "n1", "--node-address", "10.0.0.2"]).expect("parses");
        assert_eq!(address.router_id(), Some(Ipv4Addr::new(10, 0, 0, 2)));
        let v6 = parse(&["--node-name", "n1", "--node-address", "2001:db8::2"]).expect("parses");
        assert_eq!(v6.router_id(), None);
    }

    #[test]
    fn empty_node_name_and_missing_directory_are_refused() {
        let blank = parse(&["--node-name", " "]).expect("parses");
        assert!(blank.check().is_err());
        let missing =
            parse(&["--node-name", "n1", "--standalone", "/nonexistent/herald"]).expect("parses");
        let error = missing.check().expect_err("not a directory");
        assert!(error.contains("/nonexistent/herald"), "{error}");
        let dir = tempfile::tempdir().expect("tempdir");
        let dir_arg = dir.path().display().to_string();
        let present = parse(&["--node-name", "n1", "--standalone", &dir_arg]).expect("parses");
        assert!(present.check().is_ok());
    }

    #[test]
    fn bad_values_are_usage_errors() {
        assert!(parse(&["--node-name", "n1", "--router-id", "2001:db8::1"]).is_err());
        assert!(parse(&["--node-name", "n1", "--bgp-listen", "179"]).is_err());
        assert!(parse(&["--node-name", "n1", "--log-format", "xml"]).is_err());
        assert!(parse(&["--node-name", "n1", "--shutdown-mode", "reload"]).is_err());
        assert!(parse(&["--node-name", "n1", "--drain-delay", "soon"]).is_err());
        let off = parse(&["--node-name", "n1", "--drain-delay", "0s"]).expect("parses");
        assert_eq!(off.drain_delay, std::time::Duration::ZERO);
    }

    #[test]
    fn help_explains_every_flag() {
        let mut command = Cli::command();
        let help = command.render_long_help().to_string();
        for flag in [
            "--standalone",
            "--node-name",
            "--kubeconfig",
            "--config-namespace",
            "--config-name",
            "--lb-class",
            "--admin-addr",
            "--log-format",
            "--router-id",
            "--node-address",
            "--bgp-listen",
            "--shutdown-mode",
            "--drain-delay",
            "--handover-socket",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
        }
        command.debug_assert();
    }
}
