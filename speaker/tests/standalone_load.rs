//! Standalone mode, one load at a time: reading the directory, in-process allocation,
//! status files, and the errors a bad directory gives.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::Path;

use herald_core::ServiceKey;
use herald_speaker::announce::decide;
use herald_speaker::source::standalone::{Snapshot, Standalone, StandaloneError, write_status};
use tempfile::TempDir;

const CLASS: &str = "herald.dev/lb";

const CONFIG: &str = "
peers:
- {peer-address: 172.30.0.1, peer-asn: 64501, my-asn: 64500}
address-pools:
- {name: first, protocol: bgp, addresses: [10.99.0.10-10.99.0.19]}
- {name: second, protocol: bgp, addresses: [10.99.1.0/24]}
";

const NODES: &str = "
apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
";

fn service(name: &str) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: ns}}
spec:
  type: LoadBalancer
  ports: [{{port: 80}}]
"
    )
}

fn slice(service: &str, node: &str) -> String {
    format!(
        "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {service}-{node}
  namespace: ns
  labels: {{kubernetes.io/service-name: {service}}}
addressType: IPv4
endpoints:
- addresses: [172.31.0.1]
  nodeName: {node}
  conditions: {{ready: true}}
"
    )
}

fn dir_with(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn load(dir: &Path) -> Snapshot {
    match Standalone::load(dir, CLASS) {
        Ok(snapshot) => snapshot,
        Err(errors) => panic!("load failed:\n{errors}"),
    }
}

fn key(name: &str) -> ServiceKey {
    ServiceKey::new("ns", name)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn addresses(snapshot: &Snapshot, name: &str) -> Vec<IpAddr> {
    snapshot.view.services[&key(name)].addresses.clone()
}

#[test]
fn directory_with_config_services_slices_and_nodes_gives_a_view_with_addresses_from_the_first_pool()
{
    let services = [service("web"), service("api")].join("---\n");
    let slices = [slice("web", "n1"), slice("api", "n2")].join("---\n");
    let dir = dir_with(&[
        ("config.yaml", CONFIG),
        ("nodes.yaml", NODES),
        ("services.yaml", &services),
        ("slices.yml", &slices),
    ]);
    let snapshot = load(dir.path());

    assert_eq!(addresses(&snapshot, "api"), [ip("10.99.0.10")]);
    assert_eq!(addresses(&snapshot, "web"), [ip("10.99.0.11")]);
    let nodes: Vec<&str> = snapshot.view.nodes.keys().map(String::as_str).collect();
    assert_eq!(nodes, ["n1", "n2"]);
    assert_eq!(snapshot.view.services[&key("web")].endpoints.len(), 1);
    assert_eq!(
        snapshot.allocations[&key("web")].as_ref().unwrap().pool,
        "first"
    );
    assert!(snapshot.warnings.is_empty());

    let decision = decide(&snapshot.view, "n1");
    assert_eq!(decision.announced.len(), 2);
}

#[test]
fn two_independent_loads_give_the_same_assignment_whatever_the_file_layout() {
    let names = ["zeta", "alpha", "mid", "beta", "omega", "kappa"];
    let all: Vec<String> = names.iter().map(|n| service(n)).collect();
    let one_file = dir_with(&[("config.yaml", CONFIG), ("all.yaml", &all.join("---\n"))]);
    let mut reversed: Vec<(String, String)> = names
        .iter()
        .rev()
        .enumerate()
        .map(|(i, n)| (format!("{i:02}-{n}.yaml"), service(n)))
        .collect();
    reversed.push(("config.yaml".into(), CONFIG.into()));
    let files: Vec<(&str, &str)> = reversed
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let many_files = dir_with(&files);

    let first = load(one_file.path());
    let second = load(many_files.path());
    assert_eq!(first.allocations, second.allocations);
    assert_eq!(first.view, second.view);
    // Namespace/name order: alpha, beta, kappa, mid, omega, zeta.
    assert_eq!(addresses(&first, "alpha"), [ip("10.99.0.10")]);
    assert_eq!(addresses(&first, "zeta"), [ip("10.99.0.15")]);
}

#[test]
fn service_with_a_status_ingress_keeps_it() {
    let holder = format!(
        "{}status:\n  loadBalancer:\n    ingress: [{{ip: 10.99.0.10}}]\n",
        service("zzz-holder")
    );
    let dir = dir_with(&[
        ("config.yaml", CONFIG),
        ("a.yaml", &service("aaa-new")),
        ("z.yaml", &holder),
    ]);
    let snapshot = load(dir.path());
    assert_eq!(addresses(&snapshot, "zzz-holder"), [ip("10.99.0.10")]);
    assert_eq!(addresses(&snapshot, "aaa-new"), [ip("10.99.0.11")]);
}

#[test]
fn status_ingress_outside_every_pool_is_replaced_by_an_allocation() {
    let stray = format!(
        "{}status:\n  loadBalancer:\n    ingress: [{{ip: 203.0.113.5}}]\n",
        service("stray")
    );
    let dir = dir_with(&[("config.yaml", CONFIG), ("s.yaml", &stray)]);
    assert_eq!(addresses(&load(dir.path()), "stray"), [ip("10.99.0.10")]);
}

#[test]
fn status_files_are_written_only_on_change_and_removed_with_their_service() {
    let dir = dir_with(&[
        ("config.yaml", CONFIG),
        ("web.yaml", &service("web")),
        ("api.yaml", &service("api")),
    ]);
    let status = dir.path().join("status");

    let done = write_status(dir.path(), &load(dir.path()).allocations).unwrap();
    assert_eq!(done.written.len(), 2);
    let web = std::fs::read_to_string(status.join("ns_web.yaml")).unwrap();
    assert!(web.contains("service: ns/web\n"), "{web}");
    assert!(web.contains("pool: first\n"), "{web}");
    assert!(web.contains("- 10.99.0.11\n"), "{web}");

    let again = write_status(dir.path(), &load(dir.path()).allocations).unwrap();
    assert!(
        again.written.is_empty() && again.removed.is_empty(),
        "{again:?}"
    );

    std::fs::remove_file(dir.path().join("api.yaml")).unwrap();
    let after = write_status(dir.path(), &load(dir.path()).allocations).unwrap();
    assert_eq!(after.removed, [status.join("ns_api.yaml")]);
    assert!(!status.join("ns_api.yaml").exists());
    // web keeps its address: nothing is renumbered because api went away.
    assert!(after.written.is_empty(), "{after:?}");
    let web_after = std::fs::read_to_string(status.join("ns_web.yaml")).unwrap();
    assert!(web_after.contains("- 10.99.0.11\n"), "{web_after}");
    let mut left: Vec<String> = std::fs::read_dir(&status)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["ns_web.yaml"]);
}

#[test]
fn allocation_failure_is_written_to_the_status_file_and_leaves_no_address() {
    let mut pinned = service("pinned");
    pinned = pinned.replace(
        "metadata: {name: pinned, namespace: ns}",
        "metadata:\n  name: pinned\n  namespace: ns\n  annotations: {herald.dev/address-pool: nope}",
    );
    let dir = dir_with(&[("config.yaml", CONFIG), ("p.yaml", &pinned)]);
    let snapshot = load(dir.path());
    assert!(addresses(&snapshot, "pinned").is_empty());
    assert!(snapshot.allocations[&key("pinned")].is_err());

    write_status(dir.path(), &snapshot.allocations).unwrap();
    let text = std::fs::read_to_string(dir.path().join("status/ns_pinned.yaml")).unwrap();
    assert!(
        text.contains("error: address pool nope does not exist"),
        "{text}"
    );
    assert!(!text.contains("addresses"), "{text}");

    let decision = decide(&snapshot.view, "n1");
    assert_eq!(decision.not_announced.len(), 1);
}

#[test]
fn service_with_a_bad_spec_gets_an_error_instead_of_an_address() {
    let bad = service("bad").replace(
        "type: LoadBalancer",
        "type: LoadBalancer\n  loadBalancerIP: nonsense",
    );
    let dir = dir_with(&[("config.yaml", CONFIG), ("b.yaml", &bad)]);
    let snapshot = load(dir.path());
    let error = snapshot.allocations[&key("bad")].as_ref().unwrap_err();
    assert_eq!(error.label(), "invalid_load_balancer_ip");
    assert!(addresses(&snapshot, "bad").is_empty());
}

#[test]
fn lists_json_configmap_configs_and_default_namespaces_are_understood() {
    let configmap = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: herald, namespace: herald-system}}\n\
         data:\n  config: |\n{}",
        CONFIG
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- {}",
        service("listed").replace('\n', "\n  ")
    );
    let json = r#"{"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "from-json"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}}"#;
    let dir = dir_with(&[
        ("config.yaml", &configmap),
        ("list.yaml", &list),
        ("svc.json", json),
        (
            "other.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
        ),
        ("notes.txt", "not a manifest"),
        (".hidden.yaml", "::: not yaml"),
    ]);
    let snapshot = load(dir.path());
    let keys: Vec<String> = snapshot
        .view
        .services
        .keys()
        .map(ToString::to_string)
        .collect();
    assert_eq!(keys, ["default/from-json", "ns/listed"]);
    assert_eq!(snapshot.warnings.len(), 1);
    assert!(snapshot.warnings[0].contains("kind Deployment ignored"));
}

