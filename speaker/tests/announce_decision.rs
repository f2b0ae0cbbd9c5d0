//! The announcement decision, one behaviour per test: every reason, Cluster vs Local,
//! endpoint conditions, node state, node selectors, routes and their attributes.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use herald_config::{Community, Config};
use herald_core::{ServiceKey, TrafficPolicy};
use herald_speaker::announce::{
    Decision, GRACEFUL_SHUTDOWN, NotAnnounced, Reason, RouteSpec, decide, decide_draining,
    node_stopping,
};
use herald_speaker::proxy::driver::ServingMap;
use herald_speaker::view::{ClusterView, EndpointView, NodeView, ServiceView};
use ipnet::IpNet;

const EXCLUDE: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// One eBGP peer for every node, a bgp pool, a layer2 pool.
const CONFIG: &str = "
peers:
- {peer-address: 172.30.0.1, peer-asn: 64501, my-asn: 64500}
address-pools:
- name: default
  protocol: bgp
  addresses: [192.168.10.0/24, '2001:db8:10::/120']
- name: l2
  protocol: layer2
  addresses: [10.0.5.0/24]
";

fn config(yaml: &str) -> Arc<Config> {
    Arc::new(Config::from_yaml(yaml).unwrap())
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn key(name: &str) -> ServiceKey {
    ServiceKey::new("ns", name)
}

fn node(name: &str, labels: &[(&str, &str)]) -> NodeView {
    NodeView {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        network_unavailable: false,
        internal_ips: Vec::new(),
        unschedulable: false,
    }
}

/// An endpoint on `node` with the given (ready, serving, terminating) conditions.
fn endpoint(
    node: &str,
    ready: Option<bool>,
    serving: Option<bool>,
    terminating: Option<bool>,
) -> EndpointView {
    EndpointView {
        addresses: vec![ip("10.244.0.7")],
        node_name: Some(node.into()),
        ready,
        serving,
        terminating,
    }
}

fn ready_on(node: &str) -> EndpointView {
    endpoint(node, Some(true), Some(true), Some(false))
}

fn service(name: &str, addresses: &[&str], endpoints: Vec<EndpointView>) -> ServiceView {
    ServiceView {
        key: key(name),
        addresses: addresses.iter().map(|a| ip(a)).collect(),
        traffic_policy: TrafficPolicy::Cluster,
        ports: Ok(Vec::new()),
        endpoints,
        bgp: Default::default(),
    }
}

fn local(mut service: ServiceView) -> ServiceView {
    service.traffic_policy = TrafficPolicy::Local;
    service
}

fn view(config: Arc<Config>, services: Vec<ServiceView>, nodes: Vec<NodeView>) -> ClusterView {
    ClusterView {
        config,
        services: services.into_iter().map(|s| (s.key.clone(), s)).collect(),
        nodes: nodes.into_iter().map(|n| (n.name.clone(), n)).collect(),
        proxy: Default::default(),
    }
}

/// The usual cluster: nodes n1 and n2 in rack a and b, the default config.
fn cluster(services: Vec<ServiceView>) -> ClusterView {
    view(
        config(CONFIG),
        services,
        vec![node("n1", &[("rack", "a")]), node("n2", &[("rack", "b")])],
    )
}

fn host_route() -> RouteSpec {
    RouteSpec::default()
}

fn only_reason(decision: &Decision) -> Reason {
    assert!(decision.announced.is_empty(), "{decision:?}");
    assert!(decision.routes.is_empty(), "{decision:?}");
    assert_eq!(decision.not_announced.len(), 1, "{decision:?}");
    decision.not_announced[0].reason
}

#[test]
fn cluster_service_with_a_ready_endpoint_is_announced_as_a_host_route() {
    let decision = decide(
        &cluster(vec![service(
            "web",
            &["192.168.10.5"],
            vec![ready_on("n2")],
        )]),
        "n1",
    );
    assert_eq!(decision.announced, vec![(key("web"), ip("192.168.10.5"))]);
    assert_eq!(
        decision.routes,
        BTreeMap::from([(net("192.168.10.5/32"), host_route())])
    );
    assert!(decision.not_announced.is_empty());
    let peers: Vec<IpAddr> = decision.peers.iter().map(|p| p.address).collect();
    assert_eq!(peers, [ip("172.30.0.1")]);
}

#[test]
fn service_without_an_address_is_reported_as_no_address() {
    let decision = decide(
        &cluster(vec![service("web", &[], vec![ready_on("n1")])]),
        "n1",
    );
    assert_eq!(
        decision.not_announced,
        [NotAnnounced {
            service: key("web"),
            address: None,
            reason: Reason::NoAddress
        }]
    );
    assert!(decision.routes.is_empty());
}

#[test]
fn address_outside_every_pool_is_not_announced() {
    let decision = decide(
        &cluster(vec![service("web", &["203.0.113.9"], vec![ready_on("n1")])]),
        "n1",
    );
    assert_eq!(only_reason(&decision), Reason::NotInAnyPool);
    assert_eq!(decision.not_announced[0].address, Some(ip("203.0.113.9")));
}

#[test]
fn address_of_a_layer2_pool_is_left_to_vrrp() {
    let decision = decide(
        &cluster(vec![service("web", &["10.0.5.1"], vec![ready_on("n1")])]),
        "n1",
    );
    assert_eq!(only_reason(&decision), Reason::Layer2Pool);
}

#[test]
fn unknown_node_announces_nothing_and_opens_no_session() {
    let decision = decide(
        &cluster(vec![service(
            "web",
            &["192.168.10.5"],
            vec![ready_on("n1")],
        )]),
        "n9",
    );
    assert_eq!(only_reason(&decision), Reason::NodeUnknown);
    assert!(decision.peers.is_empty());
}

#[test]
fn node_carrying_the_exclusion_label_announces_nothing_whatever_its_value() {
    for value in ["", "true", "false"] {
        let view = view(
            config(CONFIG),
            vec![service("web", &["192.168.10.5"], vec![ready_on("n1")])],
            vec![node("n1", &[(EXCLUDE, value)])],
        );
        let decision = decide(&view, "n1");
        assert_eq!(
            only_reason(&decision),
            Reason::NodeExcluded,
            "value {value:?}"
        );
        assert!(decision.peers.is_empty());
    }
}

/// One Service with a ready endpoint on n1, and n1 as `n1` after `change`.
fn web_on_n1(change: impl FnOnce(&mut NodeView)) -> ClusterView {
    let mut n1 = node("n1", &[]);
    change(&mut n1);
    view(
        config(CONFIG),
        vec![service("web", &["192.168.10.5"], vec![ready_on("n1")])],
        vec![n1],
    )
}

#[test]
fn node_whose_network_is_unavailable_announces_nothing() {
    let view = web_on_n1(|n| n.network_unavailable = true);
    let decision = decide(&view, "n1");
    assert_eq!(only_reason(&decision), Reason::NodeNetworkUnavailable);
    assert!(decision.peers.is_empty());
}

#[test]
fn cordoned_node_announces_nothing_and_says_so() {
    let view = web_on_n1(|n| n.unschedulable = true);
    let decision = decide(&view, "n1");
    assert_eq!(only_reason(&decision), Reason::NodeCordoned);
    assert!(decision.peers.is_empty());
    assert_eq!(node_stopping(&view, "n1"), Some(Reason::NodeCordoned));
}

#[test]
fn node_stopping_names_the_exclusion_label_first_and_nothing_for_a_serving_node() {
    let mut both = node("n1", &[(EXCLUDE, "")]);
    both.unschedulable = true;
    let mut sick = node("n2", &[]);
    sick.network_unavailable = true;
    let view = view(config(CONFIG), vec![], vec![both, sick]);
    assert_eq!(node_stopping(&view, "n1"), Some(Reason::NodeExcluded));
    // A network problem is not a drain: the node is not serving anyway.
    assert_eq!(node_stopping(&view, "n2"), None);
    assert_eq!(node_stopping(&view, "n3"), None);
}

#[test]
fn a_draining_node_announces_what_it_would_serve_marked_graceful_shutdown() {
    let services = || {
        vec![
            service("web", &["192.168.10.5"], vec![ready_on("n2")]),
            local(service("api", &["192.168.10.6"], vec![ready_on("n1")])),
            local(service(
                "elsewhere",
                &["192.168.10.7"],
                vec![ready_on("n2")],
            )),
        ]
    };
    let serving = view(config(CONFIG), services(), vec![node("n1", &[])]);
    let mut excluded_node = node("n1", &[(EXCLUDE, "")]);
    excluded_node.unschedulable = true;
    let excluded = view(config(CONFIG), services(), vec![excluded_node]);

    let usual = decide(&serving, "n1");
    for draining_view in [&serving, &excluded] {
        let draining = decide_draining(draining_view, "n1", &ServingMap::new());
        assert_eq!(draining.peers, usual.peers);
        assert_eq!(draining.announced, usual.announced);
        assert_eq!(draining.not_announced, usual.not_announced);
        let prefixes: Vec<_> = draining.routes.keys().collect();
        assert_eq!(prefixes, usual.routes.keys().collect::<Vec<_>>());
        assert_eq!(prefixes, [&net("192.168.10.5/32"), &net("192.168.10.6/32")]);
        for spec in draining.routes.values() {
            assert_eq!(
                spec.communities,
                BTreeSet::from([GRACEFUL_SHUTDOWN]),
                "{spec:?}"
            );
            assert_eq!(spec.local_pref, Some(0), "{spec:?}");
        }
    }
    assert_eq!(GRACEFUL_SHUTDOWN, Community::Standard(0xFFFF_0000));
}

#[test]
fn a_draining_node_whose_network_is_unavailable_still_announces_nothing() {
    let view = web_on_n1(|n| n.network_unavailable = true);
    let draining = decide_draining(&view, "n1", &ServingMap::new());
    assert_eq!(only_reason(&draining), Reason::NodeNetworkUnavailable);
}

const RACK_A_PEER: &str = "
peers:
- peer-address: 172.30.0.1
  peer-asn: 64501
  my-asn: 64500
  node-selectors: [{match-labels: {rack: a}}]
address-pools:
- {name: default, protocol: bgp, addresses: [192.168.10.0/24]}
";

#[test]
fn peer_selecting_rack_a_is_opened_and_announced_to_only_from_rack_a() {
    let view = view(
        config(RACK_A_PEER),
        vec![service("web", &["192.168.10.5"], vec![ready_on("n2")])],
        vec![node("n1", &[("rack", "a")]), node("n2", &[("rack", "b")])],
    );

    let in_rack_a = decide(&view, "n1");
    assert_eq!(in_rack_a.peers.len(), 1);
    assert_eq!(in_rack_a.announced, [(key("web"), ip("192.168.10.5"))]);

    let in_rack_b = decide(&view, "n2");
    assert!(in_rack_b.peers.is_empty());
    assert_eq!(only_reason(&in_rack_b), Reason::NoPeerSelectsNode);
}

#[test]
fn config_without_peers_announces_nothing() {
    let view = view(
        config("address-pools: [{name: default, protocol: bgp, addresses: [192.168.10.0/24]}]"),
        vec![service("web", &["192.168.10.5"], vec![ready_on("n1")])],
        vec![node("n1", &[])],
    );
    assert_eq!(only_reason(&decide(&view, "n1")), Reason::NoPeerSelectsNode);
}

#[test]
fn cluster_service_without_a_serving_endpoint_is_withdrawn_everywhere() {
    let not_ready = endpoint("n1", Some(false), Some(false), Some(false));
    let view = cluster(vec![service("web", &["192.168.10.5"], vec![not_ready])]);
    for node in ["n1", "n2"] {
        assert_eq!(only_reason(&decide(&view, node)), Reason::NoServingEndpoint);
    }
}

#[test]
fn cluster_service_is_announced_from_nodes_without_endpoints() {
    let view = cluster(vec![service(
        "web",
        &["192.168.10.5"],
        vec![ready_on("n1")],
    )]);
    let decision = decide(&view, "n2");
    assert_eq!(decision.announced, [(key("web"), ip("192.168.10.5"))]);
}

#[test]
fn local_service_is_announced_only_from_nodes_with_a_serving_endpoint() {
    let view = cluster(vec![local(service(
        "web",
        &["192.168.10.5"],
        vec![ready_on("n1")],
    ))]);
    assert_eq!(
        decide(&view, "n1").announced,
        [(key("web"), ip("192.168.10.5"))]
    );
    assert_eq!(
        only_reason(&decide(&view, "n2")),
        Reason::NoServingEndpointOnNode
    );
}

#[test]
fn local_service_ignores_a_not_ready_endpoint_on_the_node() {
    let view = cluster(vec![local(service(
        "web",
        &["192.168.10.5"],
        vec![
            endpoint("n1", Some(false), Some(false), Some(false)),
            ready_on("n2"),
        ],
    ))]);
    assert_eq!(
        only_reason(&decide(&view, "n1")),
        Reason::NoServingEndpointOnNode
    );
}

#[test]
fn local_service_ignores_endpoints_without_a_node_name() {
    let mut nowhere = ready_on("n1");
    nowhere.node_name = None;
    let view = cluster(vec![local(service(
        "web",
        &["192.168.10.5"],
        vec![nowhere],
    ))]);
    assert_eq!(
        only_reason(&decide(&view, "n1")),
        Reason::NoServingEndpointOnNode
    );
}

#[test]
fn terminating_endpoint_that_still_serves_keeps_the_address_announced() {
    let draining = endpoint("n1", Some(false), Some(true), Some(true));
    for service in [
        service("web", &["192.168.10.5"], vec![draining.clone()]),
        local(service("web", &["192.168.10.5"], vec![draining])),
    ] {
        let decision = decide(&cluster(vec![service]), "n1");
        assert_eq!(decision.announced, [(key("web"), ip("192.168.10.5"))]);
    }
}

#[test]
fn terminating_endpoint_that_no_longer_serves_does_not_count() {
    let gone = endpoint("n1", Some(false), Some(false), Some(true));
    let view = cluster(vec![service("web", &["192.168.10.5"], vec![gone])]);
    assert_eq!(only_reason(&decide(&view, "n1")), Reason::NoServingEndpoint);

    let unset_serving = endpoint("n1", Some(false), None, Some(true));
    let view = cluster(vec![service("web", &["192.168.10.5"], vec![unset_serving])]);
    assert_eq!(only_reason(&decide(&view, "n1")), Reason::NoServingEndpoint);
}

#[test]
fn endpoint_without_conditions_counts_as_ready() {
    let unknown = endpoint("n1", None, None, None);
    let view = cluster(vec![local(service(
        "web",
        &["192.168.10.5"],
        vec![unknown],
    ))]);
    assert_eq!(
        decide(&view, "n1").announced,
        [(key("web"), ip("192.168.10.5"))]
    );
}

#[test]
fn pool_reasons_come_before_node_reasons() {
    let view = view(
        config(CONFIG),
        vec![
            service("l2", &["10.0.5.1"], vec![ready_on("n1")]),
            service("stray", &["203.0.113.9"], vec![ready_on("n1")]),
        ],
        vec![node("n1", &[(EXCLUDE, "")])],
    );
    let reasons: Vec<Reason> = decide(&view, "n1")
        .not_announced
        .iter()
        .map(|n| n.reason)
        .collect();
    assert_eq!(reasons, [Reason::Layer2Pool, Reason::NotInAnyPool]);
}

const AGGREGATED: &str = "
peers:
- {peer-address: 172.30.0.1, peer-asn: 64501, my-asn: 64500}
address-pools:
- name: default
  protocol: bgp
  addresses: [192.168.10.0/24, '2001:db8:10::/64']
  bgp-advertisements:
  - {aggregation-length: 24, aggregation-length-v6: 64}
";

#[test]
fn aggregation_length_24_announces_the_covering_slash_24() {
    let view = view(
        config(AGGREGATED),
        vec![service("web", &["192.168.10.5"], vec![ready_on("n1")])],
        vec![node("n1", &[])],
    );
    let decision = decide(&view, "n1");
    assert_eq!(
        decision.routes.keys().copied().collect::<Vec<_>>(),
        [net("192.168.10.0/24")]
    );
    assert_eq!(decision.announced, [(key("web"), ip("192.168.10.5"))]);
}

#[test]
fn services_in_one_aggregate_give_one_route() {
    let view = view(
        config(AGGREGATED),
        vec![
            service(
                "a",
                &["192.168.10.5", "2001:db8:10::5"],
                vec![ready_on("n1")],
            ),
            service(
                "b",
                &["192.168.10.77", "2001:db8:10::77"],
                vec![ready_on("n1")],
            ),
        ],
        vec![node("n1", &[])],
    );
    let decision = decide(&view, "n1");
    assert_eq!(
        decision.routes.keys().copied().collect::<Vec<_>>(),
        [net("192.168.10.0/24"), net("2001:db8:10::/64")]
    );
    assert_eq!(decision.announced.len(), 4);
}

#[test]
fn dual_stack_service_gets_one_host_route_per_family() {
    let view = cluster(vec![service(
        "web",
        &["192.168.10.5", "2001:db8:10::5"],
        vec![ready_on("n1")],
    )]);
    let decision = decide(&view, "n1");
    assert_eq!(
        decision.routes.keys().copied().collect::<Vec<_>>(),
        [net("192.168.10.5/32"), net("2001:db8:10::5/128")]
    );
    assert_eq!(
        decision.announced,
        [
            (key("web"), ip("192.168.10.5")),
            (key("web"), ip("2001:db8:10::5"))
        ]
    );
}

const ATTRIBUTES: &str = "
peers:
- {peer-address: 172.30.0.1, peer-asn: 64500, my-asn: 64500}
bgp-communities:
  quiet: 65535:65282
address-pools:
- name: default
  protocol: bgp
  addresses: [192.168.10.0/24]
  bgp-advertisements:
  - localpref: 150
    communities: [quiet, '64500:1', '64500:1:2', no-export]
";

#[test]
fn communities_large_communities_and_localpref_are_carried() {
    let view = view(
        config(ATTRIBUTES),
        vec![service("web", &["192.168.10.5"], vec![ready_on("n1")])],
        vec![node("n1", &[])],
    );
    let decision = decide(&view, "n1");
    let expected = RouteSpec {
        communities: BTreeSet::from([
            Community::Standard(0xFFFF_FF02),
            Community::standard(64500, 1),
            Community::Large {
                global_admin: 64500,
                local_data1: 1,
                local_data2: 2,
            },
            Community::Standard(0xFFFF_FF01),
        ]),
        local_pref: Some(150),
        endpoint_weight: None,
    };
    assert_eq!(
        decision.routes,
        BTreeMap::from([(net("192.168.10.5/32"), expected)])
    );
}

const TWO_ADVERTISEMENTS: &str = "
peers:
- {peer-address: 172.30.0.1, peer-asn: 64500, my-asn: 64500}
address-pools:
- name: default
  protocol: bgp
  addresses: [192.168.10.0/24]
  bgp-advertisements:
  - {communities: ['64500:3']}
  - {communities: ['64500:1'], localpref: 100}
  - {communities: ['64500:2'], localpref: 200}
  - {aggregation-length: 24, communities: ['64500:24']}
";

#[test]
fn one_prefix_from_several_advertisements_unions_communities_and_takes_highest_localpref() {
    let view = view(
        config(TWO_ADVERTISEMENTS),
        vec![service("web", &["192.168.10.5"], vec![ready_on("n1")])],
        vec![node("n1", &[])],
    );
    let decision = decide(&view, "n1");
    assert_eq!(
        decision.routes,
        BTreeMap::from([
            (
                net("192.168.10.0/24"),
                RouteSpec {
                    communities: BTreeSet::from([Community::standard(64500, 24)]),
                    local_pref: None,
                    endpoint_weight: None,
                }
            ),
            (
                net("192.168.10.5/32"),
                RouteSpec {
                    communities: BTreeSet::from([
                        Community::standard(64500, 1),
                        Community::standard(64500, 2),
                        Community::standard(64500, 3),
                    ]),
                    local_pref: Some(200),
                    endpoint_weight: None,
                }
            ),
        ])
    );
}

const LINK_BANDWIDTH: &str = "
peers:
- {peer-address: 172.30.0.1, peer-asn: 64501, my-asn: 64500}
bgp-communities:
  edge: '64500:7'
address-pools:
- name: default
  protocol: bgp
  addresses: [192.168.10.0/24]
  bgp-advertisements:
  - {link-bandwidth: true, communities: ['64500:1'], localpref: 100}
- name: plain
  protocol: bgp
  addresses: [192.168.20.0/24]
";

fn weighted_view(services: Vec<ServiceView>) -> ClusterView {
    view(
        config(LINK_BANDWIDTH),
        services,
        vec![node("n1", &[]), node("n2", &[])],
    )
}

fn weight(decision: &Decision, prefix: &str) -> Option<u32> {
    decision.routes[&net(prefix)].endpoint_weight
}

#[test]
fn local_service_routes_weigh_the_node_s_serving_endpoints() {
    let not_ready = endpoint("n2", Some(false), Some(false), Some(false));
    let view = weighted_view(vec![local(service(
        "web",
        &["192.168.10.5"],
        vec![
            ready_on("n1"),
            ready_on("n2"),
            ready_on("n2"),
            ready_on("n2"),
            not_ready,
        ],
    ))]);
    assert_eq!(weight(&decide(&view, "n1"), "192.168.10.5/32"), Some(1));
    assert_eq!(
        weight(&decide(&view, "n2"), "192.168.10.5/32"),
        Some(3),
        "the endpoint that is not ready does not count"
    );
}

#[test]
fn cluster_service_and_pools_without_link_bandwidth_go_unweighted() {
    let view = weighted_view(vec![
        service(
            "cluster",
            &["192.168.10.6"],
            vec![ready_on("n1"), ready_on("n1")],
        ),
        local(service("plain", &["192.168.20.5"], vec![ready_on("n1")])),
    ]);
    let decision = decide(&view, "n1");
    assert_eq!(weight(&decision, "192.168.10.6/32"), None);
    assert_eq!(weight(&decision, "192.168.20.5/32"), None);
}

#[test]
fn services_sharing_a_prefix_add_their_weights_unless_one_is_unweighted() {
    let shared = |name: &str, endpoints| local(service(name, &["192.168.10.5"], endpoints));
    let view = weighted_view(vec![
        shared("a", vec![ready_on("n1")]),
        shared("b", vec![ready_on("n1"), ready_on("n1")]),
    ]);
    assert_eq!(weight(&decide(&view, "n1"), "192.168.10.5/32"), Some(3));

    let view = weighted_view(vec![
        shared("a", vec![ready_on("n1")]),
        service("c", &["192.168.10.5"], vec![ready_on("n2")]),
    ]);
    assert_eq!(weight(&decide(&view, "n1"), "192.168.10.5/32"), None);
}

#[test]
fn annotation_communities_and_localpref_add_to_the_advertisement() {
    let mut web = local(service("web", &["192.168.10.5"], vec![ready_on("n1")]));
    web.bgp.communities = BTreeSet::from([
        Community::standard(64500, 7),
        Community::Standard(0xFFFF_FF01),
    ]);
    web.bgp.local_pref = Some(300);
    let other = local(service("other", &["192.168.10.6"], vec![ready_on("n1")]));
    let decision = decide(&weighted_view(vec![web, other]), "n1");
    assert_eq!(
        decision.routes[&net("192.168.10.5/32")],
        RouteSpec {
            communities: BTreeSet::from([
                Community::standard(64500, 1),
                Community::standard(64500, 7),
                Community::Standard(0xFFFF_FF01),
            ]),
            local_pref: Some(300),
            endpoint_weight: Some(1),
        }
    );
    assert_eq!(
        decision.routes[&net("192.168.10.6/32")],
        RouteSpec {
            communities: BTreeSet::from([Community::standard(64500, 1)]),
            local_pref: Some(100),
            endpoint_weight: Some(1),
        },
        "another Service keeps the advertisement's attributes"
    );
}

#[test]
fn one_service_failing_does_not_stop_another_being_announced() {
    let view = cluster(vec![
        service("down", &["192.168.10.6"], vec![]),
        service("up", &["192.168.10.5"], vec![ready_on("n1")]),
    ]);
    let decision = decide(&view, "n1");
    assert_eq!(decision.announced, [(key("up"), ip("192.168.10.5"))]);
    assert_eq!(
        decision.not_announced,
        [NotAnnounced {
            service: key("down"),
            address: Some(ip("192.168.10.6")),
            reason: Reason::NoServingEndpoint
        }]
    );
    assert_eq!(decision.routes.len(), 1);
}

#[test]
fn every_reason_has_its_own_label_and_a_message() {
    let labels: BTreeSet<&str> = Reason::ALL.iter().map(|r| r.label()).collect();
    assert_eq!(labels.len(), Reason::ALL.len());
    for reason in Reason::ALL {
        assert!(
            reason
                .label()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
        assert!(!reason.to_string().is_empty());
    }
    let shown = NotAnnounced {
        service: key("web"),
        address: Some(ip("192.168.10.5")),
        reason: Reason::NoServingEndpointOnNode,
    }
    .to_string();
    assert_eq!(
        shown,
        "ns/web 192.168.10.5: externalTrafficPolicy is Local and no serving endpoint runs on this node"
    );
}
