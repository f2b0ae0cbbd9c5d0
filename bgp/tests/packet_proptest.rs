//! Property tests: canonical messages survive encode then decode unchanged, in the
//! 4-octet and the 2-octet AS context; arbitrary and mutated bytes never make the
//! decoder panic, and whatever it accepts re-encodes to something it accepts again.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

mod packet_support;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use bgp::packet::*;
use ipnet::{Ipv4Net, Ipv6Net};
use packet_support::{EXTENDED, FOUR, TWO};
use proptest::prelude::*;

fn net4() -> impl Strategy<Value = Ipv4Net> {
    (any::<u32>(), 0..=32u8).prop_map(|(a, l)| Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc())
}

fn net6() -> impl Strategy<Value = Ipv6Net> {
    (any::<u128>(), 0..=128u8)
        .prop_map(|(a, l)| Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc())
}

fn family() -> impl Strategy<Value = AfiSafi> {
    (
        prop_oneof![Just(1u16), Just(2), any::<u16>()],
        prop_oneof![Just(1u8), Just(2), any::<u8>()],
    )
        .prop_map(|(afi, safi)| AfiSafi {
            afi: Afi::from_u16(afi),
            safi: Safi::from_u8(safi),
        })
}

fn capability() -> impl Strategy<Value = Capability> {
    let known = [1u8, 2, 6, 64, 65];
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::ExtendedMessage),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (
            any::<bool>(),
            any::<bool>(),
            0..=0x0FFFu16,
            prop::collection::vec((family(), any::<bool>()), 0..4)
        )
            .prop_map(|(restarting, notification, restart_time, families)| {
                Capability::GracefulRestart(GracefulRestart {
                    restarting,
                    notification,
                    restart_time,
                    families,
                })
            }),
        (
            any::<u8>().prop_filter("known code", move |c| !known.contains(c)),
            prop::collection::vec(any::<u8>(), 0..=255)
        )
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn open() -> impl Strategy<Value = OpenMsg> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        prop::collection::vec(capability(), 0..6),
    )
        .prop_map(|(my_as, hold_time, id, capabilities)| OpenMsg {
            version: 4,
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            capabilities,
        })
}

fn segment(kinds: Vec<AsSegmentKind>, asn: BoxedStrategy<u32>) -> impl Strategy<Value = AsSegment> {
    (
        prop::sample::select(kinds),
        prop::collection::vec(asn, 1..20),
    )
        .prop_map(|(kind, asns)| AsSegment { kind, asns })
}

/// Any path for NEW speakers (AS 0 is malformed, RFC 7607).
fn as_path_four() -> impl Strategy<Value = AsPath> {
    let kinds = vec![
        AsSegmentKind::Set,
        AsSegmentKind::Sequence,
        AsSegmentKind::ConfedSequence,
        AsSegmentKind::ConfedSet,
    ];
    prop::collection::vec(segment(kinds, (1..=u32::MAX).boxed()), 0..4)
        .prop_map(|segments| AsPath { segments })
}

/// Paths an OLD speaker can be told exactly (RFC 6793): confederation segments only in
/// front, with 2-octet AS numbers.
fn as_path_two() -> impl Strategy<Value = AsPath> {
    let confed = vec![AsSegmentKind::ConfedSequence, AsSegmentKind::ConfedSet];
    let plain = vec![AsSegmentKind::Set, AsSegmentKind::Sequence];
    (
        prop::collection::vec(segment(confed, (1..=0xFFFFu32).boxed()), 0..2),
        prop::collection::vec(segment(plain, (1..=u32::MAX).boxed()), 0..4),
    )
        .prop_map(|(mut segments, rest)| {
            segments.extend(rest);
            AsPath { segments }
        })
}

/// A next hop RFC 4271 accepts: unicast, not 0.0.0.0.
fn next_hop() -> impl Strategy<Value = Ipv4Addr> {
    (0x0100_0000u32..0xE000_0000).prop_map(Ipv4Addr::from)
}

fn ipv6_family() -> impl Strategy<Value = AfiSafi> {
    prop::sample::select(vec![
        AfiSafi::IPV6_UNICAST,
        AfiSafi {
            afi: Afi::Ipv6,
            safi: Safi::Multicast,
        },
    ])
}

