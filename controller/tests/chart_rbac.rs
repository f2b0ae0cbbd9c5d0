//! The Helm chart's RBAC against a real kube-apiserver (1.20.2, `scripts/kube-testenv.sh`).
//!
//! The chart is rendered by Helm's own engine (`lab/k8s/helm.py render`: Helm v4's Go SDK
//! from PyPI's `helm-python-sdk`, installed by `scripts/kube-testenv.sh build`) for release
//! `herald`, with default values and variants. The RBAC templates
//! (`charts/herald/templates/{serviceaccounts,rbac-controller,rbac-speaker}.yaml`) must be
//! plain Kubernetes objects; the test creates them with one change: the bindings name the testenv's
//! permission-less users `herald-controller` and `herald-speaker` (tokens
//! `<admin token>-controller` / `-speaker`) instead of the chart's ServiceAccounts, which
//! no token here can act as. Then:
//!
//! - the controller binary, with the controller token and the chart's flags (no
//!   `--namespace`: every namespace), allocates, writes the status, takes and renews the
//!   Lease, hands it over to a second replica, follows a ConfigMap change and publishes
//!   Events; and the token can do nothing the controller does not need;
//! - with the speaker token, the speaker's exact calls (API discovery, which picks the
//!   EndpointSlice version; list+watch of Services, EndpointSlices by
//!   `kubernetes.io/service-name` – `discovery.k8s.io/v1beta1` here, what 1.20 serves; the
//!   chart's rule covers the group, so `v1` alike –, Nodes, the ConfigMap by name) and its
//!   Events work, and nothing else does (it cannot write a Service status, nor read other
//!   ConfigMaps).
//!
//! Each apiserver test starts an apiserver of its own (the controller here watches every
//! namespace, and ClusterRoles are cluster-wide) and stops it at the end.

mod support;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use herald_testsupport::apiserver::{TestEnv, TestNamespace, endpoint_slice_v1beta1};
use herald_testsupport::wait::eventually;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event as CoreEvent, Node, ObjectReference, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, Subject};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event as RecordedEvent, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use support::Controller;

/// The release the test renders: `helm install herald charts/herald`, so every name
/// prefix (`herald.fullname`) is `herald` and the ConfigMap is `herald`.
const FULLNAME: &str = "herald";
const CONFIG_MAP: &str = "herald";
/// The controller's Lease: `<fullname>-controller`, as the Deployment passes it.
const LEASE: &str = "herald-controller";
/// The testenv's unprivileged users (its tokens.csv).
const CONTROLLER_USER: &str = "herald-controller";
const SPEAKER_USER: &str = "herald-speaker";
/// The RBAC templates, in the order Helm installs their kinds.
const RBAC_TEMPLATES: [&str; 3] = [
    "serviceaccounts.yaml",
    "rbac-controller.yaml",
    "rbac-speaker.yaml",
];

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/herald")
}

