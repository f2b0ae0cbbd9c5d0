//! Config reload against a real kube-apiserver: a bad or orphaning config never takes
//! effect, the ConfigMap gets a Warning Event, `herald_config_stale` says so.

mod support;

use herald_testsupport::apiserver::TestNamespace;
use herald_testsupport::wait::eventually;
use support::Controller;

const GOOD: &str =
    "address-pools:\n- {name: default, protocol: bgp, addresses: ['10.61.0.10-10.61.0.11']}\n";
const WIDER: &str =
    "address-pools:\n- {name: default, protocol: bgp, addresses: ['10.61.0.10-10.61.0.20']}\n";
const BAD: &str = "address-pools:\n- {name: default, protocol: carrier-pigeon, addresses: ['10.61.0.300']}\nsurprise: true\n";
const ELSEWHERE: &str =
    "address-pools:\n- {name: default, protocol: bgp, addresses: ['10.61.5.0/24']}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_config_is_refused_and_the_last_good_one_stays() {
    let ns = TestNamespace::create("badcfg").await;
    ns.set_config(GOOD).await;
    let controller = Controller::start(&ns.name, "badcfg-a");
    ns.create_lb("before", 80).await;
    assert_eq!(ns.wait_for_ingress("before").await, ["10.61.0.10"]);
    controller
        .wait_for_metric("herald_config_loaded", 1.0)
        .await;
    assert_eq!(controller.metric("herald_config_stale").await, Some(0.0));

    ns.set_config(BAD).await;
    let note = ns
        .wait_for_event("ConfigMap", "herald", "InvalidConfig")
        .await;
    // Every error, with its key path, and that the old config stays.
    assert!(note.contains("address-pools[0].protocol"), "{note}");
    assert!(note.contains("address-pools[0].addresses[0]"), "{note}");
    assert!(note.contains("surprise"), "{note}");
    assert!(note.contains("last good config stays"), "{note}");
    let event = ns
        .events_about("ConfigMap", "herald", "InvalidConfig")
        .await;
    assert_eq!(event[0].type_.as_deref(), Some("Warning"));
    controller.wait_for_metric("herald_config_stale", 1.0).await;
    assert_eq!(controller.metric("herald_config_loaded").await, Some(1.0));

    // The old pools still hand out addresses.
    ns.create_lb("during", 80).await;
    assert_eq!(ns.wait_for_ingress("during").await, ["10.61.0.11"]);
    assert_eq!(controller.admin_get("/readyz").await.0, 200);

    // A good config clears the staleness and is used at once.
    ns.set_config(WIDER).await;
    let note = ns
        .wait_for_event("ConfigMap", "herald", "ConfigLoaded")
        .await;
    assert!(note.contains("1 pools"), "{note}");
    controller.wait_for_metric("herald_config_stale", 0.0).await;
    ns.create_lb("after", 80).await;
    assert_eq!(ns.wait_for_ingress("after").await, ["10.61.0.12"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_that_would_orphan_an_address_is_refused() {
    let ns = TestNamespace::create("orphan").await;
    ns.set_config(GOOD).await;
    let controller = Controller::start(&ns.name, "orphan-a");
    ns.create_lb("holder", 80).await;
    assert_eq!(ns.wait_for_ingress("holder").await, ["10.61.0.10"]);

    ns.set_config(ELSEWHERE).await;
    let note = ns
        .wait_for_event("ConfigMap", "herald", "ConfigWouldOrphan")
        .await;
    assert!(
        note.contains(&format!("{}/holder holds 10.61.0.10", ns.name)),
        "{note}"
    );
    controller.wait_for_metric("herald_config_stale", 1.0).await;

    // Nothing was renumbered, and new Services still come from the old pool.
    assert_eq!(ns.ingress("holder").await, ["10.61.0.10"]);
    ns.create_lb("next", 80).await;
    assert_eq!(ns.wait_for_ingress("next").await, ["10.61.0.11"]);

    // Once the holder is gone the same config is fine (the ConfigMap is looked at again
    // when it changes).
    ns.delete_service("holder").await;
    ns.delete_service("next").await;
    eventually("addresses released", || async {
        (controller
            .metric("herald_addresses_in_use{pool=\"default\",family=\"ipv4\"}")
            .await
            == Some(0.0))
        .then_some(())
    })
    .await;
    ns.set_config(&format!("{ELSEWHERE}# retry\n")).await;
    ns.wait_for_event("ConfigMap", "herald", "ConfigLoaded")
        .await;
    controller.wait_for_metric("herald_config_stale", 0.0).await;
    ns.create_lb("moved", 80).await;
    assert_eq!(ns.wait_for_ingress("moved").await, ["10.61.5.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_valid_config_nothing_is_allocated_and_readyz_says_so() {
    let ns = TestNamespace::create("nocfg").await;
    ns.set_config(BAD).await;
    let controller = Controller::start(&ns.name, "nocfg-a");
    controller.wait_for_metric("herald_config_stale", 1.0).await;
    assert_eq!(controller.metric("herald_config_loaded").await, Some(0.0));
    assert_eq!(controller.admin_get("/readyz").await.0, 503);
    ns.create_lb("early", 80).await;

    ns.set_config(GOOD).await;
    assert_eq!(ns.wait_for_ingress("early").await, ["10.61.0.10"]);
    controller
        .wait_for_metric("herald_config_loaded", 1.0)
        .await;
    assert_eq!(controller.admin_get("/readyz").await.0, 200);
}
