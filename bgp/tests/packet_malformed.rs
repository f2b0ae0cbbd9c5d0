//! Malformed input corpus: each case is a message and either the NOTIFICATION (code,
//! subcode, data) RFC 4271 section 6 / RFC 7313 / RFC 7606 call for, or the RFC 7606
//! outcome (attribute discard / treat-as-withdraw) the decoder applies.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

mod packet_support;

use bgp::packet::iana::attr_type;
use bgp::packet::*;
use packet_support::{EXTENDED, FOUR, TWO, hex};

use AttributeProblem as P;
use ErrorAction as A;

/// A message of `kind` with the body given in hex; the length field is computed.
fn message(kind: u8, body: &str) -> Vec<u8> {
    let body = hex(body);
    let mut bytes = vec![0xff; 16];
    bytes.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    bytes.push(kind);
    bytes.extend_from_slice(&body);
    bytes
}

/// An UPDATE from its three fields in hex; the length fields are computed.
fn update(withdrawn: &str, attributes: &str, nlri: &str) -> Vec<u8> {
    let (withdrawn, attributes) = (hex(withdrawn), hex(attributes));
    let mut body = Vec::new();
    body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    body.extend_from_slice(&withdrawn);
    body.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
    body.extend_from_slice(&attributes);
    body.extend_from_slice(&hex(nlri));
    message(
        2,
        &body.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    )
}

const ORIGIN: &str = "40 01 01 00";
const AS_PATH: &str = "40 02 06 02 01 0000fbf4";
const NEXT_HOP: &str = "40 03 04 c0000201";
const NLRI: &str = "20 0a090001";
const MP_REACH: &str = "80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8";

fn valid(extra: &str) -> String {
    format!("{ORIGIN} {AS_PATH} {NEXT_HOP} {extra}")
}

/// The same with a 2-octet AS_PATH, for OLD speakers.
fn valid_two_octet(extra: &str) -> String {
    format!("{ORIGIN} 40 02 04 02 01 fbf4 {NEXT_HOP} {extra}")
}

/// A valid UPDATE of 4097 octets: 43 octets of header, length fields and attributes,
/// then 810 /32s and one /24 (4054 octets of NLRI).
fn update_of_4097_octets() -> Vec<u8> {
    let nlri = format!(
        "{} 18 0b0000",
        (0..810)
            .map(|i| format!("20 0a00{i:04x} "))
            .collect::<String>()
    );
    let bytes = update("", &valid(""), &nlri);
    assert_eq!(bytes.len(), 4097);
    bytes
}

enum Expect {
    /// The message is refused with this NOTIFICATION (data checked when given).
    Reset {
        code: u8,
        subcode: u8,
        data: Option<Vec<u8>>,
    },
    /// The UPDATE is accepted with these attribute errors; then it announces and
    /// withdraws this many prefixes.
    Handled {
        errors: Vec<(u8, AttributeProblem, ErrorAction)>,
        counts: (usize, usize),
    },
}

fn reset(code: u8, subcode: u8) -> Expect {
    Expect::Reset {
        code,
        subcode,
        data: None,
    }
}

fn reset_with(code: u8, subcode: u8, data: &str) -> Expect {
    Expect::Reset {
        code,
        subcode,
        data: Some(hex(data)),
    }
}

fn handled(errors: &[(u8, AttributeProblem, ErrorAction)], counts: (usize, usize)) -> Expect {
    Expect::Handled {
        errors: errors.to_vec(),
        counts,
    }
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    cx: CodecContext,
    expect: Expect,
}

fn case(name: &'static str, bytes: Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        bytes,
        cx: FOUR,
        expect,
    }
}

