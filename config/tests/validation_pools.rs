//! One bad input per rule about pools, advertisements, Herald's pool extensions and the
//! document as a whole, each with the exact message it must produce (path + reason).

mod common;

use common::{check_table, messages};

/// A bgp pool named `p` with the given extra lines (indented by two spaces).
fn bgp_pool(lines: &str) -> String {
    format!("address-pools:\n- name: p\n  protocol: bgp\n{lines}")
}

#[test]
fn pool_rules_report_path_and_reason() {
    check_table(&[
        (
            "unknown pool key",
            "address-pools:\n- {name: p, protocol: bgp, addresses: [10.0.0.0/24], cidr: [10.1.0.0/24]}",
            "address-pools[0].cidr: unknown key",
        ),
        (
            "pool without name",
            "address-pools:\n- {protocol: bgp, addresses: [10.0.0.0/24]}",
            "address-pools[0].name: required key is missing",
        ),
        (
            "pool with an empty name",
            "address-pools:\n- {name: \"\", protocol: bgp, addresses: [10.0.0.0/24]}",
            "address-pools[0].name: must not be empty",
        ),
        (
            "pool name with a slash",
            "address-pools:\n- {name: a/b, protocol: bgp, addresses: [10.0.0.0/24]}",
            "address-pools[0].name: invalid pool name \"a/b\": no '/', whitespace or control characters",
        ),
        (
            "pool without protocol",
            "address-pools:\n- {name: p, addresses: [10.0.0.0/24]}",
            "address-pools[0].protocol: required key is missing",
        ),
        (
            "pool without addresses",
            "address-pools:\n- {name: p, protocol: bgp}",
            "address-pools[0].addresses: required key is missing",
        ),
        (
            "protocol arp from MetalLB 0.3",
            "address-pools:\n- {name: p, protocol: arp, addresses: [10.0.0.0/24]}",
            "address-pools[0].protocol: unknown value \"arp\": expected bgp or layer2",
        ),
        (
            "empty pool",
            "address-pools:\n- {name: p, protocol: bgp, addresses: []}",
            "address-pools[0].addresses: pool has no addresses",
        ),
        (
            "addresses not a list",
            "address-pools:\n- {name: p, protocol: bgp, addresses: 10.0.0.0/24}",
            "address-pools[0].addresses: expected list, found string",
        ),
        (
            "address entry of the wrong type",
            "address-pools:\n- {name: p, protocol: bgp, addresses: [10.0.0.0/24, 7]}",
            "address-pools[0].addresses[1]: expected string, found integer",
        ),
        (
            "range start after end",
            "address-pools:\n- {name: p, protocol: bgp, addresses: [10.0.0.20-10.0.0.10]}",
            "address-pools[0].addresses[0]: range start 10.0.0.20 is after end 10.0.0.10",
        ),
        (
            "IPv6 range start after end",
            "address-pools:\n- {name: p, protocol: bgp, addresses: [\"2001:db8::9-2001:db8::1\"]}",
            "address-pools[0].addresses[0]: range start 2001:db8::9 is after end 2001:db8::1",
        ),
        (
            "range mixing families",
            "address-pools:\n- {name: p, protocol: bgp, addresses: [\"10.0.0.1-2001:db8::1\"]}",
            "address-pools[0].addresses[0]: range 10.0.0.1-2001:db8::1 mixes IPv4 and IPv6",
        ),
        (
            "invalid CIDR",
            "address-pools:\n- {name: p, protocol: bgp, addresses: [10.0.0/24]}",
            "address-pools[0].addresses[0]: invalid address \"10.0.0/24\": expected a CIDR (10.0.0.0/24), an address, or a range (10.0.0.10-10.0.0.20)",
        ),
        (
            "invalid range end",
            "address-pools:\n- {name: p, protocol: bgp, addresses: [10.0.0.1-10.0.0]}",
            "address-pools[0].addresses[0]: invalid address \"10.0.0.1-10.0.0\": expected a CIDR (10.0.0.0/24), an address, or a range (10.0.0.10-10.0.0.20)",
        ),
        (
            "prefix length too long",
            "address-pools:\n- {name: p, protocol: bgp, addresses: [10.0.0.0/33]}",
            "address-pools[0].addresses[0]: invalid CIDR \"10.0.0.0/33\": bad prefix length",
        ),
        (
            "duplicate pool name",
            "address-pools:\n\
             - {name: a, protocol: bgp, addresses: [10.0.0.0/24]}\n\
             - {name: a, protocol: layer2, addresses: [10.1.0.0/24]}",
            "address-pools[1].name: pool name \"a\" is already used at address-pools[0]",
        ),
        (
            "pools overlap",
            "address-pools:\n\
             - {name: a, protocol: bgp, addresses: [10.0.0.0/24]}\n\
             - {name: b, protocol: bgp, addresses: [10.0.0.128/25]}",
            "address-pools[1].addresses[0]: 10.0.0.128/25 overlaps 10.0.0.0/24 at address-pools[0].addresses[0]",
        ),
        (
            "later pool starts lower but overlaps",
            "address-pools:\n\
             - {name: a, protocol: bgp, addresses: [10.0.0.100-10.0.0.200]}\n\
             - {name: b, protocol: bgp, addresses: [10.0.0.0/25]}",
            "address-pools[1].addresses[0]: 10.0.0.0/25 overlaps 10.0.0.100-10.0.0.200 at address-pools[0].addresses[0]",
        ),
        (
            "IPv6 pools overlap",
            "address-pools:\n\
             - {name: a, protocol: bgp, addresses: [\"2001:db8::/64\"]}\n\
             - {name: b, protocol: bgp, addresses: [\"2001:db8::5\"]}",
            "address-pools[1].addresses[0]: 2001:db8::5/128 overlaps 2001:db8::/64 at address-pools[0].addresses[0]",
        ),
        (
            "one pool lists an address twice",
            "address-pools:\n- {name: a, protocol: bgp, addresses: [10.0.0.0/24, 10.0.0.5-10.0.0.6]}",
            "address-pools[0].addresses[1]: 10.0.0.5-10.0.0.6 overlaps 10.0.0.0/24 at address-pools[0].addresses[0]",
        ),
        (
            "auto-assign not a boolean",
            "address-pools:\n- {name: p, protocol: bgp, addresses: [10.0.0.0/24], auto-assign: \"yes\"}",
            "address-pools[0].auto-assign: expected boolean, found string",
        ),
        (
            "avoid-buggy-ips not a boolean",
            "address-pools:\n- {name: p, protocol: bgp, addresses: [10.0.0.0/24], avoid-buggy-ips: 1}",
            "address-pools[0].avoid-buggy-ips: expected boolean, found integer",
        ),
    ]);
}

