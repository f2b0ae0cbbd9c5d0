//! State transitions of RFC 4271 section 8.2.2 and the FSM errors of RFC 6608.

mod fsm_support;

use bgp::fsm::{Fsm, Input, Output, Reason, SessionState, StopReason, Timer};
use bgp::packet::iana::{cease_subcode, error_code, fsm_subcode};
use bgp::packet::{AfiSafi, DecodeError, Message, NotificationMsg, RouteRefreshMsg, UpdateMsg};
use fsm_support::*;

fn fsm_error(outputs: &[Output]) -> (u8, u8) {
    let n = notification(outputs, OUT).expect("notification");
    (n.code, n.subcode)
}

#[test]
fn active_peer_connects_on_start() {
    let mut fsm = Fsm::new(config());
    assert_eq!(fsm.state(), SessionState::Idle);
    let outputs = fsm.handle(Input::ManualStart);
    assert!(connects(&outputs));
    assert_eq!(
        state_change(&outputs),
        Some((SessionState::Idle, SessionState::Connect))
    );
}

#[test]
fn passive_peer_never_connects() {
    let mut passive = config();
    passive.passive = true;
    let mut fsm = Fsm::new(passive);
    let mut outputs = fsm.handle(Input::ManualStart);
    assert_eq!(fsm.state(), SessionState::Active);
    // Whatever happens to its sessions, it waits for the peer.
    accepted(&mut fsm, IN);
    receive(&mut fsm, IN, Message::Open(peer_open(90)));
    let closed_outputs = fsm.handle(Input::TcpClosed { conn: IN });
    assert!(went_idle_then_active(&closed_outputs), "{closed_outputs:?}");
    assert_eq!(timer_started(&closed_outputs, Timer::ConnectRetry), None);
    outputs.extend(closed_outputs);
    outputs.extend(fsm.handle(Input::TimerExpired(Timer::ConnectRetry)));
    assert_eq!(fsm.state(), SessionState::Active);
    assert!(!connects(&outputs), "{outputs:?}");
}

#[test]
fn passive_peer_accepts_the_peer_connection() {
    let mut passive = config();
    passive.passive = true;
    let mut fsm = Fsm::new(passive);
    fsm.handle(Input::ManualStart);
    let outputs = accepted(&mut fsm, IN);
    assert!(matches!(sent(&outputs, IN).as_slice(), [Message::Open(_)]));
    assert_eq!(fsm.state(), SessionState::OpenSent);
}

#[test]
fn stopped_peer_refuses_connections_with_cease_connection_rejected() {
    let mut fsm = Fsm::new(config());
    let outputs = accepted(&mut fsm, IN);
    let n = notification(&outputs, IN).expect("notification");
    assert_eq!(
        (n.code, n.subcode),
        (error_code::CEASE, cease_subcode::CONNECTION_REJECTED)
    );
    assert!(closed(&outputs, IN));
    assert_eq!(fsm.state(), SessionState::Idle);
}

#[test]
fn connect_failure_goes_active_and_accepts_the_peer() {
    let mut fsm = Fsm::new(config());
    fsm.handle(Input::ManualStart);
    let outputs = fsm.handle(Input::TcpConnectFailed);
    assert_eq!(
        state_change(&outputs),
        Some((SessionState::Connect, SessionState::Active))
    );
    let outputs = accepted(&mut fsm, IN);
    assert_eq!(fsm.state(), SessionState::OpenSent);
    assert!(outputs.contains(&Output::StopTimer(Timer::ConnectRetry)));
}

#[test]
fn full_handshake_reaches_established() {
    let mut fsm = Fsm::new(config());
    fsm.handle(Input::ManualStart);
    let outputs = connected(&mut fsm, OUT);
    assert!(matches!(sent(&outputs, OUT).as_slice(), [Message::Open(_)]));
    let outputs = receive(&mut fsm, OUT, Message::Open(peer_open(90)));
    assert_eq!(sent(&outputs, OUT), vec![Message::Keepalive]);
    let outputs = receive(&mut fsm, OUT, Message::Keepalive);
    assert_eq!(
        state_change(&outputs),
        Some((SessionState::OpenConfirm, SessionState::Established))
    );
    let (conn, session) = fsm.established().expect("established");
    assert_eq!(conn, OUT);
    assert_eq!(
        (session.peer_as, session.peer_id, session.hold_time),
        (REMOTE_AS, PEER_ID, 90)
    );
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Established { conn: OUT, .. }))
    );
}

#[test]
fn unexpected_update_in_opensent_is_fsm_error() {
    let mut fsm = in_opensent(config());
    let outputs = receive(&mut fsm, OUT, Message::Update(UpdateMsg::default()));
    assert_eq!(
        fsm_error(&outputs),
        (error_code::FSM, fsm_subcode::UNEXPECTED_MESSAGE_IN_OPENSENT)
    );
    assert!(went_idle_then_active(&outputs), "{outputs:?}");
}

