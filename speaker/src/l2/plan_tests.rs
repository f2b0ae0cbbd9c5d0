//! The L2 plan, one behaviour per test.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use herald_config::Config;
use herald_core::{ServiceKey, TrafficPolicy};

use super::*;
use crate::host::{HostInterfaces, InterfaceAddress};
use crate::view::{ClusterView, EndpointView, NodeView, ServiceView};

const EXCLUDE: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// A layer2 pool on the node segment, another with a narrow VRID range and settings, a
/// bgp pool (no peers: held with VRRP too).
const CONFIG: &str = "
address-pools:
- name: l2
  protocol: layer2
  addresses: [172.30.0.200-172.30.0.202, 172.30.0.100/30, 'fd00:30::200-fd00:30::2ff']
- name: narrow
  protocol: layer2
  addresses: [172.30.1.0/24]
  interface: eth1
  vrrp: {vrids: 7-9, advert-interval: 100ms, unicast-peers: [172.30.1.11, 172.30.1.12, 'fd00::1']}
- name: routed
  protocol: bgp
  addresses: [10.99.0.0/24]
";

fn config(yaml: &str) -> Arc<Config> {
    Arc::new(Config::from_yaml(yaml).expect("config parses"))
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("ip")
}

fn host() -> HostInterfaces {
    let entries = [
        ("lo", "127.0.0.1/8"),
        ("lo", "10.99.0.0/24"),
        ("eth0", "172.30.0.11/24"),
        ("eth0", "fd00:30::11/64"),
        ("eth0", "172.30.0.250/32"),
        ("eth1", "172.30.1.11/24"),
    ];
    HostInterfaces {
        names: entries.iter().map(|(n, _)| (*n).to_owned()).collect(),
        addresses: entries
            .iter()
            .map(|(interface, net)| InterfaceAddress {
                interface: (*interface).to_owned(),
                network: net.parse().expect("net"),
                herald_vrrp: false,
            })
            .collect(),
    }
}

fn node(name: &str) -> NodeView {
    NodeView {
        name: name.into(),
        ..NodeView::default()
    }
}

fn on(node: &str) -> EndpointView {
    EndpointView {
        node_name: Some(node.into()),
        ready: Some(true),
        ..EndpointView::default()
    }
}

fn service(
    name: &str,
    policy: TrafficPolicy,
    addresses: &[&str],
    endpoints: &[&str],
) -> ServiceView {
    ServiceView {
        key: ServiceKey::new("ns", name),
        addresses: addresses.iter().map(|a| ip(a)).collect(),
        traffic_policy: policy,
        ports: Ok(Vec::new()),
        endpoints: endpoints.iter().map(|n| on(n)).collect(),
        bgp: Default::default(),
    }
}

fn view(yaml: &str, services: Vec<ServiceView>) -> ClusterView {
    ClusterView {
        config: config(yaml),
        services: services.into_iter().map(|s| (s.key.clone(), s)).collect(),
        nodes: ["n1", "n2", "n3"]
            .into_iter()
            .map(|n| (n.to_owned(), node(n)))
            .collect(),
        proxy: Default::default(),
    }
}

fn pool<'a>(view: &'a ClusterView, name: &str) -> &'a Pool {
    view.config.pool(name).expect("pool")
}

fn vrids(plan: &L2Plan) -> Vec<(IpFamily, u8, Vec<IpAddr>)> {
    plan.instances
        .iter()
        .map(|i| (i.family, i.vrid, i.addresses.clone()))
        .collect()
}

