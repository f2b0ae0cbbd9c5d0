//! Active TCP checks against real backends: a dead backend is marked down within
//! fall × interval, and the address's serving state turns Withdraw when the last backend
//! is down and Announce when one returns (what the BGP driver follows).

mod proxy_support;

use std::time::{Duration, Instant};

use herald_core::ServiceKey;
use herald_speaker::proxy::driver::ServingMap;
use herald_speaker::proxy::health::{HealthCheck, HealthState};
use herald_speaker::proxy::listener::ProxyOptions;
use herald_speaker::proxy::select::ListenerTimers;
use herald_speaker::proxy::serving::{Serving, WithdrawReason};
use herald_testsupport::wait::{ms, wait_until};
use proxy_support::{ProxyLab, VIP4, VIP6, ip, listener, sock, url};

const INTERVAL: Duration = Duration::from_millis(100);
const FALL: u32 = 3;

fn options() -> ProxyOptions {
    ProxyOptions {
        health_check: Some(HealthCheck {
            interval: INTERVAL,
            rise: 2,
            fall: FALL,
            initial: HealthState::Up,
        }),
        ..ProxyOptions::default()
    }
}

fn serving_of(lab: &ProxyLab, address: &str) -> Option<Serving> {
    lab.serving()
        .get(&(ServiceKey::new("ns", "web"), ip(address)))
        .copied()
}

fn wait_serving(lab: &ProxyLab, address: &str, wanted: Serving) -> Duration {
    let (_, took) = wait_until(
        Duration::from_secs(10),
        &format!("{address} to be {wanted:?}"),
        || (serving_of(lab, address) == Some(wanted)).then_some(()),
        || format!("{:?}", serving_of(lab, address)),
    );
    took
}

#[test]
fn the_last_backend_down_withdraws_the_address_and_one_back_up_announces_it() {
    let mut lab = ProxyLab::new("health", options());
    let (a, b) = (sock("[::1]:8001"), sock("[::1]:8002"));
    lab.http_backend("a", a);
    lab.http_backend("b", b);
    lab.apply(vec![listener(VIP6, 80, &[a, b])]);
    let front = sock("[fd00:99::1]:80");
    wait_serving(&lab, VIP6, Serving::Announce);

    let killed = Instant::now();
    lab.kill_backend(a);
    let (_, _) = wait_until(
        Duration::from_secs(10),
        "the killed backend to be marked down",
        || {
            let snapshot = lab.snapshot(front);
            (snapshot.backends[0].health == HealthState::Down).then_some(())
        },
        || format!("{:?}", lab.snapshot(front).backends),
    );
    let marked_down = killed.elapsed();
    println!(
        "backend marked down {} after the kill (fall {FALL} x interval {})",
        ms(marked_down),
        ms(INTERVAL)
    );
    // fall checks, plus one interval of phase and a generous margin for a loaded machine.
    assert!(
        marked_down < INTERVAL * (FALL + 1) + Duration::from_secs(2),
        "{marked_down:?}"
    );
    assert_eq!(serving_of(&lab, VIP6), Some(Serving::Announce));
    assert_eq!(lab.curl(&url(front), &[]).as_deref(), Ok("b"));

    lab.kill_backend(b);
    let took = wait_serving(
        &lab,
        VIP6,
        Serving::Withdraw(WithdrawReason::NoHealthyBackend { port: 80 }),
    );
    println!("withdrawn {} after the last backend was killed", ms(took));

    lab.http_backend("a", a);
    let took = wait_serving(&lab, VIP6, Serving::Announce);
    println!("announced {} after a backend came back", ms(took));
    assert_eq!(lab.curl(&url(front), &[]).as_deref(), Ok("a"));
}

