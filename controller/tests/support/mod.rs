//! A real kube-apiserver (v1.20.2, `scripts/kube-testenv.sh`) for the controller's tests,
//! a namespace per test, and the controller binary as a child process.
//!
//! The apiserver is started once per test binary run and left running for the next one
//! (`start` is idempotent and takes 0.2 s when it is up; stop it with
//! `scripts/kube-testenv.sh stop target/tmp/kube-testenv`). If it cannot be built or
//! started the tests fail; they never skip.
//!
//! Every controller a test starts watches only that test's namespace (`--namespace`), with
//! its ConfigMap and Lease there too, so tests running in parallel on one apiserver never
//! see each other's Services.

#![allow(dead_code)] // each test binary uses a different part of the helper

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the test apiserver lives: `$HERALD_TESTENV_DIR`, or one under Cargo's target dir.
fn testenv_dir() -> PathBuf {
    std::env::var_os("HERALD_TESTENV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("kube-testenv"))
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kube-testenv.sh")
}

/// A running test apiserver.
#[derive(Debug)]
pub struct TestEnv {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    /// How long `start` took in this process (0.2 s when it was already up).
    pub start_time: Duration,
}

fn kube_testenv(args: &[&str]) -> String {
    let output = Command::new("bash")
        .arg(script())
        .args(args)
        .env(
            "HERALD_TESTENV_PORT",
            std::env::var("HERALD_TESTENV_PORT").unwrap_or("0".into()),
        )
        .env(
            "HERALD_TESTENV_ETCD_PORT",
            std::env::var("HERALD_TESTENV_ETCD_PORT").unwrap_or("0".into()),
        )
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/kube-testenv.sh");
    assert!(
        output.status.success(),
        "scripts/kube-testenv.sh {args:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl TestEnv {
    /// Builds (once per machine; minutes the first time) and starts an apiserver with its
    /// state in `dir`, or panics with the script's output.
    pub fn start(dir: PathBuf) -> Self {
        kube_testenv(&["build"]);
        let started = Instant::now();
        let stdout = kube_testenv(&["start", &dir.display().to_string()]);
        let start_time = started.elapsed();
        let kubeconfig = stdout
            .lines()
            .find_map(|line| line.strip_prefix("KUBECONFIG="))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("no KUBECONFIG= line from start: {stdout}"));
        eprintln!(
            "kube-testenv: {} ready in {start_time:.1?}",
            kubeconfig.display()
        );
        Self {
            dir,
            kubeconfig,
            start_time,
        }
    }

    /// Stops the apiserver and removes its directory.
    pub fn stop(&self) {
        kube_testenv(&["stop", &self.dir.display().to_string()]);
    }

    /// A client for this apiserver (one per test: a client belongs to its runtime).
    pub async fn client(&self) -> Client {
        let file = Kubeconfig::read_from(&self.kubeconfig).expect("read the test kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .expect("test kubeconfig is usable");
        Client::try_from(config).expect("client")
    }
}

/// The apiserver the tests share (left running for the next test binary).
pub fn testenv() -> &'static TestEnv {
    static ENV: OnceLock<TestEnv> = OnceLock::new();
    ENV.get_or_init(|| TestEnv::start(testenv_dir()))
}

/// A client for the shared test apiserver.
pub async fn client() -> Client {
    testenv().client().await
}

/// A namespace of one test, named `PREFIX-RANDOM`. Dropping it deletes what the test made
/// and the namespace itself (finalized by hand: no namespace controller runs here).
pub struct TestNamespace {
    pub name: String,
    pub client: Client,
    kubeconfig: PathBuf,
}

impl TestNamespace {
    /// A namespace on the shared apiserver.
    pub async fn create(prefix: &str) -> Self {
        Self::create_in(testenv(), prefix).await
    }

    /// A namespace on `env`.
    pub async fn create_in(env: &TestEnv, prefix: &str) -> Self {
        let client = env.client().await;
        let name = format!("{prefix}-{:08x}", rand::random::<u32>());
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
        }))
        .expect("namespace object");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .expect("create test namespace");
        Self {
            name,
            client,
            kubeconfig: env.kubeconfig.clone(),
        }
    }

    pub fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), &self.name)
    }

    pub fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), &self.name)
    }

    pub fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.name)
    }

    pub fn events(&self) -> Api<Event> {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Creates or replaces the Herald ConfigMap `herald` with `config` as its payload.
    pub async fn set_config(&self, config: &str) {
        let map: ConfigMap = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "herald", "namespace": self.name},
            "data": {"config": config}
        }))
        .expect("configmap object");
        self.config_maps()
            .patch(
                "herald",
                &PatchParams::apply("herald-test").force(),
                &Patch::Apply(&map),
            )
            .await
            .expect("apply the config ConfigMap");
    }

    /// Creates a Service from a JSON `spec` (ports need `protocol` only for SSA; this uses
    /// create) with optional annotations.
    pub async fn create_service(
        &self,
        name: &str,
        annotations: &[(&str, &str)],
        spec: serde_json::Value,
    ) -> Service {
        let annotations: BTreeMap<&str, &str> = annotations.iter().copied().collect();
        let service: Service = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": self.name, "annotations": annotations},
            "spec": spec,
        }))
        .expect("service object");
        self.services()
            .create(&PostParams::default(), &service)
            .await
            .unwrap_or_else(|e| panic!("create Service {name}: {e}"))
    }

    /// A `type: LoadBalancer` Service on TCP `port`.
    pub async fn create_lb(&self, name: &str, port: i32) -> Service {
        self.create_service(
            name,
            &[],
            serde_json::json!({"type": "LoadBalancer", "ports": [{"port": port, "protocol": "TCP"}]}),
        )
        .await
    }

    pub async fn delete_service(&self, name: &str) {
        self.services()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete Service {name}: {e}"));
    }

    /// The addresses in the Service's status (empty while `<pending>`).
    pub async fn ingress(&self, name: &str) -> Vec<String> {
        let service = self
            .services()
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("get Service {name}: {e}"));
        service
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|lb| lb.ingress)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|i| i.ip)
            .collect()
    }

    /// Waits until the Service's status shows addresses, and returns them.
    pub async fn wait_for_ingress(&self, name: &str) -> Vec<String> {
        eventually(&format!("Service {name} gets an address"), || async {
            let ips = self.ingress(name).await;
            (!ips.is_empty()).then_some(ips)
        })
        .await
    }

    /// Events (events.k8s.io/v1) about object `name` of `kind` with `reason`.
    pub async fn events_about(&self, kind: &str, name: &str, reason: &str) -> Vec<Event> {
        self.events()
            .list(&ListParams::default())
            .await
            .expect("list Events")
            .items
            .into_iter()
            .filter(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().is_some_and(|r| {
                        r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name)
                    })
            })
            .collect()
    }

    /// Waits for an Event about `kind/name` with `reason`; returns its note.
    pub async fn wait_for_event(&self, kind: &str, name: &str, reason: &str) -> String {
        eventually(&format!("{reason} Event on {kind} {name}"), || async {
            self.events_about(kind, name, reason)
                .await
                .into_iter()
                .next()
                .map(|e| e.note.unwrap_or_default())
        })
        .await
    }

    /// The Lease holder, if any.
    pub async fn lease_holder(&self, lease: &str) -> Option<String> {
        self.leases()
            .get_opt(lease)
            .await
            .expect("get Lease")
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
    }

    async fn cleanup(client: Client, name: String) {
        let lp = ListParams::default();
        let dp = DeleteParams::default();
        let _ = Api::<Service>::namespaced(client.clone(), &name)
            .delete_collection(&dp, &lp)
            .await;
        let _ = Api::<ConfigMap>::namespaced(client.clone(), &name)
            .delete_collection(&dp, &lp)
            .await;
        let _ = Api::<Lease>::namespaced(client.clone(), &name)
            .delete_collection(&dp, &lp)
            .await;
        let _ = Api::<Event>::namespaced(client.clone(), &name)
            .delete_collection(&dp, &lp)
            .await;
        let namespaces = Api::<Namespace>::all(client.clone());
        let _ = namespaces.delete(&name, &dp).await;
        // No namespace controller: clear the finalizer ourselves so it goes away.
        let finalized = serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name}, "spec": {"finalizers": []}
        });
        let _ = namespaces
            .replace_subresource("finalize", &name, &PostParams::default(), &finalized)
            .await;
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let name = self.name.clone();
        let kubeconfig = self.kubeconfig.clone();
        // Drop cannot await, and the test's runtime may be shutting down: clean up on a
        // thread with its own runtime and client.
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async move {
                let Ok(file) = Kubeconfig::read_from(&kubeconfig) else {
                    return; // the apiserver is gone already
                };
                let Ok(config) =
                    kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await
                else {
                    return;
                };
                if let Ok(client) = Client::try_from(config) {
                    TestNamespace::cleanup(client, name).await;
                }
            });
        });
        let _ = handle.join();
    }
}

/// Polls `check` every 100 ms until it returns `Some`, for at most 30 s; panics with `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

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
        let mut stream = tokio::net::TcpStream::connect(self.admin)
            .await
            .expect("connect to the admin server");
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .expect("send");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.expect("read");
        let code = reply
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = reply
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (code, body)
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