/// The chart rendered by Helm's own engine (Helm v4's Go SDK through PyPI's
/// `helm-python-sdk`, which `scripts/kube-testenv.sh build` installs into
/// `$CACHE/helm-venv`; `lab/k8s/helm.py render`), for release `herald` in `namespace`
/// with `values` (JSON) over the chart's defaults: template path
/// (`herald/templates/...`) -> manifest. Panics, naming the fix, when the engine is not
/// installed: a missing engine is a failure, never a skip.
fn helm_render(values: &Value, namespace: &str) -> BTreeMap<String, String> {
    let cache = std::env::var("HERALD_TESTENV_CACHE")
        .unwrap_or_else(|_| "/var/cache/herald-testenv".to_owned());
    let python = Path::new(&cache).join("helm-venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/kube-testenv.sh build (it installs Helm's engine, helm-python-sdk)",
        python.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/k8s/helm.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg("render")
        .arg(chart_dir())
        .arg(values.to_string())
        .args([FULLNAME, namespace])
        .output()
        .expect("run lab/k8s/helm.py render");
    assert!(
        output.status.success(),
        "helm render failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("helm.py render prints a JSON map")
}

/// The YAML documents of one rendered template (comment-only documents dropped).
fn documents(manifests: &BTreeMap<String, String>, file: &str) -> Vec<Value> {
    let key = format!("herald/templates/{file}");
    let Some(text) = manifests.get(&key) else {
        return Vec::new(); // the template rendered to nothing
    };
    serde_yaml::Deserializer::from_str(text)
        .map(|document| {
            serde::Deserialize::deserialize(document)
                .unwrap_or_else(|e| panic!("{file}: not YAML after rendering: {e}\n{text}"))
        })
        .filter(|document: &Value| !document.is_null())
        .collect()
}

/// One object of the chart's RBAC templates.
#[derive(Debug, Clone)]
enum ChartObject {
    ServiceAccount(ServiceAccount),
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    Role(Role),
    RoleBinding(RoleBinding),
}

/// `document` as a `K`, insisting that nothing is lost on the way: a misspelt or
/// misplaced key would be dropped by the API server without a word (1.20 has no strict
/// field validation), so it is an error here.
fn typed<K: Serialize + DeserializeOwned>(document: &Value, file: &str) -> K {
    let object: K = serde_json::from_value(document.clone())
        .unwrap_or_else(|e| panic!("{file}: not a valid object: {e}\n{document:#}"));
    let again = serde_json::to_value(&object).expect("serialize");
    assert_eq!(
        &again, document,
        "{file}: some keys are not fields of the object"
    );
    object
}

/// The chart's RBAC objects for a release in `namespace` (default values).
fn chart_rbac(namespace: &str) -> Vec<ChartObject> {
    let manifests = helm_render(&json!({}), namespace);
    let mut objects = Vec::new();
    for file in RBAC_TEMPLATES {
        for document in documents(&manifests, file) {
            let object = match document["kind"].as_str() {
                Some("ServiceAccount") => ChartObject::ServiceAccount(typed(&document, file)),
                Some("ClusterRole") => ChartObject::ClusterRole(typed(&document, file)),
                Some("ClusterRoleBinding") => {
                    ChartObject::ClusterRoleBinding(typed(&document, file))
                }
                Some("Role") => ChartObject::Role(typed(&document, file)),
                Some("RoleBinding") => ChartObject::RoleBinding(typed(&document, file)),
                other => panic!("{file}: unexpected kind {other:?}"),
            };
            objects.push(object);
        }
    }
    objects
}

/// The binding's subjects with the chart's ServiceAccounts replaced by the testenv's users
/// (the only change the test makes to the chart's objects). Panics on any other subject.
fn as_test_users(subjects: Option<Vec<Subject>>, namespace: &str) -> Option<Vec<Subject>> {
    let controller = format!("{FULLNAME}-controller");
    let speaker = format!("{FULLNAME}-speaker");
    let users = subjects
        .unwrap_or_default()
        .into_iter()
        .map(|subject| {
            assert_eq!(subject.kind, "ServiceAccount", "{subject:?}");
            assert_eq!(subject.namespace.as_deref(), Some(namespace), "{subject:?}");
            let user = if subject.name == controller {
                CONTROLLER_USER
            } else if subject.name == speaker {
                SPEAKER_USER
            } else {
                panic!("a binding names an account the chart does not create: {subject:?}");
            };
            Subject {
                kind: "User".into(),
                name: user.into(),
                api_group: Some("rbac.authorization.k8s.io".into()),
                namespace: None,
            }
        })
        .collect();
    Some(users)
}

/// Creates the chart's RBAC for a release in `namespace`, bound to the test users.
async fn install_chart_rbac(client: &Client, namespace: &str) {
    let pp = PostParams::default();
    for object in chart_rbac(namespace) {
        match object {
            ChartObject::ServiceAccount(account) => {
                Api::<ServiceAccount>::namespaced(client.clone(), namespace)
                    .create(&pp, &account)
                    .await
                    .expect("create ServiceAccount");
            }
            ChartObject::ClusterRole(role) => {
                Api::<ClusterRole>::all(client.clone())
                    .create(&pp, &role)
                    .await
                    .expect("create ClusterRole");
            }
            ChartObject::ClusterRoleBinding(mut binding) => {
                binding.subjects = as_test_users(binding.subjects, namespace);
                Api::<ClusterRoleBinding>::all(client.clone())
                    .create(&pp, &binding)
                    .await
                    .expect("create ClusterRoleBinding");
            }
            ChartObject::Role(role) => {
                Api::<Role>::namespaced(client.clone(), namespace)
                    .create(&pp, &role)
                    .await
                    .expect("create Role");
            }
            ChartObject::RoleBinding(mut binding) => {
                binding.subjects = as_test_users(binding.subjects, namespace);
                Api::<RoleBinding>::namespaced(client.clone(), namespace)
                    .create(&pp, &binding)
                    .await
                    .expect("create RoleBinding");
            }
        }
    }
}

/// A kubeconfig like `env`'s that authenticates as the testenv user whose token is the
/// admin token plus `-{suffix}`, written into `dir`; and an env that hands it out.
fn env_as(env: &TestEnv, suffix: &str, dir: &Path) -> TestEnv {
    let text = std::fs::read_to_string(&env.kubeconfig).expect("read the test kubeconfig");
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).expect("kubeconfig YAML");
    let user = &mut config["users"][0]["user"];
    let token = user["token"]
        .as_str()
        .expect("the test kubeconfig has a token")
        .to_owned();
    user["token"] = format!("{token}-{suffix}").into();
    let path = dir.join(format!("kubeconfig-{suffix}"));
    std::fs::write(
        &path,
        serde_yaml::to_string(&config).expect("kubeconfig text"),
    )
    .expect("write kubeconfig");
    TestEnv {
        dir: env.dir.clone(),
        kubeconfig: path,
        start_time: env.start_time,
    }
}

/// An apiserver of the test's own, stopped when the test ends, pass or fail.
struct PrivateEnv(TestEnv);

impl PrivateEnv {
    fn start(name: &str) -> Self {
        Self(TestEnv::start(
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(name),
        ))
    }
}

impl Drop for PrivateEnv {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Panics unless `result` is the API server's 403.
fn assert_forbidden<T: Debug>(what: &str, result: Result<T, kube::Error>) {
    match result {
        Err(kube::Error::Api(status)) if status.is_forbidden() => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    }
}

/// The next event of a watcher, or a panic naming `what`.
async fn next_event<K, S>(what: &str, stream: &mut S) -> watcher::Event<K>
where
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Unpin,
{
    match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(error))) => panic!("{what}: watcher failed: {error:?}"),
        Ok(None) => panic!("{what}: watcher ended"),
        Err(_) => panic!("{what}: nothing from the watcher for 30 s"),
    }
}

