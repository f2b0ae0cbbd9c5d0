//! Path attributes (RFC 4271 section 5 and the RFCs that add attributes).
//!
//! An UPDATE carries at most one of each attribute; [`PathAttributes`] holds them by name.
//! AS paths are held as full 4-octet AS numbers whatever the session negotiated: the
//! codec turns them into AS_PATH + AS4_PATH for 2-octet peers (RFC 6793 section 4.2.2)
//! and merges them back on receive (section 4.2.3).

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;

use super::iana::AfiSafi;

/// All path attributes of one UPDATE.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathAttributes {
    pub origin: Option<Origin>,
    pub as_path: Option<AsPath>,
    pub next_hop: Option<Ipv4Addr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<Aggregator>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    pub extended_communities: Vec<ExtendedCommunity>,
    pub mp_reach: Option<MpReach>,
    pub mp_unreach: Option<MpUnreach>,
    /// Attributes we do not interpret, passed through as received (optional transitive
    /// ones get the Partial bit set when re-advertised, RFC 4271 section 5).
    pub unknown: Vec<RawAttribute>,
}

/// ORIGIN (RFC 4271 section 5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

/// AS_PATH as a list of segments of 4-octet AS numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AsPath {
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// A path of one AS_SEQUENCE (empty path when `asns` is empty).
    pub fn sequence(asns: impl IntoIterator<Item = u32>) -> Self {
        let asns: Vec<u32> = asns.into_iter().collect();
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: AsSegmentKind::Sequence,
                asns,
            }],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AsSegment {
    pub kind: AsSegmentKind,
    pub asns: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AsSegmentKind {
    Set = 1,
    Sequence = 2,
    ConfedSequence = 3,
    ConfedSet = 4,
}

/// AGGREGATOR (RFC 4271 section 5.1.7) with a 4-octet AS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

/// A standard community (RFC 1997), `asn:value` packed as `(asn << 16) | value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// RFC 8326.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);

    pub fn new(asn: u16, value: u16) -> Self {
        Community((u32::from(asn) << 16) | u32::from(value))
    }
}

/// `asn:value`, e.g. `64500:1`.
impl std::fmt::Display for Community {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xFFFF)
    }
}

/// A large community (RFC 8092).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global_admin: u32,
    pub local_data1: u32,
    pub local_data2: u32,
}

/// `global:data1:data2`, e.g. `64500:1:2`.
impl std::fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.global_admin, self.local_data1, self.local_data2
        )
    }
}

/// An extended community (RFC 4360 section 2): eight octets, the type (high and low
/// octet) first, then the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtendedCommunity(pub [u8; 8]);

impl ExtendedCommunity {
    /// Type high octet of a non-transitive two-octet-AS-specific community (RFC 7153
    /// section 5.1); its transitive twin is 0x00.
    pub const TYPE_AS2_NON_TRANSITIVE: u8 = 0x40;
    pub const TYPE_AS2_TRANSITIVE: u8 = 0x00;
    /// Sub-type of the link bandwidth community (draft-ietf-idr-link-bandwidth section 2).
    pub const SUBTYPE_LINK_BANDWIDTH: u8 = 0x04;

    /// The link bandwidth community (draft-ietf-idr-link-bandwidth section 2): type 0x40
    /// (non-transitive, two-octet AS specific), sub-type 0x04, `asn`, then the bandwidth in
    /// bytes per second as an IEEE 754 single-precision float. A 4-octet AS goes as
    /// AS_TRANS (RFC 6793 section 9), as for every two-octet-AS field.
    pub fn link_bandwidth(asn: u32, bytes_per_second: f32) -> Self {
        let asn = u16::try_from(asn).unwrap_or(super::iana::AS_TRANS);
        let [a0, a1] = asn.to_be_bytes();
        let [b0, b1, b2, b3] = bytes_per_second.to_bits().to_be_bytes();
        ExtendedCommunity([
            Self::TYPE_AS2_NON_TRANSITIVE,
            Self::SUBTYPE_LINK_BANDWIDTH,
            a0,
            a1,
            b0,
            b1,
            b2,
            b3,
        ])
    }

    /// The AS and bandwidth (bytes per second) of a link bandwidth community, transitive
    /// or not (routers send both).
    pub fn as_link_bandwidth(&self) -> Option<(u16, f32)> {
        let [kind, subtype, a0, a1, b0, b1, b2, b3] = self.0;
        let two_octet_as =
            kind == Self::TYPE_AS2_NON_TRANSITIVE || kind == Self::TYPE_AS2_TRANSITIVE;
        (two_octet_as && subtype == Self::SUBTYPE_LINK_BANDWIDTH).then(|| {
            (
                u16::from_be_bytes([a0, a1]),
                f32::from_bits(u32::from_be_bytes([b0, b1, b2, b3])),
            )
        })
    }
}

/// A link bandwidth community as `lb:AS:bytes/s`, any other as its 16 hex digits.
impl std::fmt::Display for ExtendedCommunity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((asn, bandwidth)) = self.as_link_bandwidth() {
            return write!(f, "lb:{asn}:{bandwidth}");
        }
        for octet in self.0 {
            write!(f, "{octet:02x}")?;
        }
        Ok(())
    }
}

/// MP_REACH_NLRI (RFC 4760 section 3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MpReach {
    pub family: AfiSafi,
    pub next_hop: MpNextHop,
    pub nlri: Vec<Ipv6Net>,
}

/// The next hop of MP_REACH_NLRI for IPv6: a global address, optionally followed by a
/// link-local one (RFC 2545 section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MpNextHop {
    pub global: Ipv6Addr,
    pub link_local: Option<Ipv6Addr>,
}

/// MP_UNREACH_NLRI (RFC 4760 section 4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    pub family: AfiSafi,
    pub withdrawn: Vec<Ipv6Net>,
}

/// An attribute kept as bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    pub flags: u8,
    pub type_code: u8,
    pub value: Vec<u8>,
}
