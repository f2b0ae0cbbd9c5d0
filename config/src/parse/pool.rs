//! `address-pools[i]`, in MetalLB's shape (`addresses`) or k8slb's (`network` + `range`).

use std::path::PathBuf;
use std::time::Duration;

use serde_yaml::Value;

use crate::address::{AddressBlock, BlockFault, IpFamily, RangeFault};
use crate::error::ConfigErrorKind;
use crate::model::{
    Balance, BgpAdvertisement, HealthCheckSettings, Pool, Protocol, Proxy, ProxyProtocol, Tls,
    VridRange, Vrrp,
};
use crate::walk::{Errors, Map, Path, as_nonempty_str, as_str, integer};

use super::{Context, string_list};

const POOL_KEYS: &[&str] = &[
    "name",
    "protocol",
    "addresses",
    "network",
    "range",
    "auto-assign",
    "avoid-buggy-ips",
    "bgp-advertisements",
    "interface",
    "vrrp",
    "proxy",
    "tls",
];
const ADVERTISEMENT_KEYS: &[&str] = &[
    "aggregation-length",
    "aggregation-length-v6",
    "localpref",
    "communities",
    "link-bandwidth",
];
const VRRP_KEYS: &[&str] = &["vrids", "advert-interval", "unicast-peers"];
const PROXY_KEYS: &[&str] = &[
    "enabled",
    "balance",
    "proxy-protocol",
    "idle-timeout",
    "max-connections",
    "connect-timeout",
    "handshake-timeout",
    "drain-timeout",
    "health-check",
];
const HEALTH_CHECK_KEYS: &[&str] = &["interval", "rise", "fall"];
const TLS_KEYS: &[&str] = &["bundle", "alpn"];
/// The shortest `connect-timeout`, `handshake-timeout` and health-check `interval`.
const MIN_PROXY_TIMER: Duration = Duration::from_millis(10);

const MIN_ADVERT_INTERVAL: Duration = Duration::from_millis(10);
const MAX_ADVERT_INTERVAL: Duration = Duration::from_millis(40_950);

/// A pool as far as it parsed: what the cross-pool checks need survives other errors.
#[derive(Debug)]
pub(crate) struct ParsedPool {
    /// The pool, when it has no error of its own.
    pub(crate) pool: Option<Pool>,
    /// Its name and path, when the name is valid.
    pub(crate) name: Option<(String, Path)>,
    /// Its valid address blocks with their paths.
    pub(crate) blocks: Vec<(AddressBlock, Path)>,
}