/// Runs a kube-runtime watcher on `api` as the binaries do: the initial list must contain
/// `name`; then `change` runs and the watch must deliver `name` changed.
async fn list_then_watch<K, F>(
    what: &str,
    api: Api<K>,
    config: watcher::Config,
    name: &str,
    change: F,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    F: Future<Output = ()>,
{
    let mut stream = std::pin::pin!(watcher(api, config));
    let mut listed = Vec::new();
    loop {
        match next_event(what, &mut stream).await {
            watcher::Event::InitApply(object) => listed.push(object.name_any()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert!(
        listed.iter().any(|n| n == name),
        "{what}: {name} not in the list {listed:?}"
    );
    change.await;
    loop {
        if let watcher::Event::Apply(object) = next_event(what, &mut stream).await
            && object.name_any() == name
        {
            return;
        }
    }
}

const CONFIG: &str =
    "address-pools:\n- {name: default, protocol: bgp, addresses: ['10.66.0.10-10.66.0.19']}\n";
const CONFIG_WITH_EXTRA: &str = "address-pools:\n\
- {name: default, protocol: bgp, addresses: ['10.66.0.10-10.66.0.19']}\n\
- {name: extra, protocol: bgp, auto-assign: false, addresses: ['10.66.1.10-10.66.1.19']}\n";

#[test]
fn rbac_templates_render_to_plain_objects_without_wildcards_bound_only_to_the_chart_accounts() {
    let objects = chart_rbac("herald-system");
    let mut roles = Vec::new();
    let mut bound = Vec::new();
    let mut accounts = Vec::new();
    for object in &objects {
        let rules = match object {
            ChartObject::ServiceAccount(account) => {
                accounts.push(account.name_any());
                continue;
            }
            ChartObject::ClusterRole(role) => {
                roles.push(("ClusterRole", role.name_any()));
                role.rules.clone().unwrap_or_default()
            }
            ChartObject::Role(role) => {
                roles.push(("Role", role.name_any()));
                role.rules.clone().unwrap_or_default()
            }
            ChartObject::ClusterRoleBinding(binding) => {
                bound.push(("ClusterRole", binding.role_ref.name.clone()));
                as_test_users(binding.subjects.clone(), "herald-system");
                continue;
            }
            ChartObject::RoleBinding(binding) => {
                bound.push((
                    if binding.role_ref.kind == "Role" {
                        "Role"
                    } else {
                        "ClusterRole"
                    },
                    binding.role_ref.name.clone(),
                ));
                as_test_users(binding.subjects.clone(), "herald-system");
                continue;
            }
        };
        for rule in rules {
            let lists = [
                rule.api_groups.clone().unwrap_or_default(),
                rule.resources.clone().unwrap_or_default(),
                rule.verbs.clone(),
            ];
            assert!(
                lists.iter().flatten().all(|item| !item.contains('*')),
                "wildcard in {rule:?}"
            );
            for verb in &rule.verbs {
                assert!(
                    ["get", "list", "watch", "create", "update", "patch"].contains(&verb.as_str()),
                    "verb {verb} in {rule:?}"
                );
            }
            assert!(rule.non_resource_urls.is_none(), "{rule:?}");
        }
    }
    assert_eq!(accounts, ["herald-controller", "herald-speaker"]);
    roles.sort();
    bound.sort();
    assert_eq!(
        roles, bound,
        "every role is bound, every binding has its role"
    );
    assert_eq!(roles.len(), 4, "{roles:?}");
}

/// The controller container's arguments in a rendered chart.
fn controller_args(manifests: &BTreeMap<String, String>) -> Vec<String> {
    let deployment = documents(manifests, "controller-deployment.yaml");
    assert_eq!(deployment.len(), 1, "one Deployment");
    let container = &deployment[0]["spec"]["template"]["spec"]["containers"][0];
    serde_json::from_value(container["args"].clone()).expect("args are strings")
}

#[test]
fn controller_deployment_passes_only_flags_the_binary_knows() {
    let help = Command::new(env!("CARGO_BIN_EXE_herald-controller"))
        .args(["run", "--help"])
        .output()
        .expect("run herald-controller run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    // default values, and values that switch on every optional flag
    let variants = [
        json!({}),
        json!({"watchNamespace": "apps", "existingConfigMap": "mine", "logFormat": "text"}),
    ];
    for values in variants {
        let args = controller_args(&helm_render(&values, "herald-system"));
        assert_eq!(args.first().map(String::as_str), Some("run"), "{args:?}");
        let flags: Vec<&str> = args[1..]
            .iter()
            .map(|arg| {
                let flag = arg
                    .strip_prefix("--")
                    .unwrap_or_else(|| panic!("not a flag: {arg}"));
                flag.split('=').next().unwrap_or(flag)
            })
            .collect();
        assert!(flags.len() >= 8, "{flags:?}");
        for flag in flags {
            assert!(
                help.contains(&format!("--{flag} <")),
                "with values {values} the Deployment passes --{flag}, which `herald-controller run` does not take"
            );
        }
    }
}

#[test]
fn chart_values_variants_render_as_documented() {
    // defaults: the chart's own ConfigMap, every namespace watched
    let defaults = helm_render(&json!({}), "herald-system");
    let config = documents(&defaults, "configmap.yaml");
    assert_eq!(config.len(), 1);
    assert_eq!(config[0]["metadata"]["name"], "herald");
    assert_eq!(config[0]["metadata"]["namespace"], "herald-system");
    let args = controller_args(&defaults);
    assert!(
        args.contains(&"--config-name=herald".to_owned()),
        "{args:?}"
    );
    assert!(
        !args.iter().any(|a| a.starts_with("--namespace=")),
        "{args:?}"
    );
    // a ConfigMap of the user's: none rendered, both binaries read it
    let existing = helm_render(
        &json!({"existingConfigMap": "metallb-config", "watchNamespace": "apps"}),
        "lb",
    );
    assert!(documents(&existing, "configmap.yaml").is_empty());
    let args = controller_args(&existing);
    assert!(
        args.contains(&"--config-name=metallb-config".to_owned()),
        "{args:?}"
    );
    assert!(
        args.contains(&"--config-namespace=lb".to_owned()),
        "{args:?}"
    );
    assert!(args.contains(&"--namespace=apps".to_owned()), "{args:?}");
    let speaker = documents(&existing, "speaker-daemonset.yaml");
    let speaker_args = speaker[0]["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(
        speaker_args.contains("--config-name=metallb-config"),
        "{speaker_args}"
    );
    assert!(speaker_args.contains("--namespace=apps"), "{speaker_args}");
    // config as a map lands under the key `config` as YAML
    let with_pool = helm_render(
        &json!({"config": {"address-pools": [{"name": "default", "protocol": "bgp", "addresses": ["10.99.0.0/24"]}]}}),
        "herald-system",
    );
    let data = documents(&with_pool, "configmap.yaml")[0]["data"]["config"]
        .as_str()
        .expect("data.config is a string")
        .to_owned();
    let parsed: Value = serde_yaml::from_str(&data).expect("data.config is YAML");
    assert_eq!(
        parsed["address-pools"][0]["addresses"][0], "10.99.0.0/24",
        "{data}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_rbac_lets_the_controller_allocate_lead_and_report_and_nothing_more() {
    let env = PrivateEnv::start("kube-testenv-rbac-controller");
    let env = &env.0;
    let system = TestNamespace::create_in(env, "herald-system").await;
    let team = TestNamespace::create_in(env, "team").await;
    let dir = tempfile::tempdir().expect("kubeconfig dir");
    let as_controller = env_as(env, "controller", dir.path());
    let client = as_controller.client().await;

    // The token is worth nothing until the chart's RBAC is in.
    assert_forbidden(
        "list Services before the RBAC",
        Api::<Service>::all(client.clone())
            .list(&ListParams::default())
            .await,
    );
    install_chart_rbac(&system.client, &system.name).await;
    system.set_config(CONFIG).await;

    // Two replicas, as the Deployment runs them, watching every namespace.
    let mut first = Controller::start_with(&as_controller, &system.name, "rbac-a", &[]);
    eventually("rbac-a holds the Lease", || async {
        (system.lease_holder(LEASE).await.as_deref() == Some("rbac-a")).then_some(())
    })
    .await;
    first.wait_for_metric("herald_leader", 1.0).await;
    eventually("rbac-a is ready", || async {
        (first.admin_get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    let second = Controller::start_with(&as_controller, &system.name, "rbac-b", &[]);
    second.wait_for_metric("herald_config_loaded", 1.0).await;
    eventually("rbac-b is ready", || async {
        (second.admin_get("/readyz").await.0 == 200).then_some(())
    })
    .await;

    // Services in any namespace: watched, allocated, status written, Event published.
    team.create_lb("web", 80).await;
    assert_eq!(team.wait_for_ingress("web").await, ["10.66.0.10"]);
    let event = team
        .wait_for_event_object("Service", "web", "IPAllocated")
        .await;
    assert_eq!(event.reporting_instance.as_deref(), Some("rbac-a"));

    // The Lease is renewed (update).
    let renewed = |lease: Option<Lease>| lease.and_then(|l| l.spec).and_then(|s| s.renew_time);
    let before = renewed(system.leases().get_opt(LEASE).await.expect("get Lease"));
    eventually("the Lease is renewed", || async {
        let now = renewed(system.leases().get_opt(LEASE).await.expect("get Lease"));
        (now.is_some() && now != before).then_some(())
    })
    .await;

    // The ConfigMap is watched: a new pool takes effect.
    system.set_config(CONFIG_WITH_EXTRA).await;
    first
        .wait_for_metric(
            "herald_addresses_total{pool=\"extra\",family=\"ipv4\"}",
            10.0,
        )
        .await;
    team.create_service(
        "pinned",
        &[("herald.dev/address-pool", "extra")],
        json!({"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]}),
    )
    .await;
    assert_eq!(team.wait_for_ingress("pinned").await, ["10.66.1.10"]);

    // SIGTERM releases the Lease (update); the other replica takes it and carries on.
    let status = first.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(
        first.log().contains("released the Lease"),
        "{}",
        first.log()
    );
    eventually("rbac-b holds the Lease", || async {
        (system.lease_holder(LEASE).await.as_deref() == Some("rbac-b")).then_some(())
    })
    .await;
    second.wait_for_metric("herald_leader", 1.0).await;
    team.create_lb("after", 80).await;
    assert_eq!(team.wait_for_ingress("after").await, ["10.66.0.11"]);
    let event = team
        .wait_for_event_object("Service", "after", "IPAllocated")
        .await;
    assert_eq!(event.reporting_instance.as_deref(), Some("rbac-b"));

    // The follower's watch on its Lease, and the config watch, as the controller runs them.
    let by_name = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    list_then_watch(
        "Lease watch",
        Api::<Lease>::namespaced(client.clone(), &system.name),
        by_name(LEASE),
        LEASE,
        async {}, // the leader renews it every second
    )
    .await;

    // Nothing else: not the Service itself, not other ConfigMaps or Leases, not Nodes,
    // EndpointSlices or Secrets.
    let services = Api::<Service>::namespaced(client.clone(), &team.name);
    assert_forbidden(
        "patch a Service",
        services
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"x": "y"}}})),
            )
            .await,
    );
    assert_forbidden(
        "delete a Service",
        services.delete("web", &DeleteParams::default()).await,
    );
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), &system.name);
    assert_forbidden(
        "list every ConfigMap of the release namespace",
        config_maps.list(&ListParams::default()).await,
    );
    assert_forbidden("get another ConfigMap", config_maps.get("other").await);
    assert_forbidden(
        "get the config in another namespace",
        Api::<ConfigMap>::namespaced(client.clone(), &team.name)
            .get(CONFIG_MAP)
            .await,
    );
    let leases = Api::<Lease>::namespaced(client.clone(), &system.name);
    assert_forbidden("get another Lease", leases.get("other").await);
    assert_forbidden(
        "delete the Lease",
        leases.delete(LEASE, &DeleteParams::default()).await,
    );
    assert_forbidden(
        "list Nodes",
        Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_forbidden(
        "list EndpointSlices",
        Api::<DynamicObject>::all_with(client.clone(), &endpoint_slice_v1beta1())
            .list(&ListParams::default())
            .await,
    );
    assert_forbidden(
        "list Secrets",
        Api::<Secret>::all(client.clone())
            .list(&ListParams::default())
            .await,
    );

    for controller in [&first, &second] {
        assert!(
            !controller.log().to_lowercase().contains("forbidden"),
            "{} was refused something:\n{}",
            controller.identity,
            controller.log()
        );
    }
    drop(second);
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_rbac_lets_the_speaker_watch_and_report_and_nothing_more() {
    let env = PrivateEnv::start("kube-testenv-rbac-speaker");
    let env = &env.0;
    let system = TestNamespace::create_in(env, "herald-system").await;
    let team = TestNamespace::create_in(env, "team").await;
    let dir = tempfile::tempdir().expect("kubeconfig dir");
    let client = env_as(env, "speaker", dir.path()).client().await;

    assert_forbidden(
        "list Nodes before the RBAC",
        Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await,
    );
    install_chart_rbac(&system.client, &system.name).await;

    // What the speaker reads, made by the admin.
    system.set_config(CONFIG).await;
    let node = format!("{}-n1", team.name);
    let nodes_admin = Api::<Node>::all(system.client.clone());
    let node_object: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node, "labels": {"rack": "a"}},
    }))
    .expect("node");
    nodes_admin
        .create(&PostParams::default(), &node_object)
        .await
        .expect("create Node");
    let service = team.create_lb("web", 80).await;
    let slice: EndpointSlice = serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "namespace": team.name,
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.244.1.5"], "nodeName": node,
                       "conditions": {"ready": true, "serving": true, "terminating": false}}],
    }))
    .expect("slice");
    team.create_endpoint_slice(&slice).await;
    let label = |value: &str| Patch::Merge(json!({"metadata": {"labels": {"herald-test": value}}}));
    let pp = PatchParams::default();

    // API discovery, from which the speaker picks the EndpointSlice version.
    let groups = client
        .list_api_groups()
        .await
        .expect("the speaker may list the API groups");
    assert!(
        groups.groups.iter().any(|g| g.name == "discovery.k8s.io"),
        "discovery.k8s.io is listed"
    );
    // The speaker's four list+watch calls, with its selectors, all namespaces.
    list_then_watch(
        "Service watch",
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
        "web",
        async {
            team.services()
                .patch("web", &pp, &label("1"))
                .await
                .expect("patch Service");
        },
    )
    .await;
    list_then_watch(
        "EndpointSlice watch",
        Api::<DynamicObject>::all_with(client.clone(), &endpoint_slice_v1beta1()),
        watcher::Config::default().labels("kubernetes.io/service-name"),
        "web-abc",
        async {
            team.endpoint_slices()
                .patch("web-abc", &pp, &label("1"))
                .await
                .expect("patch EndpointSlice");
        },
    )
    .await;
    list_then_watch(
        "Node watch",
        Api::<Node>::all(client.clone()),
        watcher::Config::default(),
        &node,
        async {
            nodes_admin
                .patch(&node, &pp, &label("1"))
                .await
                .expect("patch Node");
        },
    )
    .await;
    list_then_watch(
        "ConfigMap watch",
        Api::<ConfigMap>::namespaced(client.clone(), &system.name),
        watcher::Config::default().fields(&format!("metadata.name={CONFIG_MAP}")),
        CONFIG_MAP,
        system.set_config(CONFIG_WITH_EXTRA),
    )
    .await;

    // Announcing Events, as the speaker publishes them: create, then patch into a series.
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "herald-speaker".into(),
            instance: Some(node.clone()),
        },
    );
    let reference: ObjectReference = service.object_ref(&());
    let announcing = RecordedEvent {
        type_: EventType::Normal,
        reason: "Announcing".into(),
        note: Some(format!("announcing 10.66.0.10 from node {node}")),
        action: "Announce".into(),
        secondary: None,
    };
    for _ in 0..2 {
        recorder
            .publish(&announcing, &reference)
            .await
            .expect("publish an Event as the speaker");
    }
    let event: Event = team
        .wait_for_event_object("Service", "web", "Announcing")
        .await;
    assert_eq!(event.reporting_instance.as_deref(), Some(node.as_str()));
    eventually(
        "the second Event patched the first into a series",
        || async {
            let events = team.events_about("Service", "web", "Announcing").await;
            events
                .iter()
                .any(|e| e.series.as_ref().is_some_and(|s| s.count == 2))
                .then_some(())
        },
    )
    .await;
    // core/v1 Events, which the chart grants for older servers.
    let core_event: CoreEvent = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web.core", "namespace": team.name},
        "involvedObject": {"apiVersion": "v1", "kind": "Service", "name": "web",
                           "namespace": team.name},
        "reason": "Announcing", "message": "core/v1", "type": "Normal",
        "source": {"component": "herald-speaker"},
    }))
    .expect("core event");
    Api::<CoreEvent>::namespaced(client.clone(), &team.name)
        .create(&PostParams::default(), &core_event)
        .await
        .expect("create a core/v1 Event as the speaker");

    // TLS Secrets for herald.dev/tls-secret, watched as the speaker does (type selector).
    let secrets_admin = Api::<Secret>::namespaced(system.client.clone(), &team.name);
    let tls_secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "web-cert", "namespace": team.name},
        "stringData": {"tls.crt": "chain", "tls.key": "key"},
    }))
    .expect("secret");
    secrets_admin
        .create(&PostParams::default(), &tls_secret)
        .await
        .expect("create Secret");
    list_then_watch(
        "Secret watch",
        Api::<Secret>::all(client.clone()),
        watcher::Config::default().fields("type=kubernetes.io/tls"),
        "web-cert",
        async {
            secrets_admin
                .patch("web-cert", &pp, &label("1"))
                .await
                .expect("patch Secret");
        },
    )
    .await;

    // Nothing else: the speaker never writes a Service, a Node, an EndpointSlice or a
    // Secret, and reads no other ConfigMap and no Lease.
    let services = Api::<Service>::namespaced(client.clone(), &team.name);
    assert_forbidden(
        "patch a Service status",
        services
            .patch_status(
                "web",
                &pp,
                &Patch::Merge(
                    json!({"status": {"loadBalancer": {"ingress": [{"ip": "10.66.0.99"}]}}}),
                ),
            )
            .await,
    );
    assert_forbidden(
        "patch a Service",
        services.patch("web", &pp, &label("2")).await,
    );
    assert_forbidden(
        "patch a Node",
        Api::<Node>::all(client.clone())
            .patch(&node, &pp, &label("2"))
            .await,
    );
    assert_forbidden(
        "delete an EndpointSlice",
        Api::<EndpointSlice>::namespaced(client.clone(), &team.name)
            .delete("web-abc", &DeleteParams::default())
            .await,
    );
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), &system.name);
    assert_forbidden(
        "list every ConfigMap of the release namespace",
        config_maps.list(&ListParams::default()).await,
    );
    assert_forbidden(
        "get the config in another namespace",
        Api::<ConfigMap>::namespaced(client.clone(), &team.name)
            .get(CONFIG_MAP)
            .await,
    );
    assert_forbidden(
        "list Leases",
        Api::<Lease>::namespaced(client.clone(), &system.name)
            .list(&ListParams::default())
            .await,
    );
    assert_forbidden(
        "patch a Secret",
        Api::<Secret>::namespaced(client.clone(), &team.name)
            .patch("web-cert", &pp, &label("2"))
            .await,
    );
}
