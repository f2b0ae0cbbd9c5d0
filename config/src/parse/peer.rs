//! `peers[i]`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_yaml::Value;

use crate::address::IpFamily;
use crate::error::ConfigErrorKind;
use crate::model::{GracefulRestart, Peer};
use crate::selector::NodeSelector;
use crate::walk::{Errors, Map, Path, as_duration, type_name};

use super::{Context, bfd, selector};

const PEER_KEYS: &[&str] = &[
    "peer-address",
    "peer-asn",
    "my-asn",
    "peer-port",
    "hold-time",
    "keepalive-time",
    "router-id",
    "source-address",
    "password",
    "ebgp-multihop",
    "node-selectors",
    "bfd-profile",
    "bfd",
    "graceful-restart",
    "gtsm",
];

const DEFAULT_PORT: u16 = 179;
const DEFAULT_HOLD_TIME: Duration = Duration::from_secs(90);
const MAX_HOLD_TIME: Duration = Duration::from_secs(65535);
const MAX_RESTART_TIME: Duration = Duration::from_secs(4095);
const MAX_PASSWORD_LEN: usize = 80;

/// Parses the peer list and reports duplicates.
pub(super) fn parse_peers(
    items: &[Value],
    path: &Path,
    context: &Context,
    errors: &mut Errors,
) -> Vec<Peer> {
    let mut peers: Vec<(Peer, Path)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_path = path.index(i);
        let Some(peer) = parse_peer(item, &item_path, context, errors) else {
            continue;
        };
        if let Some((_, first)) = peers.iter().find(|(p, _)| same_session(p, &peer)) {
            errors.push(
                &item_path,
                ConfigErrorKind::DuplicatePeer {
                    first: first.as_str().to_string(),
                },
            );
            continue;
        }
        peers.push((peer, item_path));
    }
    peers.into_iter().map(|(p, _)| p).collect()
}

/// Two peers that one node would both open to the same remote endpoint from the same
/// local address. Different ASNs do not help: the router sees one neighbour.
fn same_session(a: &Peer, b: &Peer) -> bool {
    let sorted = |s: &[NodeSelector]| {
        let mut v = s.to_vec();
        v.sort();
        v
    };
    a.address == b.address
        && a.port == b.port
        && a.source_address == b.source_address
        && sorted(&a.node_selectors) == sorted(&b.node_selectors)
}

fn parse_peer(value: &Value, path: &Path, context: &Context, errors: &mut Errors) -> Option<Peer> {
    let before = errors.0.len();
    let map = Map::read(value, path, errors)?;
    map.deny_unknown(PEER_KEYS, errors);

    let address = map
        .required_string("peer-address", errors)
        .and_then(|s| ip(s, &map.path_of("peer-address"), errors));
    let peer_asn = asn(&map, "peer-asn", errors);
    let my_asn = asn(&map, "my-asn", errors);
    let port = map
        .int("peer-port", 1, u64::from(u16::MAX), errors)
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(DEFAULT_PORT);

    let hold_time = map
        .duration("hold-time", errors)
        .and_then(|d| hold_time(d, &map.path_of("hold-time"), errors));
    let keepalive_time = map
        .duration("keepalive-time", errors)
        .and_then(|d| whole_seconds(d, &map.path_of("keepalive-time"), errors));
    let hold = hold_time.unwrap_or(DEFAULT_HOLD_TIME);
    let keepalive = match keepalive_time {
        Some(k) => {
            if k > hold && (hold_time.is_some() || !map.has("hold-time")) {
                errors.push(
                    &map.path_of("keepalive-time"),
                    ConfigErrorKind::KeepaliveExceedsHoldTime { keepalive: k, hold },
                );
            }
            k
        }
        None => Duration::from_secs(hold.as_secs() / 3),
    };

    let router_id = map
        .get("router-id")
        .and_then(|v| router_id(v, &map.path_of("router-id"), errors));
    let source_address = map
        .string("source-address", errors)
        .and_then(|s| ip(s, &map.path_of("source-address"), errors));
    if let (Some(source), Some(peer)) = (source_address, address)
        && IpFamily::of(source) != IpFamily::of(peer)
    {
        errors.push(
            &map.path_of("source-address"),
            ConfigErrorKind::SourceFamilyMismatch {
                local: source,
                peer,
            },
        );
    }

    let password = map.string("password", errors).filter(|p| !p.is_empty());
    if let Some(p) = password
        && p.len() > MAX_PASSWORD_LEN
    {
        errors.push(
            &map.path_of("password"),
            ConfigErrorKind::PasswordTooLong { len: p.len() },
        );
    }

    let ebgp_multihop = map.bool("ebgp-multihop", errors).unwrap_or(false);
    let gtsm = map.bool("gtsm", errors).unwrap_or(false);
    if gtsm && ebgp_multihop {
        errors.push(&map.path_of("gtsm"), ConfigErrorKind::GtsmWithMultihop);
    }

    let node_selectors = match map.get("node-selectors") {
        Some(v) => selector::parse_selectors(v, &map.path_of("node-selectors"), errors),
        None => vec![],
    };
    let bfd = bfd::parse_peer_bfd(&map, context, errors);
    let graceful_restart = map
        .get("graceful-restart")
        .and_then(|v| graceful_restart(v, &map.path_of("graceful-restart"), errors));

    let (address, asn, my_asn) = (address?, peer_asn?, my_asn?);
    (errors.0.len() == before).then(|| Peer {
        address,
        asn,
        my_asn,
        port,
        hold_time: hold,
        keepalive_time: keepalive,
        router_id,
        source_address,
        password: password.map(str::to_string),
        ebgp_multihop,
        node_selectors,
        bfd,
        graceful_restart,
        gtsm,
    })
}