pub(super) fn parse_pool(
    value: &Value,
    path: &Path,
    context: &Context,
    errors: &mut Errors,
) -> ParsedPool {
    let before = errors.0.len();
    let mut parsed = ParsedPool {
        pool: None,
        name: None,
        blocks: vec![],
    };
    let Some(map) = Map::read(value, path, errors) else {
        return parsed;
    };
    map.deny_unknown(POOL_KEYS, errors);

    let name = map
        .required("name", errors)
        .and_then(|v| as_nonempty_str(v, &map.path_of("name"), errors))
        .filter(|name| {
            // The name becomes a file name (the default TLS bundle), an annotation value
            // and a metric label.
            let ok = !name
                .chars()
                .any(|c| c == '/' || c.is_whitespace() || c.is_control());
            if !ok {
                errors.push(
                    &map.path_of("name"),
                    ConfigErrorKind::InvalidPoolName {
                        value: name.to_string(),
                    },
                );
            }
            ok
        });
    if let Some(name) = name {
        parsed.name = Some((name.to_string(), path.clone()));
    }

    let k8slb = map.has("network");
    let protocol = match map.get("protocol") {
        Some(v) => as_str(v, &map.path_of("protocol"), errors).and_then(|s| {
            let p = match s {
                "bgp" => Some(Protocol::Bgp),
                "layer2" => Some(Protocol::Layer2),
                _ => None,
            };
            if p.is_none() {
                errors.push(
                    &map.path_of("protocol"),
                    ConfigErrorKind::UnknownVariant {
                        value: s.to_string(),
                        expected: Protocol::NAMES,
                    },
                );
            }
            p
        }),
        None if k8slb => Some(Protocol::Layer2),
        None => {
            errors.push(&map.path_of("protocol"), ConfigErrorKind::MissingKey);
            None
        }
    };

    let network = if k8slb {
        k8slb_blocks(&map, &mut parsed, errors)
    } else {
        addresses_blocks(&map, &mut parsed, errors);
        None
    };

    let auto_assign = map.bool("auto-assign", errors).unwrap_or(true);
    let avoid_buggy_ips = map.bool("avoid-buggy-ips", errors).unwrap_or(false);

    let mut bgp_advertisements = Vec::new();
    if let Some(items) = map.list("bgp-advertisements", errors) {
        let ads_path = map.path_of("bgp-advertisements");
        if protocol == Some(Protocol::Layer2) && !items.is_empty() {
            errors.push(&ads_path, ConfigErrorKind::AdvertisementsOnLayer2Pool);
        }
        for (i, item) in items.iter().enumerate() {
            if let Some(ad) =
                advertisement(item, &ads_path.index(i), &parsed.blocks, context, errors)
            {
                bgp_advertisements.push(ad);
            }
        }
    }
    if protocol == Some(Protocol::Bgp) && bgp_advertisements.is_empty() {
        bgp_advertisements.push(BgpAdvertisement::default());
    }

    let interface = map
        .get("interface")
        .and_then(|v| interface(v, &map.path_of("interface"), errors));
    let vrrp = map
        .get("vrrp")
        .and_then(|v| vrrp(v, &map.path_of("vrrp"), errors));
    let proxy = map
        .get("proxy")
        .and_then(|v| proxy(v, &map.path_of("proxy"), errors));
    let tls = map
        .get("tls")
        .and_then(|v| tls(v, &map.path_of("tls"), errors));

    if errors.0.len() == before
        && let (Some(name), Some(protocol)) = (name, protocol)
    {
        parsed.pool = Some(Pool {
            name: name.to_string(),
            protocol,
            addresses: parsed.blocks.iter().map(|(b, _)| *b).collect(),
            network,
            auto_assign,
            avoid_buggy_ips,
            bgp_advertisements,
            interface: interface.map(str::to_string),
            vrrp,
            proxy,
            tls: match tls {
                Some((bundle, alpn)) => Tls {
                    bundle: bundle.unwrap_or_else(|| Tls::default_for(name).bundle),
                    alpn,
                },
                None => Tls::default_for(name),
            },
        });
    }
    parsed
}

/// MetalLB's `addresses` list.
fn addresses_blocks(map: &Map<'_>, parsed: &mut ParsedPool, errors: &mut Errors) {
    if map.has("range") {
        errors.push(
            &map.path_of("range"),
            ConfigErrorKind::RequiresKey {
                required: "network",
            },
        );
    }
    let path = map.path_of("addresses");
    let Some(value) = map.required("addresses", errors) else {
        return;
    };
    let entries = string_list(value, &path, errors);
    if matches!(value, Value::Sequence(items) if items.is_empty()) {
        errors.push(&path, ConfigErrorKind::EmptyPool);
    }
    for (text, entry_path) in entries {
        if let Some(block) = block(text, &entry_path, errors) {
            parsed.blocks.push((block, entry_path));
        }
    }
}

/// k8slb's `network` with an optional `range` inside it; returns the network.
fn k8slb_blocks(
    map: &Map<'_>,
    parsed: &mut ParsedPool,
    errors: &mut Errors,
) -> Option<ipnet::IpNet> {
    let network_path = map.path_of("network");
    if map.has("addresses") {
        errors.push(
            &network_path,
            ConfigErrorKind::ConflictingKeys { other: "addresses" },
        );
    }
    let network = map
        .string("network", errors)
        .and_then(|text| match AddressBlock::parse(text) {
            Ok(AddressBlock::Cidr(net)) => Some(net),
            _ => {
                errors.push(
                    &network_path,
                    ConfigErrorKind::InvalidNetwork {
                        value: text.to_string(),
                    },
                );
                None
            }
        });
    let range_path = map.path_of("range");
    match map.string("range", errors) {
        Some(text) => {
            let range = block(text, &range_path, errors)?;
            let network = network?;
            if network.contains(&range.first()) && network.contains(&range.last()) {
                parsed.blocks.push((range, range_path));
            } else {
                errors.push(
                    &range_path,
                    ConfigErrorKind::RangeOutsideNetwork {
                        range: range.to_string(),
                        network: network.to_string(),
                    },
                );
            }
        }
        None if !map.has("range") => {
            if let Some(net) = network {
                parsed.blocks.push((AddressBlock::Cidr(net), network_path));
            }
        }
        None => {}
    }
    network
}

