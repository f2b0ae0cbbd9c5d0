//! The VRRP wire format: VRRPv3 advertisements over IPv4 and IPv6 (RFC 5798 section 5),
//! and VRRPv2 advertisements (RFC 3768 section 5) decoded for the logs when a peer
//! still speaks the old version.
//!
//! Contract used by the driver:
//! - the raw socket hands over the VRRP payload (the IP header already stripped), and
//!   the socket layer knows the rest: source and destination address (for the
//!   checksum's [`PseudoHeader`]) and the TTL / hop limit;
//! - [`decode`] checks everything RFC 5798 section 7.1 asks of a receiver that can be
//!   checked without configuration, and returns a [`Packet`] or a typed
//!   [`DecodeError`] with a metric label ([`RejectCounts`] counts them). It never panics;
//! - [`Advertisement::encode`] builds the payload, checksum included, for a given
//!   pseudo-header; the driver sends it with TTL / hop limit 255 ([`HOP_LIMIT`]) to
//!   [`IPV4_MULTICAST`] or [`IPV6_MULTICAST`] (or a unicast peer).
//!
//! Checks that need configuration (the VRID is ours, we are not the address owner, the
//! address list matches) belong to [`crate::fsm`].

mod advert;
mod checksum;
mod error;
mod v2;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Centiseconds;

pub use advert::{Advertisement, VirtualAddresses};
pub use error::{DecodeError, EncodeError, Family, RejectCounts};
pub use v2::AdvertisementV2;

/// The IP protocol number of VRRP (RFC 5798 section 5.1.1.4 / 5.1.2.3).
pub const IP_PROTOCOL: u8 = 112;
/// Where IPv4 adverts go (RFC 5798 section 5.1.1.2).
pub const IPV4_MULTICAST: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Where IPv6 adverts go (RFC 5798 section 5.1.2.2).
pub const IPV6_MULTICAST: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TTL / hop limit every advert is sent with and must arrive with (sections
/// 5.1.1.3, 5.1.2.3, 7.1).
pub const HOP_LIMIT: u8 = 255;
/// The one packet type, ADVERTISEMENT (section 5.2.2).
pub const ADVERTISEMENT: u8 = 1;
/// Octets before the address list (sections 5.1, 5.2).
pub const HEADER_LEN: usize = 8;
/// The largest Max Advertise Interval, 12 bits (section 5.2.7): 40.95 s.
pub const MAX_ADVERT_INTERVAL: Centiseconds = Centiseconds(advert::MAX_INTERVAL);

/// The addresses of the IP header the VRRP payload travelled in. VRRPv3 sums them
/// into its checksum (section 5.2.8); the source is also the sender's primary address
/// the election compares (section 6.4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PseudoHeader {
    V4 {
        source: Ipv4Addr,
        destination: Ipv4Addr,
    },
    V6 {
        source: Ipv6Addr,
        destination: Ipv6Addr,
    },
}

impl PseudoHeader {
    /// An IPv4 header to the VRRP multicast group.
    pub fn v4_multicast(source: Ipv4Addr) -> Self {
        PseudoHeader::V4 {
            source,
            destination: IPV4_MULTICAST,
        }
    }

    /// An IPv6 header to the VRRP multicast group (`source` is link-local, section
    /// 5.1.2.1).
    pub fn v6_multicast(source: Ipv6Addr) -> Self {
        PseudoHeader::V6 {
            source,
            destination: IPV6_MULTICAST,
        }
    }

    pub fn source(&self) -> IpAddr {
        match self {
            PseudoHeader::V4 { source, .. } => IpAddr::V4(*source),
            PseudoHeader::V6 { source, .. } => IpAddr::V6(*source),
        }
    }

    pub fn destination(&self) -> IpAddr {
        match self {
            PseudoHeader::V4 { destination, .. } => IpAddr::V4(*destination),
            PseudoHeader::V6 { destination, .. } => IpAddr::V6(*destination),
        }
    }

    pub fn family(&self) -> Family {
        match self {
            PseudoHeader::V4 { .. } => Family::Ipv4,
            PseudoHeader::V6 { .. } => Family::Ipv6,
        }
    }
}

/// A packet that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// What the state machine consumes.
    V3(Advertisement),
    /// A VRRPv2 peer on the segment: worth a log line and a counter, nothing more
    /// (Herald does not run the RFC 5798 section 8.4 compatibility mode).
    V2(AdvertisementV2),
}

/// Decodes the VRRP payload of one IP packet.
///
/// Checks, in this order (RFC 5798 section 7.1): the TTL / hop limit is 255; the fixed
/// header is complete; the version is 3 (or 2, over IPv4); the checksum; the type is
/// ADVERTISEMENT; Count IPvX Addr is at least 1 and matches the length; the interval is
/// not zero.
pub fn decode(bytes: &[u8], header: &PseudoHeader, hop_limit: u8) -> Result<Packet, DecodeError> {
    if hop_limit != HOP_LIMIT {
        return Err(DecodeError::HopLimit { hop_limit });
    }
    let (fixed, _) = split_header(bytes)?;
    match (fixed[0] >> 4, header) {
        (3, _) => advert::decode(bytes, header).map(Packet::V3),
        (2, PseudoHeader::V4 { .. }) => v2::decode(bytes).map(Packet::V2),
        (version, _) => Err(DecodeError::Version { version }),
    }
}

/// The fixed header, or `Truncated`.
fn split_header(bytes: &[u8]) -> Result<(&[u8; HEADER_LEN], &[u8]), DecodeError> {
    bytes
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(DecodeError::Truncated {
            length: bytes.len(),
        })
}

/// Checks the type nibble (section 5.2.2).
fn check_type(version_type: u8) -> Result<(), DecodeError> {
    let packet_type = version_type & 0x0F;
    if packet_type != ADVERTISEMENT {
        return Err(DecodeError::Type { packet_type });
    }
    Ok(())
}

/// Checks Count IPvX Addr against the bytes the addresses occupy (sections 5.2.5, 7.1);
/// `length` is the whole payload's, for the error.
fn check_count(
    count: u8,
    addresses: &[u8],
    address_len: usize,
    length: usize,
) -> Result<(), DecodeError> {
    if count == 0 {
        return Err(DecodeError::NoAddresses);
    }
    if addresses.len() != usize::from(count) * address_len {
        return Err(DecodeError::AddressCount { count, length });
    }
    Ok(())
}
