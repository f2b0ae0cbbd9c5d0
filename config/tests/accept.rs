//! Configs that must be accepted, and what they turn into.

// Helpers and strategies outside #[test] fns unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::{testdata, valid};
use herald_config::{
    AddressBlock, Balance, BgpAdvertisement, Community, Config, HealthCheckSettings, IpFamily,
    Protocol, ProxyProtocol, SelectorOperator, Tls, VridRange, validate_file_contents,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn metallb_v0_12_example_config_is_accepted() {
    let config = valid(&testdata("metallb-0.12-example.yaml"));

    let [peer] = config.peers.as_slice() else {
        panic!("{:?}", config.peers)
    };
    assert_eq!(peer.address, ip("10.0.0.1"));
    assert_eq!((peer.asn, peer.my_asn, peer.port), (64512, 64512, 179));
    assert!(peer.is_ibgp());
    assert_eq!(peer.hold_time, Duration::from_secs(120));
    assert_eq!(
        peer.keepalive_time,
        Duration::from_secs(40),
        "default keepalive is hold/3"
    );
    assert_eq!(peer.router_id, Some("1.2.3.4".parse().unwrap()));
    assert_eq!(peer.password.as_deref(), Some("yourPassword"));
    let [selector] = peer.node_selectors.as_slice() else {
        panic!()
    };
    assert_eq!(selector.match_labels["kubernetes.io/hostname"], "prod-01");
    assert_eq!(selector.match_expressions[0].operator, SelectorOperator::In);
    assert_eq!(selector.match_expressions[0].values, ["amd64", "arm"]);

    let [pool] = config.pools.as_slice() else {
        panic!("{:?}", config.pools)
    };
    assert_eq!(pool.name, "my-ip-space");
    assert_eq!(pool.protocol, Protocol::Bgp);
    assert_eq!(
        pool.addresses,
        [
            AddressBlock::parse("198.51.100.0/24").unwrap(),
            AddressBlock::parse("192.168.0.150-192.168.0.200").unwrap()
        ]
    );
    assert!(pool.avoid_buggy_ips);
    assert!(!pool.auto_assign);
    let [ad] = pool.bgp_advertisements.as_slice() else {
        panic!()
    };
    assert_eq!((ad.aggregation_length, ad.aggregation_length_v6), (32, 128));
    assert_eq!(ad.local_pref, Some(100));
    assert_eq!(
        ad.communities,
        BTreeSet::from([
            Community::standard(64512, 1),
            Community::standard(65535, 65281)
        ])
    );
    assert_eq!(
        config.bgp_communities["no-export"],
        Community::standard(65535, 65281)
    );
}

#[test]
fn metallb_v0_12_documentation_examples_are_accepted() {
    let config = valid(&testdata("metallb-0.12-advanced.yaml"));
    let [peer] = config.peers.as_slice() else {
        panic!()
    };
    assert_eq!(peer.node_selectors.len(), 2);
    assert_eq!(peer.hold_time, Duration::from_secs(90));
    assert_eq!(peer.keepalive_time, Duration::from_secs(30));

    let default = config.pool("default").unwrap();
    assert_eq!(default.bgp_advertisements.len(), 2);
    assert_eq!(default.bgp_advertisements[1].aggregation_length, 24);
    assert_eq!(
        default.bgp_advertisements[0].communities,
        BTreeSet::from([Community::standard(65535, 65282)])
    );
    let l2 = config.pool("l2").unwrap();
    assert_eq!(l2.protocol, Protocol::Layer2);
    assert!(l2.bgp_advertisements.is_empty());
    let cheap = config.pool("cheap").unwrap();
    assert_eq!(
        cheap.bgp_advertisements,
        [BgpAdvertisement::default()],
        "one default advertisement"
    );

    let order: Vec<&str> = config
        .auto_assign_pools()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        order,
        ["default", "l2", "cheap"],
        "expensive is not auto-assigned"
    );
}

