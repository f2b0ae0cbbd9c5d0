//! Every way a received packet is refused: a typed reason, a stable metric label, and
//! never a panic (RFC 5798 section 7.1).
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

mod packet_support;

use std::net::{Ipv4Addr, Ipv6Addr};

use packet_support::{hex, pseudo};
use vrrp::Centiseconds;
use vrrp::packet::{
    Advertisement, DecodeError, EncodeError, Family, PseudoHeader, RejectCounts, VirtualAddresses,
    decode,
};

fn header4() -> PseudoHeader {
    pseudo("192.0.2.1", "224.0.0.18")
}

fn header6() -> PseudoHeader {
    pseudo("fe80::1", "ff02::12")
}

fn advert4(count: usize) -> Advertisement {
    Advertisement {
        vrid: 7,
        priority: 120,
        max_advert_interval: Centiseconds(100),
        addresses: VirtualAddresses::V4(
            (0..count)
                .map(|i| Ipv4Addr::from(0xC000_0200 + i as u32))
                .collect(),
        ),
    }
}

/// Bytes with a fresh checksum after `edit`, so only the edit is wrong.
fn edited(header: &PseudoHeader, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = advert4(1).encode(&header4()).unwrap();
    edit(&mut bytes);
    fix_checksum(header, &mut bytes);
    bytes
}

/// Recomputes the VRRPv3 checksum: encode a zeroed copy through the decoder's error.
fn fix_checksum(header: &PseudoHeader, bytes: &mut [u8]) {
    if bytes.len() < 8 {
        return;
    }
    bytes[6..8].fill(0);
    if let Err(DecodeError::Checksum { expected, .. }) = decode(bytes, header, 255) {
        bytes[6..8].copy_from_slice(&expected.to_be_bytes());
    }
}

fn reason(bytes: &[u8], header: &PseudoHeader, hop_limit: u8) -> DecodeError {
    decode(bytes, header, hop_limit).unwrap_err()
}

#[test]
fn ttl_other_than_255_is_refused_before_anything_else() {
    let bytes = advert4(1).encode(&header4()).unwrap();
    for hop_limit in [0, 1, 64, 254] {
        let error = reason(&bytes, &header4(), hop_limit);
        assert_eq!(error, DecodeError::HopLimit { hop_limit });
        assert_eq!(error.label(), "hop_limit");
    }
    assert_eq!(reason(&[], &header6(), 1).label(), "hop_limit");
}

#[test]
fn packets_shorter_than_the_fixed_header_are_truncated() {
    for length in 0..8 {
        let bytes = &hex("3101640100640000")[..length];
        assert_eq!(
            reason(bytes, &header4(), 255),
            DecodeError::Truncated { length }
        );
    }
}

#[test]
fn bad_checksum_is_refused_with_both_values() {
    let mut bytes = advert4(1).encode(&header4()).unwrap();
    bytes[2] ^= 0x01; // priority flipped in transit
    let error = reason(&bytes, &header4(), 255);
    let DecodeError::Checksum { received, expected } = error else {
        panic!("{error:?}");
    };
    assert_ne!(received, expected);
    assert_eq!(error.label(), "checksum");
}

#[test]
fn checksum_without_the_ipv4_pseudo_header_is_refused() {
    // A VRRPv2-style sum over the message alone, as pre-RFC 5798 stacks send for v3.
    let mut bytes = hex("31 01 64 01 0064 0000 c000020a");
    let sum: u32 = bytes
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let folded = ((sum & 0xFFFF) + (sum >> 16)) as u16;
    bytes[6..8].copy_from_slice(&(!folded).to_be_bytes());
    assert_eq!(reason(&bytes, &header4(), 255).label(), "checksum");
}

#[test]
fn checksum_for_another_source_is_refused() {
    let bytes = advert4(1).encode(&header4()).unwrap();
    let spoofed = pseudo("192.0.2.99", "224.0.0.18");
    assert_eq!(reason(&bytes, &spoofed, 255).label(), "checksum");
}

#[test]
fn versions_other_than_3_are_refused() {
    for version in [0u8, 1, 4, 15] {
        let bytes = edited(&header4(), |b| b[0] = version << 4 | 1);
        assert_eq!(
            reason(&bytes, &header4(), 255),
            DecodeError::Version { version }
        );
    }
}

#[test]
fn vrrpv2_over_ipv6_is_refused_as_a_version_error() {
    let bytes = hex("21 03 c8 01 00 01 54e5 c0000214 0000000000000000");
    assert_eq!(
        reason(&bytes, &header6(), 255),
        DecodeError::Version { version: 2 }
    );
}

