//! `herald-speaker`: see `herald-speaker --help`.

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use herald_controller::process::{cancel_on_signal, init_logging};
use herald_speaker::cli::{Cli, EXIT_FAILURE, EXIT_USAGE};
use tokio_util::sync::CancellationToken;

/// How long shutdown (withdraw, Cease, Events) may take before the process exits anyway.
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
    if let Err(problem) = cli.check() {
        eprintln!("herald-speaker: {problem}");
        std::process::exit(EXIT_USAGE);
    }
    init_logging(cli.common.log_format);
    let code = match run(cli) {
        Ok(()) => 0,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "speaker failed");
            eprintln!("herald-speaker: {error:#}");
            EXIT_FAILURE
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        let speaker = herald_speaker::run::run(cli, shutdown.clone());
        tokio::select! {
            result = speaker => result.context("speaker"),
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