#[test]
fn advertisement_rules_report_path_and_reason() {
    check_table(&[
        (
            "advertisements on a layer2 pool",
            "address-pools:\n- {name: p, protocol: layer2, addresses: [10.0.0.0/24], bgp-advertisements: [{}]}",
            "address-pools[0].bgp-advertisements: bgp-advertisements are only allowed on pools with protocol bgp",
        ),
        (
            "aggregation shorter than the pool's prefix",
            &bgp_pool(
                "  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{aggregation-length: 16}]",
            ),
            "address-pools[0].bgp-advertisements[0].aggregation-length: aggregation length 16 is shorter than prefix length 24 of 10.0.0.0/24 in this pool",
        ),
        (
            "aggregation shorter than a range's widest CIDR",
            &bgp_pool(
                "  addresses: [10.0.0.10-10.0.0.20]\n  bgp-advertisements: [{aggregation-length: 29}]",
            ),
            "address-pools[0].bgp-advertisements[0].aggregation-length: aggregation length 29 is shorter than prefix length 30 of 10.0.0.10-10.0.0.20 in this pool",
        ),
        (
            "IPv6 aggregation shorter than the pool's prefix",
            &bgp_pool(
                "  addresses: [\"2001:db8::/120\"]\n  bgp-advertisements: [{aggregation-length-v6: 64}]",
            ),
            "address-pools[0].bgp-advertisements[0].aggregation-length-v6: aggregation length 64 is shorter than prefix length 120 of 2001:db8::/120 in this pool",
        ),
        (
            "aggregation longer than 32",
            &bgp_pool(
                "  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{aggregation-length: 33}]",
            ),
            "address-pools[0].bgp-advertisements[0].aggregation-length: aggregation length 33 is longer than 32 bits",
        ),
        (
            "IPv6 aggregation longer than 128",
            &bgp_pool(
                "  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{aggregation-length-v6: 129}]",
            ),
            "address-pools[0].bgp-advertisements[0].aggregation-length-v6: aggregation length 129 is longer than 128 bits",
        ),
        (
            "negative aggregation",
            &bgp_pool(
                "  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{aggregation-length: -1}]",
            ),
            "address-pools[0].bgp-advertisements[0].aggregation-length: -1 is out of range 0-32",
        ),
        (
            "aggregation of the wrong type",
            &bgp_pool(
                "  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{aggregation-length: \"24\"}]",
            ),
            "address-pools[0].bgp-advertisements[0].aggregation-length: expected integer, found string",
        ),
        (
            "localpref beyond 32 bits",
            &bgp_pool(
                "  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{localpref: 4294967296}]",
            ),
            "address-pools[0].bgp-advertisements[0].localpref: 4294967296 is out of range 0-4294967295",
        ),
        (
            "link-bandwidth not a boolean",
            &bgp_pool(
                "  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{link-bandwidth: \"yes\"}]",
            ),
            "address-pools[0].bgp-advertisements[0].link-bandwidth: expected boolean, found string",
        ),
        (
            "unknown community alias",
            &bgp_pool("  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{communities: [gold]}]"),
            "address-pools[0].bgp-advertisements[0].communities[0]: unknown community \"gold\": not an alias in bgp-communities nor a well-known name",
        ),
        (
            "malformed community",
            &bgp_pool(
                "  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{communities: [\"1:2:3:4\"]}]",
            ),
            "address-pools[0].bgp-advertisements[0].communities[0]: malformed community \"1:2:3:4\": expected A:B (standard) or A:B:C (large)",
        ),
        (
            "standard community part above 16 bits",
            &bgp_pool(
                "  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{communities: [\"70000:1\"]}]",
            ),
            "address-pools[0].bgp-advertisements[0].communities[0]: malformed community \"70000:1\": standard community parts are 0-65535 (use A:B:C for a large community)",
        ),
        (
            "large community part above 32 bits",
            &bgp_pool(
                "  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{communities: [\"1:2:4294967296\"]}]",
            ),
            "address-pools[0].bgp-advertisements[0].communities[0]: malformed community \"1:2:4294967296\": large community parts are 0-4294967295",
        ),
        (
            "community of the wrong type",
            &bgp_pool("  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{communities: [65535]}]"),
            "address-pools[0].bgp-advertisements[0].communities[0]: expected string, found integer",
        ),
        (
            "node-selectors on an advertisement (MetalLB 0.13 CRDs only)",
            &bgp_pool("  addresses: [10.0.0.0/24]\n  bgp-advertisements: [{node-selectors: []}]"),
            "address-pools[0].bgp-advertisements[0].node-selectors: unknown key",
        ),
    ]);
}

