//! L2 mode end to end: Services of the lab's `layer2` pool `l2` (addresses on the node
//! segment itself, 172.30.0.200-250 and fd00:30::200-250) are held with VRRP by the
//! speakers. Exactly one node has the address on its eth0; the client reaches it through
//! the router, which resolves it on the segment (ARP / NDP). A master killed with
//! SIGKILL is replaced by a backup and the client reaches the new one; a restarted speaker
//! removes the address it left behind; a SIGTERM hands over at once (priority 0). With
//! `Local` policy the master is the node with the endpoint and follows it. A pool whose
//! interface no node has is reported (`/status`, `herald_l2_problems`), not guessed.

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use herald_e2e::lab::answering_node;
use herald_e2e::{Family, Lab, LabOptions};
use herald_testsupport::wait::{ms, wait_until};
use serde_json::Value;

const SAFETY: Duration = Duration::from_secs(30);

/// Writes Service `default/NAME` in pool `l2` (through `ctl.sh service --pool l2`).
fn l2_service(lab: &Lab, name: &str, policy: &str, family: &str, endpoints: &str) {
    lab.ctl(&[
        "service",
        name,
        "--pool",
        "l2",
        "--policy",
        policy,
        "--family",
        family,
        "--endpoints",
        endpoints,
    ]);
}

/// The nodes whose eth0 carries `address` now.
fn holders(lab: &Lab, address: IpAddr) -> Vec<usize> {
    lab.all_nodes()
        .into_iter()
        .filter(|&node| {
            let output = Command::new("ip")
                .args([
                    "-n",
                    &lab.node_ns(node),
                    "-o",
                    "addr",
                    "show",
                    "dev",
                    "eth0",
                ])
                .output()
                .expect("run ip addr");
            let text = String::from_utf8_lossy(&output.stdout);
            text.split_whitespace()
                .any(|word| word.split('/').next() == Some(address.to_string().as_str()))
        })
        .collect()
}

/// Waits until exactly `want` hold `address`; returns how long that took.
fn wait_holders(lab: &Lab, address: IpAddr, want: &[usize]) -> Duration {
    wait_until(
        SAFETY,
        &format!("{address} held by exactly {want:?}"),
        || (holders(lab, address) == want).then_some(()),
        || format!("{:?}", holders(lab, address)),
    )
    .1
}

/// The node that must win `address`'s VRID among `nodes` (whose speakers run): the
/// highest priority their `/status` lists, ties to the higher primary address (RFC 5798;
/// for IPv6 the link-local ones follow the nodes' MACs, which follow their index).
fn expected_master(lab: &Lab, address: IpAddr, nodes: &[usize]) -> usize {
    let priorities: Vec<(u64, usize)> = wait_until(
        SAFETY,
        &format!("an instance for {address} on nodes {nodes:?}"),
        || {
            nodes
                .iter()
                .map(|&n| Some((instance(&lab.status(n), address)?["priority"].as_u64()?, n)))
                .collect::<Option<Vec<_>>>()
        },
        || {
            nodes
                .iter()
                .map(|&n| format!("node{n}: {}", lab.status(n)["l2"]))
                .collect::<Vec<_>>()
                .join("; ")
        },
    )
    .0;
    priorities
        .into_iter()
        .max()
        .map(|(_, n)| n)
        .expect("some node")
}

/// Waits until `want` holds `address` (alone: `others` must not), is master in its
/// `/status` and the client's requests reach it; returns how long that took.
fn wait_master(lab: &Lab, address: IpAddr, want: usize, alone: bool) -> Duration {
    wait_until(
        SAFETY,
        &format!("node{want} master of {address}, answering the client"),
        || {
            let holders = holders(lab, address);
            let held = if alone {
                holders == [want]
            } else {
                holders.contains(&want)
            };
            let master =
                instance(&lab.status(want), address).is_some_and(|i| i["state"] == "master");
            let body = lab.curl(address).ok()?;
            let answered = answering_node(&body) == Some(format!("node{want}"));
            (held && master && answered).then_some(())
        },
        || {
            format!(
                "holders {:?}, answer {:?}",
                holders(lab, address),
                lab.curl(address)
            )
        },
    )
    .1
}

