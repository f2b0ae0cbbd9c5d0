//! The typed config serializes back to MetalLB's YAML shape and parses to the same value:
//! `parse(serialize(c)) == c`, for the examples and for generated configs.

// Helpers and strategies outside #[test] fns unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use common::{testdata, valid};
use herald_config::{
    AddressBlock, Balance, BfdProfile, BfdSettings, BgpAdvertisement, Community, Config,
    GracefulRestart, HealthCheckSettings, IpFamily, IpRange, LabelRequirement, NodeSelector, Peer,
    PeerBfd, Pool, Protocol, Proxy, ProxyProtocol, SelectorOperator, Tls, VridRange, Vrrp,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

fn round_trip(config: &Config) -> Config {
    let yaml = config.to_yaml().expect("serializes");
    match Config::from_yaml(&yaml) {
        Ok(back) => back,
        Err(errors) => panic!("serialized config was refused:\n{errors}\n---\n{yaml}"),
    }
}

#[test]
fn example_configs_round_trip() {
    for name in [
        "metallb-0.12-example.yaml",
        "metallb-0.12-advanced.yaml",
        "k8slb-pool.json",
        "herald-extensions.yaml",
        "design-section-2.yaml",
    ] {
        let config = valid(&testdata(name));
        assert_eq!(round_trip(&config), config, "{name}");
    }
}

#[test]
fn serialized_config_is_metallb_shaped() {
    let config = valid(&testdata("metallb-0.12-example.yaml"));
    let yaml = config.to_yaml().unwrap();
    let expected = "\
peers:
- peer-address: 10.0.0.1
  peer-asn: 64512
  my-asn: 64512
  peer-port: 179
  hold-time: 120s
  keepalive-time: 40s
  router-id: 1.2.3.4
  password: yourPassword
  ebgp-multihop: false
  node-selectors:
  - match-labels:
      kubernetes.io/hostname: prod-01
    match-expressions:
    - key: beta.kubernetes.io/arch
      operator: In
      values:
      - amd64
      - arm
bgp-communities:
  no-export: 65535:65281
address-pools:
- name: my-ip-space
  protocol: bgp
  addresses:
  - 198.51.100.0/24
  - 192.168.0.150-192.168.0.200
  auto-assign: false
  avoid-buggy-ips: true
  bgp-advertisements:
  - aggregation-length: 32
    aggregation-length-v6: 128
    localpref: 100
    communities:
    - 64512:1
    - 65535:65281
";
    assert_eq!(yaml, expected);
}

#[test]
fn k8slb_pools_serialize_back_as_network_and_range() {
    let config = valid(&testdata("k8slb-pool.json"));
    let yaml = config.to_yaml().unwrap();
    assert!(yaml.contains("network: 192.168.1.0/24\n"), "{yaml}");
    assert!(
        yaml.contains("range: 192.168.1.240-192.168.1.250\n"),
        "{yaml}"
    );
    assert!(!yaml.contains("addresses"), "{yaml}");
}

#[test]
fn config_round_trips_through_json() {
    let config = valid(&testdata("herald-extensions.yaml"));
    let json = serde_json::to_string(&config).unwrap();
    let back: Config = serde_json::from_str(&json).unwrap();
    assert_eq!(back, config);
}

// ---- generated configs -------------------------------------------------------------------

fn arb_duration_secs(max: u64) -> impl Strategy<Value = Duration> {
    (0..=max).prop_map(Duration::from_secs)
}

fn arb_interval() -> impl Strategy<Value = Duration> {
    (10u64..=60_000).prop_map(Duration::from_millis)
}

fn arb_bfd_settings() -> impl Strategy<Value = BfdSettings> {
    (
        arb_interval(),
        arb_interval(),
        2u8..=255,
        arb_interval(),
        any::<bool>(),
        any::<bool>(),
        1u8..=254,
    )
        .prop_map(
            |(rx, tx, mult, echo, echo_mode, passive, ttl)| BfdSettings {
                receive_interval: rx,
                transmit_interval: tx,
                detect_multiplier: mult,
                echo_interval: echo,
                echo_mode,
                passive_mode: passive,
                minimum_ttl: ttl,
            },
        )
}

fn arb_label_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("rack".to_string()),
        Just("kubernetes.io/hostname".to_string()),
        Just("topology.kubernetes.io/zone".to_string()),
        "[a-z][a-z0-9-]{0,10}[a-z0-9]",
    ]
}