fn ip(text: &str, path: &Path, errors: &mut Errors) -> Option<IpAddr> {
    match text.trim().parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            errors.push(
                path,
                ConfigErrorKind::InvalidIp {
                    value: text.to_string(),
                },
            );
            None
        }
    }
}

/// A required AS number: 1-4294967295 (0 is reserved).
fn asn(map: &Map<'_>, key: &str, errors: &mut Errors) -> Option<u32> {
    let path = map.path_of(key);
    let value = map.required(key, errors)?;
    let n = crate::walk::as_int(value, &path, 0, u64::from(u32::MAX), errors)?;
    if n == 0 {
        errors.push(&path, ConfigErrorKind::ZeroAsn);
        return None;
    }
    u32::try_from(n).ok()
}

fn whole_seconds(d: Duration, path: &Path, errors: &mut Errors) -> Option<Duration> {
    if d.subsec_nanos() != 0 {
        errors.push(path, ConfigErrorKind::NotWholeSeconds { value: d });
        return None;
    }
    Some(d)
}

/// RFC 4271 4.2: the hold time is 0 or at least 3 seconds, carried as 16 bits.
fn hold_time(d: Duration, path: &Path, errors: &mut Errors) -> Option<Duration> {
    let d = whole_seconds(d, path, errors)?;
    if d != Duration::ZERO && d < Duration::from_secs(3) {
        errors.push(path, ConfigErrorKind::HoldTimeTooShort { value: d });
        return None;
    }
    if d > MAX_HOLD_TIME {
        errors.push(
            path,
            ConfigErrorKind::DurationOutOfRange {
                value: d,
                min: Duration::ZERO,
                max: MAX_HOLD_TIME,
            },
        );
        return None;
    }
    Some(d)
}

fn router_id(value: &Value, path: &Path, errors: &mut Errors) -> Option<Ipv4Addr> {
    let text = crate::walk::as_str(value, path, errors)?;
    match text.trim().parse::<Ipv4Addr>() {
        Ok(id) if id.is_unspecified() => {
            errors.push(path, ConfigErrorKind::RouterIdZero);
            None
        }
        Ok(id) => Some(id),
        Err(_) => {
            errors.push(
                path,
                ConfigErrorKind::RouterIdNotIpv4 {
                    value: text.to_string(),
                },
            );
            None
        }
    }
}

/// `graceful-restart: true | false | <restart time>`.
fn graceful_restart(value: &Value, path: &Path, errors: &mut Errors) -> Option<GracefulRestart> {
    let restart_time = match value {
        Value::Bool(false) => return None,
        Value::Bool(true) => GracefulRestart::DEFAULT_RESTART_TIME,
        Value::String(_) | Value::Number(_) => {
            let d = as_duration(value, path, errors)?;
            whole_seconds(d, path, errors)?
        }
        other => {
            errors.push(
                path,
                ConfigErrorKind::WrongType {
                    expected: "boolean or restart time",
                    found: type_name(other),
                },
            );
            return None;
        }
    };
    if restart_time > MAX_RESTART_TIME {
        errors.push(
            path,
            ConfigErrorKind::RestartTimeTooLong {
                value: restart_time,
            },
        );
        return None;
    }
    Some(GracefulRestart { restart_time })
}
