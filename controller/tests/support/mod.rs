//! Test support of the controller: the controller binary as a child process, watching one
//! test namespace of the shared apiserver (`herald_testsupport::apiserver`).
//!
//! Every controller a test starts watches only that test's namespace (`--namespace`), with
//! its ConfigMap and Lease there too, so tests running in parallel on one apiserver never
//! see each other's Services.

#![allow(dead_code)] // each test binary uses a different part of the helper

use std::process::{Command, ExitStatus};

use herald_testsupport::apiserver::{TestEnv, testenv};
use herald_testsupport::child::Process;
use herald_testsupport::wait::eventually;

/// A `herald-controller` child process watching one test namespace. Killed on drop; its
/// log is printed if the test failed.
#[derive(Debug)]
pub struct Controller {
    process: Process,
    pub identity: String,
    pub admin: std::net::SocketAddr,
}

/// Lease name the tests use.
pub const LEASE: &str = "herald-controller";

impl Controller {
    /// Starts the controller for `namespace` as `identity` (ConfigMap `herald` and Lease
    /// [`LEASE`] in that namespace, lease duration 3 s, only that namespace's Services) on
    /// the shared apiserver, and waits for its admin server.
    pub fn start(namespace: &str, identity: &str) -> Self {
        Self::start_with(testenv(), namespace, identity, &["--namespace", namespace])
    }

    /// Like [`Controller::start`] on `env`, with `extra` flags instead of `--namespace`.
    pub fn start_with(env: &TestEnv, namespace: &str, identity: &str, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald-controller"));
        command
            .args(["run", "--kubeconfig"])
            .arg(&env.kubeconfig)
            .args(extra)
            .args(["--config-namespace", namespace, "--config-name", "herald"])
            .args(["--lease-namespace", namespace, "--lease-name", LEASE])
            .args(["--lease-duration", "3s"])
            .args(["--identity", identity])
            .env("RUST_LOG", "info,herald_controller=debug");
        let process = Process::start(&format!("controller {identity}"), command);
        Self {
            admin: process.admin,
            process,
            identity: identity.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// GET `path` on the admin server: (status code, body).
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        self.process.get(path).await
    }

    /// The value of an unlabelled metric (or the first series of a labelled one whose line
    /// starts with `name`).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        self.process.metric(name).await
    }

    /// Waits until `name` reads `value` on /metrics.
    pub async fn wait_for_metric(&self, name: &str, value: f64) {
        eventually(
            &format!("{name} = {value} on {}", self.identity),
            || async { (self.metric(name).await == Some(value)).then_some(()) },
        )
        .await;
    }

    /// SIGTERM, then wait for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.process.terminate()
    }

    /// SIGKILL (a crash: the Lease is not released).
    pub fn kill(&mut self) {
        self.process.kill();
    }
}