#[test]
fn unexpected_keepalive_in_opensent_is_fsm_error() {
    let mut fsm = in_opensent(config());
    let outputs = receive(&mut fsm, OUT, Message::Keepalive);
    assert_eq!(
        fsm_error(&outputs),
        (error_code::FSM, fsm_subcode::UNEXPECTED_MESSAGE_IN_OPENSENT)
    );
}

#[test]
fn unexpected_update_in_openconfirm_is_fsm_error() {
    let (mut fsm, _) = in_openconfirm(config(), 90);
    let outputs = receive(&mut fsm, OUT, Message::Update(UpdateMsg::default()));
    assert_eq!(
        fsm_error(&outputs),
        (
            error_code::FSM,
            fsm_subcode::UNEXPECTED_MESSAGE_IN_OPENCONFIRM
        )
    );
}

#[test]
fn second_open_in_openconfirm_is_fsm_error() {
    let (mut fsm, _) = in_openconfirm(config(), 90);
    let outputs = receive(&mut fsm, OUT, Message::Open(peer_open(90)));
    assert_eq!(
        fsm_error(&outputs),
        (
            error_code::FSM,
            fsm_subcode::UNEXPECTED_MESSAGE_IN_OPENCONFIRM
        )
    );
}

#[test]
fn open_in_established_is_fsm_error() {
    let mut fsm = in_established(config(), 90);
    let outputs = receive(&mut fsm, OUT, Message::Open(peer_open(90)));
    assert_eq!(
        fsm_error(&outputs),
        (
            error_code::FSM,
            fsm_subcode::UNEXPECTED_MESSAGE_IN_ESTABLISHED
        )
    );
    assert!(went_idle_then_active(&outputs), "{outputs:?}");
}

#[test]
fn notification_received_goes_idle() {
    for mut fsm in [
        in_opensent(config()),
        in_openconfirm(config(), 90).0,
        in_established(config(), 90),
    ] {
        let cease = NotificationMsg {
            code: error_code::CEASE,
            subcode: cease_subcode::ADMINISTRATIVE_RESET,
            data: vec![],
        };
        let outputs = receive(&mut fsm, OUT, Message::Notification(cease.clone()));
        assert!(went_idle_then_active(&outputs), "{outputs:?}");
        assert!(closed(&outputs, OUT));
        assert!(
            notification(&outputs, OUT).is_none(),
            "no NOTIFICATION in reply to one"
        );
        let reason = outputs.iter().find_map(|o| match o {
            Output::StateChanged { reason, .. } => reason.clone(),
            _ => None,
        });
        assert_eq!(reason, Some(Reason::NotificationReceived(cease)));
        // And it comes back after the backoff.
        assert!(timer_started(&outputs, Timer::ConnectRetry).is_some());
        let outputs = fsm.handle(Input::TimerExpired(Timer::ConnectRetry));
        assert!(connects(&outputs));
    }
}

#[test]
fn manual_stop_sends_cease_admin_shutdown() {
    let mut fsm = in_established(config(), 90);
    let outputs = fsm.handle(Input::ManualStop(StopReason::AdministrativeShutdown));
    let n = notification(&outputs, OUT).expect("notification");
    assert_eq!(
        (n.code, n.subcode),
        (error_code::CEASE, cease_subcode::ADMINISTRATIVE_SHUTDOWN)
    );
    assert!(closed(&outputs, OUT));
    assert_eq!(fsm.state(), SessionState::Idle);
    // Stopped means stopped: no retry, connections refused.
    assert!(
        fsm.handle(Input::TimerExpired(Timer::ConnectRetry))
            .is_empty()
    );
    let outputs = accepted(&mut fsm, IN);
    assert!(closed(&outputs, IN));
}

#[test]
fn manual_stop_reason_selects_the_cease_subcode() {
    let mut fsm = in_established(config(), 90);
    let outputs = fsm.handle(Input::ManualStop(StopReason::PeerDeconfigured));
    let n = notification(&outputs, OUT).expect("notification");
    assert_eq!(
        (n.code, n.subcode),
        (error_code::CEASE, cease_subcode::PEER_DECONFIGURED)
    );
}

#[test]
fn manual_stop_while_connecting_abandons_the_attempt() {
    let mut fsm = Fsm::new(config());
    fsm.handle(Input::ManualStart);
    let outputs = fsm.handle(Input::ManualStop(StopReason::AdministrativeShutdown));
    assert!(outputs.contains(&Output::AbortConnect));
    assert!(outputs.contains(&Output::StopTimer(Timer::ConnectRetry)));
    assert_eq!(fsm.state(), SessionState::Idle);
    // A late success of the abandoned attempt is closed.
    let outputs = connected(&mut fsm, OUT);
    assert!(closed(&outputs, OUT));
    assert_eq!(fsm.state(), SessionState::Idle);
}

