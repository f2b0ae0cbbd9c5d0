//! `herald-speaker`: see `herald-speaker --help`.

use std::time::Duration;

use anyhow::Context as _;
use herald_runtime::process;
use herald_speaker::cli::{Cli, EXIT_USAGE};

/// How long shutdown (withdraw, Cease, Events) may take beyond the drain delay and the
/// proxy's grace period before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn main() {
    let cli: Cli = process::parse_or_exit();
    if let Err(problem) = cli.check() {
        eprintln!("herald-speaker: {problem}");
        std::process::exit(EXIT_USAGE);
    }
    process::init_logging(cli.common.log_format);
    std::process::exit(process::exit_code("herald-speaker", run(cli)));
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let grace = SHUTDOWN_GRACE + cli.drain_delay + cli.proxy_grace_period;
    let outcome =
        process::run_until_signal_on(grace, cli.worker_threads.map(usize::from), |shutdown| {
            herald_speaker::run::run(cli, shutdown)
        })
        .context("cannot start the tokio runtime")?;
    outcome.transpose().context("speaker")?;
    Ok(())
}