#[test]
fn k8slb_pool_json_is_accepted() {
    let config = valid(&testdata("k8slb-pool.json"));
    assert!(config.peers.is_empty());
    let [pool] = config.pools.as_slice() else {
        panic!()
    };
    assert_eq!(pool.name, "default");
    assert_eq!(
        pool.protocol,
        Protocol::Layer2,
        "k8slb pools default to layer2"
    );
    assert_eq!(pool.network, Some("192.168.1.0/24".parse().unwrap()));
    assert_eq!(
        pool.addresses,
        [AddressBlock::parse("192.168.1.240-192.168.1.250").unwrap()]
    );
    assert_eq!(pool.interface.as_deref(), Some("eth0"));
    assert!(pool.contains(ip("192.168.1.245")));
    assert!(
        !pool.contains(ip("192.168.1.1")),
        "the network outside the range is not the pool's"
    );
    assert_eq!(pool.size(IpFamily::V4), 11);
}

#[test]
fn k8slb_pool_shape_is_accepted_inside_address_pools_and_as_a_list() {
    let config = valid(
        "address-pools:\n\
         - {name: lan, network: 10.0.0.0/24, interface: eth0}\n\
         - {name: bgp, protocol: bgp, network: 10.1.0.0/24, range: 10.1.0.10-10.1.0.20}",
    );
    assert_eq!(
        config.pools[0].addresses,
        [AddressBlock::parse("10.0.0.0/24").unwrap()]
    );
    assert_eq!(config.pools[1].protocol, Protocol::Bgp);
    assert_eq!(
        config.pools[1].bgp_advertisements,
        [BgpAdvertisement::default()]
    );

    let list = valid(
        r#"[{"name":"a","network":"10.0.0.0/24","range":"10.0.0.5-10.0.0.9"},
            {"name":"b","network":"fd00::/64","range":"fd00::10-fd00::20","interface":"eth1"}]"#,
    );
    assert_eq!(list.pools.len(), 2);
    assert_eq!(list.pools[1].families(), [IpFamily::V6]);
}

#[test]
fn bare_payload_and_config_map_give_the_same_config() {
    let manifest = testdata("metallb-0.12-example.yaml");
    let (_, payload) = manifest.split_once("config: |\n").unwrap();
    let payload: String = payload
        .lines()
        .map(|l| format!("{}\n", l.get(4..).unwrap_or("")))
        .collect();
    assert_eq!(valid(&manifest), valid(&payload));
}

#[test]
fn empty_documents_are_an_empty_config() {
    assert_eq!(valid(""), Config::default());
    assert_eq!(valid("# nothing yet\n"), Config::default());
    assert_eq!(valid("peers: []\naddress-pools:\n"), Config::default());
}

#[test]
fn defaults_are_filled_in() {
    let config = valid(
        "peers: [{peer-address: \"2001:db8::1\", peer-asn: 65001, my-asn: 65000}]\n\
         address-pools: [{name: web, protocol: layer2, addresses: [10.0.0.0/28]}]",
    );
    let peer = &config.peers[0];
    assert_eq!(peer.port, 179);
    assert_eq!(
        (peer.hold_time, peer.keepalive_time),
        (Duration::from_secs(90), Duration::from_secs(30))
    );
    assert_eq!(
        (
            peer.router_id,
            peer.source_address,
            peer.password.as_deref()
        ),
        (None, None, None)
    );
    assert!(
        !peer.ebgp_multihop && !peer.gtsm && peer.bfd.is_none() && peer.graceful_restart.is_none()
    );
    assert_eq!(peer.family(), IpFamily::V6);
    let pool = &config.pools[0];
    assert!(pool.auto_assign && !pool.avoid_buggy_ips);
    assert_eq!(pool.tls, Tls::default_for("web"));
    assert_eq!(pool.tls.bundle, PathBuf::from("/etc/certs/web.pem"));
    assert!(pool.vrrp.is_none() && pool.proxy.is_none() && pool.interface.is_none());
    let bgp = valid(
        "address-pools: [{name: b, protocol: bgp, addresses: [10.0.0.0/28], bgp-advertisements: [{}]}]",
    );
    assert!(
        !bgp.pools[0].bgp_advertisements[0].link_bandwidth,
        "link-bandwidth is off by default"
    );
}

