//! One bad input per rule about peers, BFD profiles, node selectors and community aliases,
//! each with the exact message it must produce (path + reason).

mod common;

use common::check_table;

#[test]
fn peer_rules_report_path_and_reason() {
    check_table(&[
        (
            "unknown peer key suggests the right one",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, hold_time: 90s}",
            "peers[0].hold_time: unknown key (did you mean `hold-time`?)",
        ),
        (
            "peers is not a list",
            "peers: {peer-address: 10.0.0.1}",
            "peers: expected list, found mapping",
        ),
        (
            "peer is not a mapping",
            "peers: [10.0.0.1]",
            "peers[0]: expected mapping, found string",
        ),
        (
            "asn given as a string",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: \"64500\", my-asn: 2}",
            "peers[0].peer-asn: expected integer, found string",
        ),
        (
            "peer-asn missing",
            "peers:\n- {peer-address: 10.0.0.1, my-asn: 2}",
            "peers[0].peer-asn: required key is missing",
        ),
        (
            "peer-address missing",
            "peers:\n- {peer-asn: 1, my-asn: 2}",
            "peers[0].peer-address: required key is missing",
        ),
        (
            "my-asn missing (null counts as absent)",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: }",
            "peers[0].my-asn: required key is missing",
        ),
        (
            "peer-address not an address",
            "peers:\n- {peer-address: 10.0.0, peer-asn: 1, my-asn: 2}",
            "peers[0].peer-address: invalid IP address \"10.0.0\"",
        ),
        (
            "peer-asn zero",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 0, my-asn: 2}",
            "peers[0].peer-asn: AS number 0 is reserved (RFC 7607)",
        ),
        (
            "my-asn zero",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 0}",
            "peers[0].my-asn: AS number 0 is reserved (RFC 7607)",
        ),
        (
            "asn beyond 32 bits",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 4294967296}",
            "peers[0].my-asn: 4294967296 is out of range 0-4294967295",
        ),
        (
            "negative asn",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: -5, my-asn: 2}",
            "peers[0].peer-asn: -5 is out of range 0-4294967295",
        ),
        (
            "peer-port zero",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, peer-port: 0}",
            "peers[0].peer-port: 0 is out of range 1-65535",
        ),
        (
            "hold time of two seconds",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, hold-time: 2s}",
            "peers[0].hold-time: hold time 2s is invalid: must be 0 or at least 3s",
        ),
        (
            "hold time of one second",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, hold-time: 1s}",
            "peers[0].hold-time: hold time 1s is invalid: must be 0 or at least 3s",
        ),
        (
            "hold time not whole seconds",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, hold-time: 3500ms}",
            "peers[0].hold-time: 3500ms is not a whole number of seconds",
        ),
        (
            "hold time beyond 16 bits",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, hold-time: 70000s}",
            "peers[0].hold-time: 70000s is out of range 0s-65535s",
        ),
        (
            "hold time without unit",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, hold-time: 90}",
            "peers[0].hold-time: invalid duration \"90\": missing unit (write e.g. \"90s\")",
        ),
        (
            "hold time with unknown unit",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, hold-time: 90x}",
            "peers[0].hold-time: invalid duration \"90x\": unknown unit: expected h, m, s, ms, us or ns",
        ),
        (
            "hold time of the wrong type",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, hold-time: [90s]}",
            "peers[0].hold-time: expected duration string, found list",
        ),
        (
            "keepalive longer than hold time",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, hold-time: 30s, keepalive-time: 1m}",
            "peers[0].keepalive-time: keepalive time 60s is longer than hold time 30s",
        ),
        (
            "keepalive longer than the default hold time",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, keepalive-time: 100s}",
            "peers[0].keepalive-time: keepalive time 100s is longer than hold time 90s",
        ),
        (
            "keepalive with a hold time of zero",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, hold-time: 0s, keepalive-time: 1s}",
            "peers[0].keepalive-time: keepalive time 1s is longer than hold time 0s",
        ),
        (
            "router-id is IPv6",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, router-id: \"2001:db8::1\"}",
            "peers[0].router-id: router-id must be an IPv4 address, found \"2001:db8::1\"",
        ),
        (
            "router-id is not an address",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, router-id: node-1}",
            "peers[0].router-id: router-id must be an IPv4 address, found \"node-1\"",
        ),
        (
            "router-id zero",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, router-id: 0.0.0.0}",
            "peers[0].router-id: router-id 0.0.0.0 is not allowed (RFC 6286)",
        ),
        (
            "source address of the other family",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, source-address: \"2001:db8::2\"}",
            "peers[0].source-address: source-address 2001:db8::2 and peer-address 10.0.0.1 are of different families",
        ),
        (
            "source address invalid",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, source-address: here}",
            "peers[0].source-address: invalid IP address \"here\"",
        ),
        (
            "password longer than TCP MD5 allows",
            &format!(
                "peers:\n- {{peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, password: {}}}",
                "p".repeat(81)
            ),
            "peers[0].password: password is 81 bytes long, TCP MD5 allows at most 80",
        ),
        (
            "ebgp-multihop not a boolean",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, ebgp-multihop: \"yes\"}",
            "peers[0].ebgp-multihop: expected boolean, found string",
        ),
        (
            "gtsm together with multihop",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, ebgp-multihop: true, gtsm: true}",
            "peers[0].gtsm: gtsm cannot be combined with ebgp-multihop: RFC 5082 expects an adjacent peer",
        ),
        (
            "graceful restart time beyond 12 bits",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, graceful-restart: 5000s}",
            "peers[0].graceful-restart: restart time 5000s exceeds the 4095s maximum of RFC 4724",
        ),
        (
            "graceful restart of the wrong type",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, graceful-restart: [1]}",
            "peers[0].graceful-restart: expected boolean or restart time, found list",
        ),
        (
            "graceful restart not whole seconds",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, graceful-restart: 1500ms}",
            "peers[0].graceful-restart: 1500ms is not a whole number of seconds",
        ),
    ]);
}

