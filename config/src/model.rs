//! The typed, validated configuration. Every value here has passed validation: addresses
//! parse, pools do not overlap, communities are numbers, durations are `Duration`s.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use crate::address::{AddressBlock, IpFamily};
use crate::community::Community;
use crate::selector::{NodeSelector, any_matches};

/// Herald's whole configuration, as loaded from the ConfigMap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// BGP peers, in config order.
    pub peers: Vec<Peer>,
    /// `bgp-communities`: alias name -> value. Advertisements already hold resolved values;
    /// the aliases are kept so the config serializes back as written.
    pub bgp_communities: BTreeMap<String, Community>,
    /// `bfd-profiles` (MetalLB v0.12): named BFD settings that peers refer to.
    pub bfd_profiles: Vec<BfdProfile>,
    /// Address pools, in config order.
    pub pools: Vec<Pool>,
}

/// One BGP peer (`peers[i]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// `peer-address`.
    pub address: IpAddr,
    /// `peer-asn`.
    pub asn: u32,
    /// `my-asn`.
    pub my_asn: u32,
    /// `peer-port`, default 179.
    pub port: u16,
    /// `hold-time`, default 90s; 0 or at least 3s; whole seconds.
    pub hold_time: Duration,
    /// `keepalive-time`, default hold-time / 3 (whole seconds, rounded down).
    pub keepalive_time: Duration,
    /// `router-id`; `None` means the node's IPv4 source address.
    pub router_id: Option<Ipv4Addr>,
    /// `source-address`: local address of the session, same family as `address`.
    pub source_address: Option<IpAddr>,
    /// `password`: TCP MD5 key (RFC 2385), at most 80 bytes; `None` if absent or empty.
    pub password: Option<String>,
    /// `ebgp-multihop`.
    pub ebgp_multihop: bool,
    /// `node-selectors`: which nodes open this session (empty = all).
    pub node_selectors: Vec<NodeSelector>,
    /// `bfd` / `bfd-profile` (Herald / MetalLB v0.12): BFD on this session.
    pub bfd: Option<PeerBfd>,
    /// `graceful-restart` (Herald): RFC 4724 graceful restart.
    pub graceful_restart: Option<GracefulRestart>,
    /// `gtsm` (Herald): RFC 5082 TTL security.
    pub gtsm: bool,
}

impl Peer {
    /// True when a node with these labels should open this session.
    pub fn selects_node(&self, labels: &BTreeMap<String, String>) -> bool {
        any_matches(&self.node_selectors, labels)
    }

    /// True when `my-asn` equals `peer-asn` (LOCAL_PREF is only sent on iBGP sessions).
    pub fn is_ibgp(&self) -> bool {
        self.asn == self.my_asn
    }

    /// Address family of the session.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(self.address)
    }
}

/// BFD timers (RFC 5880). Defaults follow FRR: 300 ms, 300 ms, x3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdSettings {
    /// Required Min RX Interval, 10ms-60s.
    pub receive_interval: Duration,
    /// Desired Min TX Interval, 10ms-60s.
    pub transmit_interval: Duration,
    /// Detect Mult, 2-255.
    pub detect_multiplier: u8,
    /// Echo interval, 10ms-60s.
    pub echo_interval: Duration,
    /// Use echo mode.
    pub echo_mode: bool,
    /// Wait for the peer to start (passive).
    pub passive_mode: bool,
    /// Minimum accepted TTL for multihop BFD, 1-254.
    pub minimum_ttl: u8,
}

impl Default for BfdSettings {
    fn default() -> Self {
        Self {
            receive_interval: Duration::from_millis(300),
            transmit_interval: Duration::from_millis(300),
            detect_multiplier: 3,
            echo_interval: Duration::from_millis(50),
            echo_mode: false,
            passive_mode: false,
            minimum_ttl: 254,
        }
    }
}

/// A named BFD profile (`bfd-profiles[i]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdProfile {
    /// Profile name, unique.
    pub name: String,
    /// Its timers.
    pub settings: BfdSettings,
}