#[test]
fn herald_extensions_are_accepted() {
    let config = valid(&testdata("herald-extensions.yaml"));
    let fast = &config.peers[0];
    assert!(fast.gtsm);
    assert_eq!(
        fast.graceful_restart.unwrap().restart_time,
        Duration::from_secs(300)
    );
    let bfd = fast.bfd.as_ref().unwrap();
    assert_eq!(bfd.profile, None);
    assert_eq!(bfd.settings.receive_interval, Duration::from_millis(20));
    assert_eq!(bfd.settings.detect_multiplier, 3);
    let v6 = &config.peers[1];
    assert_eq!(
        v6.graceful_restart.unwrap().restart_time,
        Duration::from_secs(120)
    );
    let profile = v6.bfd.as_ref().unwrap();
    assert_eq!(profile.profile.as_deref(), Some("fast"));
    assert_eq!(
        profile.settings.transmit_interval,
        Duration::from_millis(100)
    );

    let default = config.pool("default").unwrap();
    assert!(default.bgp_advertisements[0].link_bandwidth);
    assert_eq!(default.families(), [IpFamily::V4, IpFamily::V6]);
    assert_eq!(default.iter_family(IpFamily::V4).count(), 2);
    assert_eq!(
        default.bgp_advertisements[0].communities,
        BTreeSet::from([
            Community::standard(65535, 65282),
            Community::standard(64500, 1),
            Community::Large {
                global_admin: 64500,
                local_data1: 1,
                local_data2: 2
            },
            Community::Large {
                global_admin: 64500,
                local_data1: 100,
                local_data2: 1
            },
        ])
    );
    let proxy = default.proxy.as_ref().unwrap();
    assert!(proxy.enabled);
    assert_eq!(proxy.balance, Balance::LeastConnections);
    assert_eq!(proxy.proxy_protocol, ProxyProtocol::V2);
    assert_eq!(proxy.idle_timeout, Duration::from_secs(120));
    assert_eq!(proxy.max_connections, Some(10_000));
    assert_eq!(proxy.connect_timeout, Duration::from_secs(2));
    assert_eq!(proxy.handshake_timeout, Duration::from_secs(5));
    assert_eq!(proxy.drain_timeout, Duration::from_secs(60));
    assert_eq!(
        proxy.health_check,
        Some(HealthCheckSettings {
            interval: Duration::from_millis(500),
            rise: 1,
            fall: 2
        })
    );
    assert_eq!(
        default.tls.bundle,
        PathBuf::from("/etc/herald/tls/default.pem")
    );
    assert_eq!(default.tls.alpn, ["h2", "http/1.1"]);

    let office = config.pool("office").unwrap();
    let vrrp = office.vrrp.as_ref().unwrap();
    assert_eq!(
        vrrp.vrids,
        VridRange {
            first: 10,
            last: 20
        }
    );
    assert_eq!(vrrp.advert_interval, Duration::from_millis(100));
    assert_eq!(vrrp.unicast_peers, [ip("10.20.0.2"), ip("10.20.0.3")]);
    assert_eq!(office.interface.as_deref(), Some("eth1"));
}

#[test]
fn pool_helpers_answer_membership_and_size() {
    let config = valid(
        "address-pools:\n\
         - {name: p, protocol: bgp, avoid-buggy-ips: true,\n\
            addresses: [10.0.0.0/24, 10.0.1.250-10.0.2.5, \"2001:db8::/126\"]}",
    );
    let pool = &config.pools[0];
    assert!(pool.contains(ip("10.0.0.0")));
    assert!(!pool.is_assignable(ip("10.0.0.0")), ".0 is buggy");
    assert!(!pool.is_assignable(ip("10.0.1.255")), ".255 is buggy");
    assert!(pool.is_assignable(ip("10.0.2.1")));
    assert!(
        pool.is_assignable(ip("2001:db8::")),
        "IPv6 has no buggy addresses"
    );
    assert!(!pool.contains(ip("10.0.2.6")));
    assert_eq!(pool.size(IpFamily::V4), 256 + 12);
    assert_eq!(pool.size(IpFamily::V6), 4);
    assert_eq!(pool.cidrs(IpFamily::V4).len(), 1 + 4);
    assert_eq!(
        config
            .pool_containing(ip("10.0.1.251"))
            .map(|p| p.name.as_str()),
        Some("p")
    );
    assert!(config.pool_containing(ip("192.0.2.1")).is_none());
}