/// The `/status` entry of the VRRP instance of node `node` that holds `address`.
fn instance(status: &Value, address: IpAddr) -> Option<Value> {
    status["l2"]["instances"]
        .as_array()?
        .iter()
        .find(|i| {
            i["addresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a.as_str() == Some(&address.to_string())))
        })
        .cloned()
}

fn answered_by(lab: &Lab, address: IpAddr) -> String {
    let body = lab.curl(address).unwrap_or_else(|e| panic!("{e}"));
    answering_node(&body).unwrap_or_else(|| panic!("odd answer {body:?}"))
}

#[test]
fn layer2_cluster_service_is_held_by_one_node_and_fails_over_when_the_master_dies() {
    let lab = Lab::start("l2_cluster", LabOptions::default());
    l2_service(&lab, "web", "Cluster", "dual", "all");
    let v4 = lab.address("web", Family::Ipv4);
    let v6 = lab.address("web", Family::Ipv6);
    assert_eq!(v4, "172.30.0.200".parse::<IpAddr>().expect("ip"));
    assert_eq!(v6, "fd00:30::200".parse::<IpAddr>().expect("ip"));

    let all = lab.all_nodes();
    let mut master4 = 0;
    for address in [v4, v6] {
        let holder = expected_master(&lab, address, &all);
        let took = wait_master(&lab, address, holder, true);
        println!("{address}: held by node{holder} alone after {}", ms(took));
        if address.is_ipv4() {
            master4 = holder;
        }
        let master = instance(&lab.status(holder), address).expect("the master's instance");
        assert_eq!(master["vrid"], 1, "offset 0 of the pool's family is VRID 1");
        assert_eq!(master["advert_interval_ms"], 100);
        for other in all.iter().copied().filter(|n| *n != holder) {
            let backup = instance(&lab.status(other), address)
                .unwrap_or_else(|| panic!("node{other} lists no instance for {address}"));
            assert_eq!(backup["state"], "backup", "node{other}: {backup}");
            if address.is_ipv4() {
                assert_eq!(
                    backup["master"],
                    Lab::node_address(holder, Family::Ipv4).to_string(),
                    "node{other} obeys node{holder}"
                );
            }
        }
        let family = if address.is_ipv4() { "ipv4" } else { "ipv6" };
        let series = format!(
            "herald_vrrp_state{{interface=\"eth0\",family=\"{family}\",vrid=\"1\",state=\"master\"}} 1"
        );
        assert!(lab.metrics(holder).contains(&series), "{series}");
        // A backup hears the master's adverts on its interface's one receive socket.
        let backup = all
            .iter()
            .copied()
            .find(|n| *n != holder)
            .expect("a backup");
        let segment = lab.status(backup)["l2"]["segments"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["family"] == family).cloned())
            .unwrap_or_else(|| panic!("node{backup} reports no {family} segment"));
        assert!(
            segment["received"].as_u64().unwrap_or(0) > 0,
            "node{backup}: {segment}"
        );
        let sent = instance(&lab.status(holder), address).expect("the master's instance");
        assert!(sent["adverts_sent"].as_u64().unwrap_or(0) > 0, "{sent}");
        let heard = instance(&lab.status(backup), address).expect("the backup's instance");
        assert!(
            heard["adverts_received"].as_u64().unwrap_or(0) > 0,
            "{heard}"
        );
    }

    // The IPv4 master's speaker dies: its address stays on its eth0 (nobody removes it),
    // the best backup takes over and announces itself with gratuitous ARP, and the router
    // sends the client's requests there.
    let dead = master4;
    let rest: Vec<usize> = all.iter().copied().filter(|n| *n != dead).collect();
    let next4 = expected_master(&lab, v4, &rest);
    let next6 = expected_master(&lab, v6, &rest);
    lab.signal_speaker(dead, "KILL");
    let took = wait_master(&lab, v4, next4, false);
    println!(
        "SIGKILL of node{dead}'s speaker: {v4} served by node{next4} after {}",
        ms(took)
    );
    lab.wait_speaker_exit(dead, SAFETY);
    let took = wait_master(&lab, v6, next6, false);
    println!("{v6} served by node{next6} {} after the kill", ms(took));

    // Restarted, the speaker clears what it left behind: one holder again.
    lab.start_speaker(dead);
    let holder = expected_master(&lab, v4, &all);
    let took = wait_master(&lab, v4, holder, true);
    println!(
        "node{dead} restarted: {v4} held by node{holder} alone after {}",
        ms(took)
    );
    assert!(
        lab.speaker_log(dead)
            .contains("removed addresses a previous run left behind"),
        "node{dead} removes its stale {v4}"
    );

    // SIGTERM: priority 0 and the address removed, a backup takes over at once.
    let rest: Vec<usize> = all.iter().copied().filter(|n| *n != holder).collect();
    let next = expected_master(&lab, v4, &rest);
    lab.signal_speaker(holder, "TERM");
    let took = wait_master(&lab, v4, next, true);
    println!(
        "SIGTERM of node{holder}'s speaker: {v4} held by node{next} alone after {}",
        ms(took)
    );
    lab.wait_speaker_exit(holder, SAFETY);
    assert_eq!(holders(&lab, v4), [next], "the stopped node removed {v4}");
}