/// BFD on a peer: the resolved timers, and the profile they came from if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerBfd {
    /// Name of the `bfd-profiles` entry, or `None` for inline settings.
    pub profile: Option<String>,
    /// Timers in effect.
    pub settings: BfdSettings,
}

/// RFC 4724 graceful restart as the restarting speaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestart {
    /// Restart Time advertised in the capability, at most 4095 s (default 120 s).
    pub restart_time: Duration,
}

impl GracefulRestart {
    /// Restart time used for `graceful-restart: true`.
    pub const DEFAULT_RESTART_TIME: Duration = Duration::from_secs(120);
}

/// How a pool's addresses are made reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Announced over BGP.
    Bgp,
    /// Held on the segment with VRRP (MetalLB's layer2).
    Layer2,
}

impl Protocol {
    /// Names as written in the config.
    pub const NAMES: &'static [&'static str] = &["bgp", "layer2"];

    /// The protocol's name in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bgp => "bgp",
            Self::Layer2 => "layer2",
        }
    }
}

/// One address pool (`address-pools[i]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Unique name; Services select it by annotation.
    pub name: String,
    /// `bgp` or `layer2`.
    pub protocol: Protocol,
    /// Address blocks in config order; never empty, never overlapping another pool.
    pub addresses: Vec<AddressBlock>,
    /// The k8slb `network` the pool was given as, if it was; `addresses` then holds the
    /// `range` (or the whole network).
    pub network: Option<IpNet>,
    /// `auto-assign`, default true.
    pub auto_assign: bool,
    /// `avoid-buggy-ips`, default false: never hand out IPv4 `.0` and `.255` addresses.
    pub avoid_buggy_ips: bool,
    /// `bgp-advertisements`; for a bgp pool never empty (one default advertisement if none
    /// was given), for a layer2 pool always empty.
    pub bgp_advertisements: Vec<BgpAdvertisement>,
    /// `interface` (Herald): NIC that holds the address in L2 mode.
    pub interface: Option<String>,
    /// `vrrp` (Herald): VRRP settings for L2.
    pub vrrp: Option<Vrrp>,
    /// `proxy` (Herald): in-process TCP/TLS proxy settings.
    pub proxy: Option<Proxy>,
    /// `tls` (Herald): certificate bundle for TLS termination.
    pub tls: Tls,
}

impl Pool {
    /// True when `ip` lies in one of the pool's blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.addresses.iter().any(|b| b.contains(ip))
    }

    /// True when `ip` is in the pool and may be handed out (honours `avoid-buggy-ips`).
    pub fn is_assignable(&self, ip: IpAddr) -> bool {
        self.contains(ip) && !(self.avoid_buggy_ips && is_buggy(ip))
    }

    /// The pool's blocks of one family, in config order.
    pub fn iter_family(&self, family: IpFamily) -> impl Iterator<Item = &AddressBlock> + '_ {
        self.addresses.iter().filter(move |b| b.family() == family)
    }

    /// The families the pool has addresses of, IPv4 first.
    pub fn families(&self) -> Vec<IpFamily> {
        [IpFamily::V4, IpFamily::V6]
            .into_iter()
            .filter(|f| self.iter_family(*f).next().is_some())
            .collect()
    }

    /// Number of addresses of one family (saturating at u128::MAX).
    pub fn size(&self, family: IpFamily) -> u128 {
        self.iter_family(family)
            .fold(0u128, |n, b| n.saturating_add(b.len()))
    }

    /// The pool's blocks of one family as CIDRs.
    pub fn cidrs(&self, family: IpFamily) -> Vec<IpNet> {
        self.iter_family(family)
            .flat_map(AddressBlock::to_cidrs)
            .collect()
    }
}

/// MetalLB's "buggy" addresses: IPv4 addresses ending in .0 or .255.
pub fn is_buggy(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => matches!(v4.octets()[3], 0 | 255),
        IpAddr::V6(_) => false,
    }
}

