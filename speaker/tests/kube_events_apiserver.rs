//! The speaker binary in Kubernetes mode against a real kube-apiserver (1.20.2) and a BGP
//! peer on loopback (a passive `bgp::Speaker` playing the router): it announces the
//! Service's address, records `Announcing` / `Withdrawn` Events on the Service with the
//! node name, a Warning `InvalidAnnotation` for a bad BGP annotation (the route stays),
//! and on SIGTERM withdraws, closes the session with Cease and exits 0.

mod bin_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bgp::{PeerConfig, PeerStats, SessionState, Speaker, SpeakerConfig};
use bin_support::Running;
use herald_testsupport::apiserver::{TestNamespace, testenv};
use herald_testsupport::ports::free_port;
use herald_testsupport::wait::eventually;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

const NODE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 31));
const ROUTER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 32));

async fn router_stats(router: &Speaker) -> PeerStats {
    router.stats().await.into_iter().next().expect("one peer")
}

async fn wait_router(router: &Speaker, what: &str, check: impl Fn(&PeerStats) -> bool) {
    eventually(what, || async {
        let stats = router_stats(router).await;
        check(&stats).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcing_and_withdrawn_events_follow_the_announcements() {
    let ns = TestNamespace::create("spkev").await;
    let node = format!("{}-n", ns.name);
    let port = free_port(ROUTER_IP);
    let router = Speaker::try_new(SpeakerConfig {
        listen: Some(SocketAddr::new(ROUTER_IP, port)),
    })
    .expect("listen");
    let mut peer = PeerConfig::new(NODE_IP, 64501, 64500, Ipv4Addr::new(10, 0, 0, 1));
    peer.passive = true;
    router.add_peer(peer).await.expect("router peer");

    ns.set_config(&format!(
        "peers:\n- peer-address: {ROUTER_IP}\n  peer-asn: 64501\n  my-asn: 64500\n  \
         peer-port: {port}\n  source-address: {NODE_IP}\n\
         address-pools:\n- name: default\n  protocol: bgp\n  addresses: ['10.62.0.0/24']\n"
    ))
    .await;
    let nodes: Api<Node> = Api::all(ns.client.clone());
    let node_object: Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": node}
    }))
    .expect("node");
    nodes
        .create(&PostParams::default(), &node_object)
        .await
        .expect("create Node");
    ns.create_lb("web", 80).await;
    let status = serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": ns.name},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.62.0.10"}]}}
    });
    ns.services()
        .patch_status(
            "web",
            &PatchParams::apply("herald-test-status"),
            &Patch::Apply(&status),
        )
        .await
        .expect("status");
    let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["172.31.0.10"], "nodeName": node,
                       "conditions": {"ready": true, "serving": true, "terminating": false}}]
    }))
    .expect("slice");
    ns.create_endpoint_slice(&slice).await;

    let kubeconfig = testenv().kubeconfig.display().to_string();
    let mut speaker = Running::start(&[
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        &ns.name,
        "--config-namespace",
        &ns.name,
        "--node-name",
        &node,
    ]);
    wait_router(&router, "the Service's /32 at the router", |s| {
        s.state == SessionState::Established && s.prefixes_received == 1
    })
    .await;
    speaker.wait_ready().await;
    let event = ns
        .wait_for_event_object("Service", "web", "Announcing")
        .await;
    let announcing = format!("announcing 10.62.0.10 from node {node}");
    assert_eq!(event.note.as_deref(), Some(announcing.as_str()));
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert_eq!(
        event.reporting_controller.as_deref(),
        Some("herald-speaker")
    );
    assert_eq!(event.reporting_instance.as_deref(), Some(node.as_str()));
    let status = speaker.status().await;
    assert_eq!(status["announced"][0]["address"], "10.62.0.10");
    assert_eq!(status["peers"][0]["state"], "Established");

    // The only endpoint goes away: withdrawn, with the reason.
    ns.endpoint_slices()
        .delete("web-1", &DeleteParams::default())
        .await
        .expect("delete slice");
    wait_router(&router, "the withdrawal", |s| s.prefixes_received == 0).await;
    let note = ns.wait_for_event("Service", "web", "Withdrawn").await;
    assert_eq!(
        note,
        format!("withdrew 10.62.0.10 from node {node}: the Service has no serving endpoint")
    );
    ns.create_endpoint_slice(&slice).await;
    wait_router(&router, "the route back", |s| s.prefixes_received == 1).await;

    // A bad BGP annotation: a Warning Event, the route stays.
    let annotated = serde_json::json!({
        "metadata": {"annotations": {"herald.dev/bgp-localpref": "lots"}}
    });
    ns.services()
        .patch("web", &PatchParams::default(), &Patch::Merge(&annotated))
        .await
        .expect("annotate");
    let event = ns
        .wait_for_event_object("Service", "web", "InvalidAnnotation")
        .await;
    assert_eq!(
        event.note.as_deref(),
        Some(
            format!(
                "announced from node {node} without an annotation: annotation \
                 herald.dev/bgp-localpref: \"lots\" is not a LOCAL_PREF (0-4294967295)"
            )
            .as_str()
        )
    );
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(router_stats(&router).await.prefixes_received, 1);

    // SIGTERM: withdraw, Cease, exit 0.
    let exit = speaker.terminate();
    assert_eq!(exit.code(), Some(0), "{}", speaker.log());
    // The router handles the Cease in its own task: the exit does not prove it has yet.
    wait_router(
        &router,
        "the router to have the Cease: session down, no prefix",
        |down| {
            down.state != SessionState::Established
                && down
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("Administrative Shutdown"))
                && down.prefixes_received == 0
        },
    )
    .await;

    // The shutdown's Withdrawn Event is the second of its series (same reason, same Service).
    let events = ns.events_about("Service", "web", "Withdrawn").await;
    let count = events
        .iter()
        .filter_map(|e| e.series.as_ref().map(|s| s.count))
        .max();
    assert_eq!(count, Some(2), "{events:?}");

    router.shutdown().await;
    let _ = nodes.delete(&node, &DeleteParams::default()).await;
}
