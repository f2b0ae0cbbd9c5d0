//! A real kube-apiserver (v1.20.2, `scripts/kube-testenv.sh`) for tests, and a namespace
//! per test. The controller's and the speaker's tests share one apiserver under
//! `target/tmp/kube-testenv` (Cargo's `CARGO_TARGET_TMPDIR`, found at run time from the
//! test binary's path).
//!
//! The apiserver is started once per test binary run and left running for the next one
//! (`start` is idempotent and takes 0.2 s when it is up; stop it with
//! `scripts/kube-testenv.sh stop target/tmp/kube-testenv`). If it cannot be built or
//! started the tests fail; they never skip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::wait::eventually;

/// Where the test apiserver lives: `$HERALD_TESTENV_DIR`, or `kube-testenv` in
/// [`target_tmp_dir`].
fn testenv_dir() -> PathBuf {
    std::env::var_os("HERALD_TESTENV_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_tmp_dir().join("kube-testenv"))
}

/// Cargo's `CARGO_TARGET_TMPDIR` (`<target dir>/tmp`), which only integration tests see at
/// compile time: found from the running test binary, below the target dir (the first
/// ancestor holding Cargo's `CACHEDIR.TAG`).
pub fn target_tmp_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or_else(|| panic!("{} is not below a Cargo target dir", exe.display()));
    target.join("tmp")
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

/// EndpointSlices as kube-apiserver 1.20 serves them: `discovery.k8s.io/v1beta1` (`v1`
/// arrived in 1.21).
pub fn endpoint_slice_v1beta1() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("discovery.k8s.io", "v1beta1", "EndpointSlice"),
        "endpointslices",
    )
}

/// A `discovery.k8s.io/v1` EndpointSlice as the `v1beta1` object a 1.20 server takes: the
/// node in `topology["kubernetes.io/hostname"]` (1.20 keeps `nodeName` only behind an alpha
/// gate), the zone in `topology["topology.kubernetes.io/zone"]`, `deprecatedTopology` in
/// `topology` too; everything else as it is.
pub fn slice_as_v1beta1(slice: &EndpointSlice) -> DynamicObject {
    let mut value = serde_json::to_value(slice).expect("EndpointSlice as JSON");
    value["apiVersion"] = "discovery.k8s.io/v1beta1".into();
    value["kind"] = "EndpointSlice".into();
    if let Some(endpoints) = value["endpoints"].as_array_mut() {
        for endpoint in endpoints {
            let endpoint = endpoint.as_object_mut().expect("an endpoint is an object");
            let mut topology = match endpoint.remove("deprecatedTopology") {
                Some(serde_json::Value::Object(map)) => map,
                _ => serde_json::Map::new(),
            };
            if let Some(node) = endpoint.remove("nodeName") {
                topology.insert("kubernetes.io/hostname".into(), node);
            }
            if let Some(zone) = endpoint.remove("zone") {
                topology.insert("topology.kubernetes.io/zone".into(), zone);
            }
            if !topology.is_empty() {
                endpoint.insert("topology".into(), topology.into());
            }
        }
    }
    serde_json::from_value(value).expect("a v1beta1 EndpointSlice object")
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

    /// This namespace's EndpointSlices, `discovery.k8s.io/v1beta1` (what 1.20 serves).
    pub fn endpoint_slices(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.name, &endpoint_slice_v1beta1())
    }

    /// Creates `slice` in this namespace, written as `v1beta1` ([`slice_as_v1beta1`]).
    pub async fn create_endpoint_slice(&self, slice: &EndpointSlice) -> DynamicObject {
        self.endpoint_slices()
            .create(&PostParams::default(), &slice_as_v1beta1(slice))
            .await
            .unwrap_or_else(|e| panic!("create EndpointSlice {:?}: {e}", slice.metadata.name))
    }

    /// Creates or replaces `slice` (server-side apply), written as `v1beta1`.
    pub async fn apply_endpoint_slice(&self, slice: &EndpointSlice) -> DynamicObject {
        let name = slice
            .metadata
            .name
            .as_deref()
            .expect("the slice has a name");
        self.endpoint_slices()
            .patch(
                name,
                &PatchParams::apply("herald-test").force(),
                &Patch::Apply(&slice_as_v1beta1(slice)),
            )
            .await
            .unwrap_or_else(|e| panic!("apply EndpointSlice {name}: {e}"))
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
        let event = self.wait_for_event_object(kind, name, reason).await;
        event.note.unwrap_or_default()
    }

    /// Waits for an Event about `kind/name` with `reason`; returns the first one.
    pub async fn wait_for_event_object(&self, kind: &str, name: &str, reason: &str) -> Event {
        eventually(&format!("{reason} Event on {kind} {name}"), || async {
            self.events_about(kind, name, reason)
                .await
                .into_iter()
                .next()
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
        let kinds = [
            ApiResource::erase::<Service>(&()),
            ApiResource::erase::<ConfigMap>(&()),
            ApiResource::erase::<Lease>(&()),
            ApiResource::erase::<Event>(&()),
            endpoint_slice_v1beta1(),
        ];
        for kind in &kinds {
            let _ = Api::<DynamicObject>::namespaced_with(client.clone(), &name, kind)
                .delete_collection(&dp, &lp)
                .await;
        }
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

impl std::fmt::Debug for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNamespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
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
