//! BFD: MetalLB v0.12's `bfd-profiles` list and Herald's inline `bfd` on peers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml::Value;

use crate::error::ConfigErrorKind;
use crate::model::{BfdProfile, BfdSettings, PeerBfd};
use crate::walk::{Errors, Map, Path, as_millis_or_duration, as_nonempty_str};

use super::Context;

const SETTING_KEYS: &[&str] = &[
    "receive-interval",
    "transmit-interval",
    "detect-multiplier",
    "echo-interval",
    "echo-mode",
    "passive-mode",
    "minimum-ttl",
];

const MIN_INTERVAL: Duration = Duration::from_millis(10);
const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// Parses `bfd-profiles` and records every name in the context.
pub(super) fn parse_profiles(
    items: &[Value],
    path: &Path,
    context: &mut Context,
    errors: &mut Errors,
) -> Vec<BfdProfile> {
    let mut first_use: BTreeMap<String, Path> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_path = path.index(i);
        let before = errors.0.len();
        let Some(map) = Map::read(item, &item_path, errors) else {
            continue;
        };
        let mut allowed = vec!["name"];
        allowed.extend_from_slice(SETTING_KEYS);
        map.deny_unknown(&allowed, errors);
        let name = map
            .required("name", errors)
            .and_then(|v| as_nonempty_str(v, &map.path_of("name"), errors));
        let settings = parse_settings(&map, errors);
        let Some(name) = name else { continue };
        if let Some(first) = first_use.get(name) {
            errors.push(
                &map.path_of("name"),
                ConfigErrorKind::DuplicateBfdProfile {
                    name: name.to_string(),
                    first: first.as_str().to_string(),
                },
            );
            continue;
        }
        first_use.insert(name.to_string(), item_path.clone());
        let valid = errors.0.len() == before;
        context
            .bfd_profiles
            .insert(name.to_string(), valid.then_some(settings));
        if valid {
            out.push(BfdProfile {
                name: name.to_string(),
                settings,
            });
        }
    }
    out
}

/// Reads the timer keys of a profile or inline `bfd` mapping; defaults where absent.
fn parse_settings(map: &Map<'_>, errors: &mut Errors) -> BfdSettings {
    let defaults = BfdSettings::default();
    let read = |key: &str, default: Duration, errors: &mut Errors| {
        map.get(key)
            .and_then(|v| interval(v, &map.path_of(key), errors))
            .unwrap_or(default)
    };
    BfdSettings {
        receive_interval: read("receive-interval", defaults.receive_interval, errors),
        transmit_interval: read("transmit-interval", defaults.transmit_interval, errors),
        echo_interval: read("echo-interval", defaults.echo_interval, errors),
        detect_multiplier: map
            .int("detect-multiplier", 2, 255, errors)
            .and_then(|n| u8::try_from(n).ok())
            .unwrap_or(defaults.detect_multiplier),
        echo_mode: map.bool("echo-mode", errors).unwrap_or(defaults.echo_mode),
        passive_mode: map
            .bool("passive-mode", errors)
            .unwrap_or(defaults.passive_mode),
        minimum_ttl: map
            .int("minimum-ttl", 1, 254, errors)
            .and_then(|n| u8::try_from(n).ok())
            .unwrap_or(defaults.minimum_ttl),
    }
}

/// A BFD interval: whole milliseconds, 10ms-60s.
fn interval(value: &Value, path: &Path, errors: &mut Errors) -> Option<Duration> {
    let d = as_millis_or_duration(value, path, errors)?;
    if d.subsec_nanos() % 1_000_000 != 0 {
        errors.push(path, ConfigErrorKind::NotWholeMilliseconds { value: d });
        return None;
    }
    if d < MIN_INTERVAL || d > MAX_INTERVAL {
        errors.push(
            path,
            ConfigErrorKind::DurationOutOfRange {
                value: d,
                min: MIN_INTERVAL,
                max: MAX_INTERVAL,
            },
        );
        return None;
    }
    Some(d)
}

/// A peer's `bfd` (Herald: `true`/`false`, a profile name, or inline settings with an
/// optional `enabled`) or `bfd-profile` (MetalLB: a profile name).
pub(super) fn parse_peer_bfd(
    map: &Map<'_>,
    context: &Context,
    errors: &mut Errors,
) -> Option<PeerBfd> {
    if let Some(v) = map.get("bfd-profile") {
        let path = map.path_of("bfd-profile");
        if map.has("bfd") {
            errors.push(&path, ConfigErrorKind::ConflictingKeys { other: "bfd" });
        }
        let name = as_nonempty_str(v, &path, errors)?;
        return profile(name, &path, context, errors);
    }
    let value = map.get("bfd")?;
    let path = map.path_of("bfd");
    match value {
        Value::Bool(true) => Some(PeerBfd {
            profile: None,
            settings: BfdSettings::default(),
        }),
        Value::Bool(false) => None,
        Value::String(name) => profile(name, &path, context, errors),
        Value::Mapping(_) => {
            let inline = Map::read(value, &path, errors)?;
            let mut allowed = vec!["enabled"];
            allowed.extend_from_slice(SETTING_KEYS);
            inline.deny_unknown(&allowed, errors);
            let enabled = inline.bool("enabled", errors).unwrap_or(true);
            let settings = parse_settings(&inline, errors);
            enabled.then_some(PeerBfd {
                profile: None,
                settings,
            })
        }
        other => {
            errors.push(
                &path,
                ConfigErrorKind::WrongType {
                    expected: "boolean, profile name or mapping",
                    found: crate::walk::type_name(other),
                },
            );
            None
        }
    }
}

fn profile(name: &str, path: &Path, context: &Context, errors: &mut Errors) -> Option<PeerBfd> {
    match context.bfd_profiles.get(name) {
        Some(Some(settings)) => Some(PeerBfd {
            profile: Some(name.to_string()),
            settings: *settings,
        }),
        Some(None) => None,
        None => {
            errors.push(
                path,
                ConfigErrorKind::UnknownBfdProfile {
                    name: name.to_string(),
                },
            );
            None
        }
    }
}