fn arb_label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Za-z0-9]([A-Za-z0-9._-]{0,8}[A-Za-z0-9])?"
    ]
}

fn arb_requirement() -> impl Strategy<Value = LabelRequirement> {
    (
        arb_label_key(),
        0usize..4,
        prop::collection::vec(arb_label_value(), 1..4),
    )
        .prop_map(|(key, op, values)| {
            let operator = [
                SelectorOperator::In,
                SelectorOperator::NotIn,
                SelectorOperator::Exists,
                SelectorOperator::DoesNotExist,
            ][op];
            let values = if operator.takes_values() {
                values
            } else {
                vec![]
            };
            LabelRequirement {
                key,
                operator,
                values,
            }
        })
}

fn arb_selector() -> impl Strategy<Value = NodeSelector> {
    (
        prop::collection::btree_map(arb_label_key(), arb_label_value(), 0..3),
        prop::collection::vec(arb_requirement(), 0..3),
    )
        .prop_map(|(match_labels, match_expressions)| NodeSelector {
            match_labels,
            match_expressions,
        })
}

fn arb_community() -> impl Strategy<Value = Community> {
    prop_oneof![
        any::<u32>().prop_map(Community::Standard),
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c)| Community::Large {
            global_admin: a,
            local_data1: b,
            local_data2: c
        }),
    ]
}

/// A peer whose address is unique by `index`; `profiles` are the names it may refer to.
fn arb_peer(index: u16, profiles: Vec<BfdProfile>) -> impl Strategy<Value = Peer> {
    let v6 = any::<bool>();
    (
        v6,
        (1u32..=u32::MAX, 1u32..=u32::MAX, 1u16..=u16::MAX),
        prop_oneof![Just(0u64), 3u64..=65535],
        any::<u64>(),
        (
            prop::option::of(1u32..=u32::MAX),
            any::<bool>(),
            prop::option::of("[ -~]{1,80}"),
        ),
        (
            any::<bool>(),
            any::<bool>(),
            prop::collection::vec(arb_selector(), 0..3),
        ),
        (0usize..3, arb_bfd_settings(), any::<prop::sample::Index>()),
        prop::option::of(arb_duration_secs(4095)),
    )
        .prop_map(
            move |(
                v6,
                (asn, my_asn, port),
                hold,
                keepalive,
                (rid, with_source, password),
                (multihop, gtsm, selectors),
                (bfd_kind, inline, pick),
                gr,
            )| {
                let [hi, lo] = index.to_be_bytes();
                let (address, source) = if v6 {
                    (
                        IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, index)),
                        IpAddr::V6(Ipv6Addr::new(0xfd00, 2, 0, 0, 0, 0, 0, index)),
                    )
                } else {
                    (
                        IpAddr::V4(Ipv4Addr::new(10, 250, hi, lo)),
                        IpAddr::V4(Ipv4Addr::new(10, 251, hi, lo)),
                    )
                };
                let bfd = match bfd_kind {
                    1 => Some(PeerBfd {
                        profile: None,
                        settings: inline,
                    }),
                    2 if !profiles.is_empty() => {
                        let p = &profiles[pick.index(profiles.len())];
                        Some(PeerBfd {
                            profile: Some(p.name.clone()),
                            settings: p.settings,
                        })
                    }
                    _ => None,
                };
                Peer {
                    address,
                    asn,
                    my_asn,
                    port,
                    hold_time: Duration::from_secs(hold),
                    keepalive_time: Duration::from_secs(if hold == 0 {
                        0
                    } else {
                        keepalive % (hold + 1)
                    }),
                    router_id: rid.map(Ipv4Addr::from),
                    source_address: with_source.then_some(source),
                    password,
                    ebgp_multihop: multihop && !gtsm,
                    node_selectors: selectors,
                    bfd,
                    graceful_restart: gr.map(|restart_time| GracefulRestart { restart_time }),
                    gtsm,
                }
            },
        )
}