#[test]
fn duplicate_peers_are_refused_unless_selectors_differ() {
    check_table(&[
        (
            "same address and port",
            "peers:\n\
             - {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2}\n\
             - {peer-address: 10.0.0.1, peer-asn: 3, my-asn: 4}",
            "peers[1]: duplicate of peers[0]: same peer-address, peer-port, source-address and node-selectors",
        ),
        (
            "explicit default port is the same port",
            "peers:\n\
             - {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2}\n\
             - {peer-address: 10.0.0.2, peer-asn: 1, my-asn: 2}\n\
             - {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, peer-port: 179}",
            "peers[2]: duplicate of peers[0]: same peer-address, peer-port, source-address and node-selectors",
        ),
    ]);
    common::valid(
        "peers:\n\
         - {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 64500, node-selectors: [{match-labels: {rack: a}}]}\n\
         - {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 64501, node-selectors: [{match-labels: {rack: b}}]}\n\
         - {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 64500, peer-port: 1179}\n\
         - {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 64500, source-address: 10.0.0.9}",
    );
}

#[test]
fn node_selector_rules_report_path_and_reason() {
    let peer = |selectors: &str| {
        format!(
            "peers:\n- peer-address: 10.0.0.1\n  peer-asn: 1\n  my-asn: 2\n  node-selectors:\n{selectors}"
        )
    };
    check_table(&[
        (
            "unknown operator",
            &peer("  - match-expressions: [{key: rack, operator: Equals, values: [a]}]"),
            "peers[0].node-selectors[0].match-expressions[0].operator: unknown value \"Equals\": expected In, NotIn, Exists or DoesNotExist",
        ),
        (
            "In without values",
            &peer("  - match-expressions: [{key: rack, operator: In}]"),
            "peers[0].node-selectors[0].match-expressions[0].values: operator In needs at least one value",
        ),
        (
            "NotIn with an empty list",
            &peer("  - match-expressions: [{key: rack, operator: NotIn, values: []}]"),
            "peers[0].node-selectors[0].match-expressions[0].values: operator NotIn needs at least one value",
        ),
        (
            "Exists with values",
            &peer("  - match-expressions: [{key: rack, operator: Exists, values: [a]}]"),
            "peers[0].node-selectors[0].match-expressions[0].values: operator Exists takes no values",
        ),
        (
            "DoesNotExist with values",
            &peer("  - match-expressions: [{key: rack, operator: DoesNotExist, values: [a]}]"),
            "peers[0].node-selectors[0].match-expressions[0].values: operator DoesNotExist takes no values",
        ),
        (
            "expression without key",
            &peer("  - match-expressions: [{operator: Exists}]"),
            "peers[0].node-selectors[0].match-expressions[0].key: required key is missing",
        ),
        (
            "expression without operator",
            &peer("  - match-expressions: [{key: rack}]"),
            "peers[0].node-selectors[0].match-expressions[0].operator: required key is missing",
        ),
        (
            "invalid label key in an expression",
            &peer("  - match-expressions: [{key: -rack, operator: Exists}]"),
            "peers[0].node-selectors[0].match-expressions[0].key: invalid label key \"-rack\"",
        ),
        (
            "invalid label key in match-labels",
            &peer("  - match-labels: {\"bad key\": a}"),
            "peers[0].node-selectors[0].match-labels[\"bad key\"]: invalid label key \"bad key\"",
        ),
        (
            "invalid label value in match-labels",
            &peer("  - match-labels: {kubernetes.io/hostname: \"no spaces\"}"),
            "peers[0].node-selectors[0].match-labels[\"kubernetes.io/hostname\"]: invalid label value \"no spaces\"",
        ),
        (
            "label value of the wrong type",
            &peer("  - match-labels: {rack: 1}"),
            "peers[0].node-selectors[0].match-labels.rack: expected string, found integer",
        ),
        (
            "camelCase key from the CRD era",
            &peer("  - matchLabels: {rack: a}"),
            "peers[0].node-selectors[0].matchLabels: unknown key (did you mean `match-labels`?)",
        ),
        (
            "selector list of the wrong type",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, node-selectors: {rack: a}}",
            "peers[0].node-selectors: expected list, found mapping",
        ),
    ]);
}

