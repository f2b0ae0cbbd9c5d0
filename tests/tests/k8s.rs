//! Herald on a real Kubernetes cluster (`lab/k8s`: v1.20.2 built from Debian's sources,
//! containerd, kubelet and kube-proxy in iptables mode on every node, the CNI bridge, FRR
//! as the router, a client behind it), installed with `helm install` (Helm's own engine)
//! from `charts/herald` and the image `lab/k8s/images.sh` builds from the release binaries.
//! Nothing is stood in: Kubernetes' own endpointslice controller writes the
//! `discovery.k8s.io/v1beta1` EndpointSlices (all 1.20 serves) that the speakers read.
//!
//! One cluster for the whole file (it takes a minute to start): the test walks through
//! the issue's list in order and tears the cluster down at the end, also on failure
//! (after printing the tails of the logs).
//!
//! Needs `scripts/kube-testenv.sh build` (the Kubernetes binaries, Helm's engine) and
//! release binaries of herald-controller and herald-speaker (`HERALD_BIN_DIR`, default
//! `$CARGO_TARGET_DIR/release`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use herald_e2e::frr;
use herald_testsupport::wait::wait_until_every;
use serde_json::{Value, json};

const NODES: usize = 2;
const NAMESPACE: &str = "herald-system";
/// Generous: the CI machine has 2 busy cores and every step here starts containers.
const SAFETY: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(500);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn node_address(node: usize) -> Ipv4Addr {
    Ipv4Addr::new(172, 30, 0, 10 + node as u8)
}

/// The running lab; `lab/k8s/down.sh` when dropped.
struct Cluster {
    prefix: String,
    state: PathBuf,
}

