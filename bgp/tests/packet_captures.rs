//! Messages captured from real peers (FRR 8.4 bgpd and gobgpd 3.10; see
//! tests/fixtures/README.md for how). Each is decoded and checked field by field, and
//! re-encoded: byte for byte where the sender's encoding is the canonical one ours is,
//! otherwise to bytes that decode to the same value.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

mod packet_support;

use std::net::Ipv4Addr;

use bgp::packet::iana::{cease_subcode, error_code};
use bgp::packet::*;
use packet_support::{FOUR, TWO, capture};

fn decode_all(name: &str, cx: &CodecContext) -> Vec<Message> {
    capture(name)
        .iter()
        .map(|bytes| {
            assert_eq!(
                frame_len(bytes, cx),
                Ok(Some(bytes.len())),
                "{name}: framing"
            );
            Message::decode(bytes, cx).unwrap_or_else(|e| panic!("{name}: {e}"))
        })
        .collect()
}

fn update(message: &Message) -> &UpdateMsg {
    match message {
        Message::Update(update) => update,
        other => panic!("expected UPDATE, got {other:?}"),
    }
}

fn open(message: &Message) -> &OpenMsg {
    match message {
        Message::Open(open) => open,
        other => panic!("expected OPEN, got {other:?}"),
    }
}

/// Every captured message re-encodes to bytes that decode to the same value.
fn assert_round_trips(name: &str, cx: &CodecContext) {
    for message in decode_all(name, cx) {
        let bytes = message.to_bytes(cx);
        assert_eq!(Message::decode(&bytes, cx).unwrap(), message, "{name}");
    }
}

fn net4(s: &str) -> ipnet::Ipv4Net {
    s.parse().unwrap()
}

fn net6(s: &str) -> ipnet::Ipv6Net {
    s.parse().unwrap()
}

const FRR_AS: u32 = 4_200_000_001;
const GOBGP_AS: u32 = 64500;

