//! A config with many problems reports all of them at once, sorted by path.

mod common;

use herald_config::{Config, ConfigErrorKind};

const BROKEN: &str = r#"
peers:
- peer-address: 10.0.0.1
  peer-asn: 0
  my-asn: 64500
  hold-time: 2s
  router-id: "2001:db8::1"
  colour: blue
- peer-address: 10.0.0.1
  peer-asn: 64501
  my-asn: 64500
  keepalive-time: 2m
bgp-communities:
  gold: "70000:1"
address-pools:
- name: first
  protocol: bgp
  addresses: [10.0.0.0/24]
  bgp-advertisements:
  - aggregation-length: 16
    communities: [silver, gold]
- name: first
  protocol: layer2
  addresses: [10.0.0.20-10.0.0.10, 10.0.0.128/25]
  vrrp: {vrids: 0}
- name: third
  protocol: arp
  addresses: []
- name: fourth
  protocol: bgp
  addresses: [10.0.10.0/24, 10.0.2.0/24, 10.0.3.0/24, 10.0.4.0/24, 10.0.5.0/24, 10.0.6.0/24,
              10.0.7.0/24, 10.0.8.0/24, 10.0.9.0/24, 10.0.11.0/24, 10.0.10.5]
"#;

#[test]
fn every_error_is_reported_sorted_by_path() {
    let errors = Config::from_yaml(BROKEN).unwrap_err();
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "address-pools[0].bgp-advertisements[0].aggregation-length: aggregation length 16 is shorter than prefix length 24 of 10.0.0.0/24 in this pool",
            "address-pools[0].bgp-advertisements[0].communities[0]: unknown community \"silver\": not an alias in bgp-communities nor a well-known name",
            "address-pools[1].addresses[0]: range start 10.0.0.20 is after end 10.0.0.10",
            "address-pools[1].addresses[1]: 10.0.0.128/25 overlaps 10.0.0.0/24 at address-pools[0].addresses[0]",
            "address-pools[1].name: pool name \"first\" is already used at address-pools[0]",
            "address-pools[1].vrrp.vrids: VRID 0 is out of range 1-255",
            "address-pools[2].addresses: pool has no addresses",
            "address-pools[2].protocol: unknown value \"arp\": expected bgp or layer2",
            "address-pools[3].addresses[10]: 10.0.10.5/32 overlaps 10.0.10.0/24 at address-pools[3].addresses[0]",
            "bgp-communities.gold: malformed community \"70000:1\": standard community parts are 0-65535 (use A:B:C for a large community)",
            "peers[0].colour: unknown key",
            "peers[0].hold-time: hold time 2s is invalid: must be 0 or at least 3s",
            "peers[0].peer-asn: AS number 0 is reserved (RFC 7607)",
            "peers[0].router-id: router-id must be an IPv4 address, found \"2001:db8::1\"",
            "peers[1].keepalive-time: keepalive time 120s is longer than hold time 90s",
        ]
    );
    assert!(errors.to_string().ends_with("\n15 errors"), "{errors}");
    assert_eq!(errors.to_string().lines().count(), 16);
}

#[test]
fn errors_carry_typed_kinds_and_stable_codes() {
    let errors = Config::from_yaml(BROKEN).unwrap_err();
    let first = &errors.errors()[0];
    assert_eq!(
        first.path,
        "address-pools[0].bgp-advertisements[0].aggregation-length"
    );
    assert_eq!(
        first.kind,
        ConfigErrorKind::AggregationLengthTooShort {
            length: 16,
            prefix_len: 24,
            block: "10.0.0.0/24".into()
        }
    );
    assert_eq!(first.kind.code(), "aggregation_length_too_short");
    let codes: Vec<&str> = errors.iter().map(|e| e.kind.code()).collect();
    assert!(
        codes.contains(&"duplicate_pool_name") && codes.contains(&"overlap"),
        "{codes:?}"
    );
}

#[test]
fn a_bad_peer_does_not_hide_errors_in_pools() {
    let got = common::messages(
        "peers: [{peer-address: nope}]\naddress-pools: [{name: p, protocol: bgp, addresses: [10.0.0.0/40]}]",
    );
    assert_eq!(
        got,
        [
            "address-pools[0].addresses[0]: invalid CIDR \"10.0.0.0/40\": bad prefix length",
            "peers[0].my-asn: required key is missing",
            "peers[0].peer-address: invalid IP address \"nope\"",
            "peers[0].peer-asn: required key is missing",
        ]
    );
}
