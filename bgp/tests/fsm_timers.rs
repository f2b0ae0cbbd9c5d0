//! Hold, keepalive and connect-retry timers (RFC 4271 sections 8.2.2 and 10).

mod fsm_support;

use std::time::Duration;

use bgp::fsm::{Fsm, Input, LARGE_HOLD_TIME, MAX_CONNECT_RETRY, Output, SessionState, Timer};
use bgp::packet::iana::error_code;
use bgp::packet::{Message, UpdateMsg};
use fsm_support::*;

fn expect_hold_timer_notification(fsm: &mut Fsm) {
    let outputs = fsm.handle(Input::TimerExpired(Timer::Hold(OUT)));
    let n = notification(&outputs, OUT).expect("notification");
    assert_eq!((n.code, n.subcode), (error_code::HOLD_TIMER_EXPIRED, 0));
    assert!(closed(&outputs, OUT));
    assert!(went_idle_then_active(&outputs), "{outputs:?}");
    assert!(outputs.contains(&Output::StopTimer(Timer::Keepalive(OUT))));
}

#[test]
fn opensent_uses_large_hold_time() {
    let mut fsm = Fsm::new(config());
    fsm.handle(Input::ManualStart);
    let outputs = connected(&mut fsm, OUT);
    assert_eq!(
        timer_started(&outputs, Timer::Hold(OUT)),
        Some(LARGE_HOLD_TIME)
    );
    assert_eq!(LARGE_HOLD_TIME, Duration::from_secs(240));
}

#[test]
fn hold_timer_expiry_in_opensent_sends_notification_code_4() {
    let mut fsm = in_opensent(config());
    expect_hold_timer_notification(&mut fsm);
}

#[test]
fn hold_timer_expiry_in_openconfirm_sends_notification_code_4() {
    let (mut fsm, _) = in_openconfirm(config(), 90);
    expect_hold_timer_notification(&mut fsm);
}

#[test]
fn hold_timer_expiry_in_established_sends_notification_code_4() {
    let mut fsm = in_established(config(), 90);
    expect_hold_timer_notification(&mut fsm);
}

#[test]
fn hold_timer_restarts_on_keepalive_and_update_in_established() {
    let mut fsm = in_established(config(), 30);
    let outputs = receive(&mut fsm, OUT, Message::Keepalive);
    assert_eq!(
        timer_started(&outputs, Timer::Hold(OUT)),
        Some(Duration::from_secs(30))
    );
    let outputs = receive(&mut fsm, OUT, Message::Update(UpdateMsg::default()));
    assert_eq!(
        timer_started(&outputs, Timer::Hold(OUT)),
        Some(Duration::from_secs(30))
    );
}

#[test]
fn keepalive_timer_sends_keepalive_and_restarts() {
    let mut fsm = in_established(config(), 90);
    let outputs = fsm.handle(Input::TimerExpired(Timer::Keepalive(OUT)));
    assert_eq!(sent(&outputs, OUT), vec![Message::Keepalive]);
    assert_eq!(
        timer_started(&outputs, Timer::Keepalive(OUT)),
        Some(Duration::from_secs(30))
    );
}

#[test]
fn timers_of_a_closed_connection_are_ignored() {
    let mut fsm = in_established(config(), 90);
    fsm.handle(Input::TcpClosed { conn: OUT });
    assert!(
        fsm.handle(Input::TimerExpired(Timer::Keepalive(OUT)))
            .is_empty()
    );
    assert!(fsm.handle(Input::TimerExpired(Timer::Hold(OUT))).is_empty());
}

/// Fails `n` connection attempts in a row and returns the retry delay after each.
fn delays_after_failures(fsm: &mut Fsm, n: usize) -> Vec<Duration> {
    let mut delays = Vec::new();
    for _ in 0..n {
        let outputs = fsm.handle(Input::TcpConnectFailed);
        assert_eq!(fsm.state(), SessionState::Active);
        delays.push(timer_started(&outputs, Timer::ConnectRetry).expect("retry timer"));
        let outputs = fsm.handle(Input::TimerExpired(Timer::ConnectRetry));
        assert!(connects(&outputs));
        assert_eq!(fsm.state(), SessionState::Connect);
    }
    delays
}