#[test]
fn bfd_rules_report_path_and_reason() {
    check_table(&[
        (
            "unknown profile",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, bfd: slow}",
            "peers[0].bfd: unknown BFD profile \"slow\": not defined in bfd-profiles",
        ),
        (
            "unknown profile through MetalLB's key",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, bfd-profile: slow}",
            "peers[0].bfd-profile: unknown BFD profile \"slow\": not defined in bfd-profiles",
        ),
        (
            "bfd and bfd-profile together",
            "bfd-profiles: [{name: p}]\n\
             peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, bfd-profile: p, bfd: true}",
            "peers[0].bfd-profile: cannot be combined with `bfd`",
        ),
        (
            "interval below 10ms",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, bfd: {receive-interval: 5ms}}",
            "peers[0].bfd.receive-interval: 5ms is out of range 10ms-60s",
        ),
        (
            "interval not whole milliseconds",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, bfd: {transmit-interval: 10500us}}",
            "peers[0].bfd.transmit-interval: 10500us is not a whole number of milliseconds",
        ),
        (
            "detect multiplier of one",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, bfd: {detect-multiplier: 1}}",
            "peers[0].bfd.detect-multiplier: 1 is out of range 2-255",
        ),
        (
            "unknown inline key",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, bfd: {multiplier: 3}}",
            "peers[0].bfd.multiplier: unknown key",
        ),
        (
            "bfd of the wrong type",
            "peers:\n- {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 2, bfd: 3}",
            "peers[0].bfd: expected boolean, profile name or mapping, found integer",
        ),
        (
            "profile interval in milliseconds out of range",
            "bfd-profiles: [{name: p, receive-interval: 70000}]",
            "bfd-profiles[0].receive-interval: 70s is out of range 10ms-60s",
        ),
        (
            "profile minimum-ttl out of range",
            "bfd-profiles: [{name: p, minimum-ttl: 255}]",
            "bfd-profiles[0].minimum-ttl: 255 is out of range 1-254",
        ),
        (
            "profile without name",
            "bfd-profiles: [{receive-interval: 300}]",
            "bfd-profiles[0].name: required key is missing",
        ),
        (
            "profile name used twice",
            "bfd-profiles: [{name: p}, {name: p}]",
            "bfd-profiles[1].name: BFD profile name \"p\" is already used at bfd-profiles[0]",
        ),
    ]);
}

#[test]
fn community_alias_rules_report_path_and_reason() {
    check_table(&[
        (
            "alias value malformed",
            "bgp-communities: {gold: \"x:y\"}",
            "bgp-communities.gold: malformed community \"x:y\": parts must be decimal numbers",
        ),
        (
            "alias value with too many parts",
            "bgp-communities: {gold: \"1:2:3:4\"}",
            "bgp-communities.gold: malformed community \"1:2:3:4\": expected A:B (standard) or A:B:C (large)",
        ),
        (
            "alias value is an unknown name",
            "bgp-communities: {gold: silver}",
            "bgp-communities.gold: malformed community \"silver\": expected A:B (standard) or A:B:C (large)",
        ),
        (
            "alias name looks like a literal",
            "bgp-communities: {\"1:2\": \"3:4\"}",
            "bgp-communities[\"1:2\"]: community alias names must not contain ':'",
        ),
        (
            "alias value of the wrong type",
            "bgp-communities: {gold: 5}",
            "bgp-communities.gold: expected string, found integer",
        ),
        (
            "aliases not a mapping",
            "bgp-communities: [gold]",
            "bgp-communities: expected mapping, found list",
        ),
    ]);
}
