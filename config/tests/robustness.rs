//! Arbitrary documents built from the schema's vocabulary never panic the parser; whatever
//! it accepts round-trips, and whatever it refuses comes with at least one error.

use herald_config::Config;
use proptest::prelude::*;
use serde_yaml::{Mapping, Value};

const KEYS: &[&str] = &[
    "peers",
    "bgp-communities",
    "bfd-profiles",
    "address-pools",
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
    "match-labels",
    "match-expressions",
    "key",
    "operator",
    "values",
    "bfd",
    "bfd-profile",
    "graceful-restart",
    "gtsm",
    "name",
    "protocol",
    "addresses",
    "network",
    "range",
    "auto-assign",
    "avoid-buggy-ips",
    "bgp-advertisements",
    "aggregation-length",
    "aggregation-length-v6",
    "localpref",
    "communities",
    "link-bandwidth",
    "interface",
    "vrrp",
    "vrids",
    "advert-interval",
    "unicast-peers",
    "proxy",
    "enabled",
    "balance",
    "proxy-protocol",
    "idle-timeout",
    "max-connections",
    "connect-timeout",
    "handshake-timeout",
    "drain-timeout",
    "health-check",
    "interval",
    "rise",
    "fall",
    "tls",
    "bundle",
    "alpn",
    "receive-interval",
    "detect-multiplier",
    "kind",
    "data",
    "config",
    "rack",
    "no-export",
    "bogus",
];

const WORDS: &[&str] = &[
    "10.0.0.0/24",
    "10.0.0.1",
    "10.0.0.128/25",
    "10.0.0.5-10.0.0.1",
    "10.0.0.1-10.0.0.9",
    "2001:db8::/120",
    "2001:db8::1",
    "fd00::1-fd00::9",
    "bgp",
    "layer2",
    "90s",
    "2s",
    "1m30s",
    "100ms",
    "no-export",
    "1:2",
    "1:2:3",
    "70000:1",
    "In",
    "NotIn",
    "Exists",
    "DoesNotExist",
    "x",
    "",
    "eth0",
    "1-255",
    "0",
    "round-robin",
    "v2",
    "/etc/x.pem",
    "ConfigMap",
    "rack",
    "kubernetes.io/hostname",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![-3i64..300, Just(4_294_967_296), Just(65_536)]
            .prop_map(|n| Value::Number(n.into())),
        prop::sample::select(WORDS).prop_map(|w| Value::String(w.to_string())),
    ]
}

fn document() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|entries| {
                let mut m = Mapping::new();
                for (k, v) in entries {
                    m.insert(Value::String(k.to_string()), v);
                }
                Value::Mapping(m)
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_documents_never_panic_and_accepted_ones_round_trip(doc in document()) {
        match Config::from_value(doc) {
            Ok(config) => {
                let yaml = config.to_yaml().unwrap();
                prop_assert_eq!(Config::from_yaml(&yaml), Ok(config));
            }
            Err(errors) => prop_assert!(!errors.is_empty()),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\n\t]{0,200}") {
        if let Err(errors) = Config::from_yaml(&text) {
            prop_assert!(!errors.is_empty());
        }
    }
}