fn mp_reach() -> impl Strategy<Value = MpReach> {
    (
        ipv6_family(),
        any::<u128>(),
        prop::option::of(any::<u128>()),
        prop::collection::vec(net6(), 0..10),
    )
        .prop_map(|(family, global, link_local, nlri)| MpReach {
            family,
            next_hop: MpNextHop {
                global: Ipv6Addr::from(global),
                link_local: link_local.map(Ipv6Addr::from),
            },
            nlri,
        })
}

fn mp_unreach() -> impl Strategy<Value = MpUnreach> {
    prop_oneof![
        (ipv6_family(), prop::collection::vec(net6(), 0..10))
            .prop_map(|(family, withdrawn)| MpUnreach { family, withdrawn }),
        // End-of-RIB of any family
        family().prop_map(|family| MpUnreach {
            family,
            withdrawn: Vec::new()
        }),
    ]
}

/// Unknown optional attributes, one per type code; transitive ones already carry the
/// Partial bit the encoder sets.
fn unknown_attributes() -> impl Strategy<Value = Vec<RawAttribute>> {
    let known = [1u8, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17, 18, 32];
    prop::collection::btree_map(
        any::<u8>().prop_filter("known type", move |t| !known.contains(t)),
        (any::<bool>(), prop::collection::vec(any::<u8>(), 0..300)),
        0..3,
    )
    .prop_map(|map: BTreeMap<u8, (bool, Vec<u8>)>| {
        map.into_iter()
            .map(|(type_code, (transitive, value))| RawAttribute {
                flags: if transitive { 0xE0 } else { 0x80 },
                type_code,
                value,
            })
            .collect()
    })
}

fn update(
    path: BoxedStrategy<AsPath>,
    aggregator_asn: BoxedStrategy<u32>,
) -> impl Strategy<Value = UpdateMsg> {
    let attrs = (
        (
            prop::option::of(prop::sample::select(vec![
                Origin::Igp,
                Origin::Egp,
                Origin::Incomplete,
            ])),
            prop::option::of(path),
            prop::option::of(next_hop()),
            prop::option::of(any::<u32>()),
            prop::option::of(any::<u32>()),
            any::<bool>(),
            prop::option::of((aggregator_asn, any::<u32>())),
        ),
        (
            prop::collection::vec(any::<u32>().prop_map(Community), 0..5),
            prop::collection::vec(
                (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(g, a, b)| LargeCommunity {
                    global_admin: g,
                    local_data1: a,
                    local_data2: b,
                }),
                0..3,
            ),
            prop::option::of(mp_reach()),
            prop::option::of(mp_unreach()),
            unknown_attributes(),
            prop::collection::vec(any::<[u8; 8]>().prop_map(ExtendedCommunity), 0..4),
        ),
    );
    (
        prop::collection::vec(net4(), 0..20),
        attrs,
        prop::collection::vec(net4(), 0..20),
    )
        .prop_map(|(withdrawn, (a, b), nlri)| {
            let (origin, as_path, next_hop, med, local_pref, atomic_aggregate, aggregator) = a;
            let (communities, large_communities, mp_reach, mp_unreach, unknown, extended) = b;
            let mut attributes = PathAttributes {
                origin,
                as_path,
                next_hop,
                med,
                local_pref,
                atomic_aggregate,
                aggregator: aggregator.map(|(asn, address)| Aggregator {
                    asn,
                    address: Ipv4Addr::from(address),
                }),
                communities,
                large_communities,
                extended_communities: extended,
                mp_reach,
                mp_unreach,
                unknown,
            };
            // Routes need their mandatory attributes (else RFC 7606 withdraws them).
            if !nlri.is_empty() || attributes.mp_reach.is_some() {
                attributes.origin.get_or_insert(Origin::Igp);
                attributes.as_path.get_or_insert_with(AsPath::default);
            }
            if !nlri.is_empty() {
                attributes
                    .next_hop
                    .get_or_insert(Ipv4Addr::new(192, 0, 2, 1));
            }
            UpdateMsg {
                withdrawn,
                attributes,
                nlri,
            }
        })
}

fn notification() -> impl Strategy<Value = NotificationMsg> {
    (
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(code, subcode, data)| NotificationMsg::new(code, subcode, data))
}