#[test]
fn k8slb_alias_rules_report_path_and_reason() {
    check_table(&[
        (
            "range outside network",
            "address-pools:\n- {name: p, network: 10.0.0.0/24, range: 10.0.1.10-10.0.1.20}",
            "address-pools[0].range: range 10.0.1.10-10.0.1.20 is not inside network 10.0.0.0/24",
        ),
        (
            "range partly outside network",
            "address-pools:\n- {name: p, network: 10.0.0.0/24, range: 10.0.0.250-10.0.1.5}",
            "address-pools[0].range: range 10.0.0.250-10.0.1.5 is not inside network 10.0.0.0/24",
        ),
        (
            "network is a range",
            "address-pools:\n- {name: p, network: 10.0.0.1-10.0.0.5}",
            "address-pools[0].network: invalid network \"10.0.0.1-10.0.0.5\": expected a CIDR such as 192.168.1.0/24",
        ),
        (
            "network and addresses together",
            "address-pools:\n- {name: p, network: 10.0.0.0/24, addresses: [10.0.0.0/24]}",
            "address-pools[0].network: cannot be combined with `addresses`",
        ),
        (
            "range without network",
            "address-pools:\n- {name: p, protocol: layer2, addresses: [10.0.0.0/24], range: 10.0.0.1-10.0.0.9}",
            "address-pools[0].range: needs `network` to be set as well",
        ),
        (
            "range start after end",
            "address-pools:\n- {name: p, network: 10.0.0.0/24, range: 10.0.0.9-10.0.0.1}",
            "address-pools[0].range: range start 10.0.0.9 is after end 10.0.0.1",
        ),
        (
            "bare k8slb pool with bad range",
            r#"{"name":"default","network":"192.168.1.0/24","range":"192.168.2.240-192.168.2.250"}"#,
            "range: range 192.168.2.240-192.168.2.250 is not inside network 192.168.1.0/24",
        ),
        (
            "list of k8slb pools overlapping",
            r#"[{"name":"a","network":"10.0.0.0/24"},{"name":"b","network":"10.0.0.0/16"}]"#,
            "[1].network: 10.0.0.0/16 overlaps 10.0.0.0/24 at [0].network",
        ),
    ]);
}