#[test]
fn communities_resolve_aliases_well_known_names_and_literals() {
    let config = valid(
        "bgp-communities: {gold: \"64500:1\", big: \"64500:2:3\", quiet: no-export}\n\
         address-pools:\n\
         - name: p\n  protocol: bgp\n  addresses: [10.0.0.0/24]\n\
         \x20 bgp-advertisements:\n\
         \x20 - communities: [gold, big, quiet, no-advertise, graceful-shutdown, \"1:2\", \"1:2:3\"]",
    );
    let got: Vec<String> = config.pools[0].bgp_advertisements[0]
        .communities
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            "1:2",
            "64500:1",
            "65535:0",
            "65535:65281",
            "65535:65282",
            "1:2:3",
            "64500:2:3"
        ]
    );
    assert_eq!(
        config.bgp_communities["quiet"],
        Community::standard(65535, 65281)
    );
}

#[test]
fn an_alias_overrides_a_well_known_name() {
    let config = valid(
        "bgp-communities: {no-export: \"64500:9\"}\n\
         address-pools: [{name: p, protocol: bgp, addresses: [10.0.0.0/24], bgp-advertisements: [{communities: [no-export]}]}]",
    );
    assert_eq!(
        config.pools[0].bgp_advertisements[0].communities,
        BTreeSet::from([Community::standard(64500, 9)])
    );
}

#[test]
fn aggregation_length_may_equal_the_widest_prefix() {
    let config = valid(
        "address-pools:\n\
         - name: p\n  protocol: bgp\n  addresses: [10.0.0.0/24, 10.0.1.0-10.0.1.255, \"2001:db8::/64\"]\n\
         \x20 bgp-advertisements: [{aggregation-length: 24, aggregation-length-v6: 64}]",
    );
    assert_eq!(config.pools[0].bgp_advertisements[0].aggregation_length, 24);
}

#[test]
fn yaml_anchors_and_merge_keys_work() {
    let config = valid(
        "peers:\n\
         - &base {peer-address: 10.0.0.1, peer-asn: 65001, my-asn: 65000, hold-time: 9s}\n\
         - <<: *base\n  peer-address: 10.0.0.2",
    );
    assert_eq!(config.peers[1].hold_time, Duration::from_secs(9));
    assert_eq!(config.peers[1].address, ip("10.0.0.2"));
}

#[test]
fn validate_file_contents_accepts_every_shape() {
    for name in [
        "metallb-0.12-example.yaml",
        "metallb-0.12-advanced.yaml",
        "k8slb-pool.json",
        "herald-extensions.yaml",
        "design-section-2.yaml",
    ] {
        assert!(validate_file_contents(&testdata(name)).is_ok(), "{name}");
    }
}

#[test]
fn config_deserializes_through_serde_with_validation() {
    let config: Config = serde_yaml::from_str(&testdata("metallb-0.12-advanced.yaml")).unwrap();
    assert_eq!(config.pools.len(), 4);
    let err = serde_yaml::from_str::<Config>("peers: [{peer-address: x, peer-asn: 0, my-asn: 1}]")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("peers[0].peer-address: invalid IP address \"x\""),
        "{err}"
    );
    assert!(
        err.contains("peers[0].peer-asn: AS number 0 is reserved (RFC 7607)"),
        "{err}"
    );
    assert!(err.contains("2 errors"), "{err}");
}

#[test]
fn schema_reference_example_is_accepted() {
    let schema =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/SCHEMA.md")).unwrap();
    let (_, rest) = schema.split_once("## Complete example").unwrap();
    let (_, block) = rest.split_once("```yaml\n").unwrap();
    let (yaml, _) = block.split_once("```").unwrap();
    let config = valid(yaml);
    assert_eq!(config.pools.len(), 2);
    assert_eq!(config.pool("office").unwrap().protocol, Protocol::Layer2);
}

#[test]
fn a_config_that_drops_a_held_address_is_refused() {
    let config = valid("address-pools: [{name: p, protocol: bgp, addresses: [10.0.0.0/24]}]");
    assert_eq!(
        config.check_held_addresses([(ip("10.0.0.7"), "web/front")]),
        Ok(())
    );
    let errors = config
        .check_held_addresses([(ip("10.0.1.7"), "web/front"), (ip("10.0.0.8"), "web/back")])
        .unwrap_err();
    assert_eq!(
        errors.to_string(),
        "address-pools: 10.0.1.7 is held by web/front but no pool contains it any more\n1 error"
    );
}