/// One block inside the /24 (IPv4) or /112 (IPv6) that pool `pool` owns at slot `slot`,
/// so blocks of different pools or slots never overlap.
fn arb_block(pool: u8, slot: u8) -> impl Strategy<Value = AddressBlock> {
    (
        any::<bool>(),
        any::<bool>(),
        24u8..=32,
        112u8..=128,
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(move |(v6, range, len4, len6, a, b)| {
            let (lo, hi) = (a.min(b), a.max(b));
            match (v6, range) {
                (false, false) => {
                    let net = Ipv4Net::new(Ipv4Addr::new(10, pool, slot, lo), len4).unwrap();
                    AddressBlock::Cidr(IpNet::V4(net.trunc()))
                }
                (false, true) => AddressBlock::Range(
                    IpRange::new(
                        Ipv4Addr::new(10, pool, slot, lo).into(),
                        Ipv4Addr::new(10, pool, slot, hi).into(),
                    )
                    .unwrap(),
                ),
                (true, false) => {
                    let addr = Ipv6Addr::new(
                        0xfd10,
                        0,
                        0,
                        0,
                        0,
                        u16::from(pool),
                        u16::from(slot),
                        u16::from(lo),
                    );
                    AddressBlock::Cidr(IpNet::V6(Ipv6Net::new(addr, len6).unwrap().trunc()))
                }
                (true, true) => {
                    let at = |x: u8| {
                        Ipv6Addr::new(
                            0xfd10,
                            0,
                            0,
                            0,
                            0,
                            u16::from(pool),
                            u16::from(slot),
                            u16::from(x),
                        )
                    };
                    AddressBlock::Range(IpRange::new(at(lo).into(), at(hi).into()).unwrap())
                }
            }
        })
}

fn arb_advertisement(blocks: Vec<AddressBlock>) -> impl Strategy<Value = BgpAdvertisement> {
    let bound = |family: IpFamily| {
        blocks
            .iter()
            .filter(|b| b.family() == family)
            .map(AddressBlock::shortest_prefix_len)
            .max()
            .unwrap_or(0)
    };
    let (min4, min6) = (bound(IpFamily::V4), bound(IpFamily::V6));
    (
        min4..=32,
        min6..=128,
        prop::option::of(any::<u32>()),
        prop::collection::btree_set(arb_community(), 0..4),
        any::<bool>(),
    )
        .prop_map(
            |(
                aggregation_length,
                aggregation_length_v6,
                local_pref,
                communities,
                link_bandwidth,
            )| {
                BgpAdvertisement {
                    aggregation_length,
                    aggregation_length_v6,
                    local_pref,
                    communities,
                    link_bandwidth,
                }
            },
        )
}

/// A pool's `tls`: bundle path and ALPN protocols.
type ArbTls = (PathBuf, Vec<String>);

fn arb_extensions()
-> impl Strategy<Value = (Option<String>, Option<Vrrp>, Option<Proxy>, Option<ArbTls>)> {
    let vrrp = (
        1u8..=255,
        1u8..=255,
        1u64..=4095,
        prop::collection::vec(any::<[u8; 4]>(), 0..3),
    )
        .prop_map(|(a, b, cs, peers)| Vrrp {
            vrids: VridRange {
                first: a.min(b),
                last: a.max(b),
            },
            advert_interval: Duration::from_millis(cs * 10),
            unicast_peers: peers
                .into_iter()
                .map(|p| IpAddr::V4(Ipv4Addr::from(p)))
                .collect(),
        });
    let proxy = (
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        0u64..100_000,
        prop::option::of(1u32..=u32::MAX),
        (10u64..100_000, 10u64..100_000, 0u64..100_000),
        prop::option::of((10u64..100_000, 1u32..=1000, 1u32..=1000)),
    )
        .prop_map(
            |(enabled, least, pp, idle, max, (connect, handshake, drain), check)| Proxy {
                enabled,
                balance: if least {
                    Balance::LeastConnections
                } else {
                    Balance::RoundRobin
                },
                proxy_protocol: [ProxyProtocol::None, ProxyProtocol::V1, ProxyProtocol::V2][pp],
                idle_timeout: Duration::from_millis(idle),
                max_connections: max,
                connect_timeout: Duration::from_millis(connect),
                handshake_timeout: Duration::from_millis(handshake),
                drain_timeout: Duration::from_millis(drain),
                health_check: check.map(|(interval, rise, fall)| HealthCheckSettings {
                    interval: Duration::from_millis(interval),
                    rise,
                    fall,
                }),
            },
        );
    (
        prop::option::of(
            "[a-z][a-z0-9.-]{0,14}".prop_filter("not . or ..", |s| s != "." && s != ".."),
        ),
        prop::option::of(vrrp),
        prop::option::of(proxy),
        prop::option::of((
            "/[a-z]{1,8}/[a-z]{1,8}\\.pem".prop_map(PathBuf::from),
            prop::collection::vec("[a-z0-9/.]{1,12}", 0..3),
        )),
    )
}

fn arb_pool(index: u8) -> impl Strategy<Value = Pool> {
    let blocks = prop::collection::vec(0u8..=255, 1..5).prop_flat_map(move |slots| {
        let slots: BTreeSet<u8> = slots.into_iter().collect();
        slots
            .into_iter()
            .map(|slot| arb_block(index, slot))
            .collect::<Vec<_>>()
    });
    (
        blocks,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        arb_extensions(),
    )
        .prop_flat_map(move |(blocks, bgp, k8slb, auto_assign, buggy, ext)| {
            // The k8slb shape holds one block inside a network.
            let (blocks, network) = if k8slb {
                let block = blocks[0];
                let network = match block.family() {
                    IpFamily::V4 => {
                        IpNet::V4(Ipv4Net::new(Ipv4Addr::new(10, index, 0, 0), 16).unwrap())
                    }
                    IpFamily::V6 => "fd10::/64".parse::<IpNet>().unwrap(),
                };
                (vec![block], Some(network))
            } else {
                (blocks, None)
            };
            let ads = if bgp {
                prop::collection::vec(arb_advertisement(blocks.clone()), 1..3).boxed()
            } else {
                Just(vec![]).boxed()
            };
            (
                Just(blocks),
                Just(network),
                ads,
                Just((bgp, auto_assign, buggy, ext.clone())),
            )
        })
        .prop_map(
            move |(addresses, network, bgp_advertisements, (bgp, auto_assign, buggy, ext))| {
                let name = format!("pool-{index}");
                let (interface, vrrp, proxy, bundle) = ext;
                Pool {
                    tls: bundle.map_or_else(
                        || Tls::default_for(&name),
                        |(bundle, alpn)| Tls { bundle, alpn },
                    ),
                    name,
                    protocol: if bgp { Protocol::Bgp } else { Protocol::Layer2 },
                    addresses,
                    network,
                    auto_assign,
                    avoid_buggy_ips: buggy,
                    bgp_advertisements,
                    interface,
                    vrrp,
                    proxy,
                }
            },
        )
}

fn arb_config() -> impl Strategy<Value = Config> {
    let profiles =
        prop::collection::btree_map("[a-z]{1,6}", arb_bfd_settings(), 0..3).prop_map(|m| {
            m.into_iter()
                .map(|(name, settings)| BfdProfile { name, settings })
                .collect::<Vec<_>>()
        });
    (
        profiles,
        0u16..4,
        0u8..4,
        prop::collection::btree_map("[a-z][a-z-]{0,8}", arb_community(), 0..3),
    )
        .prop_flat_map(|(profiles, n_peers, n_pools, aliases)| {
            let peers: Vec<_> = (0..n_peers)
                .map(|i| arb_peer(i, profiles.clone()))
                .collect();
            let pools: Vec<_> = (0..n_pools).map(arb_pool).collect();
            (Just(profiles), peers, pools, Just(aliases))
        })
        .prop_map(|(bfd_profiles, peers, pools, bgp_communities)| Config {
            peers,
            bgp_communities: bgp_communities.into_iter().collect::<BTreeMap<_, _>>(),
            bfd_profiles,
            pools,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_configs_round_trip(config in arb_config()) {
        let yaml = config.to_yaml().unwrap();
        match Config::from_yaml(&yaml) {
            Ok(back) => prop_assert_eq!(back, config),
            Err(errors) => prop_assert!(false, "refused:\n{}\n---\n{}", errors, yaml),
        }
    }
}