impl Cluster {
    fn start() -> (Cluster, Duration) {
        assert!(
            running_as_root(),
            "the Kubernetes lab needs root (network namespaces, containerd): run as root (CI does)"
        );
        let prefix = format!("hk{:04x}-", std::process::id() & 0xffff);
        let state = PathBuf::from("/run/herald-k8s").join(prefix.trim_end_matches('-'));
        let cluster = Cluster { prefix, state };
        if std::env::var_os("HERALD_BIN_DIR").is_none() {
            // the image's binaries: release builds of this tree (a no-op when fresh)
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .current_dir(repo_root())
                .args([
                    "build",
                    "--release",
                    "--locked",
                    "-p",
                    "herald-controller",
                    "-p",
                    "herald-speaker",
                ])
                .status()
                .expect("run cargo build --release");
            assert!(
                status.success(),
                "cargo build --release of the image's binaries failed"
            );
        }
        let _ = cluster.script("down.sh", &[]);
        let started = Instant::now();
        let output = cluster.script("up.sh", &[]);
        assert!(
            output.status.success(),
            "lab/k8s/up.sh failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (cluster, started.elapsed())
    }

    fn script(&self, name: &str, args: &[&str]) -> Output {
        let mut command = Command::new(repo_root().join("lab/k8s").join(name));
        command
            .args(args)
            .env("HK_PREFIX", &self.prefix)
            .env("HK_STATE", &self.state)
            .env("HK_NODES", NODES.to_string())
            .stdin(Stdio::null());
        if std::env::var_os("HERALD_BIN_DIR").is_none() {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            command.env("HERALD_BIN_DIR", target.join("release"));
        }
        command
            .output()
            .unwrap_or_else(|e| panic!("run lab/k8s/{name}: {e}"))
    }

    /// `ctl.sh ARGS`; panics when it fails; stdout.
    fn ctl(&self, args: &[&str]) -> String {
        let output = self.script("ctl.sh", args);
        assert!(
            output.status.success(),
            "lab/k8s/ctl.sh {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `kubectl ARGS` as admin; panics when it fails.
    fn kubectl(&self, args: &[&str]) -> String {
        let mut all = vec!["kubectl"];
        all.extend_from_slice(args);
        self.ctl(&all)
    }

    /// `kubectl ARGS -o json`, or None when kubectl fails (e.g. not found yet).
    fn get(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["kubectl"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let output = self.script("ctl.sh", &all);
        if !output.status.success() {
            return None;
        }
        serde_json::from_slice(&output.stdout).ok()
    }

    fn apply(&self, manifest: &Value) {
        let path = self.state.join("test-manifest.json");
        std::fs::write(&path, manifest.to_string()).expect("write manifest");
        self.kubectl(&["apply", "-f", path.to_str().expect("utf-8 path")]);
    }

    /// `vtysh -c COMMAND` on the lab router.
    fn vtysh(&self, command: &str) -> String {
        herald_e2e::lab::router_vtysh(&self.state, command)
    }

    /// The router's BGP session with node N.
    fn session(&self, node: usize) -> Option<frr::Session> {
        frr::sessions(&self.vtysh("show bgp summary json")).remove(&node_address(node).into())
    }

    /// Whether the router's session with node N is Established with the node's graceful
    /// restart capability.
    fn graceful_restart(&self, node: usize) -> bool {
        let address = node_address(node).to_string();
        let json: Value =
            serde_json::from_str(&self.vtysh(&format!("show bgp neighbors {address} json")))
                .unwrap_or_default();
        let neighbor = &json[&address];
        neighbor["bgpState"] == "Established"
            && neighbor["neighborCapabilities"]["gracefulRestart"]
                .as_str()
                .is_some_and(|c| c.contains("Received"))
    }

    /// The router's paths for `address`/32.
    fn paths(&self, address: Ipv4Addr) -> Vec<frr::Path> {
        frr::rib(&self.vtysh("show bgp ipv4 unicast json"))
            .remove(&format!("{address}/32"))
            .unwrap_or_default()
    }

    /// The router's next hops for `address`/32 (empty: no route).
    fn next_hops(&self, address: Ipv4Addr) -> BTreeSet<Ipv4Addr> {
        let output = Command::new("ip")
            .args([
                "-n",
                &format!("{}r", self.prefix),
                "-4",
                "-j",
                "route",
                "show",
            ])
            .arg(format!("{address}/32"))
            .output()
            .expect("run ip route");
        let routes: Value = serde_json::from_slice(&output.stdout).unwrap_or(json!([]));
        let mut hops = BTreeSet::new();
        for route in routes.as_array().into_iter().flatten() {
            if let Some(gateway) = route["gateway"].as_str() {
                hops.extend(gateway.parse::<Ipv4Addr>());
            }
            for hop in route["nexthops"].as_array().into_iter().flatten() {
                if let Some(gateway) = hop["gateway"].as_str() {
                    hops.extend(gateway.parse::<Ipv4Addr>());
                }
            }
        }
        hops
    }

    /// One request from the client to http://ADDRESS/ (the answering pod's name).
    fn curl(&self, address: Ipv4Addr) -> Option<String> {
        let output = Command::new("ip")
            .args(["netns", "exec", &format!("{}c", self.prefix), "curl", "-sS"])
            .args(["--max-time", "3", &format!("http://{address}/")])
            .output()
            .expect("run curl");
        output.status.success().then(|| {
            String::from_utf8_lossy(&output.stdout)
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    }

    fn print_logs(&self) {
        let _ = Command::new(repo_root().join("lab/k8s/status.sh"))
            .env("HK_PREFIX", &self.prefix)
            .env("HK_STATE", &self.state)
            .status();
        for args in [
            vec![
                "logs",
                "-n",
                NAMESPACE,
                "-l",
                "app.kubernetes.io/component=controller",
                "--tail=30",
            ],
            vec![
                "logs",
                "-n",
                NAMESPACE,
                "-l",
                "app.kubernetes.io/component=speaker",
                "--tail=30",
            ],
            vec!["get", "events", "-A", "--sort-by=.lastTimestamp"],
        ] {
            let mut all = vec!["kubectl"];
            all.extend_from_slice(&args);
            let output = self.script("ctl.sh", &all);
            eprintln!(
                "--- kubectl {}\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_logs();
        }
        let output = self.script("down.sh", &[]);
        if !output.status.success() {
            eprintln!(
                "lab/k8s/down.sh failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Ready pods matching `selector` in `namespace`: name -> node.
fn ready_pods(cluster: &Cluster, namespace: &str, selector: &str) -> BTreeMap<String, String> {
    let pods = cluster
        .get(&["get", "pods", "-n", namespace, "-l", selector])
        .unwrap_or(json!({}));
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| ready(p) && p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// What the containers of `pod` (in [`NAMESPACE`]) wrote, read from the files kubelet keeps
/// under node `node`'s /var/log/pods.
fn pod_log(cluster: &Cluster, node: usize, pod: &str) -> String {
    let pods = cluster.state.join(format!("node{node}/varlog/pods"));
    let prefix = format!("{NAMESPACE}_{pod}_");
    let mut log = String::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&pods)
        .unwrap_or_else(|e| panic!("read {}: {e}", pods.display()))
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
        {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                log.push_str(&text);
            }
        }
    }
    log
}

fn node_index(node_name: &str) -> usize {
    node_name
        .strip_prefix("node")
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("unexpected node name {node_name}"))
}

fn backend(cluster: &Cluster, name: &str, replicas: u32) {
    cluster.apply(&json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "backend", "image": "herald.test/backend:lab",
                        "imagePullPolicy": "Never",
                        "ports": [{"containerPort": 8080}],
                        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
                    }]
                }
            }
        }
    }));
}

fn service(cluster: &Cluster, name: &str, app: &str, policy: &str) {
    cluster.apply(&json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": policy,
            "selector": {"app": app},
            "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]
        }
    }));
}

