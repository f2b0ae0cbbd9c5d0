//! A controller restart keeps every address: the allocator is rebuilt from the Service
//! statuses, holders first, before anything new is allocated.

mod support;

use std::time::Instant;

use herald_testsupport::apiserver::TestNamespace;
use herald_testsupport::wait::eventually;
use support::{Controller, LEASE};

const CONFIG: &str =
    "address-pools:\n- {name: default, protocol: bgp, addresses: ['10.63.0.10-10.63.0.20']}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_every_address_and_new_services_skip_held_ones() {
    let ns = TestNamespace::create("restart").await;
    ns.set_config(CONFIG).await;
    let mut first = Controller::start(&ns.name, "restart-a");
    for name in ["s1", "s2", "s3", "s4"] {
        ns.create_lb(name, 80).await;
        ns.wait_for_ingress(name).await;
    }
    // A hole at .11 and a pinned address above the others.
    ns.delete_service("s2").await;
    ns.create_service(
        "pinned",
        &[],
        serde_json::json!({
            "type": "LoadBalancer", "loadBalancerIP": "10.63.0.15",
            "ports": [{"port": 80, "protocol": "TCP"}]
        }),
    )
    .await;
    assert_eq!(ns.wait_for_ingress("pinned").await, ["10.63.0.15"]);
    let mut before = Vec::new();
    for name in ["s1", "s3", "s4", "pinned"] {
        before.push((name, ns.ingress(name).await));
    }
    assert_eq!(
        before,
        [
            ("s1", vec!["10.63.0.10".to_owned()]),
            ("s3", vec!["10.63.0.12".to_owned()]),
            ("s4", vec!["10.63.0.13".to_owned()]),
            ("pinned", vec!["10.63.0.15".to_owned()]),
        ]
    );

    // Crash: no Lease release. Services created while no controller runs wait.
    first.kill();
    ns.create_lb("late1", 80).await;
    ns.create_lb("late2", 80).await;

    // A different replica starts: it must wait for the Lease to expire (3 s), rebuild from
    // the statuses, and only then allocate.
    let started = Instant::now();
    let second = Controller::start(&ns.name, "restart-b");
    eventually("restart-b holds the Lease", || async {
        (ns.lease_holder(LEASE).await.as_deref() == Some("restart-b")).then_some(())
    })
    .await;
    let late1 = ns.wait_for_ingress("late1").await;
    let late2 = ns.wait_for_ingress("late2").await;
    eprintln!(
        "takeover after a crash (lease 3 s): first allocation {:.2?} after the new replica started",
        started.elapsed()
    );
    let mut late = [late1[0].clone(), late2[0].clone()];
    late.sort();
    assert_eq!(
        late,
        ["10.63.0.11", "10.63.0.14"],
        "the free ones, nothing held"
    );
    for (name, ips) in &before {
        assert_eq!(&ns.ingress(name).await, ips, "{name} kept its address");
    }
    assert!(
        second
            .log()
            .contains("allocator rebuilt from Service statuses"),
        "{}",
        second.log()
    );
    second
        .wait_for_metric(
            "herald_addresses_in_use{pool=\"default\",family=\"ipv4\"}",
            6.0,
        )
        .await;
}
