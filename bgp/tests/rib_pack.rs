//! UPDATE packing: every message fits the session's limit (4096 octets, 65535 with
//! extended messages), the number of messages is the fewest possible, and decoding the
//! messages gives back every prefix.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

mod packet_support;

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp::packet::*;
use bgp::rib::{pack_announce_v4, pack_announce_v6, pack_withdraw_v4, pack_withdraw_v6};
use ipnet::{Ipv4Net, Ipv6Net};
use packet_support::{EXTENDED, FOUR, TWO};

fn host_routes_v4(count: u32) -> Vec<Ipv4Net> {
    (0..count)
        .map(|i| Ipv4Net::new(Ipv4Addr::from(0x0A00_0000 + i), 32).unwrap())
        .collect()
}

fn host_routes_v6(count: u32) -> Vec<Ipv6Net> {
    (0..count)
        .map(|i| Ipv6Net::new(Ipv6Addr::from(0xfd00_0099_u128 << 96 | u128::from(i)), 128).unwrap())
        .collect()
}

fn attributes(asn: u32) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence([asn])),
        next_hop: Some(Ipv4Addr::new(172, 30, 0, 11)),
        med: Some(0),
        communities: vec![Community::new(64500, 1), Community::NO_EXPORT],
        large_communities: vec![LargeCommunity {
            global_admin: 64500,
            local_data1: 1,
            local_data2: 2,
        }],
        ..PathAttributes::default()
    }
}

fn encoded_len(update: &UpdateMsg, cx: &CodecContext) -> usize {
    Message::Update(update.clone()).to_bytes(cx).len()
}

/// Checks the packing of `messages`, which should hold `expected_total` prefixes of
/// `prefix_len` octets each on the wire, against the size of one message with no
/// prefixes (`empty`): each fits, each but the last is full, and there are as few as
/// possible.
fn assert_packed(
    messages: &[UpdateMsg],
    cx: &CodecContext,
    empty: usize,
    prefix_len: usize,
    total: usize,
) {
    let limit = cx.max_message_len();
    let per_message = (limit - empty) / prefix_len;
    assert_eq!(
        messages.len(),
        total.div_ceil(per_message),
        "fewest messages"
    );
    for (i, update) in messages.iter().enumerate() {
        let len = encoded_len(update, cx);
        assert!(len <= limit, "message {i} is {len} octets");
        if i + 1 < messages.len() {
            assert!(
                len + prefix_len > limit,
                "message {i} ({len} octets) has room for one more"
            );
        }
    }
}

fn decode_all(messages: &[UpdateMsg], cx: &CodecContext) -> Vec<UpdateMsg> {
    let mut stream = bytes::BytesMut::new();
    for update in messages {
        Message::Update(update.clone()).encode(cx, &mut stream);
    }
    let mut decoded = Vec::new();
    let mut rest = &stream[..];
    while let Some(len) = frame_len(rest, cx).unwrap() {
        let Message::Update(update) = Message::decode(&rest[..len], cx).unwrap() else {
            panic!()
        };
        decoded.push(update);
        rest = &rest[len..];
    }
    assert!(rest.is_empty());
    decoded
}

fn announce_v4_packs_minimally_and_decodes_back(count: u32, cx: &CodecContext, asn: u32) -> usize {
    let attrs = attributes(asn);
    let prefixes = host_routes_v4(count);
    let messages = pack_announce_v4(&attrs, &prefixes, cx);
    let empty = encoded_len(
        &UpdateMsg {
            attributes: attrs.clone(),
            ..UpdateMsg::default()
        },
        cx,
    );
    assert_packed(&messages, cx, empty, 5, prefixes.len());
    let decoded = decode_all(&messages, cx);
    assert!(
        decoded
            .iter()
            .all(|u| u.attributes == attrs && u.withdrawn.is_empty())
    );
    let back: Vec<Ipv4Net> = decoded.into_iter().flat_map(|u| u.nlri).collect();
    assert_eq!(back, prefixes);
    messages.len()
}

#[test]
fn announce_of_500_ipv4_host_routes_packs_minimally_and_decodes_back() {
    announce_v4_packs_minimally_and_decodes_back(500, &FOUR, 64500);
}

#[test]
fn announce_of_100k_ipv4_host_routes_packs_minimally_and_decodes_back() {
    announce_v4_packs_minimally_and_decodes_back(100_000, &FOUR, 64500);
}

#[test]
fn announce_to_two_octet_peer_budgets_for_as4_path() {
    announce_v4_packs_minimally_and_decodes_back(2_000, &TWO, 4_200_000_001);
}

fn announce_v6_packs_minimally_and_decodes_back(
    count: u32,
    next_hop: MpNextHop,
    cx: &CodecContext,
) -> usize {
    let attrs = attributes(64500);
    let prefixes = host_routes_v6(count);
    let messages = pack_announce_v6(&attrs, next_hop, &prefixes, cx);
    // The empty MP_REACH_NLRI takes a 1-octet length; full ones need the 2-octet form.
    let without_nlri = UpdateMsg {
        attributes: PathAttributes {
            next_hop: None,
            mp_reach: Some(MpReach {
                family: AfiSafi::IPV6_UNICAST,
                next_hop,
                nlri: vec![],
            }),
            ..attrs.clone()
        },
        ..UpdateMsg::default()
    };
    let empty = encoded_len(&without_nlri, cx) + 1;
    assert_packed(&messages, cx, empty, 17, prefixes.len());
    let decoded = decode_all(&messages, cx);
    let mut back = Vec::new();
    for update in decoded {
        assert!(update.nlri.is_empty() && update.attributes.next_hop.is_none());
        let reach = update.attributes.mp_reach.expect("MP_REACH_NLRI");
        assert_eq!(reach.next_hop, next_hop);
        back.extend(reach.nlri);
    }
    assert_eq!(back, prefixes);
    messages.len()
}

