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

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use herald_config::{Balance, ProxyProtocol};
use herald_core::ServiceKey;
use herald_speaker::local_addr::LocalAddresses;
use herald_speaker::proxy::driver::{ProxyDriver, ServingMap};
use herald_speaker::proxy::listener::{ListenerSnapshot, ProxyOptions};
use herald_speaker::proxy::select::{Listener, Selection};
use herald_testsupport::wait::wait_until;

/// The Service addresses of the proxy tests, made local by `local_addr`.
pub const VIP4: &str = "10.99.0.1";
pub const VIP6: &str = "fd00:99::1";

pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

pub fn sock(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

/// `http://ADDRESS:PORT/`, brackets around IPv6.
pub fn url(address: SocketAddr) -> String {
    format!("http://{address}/")
}

/// A listener of Service `ns/web` with the pool defaults: round robin, no PROXY header,
/// idle timeout 5 minutes, no cap, plain TCP.
pub fn listener(address: &str, port: u16, backends: &[SocketAddr]) -> Listener {
    Listener {
        service: ServiceKey::new("ns", "web"),
        address: ip(address),
        port,
        pool: "default".into(),
        tls: None,
        balance: Balance::RoundRobin,
        proxy_protocol: ProxyProtocol::None,
        idle_timeout: Duration::from_secs(300),
        max_connections: None,
        timers: None,
        backends: backends.to_vec(),
    }
}

/// A namespace with the proxy running in it, the Service addresses local, and backends.
/// Fields drop in order: the driver, the backends, the runtime, then the namespace.
pub struct ProxyLab {
    pub driver: Arc<tokio::sync::Mutex<ProxyDriver>>,
    backends: Vec<(SocketAddr, Program)>,
    pub runtime: NsRuntime,
    pub ns: Namespace,
}

impl ProxyLab {
    pub fn new(test: &str, options: ProxyOptions) -> ProxyLab {
        init_tracing();
        require_program("curl", "curl");
        require_program("python3", "python3");
        let ns = Namespace::new(test);
        let runtime = NsRuntime::start(&ns.name);
        runtime.block_on(async {
            let local = LocalAddresses::connect().await.expect("netlink");
            local
                .ensure(&[ip(VIP4), ip(VIP6)])
                .await
                .expect("make the Service addresses local");
        });
        let driver = runtime.block_on(async move { ProxyDriver::new(options, None) });
        ProxyLab {
            driver: Arc::new(tokio::sync::Mutex::new(driver)),
            backends: Vec::new(),
            runtime,
            ns,
        }
    }

    fn script() -> String {
        format!(
            "{}/tests/proxy_support/backend.py",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    /// Starts an HTTP backend answering `name` on `address` and waits until it accepts.
    pub fn http_backend(&mut self, name: &str, address: SocketAddr) {
        let program = self.ns.spawn(
            "python3",
            &[
                &Self::script(),
                "http",
                name,
                &address.ip().to_string(),
                &address.port().to_string(),
            ],
        );
        self.backends.push((address, program));
        self.wait_connectable(address);
    }

    /// Starts a backend that echoes the PROXY header it receives.
    pub fn proxy_protocol_backend(&mut self, address: SocketAddr) {
        let program = self.ns.spawn(
            "python3",
            &[
                &Self::script(),
                "proxy",
                &address.ip().to_string(),
                &address.port().to_string(),
            ],
        );
        self.backends.push((address, program));
        self.wait_connectable(address);
    }

    /// Kills the backend on `address` (SIGKILL) and waits until it refuses connections.
    pub fn kill_backend(&mut self, address: SocketAddr) {
        for (backend, program) in &mut self.backends {
            if *backend == address {
                program.kill();
            }
        }
        wait_until(
            Duration::from_secs(10),
            &format!("{address} to refuse connections"),
            || (!self.connectable(address)).then_some(()),
            String::new,
        );
    }

    pub fn connectable(&self, address: SocketAddr) -> bool {
        self.runtime
            .block_on(async move { tokio::net::TcpStream::connect(address).await.is_ok() })
    }

    pub fn wait_connectable(&self, address: SocketAddr) {
        wait_until(
            Duration::from_secs(20),
            &format!("{address} to accept connections"),
            || self.connectable(address).then_some(()),
            String::new,
        );
    }

    pub fn apply(&self, listeners: Vec<Listener>) {
        let driver = self.driver.clone();
        self.runtime.block_on(async move {
            let selection = Selection {
                listeners,
                not_proxied: vec![],
            };
            driver.lock().await.apply(&selection);
        });
    }

    /// The snapshot of the listener on `address`.
    pub fn snapshot(&self, address: SocketAddr) -> ListenerSnapshot {
        self.driver
            .blocking_lock()
            .snapshot()
            .into_iter()
            .find(|l| SocketAddr::new(l.address, l.port) == address)
            .unwrap_or_else(|| panic!("no listener on {address}"))
    }

    pub fn serving(&self) -> ServingMap {
        self.driver.blocking_lock().serving_now()
    }

    /// Waits until the listener on `address` is bound.
    pub fn wait_bound(&self, address: SocketAddr) {
        wait_until(
            Duration::from_secs(10),
            &format!("the listener on {address} to bind"),
            || self.snapshot(address).bound.ok(),
            || format!("{:?}", self.snapshot(address).bound),
        );
    }

    /// `curl -sS URL ARGS` in the namespace: its output, or its error.
    pub fn curl(&self, url: &str, args: &[&str]) -> Result<String, String> {
        let output = self
            .ns
            .command("curl")
            .args(["-sS", "--max-time", "10"])
            .args(args)
            .arg(url)
            .stdin(Stdio::null())
            .output()
            .expect("run curl");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(format!(
                "curl {url} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

/// The proxy's logs, shown by the test harness on failure.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
}
