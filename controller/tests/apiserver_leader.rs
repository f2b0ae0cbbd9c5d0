//! Two replicas: only the Lease holder writes; on SIGTERM it releases the Lease and the
//! other takes over at once.

mod support;

use std::time::Instant;

use herald_testsupport::apiserver::TestNamespace;
use herald_testsupport::wait::eventually;
use support::{Controller, LEASE};

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
    // The status can show before the Event is listed.
    ns.wait_for_event_object("Service", "one", "IPAllocated")
        .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_whose_lease_is_taken_stops_writing_until_it_gets_it_back() {
    let ns = TestNamespace::create("stepdown").await;
    ns.set_config(CONFIG).await;
    let controller = Controller::start(&ns.name, "stepdown-a");
    eventually("stepdown-a holds the Lease", || async {
        (ns.lease_holder(LEASE).await.as_deref() == Some("stepdown-a")).then_some(())
    })
    .await;
    ns.create_lb("before", 80).await;
    assert_eq!(ns.wait_for_ingress("before").await, ["10.64.0.10"]);

    // Someone else writes the Lease (as another replica would after a partition): the
    // next renewal conflicts, and the controller must step down and stop writing.
    let mut lease = ns.leases().get(LEASE).await.expect("lease");
    let spec = lease.spec.as_mut().expect("spec");
    spec.holder_identity = Some("intruder".into());
    spec.lease_duration_seconds = Some(3600);
    spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    let lease = ns
        .leases()
        .replace(LEASE, &Default::default(), &lease)
        .await
        .expect("take the Lease away");
    controller.wait_for_metric("herald_leader", 0.0).await;
    eventually("stepdown-a ends its term", || async {
        controller.log().contains("stepped down").then_some(())
    })
    .await;
    ns.create_lb("during", 80).await;
    // The follower's Service watch has delivered "during" (it logs every change it sees).
    eventually("stepdown-a sees the Service \"during\"", || async {
        controller
            .log()
            .lines()
            .any(|line| line.contains("Service changed") && line.contains("\"during\""))
            .then_some(())
    })
    .await;
    // The follower goes on looking at the Lease (every second, and when it changes). Two
    // more looks that find it held by the intruder: the second began after the first had
    // ended, which was after "during" existed; the replica has been running, without the
    // Lease, with the Service there to write to.
    let looks = || {
        controller
            .log()
            .matches("Lease held by another replica")
            .count()
    };
    let before = looks();
    eventually("stepdown-a looks at the Lease twice more", || async {
        (looks() >= before + 2).then_some(())
    })
    .await;
    assert_eq!(controller.metric("herald_leader").await, Some(0.0));
    assert!(
        ns.ingress("during").await.is_empty(),
        "a replica without the Lease wrote a status"
    );
    assert!(
        ns.events_about("Service", "during", "IPAllocated")
            .await
            .is_empty(),
        "a replica without the Lease published an Event"
    );

    // The intruder lets go: the controller takes the Lease back and carries on.
    let mut released = lease;
    if let Some(spec) = released.spec.as_mut() {
        spec.holder_identity = None;
    }
    ns.leases()
        .replace(LEASE, &Default::default(), &released)
        .await
        .expect("release the Lease");
    assert_eq!(ns.wait_for_ingress("during").await, ["10.64.0.11"]);
    controller.wait_for_metric("herald_leader", 1.0).await;
    assert!(
        controller.log().contains("stepping down"),
        "{}",
        controller.log()
    );
}
