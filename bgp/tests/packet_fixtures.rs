//! Hand-built byte vectors for every message type, each checked both ways: the value
//! encodes to exactly these bytes, and these bytes decode to exactly this value.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

mod packet_support;

use std::net::Ipv4Addr;

use bgp::packet::iana::{cease_subcode, error_code};
use bgp::packet::*;
use packet_support::{FOUR, TWO, hex, hex_string};

fn net4(s: &str) -> ipnet::Ipv4Net {
    s.parse().unwrap()
}

fn net6(s: &str) -> ipnet::Ipv6Net {
    s.parse().unwrap()
}

fn assert_encodes(message: &Message, cx: &CodecContext, expected: &str) {
    assert_eq!(
        hex_string(&message.to_bytes(cx)),
        hex_string(&hex(expected))
    );
}

fn assert_decodes(bytes: &str, cx: &CodecContext, expected: &Message) {
    let decoded = Message::decode(&hex(bytes), cx).expect("decodes");
    assert_eq!(&decoded, expected);
}

// ---------------------------------------------------------------- OPEN ---

const OPEN: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    0043                              # length 67
    01                                # type OPEN
    04                                # version 4
    fbf4                              # my AS 64500
    005a                              # hold time 90
    0a000001                          # BGP identifier 10.0.0.1
    26                                # optional parameters length 38
    02 24                             # parameter: capabilities, 36 octets
      01 04 0001 00 01                #   multiprotocol IPv4 unicast
      01 04 0002 00 01                #   multiprotocol IPv6 unicast
      02 00                           #   route refresh
      06 00                           #   extended message (RFC 8654)
      40 06 4078 0001 01 80           #   graceful restart: N bit, 120 s; IPv4 unicast, F bit
      41 04 0000fbf4                  #   4-octet AS 64500
      49 04 02 6863 00                #   unknown code 73 (hostname 'hc'), kept raw
";

fn open() -> Message {
    Message::Open(OpenMsg {
        version: 4,
        my_as: 64500,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(10, 0, 0, 1),
        capabilities: vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::ExtendedMessage,
            Capability::GracefulRestart(GracefulRestart {
                restarting: false,
                notification: true,
                restart_time: 120,
                families: vec![(AfiSafi::IPV4_UNICAST, true)],
            }),
            Capability::FourOctetAs(64500),
            Capability::Unknown {
                code: 73,
                value: vec![0x02, b'h', b'c', 0x00],
            },
        ],
    })
}

#[test]
fn open_with_capabilities_encodes() {
    assert_encodes(&open(), &FOUR, OPEN);
}

#[test]
fn open_with_capabilities_decodes() {
    assert_decodes(OPEN, &FOUR, &open());
}

#[test]
fn open_accessors_read_the_capabilities() {
    let Message::Open(open) = open() else {
        unreachable!()
    };
    assert_eq!(open.asn(), 64500);
    assert_eq!(open.four_octet_as(), Some(64500));
    assert_eq!(
        open.families().collect::<Vec<_>>(),
        [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]
    );
    assert!(open.has_route_refresh());
    assert!(open.has_extended_message());
    assert_eq!(open.graceful_restart().map(|gr| gr.restart_time), Some(120));
}

const OPEN_EXTENDED_PARAMETERS: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    0029                              # length 41
    01                                # type OPEN
    04 5ba0 00b4 0a000002             # version 4, my AS 23456 (AS_TRANS), hold 180, id 10.0.0.2
    ff                                # non-extended length 255 ...
    ff                                # ... and type 255: RFC 9072 extended encoding
    0009                              # extended optional parameters length 9
    02 0006                           # parameter: capabilities, 2-octet length 6
      41 04 fa56ea01                  #   4-octet AS 4200000001
";

#[test]
fn open_with_rfc9072_extended_parameters_decodes() {
    let expected = Message::Open(OpenMsg {
        version: 4,
        my_as: 23456,
        hold_time: 180,
        bgp_id: Ipv4Addr::new(10, 0, 0, 2),
        capabilities: vec![Capability::FourOctetAs(4_200_000_001)],
    });
    assert_decodes(OPEN_EXTENDED_PARAMETERS, &FOUR, &expected);
    let Message::Open(open) = expected else {
        unreachable!()
    };
    assert_eq!(open.asn(), 4_200_000_001);
}

