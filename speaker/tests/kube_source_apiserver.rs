//! The Kubernetes source against a real kube-apiserver (1.20.2, `scripts/kube-testenv.sh`):
//! the speaker reading Services, EndpointSlices, Nodes and the ConfigMap from the API
//! decides exactly what it decides in standalone mode from the same manifests; changes
//! arrive; a bad ConfigMap leaves the last good config in force.
//!
//! 1.20 serves EndpointSlices as `discovery.k8s.io/v1beta1` only: the manifests' `v1`
//! slices are written to it as `v1beta1` (the node in the `kubernetes.io/hostname`
//! topology key), and the speaker, which picks `v1beta1` from the server's API discovery,
//! must read them back into the same decisions the `v1` manifests give in standalone mode.

use std::sync::Arc;

use herald_speaker::announce::{Decision, Reason, decide};
use herald_speaker::source::SourceState;
use herald_speaker::source::kube::KubeSource;
use herald_speaker::source::kube::slice_api::SliceApi;
use herald_speaker::source::standalone::Standalone;
use herald_testsupport::apiserver::TestNamespace;
use herald_testsupport::wait::eventually;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const CONFIG: &str = "peers:\n- peer-address: 172.30.0.1\n  peer-asn: 64501\n  my-asn: 64500\n\
address-pools:\n- name: default\n  protocol: bgp\n  addresses: ['10.61.0.0/24']\n  \
bgp-advertisements:\n  - communities: ['64500:1']\n";

/// The test's objects as manifests: nodes `<ns>-a` (endpoints of both Services),
/// `<ns>-b` (a web endpoint, an unready api endpoint) and `<ns>-x` (excluded); Services
/// `web` (Cluster), `api` (Local) and `db` (no endpoints), pinned to addresses so the
/// standalone allocation and the statuses agree.
struct Manifests {
    nodes: Vec<String>,
    services: Vec<(String, String)>,
    slices: Vec<String>,
}

fn manifests(ns: &str, api_ready_on_a: bool) -> Manifests {
    let node = |suffix: &str, labels: &str| {
        format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {ns}-{suffix}\n  labels: {{{labels}}}\n"
        )
    };
    let service = |name: &str, policy: &str, ip: &str| {
        (
            ip.to_owned(),
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n\
                 spec:\n  type: LoadBalancer\n  externalTrafficPolicy: {policy}\n  \
                 loadBalancerIP: {ip}\n  ports: [{{name: http, port: 80, protocol: TCP}}]\n"
            ),
        )
    };
    let slice = |name: &str, service: &str, endpoints: &[(&str, &str, bool)]| {
        let mut text = format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}\n  \
             namespace: {ns}\n  labels: {{kubernetes.io/service-name: {service}}}\n\
             addressType: IPv4\nports: [{{name: http, port: 8080, protocol: TCP}}]\nendpoints:\n"
        );
        for (address, node, ready) in endpoints {
            text.push_str(&format!(
                "- addresses: [{address}]\n  nodeName: {ns}-{node}\n  \
                 conditions: {{ready: {ready}, serving: {ready}, terminating: false}}\n"
            ));
        }
        text
    };
    Manifests {
        nodes: vec![
            node("a", "rack: a"),
            node("b", "rack: b"),
            node(
                "x",
                "node.kubernetes.io/exclude-from-external-load-balancers: \"\"",
            ),
        ],
        services: vec![
            service("web", "Cluster", "10.61.0.10"),
            service("api", "Local", "10.61.0.11"),
            service("db", "Cluster", "10.61.0.12"),
        ],
        slices: vec![
            slice(
                "web-1",
                "web",
                &[("172.31.0.10", "a", true), ("172.31.0.11", "b", true)],
            ),
            slice(
                "api-1",
                "api",
                &[
                    ("172.31.0.20", "a", api_ready_on_a),
                    ("172.31.0.21", "b", false),
                ],
            ),
        ],
    }
}

/// The same manifests as a standalone directory; returns the decisions it gives.
fn standalone_decisions(manifests: &Manifests, nodes: &[String]) -> Vec<Decision> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.yaml"), CONFIG).expect("config");
    let mut docs: Vec<&str> = manifests.nodes.iter().map(String::as_str).collect();
    docs.extend(manifests.services.iter().map(|(_, text)| text.as_str()));
    docs.extend(manifests.slices.iter().map(String::as_str));
    std::fs::write(dir.path().join("cluster.yaml"), docs.join("---\n")).expect("manifests");
    let snapshot = Standalone::load(dir.path(), herald_config::keys::LOAD_BALANCER_CLASS)
        .unwrap_or_else(|e| panic!("standalone load: {e}"));
    nodes.iter().map(|n| decide(&snapshot.view, n)).collect()
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("manifest: {e}\n{text}"))
}