#[test]
fn frr_open_decodes_with_four_octet_as_and_keeps_unknown_capabilities() {
    let messages = decode_all("frr-v4.hex", &FOUR);
    let open = open(&messages[0]);
    assert_eq!(open.my_as, 23456, "AS_TRANS in the 2-octet field");
    assert_eq!(open.asn(), FRR_AS);
    assert_eq!(open.hold_time, 180);
    assert_eq!(open.bgp_id, Ipv4Addr::new(10, 255, 0, 1));
    assert_eq!(open.families().collect::<Vec<_>>(), [AfiSafi::IPV4_UNICAST]);
    assert!(open.has_route_refresh());
    assert!(open.has_extended_message(), "FRR 8.4 offers RFC 8654");
    let gr = open
        .graceful_restart()
        .expect("graceful restart capability");
    assert_eq!(
        (gr.restart_time, gr.notification, gr.families.len()),
        (120, true, 0)
    );
    let unknown: Vec<u8> = open
        .capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::Unknown { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    // old Cisco route refresh, enhanced route refresh, ADD-PATH, FQDN, long-lived
    // graceful restart
    assert_eq!(unknown, [128, 70, 69, 73, 71]);
    assert!(open.capabilities.contains(&Capability::Unknown {
        code: 73,
        value: b"\x06hc-frr\x00".to_vec()
    }));
}

#[test]
fn frr_open_v6_session_announces_ipv6_unicast() {
    let messages = decode_all("frr-v6.hex", &FOUR);
    assert_eq!(
        open(&messages[0]).families().collect::<Vec<_>>(),
        [AfiSafi::IPV6_UNICAST]
    );
}

#[test]
fn frr_update_carries_four_octet_path_communities_and_large_communities() {
    let messages = decode_all("frr-v4.hex", &FOUR);
    let relayed = update(&messages[1]);
    assert_eq!(relayed.nlri, [net4("10.9.0.1/32")]);
    let attrs = &relayed.attributes;
    assert_eq!(attrs.origin, Some(Origin::Igp));
    assert_eq!(attrs.as_path, Some(AsPath::sequence([FRR_AS, GOBGP_AS])));
    assert_eq!(attrs.next_hop, Some(Ipv4Addr::new(10, 255, 0, 1)));
    assert_eq!(attrs.med, None, "MED is not passed between eBGP peers");
    assert_eq!(attrs.communities, [Community::new(64500, 1)]);
    assert_eq!(
        attrs.large_communities,
        [LargeCommunity {
            global_admin: 64500,
            local_data1: 1,
            local_data2: 2
        }]
    );

    // The route gobgpd announced with a 4-octet AS in its path, as FRR passes it on.
    let long_path = update(&messages[2]);
    assert_eq!(long_path.nlri, [net4("10.9.0.3/32")]);
    assert_eq!(long_path.attributes.origin, Some(Origin::Incomplete));
    assert_eq!(
        long_path.attributes.as_path,
        Some(AsPath::sequence([FRR_AS, GOBGP_AS, 4_200_000_099, 65001]))
    );

    let own = update(&messages[5]);
    assert_eq!(own.nlri, [net4("10.8.0.1/32")]);
    assert_eq!(own.attributes.med, Some(50));
    assert_eq!(
        own.attributes.communities,
        [Community::new(4200, 1), Community::new(65535, 666)]
    );
    assert_eq!(
        own.attributes.large_communities,
        [LargeCommunity {
            global_admin: FRR_AS,
            local_data1: 7,
            local_data2: 8
        }]
    );
}

#[test]
fn frr_route_refresh_and_withdrawal_decode() {
    let messages = decode_all("frr-v4.hex", &FOUR);
    assert_eq!(
        messages[3],
        Message::RouteRefresh(RouteRefreshMsg {
            family: AfiSafi::IPV4_UNICAST,
            subtype: 0
        })
    );
    let withdrawal = update(&messages[4]);
    assert_eq!(withdrawal.withdrawn, [net4("10.9.0.3/32")]);
    assert_eq!(withdrawal.prefix_counts(), (0, 1));
    // ROUTE-REFRESH and the withdrawal are canonical: same bytes back.
    let captured = capture("frr-v4.hex");
    for i in [3, 4] {
        assert_eq!(messages[i].to_bytes(&FOUR).to_vec(), captured[i]);
    }
}

#[test]
fn frr_ipv6_update_has_global_and_link_local_next_hop() {
    let messages = decode_all("frr-v6.hex", &FOUR);
    let relayed = update(&messages[1]);
    let reach = relayed.attributes.mp_reach.as_ref().expect("MP_REACH_NLRI");
    assert_eq!(reach.family, AfiSafi::IPV6_UNICAST);
    assert_eq!(
        reach.next_hop.global,
        "fd00:255::1".parse::<std::net::Ipv6Addr>().unwrap()
    );
    let link_local = reach.next_hop.link_local.expect("32-octet next hop");
    assert_eq!(link_local.segments()[0], 0xfe80);
    assert_eq!(reach.nlri, [net6("fd00:9::1/128")]);
    assert_eq!(
        relayed.attributes.as_path,
        Some(AsPath::sequence([FRR_AS, GOBGP_AS]))
    );
    assert_eq!(relayed.prefix_counts(), (1, 0));
    assert_eq!(
        update(&messages[2])
            .attributes
            .mp_reach
            .as_ref()
            .unwrap()
            .nlri,
        [net6("fd00:8::1/128")]
    );
}

#[test]
fn frr_shutdown_notification_carries_its_message() {
    let messages = decode_all("frr-v6.hex", &FOUR);
    let Message::Notification(notification) = &messages[3] else {
        panic!("{:?}", messages[3])
    };
    assert_eq!(
        (notification.code, notification.subcode),
        (error_code::CEASE, cease_subcode::ADMINISTRATIVE_SHUTDOWN)
    );
    assert_eq!(notification.shutdown_communication(), Some("maintenance"));
    assert_eq!(
        notification.to_string(),
        "Cease/Administrative Shutdown: \"maintenance\""
    );
    assert_eq!(
        messages[3].to_bytes(&FOUR).to_vec(),
        capture("frr-v6.hex")[3]
    );
}

#[test]
fn frr_messages_round_trip() {
    assert_round_trips("frr-v4.hex", &FOUR);
    assert_round_trips("frr-v6.hex", &FOUR);
}

#[test]
fn gobgp_open_re_encodes_byte_for_byte() {
    let captured = capture("gobgp-v4.hex");
    let messages = decode_all("gobgp-v4.hex", &FOUR);
    let open = open(&messages[0]);
    assert_eq!(
        (open.my_as, open.hold_time, open.asn()),
        (64500, 90, GOBGP_AS)
    );
    assert_eq!(open.bgp_id, Ipv4Addr::new(10, 255, 0, 2));
    assert_eq!(open.families().collect::<Vec<_>>(), [AfiSafi::IPV4_UNICAST]);
    // extended next hop (RFC 8950) is kept raw: IPv4 unicast over IPv6 next hops
    assert!(open.capabilities.contains(&Capability::Unknown {
        code: 5,
        value: vec![0, 1, 0, 1, 0, 2]
    }));
    assert_eq!(messages[0].to_bytes(&FOUR).to_vec(), captured[0]);
}

#[test]
fn gobgp_update_decodes_and_re_encodes_byte_for_byte() {
    let captured = capture("gobgp-v4.hex");
    let messages = decode_all("gobgp-v4.hex", &FOUR);
    let announced = update(&messages[1]);
    assert_eq!(announced.nlri, [net4("10.9.0.1/32")]);
    let attrs = &announced.attributes;
    assert_eq!(attrs.origin, Some(Origin::Igp));
    assert_eq!(attrs.as_path, Some(AsPath::sequence([GOBGP_AS])));
    assert_eq!(attrs.next_hop, Some(Ipv4Addr::new(10, 255, 0, 2)));
    assert_eq!(attrs.med, Some(10));
    assert_eq!(attrs.communities, [Community::new(64500, 1)]);
    assert_eq!(
        attrs.large_communities,
        [LargeCommunity {
            global_admin: 64500,
            local_data1: 1,
            local_data2: 2
        }]
    );
    assert_eq!(messages[1].to_bytes(&FOUR).to_vec(), captured[1]);

    let long_path = update(&messages[2]);
    assert_eq!(
        long_path.attributes.as_path,
        Some(AsPath::sequence([GOBGP_AS, 4_200_000_099, 65001]))
    );
    assert_eq!(long_path.attributes.communities, [Community::new(64500, 3)]);

    assert_eq!(update(&messages[3]).withdrawn, [net4("10.9.0.3/32")]);
    assert_eq!(messages[3].to_bytes(&FOUR).to_vec(), captured[3]);
}

#[test]
fn gobgp_shutdown_notification_carries_its_reason() {
    let messages = decode_all("gobgp-v4.hex", &FOUR);
    let Some(Message::Notification(notification)) = messages.last() else {
        panic!()
    };
    assert_eq!(notification.shutdown_communication(), Some("capture done"));
}

#[test]
fn gobgp_ipv6_update_has_a_global_next_hop_only() {
    let messages = decode_all("gobgp-v6.hex", &FOUR);
    assert_eq!(
        open(&messages[0]).families().collect::<Vec<_>>(),
        [AfiSafi::IPV6_UNICAST]
    );
    let announced = update(&messages[1]);
    let reach = announced
        .attributes
        .mp_reach
        .as_ref()
        .expect("MP_REACH_NLRI");
    assert_eq!(
        reach.next_hop,
        MpNextHop {
            global: "fd00:255::2".parse().unwrap(),
            link_local: None
        }
    );
    assert_eq!(reach.nlri, [net6("fd00:9::1/128")]);
    assert_eq!(announced.attributes.communities, [Community::new(64500, 6)]);
    assert_eq!(announced.attributes.large_communities.len(), 1);
    assert!(announced.nlri.is_empty() && announced.attributes.next_hop.is_none());
}

#[test]
fn gobgp_messages_round_trip() {
    assert_round_trips("gobgp-v4.hex", &FOUR);
    assert_round_trips("gobgp-v6.hex", &FOUR);
}

#[test]
fn gobgp_to_a_two_octet_session_sends_as4_path_which_merges_back() {
    // FRR sent no capabilities on this session, so gobgpd treats it as OLD (RFC 6793).
    let captured = capture("gobgp-as2.hex");
    let messages = decode_all("gobgp-as2.hex", &TWO);
    let long_path = update(&messages[2]);
    assert_eq!(
        long_path.attributes.as_path,
        Some(AsPath::sequence([GOBGP_AS, 4_200_000_099, 65001]))
    );
    // Without the merge the path is the AS_TRANS one gobgpd put in AS_PATH.
    let raw = Message::decode(&captured[2], &FOUR);
    assert!(
        raw.is_err() || raw.unwrap() != messages[2],
        "a 4-octet reading must differ"
    );
    // Two-octet encoding of the plain path is canonical.
    assert_eq!(
        update(&messages[1]).attributes.as_path,
        Some(AsPath::sequence([GOBGP_AS]))
    );
    assert_eq!(messages[1].to_bytes(&TWO).to_vec(), captured[1]);
    assert_round_trips("gobgp-as2.hex", &TWO);
}

#[test]
fn frr_without_capabilities_opens_with_no_optional_parameters() {
    let messages = decode_all("frr-as2.hex", &TWO);
    let open = open(&messages[0]);
    assert!(open.capabilities.is_empty());
    assert_eq!(
        open.asn(),
        23456,
        "no 4-octet AS capability: only AS_TRANS is known"
    );
    assert_eq!(
        messages[0].to_bytes(&TWO).to_vec(),
        capture("frr-as2.hex")[0]
    );
}

#[test]
fn frr_four_octet_path_on_a_two_octet_session_is_malformed_and_treated_as_withdraw() {
    // FRR 8.4 with "dont-capability-negotiate" still encodes AS_PATH with 4-octet AS
    // numbers when the peer offered the capability. Read as 2-octet (as RFC 6793 says
    // for this session) the path is malformed: RFC 7606 treat-as-withdraw.
    let captured = capture("frr-as2.hex");
    let (message, errors) = Message::decode_with_errors(&captured[1], &TWO).unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].problem, AttributeProblem::MalformedAsPath);
    assert_eq!(errors[0].action, ErrorAction::TreatAsWithdraw);
    let update = update(&message);
    assert!(update.nlri.is_empty());
    assert_eq!(update.withdrawn, [net4("10.9.0.1/32")]);
    assert_eq!(update.attributes, PathAttributes::default());
}
