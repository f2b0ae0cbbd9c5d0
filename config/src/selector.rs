//! Node selectors with Kubernetes label-selector semantics, as MetalLB's peers use them.

use std::collections::BTreeMap;
use std::fmt;

/// One node selector: every `match-labels` pair and every expression must hold.
/// An empty selector matches every node.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeSelector {
    /// Labels the node must carry with exactly these values.
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    pub match_expressions: Vec<LabelRequirement>,
}

/// A set-based requirement `key operator values`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelRequirement {
    /// Label key.
    pub key: String,
    /// How the label is tested.
    pub operator: SelectorOperator,
    /// Values for `In` / `NotIn` (non-empty); empty for `Exists` / `DoesNotExist`.
    pub values: Vec<String>,
}

/// Operators of a [`LabelRequirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SelectorOperator {
    /// The label is present and its value is one of the values.
    In,
    /// The label is absent, or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl SelectorOperator {
    /// Names as written in the config.
    pub const NAMES: &'static [&'static str] = &["In", "NotIn", "Exists", "DoesNotExist"];

    /// The operator's name in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::In => "In",
            Self::NotIn => "NotIn",
            Self::Exists => "Exists",
            Self::DoesNotExist => "DoesNotExist",
        }
    }

    /// Parses a name as written in the config (exact case, as Kubernetes does).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "In" => Some(Self::In),
            "NotIn" => Some(Self::NotIn),
            "Exists" => Some(Self::Exists),
            "DoesNotExist" => Some(Self::DoesNotExist),
            _ => None,
        }
    }

    /// True for operators that take a list of values.
    pub fn takes_values(self) -> bool {
        matches!(self, Self::In | Self::NotIn)
    }
}

impl fmt::Display for SelectorOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl LabelRequirement {
    /// True when the node's labels satisfy the requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            SelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            SelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            SelectorOperator::Exists => value.is_some(),
            SelectorOperator::DoesNotExist => value.is_none(),
        }
    }
}

impl NodeSelector {
    /// True when the node's labels satisfy every label and every expression.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| e.matches(labels))
    }
}

/// MetalLB's rule for a list of selectors: no selector selects every node, otherwise a
/// node is selected when at least one selector matches.
pub fn any_matches(selectors: &[NodeSelector], labels: &BTreeMap<String, String>) -> bool {
    selectors.is_empty() || selectors.iter().any(|s| s.matches(labels))
}

/// True for a Kubernetes label key: an optional DNS-subdomain prefix and `/`, then a name
/// of at most 63 characters of `[A-Za-z0-9._-]` starting and ending alphanumeric.
pub fn is_valid_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && is_valid_label_value(name)
}

/// True for a Kubernetes label value: empty, or at most 63 characters of `[A-Za-z0-9._-]`
/// starting and ending alphanumeric.
pub fn is_valid_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    match (bytes.first(), bytes.last()) {
        (None, _) | (_, None) => true,
        (Some(first), Some(last)) => {
            bytes.len() <= 63
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_follow_kubernetes_rules() {
        assert!(is_valid_label_key("rack"));
        assert!(is_valid_label_key("kubernetes.io/hostname"));
        assert!(is_valid_label_key("node-role.kubernetes.io/control-plane"));
        assert!(!is_valid_label_key(""));
        assert!(!is_valid_label_key("/name"));
        assert!(!is_valid_label_key("Example.COM/name"));
        assert!(!is_valid_label_key("a/b/c"));
        assert!(!is_valid_label_key("-rack"));
        assert!(!is_valid_label_key(&"x".repeat(64)));
    }

    #[test]
    fn label_values_follow_kubernetes_rules() {
        assert!(is_valid_label_value(""));
        assert!(is_valid_label_value("amd64"));
        assert!(is_valid_label_value("a.b_c-d"));
        assert!(!is_valid_label_value("a b"));
        assert!(!is_valid_label_value("-a"));
        assert!(!is_valid_label_value(&"x".repeat(64)));
    }
}