#[test]
fn open_with_capabilities_over_255_octets_encodes_rfc9072_extended() {
    let caps: Vec<Capability> = (0..3)
        .map(|i| Capability::Unknown {
            code: 200 + i,
            value: vec![i; 100],
        })
        .collect();
    let open = OpenMsg::new(65000, 90, Ipv4Addr::new(10, 0, 0, 1), caps);
    let message = Message::Open(open);
    let bytes = message.to_bytes(&FOUR);
    // 3 x 102 + 6 (4-octet AS) = 312 octets of capabilities
    assert_eq!(&bytes[28..30], &[0xff, 0xff], "extended marker");
    assert_eq!(
        &bytes[30..32],
        &(312u16 + 3).to_be_bytes(),
        "extended parameters length"
    );
    assert_eq!(
        &bytes[32..35],
        &[2, 0x01, 0x38],
        "capabilities parameter, 2-octet length 312"
    );
    assert_eq!(bytes.len(), 29 + 3 + 3 + 312);
    assert_eq!(Message::decode(&bytes, &FOUR).unwrap(), message);
}

#[test]
fn communities_display_as_colon_separated_numbers() {
    assert_eq!(Community::new(64500, 1).to_string(), "64500:1");
    assert_eq!(Community::NO_EXPORT.to_string(), "65535:65281");
    let large = LargeCommunity {
        global_admin: 4_200_000_001,
        local_data1: 7,
        local_data2: 8,
    };
    assert_eq!(large.to_string(), "4200000001:7:8");
}

#[test]
fn open_new_uses_as_trans_for_four_octet_as() {
    let open = OpenMsg::new(4_200_000_001, 90, Ipv4Addr::new(10, 0, 0, 1), vec![]);
    assert_eq!(open.my_as, 23456);
    assert_eq!(open.capabilities, [Capability::FourOctetAs(4_200_000_001)]);
}

// -------------------------------------------------------------- UPDATE ---

const UPDATE_V4: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    0070                              # length 112
    02                                # type UPDATE
    0003                              # withdrawn routes length 3
      10 0a01                         #   10.1.0.0/16
    004e                              # total path attribute length 78
      40 01 01 00                     #   ORIGIN IGP
      40 02 0a 02 02 0000fbf4 fa56ea01 #  AS_PATH: AS_SEQUENCE 64500 4200000001
      40 03 04 c0000201               #   NEXT_HOP 192.0.2.1
      80 04 04 0000000a               #   MULTI_EXIT_DISC 10
      40 05 04 00000064               #   LOCAL_PREF 100
      40 06 00                        #   ATOMIC_AGGREGATE
      c0 07 08 fa56ea01 c0000209      #   AGGREGATOR 4200000001 192.0.2.9
      c0 08 08 fbf40001 ffffff01      #   COMMUNITIES 64500:1 NO_EXPORT
      c0 20 0c 0000fbf4 00000001 00000002 # LARGE_COMMUNITIES 64500:1:2
    20 0a090001                       # NLRI 10.9.0.1/32
    09 0a80                           # NLRI 10.128.0.0/9
";

fn update_v4() -> Message {
    Message::Update(UpdateMsg {
        withdrawn: vec![net4("10.1.0.0/16")],
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence([64500, 4_200_000_001])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            med: Some(10),
            local_pref: Some(100),
            atomic_aggregate: true,
            aggregator: Some(Aggregator {
                asn: 4_200_000_001,
                address: Ipv4Addr::new(192, 0, 2, 9),
            }),
            communities: vec![Community::new(64500, 1), Community::NO_EXPORT],
            large_communities: vec![LargeCommunity {
                global_admin: 64500,
                local_data1: 1,
                local_data2: 2,
            }],
            ..PathAttributes::default()
        },
        nlri: vec![net4("10.9.0.1/32"), net4("10.128.0.0/9")],
    })
}

#[test]
fn update_with_every_ipv4_attribute_encodes() {
    assert_encodes(&update_v4(), &FOUR, UPDATE_V4);
}

#[test]
fn update_with_every_ipv4_attribute_decodes() {
    assert_decodes(UPDATE_V4, &FOUR, &update_v4());
}

