//! A tokio runtime on a thread that lives in the node namespace.
//!
//! ```text
//!  test thread (root namespace)            "ns-<node>" thread (setns into the node netns)
//!  NsRuntime::block_on(fut) --job chan-->  current-thread runtime: tokio::spawn(job)
//!         <--------- result (std mpsc) ---   every socket a task opens is in the netns
//! ```
//!
//! Network namespaces are per thread: `setns` switches only the calling thread, and a
//! current-thread runtime polls every task on that thread, so every socket the Speaker
//! opens (connect, listen) is created inside the node namespace.

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