async fn create_all(ns: &TestNamespace, manifests: &Manifests) {
    let client = ns.client.clone();
    let nodes: Api<Node> = Api::all(client.clone());
    for text in &manifests.nodes {
        nodes
            .create(&PostParams::default(), &parse(text))
            .await
            .expect("create Node");
    }
    for (ip, text) in &manifests.services {
        let service: Service = parse(text);
        let name = service.metadata.name.clone().expect("name");
        ns.services()
            .create(&PostParams::default(), &service)
            .await
            .expect("create Service");
        // What the controller would write.
        let status = serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns.name},
            "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}
        });
        ns.services()
            .patch_status(
                &name,
                &PatchParams::apply("herald-test-status"),
                &Patch::Apply(&status),
            )
            .await
            .expect("write Service status");
    }
    for text in &manifests.slices {
        ns.create_endpoint_slice(&parse(text)).await;
    }
}

/// The test server is 1.20: its API discovery lists EndpointSlices as `v1beta1` only, and
/// that is what the speaker picks to watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_20_server_has_its_endpoint_slices_read_as_v1beta1() {
    let client = herald_testsupport::apiserver::client().await;
    let groups = client.list_api_groups().await.expect("GET /apis");
    let discovery = groups
        .groups
        .iter()
        .find(|g| g.name == "discovery.k8s.io")
        .expect("the server lists discovery.k8s.io");
    let versions: Vec<&str> = discovery
        .versions
        .iter()
        .map(|v| v.version.as_str())
        .collect();
    assert_eq!(versions, ["v1beta1"], "what 1.20 serves");
    assert_eq!(SliceApi::choose(&groups), Some(SliceApi::V1Beta1));
}

/// Deletes the test's Nodes (cluster-scoped: the namespace cleanup does not).
struct NodesGuard {
    api: Api<Node>,
    names: Vec<String>,
}

impl NodesGuard {
    async fn delete(&self) {
        for name in &self.names {
            let _ = self.api.delete(name, &DeleteParams::default()).await;
        }
    }
}