#[test]
fn layer2_local_service_is_held_by_the_node_with_the_endpoint_and_follows_it() {
    let lab = Lab::start("l2_local", LabOptions::default());
    l2_service(&lab, "api", "Local", "dual", "node2");
    let addresses = [
        lab.address("api", Family::Ipv4),
        lab.address("api", Family::Ipv6),
    ];

    for address in addresses {
        let took = wait_holders(&lab, address, &[2]);
        println!(
            "{address} (Local, endpoint on node2): held by node2 after {}",
            ms(took)
        );
        assert_eq!(answered_by(&lab, address), "node2");
        for other in [1, 3] {
            let status = lab.status(other);
            assert!(
                instance(&status, address).is_none(),
                "node{other} has no endpoint and runs no instance: {}",
                status["l2"]
            );
        }
    }

    // The pod moves to node3: node2 stops its instances (priority 0), node3 takes over.
    l2_service(&lab, "api", "Local", "dual", "node3");
    for address in addresses {
        let took = wait_holders(&lab, address, &[3]);
        println!(
            "endpoint node2 -> node3: {address} held by node3 after {}",
            ms(took)
        );
        assert_eq!(answered_by(&lab, address), "node3");
        let status = lab.status(3);
        let master = instance(&status, address).expect("node3's instance");
        assert_eq!(master["state"], "master", "{master}");
        assert!(
            status["l2"]["problems"]
                .as_array()
                .is_some_and(Vec::is_empty)
        );
        assert!(instance(&lab.status(2), address).is_none(), "node2 stopped");
    }

    // A pool whose interface no node has: reported, never guessed.
    let config = lab.read_file("config.yaml");
    lab.write_file(
        "config.yaml",
        &format!(
            "{config}- name: far\n  protocol: layer2\n  auto-assign: false\n  addresses: [172.30.2.0/30]\n  interface: eth9\n"
        ),
    );
    lab.ctl(&["service", "lost", "--pool", "far", "--endpoints", "all"]);
    let lost = lab.address("lost", Family::Ipv4);
    let (problem, took) = wait_until(
        SAFETY,
        "node1 reports the missing interface",
        || {
            let status = lab.status(1);
            status["l2"]["problems"]
                .as_array()?
                .iter()
                .find(|p| p["kind"] == "interface_not_found")
                .cloned()
        },
        || lab.status(1)["l2"].to_string(),
    );
    println!(
        "{lost}: problem reported after {}: {}",
        ms(took),
        problem["message"]
    );
    assert!(
        problem["message"]
            .as_str()
            .is_some_and(|m| m.contains("eth9")),
        "{problem}"
    );
    assert!(
        lab.metrics(1)
            .contains("herald_l2_problems{problem=\"interface_not_found\"} 1")
    );
    assert!(holders(&lab, lost).is_empty(), "nobody holds {lost}");
    assert_eq!(
        holders(&lab, addresses[0]),
        [3],
        "the other pool is untouched"
    );
}
