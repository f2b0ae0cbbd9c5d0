//! Connection collision detection (RFC 4271 section 6.8, RFC 6286 section 2.3) and the
//! graceful restart helper's view of a peer that reconnects (RFC 4724 section 4.2).

mod fsm_support;

use std::net::Ipv4Addr;

use bgp::fsm::{Direction, Fsm, Input, Output, Reason, SessionState, collision_winner};
use bgp::packet::iana::{cease_subcode, error_code};
use bgp::packet::{AfiSafi, Capability, GracefulRestart, Message, OpenMsg};
use fsm_support::*;

const LOWER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const HIGHER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 200);

fn open_from(id: Ipv4Addr) -> Message {
    Message::Open(OpenMsg::new(
        REMOTE_AS,
        90,
        id,
        vec![Capability::Multiprotocol(AfiSafi::IPV4_UNICAST)],
    ))
}

/// Both connections up and in OpenSent: ours (`OUT`) and the peer's (`IN`).
fn two_connections() -> Fsm {
    let mut fsm = Fsm::new(config());
    fsm.handle(Input::ManualStart);
    accepted(&mut fsm, IN);
    connected(&mut fsm, OUT);
    assert_eq!(fsm.state(), SessionState::OpenSent);
    fsm
}

fn assert_collision_cease(outputs: &[Output], conn: bgp::fsm::ConnId) {
    let n = notification(outputs, conn)
        .unwrap_or_else(|| panic!("no NOTIFICATION on {conn:?}: {outputs:?}"));
    assert_eq!(
        (n.code, n.subcode),
        (
            error_code::CEASE,
            cease_subcode::CONNECTION_COLLISION_RESOLUTION
        )
    );
    assert!(closed(outputs, conn));
}

#[test]
fn collision_keeps_connection_from_higher_router_id_when_we_are_higher() {
    // Our id 10.0.0.5 beats the peer's 10.0.0.1: our connection stays, whichever OPEN comes first.
    let mut fsm = two_connections();
    let outputs = receive(&mut fsm, IN, open_from(LOWER_ID));
    assert_collision_cease(&outputs, IN);
    assert_eq!(fsm.state(), SessionState::OpenSent);
    receive(&mut fsm, OUT, open_from(LOWER_ID));
    receive(&mut fsm, OUT, Message::Keepalive);
    assert_eq!(fsm.established().map(|(conn, _)| conn), Some(OUT));

    // The first OPEN tells us the peer's identifier, which settles the collision at once.
    let mut fsm = two_connections();
    let outputs = receive(&mut fsm, OUT, open_from(LOWER_ID));
    assert!(!closed(&outputs, OUT));
    assert_collision_cease(&outputs, IN);
    assert_eq!(fsm.state(), SessionState::OpenConfirm);
}

#[test]
fn collision_keeps_connection_from_higher_router_id_when_the_peer_is_higher() {
    // The peer's 10.0.0.200 beats our 10.0.0.5: the peer's connection stays.
    let mut fsm = two_connections();
    let outputs = receive(&mut fsm, OUT, open_from(HIGHER_ID));
    assert_collision_cease(&outputs, OUT);
    assert_eq!(fsm.state(), SessionState::OpenSent);
    receive(&mut fsm, IN, open_from(HIGHER_ID));
    let outputs = receive(&mut fsm, IN, Message::Keepalive);
    assert!(outputs.iter().any(|o| matches!(o, Output::Established { conn, session } if *conn == IN && session.direction == Direction::Incoming)));

    let mut fsm = two_connections();
    let outputs = receive(&mut fsm, IN, open_from(HIGHER_ID));
    assert_collision_cease(&outputs, OUT);
    assert_eq!(
        fsm.state(),
        SessionState::OpenConfirm,
        "the peer's connection goes on"
    );
}

#[test]
fn collision_with_equal_router_ids_keeps_connection_from_higher_as() {
    assert_eq!(
        collision_winner(LOCAL_ID, LOCAL_ID, 64500, 64501),
        Direction::Incoming
    );
    assert_eq!(
        collision_winner(LOCAL_ID, LOCAL_ID, 64502, 64501),
        Direction::Outgoing
    );
    let mut fsm = two_connections();
    let outputs = receive(&mut fsm, OUT, open_from(LOCAL_ID));
    assert_collision_cease(&outputs, OUT);
}