/// One BGP advertisement of a pool's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpAdvertisement {
    /// Prefix length IPv4 routes are aggregated to, default 32 (no aggregation).
    pub aggregation_length: u8,
    /// Prefix length IPv6 routes are aggregated to, default 128.
    pub aggregation_length_v6: u8,
    /// LOCAL_PREF, sent on iBGP sessions only.
    pub local_pref: Option<u32>,
    /// Communities attached, aliases and names resolved.
    pub communities: BTreeSet<Community>,
    /// `link-bandwidth` (Herald): attach the link bandwidth extended community, weighted
    /// by the node's count of serving local endpoints, for weighted ECMP at the router.
    pub link_bandwidth: bool,
}

impl Default for BgpAdvertisement {
    fn default() -> Self {
        Self {
            aggregation_length: 32,
            aggregation_length_v6: 128,
            local_pref: None,
            communities: BTreeSet::new(),
            link_bandwidth: false,
        }
    }
}

impl BgpAdvertisement {
    /// The aggregation length for a family.
    pub fn aggregation_length_for(&self, family: IpFamily) -> u8 {
        match family {
            IpFamily::V4 => self.aggregation_length,
            IpFamily::V6 => self.aggregation_length_v6,
        }
    }
}

/// An inclusive range of VRIDs, within 1-255.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VridRange {
    /// First VRID.
    pub first: u8,
    /// Last VRID (>= first).
    pub last: u8,
}

impl VridRange {
    /// All VRIDs.
    pub const ALL: Self = Self {
        first: 1,
        last: 255,
    };

    /// True when `vrid` is in the range.
    pub fn contains(&self, vrid: u8) -> bool {
        self.first <= vrid && vrid <= self.last
    }

    /// The VRIDs in order.
    pub fn iter(&self) -> impl Iterator<Item = u8> + use<> {
        self.first..=self.last
    }
}

/// VRRP settings of a pool (Herald extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vrrp {
    /// VRIDs the controller may give this pool's addresses, default 1-255.
    pub vrids: VridRange,
    /// Advertisement interval, 10ms-40.95s in 10ms steps (RFC 5798), default 1s.
    pub advert_interval: Duration,
    /// Unicast peers; empty = multicast.
    pub unicast_peers: Vec<IpAddr>,
}

impl Default for Vrrp {
    fn default() -> Self {
        Self {
            vrids: VridRange::ALL,
            advert_interval: Duration::from_secs(1),
            unicast_peers: vec![],
        }
    }
}

/// Proxy balancing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    /// Each endpoint in turn.
    #[default]
    RoundRobin,
    /// The endpoint with the fewest open connections.
    LeastConnections,
}

impl Balance {
    /// Names as written in the config.
    pub const NAMES: &'static [&'static str] = &["round-robin", "least-connections"];

    /// The name in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::RoundRobin => "round-robin",
            Self::LeastConnections => "least-connections",
        }
    }
}

/// PROXY protocol header sent to backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyProtocol {
    /// No header.
    #[default]
    None,
    /// Text header, version 1.
    V1,
    /// Binary header, version 2.
    V2,
}

impl ProxyProtocol {
    /// Names as written in the config.
    pub const NAMES: &'static [&'static str] = &["none", "v1", "v2"];

    /// The name in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }
}

/// Proxy settings of a pool (Herald extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Proxy every Service of the pool; when false only Services that ask for it.
    pub enabled: bool,
    /// Balancing algorithm, default round-robin.
    pub balance: Balance,
    /// PROXY protocol to backends, default none.
    pub proxy_protocol: ProxyProtocol,
    /// Close connections idle this long, default 5m.
    pub idle_timeout: Duration,
    /// Cap on concurrent connections per listener; `None` = no cap.
    pub max_connections: Option<u32>,
    /// How long connecting to backends may take, retries included, default 5s.
    pub connect_timeout: Duration,
    /// How long a client may take to complete its TLS handshake, default 10s.
    pub handshake_timeout: Duration,
    /// How long connections to a removed backend, and all connections at shutdown, may
    /// live on before they are closed, default 30s.
    pub drain_timeout: Duration,
    /// Active TCP health checks; `None` = passive only (a failed connect tries the next
    /// backend).
    pub health_check: Option<HealthCheckSettings>,
}