#[test]
fn connect_retry_backs_off_with_jitter() {
    let mut fsm = Fsm::new(config());
    let outputs = fsm.handle(Input::ManualStart);
    assert!(connects(&outputs), "an active peer connects at once");
    let delays = delays_after_failures(&mut fsm, 8);
    for (failure, delay) in delays.iter().enumerate() {
        let nominal = Duration::from_secs(5 << failure).min(MAX_CONNECT_RETRY);
        assert!(
            *delay >= nominal.mul_f64(0.75) && *delay <= nominal,
            "failure {}: {delay:?} not within 0.75-1.0 of {nominal:?}",
            failure + 1
        );
    }
    let distinct_factors: std::collections::BTreeSet<u64> = delays
        .iter()
        .enumerate()
        .map(|(i, d)| {
            (d.as_secs_f64()
                / Duration::from_secs(5 << i)
                    .min(MAX_CONNECT_RETRY)
                    .as_secs_f64()
                * 1e6) as u64
        })
        .collect();
    assert!(distinct_factors.len() > 4, "jitter varies: {delays:?}");
}

#[test]
fn connect_retry_jitter_is_deterministic_per_seed() {
    let mut a = Fsm::new(config());
    let mut b = Fsm::new(config());
    a.handle(Input::ManualStart);
    b.handle(Input::ManualStart);
    assert_eq!(
        delays_after_failures(&mut a, 5),
        delays_after_failures(&mut b, 5)
    );
    let mut other_seed = config();
    other_seed.jitter_seed = 8;
    let mut c = Fsm::new(other_seed);
    c.handle(Input::ManualStart);
    let mut a2 = Fsm::new(config());
    a2.handle(Input::ManualStart);
    assert_ne!(
        delays_after_failures(&mut a2, 5),
        delays_after_failures(&mut c, 5)
    );
}

#[test]
fn connect_retry_backoff_resets_after_established() {
    let mut fsm = Fsm::new(config());
    fsm.handle(Input::ManualStart);
    delays_after_failures(&mut fsm, 5);
    connected(&mut fsm, OUT);
    receive(&mut fsm, OUT, Message::Open(peer_open(90)));
    receive(&mut fsm, OUT, Message::Keepalive);
    assert_eq!(fsm.state(), SessionState::Established);
    let outputs = fsm.handle(Input::TcpClosed { conn: OUT });
    assert!(went_idle_then_active(&outputs), "{outputs:?}");
    let delay = timer_started(&outputs, Timer::ConnectRetry).expect("retry timer");
    assert!(
        delay <= Duration::from_secs(5),
        "back to the base delay, got {delay:?}"
    );
    let outputs = fsm.handle(Input::TimerExpired(Timer::ConnectRetry));
    assert!(connects(&outputs));
}

#[test]
fn hung_connect_attempt_is_retried_when_connect_retry_expires() {
    let mut fsm = Fsm::new(config());
    fsm.handle(Input::ManualStart);
    let outputs = fsm.handle(Input::TimerExpired(Timer::ConnectRetry));
    assert!(connects(&outputs));
    assert!(timer_started(&outputs, Timer::ConnectRetry).is_some());
    assert_eq!(fsm.state(), SessionState::Connect);
}

#[test]
fn established_stops_connect_retry_and_abandons_our_attempt() {
    let mut fsm = Fsm::new(config());
    fsm.handle(Input::ManualStart);
    accepted(&mut fsm, IN);
    receive(&mut fsm, IN, Message::Open(peer_open(90)));
    let outputs = receive(&mut fsm, IN, Message::Keepalive);
    assert_eq!(fsm.state(), SessionState::Established);
    assert!(outputs.contains(&Output::AbortConnect));
    assert!(outputs.contains(&Output::StopTimer(Timer::ConnectRetry)));
}
