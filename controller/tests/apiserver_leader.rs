//! Two replicas: only the Lease holder writes; on SIGTERM it releases the Lease and the
//! other takes over at once.

mod support;

use std::time::Instant;

use support::{Controller, LEASE, TestNamespace, eventually};

const CONFIG: &str =
    "address-pools:\n- {name: default, protocol: bgp, addresses: ['10.64.0.10-10.64.0.20']}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_writes_and_the_follower_takes_over_on_sigterm() {
    let ns = TestNamespace::create("leader").await;
    ns.set_config(CONFIG).await;
    let mut first = Controller::start(&ns.name, "leader-a");
    eventually("leader-a holds the Lease", || async {
        (ns.lease_holder(LEASE).await.as_deref() == Some("leader-a")).then_some(())
    })
    .await;
    first.wait_for_metric("herald_leader", 1.0).await;
    let second = Controller::start(&ns.name, "leader-b");
    second.wait_for_metric("herald_config_loaded", 1.0).await;
    assert_eq!(second.metric("herald_leader").await, Some(0.0));
    assert_eq!(
        second.admin_get("/readyz").await.0,
        200,
        "a follower is ready too"
    );

    ns.create_lb("one", 80).await;
    assert_eq!(ns.wait_for_ingress("one").await, ["10.64.0.10"]);
    let events = ns.events_about("Service", "one", "IPAllocated").await;
    let instances: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.reporting_instance.as_deref())
        .collect();
    assert_eq!(instances, [Some("leader-a")], "only the leader reports");
    // The follower has reconciled nothing and holds no allocator.
    assert_eq!(second.metric("herald_reconcile_total").await, None);
    assert_eq!(
        second
            .metric("herald_addresses_in_use{pool=\"default\",family=\"ipv4\"}")
            .await,
        None
    );
    assert_eq!(ns.lease_holder(LEASE).await.as_deref(), Some("leader-a"));

    // Graceful stop: the Lease is released, the follower takes it without waiting for it
    // to expire, rebuilds, and allocates.
    let stopping = Instant::now();
    let status = first.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(
        first.log().contains("released the Lease"),
        "{}",
        first.log()
    );
    eventually("leader-b holds the Lease", || async {
        (ns.lease_holder(LEASE).await.as_deref() == Some("leader-b")).then_some(())
    })
    .await;
    let takeover = stopping.elapsed();
    eprintln!("takeover after SIGTERM (lease 3 s, follower watches the Lease): {takeover:.2?}");
    assert!(
        second.log().contains("Lease is free; taking it") && second.log().contains("Released"),
        "taken because it was released, not because it expired:\n{}",
        second.log()
    );
    second.wait_for_metric("herald_leader", 1.0).await;

    ns.create_lb("two", 80).await;
    assert_eq!(ns.wait_for_ingress("two").await, ["10.64.0.11"]);
    assert_eq!(ns.ingress("one").await, ["10.64.0.10"]);
    let note = ns.wait_for_event("Service", "two", "IPAllocated").await;
    assert!(note.contains("10.64.0.11"), "{note}");
    let events = ns.events_about("Service", "two", "IPAllocated").await;
    assert_eq!(events[0].reporting_instance.as_deref(), Some("leader-b"));
}
