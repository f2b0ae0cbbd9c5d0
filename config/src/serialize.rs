//! `Serialize` / `Deserialize` for [`Config`] in MetalLB's YAML shape. Serializing writes
//! every default explicitly, so `parse(serialize(c)) == c`; deserializing goes through the
//! same validation as [`Config::from_yaml`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::address::AddressBlock;
use crate::duration::format_duration;
use crate::model::{
    BfdSettings, BgpAdvertisement, Config, GracefulRestart, Peer, Pool, Proxy, Tls, Vrrp,
};
use crate::selector::NodeSelector;

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct File<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    peers: Vec<RawPeer<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    bgp_communities: BTreeMap<&'a str, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bfd_profiles: Vec<RawBfdProfile<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    address_pools: Vec<RawPool<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RawPeer<'a> {
    peer_address: IpAddr,
    peer_asn: u32,
    my_asn: u32,
    peer_port: u16,
    hold_time: String,
    keepalive_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    router_id: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_address: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    ebgp_multihop: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_selectors: Vec<RawSelector<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bfd_profile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bfd: Option<RawBfd>,
    #[serde(skip_serializing_if = "Option::is_none")]
    graceful_restart: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    gtsm: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RawSelector<'a> {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    match_labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    match_expressions: Vec<RawExpression<'a>>,
}

#[derive(Serialize)]
struct RawExpression<'a> {
    key: &'a str,
    operator: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    values: &'a Vec<String>,
}

/// BFD timers in MetalLB's form: integers in milliseconds.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RawBfd {
    receive_interval: u128,
    transmit_interval: u128,
    detect_multiplier: u8,
    echo_interval: u128,
    echo_mode: bool,
    passive_mode: bool,
    minimum_ttl: u8,
}

