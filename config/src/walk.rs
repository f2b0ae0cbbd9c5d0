//! A lenient reader over `serde_yaml::Value`: every accessor records what is wrong (with
//! its path) and returns `None` instead of stopping, so one pass finds every error.

use std::time::Duration;

use serde_yaml::Value;

use crate::duration::parse_duration;
use crate::error::{ConfigError, ConfigErrorKind};

/// A key path such as `address-pools[1].addresses[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Path(String);

impl Path {
    /// The document itself.
    pub(crate) fn root() -> Self {
        Self(String::new())
    }

    /// A child key; keys that are not plain words are quoted: `["kubernetes.io/hostname"]`.
    pub(crate) fn key(&self, key: &str) -> Self {
        let plain = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        Self(match (self.0.is_empty(), plain) {
            (true, true) => key.to_string(),
            (false, true) => format!("{}.{key}", self.0),
            (_, false) => format!("{}[\"{}\"]", self.0, key.replace('"', "\\\"")),
        })
    }

    /// A list item.
    pub(crate) fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Collected errors.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub(crate) Vec<ConfigError>);

impl Errors {
    pub(crate) fn push(&mut self, path: &Path, kind: ConfigErrorKind) {
        self.0.push(ConfigError {
            path: path.0.clone(),
            kind,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The YAML type of a value, for "expected X, found Y".
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "mapping",
        Value::Tagged(_) => "tagged value",
    }
}

fn wrong_type(value: &Value, path: &Path, expected: &'static str, errors: &mut Errors) {
    errors.push(
        path,
        ConfigErrorKind::WrongType {
            expected,
            found: type_name(value),
        },
    );
}

/// A mapping being read: string keys in document order.
#[derive(Debug)]
pub(crate) struct Map<'v> {
    entries: Vec<(&'v str, &'v Value)>,
    path: Path,
}

impl<'v> Map<'v> {
    /// Reads `value` as a mapping; reports a wrong type or non-string keys.
    pub(crate) fn read(value: &'v Value, path: &Path, errors: &mut Errors) -> Option<Self> {
        let Value::Mapping(mapping) = value else {
            wrong_type(value, path, "mapping", errors);
            return None;
        };
        let mut entries = Vec::with_capacity(mapping.len());
        for (k, v) in mapping {
            match k {
                Value::String(s) => entries.push((s.as_str(), v)),
                other => errors.push(
                    path,
                    ConfigErrorKind::NonStringKey {
                        found: type_name(other),
                    },
                ),
            }
        }
        Some(Self {
            entries,
            path: path.clone(),
        })
    }

    /// The path of one of its keys.
    pub(crate) fn path_of(&self, key: &str) -> Path {
        self.path.key(key)
    }

    /// Keys in document order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &'v str> + '_ {
        self.entries.iter().map(|(k, _)| *k)
    }

    /// Entries in document order (null values included).
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&'v str, &'v Value)> + '_ {
        self.entries.iter().copied()
    }

    /// Reports every key not in `allowed`, with a suggestion when one is close.
    pub(crate) fn deny_unknown(&self, allowed: &[&'static str], errors: &mut Errors) {
        for key in self.keys() {
            if !allowed.contains(&key) {
                let suggestion = closest(key, allowed);
                errors.push(
                    &self.path.key(key),
                    ConfigErrorKind::UnknownKey { suggestion },
                );
            }
        }
    }

    /// True when the key is present with a non-null value.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The value of a key; an explicit `null` counts as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&'v Value> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_null())
    }

    /// The value of a required key; reports it missing.
    pub(crate) fn required(&self, key: &str, errors: &mut Errors) -> Option<&'v Value> {
        let value = self.get(key);
        if value.is_none() {
            errors.push(&self.path.key(key), ConfigErrorKind::MissingKey);
        }
        value
    }

    /// An optional string.
    pub(crate) fn string(&self, key: &str, errors: &mut Errors) -> Option<&'v str> {
        self.get(key)
            .and_then(|v| as_str(v, &self.path.key(key), errors))
    }

    /// A required string.
    pub(crate) fn required_string(&self, key: &str, errors: &mut Errors) -> Option<&'v str> {
        self.required(key, errors)
            .and_then(|v| as_str(v, &self.path.key(key), errors))
    }

    /// An optional boolean.
    pub(crate) fn bool(&self, key: &str, errors: &mut Errors) -> Option<bool> {
        self.get(key)
            .and_then(|v| as_bool(v, &self.path.key(key), errors))
    }

    /// An optional integer within `min..=max`.
    pub(crate) fn int(&self, key: &str, min: u64, max: u64, errors: &mut Errors) -> Option<u64> {
        self.get(key)
            .and_then(|v| as_int(v, &self.path.key(key), min, max, errors))
    }

    /// An optional list.
    pub(crate) fn list(&self, key: &str, errors: &mut Errors) -> Option<&'v [Value]> {
        self.get(key)
            .and_then(|v| as_list(v, &self.path.key(key), errors))
    }

    /// An optional duration.
    pub(crate) fn duration(&self, key: &str, errors: &mut Errors) -> Option<Duration> {
        self.get(key)
            .and_then(|v| as_duration(v, &self.path.key(key), errors))
    }
}