fn block(text: &str, path: &Path, errors: &mut Errors) -> Option<AddressBlock> {
    let kind = match AddressBlock::parse(text) {
        Ok(block) => return Some(block),
        Err(BlockFault::Syntax | BlockFault::BadRangeEnd) => ConfigErrorKind::InvalidAddresses {
            value: text.to_string(),
        },
        Err(BlockFault::PrefixLength) => ConfigErrorKind::InvalidPrefixLength {
            value: text.to_string(),
        },
        Err(BlockFault::Range(RangeFault::StartAfterEnd, start, end)) => {
            ConfigErrorKind::RangeStartAfterEnd { start, end }
        }
        Err(BlockFault::Range(RangeFault::MixedFamily, start, end)) => {
            ConfigErrorKind::MixedFamilyRange { start, end }
        }
    };
    errors.push(path, kind);
    None
}

fn advertisement(
    value: &Value,
    path: &Path,
    blocks: &[(AddressBlock, Path)],
    context: &Context,
    errors: &mut Errors,
) -> Option<BgpAdvertisement> {
    let before = errors.0.len();
    let map = Map::read(value, path, errors)?;
    map.deny_unknown(ADVERTISEMENT_KEYS, errors);
    let defaults = BgpAdvertisement::default();
    let length_v4 = aggregation_length(&map, "aggregation-length", IpFamily::V4, blocks, errors)
        .unwrap_or(defaults.aggregation_length);
    let length_v6 = aggregation_length(&map, "aggregation-length-v6", IpFamily::V6, blocks, errors)
        .unwrap_or(defaults.aggregation_length_v6);
    let local_pref = map
        .int("localpref", 0, u64::from(u32::MAX), errors)
        .and_then(|n| u32::try_from(n).ok());
    let mut communities = defaults.communities;
    if let Some(v) = map.get("communities") {
        for (text, item_path) in string_list(v, &map.path_of("communities"), errors) {
            if let Some(c) = context.community(text.trim(), &item_path, errors) {
                communities.insert(c);
            }
        }
    }
    let link_bandwidth = map
        .bool("link-bandwidth", errors)
        .unwrap_or(defaults.link_bandwidth);
    (errors.0.len() == before).then_some(BgpAdvertisement {
        aggregation_length: length_v4,
        aggregation_length_v6: length_v6,
        local_pref,
        communities,
        link_bandwidth,
    })
}

/// An aggregation length: at most the family's width, and not shorter than the shortest
/// prefix covering any block of that family (else the aggregate would cover addresses that
/// are not in the pool; MetalLB's rule).
fn aggregation_length(
    map: &Map<'_>,
    key: &str,
    family: IpFamily,
    blocks: &[(AddressBlock, Path)],
    errors: &mut Errors,
) -> Option<u8> {
    let value = map.get(key)?;
    let path = map.path_of(key);
    let max = family.bits();
    let Some(n) = integer(value) else {
        errors.push(
            &path,
            ConfigErrorKind::WrongType {
                expected: "integer",
                found: crate::walk::type_name(value),
            },
        );
        return None;
    };
    if n < 0 {
        errors.push(
            &path,
            ConfigErrorKind::OutOfRange {
                value: n,
                min: 0,
                max: u64::from(max),
            },
        );
        return None;
    }
    let Ok(length) = u8::try_from(n)
        .map_err(drop)
        .and_then(|l| if l > max { Err(()) } else { Ok(l) })
    else {
        errors.push(
            &path,
            ConfigErrorKind::AggregationLengthTooLong {
                length: u32::try_from(n).unwrap_or(u32::MAX),
                max,
            },
        );
        return None;
    };
    let mut ok = true;
    for (block, _) in blocks.iter().filter(|(b, _)| b.family() == family) {
        let prefix_len = block.shortest_prefix_len();
        if length < prefix_len {
            errors.push(
                &path,
                ConfigErrorKind::AggregationLengthTooShort {
                    length,
                    prefix_len,
                    block: block.to_string(),
                },
            );
            ok = false;
        }
    }
    ok.then_some(length)
}