#[test]
fn herald_pool_extension_rules_report_path_and_reason() {
    let l2 = |lines: &str| {
        format!(
            "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [10.0.0.0/24]\n{lines}"
        )
    };
    check_table(&[
        (
            "VRID zero",
            &l2("  vrrp: {vrids: 0}"),
            "address-pools[0].vrrp.vrids: VRID 0 is out of range 1-255",
        ),
        (
            "VRID range past 255",
            &l2("  vrrp: {vrids: 1-256}"),
            "address-pools[0].vrrp.vrids: VRID 256 is out of range 1-255",
        ),
        (
            "VRID range reversed",
            &l2("  vrrp: {vrids: 20-10}"),
            "address-pools[0].vrrp.vrids: invalid VRID range \"20-10\": expected N or A-B with A <= B",
        ),
        (
            "VRID range not numbers",
            &l2("  vrrp: {vrids: a-b}"),
            "address-pools[0].vrrp.vrids: invalid VRID range \"a-b\": expected N or A-B with A <= B",
        ),
        (
            "advert interval not whole centiseconds",
            &l2("  vrrp: {advert-interval: 15ms}"),
            "address-pools[0].vrrp.advert-interval: 15ms is not a whole number of centiseconds (VRRPv3 counts in 10ms)",
        ),
        (
            "advert interval beyond 12 bits of centiseconds",
            &l2("  vrrp: {advert-interval: 50s}"),
            "address-pools[0].vrrp.advert-interval: 50s is out of range 10ms-40950ms",
        ),
        (
            "unicast peer not an address",
            &l2("  vrrp: {unicast-peers: [10.0.0.2, node-b]}"),
            "address-pools[0].vrrp.unicast-peers[1]: invalid IP address \"node-b\"",
        ),
        (
            "unknown vrrp key",
            &l2("  vrrp: {priority: 100}"),
            "address-pools[0].vrrp.priority: unknown key",
        ),
        (
            "interface name too long",
            &l2("  interface: this-is-too-long0"),
            "address-pools[0].interface: invalid interface name \"this-is-too-long0\": 1-15 bytes, no '/', no whitespace",
        ),
        (
            "interface name with a slash",
            &l2("  interface: eth0/1"),
            "address-pools[0].interface: invalid interface name \"eth0/1\": 1-15 bytes, no '/', no whitespace",
        ),
        (
            "unknown balance",
            &l2("  proxy: {balance: random}"),
            "address-pools[0].proxy.balance: unknown value \"random\": expected round-robin or least-connections",
        ),
        (
            "unknown proxy protocol",
            &l2("  proxy: {proxy-protocol: v3}"),
            "address-pools[0].proxy.proxy-protocol: unknown value \"v3\": expected none, v1 or v2",
        ),
        (
            "zero max connections",
            &l2("  proxy: {max-connections: 0}"),
            "address-pools[0].proxy.max-connections: 0 is out of range 1-4294967295",
        ),
        (
            "idle timeout without unit",
            &l2("  proxy: {idle-timeout: 30}"),
            "address-pools[0].proxy.idle-timeout: invalid duration \"30\": missing unit (write e.g. \"90s\")",
        ),
        (
            "zero connect timeout",
            &l2("  proxy: {connect-timeout: 0s}"),
            "address-pools[0].proxy.connect-timeout: 0s is too short: at least 10ms",
        ),
        (
            "health check with a zero rise",
            &l2("  proxy: {health-check: {rise: 0}}"),
            "address-pools[0].proxy.health-check.rise: 0 is out of range 1-1000",
        ),
        (
            "health check with an unknown key",
            &l2("  proxy: {health-check: {timeout: 1s}}"),
            "address-pools[0].proxy.health-check.timeout: unknown key",
        ),
        (
            "empty alpn protocol",
            &l2("  tls: {alpn: [h2, \"\"]}"),
            "address-pools[0].tls.alpn[1]: invalid ALPN protocol \"\": 1-255 bytes",
        ),
        (
            "proxy enabled not a boolean",
            &l2("  proxy: {enabled: on}"),
            "address-pools[0].proxy.enabled: expected boolean, found string",
        ),
        (
            "relative tls bundle",
            &l2("  tls: {bundle: certs/p.pem}"),
            "address-pools[0].tls.bundle: \"certs/p.pem\" is not an absolute path",
        ),
        (
            "empty tls bundle",
            &l2("  tls: {bundle: \"\"}"),
            "address-pools[0].tls.bundle: must not be empty",
        ),
        (
            "tls given as a string",
            &l2("  tls: /etc/certs/p.pem"),
            "address-pools[0].tls: expected mapping, found string",
        ),
    ]);
}

