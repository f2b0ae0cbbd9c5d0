//! OPEN checks and negotiation (RFC 4271 section 6.2, RFC 5492, RFC 6286, RFC 6793).

mod fsm_support;

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp::fsm::{Output, SessionState, Timer};
use bgp::packet::iana::{AS_TRANS, error_code, open_subcode};
use bgp::packet::{AfiSafi, Capability, Message, OpenMsg};
use fsm_support::*;

fn open_error(subcode: u8) -> (u8, u8) {
    (error_code::OPEN_MESSAGE, subcode)
}

/// Feeds `open` in OpenSent and returns (code, subcode) of the NOTIFICATION sent, if any.
fn rejection(open: OpenMsg) -> Option<(u8, u8, Vec<u8>)> {
    let mut fsm = in_opensent(config());
    let outputs = receive(&mut fsm, OUT, Message::Open(open));
    let n = notification(&outputs, OUT)?;
    assert!(closed(&outputs, OUT));
    assert!(went_idle_then_active(&outputs), "{outputs:?}");
    Some((n.code, n.subcode, n.data))
}

fn negotiated_hold_and_keepalive(outputs: &[Output]) -> (Option<Duration>, Option<Duration>) {
    (
        timer_started(outputs, Timer::Hold(OUT)),
        timer_started(outputs, Timer::Keepalive(OUT)),
    )
}

#[test]
fn hold_time_negotiation_uses_minimum() {
    let (_, outputs) = in_openconfirm(config(), 30);
    assert_eq!(
        timer_started(&outputs, Timer::Hold(OUT)),
        Some(Duration::from_secs(30))
    );

    let mut ours = config();
    ours.hold_time = 9;
    let (_, outputs) = in_openconfirm(ours, 180);
    assert_eq!(
        timer_started(&outputs, Timer::Hold(OUT)),
        Some(Duration::from_secs(9))
    );
}

#[test]
fn hold_time_zero_disables_keepalives() {
    let (mut fsm, outputs) = in_openconfirm(config(), 0);
    assert_eq!(negotiated_hold_and_keepalive(&outputs), (None, None));
    assert!(outputs.contains(&Output::StopTimer(Timer::Hold(OUT))));
    let outputs = receive(&mut fsm, OUT, Message::Keepalive);
    let session = outputs
        .iter()
        .find_map(|o| match o {
            Output::Established { session, .. } => Some(session.clone()),
            _ => None,
        })
        .expect("established");
    assert_eq!((session.hold_time, session.keepalive), (0, 0));
    assert_eq!(timer_started(&outputs, Timer::Hold(OUT)), None);
}

#[test]
fn our_hold_time_zero_wins_over_peer_hold_time() {
    let mut ours = config();
    ours.hold_time = 0;
    let (_, outputs) = in_openconfirm(ours, 90);
    assert_eq!(negotiated_hold_and_keepalive(&outputs), (None, None));
}

#[test]
fn hold_time_of_one_or_two_is_rejected() {
    for hold in [1, 2] {
        let (code, subcode, _) = rejection(peer_open(hold)).expect("rejected");
        assert_eq!(
            (code, subcode),
            open_error(open_subcode::UNACCEPTABLE_HOLD_TIME),
            "hold {hold}"
        );
    }
    assert_eq!(rejection(peer_open(3)), None);
}

#[test]
fn keepalive_interval_is_a_third_of_hold() {
    let (_, outputs) = in_openconfirm(config(), 90);
    assert_eq!(
        negotiated_hold_and_keepalive(&outputs),
        (Some(Duration::from_secs(90)), Some(Duration::from_secs(30)))
    );
    let (_, outputs) = in_openconfirm(config(), 9);
    assert_eq!(
        timer_started(&outputs, Timer::Keepalive(OUT)),
        Some(Duration::from_secs(3))
    );
}

#[test]
fn configured_keepalive_is_used_but_never_exceeds_a_third_of_hold() {
    let mut ours = config();
    ours.keepalive = Some(10);
    let (_, outputs) = in_openconfirm(ours.clone(), 90);
    assert_eq!(
        timer_started(&outputs, Timer::Keepalive(OUT)),
        Some(Duration::from_secs(10))
    );
    let (_, outputs) = in_openconfirm(ours, 12);
    assert_eq!(
        timer_started(&outputs, Timer::Keepalive(OUT)),
        Some(Duration::from_secs(4))
    );
}