#[test]
fn vrid_is_the_address_offset_in_its_family_across_blocks_modulo_the_range() {
    let view = view(CONFIG, vec![]);
    let l2 = pool(&view, "l2");
    // IPv4 blocks in config order: .200-.202 (offsets 0-2), then 172.30.0.100/30 (3-6).
    assert_eq!(family_offset(l2, ip("172.30.0.200")), Some(0));
    assert_eq!(family_offset(l2, ip("172.30.0.202")), Some(2));
    assert_eq!(family_offset(l2, ip("172.30.0.100")), Some(3));
    assert_eq!(family_offset(l2, ip("172.30.0.103")), Some(6));
    // IPv6 counts on its own.
    assert_eq!(family_offset(l2, ip("fd00:30::200")), Some(0));
    assert_eq!(family_offset(l2, ip("172.30.0.99")), None);
    assert_eq!(vrid(l2, ip("172.30.0.200")), Some(1));
    assert_eq!(vrid(l2, ip("172.30.0.101")), Some(5));
    assert_eq!(vrid(l2, ip("fd00:30::200")), Some(1));
    assert_eq!(vrid(l2, ip("fd00:30::2fe")), Some(255));
    assert_eq!(
        vrid(l2, ip("fd00:30::2ff")),
        Some(1),
        "offset 255 wraps to 1"
    );

    let narrow = pool(&view, "narrow");
    let narrow_vrids: Vec<Option<u8>> = (0..5)
        .map(|i| vrid(narrow, ip(&format!("172.30.1.{i}"))))
        .collect();
    assert_eq!(narrow_vrids, [Some(7), Some(8), Some(9), Some(7), Some(8)]);
}

#[test]
fn ipv4_and_ipv6_addresses_with_the_same_vrid_are_different_instances() {
    let web = service(
        "web",
        TrafficPolicy::Cluster,
        &["172.30.0.200", "fd00:30::200"],
        &["n2"],
    );
    let plan = plan(&view(CONFIG, vec![web]), "n1", &host());
    assert_eq!(
        vrids(&plan),
        [
            (IpFamily::V4, 1, vec![ip("172.30.0.200")]),
            (IpFamily::V6, 1, vec![ip("fd00:30::200")]),
        ]
    );
    assert!(plan.instances.iter().all(|i| i.interface == "eth0"));
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
}

#[test]
fn nodes_with_different_views_agree_on_the_vrid_and_differ_only_in_the_address_list() {
    let a = service("a", TrafficPolicy::Cluster, &["172.30.0.200"], &["n1"]);
    let b = service("b", TrafficPolicy::Cluster, &["172.30.0.101"], &["n1"]);
    // n1 sees both Services, n2 has not seen b yet.
    let n1 = plan(&view(CONFIG, vec![a.clone(), b]), "n1", &host());
    let n2 = plan(&view(CONFIG, vec![a]), "n2", &host());
    let vrid_of = |plan: &L2Plan, address: &str| {
        plan.instances
            .iter()
            .find(|i| i.addresses.contains(&ip(address)))
            .map(|i| i.vrid)
    };
    assert_eq!(vrid_of(&n1, "172.30.0.200"), Some(1));
    assert_eq!(vrid_of(&n2, "172.30.0.200"), Some(1));
    assert_eq!(vrid_of(&n1, "172.30.0.101"), Some(5));
    assert_eq!(vrid_of(&n2, "172.30.0.101"), None);
}

#[test]
fn addresses_sharing_a_vrid_share_one_instance() {
    // narrow: 7-9, so .0 and .3 are both VRID 7.
    let a = service("a", TrafficPolicy::Cluster, &["172.30.1.0"], &["n1"]);
    let b = service("b", TrafficPolicy::Cluster, &["172.30.1.3"], &["n3"]);
    let plan = plan(&view(CONFIG, vec![a, b]), "n2", &host());
    assert_eq!(
        vrids(&plan),
        [(IpFamily::V4, 7, vec![ip("172.30.1.0"), ip("172.30.1.3")])]
    );
}

