//! `node-selectors`: a list of `{match-labels, match-expressions}`.

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::error::ConfigErrorKind;
use crate::selector::{
    LabelRequirement, NodeSelector, SelectorOperator, is_valid_label_key, is_valid_label_value,
};
use crate::walk::{Errors, Map, Path, as_list, as_str};

use super::string_list;

const SELECTOR_KEYS: &[&str] = &["match-labels", "match-expressions"];
const EXPRESSION_KEYS: &[&str] = &["key", "operator", "values"];

/// Parses a `node-selectors` list; invalid selectors are reported and left out.
pub(super) fn parse_selectors(
    value: &Value,
    path: &Path,
    errors: &mut Errors,
) -> Vec<NodeSelector> {
    let Some(items) = as_list(value, path, errors) else {
        return vec![];
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| parse_selector(item, &path.index(i), errors))
        .collect()
}

fn parse_selector(value: &Value, path: &Path, errors: &mut Errors) -> Option<NodeSelector> {
    let before = errors.0.len();
    let map = Map::read(value, path, errors)?;
    map.deny_unknown(SELECTOR_KEYS, errors);

    let mut match_labels = BTreeMap::new();
    if let Some(v) = map.get("match-labels") {
        let labels_path = map.path_of("match-labels");
        if let Some(labels) = Map::read(v, &labels_path, errors) {
            for (key, v) in labels.entries() {
                let label_path = labels_path.key(key);
                if !is_valid_label_key(key) {
                    errors.push(
                        &label_path,
                        ConfigErrorKind::InvalidLabelKey {
                            value: key.to_string(),
                        },
                    );
                }
                if let Some(value) = as_str(v, &label_path, errors) {
                    check_value(value, &label_path, errors);
                    match_labels.insert(key.to_string(), value.to_string());
                }
            }
        }
    }

    let mut match_expressions = Vec::new();
    if let Some(items) = map.list("match-expressions", errors) {
        let exprs_path = map.path_of("match-expressions");
        for (i, item) in items.iter().enumerate() {
            if let Some(e) = parse_expression(item, &exprs_path.index(i), errors) {
                match_expressions.push(e);
            }
        }
    }

    (errors.0.len() == before).then_some(NodeSelector {
        match_labels,
        match_expressions,
    })
}

fn check_value(value: &str, path: &Path, errors: &mut Errors) {
    if !is_valid_label_value(value) {
        errors.push(
            path,
            ConfigErrorKind::InvalidLabelValue {
                value: value.to_string(),
            },
        );
    }
}

fn parse_expression(value: &Value, path: &Path, errors: &mut Errors) -> Option<LabelRequirement> {
    let before = errors.0.len();
    let map = Map::read(value, path, errors)?;
    map.deny_unknown(EXPRESSION_KEYS, errors);

    let key = map.required_string("key", errors);
    if let Some(k) = key
        && !is_valid_label_key(k)
    {
        errors.push(
            &map.path_of("key"),
            ConfigErrorKind::InvalidLabelKey {
                value: k.to_string(),
            },
        );
    }
    let operator = map.required_string("operator", errors).and_then(|op| {
        let parsed = SelectorOperator::from_name(op);
        if parsed.is_none() {
            errors.push(
                &map.path_of("operator"),
                ConfigErrorKind::UnknownVariant {
                    value: op.to_string(),
                    expected: SelectorOperator::NAMES,
                },
            );
        }
        parsed
    });
    let written = match map.get("values") {
        Some(Value::Sequence(items)) => items.len(),
        Some(_) => 1,
        None => 0,
    };
    let values: Vec<String> = match map.get("values") {
        Some(v) => string_list(v, &map.path_of("values"), errors)
            .into_iter()
            .map(|(s, p)| {
                check_value(s, &p, errors);
                s.to_string()
            })
            .collect(),
        None => vec![],
    };
    if let Some(op) = operator {
        if op.takes_values() && written == 0 {
            errors.push(
                &map.path_of("values"),
                ConfigErrorKind::SelectorValuesRequired {
                    operator: op.name(),
                },
            );
        } else if !op.takes_values() && written > 0 {
            errors.push(
                &map.path_of("values"),
                ConfigErrorKind::SelectorValuesForbidden {
                    operator: op.name(),
                },
            );
        }
    }

    let (key, operator) = (key?, operator?);
    (errors.0.len() == before).then(|| LabelRequirement {
        key: key.to_string(),
        operator,
        values,
    })
}
