//! The `herald-speaker` binary as a child process of a test (`herald_testsupport::child`):
//! JSON logs to a file, the admin server on a free port, killed on drop (its log printed if
//! the test failed), stopped with SIGTERM on request.

#![allow(dead_code)] // each test binary uses a different part of the helper

use std::net::SocketAddr;
use std::process::{Command, ExitStatus};

use herald_testsupport::child::Process;
use herald_testsupport::wait::eventually;

pub const BIN: &str = env!("CARGO_BIN_EXE_herald-speaker");

/// A running speaker.
#[derive(Debug)]
pub struct Running {
    process: Process,
    pub admin: SocketAddr,
    /// Holds its `--handover-socket`: speakers of parallel tests must not meet on the
    /// default path (`/run/herald/handover.sock`).
    _handover: tempfile::TempDir,
}

impl Running {
    /// Starts the speaker with `args` plus `--admin-addr 127.0.0.1:0 --log-format json` and
    /// a handover socket of its own, and waits until it logs its admin address.
    pub fn start(args: &[&str]) -> Self {
        let handover = tempfile::tempdir().expect("handover socket dir");
        let mut command = Command::new(BIN);
        command
            .args(args)
            .arg("--handover-socket")
            .arg(handover.path().join("handover.sock"))
            .env("RUST_LOG", "info,herald_speaker=debug");
        let process = Process::start("speaker", command);
        Self {
            admin: process.admin,
            process,
            _handover: handover,
        }
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// GET `path` on the admin server: (status code, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        self.process.get(path).await
    }

    /// `/status` as JSON.
    pub async fn status(&self) -> serde_json::Value {
        let (code, body) = self.get("/status").await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("/status is JSON")
    }

    /// Polls `/readyz` until it answers 200.
    pub async fn wait_ready(&self) {
        eventually("the speaker answers 200 on /readyz", || async {
            (self.get("/readyz").await.0 == 200).then_some(())
        })
        .await;
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.process.terminate()
    }
}
