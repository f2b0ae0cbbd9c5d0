//! From `serde_yaml::Value` to [`Config`], collecting every error on the way.
//!
//! The document may be the bare payload, a ConfigMap manifest holding it in `data.config`,
//! or the k8slb pool shape (one pool object with `network`, or a list of them).

mod bfd;
mod peer;
mod pool;
mod selector;

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::community::Community;
use crate::error::{ConfigErrorKind, ConfigErrors};
use crate::model::{BfdSettings, Config, Pool};
use crate::walk::{Errors, Map, Path, as_list, as_str};

use self::pool::ParsedPool;

/// Top-level keys of the payload.
const PAYLOAD_KEYS: &[&str] = &["peers", "bgp-communities", "bfd-profiles", "address-pools"];

/// What earlier sections tell later ones: community aliases and BFD profiles. `None`
/// values are entries that were invalid (and already reported), so references to them are
/// not reported a second time.
#[derive(Debug, Default)]
pub(crate) struct Context {
    aliases: BTreeMap<String, Option<Community>>,
    bfd_profiles: BTreeMap<String, Option<BfdSettings>>,
}

/// Parses YAML (or JSON) text in any accepted shape.
pub(crate) fn parse_text(text: &str) -> Result<Config, ConfigErrors> {
    let mut errors = Errors::default();
    let config = document_from_text(text, &mut errors);
    finish(config, errors)
}

/// Parses an already-loaded YAML value in any accepted shape.
pub(crate) fn parse_value(mut value: Value) -> Result<Config, ConfigErrors> {
    let mut errors = Errors::default();
    let config = match value.apply_merge() {
        Ok(()) => document(&value, &mut errors),
        Err(e) => {
            errors.push(
                &Path::root(),
                ConfigErrorKind::Syntax {
                    message: e.to_string(),
                },
            );
            None
        }
    };
    finish(config, errors)
}

fn finish(config: Option<Config>, errors: Errors) -> Result<Config, ConfigErrors> {
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => Err(ConfigErrors::new(errors.0)),
    }
}

fn document_from_text(text: &str, errors: &mut Errors) -> Option<Config> {
    let mut value: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            errors.push(
                &Path::root(),
                ConfigErrorKind::Syntax {
                    message: e.to_string(),
                },
            );
            return None;
        }
    };
    if let Err(e) = value.apply_merge() {
        errors.push(
            &Path::root(),
            ConfigErrorKind::Syntax {
                message: e.to_string(),
            },
        );
        return None;
    }
    document(&value, errors)
}

/// Picks the shape: manifest, k8slb pool(s), or payload.
fn document(value: &Value, errors: &mut Errors) -> Option<Config> {
    let root = Path::root();
    match value {
        Value::Null => Some(Config::default()),
        Value::Mapping(m) if m.contains_key("kind") => config_map(value, errors),
        Value::Mapping(m) if m.contains_key("network") => {
            let parsed = pool::parse_pool(value, &root, &Context::default(), errors);
            pools_only(vec![parsed], errors)
        }
        Value::Sequence(items) => {
            let parsed = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    pool::parse_pool(item, &root.index(i), &Context::default(), errors)
                })
                .collect();
            pools_only(parsed, errors)
        }
        _ => payload(value, errors),
    }
}

/// A `kind: ConfigMap` manifest: the payload is the string in `data.config`.
fn config_map(value: &Value, errors: &mut Errors) -> Option<Config> {
    let root = Path::root();
    let manifest = Map::read(value, &root, errors)?;
    let kind = manifest.required_string("kind", errors)?;
    if kind != "ConfigMap" {
        errors.push(
            &manifest.path_of("kind"),
            ConfigErrorKind::NotAConfigMap {
                found: kind.to_string(),
            },
        );
        return None;
    }
    let data = Map::read(
        manifest.required("data", errors)?,
        &manifest.path_of("data"),
        errors,
    )?;
    let text = data.required_string("config", errors)?;
    document_from_text(text, errors)
}

fn pools_only(parsed: Vec<ParsedPool>, errors: &mut Errors) -> Option<Config> {
    let before = errors.0.len();
    let pools = check_pools(parsed, errors);
    (errors.0.len() == before).then(|| Config {
        pools,
        ..Config::default()
    })
}

/// The payload: `peers`, `bgp-communities`, `bfd-profiles`, `address-pools`.
fn payload(value: &Value, errors: &mut Errors) -> Option<Config> {
    let before = errors.0.len();
    let root = Path::root();
    let map = Map::read(value, &root, errors)?;
    map.deny_unknown(PAYLOAD_KEYS, errors);

    let mut context = Context::default();
    let mut bgp_communities = BTreeMap::new();
    if let Some(v) = map.get("bgp-communities") {
        bgp_communities = communities(v, &map.path_of("bgp-communities"), &mut context, errors);
    }

    let mut bfd_profiles = Vec::new();
    if let Some(items) = map.list("bfd-profiles", errors) {
        bfd_profiles =
            bfd::parse_profiles(items, &map.path_of("bfd-profiles"), &mut context, errors);
    }

    let mut peers = Vec::new();
    if let Some(items) = map.list("peers", errors) {
        peers = peer::parse_peers(items, &map.path_of("peers"), &context, errors);
    }

    let mut pools = Vec::new();
    if let Some(items) = map.list("address-pools", errors) {
        let path = map.path_of("address-pools");
        let parsed = items
            .iter()
            .enumerate()
            .map(|(i, item)| pool::parse_pool(item, &path.index(i), &context, errors))
            .collect();
        pools = check_pools(parsed, errors);
    }

    (errors.0.len() == before).then_some(Config {
        peers,
        bgp_communities,
        bfd_profiles,
        pools,
    })
}

