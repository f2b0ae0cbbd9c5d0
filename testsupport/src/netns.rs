//! Tests in network namespaces: a tokio runtime on a thread that lives in a namespace
//! ([`NsRuntime`]), running the commands that build them ([`run`], [`try_run`]), and the
//! checks that fail such a test clearly when it cannot run ([`require_root`],
//! [`require_program`]). Used by bgp's interop tests and vrrp's driver tests.
//!
//!
//! ```text
//!  test thread (root namespace)            "ns-<node>" thread (setns into the node netns)
//!  NsRuntime::block_on(fut) --job chan-->  current-thread runtime: tokio::spawn(job)
//!         <--------- result (std mpsc) ---   every socket a task opens is in the netns
//! ```
//!
//! Network namespaces are per thread: `setns` switches only the calling thread, and a
//! current-thread runtime polls every task on that thread, so every socket the Speaker
//! opens (connect, listen, raw sockets) is created inside the namespace.

use nix::sched::{CloneFlags, setns};
use std::fs::File;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How long [`NsRuntime::block_on`] waits for a result before failing the test.
const BLOCK_ON_LIMIT: Duration = Duration::from_secs(120);

/// The runtime thread; dropping it stops every task on it and joins the thread.
#[derive(Debug)]
pub struct NsRuntime {
    namespace: String,
    jobs: Option<mpsc::UnboundedSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl NsRuntime {
    /// Starts the thread, enters namespace `ns` (`/run/netns/<ns>`) and builds the runtime.
    pub fn start(ns: &str) -> NsRuntime {
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), String>>();
        let path = format!("/run/netns/{ns}");
        let thread = std::thread::Builder::new()
            .name(format!("ns-{ns}"))
            .spawn(move || {
                let entered = File::open(&path)
                    .map_err(|e| format!("open {path}: {e}"))
                    .and_then(|f| {
                        setns(&f, CloneFlags::CLONE_NEWNET)
                            .map_err(|e| format!("setns {path}: {e}"))
                    });
                let runtime = entered.and_then(|()| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("tokio runtime: {e}"))
                });
                let runtime = match runtime {
                    Ok(runtime) => {
                        let _ = ready_tx.send(Ok(()));
                        runtime
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    while let Some(job) = queue.recv().await {
                        tokio::spawn(job);
                    }
                });
                // Dropping the runtime cancels the tasks still running and closes their
                // sockets, inside the namespace.
                drop(runtime);
            })
            .expect("spawn namespace thread");
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("cannot run in namespace {ns}: {e}"),
            Err(_) => panic!("namespace thread for {ns} died"),
        }
        NsRuntime {
            namespace: ns.to_owned(),
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    /// Runs `future` as a task in the namespace and waits for its output.
    pub fn block_on<F, T>(&self, future: F) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = std_mpsc::channel();
        self.spawn(async move {
            let _ = tx.send(future.await);
        });
        match rx.recv_timeout(BLOCK_ON_LIMIT) {
            Ok(value) => value,
            Err(e) => panic!("task in namespace {} gave no result: {e}", self.namespace),
        }
    }

    /// Runs `future` as a task in the namespace without waiting for it.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let jobs = self.jobs.as_ref().expect("runtime is running");
        if jobs.send(Box::pin(future)).is_err() {
            panic!(
                "the runtime thread of namespace {} has stopped",
                self.namespace
            );
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl Drop for NsRuntime {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Panics unless the test runs as root: network namespaces and raw sockets need it.
pub fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let effective = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2));
    assert_eq!(
        effective,
        Some("0"),
        "this test creates network namespaces and starts daemons in them: run it as root"
    );
}

/// Panics with an install hint unless `program` (a name on the PATH, or a path) exists.
pub fn require_program(program: &str, package: &str) {
    let found = if program.contains('/') {
        std::path::Path::new(program).is_file()
    } else {
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
            .unwrap_or(false)
    };
    assert!(
        found,
        "{program} is missing: install the Debian package `{package}` (this test needs the \
         real daemon and runs as root)"
    );
}

/// Runs a command to completion; a failure fails the test with its output. Returns stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    try_run(program, args).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a command to completion; `Err` carries the command line, its stderr and stdout.
pub fn try_run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        ))
    }
}
