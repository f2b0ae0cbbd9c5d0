//! Hand-built byte vectors, each checked both ways: the value encodes to exactly these
//! bytes, and these bytes decode to exactly this value. Checksums were summed by hand
//! (the arithmetic is in the comments) and agree with keepalived's in
//! `packet_captures.rs`.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

mod packet_support;

use std::net::{Ipv4Addr, Ipv6Addr};

use packet_support::{hex, hex_string, pseudo};
use vrrp::Centiseconds;
use vrrp::packet::{
    Advertisement, AdvertisementV2, Packet, PseudoHeader, VirtualAddresses, decode,
};

fn assert_encodes(advert: &Advertisement, header: &PseudoHeader, expected: &str) {
    assert_eq!(
        hex_string(&advert.encode(header).unwrap()),
        hex_string(&hex(expected))
    );
}

fn assert_decodes(bytes: &str, header: &PseudoHeader, expected: Packet) {
    assert_eq!(decode(&hex(bytes), header, 255).unwrap(), expected);
}

// ------------------------------------------------------------ VRRPv3, IPv4 ---

/// 192.0.2.1 -> 224.0.0.18. Sum: pseudo-header c000+0201+e000+0012+0070+000c, message
/// 3101+6401+0064+0000+c000+020a = 2f9ff... folded fa01, checksum !fa01 = 05fe.
const V4: &str = "
    31          # version 3, type 1 ADVERTISEMENT
    01          # VRID 1
    64          # priority 100
    01          # 1 address
    0064        # reserved 0, max advert interval 100 cs
    05fe        # checksum
    c000020a    # 192.0.2.10
";

fn v4() -> Advertisement {
    Advertisement {
        vrid: 1,
        priority: 100,
        max_advert_interval: Centiseconds(100),
        addresses: VirtualAddresses::V4(vec![Ipv4Addr::new(192, 0, 2, 10)]),
    }
}

#[test]
fn ipv4_advert_encodes_with_the_pseudo_header_checksum() {
    assert_encodes(&v4(), &pseudo("192.0.2.1", "224.0.0.18"), V4);
}

#[test]
fn ipv4_advert_decodes() {
    assert_decodes(V4, &pseudo("192.0.2.1", "224.0.0.18"), Packet::V3(v4()));
}

/// The same router stopping: priority 0, so the sum drops by 0x6400 -> 9601, !9601 = 69fe.
const V4_RELEASE: &str = "31 01 00 01 0064 69fe c000020a";

fn v4_release() -> Advertisement {
    Advertisement {
        priority: 0,
        ..v4()
    }
}

#[test]
fn priority_zero_advert_encodes() {
    assert_encodes(
        &v4_release(),
        &pseudo("192.0.2.1", "224.0.0.18"),
        V4_RELEASE,
    );
}

#[test]
fn priority_zero_advert_decodes() {
    assert_decodes(
        V4_RELEASE,
        &pseudo("192.0.2.1", "224.0.0.18"),
        Packet::V3(v4_release()),
    );
}

// ------------------------------------------------------------ VRRPv3, IPv6 ---

/// fe80::1 -> ff02::12, the owner, 100 ms adverts, two addresses. Sum 89d1, !89d1 = 762e.
const V6: &str = "
    31 02 ff 02                         # v3 ADVERTISEMENT, VRID 2, priority 255, 2 addresses
    000a                                # max advert interval 10 cs
    762e                                # checksum (RFC 8200 pseudo-header, length 40)
    20010db8000000000000000000000010    # 2001:db8::10
    20010db8000000000000000000000011    # 2001:db8::11
";

fn v6() -> Advertisement {
    Advertisement {
        vrid: 2,
        priority: 255,
        max_advert_interval: Centiseconds(10),
        addresses: VirtualAddresses::V6(vec![
            "2001:db8::10".parse::<Ipv6Addr>().unwrap(),
            "2001:db8::11".parse::<Ipv6Addr>().unwrap(),
        ]),
    }
}

#[test]
fn ipv6_advert_encodes_with_the_pseudo_header_checksum() {
    assert_encodes(&v6(), &pseudo("fe80::1", "ff02::12"), V6);
}

#[test]
fn ipv6_advert_decodes() {
    assert_decodes(V6, &pseudo("fe80::1", "ff02::12"), Packet::V3(v6()));
}

#[test]
fn reserved_bits_are_ignored_on_reception() {
    // The high nibble of the interval field set: same advert, checksum adjusted
    // (sum + f000 -> ea02 after the fold, !ea02 = 15fd).
    assert_decodes(
        "31 01 64 01 f064 15fd c000020a",
        &pseudo("192.0.2.1", "224.0.0.18"),
        Packet::V3(v4()),
    );
}

// ------------------------------------------------------------------ VRRPv2 ---

/// RFC 3768: checksum over the message alone: 2103+c801+0001+0000+c000+0214 = ab1a,
/// !ab1a = 54e5.
const V2: &str = "
    21 03 c8 01     # version 2, type 1, VRID 3, priority 200, 1 address
    00 01           # auth type 0, advert interval 1 s
    54e5            # checksum
    c0000214        # 192.0.2.20
    0000000000000000  # authentication data
";

fn v2() -> AdvertisementV2 {
    AdvertisementV2 {
        vrid: 3,
        priority: 200,
        auth_type: 0,
        advert_interval_secs: 1,
        addresses: vec![Ipv4Addr::new(192, 0, 2, 20)],
        auth_data: [0; 8],
    }
}

#[test]
fn vrrpv2_advert_encodes_without_pseudo_header() {
    assert_eq!(hex_string(&v2().encode()), hex_string(&hex(V2)));
}

#[test]
fn vrrpv2_advert_decodes_whatever_the_ip_addresses() {
    for destination in ["224.0.0.18", "192.0.2.2"] {
        assert_decodes(V2, &pseudo("192.0.2.1", destination), Packet::V2(v2()));
    }
}
