//! `herald-controller`: see `herald-controller --help`.

use std::io::Read;
use std::time::Duration;

use anyhow::Context as _;
use herald_controller::cli::{Cli, Command, RunArgs};
use herald_controller::metrics::Metrics;
use herald_runtime::flags::EXIT_USAGE;
use herald_runtime::process;
use prometheus_client::registry::Registry;

/// How long shutdown may take before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn main() {
    let cli: Cli = process::parse_or_exit();
    let code = match cli.into_command() {
        Command::Validate { file } => validate(&file),
        Command::Run(args) => process::exit_code("herald-controller", run(*args)),
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
    process::init_logging(args.common.log_format);
    let outcome = process::run_until_signal(SHUTDOWN_GRACE, |shutdown| async move {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        herald_controller::run::run(args, registry, metrics, shutdown).await
    })
    .context("cannot start the tokio runtime")?;
    outcome.transpose().context("controller")?;
    Ok(())
}
