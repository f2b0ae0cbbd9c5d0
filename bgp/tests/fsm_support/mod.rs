//! Helpers shared by the FSM tests: a default peer, OPENs from the peer, and queries
//! over the outputs of `Fsm::handle`.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bgp::fsm::{ConnId, Fsm, FsmConfig, Input, Output, SessionState, Timer};
use bgp::packet::{AfiSafi, Capability, Message, NotificationMsg, OpenMsg};

pub const LOCAL_AS: u32 = 64500;
pub const REMOTE_AS: u32 = 64501;
pub const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
pub const PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
pub const OUT: ConnId = ConnId(1);
pub const IN: ConnId = ConnId(2);

pub fn config() -> FsmConfig {
    FsmConfig {
        local_as: LOCAL_AS,
        remote_as: REMOTE_AS,
        router_id: LOCAL_ID,
        hold_time: 90,
        keepalive: None,
        connect_retry: Duration::from_secs(5),
        passive: false,
        families: vec![AfiSafi::IPV4_UNICAST],
        graceful_restart: None,
        jitter_seed: 7,
    }
}

pub fn local() -> SocketAddr {
    "172.30.0.11:40000".parse().expect("address")
}

pub fn remote() -> SocketAddr {
    "172.30.0.1:179".parse().expect("address")
}

/// The OPEN a well-behaved peer sends: 4-octet AS and IPv4 unicast capabilities.
pub fn peer_open(hold_time: u16) -> OpenMsg {
    OpenMsg::new(
        REMOTE_AS,
        hold_time,
        PEER_ID,
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::RouteRefresh,
        ],
    )
}

pub fn connected(fsm: &mut Fsm, conn: ConnId) -> Vec<Output> {
    fsm.handle(Input::TcpConnected {
        conn,
        local: local(),
        remote: remote(),
    })
}

pub fn accepted(fsm: &mut Fsm, conn: ConnId) -> Vec<Output> {
    fsm.handle(Input::TcpAccepted {
        conn,
        local: "172.30.0.11:179".parse().expect("address"),
        remote: "172.30.0.1:51000".parse().expect("address"),
    })
}

pub fn receive(fsm: &mut Fsm, conn: ConnId, message: Message) -> Vec<Output> {
    fsm.handle(Input::MessageReceived { conn, message })
}

/// Started, connected (outgoing, `OUT`), OPEN sent.
pub fn in_opensent(config: FsmConfig) -> Fsm {
    let mut fsm = Fsm::new(config);
    fsm.handle(Input::ManualStart);
    connected(&mut fsm, OUT);
    assert_eq!(fsm.state(), SessionState::OpenSent);
    fsm
}

/// OpenSent plus the peer's OPEN with `peer_hold`.
pub fn in_openconfirm(config: FsmConfig, peer_hold: u16) -> (Fsm, Vec<Output>) {
    let mut fsm = in_opensent(config);
    let outputs = receive(&mut fsm, OUT, Message::Open(peer_open(peer_hold)));
    assert_eq!(
        fsm.state(),
        SessionState::OpenConfirm,
        "outputs: {outputs:?}"
    );
    (fsm, outputs)
}

pub fn in_established(config: FsmConfig, peer_hold: u16) -> Fsm {
    let (mut fsm, _) = in_openconfirm(config, peer_hold);
    receive(&mut fsm, OUT, Message::Keepalive);
    assert_eq!(fsm.state(), SessionState::Established);
    fsm
}

pub fn sent(outputs: &[Output], conn: ConnId) -> Vec<Message> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { conn: c, message } if *c == conn => Some(message.clone()),
            _ => None,
        })
        .collect()
}

pub fn notification(outputs: &[Output], conn: ConnId) -> Option<NotificationMsg> {
    sent(outputs, conn).into_iter().find_map(|m| match m {
        Message::Notification(n) => Some(n),
        _ => None,
    })
}

pub fn closed(outputs: &[Output], conn: ConnId) -> bool {
    outputs.contains(&Output::Close { conn })
}

pub fn timer_started(outputs: &[Output], timer: Timer) -> Option<Duration> {
    outputs.iter().rev().find_map(|o| match o {
        Output::StartTimer { timer: t, after } if *t == timer => Some(*after),
        _ => None,
    })
}

pub fn connects(outputs: &[Output]) -> bool {
    outputs.contains(&Output::Connect)
}

pub fn state_change(outputs: &[Output]) -> Option<(SessionState, SessionState)> {
    outputs.iter().find_map(|o| match o {
        Output::StateChanged { from, to, .. } => Some((*from, *to)),
        _ => None,
    })
}

/// Every state change in `outputs`, in order.
pub fn transitions(outputs: &[Output]) -> Vec<(SessionState, SessionState)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::StateChanged { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

/// The session went down to Idle and, restarting automatically, on to Active.
pub fn went_idle_then_active(outputs: &[Output]) -> bool {
    let changes = transitions(outputs);
    changes.len() == 2
        && changes[0].1 == SessionState::Idle
        && changes[1] == (SessionState::Idle, SessionState::Active)
}