#[test]
fn bad_config_is_reported_with_every_error() {
    let dir = dir_with(&[
        (
            "config.yaml",
            "peers: [{peer-address: 10.0.0.1, peer-asn: 0, my-asn: 64500, hold-time: 2s}]\n",
        ),
        ("web.yaml", &service("web")),
    ]);
    let errors = Standalone::load(dir.path(), CLASS).unwrap_err();
    let lines = errors.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].ends_with(
            "config.yaml: peers[0].hold-time: hold time 2s is invalid: must be 0 or at least 3s"
        ),
        "{lines:?}"
    );
    assert!(matches!(errors.0[0], StandaloneError::Config { .. }));
}

#[test]
fn missing_config_is_an_error() {
    let dir = dir_with(&[("web.yaml", &service("web"))]);
    let errors = Standalone::load(dir.path(), CLASS).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert_eq!(errors.0[0].label(), "read_file");
}

#[test]
fn every_bad_manifest_is_reported_at_once_with_its_file() {
    let dir = dir_with(&[
        ("config.yaml", CONFIG),
        ("broken.yaml", "kind: Service\nmetadata: [unclosed\n"),
        ("kindless.yaml", "apiVersion: v1\nmetadata: {name: x}\n"),
        (
            "wrong.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: w}\nspec: {ports: 80}\n",
        ),
        ("dup-a.yaml", &service("twice")),
        ("dup-b.yaml", &service("twice")),
    ]);
    let errors = Standalone::load(dir.path(), CLASS).unwrap_err();
    let labels: Vec<&str> = errors.0.iter().map(StandaloneError::label).collect();
    assert_eq!(
        labels,
        [
            "invalid_yaml",
            "missing_kind",
            "invalid_manifest",
            "duplicate_object"
        ],
        "{errors}"
    );
    let text = errors.to_string();
    assert!(text.contains("broken.yaml document 1"), "{text}");
    assert!(
        text.contains("wrong.yaml document 1: invalid Service"),
        "{text}"
    );
    assert!(
        text.contains("Service twice in namespace ns is defined more than once"),
        "{text}"
    );
}

