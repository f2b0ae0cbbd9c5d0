//! Feeds arbitrary bytes to `packet::decode`. The first octet picks the IP header
//! (bits 0-1: IPv4 or IPv6, multicast or unicast destination; bit 2: TTL 255 or not)
//! and whether to put the right checksum in before decoding (bit 3), so the fuzzer gets
//! past the checksum to the checks behind it; the rest is the VRRP payload. Decoding must never panic, and whatever decodes must encode back to
//! bytes that decode to the same value.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use vrrp::packet::{DecodeError, Packet, PseudoHeader, decode};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let header = match selector & 0b11 {
        0 => PseudoHeader::v4_multicast(Ipv4Addr::new(192, 0, 2, 1)),
        1 => PseudoHeader::V4 {
            source: Ipv4Addr::new(192, 0, 2, 1),
            destination: Ipv4Addr::new(192, 0, 2, 2),
        },
        2 => PseudoHeader::v6_multicast(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        _ => PseudoHeader::V6 {
            source: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
            destination: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2),
        },
    };
    let hop_limit = if selector & 0b100 == 0 { 255 } else { selector };
    let mut payload = payload.to_vec();
    if selector & 0b1000 != 0 && payload.len() >= 8 {
        payload[6..8].fill(0);
        if let Err(DecodeError::Checksum { expected, .. }) = decode(&payload, &header, 255) {
            payload[6..8].copy_from_slice(&expected.to_be_bytes());
        }
    }
    let Ok(packet) = decode(&payload, &header, hop_limit) else {
        return;
    };
    let again = match &packet {
        Packet::V3(advert) => advert.encode(&header).expect("a decoded advert encodes"),
        Packet::V2(advert) => advert.encode(),
    };
    assert_eq!(decode(&again, &header, hop_limit).ok(), Some(packet));
});
