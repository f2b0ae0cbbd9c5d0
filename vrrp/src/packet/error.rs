//! Why a packet was refused (decoding) or could not be built (encoding).
//!
//! Every refusal has a stable [`DecodeError::label`] for the metric that counts it;
//! [`RejectCounts`] keeps those counts for a driver that wants them in one place.

use std::fmt;

use crate::Centiseconds;

/// A received packet that is discarded (RFC 5798 section 7.1: "the receiver MUST
/// discard the packet, SHOULD log the event").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The IPv4 TTL or IPv6 hop limit is not 255: the packet may come from off-link
    /// (section 7.1).
    #[error("TTL / hop limit {hop_limit}, not 255")]
    HopLimit { hop_limit: u8 },
    /// Shorter than the 8-octet fixed header.
    #[error("truncated: {length} octets")]
    Truncated { length: usize },
    /// A version other than 3, or 2 over IPv4 (section 7.1).
    #[error("unsupported VRRP version {version}")]
    Version { version: u8 },
    /// The checksum does not match the message and its pseudo-header (section 5.2.8).
    #[error("bad checksum {received:#06x}, expected {expected:#06x}")]
    Checksum { received: u16, expected: u16 },
    /// A type other than 1, ADVERTISEMENT (section 5.2.2).
    #[error("unknown packet type {packet_type}")]
    Type { packet_type: u8 },
    /// Count IPvX Addr is zero; its minimum is 1 (section 5.2.5).
    #[error("no addresses")]
    NoAddresses,
    /// The length left for addresses is not Count IPvX Addr times the address size
    /// (section 7.1: the packet must hold the complete advertisement).
    #[error("{count} addresses do not fit a {length}-octet packet")]
    AddressCount { count: u8, length: usize },
    /// Max Advertise Interval (VRRPv2: Advertisement Interval) is zero (section 5.2.7).
    #[error("advertisement interval 0")]
    AdvertIntervalZero,
}

impl DecodeError {
    /// Every label [`DecodeError::label`] can return, in a fixed order (the index of
    /// [`RejectCounts`]), so a metrics registry can create all series up front.
    pub const LABELS: [&'static str; 8] = [
        "hop_limit",
        "truncated",
        "version",
        "checksum",
        "type",
        "no_addresses",
        "address_count",
        "advert_interval_zero",
    ];

    fn index(&self) -> usize {
        match self {
            DecodeError::HopLimit { .. } => 0,
            DecodeError::Truncated { .. } => 1,
            DecodeError::Version { .. } => 2,
            DecodeError::Checksum { .. } => 3,
            DecodeError::Type { .. } => 4,
            DecodeError::NoAddresses => 5,
            DecodeError::AddressCount { .. } => 6,
            DecodeError::AdvertIntervalZero => 7,
        }
    }

    /// The metric label of this reason; stable across releases.
    pub fn label(&self) -> &'static str {
        Self::LABELS[self.index()]
    }
}

/// How many received packets were refused, per reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RejectCounts {
    counts: [u64; DecodeError::LABELS.len()],
}

impl RejectCounts {
    pub fn record(&mut self, error: &DecodeError) {
        let count = &mut self.counts[error.index()];
        *count = count.saturating_add(1);
    }

    /// The count for `label` (0 for a label that does not exist).
    pub fn get(&self, label: &str) -> u64 {
        DecodeError::LABELS
            .iter()
            .position(|l| *l == label)
            .map_or(0, |i| self.counts[i])
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(label, count)` for every reason, zero counts included.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DecodeError::LABELS
            .iter()
            .copied()
            .zip(self.counts.iter().copied())
    }
}

/// An advertisement that cannot be put on the wire.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The addresses are not of the family of the IP header.
    #[error("{addresses} addresses in an {header} packet")]
    FamilyMismatch { addresses: Family, header: Family },
    /// Count IPvX Addr must be at least 1 (section 5.2.5).
    #[error("no addresses")]
    NoAddresses,
    /// Count IPvX Addr is one octet.
    #[error("{count} addresses, at most 255 fit")]
    TooManyAddresses { count: usize },
    /// Max Advertise Interval is 12 bits and must not be 0 (section 5.2.7).
    #[error("advertisement interval {interval} out of 1..=4095 centiseconds")]
    AdvertInterval { interval: Centiseconds },
}

/// An address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        })
    }
}
