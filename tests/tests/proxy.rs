//! Herald's own proxy end to end: client -> FRR router -> node -> the speaker's proxy ->
//! backend pod, for `Cluster` and `Local` policy, IPv4 and IPv6, TLS terminated by Herald
//! with the lab's certificate (pool `web`, `proxy.enabled`, a bundle file). The node has no
//! route of its own for the pool: the speaker makes each address local itself. And a
//! proxied address is announced only while a backend is healthy.

use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use herald_e2e::{Family, Lab, LabOptions};
use herald_testsupport::wait::ms;

const SAFETY: Duration = Duration::from_secs(30);
/// The proxied Services' plain port (backend.py already answers on port 80 of every node).
const PLAIN_PORT: &str = "8000";
const NAME: &str = "web.herald.test";

fn host(address: IpAddr) -> String {
    match address {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

fn plain(lab: &Lab, address: IpAddr) -> Result<String, String> {
    lab.client_curl(&[format!("http://{}:{PLAIN_PORT}/", host(address))])
}

/// HTTPS to `address` by the certificate's name, verified against the lab's CA.
fn tls(lab: &Lab, address: IpAddr) -> Result<String, String> {
    let ca = lab.state_dir().join("certs/ca.pem");
    lab.client_curl(&[
        "--cacert".into(),
        ca.display().to_string(),
        "--resolve".into(),
        format!("{NAME}:443:{}", host(address)),
        format!("https://{NAME}/"),
    ])
}

/// The pod that answered (`pod=` of backend.py's answer).
fn pod(body: &str) -> &str {
    body.split_whitespace()
        .find_map(|f| f.strip_prefix("pod="))
        .unwrap_or("")
}

#[test]
fn proxied_service_is_served_by_herald_with_tls_through_the_router_for_cluster_and_local() {
    let lab = Lab::start("proxy_e2e", LabOptions::default());
    lab.ctl(&[
        "service",
        "web",
        "--pool",
        "web",
        "--family",
        "dual",
        "--endpoints",
        "node1,node2",
        "--tls",
        "--port",
        PLAIN_PORT,
    ]);
    for family in [Family::Ipv4, Family::Ipv6] {
        let address = lab.address("web", family);
        let all = Lab::next_hops(&lab.all_nodes(), address);
        let took = lab.wait_fib(address, &all, SAFETY);
        println!("web {address}: announced by all 3 nodes after {}", ms(took));

        let body = plain(&lab, address).expect("plain TCP through Herald's proxy");
        assert!(["pod-node1", "pod-node2"].contains(&pod(&body)), "{body}");
        // New connections hash over the 3 nodes; each node's proxy spreads over both pods.
        let mut pods = std::collections::BTreeSet::new();
        for _ in 0..12 {
            let body = tls(&lab, address).expect("HTTPS terminated by Herald");
            pods.insert(pod(&body).to_owned());
        }
        println!("web {address}: 12 HTTPS GETs answered by {pods:?}");
        assert_eq!(
            pods,
            ["pod-node1", "pod-node2"].map(str::to_owned).into(),
            "both endpoints serve"
        );
    }

    // node3 runs no endpoint and still proxies (Cluster): its listeners and backends.
    let status = lab.status(3);
    let listeners = status["proxy"]["listeners"]
        .as_array()
        .expect("listeners")
        .clone();
    assert_eq!(listeners.len(), 4, "2 addresses x 2 ports: {listeners:?}");
    for listener in &listeners {
        assert_eq!(
            listener["bind_error"],
            serde_json::Value::Null,
            "{listener}"
        );
        // Both pods by both their addresses: the proxy may cross families.
        assert_eq!(
            listener["backends"].as_array().map(Vec::len),
            Some(4),
            "{listener}"
        );
    }
    let certificates = status["proxy"]["certificates"].to_string();
    assert!(
        certificates.contains("\"state\":\"loaded\"") && certificates.contains(NAME),
        "{certificates}"
    );
    // Metrics: the 24 HTTPS connections were counted by the nodes that took them.
    let accepted: u64 = lab
        .all_nodes()
        .into_iter()
        .flat_map(|node| {
            lab.metrics(node)
                .lines()
                .filter(|l| {
                    l.starts_with("herald_proxy_connections_total{")
                        && l.contains("port=\"443\"")
                        && l.contains("kind=\"accepted\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum();
    assert_eq!(accepted, 24, "HTTPS connections counted");
    let metrics = lab.metrics(3);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("herald_proxy_certificate_loaded{") && l.ends_with(" 1")),
        "{metrics}"
    );
    // The node has the address as a local route marked as Herald's (protocol 72).
    let v4 = lab.address("web", Family::Ipv4);
    let routes = Command::new("ip")
        .args([
            "-n",
            &lab.node_ns(3),
            "route",
            "show",
            "table",
            "local",
            "proto",
            "72",
        ])
        .output()
        .expect("ip route");
    assert!(
        String::from_utf8_lossy(&routes.stdout).contains(&v4.to_string()),
        "{}",
        String::from_utf8_lossy(&routes.stdout)
    );

    // A broken bundle (the key cut off) is refused and reported; the last good certificate
    // stays in use.
    let bundle = lab.state_dir().join("certs/web.pem");
    let good = std::fs::read_to_string(&bundle).expect("bundle");
    let chain_only: String = good
        .split_inclusive('\n')
        .take_while(|line| !line.contains("PRIVATE KEY"))
        .collect();
    std::fs::write(&bundle, chain_only).expect("write the broken bundle");
    herald_testsupport::wait::wait_until(
        SAFETY,
        "node1 reports the refused bundle",
        || {
            let certificates = lab.status(1)["proxy"]["certificates"].clone();
            (certificates[0]["last_failure"].is_string() && certificates[0]["state"] == "loaded")
                .then_some(())
        },
        || lab.status(1)["proxy"]["certificates"].to_string(),
    );
    assert!(
        lab.metrics(1)
            .lines()
            .any(|l| l.starts_with("herald_proxy_certificate_refused{") && l.ends_with(" 1")),
        "herald_proxy_certificate_refused"
    );
    tls(&lab, v4).expect("HTTPS goes on with the last good certificate");
    std::fs::write(&bundle, good).expect("restore the bundle");

    // Local policy: only node2, which runs the endpoint, announces and serves.
    lab.ctl(&[
        "service",
        "solo",
        "--pool",
        "web",
        "--policy",
        "Local",
        "--family",
        "ipv4",
        "--endpoints",
        "node2",
        "--tls",
        "--port",
        PLAIN_PORT,
    ]);
    let solo = lab.address("solo", Family::Ipv4);
    let took = lab.wait_fib(solo, &Lab::next_hops(&[2], solo), SAFETY);
    println!(
        "solo {solo} (Local): announced by node2 only after {}",
        ms(took)
    );
    for _ in 0..4 {
        let body = tls(&lab, solo).expect("HTTPS to the Local Service");
        assert_eq!(pod(&body), "pod-node2", "{body}");
    }
}

/// A backend pod started by hand in a node namespace (backend.py on another port).
struct Backend(Child);

impl Backend {
    fn start(lab: &Lab, node: usize, pod: &str, address: &str, port: u16) -> Self {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/e2e/backend.py");
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.node_ns(node), "python3"])
            .arg(script)
            .args([
                &format!("node{node}"),
                "--pod",
                &format!("{pod}={address}"),
                "--pod-port",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start backend.py");
        Backend(child)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn proxied_address_is_announced_only_while_a_backend_is_healthy() {
    let lab = Lab::start("proxy_health", LabOptions::default());
    // Its one endpoint's port (9090) has no listener yet; a second Service that can be
    // served is created at the same time, so its route shows the nodes' updates arrived.
    lab.ctl(&[
        "service",
        "late",
        "--pool",
        "web",
        "--family",
        "ipv4",
        "--endpoints",
        "node1",
        "--target-port",
        "9090",
        "--port",
        PLAIN_PORT,
    ]);
    lab.ctl(&[
        "service",
        "ready",
        "--pool",
        "web",
        "--family",
        "ipv4",
        "--endpoints",
        "node1",
        "--port",
        PLAIN_PORT,
    ]);
    let late = lab.address("late", Family::Ipv4);
    let ready = lab.address("ready", Family::Ipv4);
    let all = Lab::next_hops(&lab.all_nodes(), ready);
    lab.wait_fib(ready, &all, SAFETY);
    for node in lab.all_nodes() {
        herald_testsupport::wait::wait_until(
            SAFETY,
            &format!("node{node} withholds {late}"),
            || {
                let withheld = lab.status(node)["proxy"]["withheld"].to_string();
                (withheld.contains(&late.to_string()) && withheld.contains("no_healthy_backend"))
                    .then_some(())
            },
            || lab.status(node)["proxy"].to_string(),
        );
    }
    assert!(
        lab.fib_next_hops(late).is_empty() && lab.rib_next_hops(late).is_empty(),
        "no healthy backend: {late} must not be announced"
    );

    // The backend comes up: every node's health check sees it and announces.
    let mut backend = Some(Backend::start(&lab, 1, "pod-late", "10.244.1.10", 9090));
    let took = lab.wait_fib(late, &Lab::next_hops(&lab.all_nodes(), late), SAFETY);
    println!(
        "late {late}: announced {} after its backend came up",
        ms(took)
    );
    let body = plain(&lab, late).expect("served once announced");
    assert_eq!(pod(&body), "pod-late", "{body}");

    // It dies: the route is withdrawn (fall 2 x 300 ms checks).
    drop(backend.take());
    let took = lab.wait_fib(late, &Default::default(), SAFETY);
    println!("late {late}: withdrawn {} after its backend died", ms(took));
    assert_eq!(
        lab.fib_next_hops(ready),
        all,
        "the other Service stays announced"
    );
}
