//! Several routers on one simulated segment, every advert delivered to all the others
//! at once, time moved by hand: elections, failover and failback end to end.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

mod fsm_support;

use fsm_support::*;
use vrrp::Centiseconds;
use vrrp::fsm::{Config, Input, State, master_down_interval, skew_time};

/// Router 1 with priority 150, router 2 with priority 100, both started at 0.
fn pair() -> Lan {
    let mut lan = Lan::new(vec![router(1, 150), router(2, 100)]);
    lan.input(0, Input::Startup);
    lan.input(1, Input::Startup);
    lan
}

#[test]
fn the_higher_priority_router_is_elected_and_stays_master() {
    let mut lan = pair();
    lan.run_until(10_000);
    assert_eq!(lan.states(), [State::Master, State::Backup]);
    // Router 1 timed out first: 3 * 100 + 106 * 100 / 256 = 341 < 360.
    assert_eq!(lan.last_change(0, State::Master), Some(341));
    assert_eq!(lan.last_change(1, State::Master), None, "never two masters");
    assert_eq!(lan.routers[1].fsm.master(), Some(addr(1)));
}

#[test]
fn graceful_stop_hands_over_after_skew_time() {
    let mut lan = pair();
    lan.run_until(1_000);
    lan.input(0, Input::Shutdown);
    lan.run_until(2_000);
    assert_eq!(lan.states(), [State::Initialize, State::Master]);
    let skew = u64::from(skew_time(100, Centiseconds(100)).get());
    assert_eq!(lan.last_change(1, State::Master), Some(1_000 + skew));
}

#[test]
fn crashed_master_is_replaced_within_master_down_interval() {
    let mut lan = pair();
    lan.run_until(1_000);
    // Router 1 falls silent without a word: its timers keep running, nobody hears it.
    lan.cut[0] = true;
    lan.run_until(3_000);
    assert_eq!(lan.routers[1].state(), State::Master);
    // Its last advert went out at 941 (341 + 6 * 100).
    let down = u64::from(master_down_interval(100, Centiseconds(100)).get());
    assert_eq!(lan.last_change(1, State::Master), Some(941 + down));
}

#[test]
fn returning_higher_priority_router_takes_back_over() {
    let mut lan = pair();
    lan.run_until(1_000);
    lan.input(0, Input::Shutdown);
    lan.run_until(2_000);
    assert_eq!(lan.routers[1].state(), State::Master);
    lan.input(0, Input::Startup);
    lan.run_until(5_000);
    assert_eq!(lan.states(), [State::Master, State::Backup]);
    // Router 1 discarded router 2's adverts and timed out after its own
    // Master_Down_Interval; router 2 stepped down at once on its first advert.
    let back = lan.last_change(0, State::Master).unwrap();
    assert_eq!(back, 2_000 + 341);
    assert_eq!(lan.last_change(1, State::Backup), Some(back));
}

#[test]
fn returning_router_without_preemption_leaves_the_master_alone() {
    let mut lan = Lan::new(vec![
        Config {
            preempt: false,
            ..router(1, 150)
        },
        router(2, 100),
    ]);
    lan.input(0, Input::Startup);
    lan.input(1, Input::Startup);
    lan.run_until(1_000);
    lan.input(0, Input::Shutdown);
    lan.run_until(2_000);
    lan.input(0, Input::Startup);
    lan.run_until(10_000);
    assert_eq!(lan.states(), [State::Backup, State::Master]);
}

#[test]
fn equal_priority_backups_follow_whichever_times_out_first() {
    // Section 6.4.2: a backup obeys a master of equal priority; the address breaks
    // ties only between masters. Router 1 (192.0.2.3) starts 1 cs earlier.
    let mut lan = Lan::new(vec![router(3, 100), router(9, 100), router(5, 100)]);
    lan.input(0, Input::Startup);
    lan.run_until(1);
    lan.input(1, Input::Startup);
    lan.input(2, Input::Startup);
    lan.run_until(5_000);
    assert_eq!(lan.states(), [State::Master, State::Backup, State::Backup]);
}

#[test]
fn equal_priority_masters_after_a_partition_settle_on_the_highest_address() {
    let mut lan = Lan::new(vec![router(3, 100), router(9, 100), router(5, 100)]);
    lan.cut = vec![true; 3];
    for r in 0..3 {
        lan.input(r, Input::Startup);
    }
    lan.run_until(1_000);
    assert_eq!(lan.masters(), 3, "partitioned, each is master");
    lan.cut = vec![false; 3];
    lan.run_until(1_200);
    assert_eq!(lan.states(), [State::Backup, State::Master, State::Backup]);
    lan.run_until(10_000);
    assert_eq!(lan.masters(), 1);
}

#[test]
fn owner_takes_over_at_startup_and_the_master_steps_down() {
    let mut lan = pair();
    lan.run_until(1_000);
    let mut owner = router(3, 255);
    owner.advert_interval = Centiseconds(100);
    lan.routers.push(Clocked::new(owner));
    lan.cut.push(false);
    lan.routers[2].now = 1_000;
    lan.input(2, Input::Startup);
    assert_eq!(
        lan.states(),
        [State::Backup, State::Backup, State::Master],
        "router 1 stepped down on the owner's first advert"
    );
    lan.run_until(5_000);
    assert_eq!(lan.masters(), 1);
}

#[test]
fn fast_adverts_fail_over_within_tens_of_milliseconds() {
    let fast = |n, priority| Config {
        advert_interval: Centiseconds(2),
        ..router(n, priority)
    };
    let mut lan = Lan::new(vec![fast(1, 200), fast(2, 100)]);
    lan.input(0, Input::Startup);
    lan.input(1, Input::Startup);
    lan.run_until(100);
    assert_eq!(lan.states(), [State::Master, State::Backup]);
    lan.cut[0] = true;
    let cut_at = 100;
    lan.run_until(200);
    let took_over = lan.last_change(1, State::Master).unwrap();
    // 3 * 2 + 156 * 2 / 256 = 7 cs after the last advert heard (at most 2 cs before).
    assert!(
        took_over - cut_at <= 7,
        "took over after {} cs",
        took_over - cut_at
    );
}