#[test]
fn local_address_is_held_only_by_nodes_with_a_serving_local_endpoint() {
    let web = service("web", TrafficPolicy::Local, &["172.30.0.200"], &["n2"]);
    let view = view(CONFIG, vec![web]);
    assert!(plan(&view, "n1", &host()).instances.is_empty());
    assert_eq!(plan(&view, "n2", &host()).instances.len(), 1);
    assert!(plan(&view, "n3", &host()).instances.is_empty());
}

#[test]
fn an_endpoint_that_is_not_serving_does_not_make_a_node_eligible() {
    let mut web = service(
        "web",
        TrafficPolicy::Local,
        &["172.30.0.200"],
        &["n1", "n2"],
    );
    web.endpoints[0].ready = Some(false);
    let view = view(CONFIG, vec![web]);
    assert!(plan(&view, "n1", &host()).instances.is_empty());
    assert_eq!(plan(&view, "n2", &host()).instances.len(), 1);
}

#[test]
fn cluster_address_is_held_by_every_node_that_is_not_excluded() {
    let web = service("web", TrafficPolicy::Cluster, &["172.30.0.200"], &["n3"]);
    let mut view = view(CONFIG, vec![web]);
    view.nodes
        .get_mut("n2")
        .expect("n2")
        .labels
        .insert(EXCLUDE.into(), String::new());
    view.nodes.get_mut("n3").expect("n3").network_unavailable = true;
    assert_eq!(plan(&view, "n1", &host()).instances.len(), 1);
    let n2 = plan(&view, "n2", &host());
    assert!(n2.instances.is_empty());
    assert_eq!(n2.node_reason, Some(Reason::NodeExcluded));
    let n3 = plan(&view, "n3", &host());
    assert!(n3.instances.is_empty());
    assert_eq!(n3.node_reason, Some(Reason::NodeNetworkUnavailable));
    assert_eq!(
        plan(&view, "n9", &host()).node_reason,
        Some(Reason::NodeUnknown)
    );
}

#[test]
fn an_address_nothing_serves_is_not_held() {
    let idle = service("idle", TrafficPolicy::Cluster, &["172.30.0.200"], &[]);
    let gone = service("gone", TrafficPolicy::Local, &["172.30.0.201"], &[]);
    assert!(
        plan(&view(CONFIG, vec![idle, gone]), "n1", &host())
            .instances
            .is_empty()
    );
}

#[test]
fn local_services_without_a_common_node_in_one_vrid_are_reported() {
    // narrow 7-9: .0 and .3 share VRID 7, their endpoints are on n1 and n2.
    let a = service("a", TrafficPolicy::Local, &["172.30.1.0"], &["n1"]);
    let b = service("b", TrafficPolicy::Local, &["172.30.1.3"], &["n2"]);
    let view = view(CONFIG, vec![a, b]);
    for node in ["n1", "n2", "n3"] {
        let plan = plan(&view, node, &host());
        assert!(plan.instances.is_empty(), "{node}");
        assert_eq!(
            plan.problems,
            [L2Problem::NoCommonNode {
                family: IpFamily::V4,
                vrid: 7,
                services: vec![ServiceKey::new("ns", "a"), ServiceKey::new("ns", "b")],
            }],
            "{node}"
        );
        assert!(
            plan.problems[0]
                .to_string()
                .contains("widen the pool's vrrp.vrids"),
            "{}",
            plan.problems[0]
        );
    }
}

#[test]
fn a_cluster_address_in_a_local_vrid_follows_the_local_endpoints() {
    let a = service("a", TrafficPolicy::Local, &["172.30.1.0"], &["n2"]);
    let b = service("b", TrafficPolicy::Cluster, &["172.30.1.3"], &["n1"]);
    let view = view(CONFIG, vec![a, b]);
    assert!(plan(&view, "n1", &host()).instances.is_empty());
    let n2 = plan(&view, "n2", &host());
    assert_eq!(
        n2.instances[0].addresses,
        [ip("172.30.1.0"), ip("172.30.1.3")]
    );
}