#[test]
fn types_other_than_advertisement_are_refused() {
    for packet_type in [0u8, 2, 15] {
        let bytes = edited(&header4(), |b| b[0] = 0x30 | packet_type);
        let error = reason(&bytes, &header4(), 255);
        assert_eq!(error, DecodeError::Type { packet_type });
        assert_eq!(error.label(), "type");
    }
}

#[test]
fn address_count_that_does_not_match_the_length_is_refused() {
    // Count says 2, one address follows.
    let bytes = edited(&header4(), |b| b[3] = 2);
    assert_eq!(
        reason(&bytes, &header4(), 255),
        DecodeError::AddressCount {
            count: 2,
            length: 12
        }
    );
    // Count says 1, a stray octet follows.
    let bytes = edited(&header4(), |b| b.push(0));
    assert_eq!(reason(&bytes, &header4(), 255).label(), "address_count");
    // An IPv4-sized list in an IPv6 packet.
    let mut bytes = hex("31 01 64 01 0064 0000 c000020a");
    fix_checksum(&header6(), &mut bytes);
    assert_eq!(
        reason(&bytes, &header6(), 255),
        DecodeError::AddressCount {
            count: 1,
            length: 12
        }
    );
}

#[test]
fn zero_addresses_are_refused() {
    let bytes = edited(&header4(), |b| {
        b[3] = 0;
        b.truncate(8);
    });
    assert_eq!(reason(&bytes, &header4(), 255), DecodeError::NoAddresses);
}

#[test]
fn advert_interval_zero_is_refused() {
    let bytes = edited(&header4(), |b| b[4..6].copy_from_slice(&[0xF0, 0x00]));
    let error = reason(&bytes, &header4(), 255);
    assert_eq!(error, DecodeError::AdvertIntervalZero);
    assert_eq!(error.label(), "advert_interval_zero");
}

#[test]
fn vrrpv2_malformations_are_refused_too() {
    let good = hex("21 03 c8 01 00 01 54e5 c0000214 0000000000000000");
    let mut bad_sum = good.clone();
    bad_sum[7] ^= 1;
    assert_eq!(reason(&bad_sum, &header4(), 255).label(), "checksum");
    // No authentication data: 12 octets cannot hold one address plus 8 auth octets.
    let mut short = good[..12].to_vec();
    short[6..8].fill(0);
    let sum = !fold(&short);
    short[6..8].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(reason(&short, &header4(), 255).label(), "address_count");
    // Advertisement interval 0.
    let mut zero = good.clone();
    zero[5] = 0;
    zero[6..8].fill(0);
    let sum = !fold(&zero);
    zero[6..8].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(
        reason(&zero, &header4(), 255),
        DecodeError::AdvertIntervalZero
    );
}

fn fold(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

#[test]
fn every_label_is_distinct_and_counted() {
    let mut labels = DecodeError::LABELS.to_vec();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels.len(), DecodeError::LABELS.len());

    let mut counts = RejectCounts::default();
    let bytes = advert4(1).encode(&header4()).unwrap();
    for hop_limit in [1, 2] {
        counts.record(&reason(&bytes, &header4(), hop_limit));
    }
    counts.record(&reason(&bytes[..3], &header4(), 255));
    assert_eq!(counts.get("hop_limit"), 2);
    assert_eq!(counts.get("truncated"), 1);
    assert_eq!(counts.get("checksum"), 0);
    assert_eq!(counts.get("no_such_label"), 0);
    assert_eq!(counts.total(), 3);
    assert_eq!(counts.iter().count(), DecodeError::LABELS.len());
}

#[test]
fn encoder_refuses_what_the_decoder_would() {
    let too_many = advert4(256);
    assert_eq!(
        too_many.encode(&header4()),
        Err(EncodeError::TooManyAddresses { count: 256 })
    );
    assert_eq!(advert4(0).encode(&header4()), Err(EncodeError::NoAddresses));
    assert_eq!(
        advert4(1).encode(&header6()),
        Err(EncodeError::FamilyMismatch {
            addresses: Family::Ipv4,
            header: Family::Ipv6
        })
    );
    for interval in [0, 4096] {
        let advert = Advertisement {
            max_advert_interval: Centiseconds(interval),
            ..advert4(1)
        };
        assert_eq!(
            advert.encode(&header4()),
            Err(EncodeError::AdvertInterval {
                interval: Centiseconds(interval)
            })
        );
    }
    // The limits themselves encode.
    let limits = Advertisement {
        max_advert_interval: Centiseconds(4095),
        addresses: VirtualAddresses::V6(vec![Ipv6Addr::LOCALHOST; 255]),
        ..advert4(1)
    };
    let bytes = limits.encode(&header6()).unwrap();
    assert_eq!(bytes.len(), 8 + 255 * 16);
    assert!(decode(&bytes, &header6(), 255).is_ok());
}