#[test]
fn bad_peer_as_is_rejected() {
    let open = OpenMsg::new(
        64999,
        90,
        PEER_ID,
        vec![Capability::Multiprotocol(AfiSafi::IPV4_UNICAST)],
    );
    let (code, subcode, _) = rejection(open).expect("rejected");
    assert_eq!((code, subcode), open_error(open_subcode::BAD_PEER_AS));
}

#[test]
fn four_octet_peer_as_checked_via_capability() {
    let mut ours = config();
    ours.remote_as = 4_200_000_001;
    // The peer's real AS travels in the capability, AS_TRANS in the 2-octet field.
    let open = OpenMsg::new(
        4_200_000_001,
        90,
        PEER_ID,
        vec![Capability::Multiprotocol(AfiSafi::IPV4_UNICAST)],
    );
    assert_eq!(open.my_as, AS_TRANS);
    let mut fsm = in_opensent(ours.clone());
    receive(&mut fsm, OUT, Message::Open(open));
    assert_eq!(fsm.state(), SessionState::OpenConfirm);

    // Another 4-octet AS in the capability is rejected even though my_as is AS_TRANS too.
    let open = OpenMsg::new(
        4_200_000_002,
        90,
        PEER_ID,
        vec![Capability::Multiprotocol(AfiSafi::IPV4_UNICAST)],
    );
    let mut fsm = in_opensent(ours);
    let outputs = receive(&mut fsm, OUT, Message::Open(open));
    let n = notification(&outputs, OUT).expect("notification");
    assert_eq!((n.code, n.subcode), open_error(open_subcode::BAD_PEER_AS));
}

#[test]
fn as_trans_without_four_octet_capability_is_bad_peer_as() {
    let mut ours = config();
    ours.remote_as = 4_200_000_001;
    let mut open = OpenMsg::new(4_200_000_001, 90, PEER_ID, Vec::new());
    open.capabilities.clear();
    assert_eq!(open.my_as, AS_TRANS);
    let mut fsm = in_opensent(ours);
    let outputs = receive(&mut fsm, OUT, Message::Open(open));
    let n = notification(&outputs, OUT).expect("notification");
    assert_eq!((n.code, n.subcode), open_error(open_subcode::BAD_PEER_AS));
}

#[test]
fn two_octet_peer_without_capability_is_accepted() {
    let mut open = peer_open(90);
    open.capabilities.clear();
    assert_eq!(rejection(open), None);
}

#[test]
fn unsupported_version_rejected() {
    let mut open = peer_open(90);
    open.version = 3;
    let (code, subcode, data) = rejection(open).expect("rejected");
    assert_eq!(
        (code, subcode),
        open_error(open_subcode::UNSUPPORTED_VERSION_NUMBER)
    );
    assert_eq!(data, vec![0, 4], "data is the version we support");
}

#[test]
fn zero_bgp_identifier_rejected() {
    let open = OpenMsg::new(REMOTE_AS, 90, Ipv4Addr::UNSPECIFIED, Vec::new());
    let (code, subcode, _) = rejection(open).expect("rejected");
    assert_eq!(
        (code, subcode),
        open_error(open_subcode::BAD_BGP_IDENTIFIER)
    );
}

#[test]
fn ibgp_peer_with_our_identifier_rejected() {
    let mut ours = config();
    ours.remote_as = LOCAL_AS;
    let open = OpenMsg::new(LOCAL_AS, 90, LOCAL_ID, Vec::new());
    let mut fsm = in_opensent(ours);
    let outputs = receive(&mut fsm, OUT, Message::Open(open));
    let n = notification(&outputs, OUT).expect("notification");
    assert_eq!(
        (n.code, n.subcode),
        open_error(open_subcode::BAD_BGP_IDENTIFIER)
    );
}

#[test]
fn ebgp_peer_with_our_identifier_accepted() {
    // RFC 6286 section 2.2: identifiers only need to be unique within an AS.
    let open = OpenMsg::new(REMOTE_AS, 90, LOCAL_ID, Vec::new());
    assert_eq!(rejection(open), None);
}

#[test]
fn no_common_family_rejected_with_unsupported_capability() {
    let open = OpenMsg::new(
        REMOTE_AS,
        90,
        PEER_ID,
        vec![Capability::Multiprotocol(AfiSafi::IPV6_UNICAST)],
    );
    let (code, subcode, data) = rejection(open).expect("rejected");
    assert_eq!(
        (code, subcode),
        open_error(open_subcode::UNSUPPORTED_CAPABILITY)
    );
    // The multiprotocol capability we needed: code 1, length 4, AFI 1, reserved, SAFI 1.
    assert_eq!(data, vec![1, 4, 0, 1, 0, 1]);
}

