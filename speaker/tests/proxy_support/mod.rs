//! Harness for the proxy's tests: one network namespace per test with `lo` up (so
//! 127.0.0.0/8 and ::1 work, and nothing reaches the host's network), the proxy running on
//! a tokio runtime inside it ([`NsRuntime`]), and real programs (python3 backends, curl)
//! started in it with `ip netns exec`, killed on drop.
//!
//! Declare the [`Namespace`] first: locals drop in reverse, so runtimes and programs go
//! before the namespace they live in, which is deleted also when the test panics.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::process::{Child, Command, Stdio};

pub use herald_testsupport::netns::{NsRuntime, require_program, require_root, run, try_run};

/// A network namespace of this test, deleted on drop.
#[derive(Debug)]
pub struct Namespace {
    pub name: String,
}

impl Namespace {
    pub fn new(test: &str) -> Namespace {
        require_root();
        require_program("ip", "iproute2");
        for attempt in 0u32..100 {
            let mut hasher = DefaultHasher::new();
            (test, std::process::id(), attempt).hash(&mut hasher);
            let name = format!("hp-{}", hasher.finish() % 1_000_000);
            if std::path::Path::new(&format!("/run/netns/{name}")).exists() {
                continue;
            }
            if try_run("ip", &["netns", "add", &name]).is_err() {
                continue;
            }
            let namespace = Namespace { name };
            namespace.ip(&["link", "set", "lo", "up"]);
            return namespace;
        }
        panic!("no free namespace name for {test}");
    }

    /// `ip -n NS ARGS`; a failure fails the test.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A command run inside the namespace (`ip netns exec NS PROGRAM`).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Starts `program ARGS` in the namespace; killed on drop.
    pub fn spawn(&self, program: &str, args: &[&str]) -> Program {
        let child = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program} in {}: {e}", self.name));
        Program { child: Some(child) }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = try_run("ip", &["netns", "delete", &self.name]);
    }
}

/// A program running in a namespace, killed on drop.
#[derive(Debug)]
pub struct Program {
    child: Option<Child>,
}

impl Program {
    /// Kills it now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.kill();
    }
}
