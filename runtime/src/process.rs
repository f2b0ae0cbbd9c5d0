//! Process plumbing both binaries share: command-line parsing with
//! the exit codes, log set-up, the runtime with its shutdown signal and grace period.

use std::fmt::Display;
use std::io::IsTerminal;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::flags::{EXIT_FAILURE, EXIT_USAGE, LogFormat};

/// Parses the command line. `--help` and `--version` print and exit 0; a usage error is
/// printed and exits [`EXIT_USAGE`].
pub fn parse_or_exit<C: clap::Parser>() -> C {
    match C::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = error.print();
            std::process::exit(code);
        }
    }
}

/// Runs `task` on a multi-thread tokio runtime with a shutdown token that SIGTERM and SIGINT
/// cancel. Once it is cancelled `task` has `grace` to finish; if it does not, a warning is
/// logged and `None` returned. Errs only if the runtime cannot start.
pub fn run_until_signal<F, Fut>(grace: Duration, task: F) -> std::io::Result<Option<Fut::Output>>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future,
{
    run_until_signal_on(grace, None, task)
}

/// [`run_until_signal`] with `worker_threads` runtime threads (`None`: one per core).
pub fn run_until_signal_on<F, Fut>(
    grace: Duration,
    worker_threads: Option<usize>,
    task: F,
) -> std::io::Result<Option<Fut::Output>>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future,
{
    // One worker thread (0 taken as 1): the current-thread scheduler, where the main task
    // and every spawned task run on this thread (no work-stealing queues, no second thread
    // to wake).
    let mut builder = match worker_threads {
        Some(0 | 1) => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder.enable_all().build()?;
    Ok(runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        let work = task(shutdown.clone());
        tokio::select! {
            output = work => Some(output),
            () = async {
                shutdown.cancelled().await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_s = grace.as_secs(), "shutdown grace period ran out; exiting");
                None
            }
        }
    }))
}

/// The exit code of a run: 0, or [`EXIT_FAILURE`] once the error is logged and printed to
/// stderr after `binary` (alternate form, so a chain of causes shows).
pub fn exit_code<E: Display>(binary: &str, result: Result<(), E>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "{binary} failed");
            eprintln!("{binary}: {error:#}");
            EXIT_FAILURE
        }
    }
}

/// Logs to stderr in `format`; the level comes from `$RUST_LOG` (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

/// Cancels `shutdown` on SIGTERM or SIGINT.
pub async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(signal = name, "shutting down");
    shutdown.cancel();
}