impl Proxy {
    /// Default `idle-timeout`.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
    /// Default `connect-timeout` (HAProxy's usual `timeout connect 5s`).
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default `handshake-timeout`.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default `drain-timeout` (Kubernetes' default termination grace period).
    pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
}

/// Active TCP health checks of a pool's backends (HAProxy's `check inter rise fall`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheckSettings {
    /// Time between two checks of one backend, default 2s.
    pub interval: Duration,
    /// Consecutive successes that bring a down backend up, default 2.
    pub rise: u32,
    /// Consecutive failures that take an up backend down, default 3.
    pub fall: u32,
}

impl Default for HealthCheckSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            rise: 2,
            fall: 3,
        }
    }
}

impl Default for Proxy {
    fn default() -> Self {
        Self {
            enabled: false,
            balance: Balance::RoundRobin,
            proxy_protocol: ProxyProtocol::None,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_connections: None,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            handshake_timeout: Self::DEFAULT_HANDSHAKE_TIMEOUT,
            drain_timeout: Self::DEFAULT_DRAIN_TIMEOUT,
            health_check: None,
        }
    }
}

/// TLS settings of a pool (Herald extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// PEM bundle, chain then key (HAProxy's format); default `/etc/certs/<pool>.pem`.
    pub bundle: PathBuf,
    /// ALPN protocols offered to clients, in preference order (e.g. `h2`, `http/1.1`);
    /// empty = no ALPN.
    pub alpn: Vec<String>,
}

impl Tls {
    /// The default bundle path of a pool.
    pub fn default_for(pool: &str) -> Self {
        Self {
            bundle: PathBuf::from(format!("/etc/certs/{pool}.pem")),
            alpn: Vec::new(),
        }
    }
}

impl Config {
    /// The pool with this name.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// The pool that contains `ip` (pools never overlap, so there is at most one).
    pub fn pool_containing(&self, ip: IpAddr) -> Option<&Pool> {
        self.pools.iter().find(|p| p.contains(ip))
    }

    /// Pools that hand out addresses without being asked by name, in allocation order:
    /// the pool named `default` first, then the others in config order.
    pub fn auto_assign_pools(&self) -> Vec<&Pool> {
        let mut pools: Vec<&Pool> = self.pools.iter().filter(|p| p.auto_assign).collect();
        pools.sort_by_key(|p| p.name != "default");
        pools
    }

    /// The peers a node with these labels opens sessions to.
    pub fn peers_for_node<'a>(
        &'a self,
        labels: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'a Peer> + 'a {
        self.peers.iter().filter(move |p| p.selects_node(labels))
    }

    /// DESIGN.md section 2: a config that would take an address away from a Service that
    /// holds it is refused. `held` lists (address, holder) pairs, the holder as
    /// `namespace/name`; every address must still lie in some pool.
    pub fn check_held_addresses<'a>(
        &self,
        held: impl IntoIterator<Item = (IpAddr, &'a str)>,
    ) -> Result<(), crate::ConfigErrors> {
        let errors: Vec<crate::ConfigError> = held
            .into_iter()
            .filter(|(ip, _)| self.pool_containing(*ip).is_none())
            .map(|(ip, holder)| crate::ConfigError {
                path: "address-pools".to_string(),
                kind: crate::ConfigErrorKind::AddressStillHeld {
                    ip,
                    holder: holder.to_string(),
                },
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.into())
        }
    }

    /// The BFD profile with this name.
    pub fn bfd_profile(&self, name: &str) -> Option<&BfdProfile> {
        self.bfd_profiles.iter().find(|p| p.name == name)
    }
}
