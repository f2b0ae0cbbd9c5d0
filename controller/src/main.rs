//! `herald-controller`: see `herald-controller --help`.

use std::io::Read;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use herald_controller::cli::{Cli, Command, EXIT_FAILURE, EXIT_USAGE, RunArgs};
use herald_controller::metrics::Metrics;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// How long shutdown may take before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = error.print();
            std::process::exit(code);
        }
    };
    let code = match cli.into_command() {
        Command::Validate { file } => validate(&file),
        Command::Run(args) => match run(*args) {
            Ok(()) => 0,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "controller failed");
                eprintln!("herald-controller: {error:#}");
                EXIT_FAILURE
            }
        },
    };
    std::process::exit(code);
}

fn validate(file: &std::path::Path) -> i32 {
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map(|_| text)
    } else {
        std::fs::read_to_string(file)
    };
    match text {
        Ok(text) => {
            let (report, code) =
                herald_controller::validate::report(&file.display().to_string(), &text);
            println!("{report}");
            code
        }
        Err(error) => {
            eprintln!(
                "herald-controller validate: cannot read {}: {error}",
                file.display()
            );
            EXIT_USAGE
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    herald_controller::process::init_logging(args.common.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let shutdown = CancellationToken::new();
        tokio::spawn(herald_controller::process::cancel_on_signal(
            shutdown.clone(),
        ));
        let controller = herald_controller::run::run(args, registry, metrics, shutdown.clone());
        tokio::select! {
            result = controller => result.context("controller"),
            () = async {
                shutdown.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "shutdown grace period ran out; exiting");
                Ok(())
            }
        }
    })
}