#[test]
fn priorities_stay_in_1_to_254_are_stable_and_spread_masters_across_nodes() {
    let nodes = ["node1", "node2", "node3"];
    let mut wins: BTreeMap<&str, usize> = BTreeMap::new();
    for vrid in 1..=255u8 {
        let priorities: Vec<u8> = nodes
            .iter()
            .map(|n| priority(n, IpFamily::V4, vrid))
            .collect();
        assert!(priorities.iter().all(|p| (1..=254).contains(p)));
        let best = nodes
            .iter()
            .zip(&priorities)
            .max_by_key(|(_, p)| **p)
            .map(|(n, _)| *n)
            .expect("three nodes");
        *wins.entry(best).or_default() += 1;
    }
    assert_eq!(
        priority("node1", IpFamily::V4, 7),
        priority("node1", IpFamily::V4, 7)
    );
    assert_ne!(
        (1..=255u8)
            .map(|v| priority("node1", IpFamily::V4, v))
            .collect::<Vec<_>>(),
        (1..=255u8)
            .map(|v| priority("node1", IpFamily::V6, v))
            .collect::<Vec<_>>(),
        "the family is part of the key"
    );
    // Each of the three nodes is master of a fair share of the 255 VRIDs.
    assert_eq!(wins.len(), 3, "{wins:?}");
    assert!(wins.values().all(|w| *w >= 50), "{wins:?}");
}

#[test]
fn a_thousand_addresses_fit_in_at_most_255_instances_of_at_most_255_addresses() {
    let yaml = "
address-pools:
- name: big
  protocol: layer2
  addresses: [172.30.0.0/16]
";
    let services: Vec<ServiceView> = (0..1000u32)
        .map(|i| {
            let address = format!("172.30.{}.{}", 4 + i / 256, i % 256);
            ServiceView {
                key: ServiceKey::new("ns", format!("s{i}")),
                addresses: vec![ip(&address)],
                traffic_policy: TrafficPolicy::Cluster,
                ports: Ok(Vec::new()),
                endpoints: vec![on("n1")],
                bgp: Default::default(),
            }
        })
        .collect();
    let mut host = host();
    host.addresses.push(InterfaceAddress {
        interface: "eth2".into(),
        network: "172.30.255.1/16".parse().expect("net"),
        herald_vrrp: false,
    });
    let plan = plan(&view(yaml, services), "n1", &host);
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert!(plan.instances.len() <= 255);
    assert_eq!(
        plan.instances.len(),
        255,
        "1,000 consecutive addresses use every VRID"
    );
    let mut held: Vec<IpAddr> = plan
        .instances
        .iter()
        .flat_map(|i| i.addresses.iter().copied())
        .collect();
    let total = held.len();
    held.sort();
    held.dedup();
    assert_eq!(
        (total, held.len()),
        (1000, 1000),
        "every address in exactly one VRID"
    );
    let largest = plan.instances.iter().map(|i| i.addresses.len()).max();
    assert!(largest <= Some(MAX_ADDRESSES));
    assert_eq!(largest, Some(4), "1,000 / 255 rounded up");
    assert!(plan.instances.iter().all(|i| i.interface == "eth2"));
}

