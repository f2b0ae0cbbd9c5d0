//! A daemon this harness started in a namespace, stopped when dropped.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process started with `ip netns exec NS PROGRAM ARGS...` (which execs, so the child's
/// pid is the daemon's). Only this process is ever signalled.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Option<Child>,
    output: PathBuf,
}

impl Daemon {
    /// Starts `program` inside namespace `ns`, stdout and stderr appended to `output`.
    pub fn spawn(ns: &str, name: &str, program: &str, args: &[&str], output: &Path) -> Daemon {
        Daemon::spawn_with_env(ns, name, program, args, &[], output)
    }

    /// [`Daemon::spawn`] with extra environment variables.
    pub fn spawn_with_env(
        ns: &str,
        name: &str,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        output: &Path,
    ) -> Daemon {
        let log = File::options()
            .create(true)
            .append(true)
            .open(output)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", output.display()));
        let log_err = log.try_clone().expect("clone log file handle");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({program}) in {ns}: {e}"));
        Daemon {
            name: name.to_owned(),
            child: Some(child),
            output: output.to_owned(),
        }
    }

    pub fn pid(&self) -> Option<i32> {
        let child = self.child.as_ref()?;
        i32::try_from(child.id()).ok()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Fails the test with the daemon's output if it has exited.
    pub fn assert_running(&mut self) {
        if !self.is_running() {
            panic!(
                "{} exited; its output:\n{}",
                self.name,
                super::tail(&self.output, 40)
            );
        }
    }

    pub fn signal(&self, signal: Signal) {
        if let Some(pid) = self.pid()
            && let Err(e) = kill(Pid::from_raw(pid), signal)
        {
            panic!("cannot send {signal} to {} (pid {pid}): {e}", self.name);
        }
    }

    /// SIGSTOP: the process keeps its sockets but answers nothing.
    pub fn freeze(&self) {
        self.signal(Signal::SIGSTOP);
    }

    pub fn thaw(&self) {
        self.signal(Signal::SIGCONT);
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// SIGTERM (after SIGCONT, in case it is frozen), up to 5 s to exit, then SIGKILL.
    pub fn stop(&mut self) {
        self.stop_within(Duration::from_secs(5));
    }

    /// SIGTERM (after SIGCONT), up to `grace` to exit, then SIGKILL.
    pub fn stop_within(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            let deadline = Instant::now() + grace;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if matches!(child.try_wait(), Ok(None)) {
                eprintln!(
                    "teardown: {} still running {grace:?} after SIGTERM, sending SIGKILL",
                    self.name
                );
                let _ = child.kill();
            }
        }
        let _ = child.wait();
    }

    pub fn output(&self) -> &Path {
        &self.output
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}
