//! The VRRPv2 advertisement (RFC 3768 section 5.1), IPv4 only. Decoded so a VRRPv2 peer
//! on the segment shows up in logs and counters with what it claims; the state machine
//! never acts on it.
//!
//! ```text
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! |   Auth Type   |   Adver Int   |          Checksum             |
//! |                         IP Address(es)                        |
//! |                     Authentication Data (8 octets)            |
//! ```

use std::net::Ipv4Addr;

use super::error::DecodeError;
use super::{ADVERTISEMENT, HEADER_LEN, check_count, check_type, checksum, split_header};

const VERSION: u8 = 2;
/// The Authentication Data field, present whatever the Auth Type (RFC 3768 section 5.3.10).
const AUTH_DATA_LEN: usize = 8;

/// A VRRPv2 ADVERTISEMENT.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AdvertisementV2 {
    pub vrid: u8,
    pub priority: u8,
    /// 0 = none; 1 and 2 are the RFC 2338 types RFC 3768 deprecated.
    pub auth_type: u8,
    /// Advertisement Interval in whole seconds.
    pub advert_interval_secs: u8,
    pub addresses: Vec<Ipv4Addr>,
    pub auth_data: [u8; AUTH_DATA_LEN],
}

impl AdvertisementV2 {
    /// The payload, checksum included (RFC 3768 section 5.3.8: over the VRRP message
    /// only, no pseudo-header). Herald never sends VRRPv2; this exists for tests and
    /// tools. Addresses beyond 255 are not written.
    pub fn encode(&self) -> Vec<u8> {
        let count = self.addresses.len().min(255);
        let mut bytes = Vec::with_capacity(HEADER_LEN + 4 * count + AUTH_DATA_LEN);
        bytes.push(VERSION << 4 | ADVERTISEMENT);
        bytes.push(self.vrid);
        bytes.push(self.priority);
        bytes.push(count as u8);
        bytes.push(self.auth_type);
        bytes.push(self.advert_interval_secs);
        bytes.extend_from_slice(&[0, 0]);
        for address in &self.addresses[..count] {
            bytes.extend_from_slice(&address.octets());
        }
        bytes.extend_from_slice(&self.auth_data);
        let sum = checksum::compute(None, &bytes);
        bytes[6..8].copy_from_slice(&sum.to_be_bytes());
        bytes
    }
}

/// Decodes a payload whose version nibble is 2, received over IPv4.
pub(super) fn decode(bytes: &[u8]) -> Result<AdvertisementV2, DecodeError> {
    let (fixed, rest) = split_header(bytes)?;
    let [
        version_type,
        vrid,
        priority,
        count,
        auth_type,
        interval,
        sum_high,
        sum_low,
    ] = *fixed;
    if !checksum::verify(None, bytes) {
        let mut zeroed = bytes.to_vec();
        zeroed[6..8].fill(0);
        return Err(DecodeError::Checksum {
            received: u16::from_be_bytes([sum_high, sum_low]),
            expected: checksum::compute(None, &zeroed),
        });
    }
    check_type(version_type)?;
    let (addresses, auth_data) = rest
        .split_last_chunk::<AUTH_DATA_LEN>()
        .map(|(addresses, auth)| (addresses, *auth))
        .ok_or(DecodeError::AddressCount {
            count,
            length: bytes.len(),
        })?;
    check_count(count, addresses, 4, bytes.len())?;
    if interval == 0 {
        return Err(DecodeError::AdvertIntervalZero);
    }
    Ok(AdvertisementV2 {
        vrid,
        priority,
        auth_type,
        advert_interval_secs: interval,
        addresses: addresses
            .chunks_exact(4)
            .filter_map(|c| <[u8; 4]>::try_from(c).ok())
            .map(Ipv4Addr::from)
            .collect(),
        auth_data,
    })
}