#[test]
fn more_addresses_than_an_advert_carries_are_reported_and_the_lowest_held() {
    let yaml = "
address-pools:
- name: one
  protocol: layer2
  addresses: [10.50.0.0/24, 10.50.1.0/24]
  vrrp: {vrids: 5-5}
";
    let addresses: Vec<String> = (0..300u32)
        .map(|i| format!("10.50.{}.{}", i / 200, i % 200))
        .collect();
    let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let many = service("many", TrafficPolicy::Cluster, &refs, &["n1"]);
    let mut host = host();
    host.addresses.push(InterfaceAddress {
        interface: "eth3".into(),
        network: "10.50.0.1/23".parse().expect("net"),
        herald_vrrp: false,
    });
    let plan = plan(&view(yaml, vec![many]), "n1", &host);
    assert_eq!(plan.instances.len(), 1);
    assert_eq!(plan.instances[0].addresses.len(), MAX_ADDRESSES);
    match &plan.problems[..] {
        [
            L2Problem::TooManyAddresses {
                count, left_out, ..
            },
        ] => {
            assert_eq!(*count, 300);
            assert_eq!(left_out.len(), 45);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_interface_is_the_pool_s_else_the_one_whose_subnet_holds_the_address() {
    let view = view(CONFIG, vec![]);
    let host = host();
    assert_eq!(
        interface_for(pool(&view, "l2"), ip("172.30.0.200"), &host),
        Ok("eth0".into())
    );
    // narrow names eth1 even for an address of no local subnet.
    assert_eq!(
        interface_for(pool(&view, "narrow"), ip("172.30.1.3"), &host),
        Ok("eth1".into())
    );
    // A host address (/32, a VIP held now) and lo do not count as subnets.
    assert_eq!(
        interface_for(pool(&view, "routed"), ip("10.99.0.5"), &host),
        Err(None)
    );
    let mut without_eth1 = host.clone();
    without_eth1.names.remove("eth1");
    assert_eq!(
        interface_for(pool(&view, "narrow"), ip("172.30.1.3"), &without_eth1),
        Err(Some("eth1".into()))
    );
}

#[test]
fn stale_addresses_are_looked_for_on_every_interface_a_pool_may_use() {
    let view = view(CONFIG, vec![]);
    let planned = plan(&view, "n1", &host());
    // l2 overlaps eth0's subnets (both families), narrow names eth1; routed overlaps only
    // lo's 10.99.0.0/24, which is not a NIC.
    assert_eq!(
        planned.interfaces,
        ["eth0", "eth1"].map(String::from).into_iter().collect()
    );
    assert!(planned.instances.is_empty());
    // Also on a node that may not hold anything.
    assert_eq!(plan(&view, "n9", &host()).interfaces, planned.interfaces);
}

#[test]
fn an_address_without_an_interface_is_reported_not_guessed() {
    let web = service(
        "web",
        TrafficPolicy::Cluster,
        &["172.30.1.0", "10.99.0.5"],
        &["n1"],
    );
    let mut host = host();
    host.names.remove("eth1");
    let plan = plan(&view(CONFIG, vec![web]), "n1", &host);
    assert!(plan.instances.is_empty());
    assert_eq!(
        plan.problems,
        [
            L2Problem::InterfaceNotFound {
                pool: "narrow".into(),
                service: ServiceKey::new("ns", "web"),
                address: ip("172.30.1.0"),
                interface: Some("eth1".into()),
            },
            L2Problem::InterfaceNotFound {
                pool: "routed".into(),
                service: ServiceKey::new("ns", "web"),
                address: ip("10.99.0.5"),
                interface: None,
            },
        ]
    );
}

#[test]
fn a_bgp_pool_is_held_with_vrrp_only_where_no_peer_selects_the_node() {
    let yaml = format!(
        "{CONFIG}
peers:
- peer-address: 172.30.0.1
  peer-asn: 64501
  my-asn: 64500
  node-selectors:
  - match-labels: {{rack: a}}
"
    );
    let web = service("web", TrafficPolicy::Cluster, &["10.99.0.5"], &["n1"]);
    let mut view = view(&yaml, vec![web]);
    view.nodes
        .get_mut("n1")
        .expect("n1")
        .labels
        .insert("rack".into(), "a".into());
    let mut host = host();
    host.addresses.push(InterfaceAddress {
        interface: "eth0".into(),
        network: "10.99.0.1/24".parse().expect("net"),
        herald_vrrp: false,
    });
    assert!(
        plan(&view, "n1", &host).instances.is_empty(),
        "n1 announces it over BGP"
    );
    assert_eq!(
        plan(&view, "n2", &host).instances.len(),
        1,
        "no peer for n2"
    );
}

#[test]
fn advert_interval_and_unicast_peers_come_from_the_pool_without_the_node_s_own() {
    let web = service("web", TrafficPolicy::Cluster, &["172.30.1.0"], &["n1"]);
    let plan = plan(&view(CONFIG, vec![web]), "n1", &host());
    let instance = &plan.instances[0];
    assert_eq!(instance.advert_interval, Centiseconds(10));
    // 172.30.1.11 is this node's, fd00::1 is the other family's.
    assert_eq!(instance.unicast_peers, [ip("172.30.1.12")]);
    assert_eq!(instance.priority, priority("n1", IpFamily::V4, 7));

    let default = service("d", TrafficPolicy::Cluster, &["172.30.0.200"], &["n1"]);
    let plan = super::plan(&view(CONFIG, vec![default]), "n1", &host());
    assert_eq!(plan.instances[0].advert_interval, Centiseconds(100));
    assert!(plan.instances[0].unicast_peers.is_empty());
}

#[test]
fn pools_sharing_a_vrid_with_different_settings_are_reported() {
    let yaml = "
address-pools:
- name: a
  protocol: layer2
  addresses: [172.30.0.200/32]
- name: b
  protocol: layer2
  addresses: [172.30.0.201/32]
  vrrp: {advert-interval: 200ms}
";
    // Whichever Service comes first, pool a's settings (first in the config) win.
    let first = service(
        "a-first",
        TrafficPolicy::Cluster,
        &["172.30.0.201"],
        &["n1"],
    );
    let second = service(
        "b-second",
        TrafficPolicy::Cluster,
        &["172.30.0.200"],
        &["n1"],
    );
    let plan = plan(&view(yaml, vec![first, second]), "n1", &host());
    assert_eq!(plan.instances.len(), 1);
    assert_eq!(plan.instances[0].advert_interval, Centiseconds(100));
    assert_eq!(
        plan.problems,
        [L2Problem::SettingsConflict {
            key: plan.instances[0].key(),
            pools: vec!["a".into(), "b".into()],
        }]
    );
}

fn instance(vrid: u8, priority: u8, addresses: &[&str]) -> InstancePlan {
    InstancePlan {
        interface: "eth0".into(),
        family: IpFamily::V4,
        vrid,
        priority,
        advert_interval: Centiseconds(100),
        unicast_peers: vec![],
        addresses: addresses.iter().map(|a| ip(a)).collect(),
    }
}

#[test]
fn changes_start_new_reconfigure_changed_restart_resettled_and_stop_removed() {
    let running: BTreeMap<InstanceKey, InstancePlan> = [
        instance(1, 10, &["172.30.0.200"]),
        instance(2, 10, &["172.30.0.201"]),
        instance(3, 10, &["172.30.0.202"]),
        instance(4, 10, &["172.30.0.203"]),
    ]
    .into_iter()
    .map(|i| (i.key(), i))
    .collect();
    let mut slower = instance(3, 10, &["172.30.0.202"]);
    slower.advert_interval = Centiseconds(50);
    let wanted = [
        instance(1, 10, &["172.30.0.200"]),
        instance(2, 10, &["172.30.0.201", "172.30.0.210"]),
        slower.clone(),
        instance(5, 10, &["172.30.0.204"]),
    ];
    let changes = changes(&running, &wanted);
    assert_eq!(changes.start, [instance(5, 10, &["172.30.0.204"])]);
    assert_eq!(
        changes.reconfigure,
        [instance(2, 10, &["172.30.0.201", "172.30.0.210"])]
    );
    assert_eq!(changes.restart, [slower]);
    assert_eq!(changes.stop, [instance(4, 10, &[]).key()]);
    assert!(super::changes(&running, &running.values().cloned().collect::<Vec<_>>()).is_empty());
}
