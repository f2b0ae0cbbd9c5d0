//! The ConfigMap schema, its validation, and the annotation and label keys Herald reads.
//! Pure: no I/O, no Kubernetes client.
//!
//! ```text
//!   text (YAML/JSON) ──serde_yaml──▶ Value ──parse (lenient walker)──▶ Config
//!                                                   │
//!                                                   └──▶ ConfigErrors (every problem, with its path)
//! ```
//!
//! The payload is MetalLB's legacy (v0.12 and earlier) format — `peers`, `bgp-communities`,
//! `bfd-profiles`, `address-pools` — so existing configs load unchanged. It may be given
//! bare, inside a ConfigMap manifest (`kind: ConfigMap`, payload in `data.config`), or in the
//! k8slb pool shape (one `{name, network, range, interface}` object, or a list of them);
//! [`Config::from_yaml`] tells them apart.
//!
//! Herald's extensions, all optional (the full reference is `config/SCHEMA.md`):
//!
//! - on a pool: `interface` (NIC that holds the address in L2 mode), `vrrp`
//!   (`vrids: 1-255`, `advert-interval: 1s`, `unicast-peers: [..]`), `proxy` (`enabled`,
//!   `balance: round-robin|least-connections`, `proxy-protocol: none|v1|v2`,
//!   `idle-timeout: 5m`, `max-connections`), `tls` (`bundle`, default
//!   `/etc/certs/<pool>.pem`); the k8slb alias `network` + `range` instead of `addresses`
//!   (protocol then defaults to `layer2`).
//! - on a peer: `bfd` (`true`, a profile name, or inline timers), `graceful-restart`
//!   (`true` = 120s restart time, or a restart time), `gtsm` (RFC 5082 TTL security).
//! - in advertisements: well-known community names (`no-export`, `no-advertise`, ...) and
//!   large communities `A:B:C`.
//!
//! Validation never stops at the first problem: the YAML is read into a `Value` and walked
//! by hand, and every unknown key, wrong type, missing key, bad value and cross-entry
//! conflict is reported with its key path, e.g.
//! `address-pools[1].addresses[0]: range start 10.0.0.20 is after end 10.0.0.10`.

mod address;
mod community;
mod duration;
mod error;
pub mod keys;
mod model;
mod parse;
mod selector;
mod serialize;
mod walk;

pub use address::{AddressBlock, IpFamily, IpRange};
pub use community::{Community, WELL_KNOWN as WELL_KNOWN_COMMUNITIES};
pub use duration::{format_duration, parse_duration};
pub use error::{CommunityFault, ConfigError, ConfigErrorKind, ConfigErrors, DurationFault};
pub use model::{
    Balance, BfdProfile, BfdSettings, BgpAdvertisement, Config, GracefulRestart,
    HealthCheckSettings, Peer, PeerBfd, Pool, Protocol, Proxy, ProxyProtocol, Tls, VridRange, Vrrp,
    is_buggy,
};
pub use selector::{
    LabelRequirement, NodeSelector, SelectorOperator, any_matches, is_valid_label_key,
    is_valid_label_value,
};

impl Config {
    /// Parses and validates a config: the bare payload, a ConfigMap manifest, or k8slb
    /// pool JSON/YAML. Returns every error at once.
    ///
    /// ```
    /// use herald_config::Config;
    ///
    /// let config = Config::from_yaml(
    ///     "address-pools: [{name: default, protocol: layer2, addresses: [192.168.1.240-192.168.1.250]}]",
    /// )
    /// .unwrap();
    /// assert!(config.pools[0].contains("192.168.1.245".parse().unwrap()));
    ///
    /// let errors = Config::from_yaml(
    ///     "peers: [{peer-address: 10.0.0.1, peer-asn: 0, my-asn: 64500, hold-time: 2s}]",
    /// )
    /// .unwrap_err();
    /// assert_eq!(
    ///     errors.to_string(),
    ///     "peers[0].hold-time: hold time 2s is invalid: must be 0 or at least 3s\n\
    ///      peers[0].peer-asn: AS number 0 is reserved (RFC 7607)\n\
    ///      2 errors"
    /// );
    /// ```
    pub fn from_yaml(text: &str) -> Result<Config, ConfigErrors> {
        parse::parse_text(text)
    }

    /// Like [`Config::from_yaml`] for a document already loaded as a YAML value.
    pub fn from_value(value: serde_yaml::Value) -> Result<Config, ConfigErrors> {
        parse::parse_value(value)
    }

    /// The config as a bare payload in MetalLB's YAML shape (defaults written out).
    /// `Config::from_yaml(&c.to_yaml()?) == Ok(c)`.
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        serde_yaml::to_string(self)
    }
}

/// The offline check behind `herald-controller validate FILE`: the file's text in any
/// accepted shape. On error, `ConfigErrors`' `Display` prints one error per line, sorted by
/// path, then a count line such as `3 errors`.
pub fn validate_file_contents(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_yaml(text)
}
