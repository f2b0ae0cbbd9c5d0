//! The `herald-speaker` binary as a child process of a test: started with JSON logs to a
//! file and the admin server on a free port, killed on drop (its log printed if the test
//! failed), stopped with SIGTERM on request.

#![allow(dead_code)] // each test binary uses a different part of the helper

#[path = "../../../controller/tests/support/http.rs"]
mod http;

use http::http_get;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_herald-speaker");

/// A running speaker.
pub struct Running {
    child: Option<Child>,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
    pub admin: SocketAddr,
}

impl Running {
    /// Starts the speaker with `args` plus `--admin-addr 127.0.0.1:0 --log-format json`, and
    /// waits until it logs its admin address.
    pub fn start(args: &[&str]) -> Self {
        let log_dir = tempfile::tempdir().expect("log dir");
        let log = log_dir.path().join("speaker.log");
        let child = Command::new(BIN)
            .args(args)
            .args(["--admin-addr", "127.0.0.1:0", "--log-format", "json"])
            .env("RUST_LOG", "info,herald_speaker=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start herald-speaker");
        let mut running = Self {
            child: Some(child),
            log,
            _log_dir: log_dir,
            admin: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        running.admin = running.wait_for_admin();
        running
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for_admin(&mut self) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.log();
            let found = text.lines().find_map(|line| {
                let json: serde_json::Value = serde_json::from_str(line).ok()?;
                (json["fields"]["message"] == "admin server listening")
                    .then(|| json["fields"]["addr"].as_str()?.parse().ok())?
            });
            if let Some(addr) = found {
                return addr;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("speaker exited ({status}):\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "no admin address logged:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GET `path` on the admin server: (status code, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path).await
    }

    /// `/status` as JSON.
    pub async fn status(&self) -> serde_json::Value {
        let (code, body) = self.get("/status").await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("/status is JSON")
    }

    /// Polls `/readyz` until it answers 200 (20 s at most).
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.get("/readyz").await.0 != 200 {
            assert!(Instant::now() < deadline, "never ready:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then the exit status (15 s at most).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- speaker log ----\n{}", self.log());
        }
    }
}
