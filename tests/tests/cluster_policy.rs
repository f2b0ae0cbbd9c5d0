//! `externalTrafficPolicy: Cluster`: every node announces while any endpoint serves, the
//! router spreads traffic over all of them (ECMP), and the client gets answers.

use std::time::Duration;

use herald_e2e::{Family, Lab, LabOptions, Policy};
use herald_testsupport::wait::ms;

const SAFETY: Duration = Duration::from_secs(30);

#[test]
fn cluster_service_is_announced_by_every_node_and_reachable_through_ecmp() {
    let lab = Lab::start("cluster_ecmp", LabOptions::default());
    // One endpoint, on node1 only: with Cluster policy every node still announces.
    lab.service("web", Policy::Cluster, Family::Ipv4, &[1]);
    let address = lab.address("web", Family::Ipv4);
    let all = Lab::next_hops(&lab.all_nodes(), address);

    let took = lab.wait_fib(address, &all, SAFETY);
    println!(
        "web {address}: router FIB has all {} next hops after {}",
        all.len(),
        ms(took)
    );
    assert_eq!(
        lab.rib_next_hops(address),
        all,
        "FRR's selected paths (multipath)"
    );
    let rib = lab.rib(Family::Ipv4);
    let paths = &rib[&format!("{address}/32")];
    assert_eq!(paths.len(), 3, "one path per node: {paths:?}");
    assert!(paths.iter().all(|p| p.as_path == "64500"), "{paths:?}");

    let answers = lab.curl_nodes(address, 24);
    println!("24 GETs from the client through the router: {answers:?}");
    assert_eq!(answers.values().sum::<usize>(), 24);
    assert!(
        answers.len() >= 2,
        "24 connections with different source ports all hashed to one node: {answers:?}"
    );

    // Every speaker's /status says it announces the address, and why not nothing else.
    for node in lab.all_nodes() {
        let status = lab.status(node);
        let announced = status["announced"].to_string();
        assert!(
            announced.contains(&address.to_string()),
            "node{node}: {status}"
        );
        assert_eq!(status["source_errors"], serde_json::json!([]), "node{node}");
        let metrics = lab.metrics(node);
        for line in [
            "herald_bgp_session_up{peer=\"172.30.0.1\"} 1",
            "herald_bgp_session_up{peer=\"fd00:30::1\"} 1",
            "herald_bgp_announced_prefixes{peer=\"172.30.0.1\"} 1",
            "herald_bgp_announced_prefixes{peer=\"fd00:30::1\"} 0",
            "herald_speaker_announced_services 1",
        ] {
            assert!(
                metrics.contains(line),
                "node{node} /metrics lacks {line}:\n{metrics}"
            );
        }
    }
}

#[test]
fn cluster_service_without_serving_endpoints_is_withdrawn_everywhere() {
    let lab = Lab::start("cluster_none", LabOptions::default());
    lab.service("web", Policy::Cluster, Family::Ipv4, &[2]);
    let address = lab.address("web", Family::Ipv4);
    let all = Lab::next_hops(&lab.all_nodes(), address);
    lab.wait_fib(address, &all, SAFETY);

    lab.service("web", Policy::Cluster, Family::Ipv4, &[]);
    let took = lab.wait_fib(address, &Default::default(), SAFETY);
    println!(
        "no endpoints -> route gone from the router FIB after {} (includes the 500 ms poll)",
        ms(took)
    );
    assert!(lab.rib_next_hops(address).is_empty());
    assert!(lab.curl(address).is_err(), "no route, no answer");
    let status = lab.status(1);
    let reasons = status["not_announced"].to_string();
    assert!(reasons.contains("no_serving_endpoint"), "{status}");

    // Endpoints back: announced again by all.
    lab.service("web", Policy::Cluster, Family::Ipv4, &[3]);
    let took = lab.wait_fib(address, &all, SAFETY);
    println!("endpoint back -> all next hops again after {}", ms(took));
    lab.curl(address).unwrap_or_else(|e| panic!("{e}"));
}