/// The Service's LoadBalancer address, once it has one.
fn wait_address(cluster: &Cluster, name: &str) -> (Ipv4Addr, Duration) {
    wait_until_every(
        POLL,
        SAFETY,
        &format!("an address for Service {name}"),
        || {
            let svc = cluster.get(&["get", "service", "-n", "default", name])?;
            svc["status"]["loadBalancer"]["ingress"][0]["ip"]
                .as_str()?
                .parse()
                .ok()
        },
        || {
            format!(
                "{:?}",
                cluster.get(&["get", "service", "-n", "default", name])
            )
        },
    )
}

fn wait_next_hops(cluster: &Cluster, address: Ipv4Addr, nodes: &[usize]) -> Duration {
    let want: BTreeSet<Ipv4Addr> = nodes.iter().map(|&n| node_address(n)).collect();
    wait_until_every(
        POLL,
        SAFETY,
        &format!("the router's next hops for {address} to be {want:?}"),
        || (cluster.next_hops(address) == want).then_some(()),
        || format!("{:?}", cluster.next_hops(address)),
    )
    .1
}

/// Whether Deployment `name` has finished rolling out `replicas` pods of its current
/// template, all Ready, and no pod of an older one left.
fn rolled_out(cluster: &Cluster, name: &str, replicas: u64) -> bool {
    let Some(deployment) = cluster.get(&["get", "deployment", "-n", "default", name]) else {
        return false;
    };
    let status = &deployment["status"];
    let count = |field: &str| status[field].as_u64().unwrap_or(0);
    status["observedGeneration"].as_u64() >= deployment["metadata"]["generation"].as_u64()
        && [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
        ]
        .iter()
        .all(|field| count(field) == replicas)
}

/// How many ready addresses the Service's Endpoints (the endpoints controller's) lists.
fn endpoint_addresses(cluster: &Cluster, name: &str) -> usize {
    cluster
        .get(&["get", "endpoints", "-n", "default", name])
        .and_then(|endpoints| {
            endpoints["subsets"].as_array().map(|subsets| {
                subsets
                    .iter()
                    .filter_map(|subset| subset["addresses"].as_array())
                    .map(Vec::len)
                    .sum()
            })
        })
        .unwrap_or(0)
}