const UPDATE_TWO_OCTET: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    0051                              # length 81
    02                                # type UPDATE
    0000                              # no withdrawn routes
    0035                              # total path attribute length 53
      40 01 01 00                     #   ORIGIN IGP
      40 02 06 02 02 fbf4 5ba0        #   AS_PATH (2-octet): 64500 AS_TRANS
      40 03 04 c0000201               #   NEXT_HOP 192.0.2.1
      c0 07 06 5ba0 c0000209          #   AGGREGATOR (2-octet): AS_TRANS 192.0.2.9
      c0 11 0a 02 02 0000fbf4 fa56ea01 #  AS4_PATH: 64500 4200000001
      c0 12 08 fa56ea01 c0000209      #   AS4_AGGREGATOR 4200000001 192.0.2.9
    20 0a090001                       # NLRI 10.9.0.1/32
";

fn update_for_old_speaker() -> Message {
    Message::Update(UpdateMsg {
        withdrawn: vec![],
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence([64500, 4_200_000_001])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            aggregator: Some(Aggregator {
                asn: 4_200_000_001,
                address: Ipv4Addr::new(192, 0, 2, 9),
            }),
            ..PathAttributes::default()
        },
        nlri: vec![net4("10.9.0.1/32")],
    })
}

#[test]
fn update_to_two_octet_peer_encodes_as_trans_with_as4_path_and_as4_aggregator() {
    assert_encodes(&update_for_old_speaker(), &TWO, UPDATE_TWO_OCTET);
}

#[test]
fn update_from_two_octet_peer_decodes_to_the_four_octet_path() {
    assert_decodes(UPDATE_TWO_OCTET, &TWO, &update_for_old_speaker());
}

const UPDATE_V6: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    0069                              # length 105
    02                                # type UPDATE
    0000                              # no withdrawn routes
    0052                              # total path attribute length 82
      80 0e 3b                        #   MP_REACH_NLRI, 59 octets
        0002 01                       #     AFI IPv6, SAFI unicast
        20                            #     next hop length 32: global + link-local
        fd000255000000000000000000000001 # global fd00:255::1
        fe800000000000000000000000000001 # link-local fe80::1
        00                            #     reserved
        80 fd000009000000000000000000000001 # fd00:9::1/128
        20 20010db8                   #     2001:db8::/32
      40 01 01 00                     #   ORIGIN IGP
      40 02 06 02 01 0000fbf4         #   AS_PATH 64500
      c0 08 04 fbf40006               #   COMMUNITIES 64500:6
";

fn update_v6() -> Message {
    Message::Update(UpdateMsg {
        withdrawn: vec![],
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence([64500])),
            communities: vec![Community::new(64500, 6)],
            mp_reach: Some(MpReach {
                family: AfiSafi::IPV6_UNICAST,
                next_hop: MpNextHop {
                    global: "fd00:255::1".parse().unwrap(),
                    link_local: Some("fe80::1".parse().unwrap()),
                },
                nlri: vec![net6("fd00:9::1/128"), net6("2001:db8::/32")],
            }),
            ..PathAttributes::default()
        },
        nlri: vec![],
    })
}

#[test]
fn update_with_mp_reach_and_link_local_next_hop_encodes() {
    assert_encodes(&update_v6(), &FOUR, UPDATE_V6);
}

#[test]
fn update_with_mp_reach_and_link_local_next_hop_decodes() {
    assert_decodes(UPDATE_V6, &FOUR, &update_v6());
}

#[test]
fn mp_reach_with_global_next_hop_only_decodes() {
    let bytes = "
        ffffffffffffffffffffffffffffffff 0047 02 # header, length 71
        0000 0030                     # no withdrawn, attributes 48
        80 0e 26 0002 01 10           # MP_REACH_NLRI 38 octets, IPv6 unicast, next hop 16
          20010db8000000000000000000000001 # 2001:db8::1
          00 80 fd000009000000000000000000000001 # reserved, fd00:9::1/128
        40 01 01 00                   # ORIGIN IGP
        40 02 00                      # AS_PATH empty (iBGP)
    ";
    let Message::Update(update) = Message::decode(&hex(bytes), &FOUR).unwrap() else {
        panic!()
    };
    let reach = update.attributes.mp_reach.unwrap();
    assert_eq!(
        reach.next_hop,
        MpNextHop {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None
        }
    );
    assert_eq!(reach.nlri, [net6("fd00:9::1/128")]);
    assert_eq!(update.attributes.as_path, Some(AsPath::default()));
}