#[test]
fn example_directory_announces_as_its_readme_says() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/standalone-example");
    let snapshot = load(&example);

    let web = ServiceKey::new("default", "web");
    let api = ServiceKey::new("default", "api");
    assert_eq!(
        snapshot.view.services[&web].addresses,
        [ip("10.99.0.10"), ip("fd00:99::10")]
    );
    assert_eq!(snapshot.view.services[&api].addresses, [ip("10.99.0.20")]);

    let routes = |node: &str| -> Vec<String> {
        decide(&snapshot.view, node)
            .routes
            .keys()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        routes("node-a"),
        ["10.99.0.10/32", "10.99.0.20/32", "fd00:99::10/128"]
    );
    assert_eq!(routes("node-b"), ["10.99.0.10/32", "fd00:99::10/128"]);
    let node_a = decide(&snapshot.view, "node-a");
    assert_eq!(node_a.peers.len(), 2);
    assert!(node_a.routes.values().all(|r| r.communities.len() == 1));
}

#[test]
fn service_added_later_never_takes_an_address_recorded_in_the_status_directory() {
    let dir = dir_with(&[
        ("config.yaml", CONFIG),
        ("nodes.yaml", NODES),
        ("web.yaml", &service("web")),
    ]);
    let first = load(dir.path());
    assert_eq!(addresses(&first, "web"), vec![ip("10.99.0.10")]);
    write_status(dir.path(), &first.allocations).unwrap();

    // "api" sorts before "web": without the record it would take 10.99.0.10.
    std::fs::write(dir.path().join("api.yaml"), service("api")).unwrap();
    let second = load(dir.path());
    assert_eq!(addresses(&second, "web"), vec![ip("10.99.0.10")]);
    assert_eq!(addresses(&second, "api"), vec![ip("10.99.0.11")]);
}