/// `bgp-communities`: alias -> literal or well-known name.
fn communities(
    value: &Value,
    path: &Path,
    context: &mut Context,
    errors: &mut Errors,
) -> BTreeMap<String, Community> {
    let mut out = BTreeMap::new();
    let Some(map) = Map::read(value, path, errors) else {
        return out;
    };
    for (name, v) in map.entries() {
        let entry_path = path.key(name);
        let mut ok = true;
        if name.contains(':') {
            errors.push(&entry_path, ConfigErrorKind::AliasNameHasColon);
            ok = false;
        }
        let resolved =
            as_str(v, &entry_path, errors).and_then(|text| match Community::well_known(text) {
                Some(c) => Some(c),
                None => parse_literal(text, &entry_path, errors),
            });
        let resolved = resolved.filter(|_| ok);
        if let Some(c) = resolved {
            out.insert(name.to_string(), c);
        }
        context.aliases.insert(name.to_string(), resolved);
    }
    out
}

fn parse_literal(text: &str, path: &Path, errors: &mut Errors) -> Option<Community> {
    match text.parse::<Community>() {
        Ok(c) => Some(c),
        Err(reason) => {
            errors.push(
                path,
                ConfigErrorKind::MalformedCommunity {
                    value: text.to_string(),
                    reason,
                },
            );
            None
        }
    }
}

impl Context {
    /// Resolves a community as written in an advertisement: an alias, a well-known name,
    /// or a literal. Reports what is wrong; `None` also for references to bad aliases.
    pub(crate) fn community(
        &self,
        text: &str,
        path: &Path,
        errors: &mut Errors,
    ) -> Option<Community> {
        if let Some(alias) = self.aliases.get(text) {
            return *alias;
        }
        if let Some(c) = Community::well_known(text) {
            return Some(c);
        }
        if text.contains(':') {
            return parse_literal(text, path, errors);
        }
        errors.push(
            path,
            ConfigErrorKind::UnknownCommunity {
                name: text.to_string(),
            },
        );
        None
    }
}

/// Cross-pool rules: unique names, no address in two blocks. Returns the valid pools.
fn check_pools(parsed: Vec<ParsedPool>, errors: &mut Errors) -> Vec<Pool> {
    let mut first_use: BTreeMap<&str, &Path> = BTreeMap::new();
    for p in &parsed {
        if let Some((name, path)) = &p.name {
            match first_use.get(name.as_str()) {
                Some(first) => errors.push(
                    &path.key("name"),
                    ConfigErrorKind::DuplicatePoolName {
                        name: name.clone(),
                        first: first.as_str().to_string(),
                    },
                ),
                None => {
                    first_use.insert(name, path);
                }
            }
        }
    }

    // Sweep the blocks in address order; `order` is the config order for deciding which
    // of two overlapping blocks the error is reported on (the later one).
    let mut blocks: Vec<(usize, &crate::address::AddressBlock, &Path)> = parsed
        .iter()
        .flat_map(|p| p.blocks.iter())
        .enumerate()
        .map(|(order, (block, path))| (order, block, path))
        .collect();
    blocks.sort_by_key(|(order, block, _)| (block.first(), *order));
    let mut widest: Option<(usize, &crate::address::AddressBlock, &Path)> = None;
    for &(order, block, path) in &blocks {
        if let Some((w_order, w_block, w_path)) = widest
            && w_block.range().overlaps(&block.range())
        {
            let (at, this, other, other_path) = if order > w_order {
                (path, block, w_block, w_path)
            } else {
                (w_path, w_block, block, path)
            };
            errors.push(
                at,
                ConfigErrorKind::Overlap {
                    block: this.to_string(),
                    other: other.to_string(),
                    other_path: other_path.as_str().to_string(),
                },
            );
        }
        let wider =
            widest.is_none_or(|(_, w, _)| w.family() != block.family() || block.last() > w.last());
        if wider {
            widest = Some((order, block, path));
        }
    }

    parsed.into_iter().filter_map(|p| p.pool).collect()
}

/// Reads a list of strings, reporting non-strings.
pub(crate) fn string_list<'v>(
    value: &'v Value,
    path: &Path,
    errors: &mut Errors,
) -> Vec<(&'v str, Path)> {
    let Some(items) = as_list(value, path, errors) else {
        return vec![];
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let item_path = path.index(i);
            as_str(item, &item_path, errors).map(|s| (s, item_path))
        })
        .collect()
}