const WITHDRAW_V4: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    0021                              # length 33
    02                                # type UPDATE
    000a                              # withdrawn routes length 10
      20 0a090001                     #   10.9.0.1/32
      20 0a090002                     #   10.9.0.2/32
    0000                              # no path attributes
";

fn withdraw_v4() -> Message {
    Message::Update(UpdateMsg {
        withdrawn: vec![net4("10.9.0.1/32"), net4("10.9.0.2/32")],
        ..UpdateMsg::default()
    })
}

#[test]
fn ipv4_withdrawal_encodes() {
    assert_encodes(&withdraw_v4(), &FOUR, WITHDRAW_V4);
}

#[test]
fn ipv4_withdrawal_decodes() {
    assert_decodes(WITHDRAW_V4, &FOUR, &withdraw_v4());
}

const WITHDRAW_V6: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    002e                              # length 46
    02                                # type UPDATE
    0000                              # no withdrawn routes (IPv4)
    0017                              # total path attribute length 23
      80 0f 14                        #   MP_UNREACH_NLRI, 20 octets
        0002 01                       #     AFI IPv6, SAFI unicast
        80 fd000009000000000000000000000001 # fd00:9::1/128
";

fn withdraw_v6() -> Message {
    let mut update = UpdateMsg::default();
    update.attributes.mp_unreach = Some(MpUnreach {
        family: AfiSafi::IPV6_UNICAST,
        withdrawn: vec![net6("fd00:9::1/128")],
    });
    Message::Update(update)
}

#[test]
fn ipv6_withdrawal_encodes() {
    assert_encodes(&withdraw_v6(), &FOUR, WITHDRAW_V6);
}

#[test]
fn ipv6_withdrawal_decodes() {
    assert_decodes(WITHDRAW_V6, &FOUR, &withdraw_v6());
}

const END_OF_RIB_V4: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    0017                              # length 23
    02                                # type UPDATE
    0000 0000                         # nothing withdrawn, no attributes, no NLRI
";

const END_OF_RIB_V6: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    001d                              # length 29
    02                                # type UPDATE
    0000                              # no withdrawn routes
    0006                              # total path attribute length 6
      80 0f 03 0002 01                #   MP_UNREACH_NLRI IPv6 unicast, no prefixes
";

#[test]
fn end_of_rib_encodes_per_family() {
    let v4 = Message::Update(UpdateMsg::end_of_rib(AfiSafi::IPV4_UNICAST));
    assert_encodes(&v4, &FOUR, END_OF_RIB_V4);
    let v6 = Message::Update(UpdateMsg::end_of_rib(AfiSafi::IPV6_UNICAST));
    assert_encodes(&v6, &FOUR, END_OF_RIB_V6);
}

#[test]
fn end_of_rib_decodes_and_names_its_family() {
    for (bytes, family) in [
        (END_OF_RIB_V4, AfiSafi::IPV4_UNICAST),
        (END_OF_RIB_V6, AfiSafi::IPV6_UNICAST),
    ] {
        let Message::Update(update) = Message::decode(&hex(bytes), &FOUR).unwrap() else {
            panic!()
        };
        assert_eq!(update, UpdateMsg::end_of_rib(family));
        assert_eq!(update.end_of_rib_family(), Some(family));
        assert_eq!(update.prefix_counts(), (0, 0));
    }
}

#[test]
fn end_of_rib_with_extra_attributes_still_names_its_family() {
    let mut update = UpdateMsg::end_of_rib(AfiSafi::IPV6_UNICAST);
    update.attributes.origin = Some(Origin::Igp);
    assert_eq!(update.end_of_rib_family(), Some(AfiSafi::IPV6_UNICAST));
    let mut update = UpdateMsg::end_of_rib(AfiSafi::IPV4_UNICAST);
    update.attributes.origin = Some(Origin::Igp);
    assert_eq!(
        update.end_of_rib_family(),
        None,
        "an IPv4 End-of-RIB is an empty UPDATE"
    );
}

#[test]
fn updates_with_routes_are_not_end_of_rib() {
    for message in [update_v4(), update_v6(), withdraw_v4(), withdraw_v6()] {
        let Message::Update(update) = message else {
            unreachable!()
        };
        assert_eq!(update.end_of_rib_family(), None);
    }
}

