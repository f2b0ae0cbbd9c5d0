//! Test support of the controller: a real kube-apiserver and a namespace per test
//! ([`apiserver`]), and the controller binary as a child process.
//!
//! Every controller a test starts watches only that test's namespace (`--namespace`), with
//! its ConfigMap and Lease there too, so tests running in parallel on one apiserver never
//! see each other's Services.

#![allow(dead_code)] // each test binary uses a different part of the helper

mod apiserver;
mod http;

pub use apiserver::*;
pub use http::http_get;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `herald-controller` child process watching one test namespace. Killed on drop; its
/// log is printed if the test failed.
pub struct Controller {
    child: Option<Child>,
    pub identity: String,
    pub admin: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
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
        let dir = tempfile::tempdir().expect("log dir");
        let log = dir.path().join(format!("{identity}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_herald-controller"))
            .args(["run", "--kubeconfig"])
            .arg(&env.kubeconfig)
            .args(extra)
            .args(["--config-namespace", namespace, "--config-name", "herald"])
            .args(["--lease-namespace", namespace, "--lease-name", LEASE])
            .args(["--lease-duration", "3s"])
            .args(["--identity", identity])
            .args(["--admin-addr", "127.0.0.1:0", "--log-format", "json"])
            .env("RUST_LOG", "info,herald_controller=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start herald-controller");
        let mut controller = Self {
            child: Some(child),
            identity: identity.to_owned(),
            admin: SocketAddr::from(([0, 0, 0, 0], 0)),
            log,
            _dir: dir,
        };
        controller.admin = controller.wait_for_admin();
        controller
    }

    fn wait_for_admin(&mut self) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            for line in text.lines() {
                let Ok(json) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if json["fields"]["message"] == "admin server listening"
                    && let Some(addr) = json["fields"]["addr"].as_str()
                {
                    return addr.parse().expect("admin address");
                }
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("herald-controller exited ({status}):\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "no admin address logged:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path` on the admin server: (status code, body).
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path).await
    }

    /// The value of an unlabelled metric (or the first series of a labelled one whose line
    /// starts with `name`).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = self.admin_get("/metrics").await;
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Waits until `name` reads `value` on /metrics.
    pub async fn wait_for_metric(&self, name: &str, value: f64) {
        eventually(
            &format!("{name} = {value} on {}", self.identity),
            || async { (self.metric(name).await == Some(value)).then_some(()) },
        )
        .await;
    }

    /// SIGTERM, then wait for the process to exit (at most 20 s).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let Some(mut child) = self.child.take() else {
            panic!("controller already stopped");
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "controller did not exit 20 s after SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL (a crash: the Lease is not released).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- log of controller {} ----\n{}",
                self.identity,
                self.log()
            );
        }
    }
}