#[test]
fn announce_of_500_ipv6_host_routes_packs_minimally_and_decodes_back() {
    let next_hop = MpNextHop {
        global: "fd00:30::11".parse().unwrap(),
        link_local: None,
    };
    announce_v6_packs_minimally_and_decodes_back(500, next_hop, &FOUR);
}

#[test]
fn announce_of_100k_ipv6_host_routes_with_link_local_next_hop_packs_minimally() {
    let next_hop = MpNextHop {
        global: "fd00:30::11".parse().unwrap(),
        link_local: Some("fe80::11".parse().unwrap()),
    };
    announce_v6_packs_minimally_and_decodes_back(100_000, next_hop, &FOUR);
}

#[test]
fn announce_with_extended_messages_fills_65535_octet_updates() {
    let fixed = announce_v4_packs_minimally_and_decodes_back(100_000, &FOUR, 64500);
    let extended = announce_v4_packs_minimally_and_decodes_back(100_000, &EXTENDED, 64500);
    // 5 octets per /32: about 13,000 per message instead of about 800.
    assert_eq!((fixed, extended), (125, 8));
    let next_hop = MpNextHop {
        global: "fd00:30::11".parse().unwrap(),
        link_local: Some("fe80::11".parse().unwrap()),
    };
    let v6 = announce_v6_packs_minimally_and_decodes_back(100_000, next_hop, &EXTENDED);
    assert_eq!(v6, 26, "17 octets per /128 in 65535-octet messages");
}

#[test]
fn withdraw_with_extended_messages_fills_65535_octet_updates() {
    let prefixes = host_routes_v4(100_000);
    let messages = pack_withdraw_v4(&prefixes, &EXTENDED);
    assert_packed(&messages, &EXTENDED, 23, 5, prefixes.len());
    assert_eq!(messages.len(), 8);
    let prefixes = host_routes_v6(100_000);
    let messages = pack_withdraw_v6(&prefixes, &EXTENDED);
    assert_packed(&messages, &EXTENDED, 19 + 4 + 4 + 3, 17, prefixes.len());
    let back: Vec<Ipv6Net> = decode_all(&messages, &EXTENDED)
        .into_iter()
        .flat_map(|u| u.attributes.mp_unreach.expect("MP_UNREACH_NLRI").withdrawn)
        .collect();
    assert_eq!(back, prefixes);
}

#[test]
fn withdraw_of_100k_ipv4_host_routes_packs_minimally_and_decodes_back() {
    let prefixes = host_routes_v4(100_000);
    let messages = pack_withdraw_v4(&prefixes, &FOUR);
    assert_packed(&messages, &FOUR, 23, 5, prefixes.len());
    let back: Vec<Ipv4Net> = decode_all(&messages, &FOUR)
        .into_iter()
        .flat_map(|u| u.withdrawn)
        .collect();
    assert_eq!(back, prefixes);
}

#[test]
fn withdraw_of_100k_ipv6_host_routes_packs_minimally_and_decodes_back() {
    let prefixes = host_routes_v6(100_000);
    let messages = pack_withdraw_v6(&prefixes, &FOUR);
    // header, two length fields, MP_UNREACH_NLRI with a 2-octet length, AFI, SAFI
    assert_packed(&messages, &FOUR, 19 + 4 + 4 + 3, 17, prefixes.len());
    let back: Vec<Ipv6Net> = decode_all(&messages, &FOUR)
        .into_iter()
        .flat_map(|u| u.attributes.mp_unreach.expect("MP_UNREACH_NLRI").withdrawn)
        .collect();
    assert_eq!(back, prefixes);
}

#[test]
fn mixed_prefix_lengths_fill_each_message() {
    let prefixes: Vec<Ipv4Net> = (0..3000u32)
        .map(|i| {
            Ipv4Net::new(Ipv4Addr::from(0x0A00_0000 + (i << 8)), 8 + (i % 25) as u8)
                .unwrap()
                .trunc()
        })
        .collect();
    let messages = pack_withdraw_v4(&prefixes, &FOUR);
    for update in &messages {
        assert!(encoded_len(update, &FOUR) <= MAX_MESSAGE_LEN);
    }
    let back: Vec<Ipv4Net> = decode_all(&messages, &FOUR)
        .into_iter()
        .flat_map(|u| u.withdrawn)
        .collect();
    assert_eq!(back, prefixes);
}

#[test]
fn nothing_to_pack_makes_no_messages() {
    assert!(pack_announce_v4(&attributes(64500), &[], &FOUR).is_empty());
    assert!(pack_withdraw_v6(&[], &FOUR).is_empty());
}

#[test]
fn packed_update_counts_its_prefixes() {
    let messages = pack_announce_v4(&attributes(64500), &host_routes_v4(10), &FOUR);
    assert_eq!(messages[0].prefix_counts(), (10, 0));
    let messages = pack_withdraw_v6(&host_routes_v6(7), &FOUR);
    assert_eq!(messages[0].prefix_counts(), (0, 7));
}