#[derive(Serialize)]
struct RawBfdProfile<'a> {
    name: &'a str,
    #[serde(flatten)]
    settings: RawBfd,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RawPool<'a> {
    name: &'a str,
    protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    addresses: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<String>,
    auto_assign: bool,
    avoid_buggy_ips: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bgp_advertisements: Vec<RawAdvertisement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interface: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vrrp: Option<RawVrrp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy: Option<RawProxy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<RawTls>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RawAdvertisement {
    aggregation_length: u8,
    aggregation_length_v6: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    localpref: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    communities: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    link_bandwidth: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RawVrrp {
    vrids: String,
    advert_interval: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unicast_peers: Vec<IpAddr>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RawProxy {
    enabled: bool,
    balance: &'static str,
    proxy_protocol: &'static str,
    idle_timeout: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_connections: Option<u32>,
    connect_timeout: String,
    handshake_timeout: String,
    drain_timeout: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    health_check: Option<RawHealthCheck>,
}

#[derive(Serialize)]
struct RawHealthCheck {
    interval: String,
    rise: u32,
    fall: u32,
}

#[derive(Serialize)]
struct RawTls {
    bundle: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    alpn: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Serialize for Config {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        File {
            peers: self.peers.iter().map(raw_peer).collect(),
            bgp_communities: self
                .bgp_communities
                .iter()
                .map(|(name, c)| (name.as_str(), c.to_string()))
                .collect(),
            bfd_profiles: self
                .bfd_profiles
                .iter()
                .map(|p| RawBfdProfile {
                    name: &p.name,
                    settings: raw_bfd(&p.settings),
                })
                .collect(),
            address_pools: self.pools.iter().map(raw_pool).collect(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Config {
    /// Reads any self-describing format (YAML, JSON) and validates it like
    /// [`Config::from_yaml`]; the error message lists every problem.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_yaml::Value::deserialize(deserializer)?;
        crate::parse::parse_value(value).map_err(serde::de::Error::custom)
    }
}

fn raw_peer(p: &Peer) -> RawPeer<'_> {
    RawPeer {
        peer_address: p.address,
        peer_asn: p.asn,
        my_asn: p.my_asn,
        peer_port: p.port,
        hold_time: format_duration(p.hold_time),
        keepalive_time: format_duration(p.keepalive_time),
        router_id: p.router_id,
        source_address: p.source_address,
        password: p.password.as_deref(),
        ebgp_multihop: p.ebgp_multihop,
        node_selectors: p.node_selectors.iter().map(raw_selector).collect(),
        bfd_profile: p.bfd.as_ref().and_then(|b| b.profile.as_deref()),
        bfd: p
            .bfd
            .as_ref()
            .filter(|b| b.profile.is_none())
            .map(|b| raw_bfd(&b.settings)),
        graceful_restart: p
            .graceful_restart
            .map(|GracefulRestart { restart_time }| format_duration(restart_time)),
        gtsm: p.gtsm,
    }
}

fn raw_selector(s: &NodeSelector) -> RawSelector<'_> {
    RawSelector {
        match_labels: &s.match_labels,
        match_expressions: s
            .match_expressions
            .iter()
            .map(|e| RawExpression {
                key: &e.key,
                operator: e.operator.name(),
                values: &e.values,
            })
            .collect(),
    }
}

fn raw_bfd(s: &BfdSettings) -> RawBfd {
    RawBfd {
        receive_interval: s.receive_interval.as_millis(),
        transmit_interval: s.transmit_interval.as_millis(),
        detect_multiplier: s.detect_multiplier,
        echo_interval: s.echo_interval.as_millis(),
        echo_mode: s.echo_mode,
        passive_mode: s.passive_mode,
        minimum_ttl: s.minimum_ttl,
    }
}

fn raw_pool(p: &Pool) -> RawPool<'_> {
    let (addresses, network, range) = match p.network {
        Some(net) => {
            let range = match p.addresses.as_slice() {
                [AddressBlock::Cidr(whole)] if *whole == net => None,
                blocks => blocks.first().map(ToString::to_string),
            };
            (None, Some(net.to_string()), range)
        }
        None => (
            Some(p.addresses.iter().map(ToString::to_string).collect()),
            None,
            None,
        ),
    };
    RawPool {
        name: &p.name,
        protocol: p.protocol.name(),
        addresses,
        network,
        range,
        auto_assign: p.auto_assign,
        avoid_buggy_ips: p.avoid_buggy_ips,
        bgp_advertisements: p.bgp_advertisements.iter().map(raw_advertisement).collect(),
        interface: p.interface.as_deref(),
        vrrp: p.vrrp.as_ref().map(raw_vrrp),
        proxy: p.proxy.as_ref().map(raw_proxy),
        tls: (p.tls != Tls::default_for(&p.name)).then(|| RawTls {
            bundle: p.tls.bundle.to_string_lossy().into_owned(),
            alpn: p.tls.alpn.clone(),
        }),
    }
}

fn raw_advertisement(a: &BgpAdvertisement) -> RawAdvertisement {
    RawAdvertisement {
        aggregation_length: a.aggregation_length,
        aggregation_length_v6: a.aggregation_length_v6,
        localpref: a.local_pref,
        communities: a.communities.iter().map(ToString::to_string).collect(),
        link_bandwidth: a.link_bandwidth,
    }
}

fn raw_vrrp(v: &Vrrp) -> RawVrrp {
    RawVrrp {
        vrids: format!("{}-{}", v.vrids.first, v.vrids.last),
        advert_interval: format_duration(v.advert_interval),
        unicast_peers: v.unicast_peers.clone(),
    }
}

fn raw_proxy(p: &Proxy) -> RawProxy {
    RawProxy {
        enabled: p.enabled,
        balance: p.balance.name(),
        proxy_protocol: p.proxy_protocol.name(),
        idle_timeout: format_duration(p.idle_timeout),
        max_connections: p.max_connections,
        connect_timeout: format_duration(p.connect_timeout),
        handshake_timeout: format_duration(p.handshake_timeout),
        drain_timeout: format_duration(p.drain_timeout),
        health_check: p.health_check.map(|h| RawHealthCheck {
            interval: format_duration(h.interval),
            rise: h.rise,
            fall: h.fall,
        }),
    }
}