fn lease_holder(cluster: &Cluster) -> Option<String> {
    let lease = cluster.get(&["get", "lease", "-n", NAMESPACE, "herald-controller"])?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_owned)
}

#[test]
fn herald_installed_with_helm_announces_services_of_a_real_cluster() {
    let (cluster, start_time) = Cluster::start();
    println!(
        "cluster up ({NODES} nodes Ready) in {:.1} s",
        start_time.as_secs_f64()
    );

    // ---- 1. helm install; the pods become Ready with the chart's RBAC, caps, host network
    let installed = Instant::now();
    cluster.ctl(&["install"]);
    println!(
        "helm install to pods Ready: {:.1} s",
        installed.elapsed().as_secs_f64()
    );
    let controllers = ready_pods(
        &cluster,
        NAMESPACE,
        "app.kubernetes.io/component=controller",
    );
    assert_eq!(
        controllers.len(),
        2,
        "two controller replicas Ready: {controllers:?}"
    );
    let speakers = ready_pods(&cluster, NAMESPACE, "app.kubernetes.io/component=speaker");
    let speaker_nodes: BTreeSet<usize> = speakers.values().map(|n| node_index(n)).collect();
    assert_eq!(
        speaker_nodes,
        (1..=NODES).collect(),
        "one speaker per node: {speakers:?}"
    );
    let ds = cluster
        .get(&["get", "daemonset", "-n", NAMESPACE, "herald-speaker"])
        .expect("the speaker DaemonSet");
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["serviceAccountName"], "herald-speaker");
    let security = &spec["containers"][0]["securityContext"];
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(
        security["capabilities"]["add"],
        json!(["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"])
    );
    // the running process has exactly those capabilities, in the node's network namespace
    for node in 1..=NODES {
        let ns = format!("{}n{node}", cluster.prefix);
        let pids = Command::new("ip")
            .args(["netns", "pids", &ns])
            .output()
            .expect("ip netns pids");
        let speaker_pid = String::from_utf8_lossy(&pids.stdout)
            .split_whitespace()
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "herald-speaker")
            })
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no herald-speaker process in {ns}"));
        let status =
            std::fs::read_to_string(format!("/proc/{speaker_pid}/status")).expect("status");
        let cap_eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .map(str::trim)
            .expect("CapEff");
        // NET_BIND_SERVICE (10), NET_ADMIN (12), NET_RAW (13)
        assert_eq!(cap_eff, "0000000000003400", "node{node} speaker CapEff");
    }
    // the speaker's account can do what the chart grants and no more
    let can = |verb: &str, what: &str| {
        let output = cluster.script(
            "ctl.sh",
            &[
                "kubectl",
                "auth",
                "can-i",
                verb,
                what,
                "--as",
                "system:serviceaccount:herald-system:herald-speaker",
            ],
        );
        String::from_utf8_lossy(&output.stdout).trim() == "yes"
    };
    assert!(can("watch", "services"));
    assert!(can("list", "endpointslices.discovery.k8s.io"));
    assert!(
        !can("update", "services/status"),
        "the speaker must not write Service status"
    );
    assert!(!can("list", "pods"));
    // 1.20 serves EndpointSlices as discovery.k8s.io/v1beta1 only: every speaker says it
    // reads that version
    for (pod, node) in &speakers {
        let log = pod_log(&cluster, node_index(node), pod);
        assert!(
            log.lines()
                .any(|l| l.contains("reading EndpointSlices")
                    && l.contains("discovery.k8s.io/v1beta1")),
            "the speaker on {node} logs the EndpointSlice version it reads:\n{log}"
        );
    }

    // ---- 2. Cluster policy over 3 backends: every node announces, answers from several pods
    backend(&cluster, "web", 3);
    service(&cluster, "web", "web", "Cluster");
    let (web, took) = wait_address(&cluster, "web");
    println!("web got {web} after {:.1} s", took.as_secs_f64());
    wait_until_every(
        POLL,
        SAFETY,
        "3 web pods Ready",
        || (ready_pods(&cluster, "default", "app=web").len() == 3).then_some(()),
        || format!("{:?}", ready_pods(&cluster, "default", "app=web")),
    );
    let first_route = wait_next_hops(&cluster, web, &[1, 2]);
    println!(
        "helm install to every node's route for the first Service: {:.1} s (route {:.1} s after the address)",
        installed.elapsed().as_secs_f64(),
        first_route.as_secs_f64()
    );
    // kube-proxy programs the Service's rules on its own schedule: the first answer first
    wait_until_every(
        POLL,
        SAFETY,
        "a first answer from the web Service through the router",
        || cluster.curl(web),
        || "no answer".to_owned(),
    );
    // the pods being Ready is not yet the Endpoints listing them, nor kube-proxy's rules
    // (each on its own schedule): wait for all three in the Endpoints, then for answers
    // from several pods
    wait_until_every(
        POLL,
        SAFETY,
        "the web Endpoints listing 3 ready addresses",
        || (endpoint_addresses(&cluster, "web") == 3).then_some(()),
        || format!("{} ready addresses", endpoint_addresses(&cluster, "web")),
    );
    // The router hashes each connection to one node, and each node's kube-proxy has its
    // own sync: done when several pods have answered and the last 16 requests (both nodes,
    // all but surely) all were.
    let seen = std::cell::RefCell::new((BTreeSet::new(), 0_usize));
    wait_until_every(
        POLL,
        SAFETY,
        "several web pods answering, 16 requests in a row",
        || {
            let mut seen = seen.borrow_mut();
            for _ in 0..8 {
                match cluster.curl(web) {
                    Some(name) => {
                        seen.0.insert(name);
                        seen.1 += 1;
                    }
                    None => seen.1 = 0,
                }
            }
            (seen.0.len() >= 2 && seen.1 >= 16).then_some(())
        },
        || {
            let seen = seen.borrow();
            format!("answers from {:?}, the last {} in a row", seen.0, seen.1)
        },
    );
    let names = seen.into_inner().0;
    assert!(names.iter().all(|n| n.starts_with("web-")), "{names:?}");

    // ---- 3. Local policy: only nodes with a backend announce; scaling moves it
    backend(&cluster, "api", 1);
    service(&cluster, "api", "api", "Local");
    let (api, _) = wait_address(&cluster, "api");
    let (pods, _) = wait_until_every(
        POLL,
        SAFETY,
        "1 api pod Ready",
        || {
            let pods = ready_pods(&cluster, "default", "app=api");
            (pods.len() == 1).then_some(pods)
        },
        || format!("{:?}", ready_pods(&cluster, "default", "app=api")),
    );
    let first: Vec<usize> = pods.values().map(|n| node_index(n)).collect();
    // the slice is Kubernetes' own: its endpointslice controller wrote it as v1beta1, with
    // the pod's node in the hostname topology key
    let slice_hosts = || -> Vec<(String, String)> {
        let slices = cluster
            .get(&[
                "get",
                "endpointslices.v1beta1.discovery.k8s.io",
                "-n",
                "default",
                "-l",
                "kubernetes.io/service-name=api",
            ])
            .unwrap_or_default();
        slices["items"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|slice| {
                let labels = &slice["metadata"]["labels"];
                let manager = labels["endpointslice.kubernetes.io/managed-by"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                slice["endpoints"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |e| {
                        let host = e["topology"]["kubernetes.io/hostname"].as_str();
                        (manager.clone(), host.unwrap_or_default().to_owned())
                    })
            })
            .collect()
    };
    let expected = vec![(
        "endpointslice-controller.k8s.io".to_owned(),
        format!("node{}", first[0]),
    )];
    wait_until_every(
        POLL,
        SAFETY,
        "the api pod in a v1beta1 slice of Kubernetes' endpointslice controller",
        || (slice_hosts() == expected).then_some(()),
        || format!("(managed-by, topology hostname) {:?}", slice_hosts()),
    );
    wait_next_hops(&cluster, api, &first);
    // the route can come before kube-proxy has programmed the node (its own sync period)
    wait_until_every(
        POLL,
        SAFETY,
        "the api Service to answer through its node",
        || cluster.curl(api).filter(|n| n.starts_with("api-")),
        || "no answer".to_owned(),
    );
    // move it: pin the Deployment to the other node
    let other = if first[0] == 1 { 2 } else { 1 };
    cluster.kubectl(&[
        "patch", "deployment", "-n", "default", "api", "--type=merge", "-p",
        &json!({"spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/hostname": format!("node{other}")}}}}}).to_string(),
    ]);
    let moved = wait_next_hops(&cluster, api, &[other]);
    println!(
        "Local Service moved to node{other}: route followed in {:.1} s",
        moved.as_secs_f64()
    );
    wait_until_every(
        POLL,
        SAFETY,
        "the api Service to answer after the move",
        || cluster.curl(api).filter(|n| n.starts_with("api-")),
        || "no answer".to_owned(),
    );
    // scale out to both nodes (spread evenly: left to itself the scheduler may put all four
    // on one node): both announce once the rollout is over and the pinned pod gone
    cluster.kubectl(&[
        "patch",
        "deployment",
        "-n",
        "default",
        "api",
        "--type=json",
        "-p",
        &json!([
            {"op": "remove", "path": "/spec/template/spec/nodeSelector"},
            {"op": "replace", "path": "/spec/replicas", "value": 4},
            {"op": "add", "path": "/spec/template/spec/topologySpreadConstraints", "value": [{
                "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "api"}},
            }]},
        ])
        .to_string(),
    ]);
    wait_until_every(
        POLL,
        SAFETY,
        "the api rollout to finish with pods Ready on both nodes",
        || {
            let nodes: BTreeSet<usize> = ready_pods(&cluster, "default", "app=api")
                .values()
                .map(|n| node_index(n))
                .collect();
            (rolled_out(&cluster, "api", 4) && nodes.len() == NODES).then_some(())
        },
        || format!("{:?}", ready_pods(&cluster, "default", "app=api")),
    );
    wait_next_hops(&cluster, api, &[1, 2]);

    // ---- 4. failover: the controller leader, a speaker pod
    let (leader, _) = wait_until_every(
        POLL,
        SAFETY,
        "a Lease holder",
        || lease_holder(&cluster),
        || "none".to_owned(),
    );
    cluster.kubectl(&["delete", "pod", "-n", NAMESPACE, &leader, "--wait=false"]);
    let (new_leader, took) = wait_until_every(
        POLL,
        SAFETY,
        "another controller replica to take the Lease",
        || lease_holder(&cluster).filter(|h| *h != leader),
        || format!("{:?}", lease_holder(&cluster)),
    );
    println!(
        "controller leader {leader} -> {new_leader} in {:.1} s",
        took.as_secs_f64()
    );
    service(&cluster, "after-failover", "web", "Cluster");
    let (late, _) = wait_address(&cluster, "after-failover");
    wait_next_hops(&cluster, late, &[1, 2]);

    let speakers = ready_pods(&cluster, NAMESPACE, "app.kubernetes.io/component=speaker");
    let (victim, victim_node) = speakers
        .iter()
        .next()
        .map(|(name, node)| (name.clone(), node.clone()))
        .expect("a speaker");
    let victim_node = node_index(&victim_node);
    cluster.kubectl(&["delete", "pod", "-n", NAMESPACE, &victim, "--wait=false"]);
    let survivors: Vec<usize> = (1..=NODES).filter(|&n| n != victim_node).collect();
    let gone = wait_next_hops(&cluster, web, &survivors);
    println!(
        "speaker {victim} deleted: node{victim_node}'s route withdrawn in {:.1} s",
        gone.as_secs_f64()
    );
    wait_until_every(
        POLL,
        SAFETY,
        "the DaemonSet to bring the speaker back",
        || {
            ready_pods(&cluster, NAMESPACE, "app.kubernetes.io/component=speaker")
                .iter()
                .any(|(name, node)| *name != victim && node_index(node) == victim_node)
                .then_some(())
        },
        || {
            format!(
                "{:?}",
                ready_pods(&cluster, NAMESPACE, "app.kubernetes.io/component=speaker")
            )
        },
    );
    let back = wait_next_hops(&cluster, web, &[1, 2]);
    println!(
        "node{victim_node}'s route back {:.1} s after its new speaker was Ready",
        back.as_secs_f64()
    );
    // every Service back at both nodes (api has pods on both) before the next step compares
    for address in [api, late] {
        wait_next_hops(&cluster, address, &[1, 2]);
    }

    // ---- 4b. graceful restart (RFC 4724): with `graceful-restart` on the peer, a deleted
    // speaker pod closes its sessions without withdrawing, the router keeps the node's
    // routes (stale) until the DaemonSet's new pod has re-announced them
    let config_map = cluster
        .get(&["get", "configmap", "-n", NAMESPACE, "herald"])
        .expect("the herald ConfigMap");
    let mut config: serde_yaml::Value =
        serde_yaml::from_str(config_map["data"]["config"].as_str().expect("data.config"))
            .expect("the ConfigMap's config is YAML");
    config["peers"][0]["graceful-restart"] = true.into();
    cluster.kubectl(&[
        "patch",
        "configmap",
        "-n",
        NAMESPACE,
        "herald",
        "--type=merge",
        "-p",
        &json!({"data": {"config": serde_yaml::to_string(&config).expect("YAML")}}).to_string(),
    ]);
    // a new capability is a new session: each node's comes back with graceful restart
    wait_until_every(
        POLL,
        SAFETY,
        "every node's session Established with graceful restart",
        || {
            (1..=NODES)
                .all(|n| cluster.graceful_restart(n))
                .then_some(())
        },
        || {
            format!(
                "{:?}",
                (1..=NODES).map(|n| cluster.session(n)).collect::<Vec<_>>()
            )
        },
    );
    for address in [web, api, late] {
        wait_next_hops(&cluster, address, &[1, 2]);
    }
    let speakers = ready_pods(&cluster, NAMESPACE, "app.kubernetes.io/component=speaker");
    let (victim, victim_node) = speakers
        .iter()
        .next()
        .map(|(name, node)| (name.clone(), node_index(node)))
        .expect("a speaker");
    let deleted = Instant::now();
    cluster.kubectl(&["delete", "pod", "-n", NAMESPACE, &victim, "--wait=false"]);
    // sampled until the session has gone down and come back and the node's path is fresh
    // again: the router's FIB must hold the node's next hop at every sample
    let hop = node_address(victim_node);
    let (mut samples, mut missing) = (0, Vec::new());
    let (mut went_down, mut stale) = (false, false);
    let (_, took) = wait_until_every(
        Duration::from_millis(100),
        SAFETY,
        "the new speaker pod's session up and its routes fresh at the router",
        || {
            samples += 1;
            if !cluster.next_hops(web).contains(&hop) {
                missing.push(deleted.elapsed());
            }
            let up = cluster
                .session(victim_node)
                .is_some_and(|s| s.state == "Established");
            went_down |= !up;
            let paths = cluster.paths(web);
            let path = paths.iter().find(|p| p.next_hops.contains(&hop.into()));
            stale |= path.is_some_and(|p| p.stale);
            (went_down && up && path.is_some_and(|p| !p.stale)).then_some(())
        },
        || {
            format!(
                "{:?}; paths {:?}",
                cluster.session(victim_node),
                cluster.paths(web)
            )
        },
    );
    println!(
        "graceful restart: speaker pod {victim} deleted, the new pod's routes fresh at the router after {:.1} s; the FIB lacked node{victim_node} in {} of {samples} samples",
        took.as_secs_f64(),
        missing.len()
    );
    assert!(
        stale,
        "the router never held node{victim_node}'s path as stale"
    );
    assert!(
        missing.is_empty(),
        "the router's FIB lost node{victim_node} during the pod's restart at {missing:?}"
    );
    for address in [web, api, late] {
        wait_next_hops(&cluster, address, &[1, 2]);
    }

    // ---- 5. a bad ConfigMap edit: Warning Event, announcements unchanged
    let before: Vec<BTreeSet<Ipv4Addr>> = [web, api, late]
        .iter()
        .map(|&a| cluster.next_hops(a))
        .collect();
    let all_nodes: BTreeSet<Ipv4Addr> = (1..=NODES).map(node_address).collect();
    assert!(before.iter().all(|hops| *hops == all_nodes), "{before:?}");
    // Warning Events about the ConfigMap (kubelet's own warnings about pods do not count)
    let warnings = |cluster: &Cluster| {
        cluster
            .get(&[
                "get",
                "events",
                "-n",
                NAMESPACE,
                "--field-selector",
                "type=Warning,involvedObject.kind=ConfigMap,involvedObject.name=herald",
            ])
            .and_then(|e| {
                e["items"].as_array().map(|items| {
                    items
                        .iter()
                        .map(|e| e["count"].as_u64().unwrap_or(1))
                        .sum::<u64>()
                })
            })
            .unwrap_or(0)
    };
    let warnings_before = warnings(&cluster);
    cluster.kubectl(&[
        "patch", "configmap", "-n", NAMESPACE, "herald", "--type=merge", "-p",
        &json!({"data": {"config": "peers:\n- peer-address: not-an-address\n  peer-asn: 64501\n  my-asn: 64500\n"}}).to_string(),
    ]);
    let (_, took) = wait_until_every(
        POLL,
        SAFETY,
        "a Warning Event about the bad ConfigMap",
        || (warnings(&cluster) > warnings_before).then_some(()),
        || format!("{:?}", cluster.get(&["get", "events", "-n", NAMESPACE])),
    );
    println!(
        "Warning Event {:.1} s after the bad edit",
        took.as_secs_f64()
    );
    // the speakers have read the edit too (each logs its refusal): only then is an
    // unchanged router table evidence
    let refused = |cluster: &Cluster| -> Vec<String> {
        ready_pods(cluster, NAMESPACE, "app.kubernetes.io/component=speaker")
            .iter()
            .filter(|(pod, node)| {
                pod_log(cluster, node_index(node), pod).contains("config refused")
            })
            .map(|(pod, _)| pod.clone())
            .collect()
    };
    wait_until_every(
        POLL,
        SAFETY,
        "every speaker to refuse the bad config",
        || (refused(&cluster).len() == NODES).then_some(()),
        || format!("refused by {:?}", refused(&cluster)),
    );
    let after: Vec<BTreeSet<Ipv4Addr>> = [web, api, late]
        .iter()
        .map(|&a| cluster.next_hops(a))
        .collect();
    assert_eq!(before, after, "the announcements stay as they were");
    assert!(cluster.curl(web).is_some(), "the Service still answers");

    // ---- teardown leaves nothing behind: namespaces, state, cgroups
    let (prefix, state) = (cluster.prefix.clone(), cluster.state.clone());
    drop(cluster);
    let namespaces = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let left: Vec<String> = String::from_utf8_lossy(&namespaces.stdout)
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    assert!(!state.exists(), "{} left", state.display());
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
        .expect("/sys/fs/cgroup")
        .flatten()
    {
        for node in 1..=NODES {
            let cgroup = hierarchy
                .path()
                .join(format!("herald-k8s-{prefix}node{node}"));
            assert!(!cgroup.exists(), "{} left", cgroup.display());
        }
    }
}
