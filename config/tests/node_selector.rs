//! Node selectors match node labels with Kubernetes semantics.

mod common;

use std::collections::BTreeMap;

use herald_config::{LabelRequirement, NodeSelector, SelectorOperator, any_matches};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn requirement(key: &str, operator: SelectorOperator, values: &[&str]) -> LabelRequirement {
    LabelRequirement {
        key: key.into(),
        operator,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

fn with_expression(r: LabelRequirement) -> NodeSelector {
    NodeSelector {
        match_expressions: vec![r],
        ..NodeSelector::default()
    }
}

#[test]
fn empty_selector_matches_every_node() {
    assert!(NodeSelector::default().matches(&labels(&[])));
    assert!(NodeSelector::default().matches(&labels(&[("rack", "a")])));
}

#[test]
fn match_labels_need_every_pair_with_equal_values() {
    let s = NodeSelector {
        match_labels: labels(&[("rack", "a"), ("zone", "1")]),
        ..NodeSelector::default()
    };
    assert!(s.matches(&labels(&[("rack", "a"), ("zone", "1"), ("extra", "x")])));
    assert!(!s.matches(&labels(&[("rack", "a")])));
    assert!(!s.matches(&labels(&[("rack", "b"), ("zone", "1")])));
}

#[test]
fn in_needs_the_label_with_one_of_the_values() {
    let s = with_expression(requirement("arch", SelectorOperator::In, &["amd64", "arm"]));
    assert!(s.matches(&labels(&[("arch", "arm")])));
    assert!(!s.matches(&labels(&[("arch", "s390x")])));
    assert!(
        !s.matches(&labels(&[])),
        "In does not match a missing label"
    );
}

#[test]
fn not_in_matches_a_missing_label_or_another_value() {
    let s = with_expression(requirement("speed", SelectorOperator::NotIn, &["slow"]));
    assert!(s.matches(&labels(&[])));
    assert!(s.matches(&labels(&[("speed", "fast")])));
    assert!(!s.matches(&labels(&[("speed", "slow")])));
}

#[test]
fn exists_and_does_not_exist_look_at_presence_only() {
    let exists = with_expression(requirement("gpu", SelectorOperator::Exists, &[]));
    let absent = with_expression(requirement("gpu", SelectorOperator::DoesNotExist, &[]));
    let with_gpu = labels(&[("gpu", "")]);
    assert!(exists.matches(&with_gpu) && !absent.matches(&with_gpu));
    assert!(!exists.matches(&labels(&[])) && absent.matches(&labels(&[])));
}

#[test]
fn labels_and_expressions_must_all_hold() {
    let s = NodeSelector {
        match_labels: labels(&[("rack", "frontend")]),
        match_expressions: vec![requirement(
            "network-speed",
            SelectorOperator::NotIn,
            &["slow"],
        )],
    };
    assert!(s.matches(&labels(&[("rack", "frontend")])));
    assert!(!s.matches(&labels(&[("rack", "frontend"), ("network-speed", "slow")])));
    assert!(!s.matches(&labels(&[("network-speed", "fast")])));
}

#[test]
fn a_list_selects_when_any_selector_matches_and_empty_selects_all() {
    let list = [
        NodeSelector {
            match_labels: labels(&[("rack", "a")]),
            ..NodeSelector::default()
        },
        with_expression(requirement(
            "kubernetes.io/hostname",
            SelectorOperator::In,
            &["n1"],
        )),
    ];
    assert!(any_matches(&list, &labels(&[("rack", "a")])));
    assert!(any_matches(
        &list,
        &labels(&[("kubernetes.io/hostname", "n1")])
    ));
    assert!(!any_matches(&list, &labels(&[("rack", "b")])));
    assert!(any_matches(&[], &labels(&[])));
}

#[test]
fn peers_select_nodes_as_metallb_documents() {
    // "Limiting peers to certain nodes" from MetalLB's v0.12 configuration page.
    let config = common::valid(&common::testdata("metallb-0.12-advanced.yaml"));
    let peer = &config.peers[0];
    assert!(peer.selects_node(&labels(&[("kubernetes.io/hostname", "hostA")])));
    assert!(peer.selects_node(&labels(&[("rack", "frontend"), ("network-speed", "fast")])));
    assert!(!peer.selects_node(&labels(&[("rack", "frontend"), ("network-speed", "slow")])));
    assert!(!peer.selects_node(&labels(&[("kubernetes.io/hostname", "hostC")])));
}

#[test]
fn a_node_gets_the_peers_whose_selectors_match_it() {
    let config = common::valid(
        "peers:\n\
         - {peer-address: 10.0.0.1, peer-asn: 65001, my-asn: 65000, node-selectors: [{match-labels: {rack: a}}]}\n\
         - {peer-address: 10.0.0.2, peer-asn: 65001, my-asn: 65000, node-selectors: [{match-labels: {rack: b}}]}\n\
         - {peer-address: 10.0.0.3, peer-asn: 65001, my-asn: 65000}",
    );
    let rack_a = labels(&[("rack", "a")]);
    let peers: Vec<String> = config
        .peers_for_node(&rack_a)
        .map(|p| p.address.to_string())
        .collect();
    assert_eq!(peers, ["10.0.0.1", "10.0.0.3"]);
}