#[test]
fn decode_error_sends_its_notification() {
    let mut fsm = in_established(config(), 90);
    let error = DecodeError::ConnectionNotSynchronized;
    let outputs = fsm.handle(Input::DecodeFailed {
        conn: OUT,
        error: error.clone(),
    });
    assert_eq!(
        notification(&outputs, OUT),
        Some(NotificationMsg::from(&error))
    );
    assert!(closed(&outputs, OUT));
    assert!(went_idle_then_active(&outputs), "{outputs:?}");
}

#[test]
fn connection_closed_in_opensent_goes_active() {
    let mut fsm = in_opensent(config());
    let outputs = fsm.handle(Input::TcpClosed { conn: OUT });
    assert_eq!(
        state_change(&outputs),
        Some((SessionState::OpenSent, SessionState::Active))
    );
    assert!(timer_started(&outputs, Timer::ConnectRetry).is_some());
}

#[test]
fn connection_closed_in_established_goes_idle() {
    let mut fsm = in_established(config(), 90);
    let outputs = fsm.handle(Input::TcpClosed { conn: OUT });
    assert_eq!(
        state_change(&outputs),
        Some((SessionState::Established, SessionState::Idle))
    );
    let reason = outputs.iter().find_map(|o| match o {
        Output::StateChanged { reason, .. } => reason.clone(),
        _ => None,
    });
    assert_eq!(reason, Some(Reason::ConnectionClosed));
}

#[test]
fn peer_accepts_connections_while_waiting_to_retry() {
    let mut fsm = in_established(config(), 90);
    let outputs = fsm.handle(Input::TimerExpired(Timer::Hold(OUT)));
    assert!(went_idle_then_active(&outputs), "{outputs:?}");
    assert!(timer_started(&outputs, Timer::ConnectRetry).is_some());
    let outputs = accepted(&mut fsm, IN);
    assert!(!closed(&outputs, IN));
    assert_eq!(fsm.state(), SessionState::OpenSent);
    assert!(outputs.contains(&Output::StopTimer(Timer::ConnectRetry)));
}

#[test]
fn update_received_in_established_is_reported() {
    let mut fsm = in_established(config(), 90);
    let update = UpdateMsg {
        nlri: vec!["10.1.0.0/16".parse().expect("prefix")],
        ..UpdateMsg::default()
    };
    let outputs = receive(&mut fsm, OUT, Message::Update(update.clone()));
    assert!(outputs.contains(&Output::UpdateReceived { conn: OUT, update }));
}

#[test]
fn route_refresh_request_reported_for_negotiated_family_only() {
    let mut fsm = in_established(config(), 90);
    let refresh = |family| Message::RouteRefresh(RouteRefreshMsg { family, subtype: 0 });
    let outputs = receive(&mut fsm, OUT, refresh(AfiSafi::IPV4_UNICAST));
    assert!(outputs.contains(&Output::RouteRefreshRequested {
        conn: OUT,
        family: AfiSafi::IPV4_UNICAST
    }));
    let outputs = receive(&mut fsm, OUT, refresh(AfiSafi::IPV6_UNICAST));
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::RouteRefreshRequested { .. }))
    );
    assert_eq!(fsm.state(), SessionState::Established);
}

#[test]
fn messages_on_unknown_connections_are_ignored() {
    let mut fsm = in_established(config(), 90);
    assert!(receive(&mut fsm, bgp::fsm::ConnId(99), Message::Keepalive).is_empty());
    assert!(
        fsm.handle(Input::TcpClosed {
            conn: bgp::fsm::ConnId(99)
        })
        .is_empty()
    );
    assert_eq!(fsm.state(), SessionState::Established);
}

#[test]
fn manual_stop_for_graceful_restart_closes_without_notification() {
    let mut fsm = in_established(config(), 90);
    let outputs = fsm.handle(Input::ManualStop(StopReason::GracefulRestart));
    assert!(notification(&outputs, OUT).is_none(), "{outputs:?}");
    assert!(closed(&outputs, OUT));
    assert_eq!(fsm.state(), SessionState::Idle);
}

#[test]
fn bfd_down_ends_an_established_session_with_cease_bfd_down_and_retries() {
    let mut fsm = in_established(config(), 90);
    let outputs = fsm.handle(Input::BfdDown);
    assert_eq!(
        fsm_error(&outputs),
        (error_code::CEASE, cease_subcode::BFD_DOWN)
    );
    assert!(closed(&outputs, OUT));
    assert!(went_idle_then_active(&outputs), "{outputs:?}");
    // The automatic restart (RFC 4271 section 8.1.1): connect again after the backoff.
    assert!(timer_started(&outputs, Timer::ConnectRetry).is_some());
    assert_eq!(
        notification(&outputs, OUT).map(|n| n.to_string()),
        Some("Cease/BFD Down".to_owned())
    );
}

#[test]
fn bfd_down_without_a_connection_changes_nothing() {
    let mut fsm = Fsm::new(config());
    fsm.handle(Input::ManualStart);
    let outputs = fsm.handle(Input::BfdDown);
    assert!(outputs.is_empty(), "{outputs:?}");
    assert_eq!(fsm.state(), SessionState::Connect);
}
