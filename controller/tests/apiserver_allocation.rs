//! Allocation against a real kube-apiserver (1.20.2): status, Events, static addresses,
//! exhaustion, release and reuse.

mod support;

use herald_testsupport::apiserver::TestNamespace;
use herald_testsupport::wait::eventually;
use support::Controller;

const CONFIG: &str = "address-pools:\n\
- name: default\n  protocol: bgp\n  addresses: ['10.60.0.10-10.60.0.12']\n\
- name: gold\n  protocol: bgp\n  auto-assign: false\n  addresses: ['10.60.9.0/30']\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancer_gets_the_lowest_address_and_an_ip_allocated_event() {
    let ns = TestNamespace::create("alloc").await;
    ns.set_config(CONFIG).await;
    let controller = Controller::start(&ns.name, "alloc-a");

    ns.create_lb("web", 80).await;
    assert_eq!(ns.wait_for_ingress("web").await, ["10.60.0.10"]);
    let note = ns.wait_for_event("Service", "web", "IPAllocated").await;
    assert!(
        note.contains("10.60.0.10") && note.contains("default"),
        "{note}"
    );

    let event = ns
        .events_about("Service", "web", "IPAllocated")
        .await
        .into_iter()
        .next()
        .expect("event");
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert_eq!(
        event.reporting_controller.as_deref(),
        Some("herald-controller")
    );
    assert_eq!(event.reporting_instance.as_deref(), Some("alloc-a"));

    // Status written by server-side apply under our own field manager.
    let service = ns.services().get("web").await.expect("get");
    let managers: Vec<String> = service
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| Some(format!("{}:{}", m.manager?, m.operation?)))
        .collect();
    assert!(
        managers.contains(&"herald-controller:Apply".to_owned()),
        "{managers:?}"
    );
    assert_eq!(controller.admin_get("/readyz").await.0, 200);
    assert_eq!(controller.admin_get("/livez").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_address_and_pool_annotation_are_honoured() {
    let ns = TestNamespace::create("static").await;
    ns.set_config(CONFIG).await;
    let _controller = Controller::start(&ns.name, "static-a");

    ns.create_service(
        "pinned",
        &[],
        serde_json::json!({
            "type": "LoadBalancer", "loadBalancerIP": "10.60.0.12",
            "ports": [{"port": 443, "protocol": "TCP"}]
        }),
    )
    .await;
    ns.create_service(
        "golden",
        &[("metallb.universe.tf/address-pool", "gold")],
        serde_json::json!({"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]}),
    )
    .await;
    ns.create_service(
        "annotated",
        &[("herald.dev/load-balancer-ips", "10.60.9.3")],
        serde_json::json!({"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]}),
    )
    .await;
    assert_eq!(ns.wait_for_ingress("pinned").await, ["10.60.0.12"]);
    assert_eq!(ns.wait_for_ingress("golden").await, ["10.60.9.0"]);
    assert_eq!(ns.wait_for_ingress("annotated").await, ["10.60.9.3"]);

    // An address outside every pool is refused with the reason.
    ns.create_service(
        "stray",
        &[],
        serde_json::json!({
            "type": "LoadBalancer", "loadBalancerIP": "192.0.2.1",
            "ports": [{"port": 80, "protocol": "TCP"}]
        }),
    )
    .await;
    let note = ns
        .wait_for_event("Service", "stray", "AllocationFailed")
        .await;
    assert!(
        note.contains("192.0.2.1") && note.contains("not in any address pool"),
        "{note}"
    );
    assert!(ns.ingress("stray").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_pool_leaves_the_service_pending_until_an_address_is_released() {
    let ns = TestNamespace::create("exhaust").await;
    ns.set_config("address-pools:\n- {name: tiny, protocol: bgp, addresses: ['10.60.1.5/32']}\n")
        .await;
    let controller = Controller::start(&ns.name, "exhaust-a");

    ns.create_lb("first", 80).await;
    assert_eq!(ns.wait_for_ingress("first").await, ["10.60.1.5"]);
    ns.create_lb("second", 80).await;
    let note = ns
        .wait_for_event("Service", "second", "AllocationFailed")
        .await;
    assert!(
        note.contains("no free IPv4 address left in pool tiny"),
        "{note}"
    );
    assert!(ns.ingress("second").await.is_empty(), "stays <pending>");
    let event = ns
        .events_about("Service", "second", "AllocationFailed")
        .await;
    assert_eq!(event[0].type_.as_deref(), Some("Warning"));
    let errors = controller
        .metric("herald_reconcile_errors_total{reason=\"pool_exhausted\"}")
        .await;
    assert!(errors.is_some_and(|n| n >= 1.0), "{errors:?}");

    // Deleting the holder frees the address; the pending Service gets it without changing.
    ns.delete_service("first").await;
    assert_eq!(ns.wait_for_ingress("second").await, ["10.60.1.5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_services_address_is_reused_by_the_next_service() {
    let ns = TestNamespace::create("reuse").await;
    ns.set_config(CONFIG).await;
    let controller = Controller::start(&ns.name, "reuse-a");

    ns.create_lb("a", 80).await;
    ns.create_lb("b", 80).await;
    let a = ns.wait_for_ingress("a").await;
    let b = ns.wait_for_ingress("b").await;
    assert_ne!(a, b);
    controller
        .wait_for_metric(
            "herald_addresses_in_use{pool=\"default\",family=\"ipv4\"}",
            2.0,
        )
        .await;

    ns.delete_service("a").await;
    controller
        .wait_for_metric(
            "herald_addresses_in_use{pool=\"default\",family=\"ipv4\"}",
            1.0,
        )
        .await;
    ns.create_lb("c", 80).await;
    assert_eq!(
        ns.wait_for_ingress("c").await,
        a,
        "the lowest free address again"
    );
    assert_eq!(ns.ingress("b").await, b);
    assert_eq!(
        controller
            .metric("herald_addresses_total{pool=\"default\",family=\"ipv4\"}")
            .await,
        Some(3.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_change_away_from_load_balancer_releases_and_clears_the_status() {
    let ns = TestNamespace::create("retype").await;
    ns.set_config(CONFIG).await;
    let _controller = Controller::start(&ns.name, "retype-a");

    ns.create_lb("web", 80).await;
    assert_eq!(ns.wait_for_ingress("web").await, ["10.60.0.10"]);
    ns.services()
        .patch(
            "web",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"type": "ClusterIP"}})),
        )
        .await
        .expect("change type");
    let note = ns.wait_for_event("Service", "web", "IPReleased").await;
    assert!(note.contains("10.60.0.10"), "{note}");
    eventually("status cleared", || async {
        ns.ingress("web").await.is_empty().then_some(())
    })
    .await;

    ns.create_lb("next", 80).await;
    assert_eq!(ns.wait_for_ingress("next").await, ["10.60.0.10"]);
}

/// kube-apiserver 1.20 has no `ingress[].ipMode`: a Service Herald's proxy should serve gets
/// its address without the field and a `ProxyBypassed` Warning saying kube-proxy will
/// intercept its traffic; a plain Service gets no such Warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_service_on_a_server_without_ip_mode_gets_a_proxy_bypassed_warning() {
    let ns = TestNamespace::create("bypass").await;
    ns.set_config(CONFIG).await;
    let _controller = Controller::start(&ns.name, "bypass-a");

    ns.create_service(
        "tls",
        &[("herald.dev/tls", "true")],
        serde_json::json!({"type": "LoadBalancer", "ports": [{"port": 443, "protocol": "TCP"}]}),
    )
    .await;
    ns.create_lb("plain", 80).await;
    let tls_address = ns.wait_for_ingress("tls").await;
    ns.wait_for_ingress("plain").await;

    let note = ns.wait_for_event("Service", "tls", "ProxyBypassed").await;
    assert!(
        note.contains(&tls_address[0]) && note.contains("ipMode") && note.contains("kube-proxy"),
        "{note}"
    );
    let warning = ns
        .events_about("Service", "tls", "ProxyBypassed")
        .await
        .into_iter()
        .next()
        .expect("event");
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    // The controller publishes ProxyBypassed before IPAllocated: once "plain"'s
    // IPAllocated is out, a Warning for it would be too, and there is none.
    ns.wait_for_event("Service", "plain", "IPAllocated").await;
    assert!(
        ns.events_about("Service", "plain", "ProxyBypassed")
            .await
            .is_empty()
    );
}