/// Linux interface names: 1-15 bytes, no '/', no whitespace, not "." or "..".
fn interface<'v>(value: &'v Value, path: &Path, errors: &mut Errors) -> Option<&'v str> {
    let name = as_str(value, path, errors)?;
    let valid = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0);
    if !valid {
        errors.push(
            path,
            ConfigErrorKind::InvalidInterfaceName {
                value: name.to_string(),
            },
        );
        return None;
    }
    Some(name)
}

fn vrrp(value: &Value, path: &Path, errors: &mut Errors) -> Option<Vrrp> {
    let before = errors.0.len();
    let map = Map::read(value, path, errors)?;
    map.deny_unknown(VRRP_KEYS, errors);
    let defaults = Vrrp::default();
    let vrids = map
        .get("vrids")
        .and_then(|v| vrids(v, &map.path_of("vrids"), errors));
    let advert_interval = map.duration("advert-interval", errors).and_then(|d| {
        let path = map.path_of("advert-interval");
        if d.subsec_nanos() % 10_000_000 != 0 {
            errors.push(&path, ConfigErrorKind::NotWholeCentiseconds { value: d });
            None
        } else if !(MIN_ADVERT_INTERVAL..=MAX_ADVERT_INTERVAL).contains(&d) {
            errors.push(
                &path,
                ConfigErrorKind::DurationOutOfRange {
                    value: d,
                    min: MIN_ADVERT_INTERVAL,
                    max: MAX_ADVERT_INTERVAL,
                },
            );
            None
        } else {
            Some(d)
        }
    });
    let mut unicast_peers = Vec::new();
    if let Some(v) = map.get("unicast-peers") {
        for (text, item_path) in string_list(v, &map.path_of("unicast-peers"), errors) {
            match text.trim().parse() {
                Ok(ip) => unicast_peers.push(ip),
                Err(_) => errors.push(
                    &item_path,
                    ConfigErrorKind::InvalidIp {
                        value: text.to_string(),
                    },
                ),
            }
        }
    }
    (errors.0.len() == before).then(|| Vrrp {
        vrids: vrids.unwrap_or(defaults.vrids),
        advert_interval: advert_interval.unwrap_or(defaults.advert_interval),
        unicast_peers,
    })
}

/// `vrids: 7`, `vrids: "7"` or `vrids: 1-255`.
fn vrids(value: &Value, path: &Path, errors: &mut Errors) -> Option<VridRange> {
    let one = |n: i128, errors: &mut Errors| {
        let vrid = u8::try_from(n).ok().filter(|v| *v >= 1);
        if vrid.is_none() {
            errors.push(path, ConfigErrorKind::VridOutOfRange { value: n });
        }
        vrid
    };
    if let Some(n) = integer(value) {
        let v = one(n, errors)?;
        return Some(VridRange { first: v, last: v });
    }
    let text = as_str(value, path, errors)?;
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    let (Ok(first), Ok(last)) = (first.trim().parse::<i128>(), last.trim().parse::<i128>()) else {
        errors.push(
            path,
            ConfigErrorKind::InvalidVridRange {
                value: text.to_string(),
            },
        );
        return None;
    };
    let (first, last) = (one(first, errors), one(last, errors));
    let (first, last) = (first?, last?);
    if first > last {
        errors.push(
            path,
            ConfigErrorKind::InvalidVridRange {
                value: text.to_string(),
            },
        );
        return None;
    }
    Some(VridRange { first, last })
}