#[test]
fn router_ids_compare_as_unsigned_integers() {
    let high_bit = Ipv4Addr::new(200, 0, 0, 1);
    assert_eq!(
        collision_winner(high_bit, Ipv4Addr::new(100, 0, 0, 1), 1, 2),
        Direction::Outgoing
    );
    assert_eq!(
        collision_winner(
            Ipv4Addr::new(9, 255, 255, 255),
            Ipv4Addr::new(10, 0, 0, 0),
            1,
            2
        ),
        Direction::Incoming
    );
}

#[test]
fn collision_with_established_session_closes_the_new_connection() {
    let mut fsm = in_established(config(), 90);
    let outputs = accepted(&mut fsm, IN);
    assert!(
        matches!(sent(&outputs, IN).as_slice(), [Message::Open(_)]),
        "tracked until its OPEN"
    );
    let outputs = receive(&mut fsm, IN, open_from(HIGHER_ID));
    assert_collision_cease(&outputs, IN);
    assert_eq!(fsm.established().map(|(conn, _)| conn), Some(OUT));
}

#[test]
fn third_connection_is_rejected() {
    let mut fsm = two_connections();
    let outputs = accepted(&mut fsm, bgp::fsm::ConnId(3));
    let n = notification(&outputs, bgp::fsm::ConnId(3)).expect("notification");
    assert_eq!(
        (n.code, n.subcode),
        (error_code::CEASE, cease_subcode::CONNECTION_REJECTED)
    );
}

#[test]
fn peer_restart_with_graceful_restart_replaces_the_established_session() {
    let mut ours = config();
    ours.graceful_restart = Some(120);
    let gr = Capability::GracefulRestart(GracefulRestart {
        restarting: false,
        notification: false,
        restart_time: 120,
        families: vec![(AfiSafi::IPV4_UNICAST, true)],
    });
    let open = |restarting: bool| {
        let mut caps = vec![Capability::Multiprotocol(AfiSafi::IPV4_UNICAST), gr.clone()];
        if let Capability::GracefulRestart(g) = &mut caps[1] {
            g.restarting = restarting;
        }
        Message::Open(OpenMsg::new(REMOTE_AS, 90, PEER_ID, caps))
    };
    let mut fsm = in_opensent(ours);
    receive(&mut fsm, OUT, open(false));
    receive(&mut fsm, OUT, Message::Keepalive);
    assert_eq!(fsm.state(), SessionState::Established);

    accepted(&mut fsm, IN);
    let outputs = receive(&mut fsm, IN, open(true));
    assert!(closed(&outputs, OUT), "the old connection is closed");
    assert!(
        notification(&outputs, OUT).is_none(),
        "without a NOTIFICATION"
    );
    assert!(notification(&outputs, IN).is_none());
    let change = outputs.iter().find_map(|o| match o {
        Output::StateChanged { from, to, reason } => Some((*from, *to, reason.clone())),
        _ => None,
    });
    assert_eq!(
        change,
        Some((
            SessionState::Established,
            SessionState::OpenConfirm,
            Some(Reason::PeerRestarted)
        ))
    );
    receive(&mut fsm, IN, Message::Keepalive);
    assert_eq!(fsm.established().map(|(conn, _)| conn), Some(IN));
}

#[test]
fn late_connection_from_higher_router_id_replaces_ours_in_openconfirm() {
    let mut fsm = in_opensent(config());
    receive(&mut fsm, OUT, open_from(HIGHER_ID));
    assert_eq!(fsm.state(), SessionState::OpenConfirm);
    accepted(&mut fsm, IN);
    let outputs = receive(&mut fsm, IN, open_from(HIGHER_ID));
    assert_collision_cease(&outputs, OUT);
    assert_eq!(fsm.state(), SessionState::OpenConfirm);
    receive(&mut fsm, IN, Message::Keepalive);
    assert_eq!(fsm.established().map(|(conn, _)| conn), Some(IN));
}

#[test]
fn late_connection_from_lower_router_id_is_closed() {
    let mut fsm = in_opensent(config());
    receive(&mut fsm, OUT, open_from(LOWER_ID));
    accepted(&mut fsm, IN);
    let outputs = receive(&mut fsm, IN, open_from(LOWER_ID));
    assert_collision_cease(&outputs, IN);
    receive(&mut fsm, OUT, Message::Keepalive);
    assert_eq!(fsm.established().map(|(conn, _)| conn), Some(OUT));
}