#[test]
fn the_serving_watch_fires_on_each_change() {
    let mut lab = ProxyLab::new("health-watch", options());
    let a = sock("127.0.0.1:8001");
    lab.http_backend("a", a);
    let mut changes = lab.driver.blocking_lock().serving();
    lab.apply(vec![listener(VIP4, 80, &[a])]);
    let key = (ServiceKey::new("ns", "web"), ip(VIP4));
    let next_decision = |changes: &mut tokio::sync::watch::Receiver<ServingMap>, lab: &ProxyLab| {
        let mut receiver = changes.clone();
        let decision = lab.runtime.block_on(async move {
            tokio::time::timeout(Duration::from_secs(10), receiver.changed())
                .await
                .expect("a change within 10 s")
                .expect("driver alive");
            let map: ServingMap = receiver.borrow_and_update().clone();
            (map, receiver)
        });
        *changes = decision.1;
        decision.0.get(&key).copied()
    };
    // First the listener without a bound socket, then bound: Announce.
    let mut decision = next_decision(&mut changes, &lab);
    while decision != Some(Serving::Announce) {
        decision = next_decision(&mut changes, &lab);
    }
    lab.kill_backend(a);
    assert_eq!(
        next_decision(&mut changes, &lab),
        Some(Serving::Withdraw(WithdrawReason::NoHealthyBackend {
            port: 80
        }))
    );
    // An update that removes the backend: no backend at all.
    lab.apply(vec![listener(VIP4, 80, &[])]);
    assert_eq!(
        next_decision(&mut changes, &lab),
        Some(Serving::Withdraw(WithdrawReason::NoBackend { port: 80 }))
    );
}

#[test]
fn an_unbound_listener_withdraws_its_address_until_the_port_is_free() {
    let mut lab = ProxyLab::new(
        "bind",
        ProxyOptions {
            bind_retry: Duration::from_millis(50),
            ..ProxyOptions::default()
        },
    );
    let a = sock("127.0.0.1:8001");
    lab.http_backend("a", a);
    let front = sock("10.99.0.1:80");
    // Another program holds the port (without SO_REUSEPORT).
    let blocker = lab
        .runtime
        .block_on(async move { std::net::TcpListener::bind(front).expect("bind the blocker") });
    lab.apply(vec![listener(VIP4, 80, &[a])]);
    wait_until(
        Duration::from_secs(10),
        "the listener to report its bind error",
        || {
            let bound = lab.snapshot(front).bound;
            bound.is_err_and(|e| e.contains("in use")).then_some(())
        },
        || format!("{:?}", lab.snapshot(front).bound),
    );
    assert_eq!(
        serving_of(&lab, VIP4),
        Some(Serving::Withdraw(WithdrawReason::ListenerNotBound {
            port: 80
        }))
    );
    drop(blocker);
    wait_serving(&lab, VIP4, Serving::Announce);
    assert_eq!(lab.snapshot(front).bound, Ok(front));
    assert_eq!(lab.curl(&url(front), &[]).as_deref(), Ok("a"));
}

#[test]
fn checks_turned_on_by_an_update_apply_to_the_running_listener() {
    // No checks at first: a backend nobody listens on counts as up (passive health).
    let lab = ProxyLab::new("health-retune", ProxyOptions::default());
    let dead = sock("127.0.0.1:8009");
    lab.apply(vec![listener(VIP4, 80, &[dead])]);
    wait_serving(&lab, VIP4, Serving::Announce);
    let front = sock("10.99.0.1:80");
    // One client, refused by the dead backend, counted by this listener.
    assert!(lab.curl(&url(front), &[]).is_err());
    assert_eq!(lab.snapshot(front).total, 1);

    // The pool's checks are switched on: the same listener checks and takes it down.
    let mut checked = listener(VIP4, 80, &[dead]);
    checked.timers = Some(ListenerTimers {
        health_check: Some(HealthCheck {
            interval: INTERVAL,
            rise: 1,
            fall: 1,
            initial: HealthState::Up,
        }),
        connect_timeout: Duration::from_secs(5),
        handshake_timeout: Duration::from_secs(10),
        drain_timeout: Duration::from_secs(30),
    });
    lab.apply(vec![checked]);
    let took = wait_serving(
        &lab,
        VIP4,
        Serving::Withdraw(WithdrawReason::NoHealthyBackend { port: 80 }),
    );
    println!("withdrawn {} after the checks were switched on", ms(took));
    assert_eq!(
        lab.snapshot(front).total,
        1,
        "the listener kept its counters: it was not restarted"
    );
}
