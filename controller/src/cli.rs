//! Command-line interface: `herald-controller [run] [FLAGS]` and `herald-controller validate FILE`.
//!
//! Parsing is all here so `main` stays a few lines and the flags can be tested without a
//! process. Exit codes: 0 ok, 1 invalid config (validate) or a run-time failure, 64 bad usage.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use herald_runtime::flags::CommonArgs;

/// Herald's controller: gives `type: LoadBalancer` Services addresses from the pools in the
/// Herald ConfigMap and writes them to `status.loadBalancer`.
#[derive(Debug, Parser)]
#[command(name = "herald-controller", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Flags of `run`, the default subcommand.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller (the default when no subcommand is given).
    Run(Box<RunArgs>),
    /// Check a config file offline: prints every error (one per line, sorted by key path)
    /// and exits 1 if there is any, or prints `ok: N pools, M peers`. FILE may be the
    /// ConfigMap manifest or its bare `config` payload; `-` reads standard input.
    Validate {
        /// The file to check.
        file: PathBuf,
    },
}

impl Cli {
    /// The subcommand to run, `run` when none was given.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Run(Box::new(self.run)))
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Name of the coordination.k8s.io/v1 Lease used for leader election.
    #[arg(long, env = "HERALD_LEASE_NAME", default_value = "herald-controller")]
    pub lease_name: String,

    /// Namespace of the Lease. Default: the ConfigMap's namespace.
    #[arg(long, env = "HERALD_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// This replica's identity in the Lease. Default: $POD_NAME, then the host name.
    #[arg(long, env = "HERALD_IDENTITY")]
    pub identity: Option<String>,

    /// How long a Lease stays valid without renewal, e.g. `15s`. The holder renews every
    /// third of it and stops writing as soon as a renewal fails; another replica takes over
    /// once it has expired (at once when the holder released it on shutdown).
    #[arg(long, env = "HERALD_LEASE_DURATION", default_value = "15s", value_parser = parse_lease_duration)]
    pub lease_duration: Duration,
}

impl RunArgs {
    /// The Lease namespace: the flag, or the ConfigMap's namespace.
    pub fn lease_namespace(&self) -> &str {
        self.lease_namespace
            .as_deref()
            .unwrap_or(&self.common.config_namespace)
    }
}

/// A lease duration: a `herald-config` duration (`15s`, `1m`, `500ms`) of at least 1 s,
/// whole seconds (the Lease field is in seconds).
fn parse_lease_duration(text: &str) -> Result<Duration, String> {
    let duration = herald_config::parse_duration(text).map_err(|e| e.to_string())?;
    if duration < Duration::from_secs(1) {
        return Err(format!("{text} is shorter than 1s"));
    }
    if duration.subsec_nanos() != 0 {
        return Err(format!("{text} is not a whole number of seconds"));
    }
    if duration > Duration::from_secs(3600) {
        return Err(format!("{text} is longer than 1h"));
    }
    Ok(duration)
}

/// The identity to use in the Lease: the flag, `$POD_NAME`, `$HOSTNAME`, then the kernel's
/// host name.
pub fn default_identity(flag: Option<&str>) -> String {
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    flag.map(str::to_owned)
        .or_else(|| from_env("POD_NAME"))
        .or_else(|| from_env("HOSTNAME"))
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "herald-controller".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use herald_runtime::flags::LogFormat;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("herald-controller").chain(args.iter().copied()))
            .map(Cli::into_command)
    }

    #[test]
    fn run_is_the_default_subcommand_with_documented_defaults() {
        let Ok(Command::Run(run)) = parse(&[]) else {
            panic!("no subcommand means run");
        };
        assert_eq!(run.common.config_namespace, "herald-system");
        assert_eq!(run.common.config_name, "herald");
        assert_eq!(run.common.config_key, "config");
        assert_eq!(run.common.lb_class, "herald.dev/lb");
        assert_eq!(run.common.admin_addr.to_string(), "0.0.0.0:7472");
        assert_eq!(run.common.log_format, LogFormat::Json);
        assert_eq!(run.lease_name, "herald-controller");
        assert_eq!(run.lease_namespace(), "herald-system");
        assert_eq!(run.lease_duration, Duration::from_secs(15));
        assert_eq!(run.common.namespace, None);
    }

    #[test]
    fn flags_work_with_and_without_the_run_word() {
        for prefix in [&[][..], &["run"][..]] {
            let mut args: Vec<&str> = prefix.to_vec();
            args.extend([
                "--config-namespace",
                "ops",
                "--lease-duration",
                "3s",
                "--log-format",
                "text",
                "--admin-addr",
                "127.0.0.1:0",
            ]);
            let Ok(Command::Run(run)) = parse(&args) else {
                panic!("flags parse: {args:?}");
            };
            assert_eq!(run.lease_namespace(), "ops");
            assert_eq!(run.lease_duration, Duration::from_secs(3));
            assert_eq!(run.common.log_format, LogFormat::Text);
        }
    }

    #[test]
    fn validate_takes_one_file() {
        let Ok(Command::Validate { file }) = parse(&["validate", "cm.yaml"]) else {
            panic!("validate parses");
        };
        assert_eq!(file, PathBuf::from("cm.yaml"));
        assert!(parse(&["validate"]).is_err());
    }

    #[test]
    fn lease_duration_must_be_whole_seconds_of_at_least_one() {
        assert_eq!(parse_lease_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_lease_duration("500ms").is_err());
        assert!(parse_lease_duration("1500ms").is_err());
        assert!(parse_lease_duration("soon").is_err());
        assert!(parse(&["--lease-duration", "0s"]).is_err());
    }

    #[test]
    fn help_explains_every_flag() {
        let mut command = Cli::command();
        let help = command.render_long_help().to_string();
        for flag in [
            "--kubeconfig",
            "--config-namespace",
            "--config-name",
            "--lb-class",
            "--namespace",
            "--admin-addr",
            "--log-format",
            "--lease-name",
            "--lease-namespace",
            "--identity",
            "--lease-duration",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
        }
        command.debug_assert();
    }

    #[test]
    fn identity_prefers_the_flag() {
        assert_eq!(default_identity(Some("replica-a")), "replica-a");
        assert!(!default_identity(None).is_empty());
    }
}
