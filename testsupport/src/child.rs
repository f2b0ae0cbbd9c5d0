//! One of our binaries (`herald-controller`, `herald-speaker`) as a child process of a
//! test: JSON logs to a temporary file, the admin server on a free loopback port (read back
//! from the log), killed on drop with its log printed if the test failed, stopped with
//! SIGTERM on request.
//!
//! The binary's path comes from the test (`env!("CARGO_BIN_EXE_herald-speaker")`), which
//! only an integration test of that binary's package can name.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::http::http_get;
use crate::wait::{TIMEOUT, wait_until};

/// How long a binary may take to exit after SIGTERM.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// A running binary of ours. Killed on drop; its log is printed if the test failed.
#[derive(Debug)]
pub struct Process {
    child: Option<Child>,
    name: String,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
    /// Where its admin server listens.
    pub admin: SocketAddr,
}

impl Process {
    /// Starts `command` (one of our binaries with its arguments) with
    /// `--admin-addr 127.0.0.1:0 --log-format json` added and its stderr in a log file,
    /// and waits until it logs its admin address. `name` names it in messages.
    pub fn start(name: &str, mut command: Command) -> Self {
        let log_dir = tempfile::tempdir().expect("log dir");
        let log = log_dir.path().join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = command
            .args(["--admin-addr", "127.0.0.1:0", "--log-format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({command:?}): {e}"));
        let mut process = Self {
            child: Some(child),
            name: name.to_owned(),
            log,
            _log_dir: log_dir,
            admin: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        process.admin = process.wait_for_admin();
        process
    }

    fn wait_for_admin(&mut self) -> SocketAddr {
        let (name, log, child) = (&self.name, &self.log, &mut self.child);
        let read_log = || std::fs::read_to_string(log).unwrap_or_default();
        let (addr, _) = wait_until(
            TIMEOUT,
            &format!("{name} to log its admin address"),
            || {
                let text = read_log();
                let found = text.lines().find_map(admin_address);
                if found.is_none()
                    && let Some(Ok(Some(status))) = child.as_mut().map(Child::try_wait)
                {
                    panic!("{name} exited ({status}):\n{text}");
                }
                found
            },
            read_log,
        );
        addr
    }

    /// The process id (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path` on the admin server: (status code, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path).await
    }

    /// The value of an unlabelled metric on `/metrics` (or the first series of a labelled
    /// one whose line starts with `name`).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics").await;
        metric_value(&body, name)
    }

    /// SIGTERM, then the exit status ([`EXIT_TIMEOUT`] at most; after that it is killed
    /// and the test fails with its log).
    pub fn terminate(&mut self) -> ExitStatus {
        self.terminate_within(EXIT_TIMEOUT)
    }

    /// [`Process::terminate`] for a process that may rightly take up to `timeout` (one that
    /// finishes live connections first).
    pub fn terminate_within(&mut self, timeout: Duration) -> ExitStatus {
        let Some(mut child) = self.child.take() else {
            panic!("{} already stopped", self.name);
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.name);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not exit {timeout:?} after SIGTERM:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL (a crash: nothing is cleaned up), and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- log of {} ----\n{}", self.name, self.log());
        }
    }
}

/// The address of an `admin server listening` JSON log line.
fn admin_address(line: &str) -> Option<SocketAddr> {
    let json: serde_json::Value = serde_json::from_str(line).ok()?;
    if json["fields"]["message"] != "admin server listening" {
        return None;
    }
    json["fields"]["addr"].as_str()?.parse().ok()
}

/// The value of metric `name` in a Prometheus text exposition.
fn metric_value(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_address_is_read_from_the_listening_line_only() {
        let listening =
            r#"{"fields":{"message":"admin server listening","addr":"127.0.0.1:4567"}}"#;
        assert_eq!(
            admin_address(listening),
            Some(SocketAddr::from(([127, 0, 0, 1], 4567)))
        );
        assert_eq!(
            admin_address(r#"{"fields":{"message":"stopped","addr":"127.0.0.1:1"}}"#),
            None
        );
        assert_eq!(admin_address("not json"), None);
    }

    #[test]
    fn metric_value_matches_the_whole_name() {
        let exposition = "# HELP herald_leader x\nherald_leader_total 5\nherald_leader 1\n\
                          herald_in_use{pool=\"a\"} 3\n";
        assert_eq!(metric_value(exposition, "herald_leader"), Some(1.0));
        assert_eq!(metric_value(exposition, "herald_in_use"), Some(3.0));
        assert_eq!(metric_value(exposition, "herald_absent"), None);
    }
}