/// The kube view's decisions for `nodes`, once `ready` holds for them.
async fn kube_decisions(
    source: &watch::Receiver<Arc<SourceState>>,
    nodes: &[String],
    what: &str,
    ready: impl Fn(&[Decision], &SourceState) -> bool,
) -> Vec<Decision> {
    eventually(what, || async {
        let state = source.borrow().clone();
        let view = state.view.as_ref()?;
        let decisions: Vec<Decision> = nodes.iter().map(|n| decide(view, n)).collect();
        ready(&decisions, &state).then_some(decisions)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_source_decides_like_standalone_mode_and_follows_changes() {
    let ns = TestNamespace::create("spk").await;
    let nodes: Vec<String> = ["a", "b", "x", "gone"]
        .iter()
        .map(|s| format!("{}-{s}", ns.name))
        .collect();
    let guard = NodesGuard {
        api: Api::all(ns.client.clone()),
        names: nodes.clone(),
    };
    ns.set_config(CONFIG).await;
    let first = manifests(&ns.name, true);
    create_all(&ns, &first).await;

    let shutdown = CancellationToken::new();
    let source = KubeSource {
        namespace: Some(ns.name.clone()),
        config_namespace: ns.name.clone(),
        config_name: "herald".into(),
        config_key: "config".into(),
        lb_class: herald_config::keys::LOAD_BALANCER_CLASS.into(),
        tls_secrets: true,
    }
    .watch(ns.client.clone(), shutdown.clone());

    let expected = standalone_decisions(&first, &nodes);
    assert_eq!(
        expected[0].announced.len(),
        2,
        "web and api from node a: {:?}",
        expected[0]
    );
    let decided = kube_decisions(&source, &nodes, "the view has every object", |d, _| {
        d[0].announced.len() == 2 && d[1].announced.len() == 1
    })
    .await;
    assert_eq!(
        decided, expected,
        "the API server's objects and the same manifests decide alike"
    );
    let b = &decided[1];
    assert!(
        b.not_announced
            .iter()
            .any(|n| n.service.name == "api" && n.reason == Reason::NoServingEndpointOnNode)
    );
    assert!(
        decided[2]
            .not_announced
            .iter()
            .all(|n| n.reason == Reason::NodeExcluded)
    );
    assert!(
        decided[3]
            .not_announced
            .iter()
            .all(|n| n.reason == Reason::NodeUnknown)
    );
    assert!(source.borrow().errors.is_empty());

    // The api endpoint on node a stops being ready: node a withdraws api.
    let second = manifests(&ns.name, false);
    ns.apply_endpoint_slice(&parse::<EndpointSlice>(&second.slices[1]))
        .await;
    let decided = kube_decisions(&source, &nodes, "api withdrawn from node a", |d, _| {
        d[0].announced.len() == 1
    })
    .await;
    assert_eq!(decided, standalone_decisions(&second, &nodes));

    // A bad ConfigMap: reported, the last good config stays.
    ns.set_config("peers: 7\n").await;
    let decided_after = kube_decisions(&source, &nodes, "the bad config reported", |_, s| {
        !s.errors.is_empty()
    })
    .await;
    assert_eq!(decided_after, decided);
    let errors = source.borrow().errors.clone();
    assert!(
        errors.iter().any(|e| e.contains("peers")),
        "errors name the key: {errors:?}"
    );

    shutdown.cancel();
    guard.delete().await;
}

/// The TLS Secret a Service names with `herald.dev/tls-secret` reaches the view (its key
/// never shown by `Debug`); a Secret of another type with the same name does not count,
/// and a Secret created later arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_secrets_named_by_services_reach_the_view() {
    use herald_core::ServiceKey;
    use herald_speaker::proxy::service::SecretProblem;
    use k8s_openapi::api::core::v1::Secret;

    let ns = TestNamespace::create("sec").await;
    ns.set_config(CONFIG).await;
    for (service, secret) in [("web", "web-cert"), ("api", "api-cert")] {
        ns.create_service(
            service,
            &[("herald.dev/tls-secret", secret)],
            serde_json::json!({"type": "LoadBalancer", "ports": [{"port": 443, "protocol": "TCP"}]}),
        )
        .await;
    }
    let secrets: Api<Secret> = Api::namespaced(ns.client.clone(), &ns.name);
    let secret = |name: &str, type_: &str| -> Secret {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": type_,
            "metadata": {"name": name, "namespace": ns.name},
            "stringData": {"tls.crt": "CHAIN-PEM", "tls.key": "KEY-PEM-SECRET"},
        }))
        .expect("secret")
    };
    secrets
        .create(
            &PostParams::default(),
            &secret("web-cert", "kubernetes.io/tls"),
        )
        .await
        .expect("create web-cert");
    // Same shape, wrong type: the speaker's field selector never sees it.
    secrets
        .create(&PostParams::default(), &secret("api-cert", "Opaque"))
        .await
        .expect("create api-cert");

    let shutdown = CancellationToken::new();
    let source = KubeSource {
        namespace: Some(ns.name.clone()),
        config_namespace: ns.name.clone(),
        config_name: "herald".into(),
        config_key: "config".into(),
        lb_class: herald_config::keys::LOAD_BALANCER_CLASS.into(),
        tls_secrets: true,
    }
    .watch(ns.client.clone(), shutdown.clone());
    let web = ServiceKey::new(ns.name.clone(), "web-cert");
    let api = ServiceKey::new(ns.name.clone(), "api-cert");
    let view = eventually("both named Secrets judged", || {
        let state = source.borrow().clone();
        async move {
            let view = state.view.clone()?;
            (view.proxy.secrets.len() == 2).then_some(view)
        }
    })
    .await;
    let read = view.proxy.secrets[&web].as_ref().expect("web-cert read");
    assert_eq!(read.chain_pem, b"CHAIN-PEM");
    assert_eq!(read.key_pem, b"KEY-PEM-SECRET");
    assert!(
        !format!("{view:?}").contains("KEY-PEM-SECRET"),
        "Debug shows no key"
    );
    assert_eq!(
        view.proxy.secrets[&api],
        Err(SecretProblem::Missing(api.clone()))
    );

    // The Opaque one replaced by a TLS one: it arrives.
    secrets
        .delete("api-cert", &DeleteParams::default())
        .await
        .expect("delete api-cert");
    secrets
        .create(
            &PostParams::default(),
            &secret("api-cert", "kubernetes.io/tls"),
        )
        .await
        .expect("create api-cert as TLS");
    eventually("the new TLS Secret arrives", || {
        let state = source.borrow().clone();
        let api = api.clone();
        async move {
            let view = state.view.clone()?;
            view.proxy.secrets.get(&api)?.as_ref().ok().map(|_| ())
        }
    })
    .await;
    shutdown.cancel();
}