#[test]
fn ipv6_session_negotiates_ipv6_unicast_only() {
    let mut ours = config();
    ours.families = vec![AfiSafi::IPV6_UNICAST];
    let open = OpenMsg::new(
        REMOTE_AS,
        90,
        PEER_ID,
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
        ],
    );
    let mut fsm = in_opensent(ours);
    receive(&mut fsm, OUT, Message::Open(open));
    let outputs = receive(&mut fsm, OUT, Message::Keepalive);
    let session = outputs
        .iter()
        .find_map(|o| match o {
            Output::Established { session, .. } => Some(session.clone()),
            _ => None,
        })
        .expect("established");
    assert_eq!(session.families, vec![AfiSafi::IPV6_UNICAST]);
    assert!(session.four_octet_as);
}

#[test]
fn our_open_advertises_families_route_refresh_and_four_octet_as() {
    let mut fsm = bgp::fsm::Fsm::new(config());
    fsm.handle(bgp::fsm::Input::ManualStart);
    let outputs = connected(&mut fsm, OUT);
    let Some(Message::Open(open)) = sent(&outputs, OUT).into_iter().next() else {
        panic!("no OPEN in {outputs:?}");
    };
    assert_eq!(
        (open.version, open.my_as, open.hold_time, open.bgp_id),
        (4, 64500, 90, LOCAL_ID)
    );
    assert_eq!(
        open.families().collect::<Vec<_>>(),
        vec![AfiSafi::IPV4_UNICAST]
    );
    assert!(open.has_route_refresh());
    assert_eq!(open.four_octet_as(), Some(LOCAL_AS));
    assert!(open.graceful_restart().is_none());
}

#[test]
fn graceful_restart_capability_advertised_when_configured() {
    let mut ours = config();
    ours.graceful_restart = Some(120);
    let mut fsm = bgp::fsm::Fsm::new(ours);
    fsm.handle(bgp::fsm::Input::ManualStart);
    let outputs = connected(&mut fsm, OUT);
    let Some(Message::Open(open)) = sent(&outputs, OUT).into_iter().next() else {
        panic!("no OPEN in {outputs:?}");
    };
    let gr = open
        .graceful_restart()
        .expect("graceful restart capability");
    assert_eq!(gr.restart_time, 120);
    assert!(
        gr.restarting,
        "first session after start has the Restart State bit"
    );
    assert_eq!(gr.families, vec![(AfiSafi::IPV4_UNICAST, true)]);
}

#[test]
fn four_octet_local_as_sends_as_trans() {
    let mut ours = config();
    ours.local_as = 4_200_000_000;
    let mut fsm = bgp::fsm::Fsm::new(ours);
    fsm.handle(bgp::fsm::Input::ManualStart);
    let outputs = connected(&mut fsm, OUT);
    let Some(Message::Open(open)) = sent(&outputs, OUT).into_iter().next() else {
        panic!("no OPEN in {outputs:?}");
    };
    assert_eq!(open.my_as, AS_TRANS);
    assert_eq!(open.four_octet_as(), Some(4_200_000_000));
}

/// The session parameters after `open` in OpenSent and the peer's KEEPALIVE.
fn established_with(open: OpenMsg) -> bgp::fsm::Negotiated {
    let mut fsm = in_opensent(config());
    receive(&mut fsm, OUT, Message::Open(open));
    let outputs = receive(&mut fsm, OUT, Message::Keepalive);
    outputs
        .iter()
        .find_map(|o| match o {
            Output::Established { session, .. } => Some(session.clone()),
            _ => None,
        })
        .expect("established")
}

#[test]
fn our_open_offers_extended_messages() {
    let mut fsm = bgp::fsm::Fsm::new(config());
    fsm.handle(bgp::fsm::Input::ManualStart);
    let outputs = connected(&mut fsm, OUT);
    let Some(Message::Open(open)) = sent(&outputs, OUT).into_iter().next() else {
        panic!("no OPEN in {outputs:?}");
    };
    assert!(open.has_extended_message());
}

#[test]
fn extended_messages_are_negotiated_when_the_peer_offers_them_too() {
    let mut open = peer_open(90);
    open.capabilities.push(Capability::ExtendedMessage);
    let session = established_with(open);
    assert!(session.extended_message);
    assert_eq!(session.codec_context().max_message_len(), 65535);
}

#[test]
fn a_peer_without_extended_messages_keeps_the_session_at_4096_octets() {
    let session = established_with(peer_open(90));
    assert!(!session.extended_message);
    assert_eq!(session.codec_context().max_message_len(), 4096);
}
