//! Adverts captured from keepalived 2.2.7 (see fixtures/README.md): each decodes to
//! what its comment says, and re-encoding the decoded value gives back the very same
//! bytes, checksum included. This pins our IPv4 pseudo-header checksum to keepalived's.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

mod packet_support;

use std::net::{Ipv4Addr, Ipv6Addr};

use packet_support::{Captured, captures, hex_string};
use vrrp::Centiseconds;
use vrrp::packet::{Advertisement, Packet, PseudoHeader, VirtualAddresses, decode};

fn v3(captured: &Captured) -> Advertisement {
    match decode(&captured.payload, &captured.header, captured.hop_limit) {
        Ok(Packet::V3(advert)) => advert,
        other => panic!("{}: {other:?}", captured.comment),
    }
}

/// The priority the fixture's comment names.
fn commented_priority(captured: &Captured) -> u8 {
    let after = captured.comment.split("priority ").nth(1).unwrap();
    after.split(',').next().unwrap().parse().unwrap()
}

fn assert_reencodes(captured: &Captured, advert: &Advertisement) {
    assert_eq!(
        hex_string(&advert.encode(&captured.header).unwrap()),
        hex_string(&captured.payload),
        "{}",
        captured.comment
    );
}

#[test]
fn keepalived_ipv4_multicast_adverts_decode_and_reencode_byte_for_byte() {
    let adverts = captures("keepalived-v3-ipv4.hex");
    let multicast: Vec<_> = adverts
        .iter()
        .filter(|c| matches!(c.header, PseudoHeader::V4 { destination, .. } if destination.is_multicast()))
        .collect();
    assert_eq!(multicast.len(), 4);
    for captured in multicast {
        let advert = v3(captured);
        assert_eq!(advert.vrid, 51);
        assert_eq!(advert.priority, commented_priority(captured));
        assert_eq!(advert.max_advert_interval, Centiseconds(100));
        assert_eq!(
            advert.addresses,
            VirtualAddresses::V4(vec![
                Ipv4Addr::new(10, 254, 0, 100),
                Ipv4Addr::new(10, 254, 0, 101)
            ])
        );
        assert_reencodes(captured, &advert);
    }
}

#[test]
fn keepalived_ipv4_unicast_adverts_sum_the_unicast_destination() {
    let adverts = captures("keepalived-v3-ipv4.hex");
    let unicast: Vec<_> = adverts
        .iter()
        .filter(|c| matches!(c.header, PseudoHeader::V4 { destination, .. } if !destination.is_multicast()))
        .collect();
    assert_eq!(unicast.len(), 4);
    for captured in unicast {
        let advert = v3(captured);
        assert_eq!(advert.vrid, 53);
        assert_eq!(advert.max_advert_interval, Centiseconds(50));
        assert_reencodes(captured, &advert);
        // The same bytes do not verify against the multicast group.
        let PseudoHeader::V4 { source, .. } = captured.header else {
            unreachable!()
        };
        let error =
            decode(&captured.payload, &PseudoHeader::v4_multicast(source), 255).unwrap_err();
        assert_eq!(error.label(), "checksum");
    }
}

#[test]
fn keepalived_ipv6_adverts_decode_and_reencode_byte_for_byte() {
    let adverts = captures("keepalived-v3-ipv6.hex");
    assert_eq!(adverts.len(), 4);
    for captured in &adverts {
        let advert = v3(captured);
        assert_eq!(advert.vrid, 52);
        assert_eq!(advert.priority, commented_priority(captured));
        // advert_int 0.1 in keepalived.conf: 10 centiseconds on the wire.
        assert_eq!(advert.max_advert_interval, Centiseconds(10));
        assert_eq!(
            advert.addresses,
            VirtualAddresses::V6(vec!["fd00:254::100".parse::<Ipv6Addr>().unwrap()])
        );
        assert!(
            matches!(captured.header, PseudoHeader::V6 { source, .. } if source.is_unicast_link_local())
        );
        assert_reencodes(captured, &advert);
    }
}

#[test]
fn keepalived_stopping_sends_priority_zero() {
    let zeros = ["keepalived-v3-ipv4.hex", "keepalived-v3-ipv6.hex"]
        .iter()
        .flat_map(|name| captures(name))
        .filter(|c| v3(c).priority == 0)
        .count();
    // Both nodes stopped, each sent priority 0 for the three VRRPv3 instances.
    assert_eq!(zeros, 6);
}

#[test]
fn keepalived_vrrpv2_adverts_decode_for_the_logs() {
    let adverts = captures("keepalived-v2-ipv4.hex");
    assert_eq!(adverts.len(), 4);
    for captured in &adverts {
        let Ok(Packet::V2(advert)) = decode(&captured.payload, &captured.header, 255) else {
            panic!("{}", captured.comment);
        };
        assert_eq!(advert.vrid, 54);
        assert_eq!(advert.priority, commented_priority(captured));
        assert_eq!((advert.auth_type, advert.advert_interval_secs), (0, 1));
        assert_eq!(advert.addresses, vec![Ipv4Addr::new(10, 254, 0, 104)]);
        assert_eq!(advert.auth_data, [0; 8]);
        assert_eq!(hex_string(&advert.encode()), hex_string(&captured.payload));
    }
}