/// A string value.
pub(crate) fn as_str<'v>(value: &'v Value, path: &Path, errors: &mut Errors) -> Option<&'v str> {
    match value {
        Value::String(s) => Some(s),
        other => {
            wrong_type(other, path, "string", errors);
            None
        }
    }
}

/// A non-empty string value.
pub(crate) fn as_nonempty_str<'v>(
    value: &'v Value,
    path: &Path,
    errors: &mut Errors,
) -> Option<&'v str> {
    let s = as_str(value, path, errors)?;
    if s.trim().is_empty() {
        errors.push(path, ConfigErrorKind::Empty);
        return None;
    }
    Some(s)
}

/// A boolean value.
pub(crate) fn as_bool(value: &Value, path: &Path, errors: &mut Errors) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        other => {
            wrong_type(other, path, "boolean", errors);
            None
        }
    }
}

/// An integer value within `min..=max`.
pub(crate) fn as_int(
    value: &Value,
    path: &Path,
    min: u64,
    max: u64,
    errors: &mut Errors,
) -> Option<u64> {
    let n = integer(value);
    let Some(n) = n else {
        wrong_type(value, path, "integer", errors);
        return None;
    };
    if n < i128::from(min) || n > i128::from(max) {
        errors.push(path, ConfigErrorKind::OutOfRange { value: n, min, max });
        return None;
    }
    u64::try_from(n).ok()
}

/// The integer a value holds, if it is one.
pub(crate) fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .map(i128::from)
            .or_else(|| n.as_i64().map(i128::from)),
        _ => None,
    }
}

/// A list value.
pub(crate) fn as_list<'v>(
    value: &'v Value,
    path: &Path,
    errors: &mut Errors,
) -> Option<&'v [Value]> {
    match value {
        Value::Sequence(items) => Some(items),
        other => {
            wrong_type(other, path, "list", errors);
            None
        }
    }
}

/// A Go-style duration string (`90s`, `1m30s`); the integer 0 is accepted too.
pub(crate) fn as_duration(value: &Value, path: &Path, errors: &mut Errors) -> Option<Duration> {
    match value {
        Value::String(s) => match parse_duration(s) {
            Ok(d) => Some(d),
            Err(reason) => {
                errors.push(
                    path,
                    ConfigErrorKind::InvalidDuration {
                        value: s.clone(),
                        reason,
                    },
                );
                None
            }
        },
        Value::Number(_) if integer(value) == Some(0) => Some(Duration::ZERO),
        Value::Number(_) => {
            let reason = crate::error::DurationFault::MissingUnit;
            let value = match integer(value) {
                Some(n) => n.to_string(),
                None => format!("{value:?}"),
            };
            errors.push(path, ConfigErrorKind::InvalidDuration { value, reason });
            None
        }
        other => {
            wrong_type(other, path, "duration string", errors);
            None
        }
    }
}

/// A duration given as a string, or as an integer number of milliseconds (MetalLB's BFD
/// profile fields are integers in milliseconds).
pub(crate) fn as_millis_or_duration(
    value: &Value,
    path: &Path,
    errors: &mut Errors,
) -> Option<Duration> {
    match value {
        Value::Number(_) => {
            as_int(value, path, 0, u64::from(u32::MAX), errors).map(Duration::from_millis)
        }
        _ => as_duration(value, path, errors),
    }
}

/// The allowed key nearest to `key` by edit distance, when it is close enough.
fn closest(key: &str, allowed: &[&'static str]) -> Option<&'static str> {
    allowed
        .iter()
        .map(|a| (edit_distance(key, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_quote_keys_that_are_not_words() {
        let p = Path::root()
            .key("peers")
            .index(0)
            .key("node-selectors")
            .index(1);
        assert_eq!(p.as_str(), "peers[0].node-selectors[1]");
        let l = p.key("match-labels").key("kubernetes.io/hostname");
        assert_eq!(
            l.as_str(),
            "peers[0].node-selectors[1].match-labels[\"kubernetes.io/hostname\"]"
        );
    }

    #[test]
    fn near_misses_get_a_suggestion() {
        assert_eq!(
            closest("hold_time", &["hold-time", "peer-asn"]),
            Some("hold-time")
        );
        assert_eq!(
            closest("adress-pools", &["address-pools", "peers"]),
            Some("address-pools")
        );
        assert_eq!(closest("zzz", &["hold-time", "peer-asn"]), None);
    }
}
