//! The VRRPv3 advertisement (RFC 5798 section 5.1 and 5.2):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 IPvX Address(es), 4 or 16 octets each         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::{DecodeError, EncodeError, Family};
use super::{
    ADVERTISEMENT, HEADER_LEN, PseudoHeader, check_count, check_type, checksum, split_header,
};
use crate::Centiseconds;

/// The protocol version this module speaks.
const VERSION: u8 = 3;
/// The largest Max Advertise Interval, 12 bits of centiseconds (section 5.2.7).
pub(crate) const MAX_INTERVAL: u32 = 0x0FFF;

/// The virtual addresses of one virtual router, all of one family (section 5.2.9). The
/// family is that of the IP packet that carries them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VirtualAddresses {
    V4(Vec<Ipv4Addr>),
    V6(Vec<Ipv6Addr>),
}

impl VirtualAddresses {
    pub fn family(&self) -> Family {
        match self {
            VirtualAddresses::V4(_) => Family::Ipv4,
            VirtualAddresses::V6(_) => Family::Ipv6,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            VirtualAddresses::V4(list) => list.len(),
            VirtualAddresses::V6(list) => list.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let (v4, v6) = match self {
            VirtualAddresses::V4(list) => (list.as_slice(), &[][..]),
            VirtualAddresses::V6(list) => (&[][..], list.as_slice()),
        };
        v4.iter()
            .map(|a| IpAddr::V4(*a))
            .chain(v6.iter().map(|a| IpAddr::V6(*a)))
    }

    /// The same addresses in any order (duplicates ignored).
    pub fn same_set(&self, other: &VirtualAddresses) -> bool {
        fn sorted<T: Ord + Copy>(list: &[T]) -> Vec<T> {
            let mut list = list.to_vec();
            list.sort_unstable();
            list.dedup();
            list
        }
        match (self, other) {
            (VirtualAddresses::V4(a), VirtualAddresses::V4(b)) => sorted(a) == sorted(b),
            (VirtualAddresses::V6(a), VirtualAddresses::V6(b)) => sorted(a) == sorted(b),
            _ => false,
        }
    }

    fn address_len(family: Family) -> usize {
        match family {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }
}

/// A VRRPv3 ADVERTISEMENT.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Advertisement {
    /// Virtual Rtr ID, 1..=255 in practice (section 5.2.3; 0 is not checked here).
    pub vrid: u8,
    /// The sender's priority: 255 for the address owner, 0 when the master stops
    /// (section 5.2.4).
    pub priority: u8,
    /// Max Advertise Interval, 1..=4095 centiseconds (section 5.2.7).
    pub max_advert_interval: Centiseconds,
    pub addresses: VirtualAddresses,
}

impl Advertisement {
    /// The encoded length in octets.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.addresses.len() * VirtualAddresses::address_len(self.addresses.family())
    }

    /// The VRRP payload for an IP packet with these addresses, checksum included
    /// (section 5.2.8: the pseudo-header of RFC 8200 section 8.1 for IPv6, and its
    /// IPv4 counterpart, which keepalived 2.x sums too).
    pub fn encode(&self, header: &PseudoHeader) -> Result<Vec<u8>, EncodeError> {
        if self.addresses.family() != header.family() {
            return Err(EncodeError::FamilyMismatch {
                addresses: self.addresses.family(),
                header: header.family(),
            });
        }
        let count = match u8::try_from(self.addresses.len()) {
            Ok(0) => return Err(EncodeError::NoAddresses),
            Ok(count) => count,
            Err(_) => {
                return Err(EncodeError::TooManyAddresses {
                    count: self.addresses.len(),
                });
            }
        };
        let interval = self.max_advert_interval;
        let interval_field = match u16::try_from(interval.get()) {
            Ok(field) if (1..=MAX_INTERVAL).contains(&interval.get()) => field,
            _ => return Err(EncodeError::AdvertInterval { interval }),
        };
        let mut bytes = Vec::with_capacity(self.wire_len());
        bytes.push(VERSION << 4 | ADVERTISEMENT);
        bytes.push(self.vrid);
        bytes.push(self.priority);
        bytes.push(count);
        // The 4 reserved bits are zero on transmission (section 5.2.6).
        bytes.extend_from_slice(&interval_field.to_be_bytes());
        bytes.extend_from_slice(&[0, 0]);
        match &self.addresses {
            VirtualAddresses::V4(list) => list
                .iter()
                .for_each(|a| bytes.extend_from_slice(&a.octets())),
            VirtualAddresses::V6(list) => list
                .iter()
                .for_each(|a| bytes.extend_from_slice(&a.octets())),
        }
        let sum = checksum::compute(Some(header), &bytes);
        bytes[6..8].copy_from_slice(&sum.to_be_bytes());
        Ok(bytes)
    }
}

/// Decodes a VRRPv3 payload whose version nibble is 3 (the caller checked it and the
/// hop limit).
pub(super) fn decode(bytes: &[u8], header: &PseudoHeader) -> Result<Advertisement, DecodeError> {
    let (fixed, addresses) = split_header(bytes)?;
    let [
        version_type,
        vrid,
        priority,
        count,
        interval_high,
        interval_low,
        sum_high,
        sum_low,
    ] = *fixed;
    if !checksum::verify(Some(header), bytes) {
        let mut zeroed = bytes.to_vec();
        zeroed[6..8].fill(0);
        return Err(DecodeError::Checksum {
            received: u16::from_be_bytes([sum_high, sum_low]),
            expected: checksum::compute(Some(header), &zeroed),
        });
    }
    let family = header.family();
    let address_len = VirtualAddresses::address_len(family);
    check_type(version_type)?;
    check_count(count, addresses, address_len, bytes.len())?;
    // The high 4 bits are reserved and ignored on reception (section 5.2.6).
    let interval = u16::from_be_bytes([interval_high & 0x0F, interval_low]);
    if interval == 0 {
        return Err(DecodeError::AdvertIntervalZero);
    }
    let addresses = match family {
        Family::Ipv4 => VirtualAddresses::V4(
            addresses
                .chunks_exact(4)
                .filter_map(|c| <[u8; 4]>::try_from(c).ok())
                .map(Ipv4Addr::from)
                .collect(),
        ),
        Family::Ipv6 => VirtualAddresses::V6(
            addresses
                .chunks_exact(16)
                .filter_map(|c| <[u8; 16]>::try_from(c).ok())
                .map(Ipv6Addr::from)
                .collect(),
        ),
    };
    Ok(Advertisement {
        vrid,
        priority,
        max_advert_interval: Centiseconds(u32::from(interval)),
        addresses,
    })
}