#[test]
fn document_rules_report_path_and_reason() {
    check_table(&[
        (
            "unknown top-level key suggests the right one",
            "adress-pools: []",
            "adress-pools: unknown key (did you mean `address-pools`?)",
        ),
        (
            "document is a string",
            "hello",
            "(document): expected mapping, found string",
        ),
        (
            "non-string key",
            "1: x",
            "(document): mapping keys must be strings, found integer",
        ),
        (
            "manifest of another kind",
            "apiVersion: v1\nkind: Secret\ndata: {}",
            "kind: expected kind ConfigMap, found Secret",
        ),
        (
            "manifest with an empty kind",
            "kind:\ndata: {}",
            "kind: required key is missing",
        ),
        (
            "ConfigMap without data.config",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: herald}\ndata: {other: x}",
            "data.config: required key is missing",
        ),
        (
            "ConfigMap without data",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: herald}",
            "data: required key is missing",
        ),
        (
            "ConfigMap whose payload is bad",
            "kind: ConfigMap\ndata:\n  config: |\n    peers:\n    - {peer-address: 10.0.0.1, peer-asn: 1, my-asn: 0}",
            "peers[0].my-asn: AS number 0 is reserved (RFC 7607)",
        ),
    ]);
}

#[test]
fn yaml_syntax_errors_are_reported_for_the_document() {
    let got = messages("peers: [\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("(document): not valid YAML: "),
        "{got:?}"
    );
    let dup = messages("peers: []\npeers: []\n");
    assert!(
        dup[0].starts_with("(document): not valid YAML: "),
        "{dup:?}"
    );
}
