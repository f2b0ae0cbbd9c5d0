//! `externalTrafficPolicy: Local`: only nodes with a serving endpoint announce; moving
//! the endpoint (rewriting the EndpointSlice file) moves the next hop; no endpoint left
//! withdraws the route.

use std::time::Duration;

use herald_e2e::lab::answering_node;
use herald_e2e::{Family, Lab, LabOptions, Policy};
use herald_testsupport::wait::ms;

const SAFETY: Duration = Duration::from_secs(30);

#[test]
fn local_service_is_announced_only_where_its_endpoints_run_and_follows_them() {
    let lab = Lab::start("local_moves", LabOptions::default());
    lab.service("api", Policy::Local, Family::Ipv4, &[2]);
    let address = lab.address("api", Family::Ipv4);

    let took = lab.wait_fib(address, &Lab::next_hops(&[2], address), SAFETY);
    println!(
        "api {address}: router FIB via node2 only after {}",
        ms(took)
    );
    assert_eq!(lab.rib_next_hops(address), Lab::next_hops(&[2], address));
    let rib = lab.rib(Family::Ipv4);
    assert_eq!(
        rib[&format!("{address}/32")].len(),
        1,
        "only node2 sends a path"
    );
    let body = lab.curl(address).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answering_node(&body).as_deref(), Some("node2"), "{body}");
    let status = lab.status(1);
    assert!(
        status["not_announced"]
            .to_string()
            .contains("no_serving_endpoint_on_node"),
        "node1 says why it does not announce: {status}"
    );

    // The pod moves to node3: rewrite the EndpointSlice file.
    lab.service("api", Policy::Local, Family::Ipv4, &[3]);
    let took = lab.wait_fib(address, &Lab::next_hops(&[3], address), SAFETY);
    println!(
        "endpoint node2 -> node3: router FIB via node3 only after {} (file write -> FIB, includes the speakers' 500 ms poll)",
        ms(took)
    );
    let body = lab.curl(address).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answering_node(&body).as_deref(), Some("node3"), "{body}");

    // A second replica on node1: both announce.
    lab.service("api", Policy::Local, Family::Ipv4, &[1, 3]);
    let took = lab.wait_fib(address, &Lab::next_hops(&[1, 3], address), SAFETY);
    println!(
        "replica added on node1: ECMP node1+node3 after {}",
        ms(took)
    );
    let answers = lab.curl_nodes(address, 16);
    println!("16 GETs: {answers:?}");
    assert!(
        answers.keys().all(|n| n == "node1" || n == "node3"),
        "{answers:?}"
    );

    // No endpoints at all: withdrawn everywhere.
    lab.service("api", Policy::Local, Family::Ipv4, &[]);
    let took = lab.wait_fib(address, &Default::default(), SAFETY);
    println!(
        "no endpoints: route withdrawn from the router FIB after {}",
        ms(took)
    );
    assert!(lab.rib_next_hops(address).is_empty());
    assert!(lab.curl(address).is_err());

    // Nothing of this reset a session: FRR counts one connection per peer.
    for (peer, session) in lab.sessions() {
        assert_eq!(session.state, "Established", "{peer}");
        assert_eq!(
            session.connections_established, 1,
            "{peer} was reset: {session:?}"
        );
    }
}

#[test]
fn local_endpoint_that_is_not_ready_is_not_announced() {
    let lab = Lab::start("local_notready", LabOptions::default());
    lab.service("api", Policy::Local, Family::Ipv4, &[1]);
    let address = lab.address("api", Family::Ipv4);
    lab.wait_fib(address, &Lab::next_hops(&[1], address), SAFETY);

    // The pod on node1 stops being ready (and is not terminating-but-serving).
    let manifest = lab.read_file("api.yaml");
    let not_ready = manifest.replace(
        "conditions: {ready: true, serving: true, terminating: false}",
        "conditions: {ready: false, serving: false, terminating: false}",
    );
    assert_ne!(manifest, not_ready, "the manifest has the conditions line");
    lab.write_file("api.yaml", &not_ready);
    let took = lab.wait_fib(address, &Default::default(), SAFETY);
    println!("endpoint not ready: route withdrawn after {}", ms(took));

    // Terminating but still serving counts as serving (DESIGN section 5).
    let terminating = manifest.replace(
        "conditions: {ready: true, serving: true, terminating: false}",
        "conditions: {ready: false, serving: true, terminating: true}",
    );
    lab.write_file("api.yaml", &terminating);
    let took = lab.wait_fib(address, &Lab::next_hops(&[1], address), SAFETY);
    println!(
        "endpoint terminating but serving: announced again after {}",
        ms(took)
    );
}