fn proxy(value: &Value, path: &Path, errors: &mut Errors) -> Option<Proxy> {
    let before = errors.0.len();
    let map = Map::read(value, path, errors)?;
    map.deny_unknown(PROXY_KEYS, errors);
    let defaults = Proxy::default();
    let word = |key: &str, names: &'static [&'static str], errors: &mut Errors| {
        let text = map.string(key, errors)?;
        let found = names.iter().position(|n| *n == text);
        if found.is_none() {
            errors.push(
                &map.path_of(key),
                ConfigErrorKind::UnknownVariant {
                    value: text.to_string(),
                    expected: names,
                },
            );
        }
        found
    };
    let balance = word("balance", Balance::NAMES, errors).map(|i| match i {
        0 => Balance::RoundRobin,
        _ => Balance::LeastConnections,
    });
    let proxy_protocol = word("proxy-protocol", ProxyProtocol::NAMES, errors).map(|i| match i {
        0 => ProxyProtocol::None,
        1 => ProxyProtocol::V1,
        _ => ProxyProtocol::V2,
    });
    let proxy = Proxy {
        enabled: map.bool("enabled", errors).unwrap_or(defaults.enabled),
        balance: balance.unwrap_or(defaults.balance),
        proxy_protocol: proxy_protocol.unwrap_or(defaults.proxy_protocol),
        idle_timeout: map
            .duration("idle-timeout", errors)
            .unwrap_or(defaults.idle_timeout),
        max_connections: map
            .int("max-connections", 1, u64::from(u32::MAX), errors)
            .and_then(|n| u32::try_from(n).ok()),
        connect_timeout: positive_duration(&map, "connect-timeout", errors)
            .unwrap_or(defaults.connect_timeout),
        handshake_timeout: positive_duration(&map, "handshake-timeout", errors)
            .unwrap_or(defaults.handshake_timeout),
        drain_timeout: map
            .duration("drain-timeout", errors)
            .unwrap_or(defaults.drain_timeout),
        health_check: map
            .get("health-check")
            .and_then(|v| health_check(v, &map.path_of("health-check"), errors)),
    };
    (errors.0.len() == before).then_some(proxy)
}

/// A duration of at least [`MIN_PROXY_TIMER`] (a zero timeout would refuse everything).
fn positive_duration(map: &Map<'_>, key: &str, errors: &mut Errors) -> Option<Duration> {
    let d = map.duration(key, errors)?;
    if d < MIN_PROXY_TIMER {
        errors.push(
            &map.path_of(key),
            ConfigErrorKind::DurationTooShort {
                value: d,
                min: MIN_PROXY_TIMER,
            },
        );
        return None;
    }
    Some(d)
}

fn health_check(value: &Value, path: &Path, errors: &mut Errors) -> Option<HealthCheckSettings> {
    let before = errors.0.len();
    let map = Map::read(value, path, errors)?;
    map.deny_unknown(HEALTH_CHECK_KEYS, errors);
    let defaults = HealthCheckSettings::default();
    let count = |key: &str, errors: &mut Errors| {
        map.int(key, 1, 1000, errors)
            .and_then(|n| u32::try_from(n).ok())
    };
    let check = HealthCheckSettings {
        interval: positive_duration(&map, "interval", errors).unwrap_or(defaults.interval),
        rise: count("rise", errors).unwrap_or(defaults.rise),
        fall: count("fall", errors).unwrap_or(defaults.fall),
    };
    (errors.0.len() == before).then_some(check)
}

/// The `tls` mapping: its bundle (`None`: the pool's default) and ALPN protocols.
fn tls(value: &Value, path: &Path, errors: &mut Errors) -> Option<(Option<PathBuf>, Vec<String>)> {
    let before = errors.0.len();
    let map = Map::read(value, path, errors)?;
    map.deny_unknown(TLS_KEYS, errors);
    let bundle_path = map.path_of("bundle");
    let bundle = map
        .get("bundle")
        .and_then(|v| as_nonempty_str(v, &bundle_path, errors));
    if let Some(b) = bundle
        && !b.starts_with('/')
    {
        errors.push(
            &bundle_path,
            ConfigErrorKind::NotAbsolutePath {
                value: b.to_string(),
            },
        );
    }
    let mut alpn = Vec::new();
    if let Some(v) = map.get("alpn") {
        for (text, item_path) in string_list(v, &map.path_of("alpn"), errors) {
            // RFC 7301: a protocol id is 1-255 bytes.
            if text.is_empty() || text.len() > 255 {
                errors.push(
                    &item_path,
                    ConfigErrorKind::InvalidAlpn {
                        value: text.to_string(),
                    },
                );
            } else {
                alpn.push(text.to_string());
            }
        }
    }
    if errors.0.len() != before {
        return None;
    }
    // `tls: {}` keeps the default bundle; the caller fills it in from the pool name.
    Some((bundle.map(PathBuf::from), alpn))
}