fn route_refresh() -> impl Strategy<Value = RouteRefreshMsg> {
    (family(), any::<u8>()).prop_map(|(family, subtype)| RouteRefreshMsg { family, subtype })
}

/// Messages for NEW (4-octet) sessions.
fn message_four() -> impl Strategy<Value = Message> {
    prop_oneof![
        open().prop_map(Message::Open),
        update(as_path_four().boxed(), (1..=u32::MAX).boxed()).prop_map(Message::Update),
        notification().prop_map(Message::Notification),
        Just(Message::Keepalive),
        route_refresh().prop_map(Message::RouteRefresh),
    ]
}

/// UPDATEs for OLD (2-octet) sessions. The aggregator AS needs 4 octets: a 2-octet one
/// tells the receiver an OLD speaker aggregated, and AS4_PATH is then ignored
/// (RFC 6793 section 4.2.3).
fn update_two() -> impl Strategy<Value = UpdateMsg> {
    update(as_path_two().boxed(), (0x1_0000..=u32::MAX).boxed())
}

fn round_trip(message: &Message, cx: &CodecContext) -> Result<(), TestCaseError> {
    let bytes = message.to_bytes(cx);
    prop_assert!(bytes.len() <= cx.max_message_len());
    prop_assert_eq!(frame_len(&bytes, cx), Ok(Some(bytes.len())));
    let (decoded, errors) =
        Message::decode_with_errors(&bytes, cx).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(errors.is_empty(), "attribute errors: {:?}", errors);
    prop_assert_eq!(&decoded, message);
    Ok(())
}

/// Decoding never panics; what decodes re-encodes to bytes that decode.
fn decode_anything(bytes: &[u8]) -> Result<(), TestCaseError> {
    for cx in [FOUR, TWO, EXTENDED] {
        let _ = frame_len(bytes, &cx);
        if let Ok((message, _)) = Message::decode_with_errors(bytes, &cx) {
            let again = message.to_bytes(&cx);
            prop_assert!(
                Message::decode(&again, &cx).is_ok(),
                "{:?} re-encoded to {:02x?} which does not decode",
                message,
                &again[..]
            );
        }
    }
    Ok(())
}

/// A header that passes the checks, then `body`.
fn framed(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0xFF; 16];
    bytes.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    bytes.push(kind);
    bytes.extend_from_slice(body);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn messages_round_trip_between_four_octet_speakers(message in message_four()) {
        round_trip(&message, &FOUR)?;
        round_trip(&message, &EXTENDED)?;
    }

    #[test]
    fn updates_round_trip_with_a_two_octet_speaker(update in update_two()) {
        round_trip(&Message::Update(update), &TWO)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        decode_anything(&bytes)?;
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_header_never_panic(
        kind in 1u8..=5,
        body in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        decode_anything(&framed(kind, &body))?;
    }

    #[test]
    fn arbitrary_attribute_lists_never_panic(
        attributes in prop::collection::vec(
            (prop::sample::select(vec![0x40u8, 0x50, 0x80, 0x90, 0xc0, 0xd0, 0xe0, 0x00]),
             prop::sample::select(vec![1u8, 2, 3, 4, 5, 6, 7, 8, 14, 15, 17, 18, 32, 99]),
             prop::collection::vec(any::<u8>(), 0..40)),
            0..6),
        nlri in prop::collection::vec(any::<u8>(), 0..12),
    ) {
        let mut field = Vec::new();
        for (flags, type_code, value) in attributes {
            field.push(flags);
            field.push(type_code);
            if flags & 0x10 != 0 {
                field.extend_from_slice(&(value.len() as u16).to_be_bytes());
            } else {
                field.push(value.len() as u8);
            }
            field.extend_from_slice(&value);
        }
        let mut body = vec![0, 0];
        body.extend_from_slice(&(field.len() as u16).to_be_bytes());
        body.extend_from_slice(&field);
        body.extend_from_slice(&nlri);
        decode_anything(&framed(2, &body))?;
    }

    #[test]
    fn mutated_messages_never_panic(
        message in message_four(),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = message.to_bytes(&FOUR).to_vec();
        for (at, value) in mutations {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        decode_anything(&bytes)?;
        let len = cut.index(bytes.len() + 1);
        decode_anything(&bytes[..len])?;
    }
}
