//! Weighted ECMP by local endpoint count (`link-bandwidth: true`): a `Local` Service with
//! one endpoint on node1 and three on node2 reaches FRR with link bandwidths 1:3, zebra
//! installs next-hop weights 1:3 in the router's kernel, and new connections from the
//! client split about 25/75; when the endpoint counts change the weights follow.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use herald_e2e::{Family, Lab, LabOptions, Policy};
use herald_testsupport::wait::{ms, wait_until};

const SAFETY: Duration = Duration::from_secs(30);
const CONNECTIONS: usize = 2000;

/// The lab's default pool with `link-bandwidth: true`.
fn enable_link_bandwidth(lab: &Lab) {
    let config = lab.read_file("config.yaml");
    let weighted = config.replacen(
        "- name: default\n  protocol: bgp\n",
        "- name: default\n  protocol: bgp\n  bgp-advertisements:\n  - {link-bandwidth: true}\n",
        1,
    );
    assert_ne!(config, weighted, "the lab config has the default pool");
    lab.write_file("config.yaml", &weighted);
}

/// Service `api` (`Local`, IPv4) with `counts[i]` serving endpoints on node i+1. The
/// lab's nodes answer on the Service address themselves, so the answering node is the
/// next hop the router chose.
fn write_service(lab: &Lab, counts: &[usize]) {
    let nodes: Vec<usize> = (1..=counts.len()).filter(|n| counts[n - 1] > 0).collect();
    lab.service("api", Policy::Local, Family::Ipv4, &nodes);
    let manifest = lab.read_file("api.yaml");
    let (head, _) = manifest
        .rsplit_once("\nendpoints:")
        .expect("the manifest lists endpoints");
    let mut endpoints = String::from("\nendpoints:\n");
    for (index, &count) in counts.iter().enumerate() {
        let node = index + 1;
        for pod in 0..count {
            endpoints.push_str(&format!(
                "- addresses: [\"10.244.{node}.{}\"]\n  nodeName: node{node}\n  \
                 targetRef: {{kind: Pod, namespace: default, name: api-node{node}-{pod}}}\n  \
                 conditions: {{ready: true, serving: true, terminating: false}}\n",
                10 + pod
            ));
        }
    }
    lab.write_file("api.yaml", &format!("{head}{endpoints}"));
}

/// Waits until the router's kernel route to `address` has next hops with weights in the
/// ratio of `counts` (node i+1 has weight proportional to `counts[i]`; FRR gives each next
/// hop its whole percent of the total bandwidth, so 1:1:2 is 25:25:50 but 3:1:2 is
/// 50:16:33); returns the weights and how long that took.
fn wait_weights(lab: &Lab, address: IpAddr, counts: &[usize]) -> (BTreeMap<IpAddr, u64>, Duration) {
    let want: BTreeMap<IpAddr, usize> = counts
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .map(|(i, count)| (Lab::node_address(i + 1, Family::Ipv4), *count))
        .collect();
    let total: usize = want.values().sum();
    wait_until(
        SAFETY,
        &format!("router FIB weights of {address} in the ratio {want:?}"),
        || {
            let weights = lab.fib_weights(address);
            let weight_sum: u64 = weights.values().sum();
            let proportional = weights.len() == want.len()
                && want.iter().all(|(hop, count)| {
                    weights.get(hop).is_some_and(|w| {
                        let share = *w as f64 / weight_sum as f64;
                        (share - *count as f64 / total as f64).abs() < 0.015
                    })
                });
            proportional.then_some(weights)
        },
        || format!("{:?}", lab.fib_weights(address)),
    )
}

/// `count` new TCP connections from the client to `address`:80, each a GET; which node
/// answered how often.
fn connections(lab: &Lab, address: IpAddr, count: usize) -> BTreeMap<String, usize> {
    const SCRIPT: &str = r#"
import collections, json, socket, sys
address, count = sys.argv[1], int(sys.argv[2])
answers = collections.Counter()
for _ in range(count):
    with socket.create_connection((address, 80), timeout=3) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    answers[data.decode().split("node=", 1)[1].split()[0]] += 1
print(json.dumps(answers))
"#;
    let output = Command::new("ip")
        .args(["netns", "exec", &lab.client_ns(), "python3", "-c", SCRIPT])
        .arg(address.to_string())
        .arg(count.to_string())
        .output()
        .expect("run python3 in the client namespace");
    assert!(
        output.status.success(),
        "client connections failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("answers as JSON")
}

/// Asserts node1's share of `answers` lies within 5 percentage points of `expected`.
/// The issue asks for a split within 10 % of 25/75; read as percentage points that is
/// met with room, while 10 % of the share itself (2.5 points) is only 2.6 standard
/// deviations of a 2,000-connection binomial and would fail about one run in a hundred.
/// 5 points is over 5 deviations, and still far from an unweighted 50/50.
fn assert_share(answers: &BTreeMap<String, usize>, expected: f64) {
    let total: usize = answers.values().sum();
    assert_eq!(total, CONNECTIONS, "every connection answered: {answers:?}");
    let node1 = *answers.get("node1").unwrap_or(&0) as f64 / total as f64;
    println!(
        "{CONNECTIONS} connections: {answers:?}, node1 {:.1} % (expected {:.0} % +- 5 points)",
        node1 * 100.0,
        expected * 100.0
    );
    assert!(
        (node1 - expected).abs() <= 0.05,
        "node1 got {:.1} % of the connections, expected {:.0} % +- 5 points: {answers:?}",
        node1 * 100.0,
        expected * 100.0
    );
}

#[test]
fn local_endpoint_counts_weigh_the_router_s_ecmp_and_weights_follow_changes() {
    let lab = Lab::start("wecmp", LabOptions::default());
    enable_link_bandwidth(&lab);
    write_service(&lab, &[1, 3]);
    let address = lab.address("api", Family::Ipv4);

    let (weights, took) = wait_weights(&lab, address, &[1, 3]);
    println!(
        "api {address}: router FIB weights {weights:?} after {}",
        ms(took)
    );
    let rib = lab.vtysh(&format!("show bgp ipv4 unicast {address}/32 json"));
    for bandwidth in [
        "LB:64500:125000 (1.000 Mbps)",
        "LB:64500:375000 (3.000 Mbps)",
    ] {
        assert!(
            rib.contains(bandwidth),
            "FRR's paths carry {bandwidth}: {rib}"
        );
    }
    assert_share(&connections(&lab, address, CONNECTIONS), 0.25);

    // Two pods move from node2 to node1: 3 on node1, 1 on node2.
    write_service(&lab, &[3, 1]);
    let (weights, took) = wait_weights(&lab, address, &[3, 1]);
    println!(
        "endpoints 3:1: router FIB weights {weights:?} after {}",
        ms(took)
    );
    assert_share(&connections(&lab, address, CONNECTIONS), 0.75);

    // A third node with two pods joins in: 3:1:2.
    write_service(&lab, &[3, 1, 2]);
    let (weights, took) = wait_weights(&lab, address, &[3, 1, 2]);
    println!(
        "endpoints 3:1:2: router FIB weights {weights:?} after {}",
        ms(took)
    );

    // None of this reset a session.
    for (peer, session) in lab.sessions() {
        assert_eq!(
            session.connections_established, 1,
            "{peer} was reset: {session:?}"
        );
    }
}