#[test]
fn recorded_address_is_dropped_once_its_service_is_gone() {
    let dir = dir_with(&[
        ("config.yaml", CONFIG),
        ("nodes.yaml", NODES),
        ("web.yaml", &service("web")),
    ]);
    write_status(dir.path(), &load(dir.path()).allocations).unwrap();
    std::fs::remove_file(dir.path().join("web.yaml")).unwrap();
    let without = load(dir.path());
    write_status(dir.path(), &without.allocations).unwrap();

    std::fs::write(dir.path().join("api.yaml"), service("api")).unwrap();
    assert_eq!(addresses(&load(dir.path()), "api"), vec![ip("10.99.0.10")]);
}

#[test]
fn cached_loads_see_every_change_to_a_file_and_forget_removed_files() {
    use herald_speaker::source::standalone::ManifestCache;
    let dir = dir_with(&[
        ("config.yaml", CONFIG),
        ("nodes.yaml", NODES),
        ("web.yaml", &service("web")),
        ("api.yaml", &service("api")),
    ]);
    let mut cache = ManifestCache::default();
    let load = |cache: &mut ManifestCache| match Standalone::load_cached(dir.path(), CLASS, cache) {
        Ok(snapshot) => snapshot,
        Err(errors) => panic!("load failed:\n{errors}"),
    };
    let first = load(&mut cache);
    assert_eq!(first.view.services.len(), 2);

    // One file changes (an endpoint appears): only that file is read again, and the
    // change shows while the unchanged file's Service is still there.
    let with_slice = format!("{}---\n{}", service("web"), slice("web", "n1"));
    std::fs::write(dir.path().join("web.yaml"), with_slice).unwrap();
    let second = load(&mut cache);
    assert_eq!(second.view.services.len(), 2);
    assert_eq!(second.view.services[&key("web")].endpoints.len(), 1);

    // A broken edit is reported, the fix is picked up (a failed parse is never cached).
    std::fs::write(dir.path().join("api.yaml"), "kind: Service\nspec: [").unwrap();
    assert!(Standalone::load_cached(dir.path(), CLASS, &mut cache).is_err());
    std::fs::write(dir.path().join("api.yaml"), service("api")).unwrap();
    assert_eq!(load(&mut cache).view.services.len(), 2);

    // A removed file's objects are gone.
    std::fs::remove_file(dir.path().join("api.yaml")).unwrap();
    let last = load(&mut cache);
    assert_eq!(last.view.services.len(), 1);
    assert!(last.view.services.contains_key(&key("web")));
}

#[test]
fn tls_secret_manifests_named_by_services_reach_the_view_with_string_data_merged() {
    let web = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations: {herald.dev/tls-secret: web-cert}\nspec:\n  type: LoadBalancer\n  ports: [{port: 443}]\n";
    let secret = "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata: {name: web-cert}\nstringData:\n  tls.crt: CHAIN\n  tls.key: THE-KEY\n";
    let dir = dir_with(&[
        ("config.yaml", CONFIG),
        ("web.yaml", web),
        ("cert.yaml", secret),
    ]);
    let snapshot = load(dir.path());
    let read = snapshot.view.proxy.secrets[&ServiceKey::new("default", "web-cert")]
        .as_ref()
        .expect("read");
    assert_eq!(read.chain_pem, b"CHAIN");
    assert_eq!(read.key_pem, b"THE-KEY");
    assert!(!format!("{:?}", snapshot.view).contains("THE-KEY"));
}

#[test]
fn a_secret_that_does_not_parse_is_reported_without_its_content() {
    // `data` values must be base64: this one is not, and it is the key.
    let secret = "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata: {name: bad}\ndata:\n  tls.key: '%%THE-KEY%%'\n";
    let dir = dir_with(&[("config.yaml", CONFIG), ("cert.yaml", secret)]);
    let errors = Standalone::load(dir.path(), CLASS).unwrap_err();
    let text = errors.to_string();
    assert!(text.contains("invalid Secret"), "{text}");
    assert!(!text.contains("THE-KEY"), "{text}");
    assert!(!format!("{errors:?}").contains("THE-KEY"));
}