#[test]
fn prefix_counts_add_both_families() {
    let Message::Update(mut update) = update_v4() else {
        unreachable!()
    };
    let Message::Update(v6) = update_v6() else {
        unreachable!()
    };
    let Message::Update(unreach) = withdraw_v6() else {
        unreachable!()
    };
    update.attributes.mp_reach = v6.attributes.mp_reach;
    update.attributes.mp_unreach = unreach.attributes.mp_unreach;
    assert_eq!(update.prefix_counts(), (4, 2));
}

const UPDATE_LINK_BANDWIDTH: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    0035                              # length 53
    02                                # type UPDATE
    0000                              # no withdrawn routes
    0019                              # total path attribute length 25
      40 01 01 00                     #   ORIGIN IGP
      40 02 00                        #   AS_PATH empty
      40 03 04 c0000201               #   NEXT_HOP 192.0.2.1
      c0 10 08                        #   EXTENDED_COMMUNITIES, 8 octets:
        40 04 fbf4 47f42400           #     link bandwidth, non-transitive, AS 64500,
                                      #     125000.0 bytes/s (IEEE 754 0x47f42400)
    20 0a090001                       # NLRI 10.9.0.1/32
";

fn update_link_bandwidth() -> Message {
    Message::Update(UpdateMsg {
        withdrawn: vec![],
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            extended_communities: vec![ExtendedCommunity::link_bandwidth(64500, 125_000.0)],
            ..PathAttributes::default()
        },
        nlri: vec![net4("10.9.0.1/32")],
    })
}

#[test]
fn link_bandwidth_extended_community_encodes() {
    assert_encodes(&update_link_bandwidth(), &FOUR, UPDATE_LINK_BANDWIDTH);
}

#[test]
fn link_bandwidth_extended_community_decodes() {
    assert_decodes(UPDATE_LINK_BANDWIDTH, &FOUR, &update_link_bandwidth());
}

#[test]
fn link_bandwidth_reads_back_from_either_transitivity() {
    let non_transitive = ExtendedCommunity::link_bandwidth(64500, 375_000.0);
    assert_eq!(non_transitive.0, hex("40 04 fbf4 48b71b00").as_slice());
    assert_eq!(non_transitive.as_link_bandwidth(), Some((64500, 375_000.0)));
    // FRR's `set extcommunity bandwidth` sends the transitive type 0x00 by default.
    let transitive = ExtendedCommunity([0x00, 0x04, 0xfb, 0xf4, 0x47, 0xf4, 0x24, 0x00]);
    assert_eq!(transitive.as_link_bandwidth(), Some((64500, 125_000.0)));
    // A route target (type 0x00, sub-type 0x02) is not a bandwidth.
    let route_target = ExtendedCommunity([0x00, 0x02, 0xfb, 0xf4, 0, 0, 0, 1]);
    assert_eq!(route_target.as_link_bandwidth(), None);
}

#[test]
fn link_bandwidth_of_a_four_octet_as_carries_as_trans() {
    let community = ExtendedCommunity::link_bandwidth(4_200_000_001, 1.0);
    assert_eq!(community.as_link_bandwidth(), Some((23456, 1.0)));
}

const UPDATE_UNKNOWN_TRANSITIVE: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    0031                              # length 49
    02                                # type UPDATE
    0000                              # no withdrawn routes
    0015                              # total path attribute length 21
      40 01 01 02                     #   ORIGIN INCOMPLETE
      40 02 00                        #   AS_PATH empty
      40 03 04 c0000201               #   NEXT_HOP 192.0.2.1
      c0 63 04 deadbeef               #   type 99, optional transitive, unknown to us
    20 0a090001                       # NLRI 10.9.0.1/32
";

#[test]
fn unknown_optional_transitive_attribute_is_kept_and_re_encoded_partial() {
    let Message::Update(update) = Message::decode(&hex(UPDATE_UNKNOWN_TRANSITIVE), &FOUR).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        update.attributes.unknown,
        [RawAttribute {
            flags: 0xc0,
            type_code: 99,
            value: vec![0xde, 0xad, 0xbe, 0xef]
        }]
    );
    let mut expected = hex(UPDATE_UNKNOWN_TRANSITIVE);
    let at = expected.len() - 5 - 7; // the flags octet of the type 99 attribute
    assert_eq!(expected[at], 0xc0);
    expected[at] = 0xe0; // Partial set when passed on
    assert_eq!(Message::Update(update).to_bytes(&FOUR).to_vec(), expected);
}

