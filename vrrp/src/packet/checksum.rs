//! The Internet checksum (RFC 1071) and the pseudo-headers VRRPv3 sums with the
//! message (RFC 5798 section 5.2.8).

use super::{IP_PROTOCOL, PseudoHeader};

/// A running one's complement sum over a sequence of byte slices, as if they were one
/// buffer (a slice of odd length carries its last byte over to the next one).
#[derive(Clone, Copy, Debug, Default)]
struct Sum {
    total: u32,
    odd: Option<u8>,
}

impl Sum {
    fn add(&mut self, mut bytes: &[u8]) {
        if let Some(high) = self.odd.take() {
            let Some((&low, rest)) = bytes.split_first() else {
                self.odd = Some(high);
                return;
            };
            self.word(u16::from_be_bytes([high, low]));
            bytes = rest;
        }
        let mut words = bytes.chunks_exact(2);
        for pair in &mut words {
            self.word(u16::from_be_bytes([pair[0], pair[1]]));
        }
        if let [last] = words.remainder() {
            self.odd = Some(*last);
        }
    }

    fn word(&mut self, word: u16) {
        self.total += u32::from(word);
        // Fold as we go: the total never overflows, whatever the input length.
        self.total = (self.total & 0xFFFF) + (self.total >> 16);
    }

    /// The folded sum (the final odd byte padded with a zero byte).
    fn finish(mut self) -> u16 {
        if let Some(high) = self.odd.take() {
            self.word(u16::from_be_bytes([high, 0]));
        }
        let mut total = self.total;
        while total > 0xFFFF {
            total = (total & 0xFFFF) + (total >> 16);
        }
        total as u16
    }
}

/// Adds the pseudo-header for a VRRP message of `length` octets: RFC 768 layout for
/// IPv4 (source, destination, zero, protocol, 16-bit length), RFC 8200 section 8.1
/// for IPv6 (source, destination, 32-bit length, three zeros, next header).
fn add_pseudo_header(sum: &mut Sum, header: &PseudoHeader, length: usize) {
    match header {
        PseudoHeader::V4 {
            source,
            destination,
        } => {
            sum.add(&source.octets());
            sum.add(&destination.octets());
            sum.add(&[0, IP_PROTOCOL]);
            // A payload this long cannot be valid; the checksum then simply fails.
            sum.add(&u16::try_from(length).unwrap_or(u16::MAX).to_be_bytes());
        }
        PseudoHeader::V6 {
            source,
            destination,
        } => {
            sum.add(&source.octets());
            sum.add(&destination.octets());
            sum.add(&u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes());
            sum.add(&[0, 0, 0, IP_PROTOCOL]);
        }
    }
}

/// The checksum field for `message` (whose own checksum field must read zero), with
/// the pseudo-header when `header` is given (VRRPv3) or without (VRRPv2, RFC 3768
/// section 5.3.8).
pub(crate) fn compute(header: Option<&PseudoHeader>, message: &[u8]) -> u16 {
    let mut sum = Sum::default();
    if let Some(header) = header {
        add_pseudo_header(&mut sum, header, message.len());
    }
    sum.add(message);
    !sum.finish()
}

/// Whether `message`, checksum field included, sums to all ones.
pub(crate) fn verify(header: Option<&PseudoHeader>, message: &[u8]) -> bool {
    compute(header, message) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn matches_the_rfc_1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(compute(None, &bytes), !0xddf2);
    }

    #[test]
    fn odd_lengths_pad_with_a_zero_byte() {
        assert_eq!(compute(None, &[0x12]), !0x1200);
        let mut sum = Sum::default();
        sum.add(&[0x12]);
        sum.add(&[0x34, 0x56]);
        assert_eq!(sum.finish(), 0x1234 + 0x5600);
    }

    #[test]
    fn a_message_with_its_checksum_verifies() {
        let header = PseudoHeader::V4 {
            source: Ipv4Addr::new(10, 0, 0, 1),
            destination: Ipv4Addr::new(224, 0, 0, 18),
        };
        let mut message = [0x31, 0x01, 0x64, 0x01, 0x00, 0x64, 0, 0, 10, 0, 0, 100];
        let checksum = compute(Some(&header), &message);
        message[6..8].copy_from_slice(&checksum.to_be_bytes());
        assert!(verify(Some(&header), &message));
        assert!(!verify(None, &message));
    }
}
