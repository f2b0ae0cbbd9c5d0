//! Property tests: any advert survives encode then decode unchanged, over IPv4 and
//! IPv6; arbitrary and mutated bytes never make the decoder panic, and whatever it
//! accepts re-encodes to the very same bytes.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use vrrp::Centiseconds;
use vrrp::packet::{Advertisement, Packet, PseudoHeader, VirtualAddresses, decode};

fn header() -> impl Strategy<Value = PseudoHeader> {
    prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(s, d)| PseudoHeader::V4 {
            source: Ipv4Addr::from(s),
            destination: Ipv4Addr::from(d),
        }),
        (any::<u128>(), any::<u128>()).prop_map(|(s, d)| PseudoHeader::V6 {
            source: Ipv6Addr::from(s),
            destination: Ipv6Addr::from(d),
        }),
    ]
}

/// A header and a valid advert of its family.
fn header_and_advert() -> impl Strategy<Value = (PseudoHeader, Advertisement)> {
    (
        header(),
        any::<u8>(),
        any::<u8>(),
        1..=4095u32,
        prop::collection::vec(any::<u128>(), 1..=255),
    )
        .prop_map(|(header, vrid, priority, interval, raw)| {
            let addresses = match header {
                PseudoHeader::V4 { .. } => {
                    VirtualAddresses::V4(raw.iter().map(|a| Ipv4Addr::from(*a as u32)).collect())
                }
                PseudoHeader::V6 { .. } => {
                    VirtualAddresses::V6(raw.iter().map(|a| Ipv6Addr::from(*a)).collect())
                }
            };
            let advert = Advertisement {
                vrid,
                priority,
                max_advert_interval: Centiseconds(interval),
                addresses,
            };
            (header, advert)
        })
}

/// Whatever decodes must encode back to the same bytes (the reserved bits aside).
fn check_accepted(bytes: &[u8], header: &PseudoHeader) {
    if let Ok(packet) = decode(bytes, header, 255) {
        let again = match packet {
            Packet::V3(advert) => advert.encode(header).unwrap(),
            Packet::V2(advert) => advert.encode(),
        };
        let mut expected = bytes.to_vec();
        if expected[0] >> 4 == 3 {
            // Reserved bits are dropped, and the checksum follows.
            expected[4] &= 0x0F;
            expected[6..8].copy_from_slice(&again[6..8]);
        }
        assert_eq!(again, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encode_then_decode_round_trips((header, advert) in header_and_advert()) {
        let bytes = advert.encode(&header).unwrap();
        prop_assert_eq!(bytes.len(), advert.wire_len());
        prop_assert_eq!(decode(&bytes, &header, 255).unwrap(), Packet::V3(advert));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        header in header(),
        hop_limit in prop_oneof![Just(255u8), any::<u8>()],
    ) {
        let _ = decode(&bytes, &header, hop_limit);
        check_accepted(&bytes, &header);
    }

    #[test]
    fn mutated_adverts_never_panic(
        (header, advert) in header_and_advert(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = advert.encode(&header).unwrap();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        let _ = decode(&bytes, &header, 255);
        check_accepted(&bytes, &header);
    }

    #[test]
    fn any_single_bit_flip_is_caught(
        (header, advert) in header_and_advert(),
        bit in any::<prop::sample::Index>(),
    ) {
        let mut bytes = advert.encode(&header).unwrap();
        let bit = bit.index(bytes.len() * 8);
        // The reserved bits are not protected by meaning, only by the checksum; every
        // flip must still be refused.
        bytes[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(decode(&bytes, &header, 255).is_err());
    }
}