#[test]
fn unknown_optional_non_transitive_attribute_keeps_its_flags() {
    let raw = RawAttribute {
        flags: 0x80,
        type_code: 99,
        value: vec![1],
    };
    let mut update = UpdateMsg::default();
    update.attributes.unknown.push(raw);
    let bytes = Message::Update(update).to_bytes(&FOUR);
    assert_eq!(&bytes[23..], &[0x80, 99, 1, 1]);
}

#[test]
fn values_over_255_octets_use_extended_length() {
    let mut update = UpdateMsg::default();
    update.attributes.communities = (0..70).map(|i| Community::new(64500, i)).collect();
    let message = Message::Update(update);
    let bytes = message.to_bytes(&FOUR);
    // flags optional|transitive|extended length, type 8, 2-octet length 280
    assert_eq!(&bytes[23..27], &[0xd0, 0x08, 0x01, 0x18]);
    assert_eq!(Message::decode(&bytes, &FOUR).unwrap(), message);
}

#[test]
fn extended_length_on_a_short_value_is_accepted() {
    let bytes = "
        ffffffffffffffffffffffffffffffff 0027 02 # header, length 39
        0000 0010                     # no withdrawn, attributes 16
        50 01 0001 00                 # ORIGIN IGP with the Extended Length bit
        50 02 0000                    # AS_PATH empty, Extended Length
        40 03 04 c0000201             # NEXT_HOP 192.0.2.1
        ";
    let Message::Update(update) = Message::decode(&hex(bytes), &FOUR).unwrap() else {
        panic!()
    };
    assert_eq!(update.attributes.origin, Some(Origin::Igp));
    assert_eq!(update.attributes.as_path, Some(AsPath::default()));
}

// ------------------------------------------------- NOTIFICATION and co ---

const NOTIFICATION: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    0019                              # length 25
    03                                # type NOTIFICATION
    06                                # code 6 Cease
    02                                # subcode 2 Administrative Shutdown
    03 627965                         # shutdown communication, 3 octets: 'bye'
";

fn notification() -> Message {
    Message::Notification(NotificationMsg::cease_with_message(
        cease_subcode::ADMINISTRATIVE_SHUTDOWN,
        "bye",
    ))
}

#[test]
fn notification_encodes() {
    assert_encodes(&notification(), &FOUR, NOTIFICATION);
}

#[test]
fn notification_decodes() {
    assert_decodes(NOTIFICATION, &FOUR, &notification());
    let Message::Notification(n) = notification() else {
        unreachable!()
    };
    assert_eq!(n.code, error_code::CEASE);
    assert_eq!(n.to_string(), "Cease/Administrative Shutdown: \"bye\"");
}

const KEEPALIVE: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    0013                              # length 19
    04                                # type KEEPALIVE
";

#[test]
fn keepalive_encodes() {
    assert_encodes(&Message::Keepalive, &FOUR, KEEPALIVE);
}

#[test]
fn keepalive_decodes() {
    assert_decodes(KEEPALIVE, &FOUR, &Message::Keepalive);
}

const ROUTE_REFRESH: &str = "
    ffffffffffffffffffffffffffffffff  # marker
    0017                              # length 23
    05                                # type ROUTE-REFRESH
    0002                              # AFI IPv6
    00                                # subtype 0: normal request (RFC 7313)
    01                                # SAFI unicast
";

fn route_refresh() -> Message {
    Message::RouteRefresh(RouteRefreshMsg {
        family: AfiSafi::IPV6_UNICAST,
        subtype: 0,
    })
}

#[test]
fn route_refresh_encodes() {
    assert_encodes(&route_refresh(), &FOUR, ROUTE_REFRESH);
}

#[test]
fn route_refresh_decodes() {
    assert_decodes(ROUTE_REFRESH, &FOUR, &route_refresh());
}

#[test]
fn encode_appends_to_a_reused_buffer() {
    let mut out = bytes::BytesMut::new();
    Message::Keepalive.encode(&FOUR, &mut out);
    route_refresh().encode(&FOUR, &mut out);
    assert_eq!(out.to_vec(), [hex(KEEPALIVE), hex(ROUTE_REFRESH)].concat());
    assert_eq!(frame_len(&out, &FOUR), Ok(Some(19)));
    assert_eq!(frame_len(&out[19..], &FOUR), Ok(Some(23)));
    assert_eq!(frame_len(&out[..18], &FOUR), Ok(None));
}
