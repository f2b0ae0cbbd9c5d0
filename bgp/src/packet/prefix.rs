//! NLRI prefixes on the wire (RFC 4271 section 4.3, RFC 4760 section 5): one length octet
//! followed by the fewest octets that hold that many bits. Host bits are cleared on
//! decode and on encode, so a decoded prefix is always in canonical form.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};
use ipnet::{Ipv4Net, Ipv6Net};

use super::reader::Reader;

/// Why a prefix list could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PrefixError {
    /// The length octet exceeds the address width.
    LengthTooLong(u8),
    /// The list ends inside a prefix.
    Truncated,
}

/// Octets a prefix of `bits` bits occupies after its length octet.
fn octets(bits: u8) -> usize {
    usize::from(bits).div_ceil(8)
}

pub(crate) fn v4_wire_len(net: &Ipv4Net) -> usize {
    1 + octets(net.prefix_len())
}

pub(crate) fn v6_wire_len(net: &Ipv6Net) -> usize {
    1 + octets(net.prefix_len())
}

pub(crate) fn read_v4(r: &mut Reader<'_>) -> Result<Ipv4Net, PrefixError> {
    let bits = r.u8().ok_or(PrefixError::Truncated)?;
    if bits > 32 {
        return Err(PrefixError::LengthTooLong(bits));
    }
    let wire = r.take(octets(bits)).ok_or(PrefixError::Truncated)?;
    let mut address = [0u8; 4];
    if let Some(dst) = address.get_mut(..wire.len()) {
        dst.copy_from_slice(wire);
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
    let address = Ipv4Addr::from(u32::from_be_bytes(address) & mask);
    Ipv4Net::new(address, bits).map_err(|_| PrefixError::LengthTooLong(bits))
}

pub(crate) fn read_v6(r: &mut Reader<'_>) -> Result<Ipv6Net, PrefixError> {
    let bits = r.u8().ok_or(PrefixError::Truncated)?;
    if bits > 128 {
        return Err(PrefixError::LengthTooLong(bits));
    }
    let wire = r.take(octets(bits)).ok_or(PrefixError::Truncated)?;
    let mut address = [0u8; 16];
    if let Some(dst) = address.get_mut(..wire.len()) {
        dst.copy_from_slice(wire);
    }
    let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
    let address = Ipv6Addr::from(u128::from_be_bytes(address) & mask);
    Ipv6Net::new(address, bits).map_err(|_| PrefixError::LengthTooLong(bits))
}

/// Decodes a whole field of IPv4 prefixes into `out`.
pub(crate) fn read_v4_list(bytes: &[u8], out: &mut Vec<Ipv4Net>) -> Result<(), PrefixError> {
    // Host routes (5 octets each) are the common case: reserve for them.
    out.reserve(bytes.len() / 5);
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        out.push(read_v4(&mut r)?);
    }
    Ok(())
}

/// Decodes a whole field of IPv6 prefixes into `out`.
pub(crate) fn read_v6_list(bytes: &[u8], out: &mut Vec<Ipv6Net>) -> Result<(), PrefixError> {
    out.reserve(bytes.len() / 17);
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        out.push(read_v6(&mut r)?);
    }
    Ok(())
}

pub(crate) fn put_v4(out: &mut BytesMut, net: &Ipv4Net) {
    let bits = net.prefix_len();
    let address = net.network().octets();
    out.put_u8(bits);
    out.put_slice(address.get(..octets(bits)).unwrap_or(&address));
}

pub(crate) fn put_v6(out: &mut BytesMut, net: &Ipv6Net) {
    let bits = net.prefix_len();
    let address = net.network().octets();
    out.put_u8(bits);
    out.put_slice(address.get(..octets(bits)).unwrap_or(&address));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_bits_are_cleared_on_decode() {
        let mut r = Reader::new(&[25, 10, 0, 0, 0xFF]);
        assert_eq!(read_v4(&mut r), Ok("10.0.0.128/25".parse().unwrap()));
    }

    #[test]
    fn host_bits_are_cleared_on_encode() {
        let mut out = BytesMut::new();
        put_v4(&mut out, &"10.1.2.3/20".parse().unwrap());
        assert_eq!(&out[..], &[20, 10, 1, 0]);
    }

    #[test]
    fn default_route_is_one_octet() {
        let mut out = BytesMut::new();
        put_v6(&mut out, &"::/0".parse().unwrap());
        assert_eq!(&out[..], &[0]);
        let mut r = Reader::new(&out);
        assert_eq!(read_v6(&mut r), Ok("::/0".parse().unwrap()));
    }

    #[test]
    fn length_beyond_address_width_is_rejected() {
        assert_eq!(
            read_v4(&mut Reader::new(&[33, 1, 2, 3, 4, 5])),
            Err(PrefixError::LengthTooLong(33))
        );
        assert_eq!(
            read_v6(&mut Reader::new(&[129])),
            Err(PrefixError::LengthTooLong(129))
        );
    }

    #[test]
    fn prefix_cut_short_is_truncated() {
        assert_eq!(
            read_v4(&mut Reader::new(&[24, 10, 0])),
            Err(PrefixError::Truncated)
        );
    }
}