fn cases() -> Vec<Case> {
    let mp_reach_dup = format!("{MP_REACH} {MP_REACH} {ORIGIN} {AS_PATH}");
    let short_keepalive = {
        let mut k = message(4, "");
        k[17] = 20; // claims 20 octets
        k.push(0);
        k
    };
    let route_refresh_long = message(5, "0001 00 01 00");
    vec![
        // ------------------------------------------------ header (RFC 4271 6.1)
        case(
            "bad marker",
            {
                let mut k = message(4, "");
                k[3] = 0;
                k
            },
            reset_with(1, 1, ""),
        ),
        case(
            "length below 19",
            hex("ffffffffffffffffffffffffffffffff 0012 04"),
            reset_with(1, 2, "0012"),
        ),
        case(
            "length above 4096",
            {
                let mut k = message(2, &"00".repeat(4078));
                k[16..18].copy_from_slice(&4097u16.to_be_bytes());
                k
            },
            reset_with(1, 2, "1001"),
        ),
        Case {
            name: "UPDATE above 4096 on a session without extended messages",
            bytes: update_of_4097_octets(),
            cx: FOUR,
            expect: reset_with(1, 2, "1001"),
        },
        Case {
            name: "OPEN above 4096 on a session with extended messages",
            bytes: {
                let mut k = message(1, &"00".repeat(4078));
                k[16..18].copy_from_slice(&4097u16.to_be_bytes());
                k
            },
            cx: EXTENDED,
            expect: reset_with(1, 2, "1001"),
        },
        Case {
            name: "KEEPALIVE longer than 19 on a session with extended messages",
            bytes: {
                let mut k = message(4, &"00".repeat(4000));
                k[16..18].copy_from_slice(&4019u16.to_be_bytes());
                k
            },
            cx: EXTENDED,
            expect: reset_with(1, 2, "0fb3"),
        },
        case(
            "KEEPALIVE longer than 19",
            short_keepalive,
            reset_with(1, 2, "0014"),
        ),
        case(
            "unknown message type",
            message(6, ""),
            reset_with(1, 3, "06"),
        ),
        case(
            "OPEN shorter than 29",
            message(1, "04 fbf4 005a 0a000001"),
            reset_with(1, 2, "001c"),
        ),
        case(
            "UPDATE shorter than 23",
            message(2, "0000"),
            reset_with(1, 2, "0015"),
        ),
        case(
            "NOTIFICATION shorter than 21",
            message(3, "06"),
            reset_with(1, 2, "0014"),
        ),
        // ------------------------------------------------------ OPEN (6.2)
        case(
            "OPEN version 3",
            message(1, "03 fbf4 005a 0a000001 00"),
            reset_with(2, 1, "0004"),
        ),
        case(
            "OPEN optional parameters shorter than their length",
            message(1, "04 fbf4 005a 0a000001 0a 02 02 0200"),
            reset_with(2, 0, ""),
        ),
        case(
            "OPEN parameter running past the parameters",
            message(1, "04 fbf4 005a 0a000001 04 02 06 0200"),
            reset_with(2, 0, ""),
        ),
        case(
            "OPEN capability running past its parameter",
            message(1, "04 fbf4 005a 0a000001 04 02 02 4104"),
            reset_with(2, 0, ""),
        ),
        case(
            "OPEN unsupported optional parameter (authentication)",
            message(1, "04 fbf4 005a 0a000001 03 01 01 00"),
            reset(2, 4),
        ),
        case(
            "OPEN 4-octet AS capability of 2 octets",
            message(1, "04 fbf4 005a 0a000001 06 02 04 41 02 fbf4"),
            reset_with(2, 0, ""),
        ),
        case(
            "OPEN extended message capability of 1 octet",
            message(1, "04 fbf4 005a 0a000001 05 02 03 06 01 00"),
            reset_with(2, 0, ""),
        ),
        case(
            "OPEN multiprotocol capability of 3 octets",
            message(1, "04 fbf4 005a 0a000001 07 02 05 01 03 0001 00"),
            reset(2, 0),
        ),
        case(
            "OPEN graceful restart capability with a partial family",
            message(1, "04 fbf4 005a 0a000001 07 02 05 40 03 0078 00"),
            reset(2, 0),
        ),
        // ---------------------------------- UPDATE framing (RFC 7606 section 4)
        case(
            "withdrawn length overruns the UPDATE",
            message(2, "0010 20 0a090001 0000"),
            reset_with(3, 1, ""),
        ),
        case(
            "withdrawn length leaves no room for the attribute length",
            message(2, "0002 0000"),
            reset(3, 1),
        ),
        case(
            "attribute length overruns the UPDATE",
            message(2, "0000 0020 40010100"),
            reset_with(3, 1, ""),
        ),
        // ------------------------------------- NLRI fields (RFC 7606 section 5.3)
        case(
            "NLRI prefix length 33",
            update("", &valid(""), "21 0a090001 00"),
            reset_with(3, 10, ""),
        ),
        case(
            "NLRI prefix cut short",
            update("", &valid(""), "20 0a09"),
            reset(3, 10),
        ),
        case(
            "withdrawn prefix length 40",
            update("28 0a09000100", "", ""),
            reset(3, 10),
        ),
        // -------------------------------- attribute errors that reset the session
        case(
            "duplicate MP_REACH_NLRI",
            update("", &mp_reach_dup, ""),
            reset_with(3, 1, ""),
        ),
        case(
            "duplicate MP_UNREACH_NLRI",
            update("", "80 0f 03 0002 01 80 0f 03 0002 01", ""),
            reset(3, 1),
        ),
        case(
            "MP_REACH_NLRI next hop of 24 octets",
            update(
                "",
                &format!(
                    "80 0e 1d 0002 01 18 {} 00 {ORIGIN} {AS_PATH}",
                    "20010db8".repeat(6)
                ),
                "",
            ),
            reset_with(
                3,
                9,
                &format!("80 0e 1d 0002 01 18 {} 00", "20010db8".repeat(6)),
            ),
        ),
        case(
            "MP_REACH_NLRI prefix length 129",
            update(
                "",
                &format!(
                    "80 0e 16 0002 01 10 {} 00 81 {ORIGIN} {AS_PATH}",
                    "20010db8".repeat(4)
                ),
                "",
            ),
            reset_with(3, 10, ""),
        ),
        case(
            "MP_REACH_NLRI of 2 octets",
            update("", "80 0e 02 0002", ""),
            reset_with(3, 5, "80 0e 02 0002"),
        ),
        case(
            "MP_UNREACH_NLRI prefix cut short",
            update("", "80 0f 05 0002 01 40 20", ""),
            reset(3, 10),
        ),
        case(
            "MP_REACH_NLRI with well-known flags",
            update(
                "",
                &format!("40 0e 1a {} {ORIGIN} {AS_PATH}", &MP_REACH[9..]),
                "",
            ),
            reset_with(3, 4, &format!("40 0e 1a {}", &MP_REACH[9..])),
        ),
        case(
            "unrecognized well-known attribute",
            update("", &valid("40 63 01 00"), NLRI),
            reset_with(3, 2, "40 63 01 00"),
        ),
        // ------------------------------------------- ROUTE-REFRESH (RFC 7313 5)
        case(
            "ROUTE-REFRESH of 24 octets",
            route_refresh_long.clone(),
            Expect::Reset {
                code: 7,
                subcode: 1,
                data: Some(route_refresh_long),
            },
        ),
        case(
            "ROUTE-REFRESH of 22 octets",
            message(5, "0001 00"),
            reset_with(7, 1, &format!("{} 0016 05 0001 00", packet_support::MARKER)),
        ),
        // ------------------------------------------- treat-as-withdraw (RFC 7606)
        case(
            "attribute running past the attribute list",
            update("", &format!("{ORIGIN} {AS_PATH} 40 03 08 c0000201"), NLRI),
            handled(&[(3, P::Overrun, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "one octet left after the last attribute",
            update("", &valid("40"), NLRI),
            handled(&[(0, P::Overrun, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "ORIGIN value 3",
            update("", &format!("40 01 01 03 {AS_PATH} {NEXT_HOP}"), NLRI),
            handled(&[(1, P::InvalidOrigin, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "ORIGIN of 2 octets",
            update("", &format!("40 01 02 0000 {AS_PATH} {NEXT_HOP}"), NLRI),
            handled(&[(1, P::Length, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "AS_PATH segment type 5",
            update(
                "",
                &format!("{ORIGIN} 40 02 06 05 01 0000fbf4 {NEXT_HOP}"),
                NLRI,
            ),
            handled(&[(2, P::MalformedAsPath, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "AS_PATH segment of length zero",
            update("", &format!("{ORIGIN} 40 02 02 02 00 {NEXT_HOP}"), NLRI),
            handled(&[(2, P::MalformedAsPath, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "AS_PATH segment running past the attribute",
            update(
                "",
                &format!("{ORIGIN} 40 02 06 02 02 0000fbf4 {NEXT_HOP}"),
                NLRI,
            ),
            handled(&[(2, P::MalformedAsPath, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "AS 0 in AS_PATH (RFC 7607)",
            update(
                "",
                &format!("{ORIGIN} 40 02 06 02 01 00000000 {NEXT_HOP}"),
                NLRI,
            ),
            handled(&[(2, P::MalformedAsPath, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "NEXT_HOP of 5 octets",
            update("", &format!("{ORIGIN} {AS_PATH} 40 03 05 c000020100"), NLRI),
            handled(&[(3, P::Length, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "NEXT_HOP 0.0.0.0",
            update("", &format!("{ORIGIN} {AS_PATH} 40 03 04 00000000"), NLRI),
            handled(&[(3, P::InvalidNextHop, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "NEXT_HOP multicast",
            update("", &format!("{ORIGIN} {AS_PATH} 40 03 04 e0000001"), NLRI),
            handled(&[(3, P::InvalidNextHop, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "MULTI_EXIT_DISC of 3 octets",
            update("", &valid("80 04 03 000001"), NLRI),
            handled(&[(4, P::Length, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "LOCAL_PREF of 2 octets",
            update("", &valid("40 05 02 0064"), NLRI),
            handled(&[(5, P::Length, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "COMMUNITIES of 5 octets",
            update("", &valid("c0 08 05 fbf4000100"), NLRI),
            handled(&[(8, P::Length, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "COMMUNITIES empty",
            update("", &valid("c0 08 00"), NLRI),
            handled(&[(8, P::Length, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "EXTENDED_COMMUNITIES of 12 octets",
            update("", &valid("c0 10 0c 4004fbf4 47f42400 00000000"), NLRI),
            handled(&[(16, P::Length, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "EXTENDED_COMMUNITIES empty",
            update("", &valid("c0 10 00"), NLRI),
            handled(&[(16, P::Length, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "EXTENDED_COMMUNITIES marked non-transitive (flags error)",
            update("", &valid("80 10 08 4004fbf4 47f42400"), NLRI),
            handled(&[(16, P::Flags, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "LARGE_COMMUNITIES of 8 octets",
            update("", &valid("c0 20 08 0000fbf400000001"), NLRI),
            handled(&[(32, P::Length, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "ORIGIN with the optional bit (flags error on a well-known attribute)",
            update("", &format!("c0 01 01 00 {AS_PATH} {NEXT_HOP}"), NLRI),
            handled(&[(1, P::Flags, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "NEXT_HOP not transitive (flags error on a well-known attribute)",
            update("", &format!("{ORIGIN} {AS_PATH} 00 03 04 c0000201"), NLRI),
            handled(&[(3, P::Flags, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "ORIGIN missing with NLRI",
            update("", &format!("{AS_PATH} {NEXT_HOP}"), NLRI),
            handled(&[(1, P::Missing, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "NEXT_HOP missing with NLRI",
            update("", &format!("{ORIGIN} {AS_PATH}"), NLRI),
            handled(&[(3, P::Missing, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "AS_PATH missing with MP_REACH_NLRI: its prefixes become MP_UNREACH_NLRI",
            update("", &format!("{MP_REACH} {ORIGIN}"), ""),
            handled(&[(2, P::Missing, A::TreatAsWithdraw)], (0, 1)),
        ),
        case(
            "treat-as-withdraw keeps the withdrawals already there",
            update(
                "20 0a090002",
                &format!("40 01 01 07 {AS_PATH} {NEXT_HOP}"),
                NLRI,
            ),
            handled(&[(1, P::InvalidOrigin, A::TreatAsWithdraw)], (0, 2)),
        ),
        // ------------------------------------------------ attribute discard
        case(
            "ATOMIC_AGGREGATE of 1 octet",
            update("", &valid("40 06 01 00"), NLRI),
            handled(&[(6, P::Length, A::Discard)], (1, 0)),
        ),
        case(
            "AGGREGATOR of 7 octets",
            update("", &valid("c0 07 07 0000fbf4c00002"), NLRI),
            handled(&[(7, P::Length, A::Discard)], (1, 0)),
        ),
        case(
            "AGGREGATOR with AS 0 (RFC 7607)",
            update("", &valid("c0 07 08 00000000c0000209"), NLRI),
            handled(&[(7, P::Malformed, A::Discard)], (1, 0)),
        ),
        case(
            "AGGREGATOR well-known (flags error)",
            update("", &valid("40 07 08 0000fbf4c0000209"), NLRI),
            handled(&[(7, P::Flags, A::Discard)], (1, 0)),
        ),
        case(
            "AS4_PATH between NEW speakers",
            update("", &valid("c0 11 06 02 01 fa56ea01"), NLRI),
            handled(&[(17, P::Malformed, A::Discard)], (1, 0)),
        ),
        case(
            "duplicate COMMUNITIES keep the first",
            update("", &valid("c0 08 04 fbf40001 c0 08 04 fbf40002"), NLRI),
            handled(&[(8, P::Duplicate, A::Discard)], (1, 0)),
        ),
        case(
            "duplicate ORIGIN keeps the first",
            update("", &valid("40 01 01 02"), NLRI),
            handled(&[(1, P::Duplicate, A::Discard)], (1, 0)),
        ),
        // ------------------------------------------------------- accepted as is
        case(
            "withdrawal without attributes",
            update("20 0a090001", "", ""),
            handled(&[], (0, 1)),
        ),
        case(
            "UPDATE without routes needs no mandatory attributes",
            update("", "80 04 04 00000001", ""),
            handled(&[], (0, 0)),
        ),
        Case {
            name: "AS4_AGGREGATOR of 6 octets from an OLD speaker",
            bytes: update("", &valid_two_octet("c0 12 06 fa56ea01c000"), NLRI),
            cx: TWO,
            expect: handled(&[(18, P::Length, A::Discard)], (1, 0)),
        },
        Case {
            name: "AS4_PATH with a zero-length segment from an OLD speaker",
            bytes: update("", &valid_two_octet("c0 11 02 02 00"), NLRI),
            cx: TWO,
            expect: handled(&[(17, P::MalformedAsPath, A::Discard)], (1, 0)),
        },
    ]
}

#[test]
fn malformed_corpus_gets_the_prescribed_notification_or_rfc7606_outcome() {
    let mut failures = Vec::new();
    for case in cases() {
        if let Some(failure) = check(&case) {
            failures.push(format!("{}: {failure}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn check(case: &Case) -> Option<String> {
    let result = Message::decode_with_errors(&case.bytes, &case.cx);
    match (&case.expect, result) {
        (
            Expect::Reset {
                code,
                subcode,
                data,
            },
            Err(error),
        ) => {
            let n = NotificationMsg::from(&error);
            if (n.code, n.subcode) != (*code, *subcode) {
                return Some(format!("got {n} ({}/{}) from {error:?}", n.code, n.subcode));
            }
            if let Some(data) = data
                && &n.data != data
            {
                return Some(format!("data {:02x?}, expected {:02x?}", n.data, data));
            }
            // Header errors are found by frame_len as well.
            let framed = frame_len(&case.bytes, &case.cx);
            if *code == 1 && framed != Err(error.clone()) {
                return Some(format!("frame_len disagrees: {framed:?}"));
            }
            None
        }
        (Expect::Reset { .. }, Ok(message)) => Some(format!("accepted: {message:?}")),
        (Expect::Handled { .. }, Err(error)) => Some(format!("refused: {error:?}")),
        (Expect::Handled { errors, counts }, Ok((message, got))) => {
            let got_summary: Vec<_> = got
                .iter()
                .map(|e| (e.type_code, e.problem, e.action))
                .collect();
            if &got_summary != errors {
                return Some(format!("errors {got_summary:?}, expected {errors:?}"));
            }
            let Message::Update(update) = message else {
                return Some("not an UPDATE".into());
            };
            if update.prefix_counts() != *counts {
                return Some(format!(
                    "prefix counts {:?}, expected {counts:?}",
                    update.prefix_counts()
                ));
            }
            let withdraw = got.iter().any(|e| e.action == ErrorAction::TreatAsWithdraw);
            let only_unreach = PathAttributes {
                mp_unreach: None,
                ..update.attributes.clone()
            };
            if withdraw && (only_unreach != PathAttributes::default() || !update.nlri.is_empty()) {
                return Some(format!(
                    "treat-as-withdraw left routes or attributes: {update:?}"
                ));
            }
            None
        }
    }
}

#[test]
fn update_above_4096_is_accepted_once_extended_messages_are_negotiated() {
    let bytes = update_of_4097_octets();
    assert_eq!(frame_len(&bytes, &EXTENDED), Ok(Some(4097)));
    let Message::Update(update) = Message::decode(&bytes, &EXTENDED).unwrap() else {
        panic!("not an UPDATE")
    };
    assert_eq!(update.nlri.len(), 811);
    // The same bytes before negotiation: Bad Message Length with the length.
    let error = Message::decode(&bytes, &FOUR).unwrap_err();
    assert_eq!(frame_len(&bytes, &FOUR), Err(error.clone()));
    let notification = NotificationMsg::from(&error);
    assert_eq!(
        (notification.code, notification.subcode, notification.data),
        (1, 2, vec![0x10, 0x01])
    );
}

#[test]
fn extended_messages_allow_up_to_65535_octets() {
    let mut header = vec![0xff; 16];
    header.extend_from_slice(&u16::MAX.to_be_bytes());
    header.push(2);
    assert_eq!(frame_len(&header, &EXTENDED), Ok(Some(65535)));
    assert_eq!(
        frame_len(&header, &FOUR),
        Err(DecodeError::BadMessageLength { length: 65535 })
    );
}

#[test]
fn attribute_errors_describe_the_notification_rfc4271_would_send() {
    let bytes = update("", &format!("40 01 01 03 {AS_PATH} {NEXT_HOP}"), NLRI);
    let (_, errors) = Message::decode_with_errors(&bytes, &FOUR).unwrap();
    let n = errors[0].notification();
    assert_eq!(
        n.to_string(),
        "UPDATE Message Error/Invalid ORIGIN Attribute"
    );
    assert_eq!((n.code, n.subcode, n.data), (3, 6, hex("40 01 01 03")));

    let bytes = update("", &format!("{AS_PATH} {NEXT_HOP}"), NLRI);
    let (_, errors) = Message::decode_with_errors(&bytes, &FOUR).unwrap();
    let n = errors[0].notification();
    assert_eq!((n.code, n.subcode, n.data), (3, 3, vec![attr_type::ORIGIN]));
}

#[test]
fn discarded_attribute_leaves_the_rest_of_the_update_intact() {
    let bytes = update("", &valid("40 06 01 00 c0 08 04 fbf40001"), NLRI);
    let Message::Update(update) = Message::decode(&bytes, &FOUR).unwrap() else {
        panic!()
    };
    assert!(!update.attributes.atomic_aggregate);
    assert_eq!(update.attributes.communities, [Community::new(64500, 1)]);
    assert_eq!(update.nlri.len(), 1);
}

#[test]
fn duplicate_attribute_keeps_the_first_value() {
    let bytes = update("", &valid("c0 08 04 fbf40001 c0 08 04 fbf40002"), NLRI);
    let Message::Update(update) = Message::decode(&bytes, &FOUR).unwrap() else {
        panic!()
    };
    assert_eq!(update.attributes.communities, [Community::new(64500, 1)]);
}

#[test]
fn treat_as_withdraw_moves_mp_reach_prefixes_to_mp_unreach() {
    let bytes = update("", &format!("{MP_REACH} 40 01 01 09 {AS_PATH}"), "");
    let Message::Update(update) = Message::decode(&bytes, &FOUR).unwrap() else {
        panic!()
    };
    let unreach = update.attributes.mp_unreach.expect("MP_UNREACH_NLRI");
    assert_eq!(unreach.family, AfiSafi::IPV6_UNICAST);
    assert_eq!(
        unreach.withdrawn,
        ["2001:db8::/32".parse::<ipnet::Ipv6Net>().unwrap()]
    );
    assert!(update.attributes.mp_reach.is_none());
}

#[test]
fn frame_shorter_than_its_length_field_is_a_bad_length() {
    let mut bytes = message(4, "");
    bytes.truncate(18);
    assert_eq!(
        Message::decode(&bytes, &FOUR),
        Err(DecodeError::BadMessageLength { length: 18 })
    );
    let bytes = message(2, "0000 0000");
    assert_eq!(
        Message::decode(&bytes[..22], &FOUR),
        Err(DecodeError::BadMessageLength { length: 23 })
    );
}

#[test]
fn unsupported_capability_notification_carries_the_capability() {
    let error = DecodeError::UnsupportedCapability {
        capability: Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
    };
    let n = NotificationMsg::from(&error);
    assert_eq!((n.code, n.subcode, n.data), (2, 7, hex("01 04 0002 00 01")));
}
