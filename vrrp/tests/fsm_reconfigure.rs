//! Live reconfiguration ([`Input::Reconfigure`]): a Master keeps mastership and moves
//! to the new addresses and priority, a Backup only records them, invalid values are
//! refused with a typed reason, and a Master lowered below a backup is preempted by
//! the rules of RFC 5798 section 6.4.2.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

mod fsm_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fsm_support::*;
use vrrp::Centiseconds;
use vrrp::fsm::{ConfigError, Input, Output, State, Timer, master_down_interval};
use vrrp::packet::VirtualAddresses;

fn v4(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, last)
}

fn list(lasts: &[u8]) -> VirtualAddresses {
    VirtualAddresses::V4(lasts.iter().map(|l| v4(*l)).collect())
}

fn reconfigure(priority: u8, lasts: &[u8]) -> Input {
    Input::Reconfigure {
        priority,
        addresses: list(lasts),
    }
}

/// Router 1 started with `priority`, then made Master by its Master_Down_Timer.
fn master(priority: u8) -> Clocked {
    let mut router = Clocked::new(config(priority));
    router.handle(Input::Startup);
    router.advance(400);
    assert_eq!(router.state(), State::Master);
    router
}

fn rejected(outputs: &[Output]) -> Vec<ConfigError> {
    outputs
        .iter()
        .find_map(|o| match o {
            Output::ReconfigureRejected { problems } => Some(problems.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn a_master_keeps_mastership_takes_the_added_addresses_and_drops_the_removed() {
    let mut router = master(100);
    // vips() is [192.0.2.100]: keep none of it, add .101 and .102.
    let outputs = router.handle(reconfigure(100, &[101, 102]));
    assert_eq!(router.state(), State::Master);
    assert!(
        !became_master(&outputs) && !became_backup(&outputs),
        "{outputs:?}"
    );
    assert!(outputs.contains(&Output::AddressesChanged {
        added: vec![IpAddr::V4(v4(101)), IpAddr::V4(v4(102))],
        removed: vec![IpAddr::V4(v4(100))],
    }));
}

#[test]
fn a_master_advertises_the_new_list_and_priority_at_once_and_from_then_on() {
    let mut router = master(100);
    let outputs = router.handle(reconfigure(120, &[100, 101]));
    assert_eq!(sent(&outputs), vec![120], "one advert at once");
    assert_eq!(timer_set(&outputs, Timer::Advert), Some(Centiseconds(100)));
    let advert = router.fsm.advertisement(120);
    assert_eq!(advert.addresses, list(&[100, 101]));
    // The next Adver_Timer advert carries the new priority too.
    let later = log_outputs(&router.advance(100));
    assert_eq!(sent(&later), vec![120]);
    assert_eq!(router.fsm.config().priority, 120);
}

#[test]
fn a_master_given_the_same_values_does_nothing() {
    let mut router = master(100);
    let outputs = router.handle(reconfigure(100, &[100]));
    assert_eq!(outputs, vec![]);
}

#[test]
fn a_master_changing_only_its_priority_advertises_without_touching_addresses() {
    let mut router = master(100);
    let outputs = router.handle(reconfigure(90, &[100]));
    assert_eq!(sent(&outputs), vec![90]);
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::AddressesChanged { .. })),
        "{outputs:?}"
    );
}

#[test]
fn a_backup_only_records_the_new_values() {
    let mut router = Clocked::new(config(100));
    router.handle(Input::Startup);
    router.handle(received(2, 200));
    let outputs = router.handle(reconfigure(150, &[100, 101]));
    assert_eq!(outputs, vec![], "no advert, no address, no timer");
    assert_eq!(router.state(), State::Backup);
    assert_eq!(router.fsm.config().priority, 150);
    assert_eq!(router.fsm.config().addresses, list(&[100, 101]));
}

#[test]
fn a_backup_s_master_down_interval_follows_the_new_priority_from_the_next_advert() {
    let mut router = Clocked::new(config(100));
    router.handle(Input::Startup);
    router.handle(received(2, 200));
    router.handle(reconfigure(200, &[100]));
    // Skew_Time for 200 at 1 s: 56 * 100 / 256 = 21 cs, so 321 cs, not 360.
    assert_eq!(
        router.fsm.master_down_interval(),
        master_down_interval(200, Centiseconds(100))
    );
    let outputs = router.handle(received(2, 250));
    assert_eq!(
        timer_set(&outputs, Timer::MasterDown),
        Some(Centiseconds(321))
    );
    // A priority-0 advert: Skew_Time of the new priority.
    let outputs = router.handle(received(2, 0));
    assert_eq!(
        timer_set(&outputs, Timer::MasterDown),
        Some(Centiseconds(21))
    );
}

#[test]
fn a_backup_made_master_later_takes_the_new_addresses() {
    let mut router = Clocked::new(config(100));
    router.handle(Input::Startup);
    router.handle(reconfigure(100, &[101]));
    let log = log_outputs(&router.advance(400));
    assert!(became_master(&log));
    assert_eq!(router.fsm.advertisement(100).addresses, list(&[101]));
}

#[test]
fn an_instance_in_initialize_records_the_values_for_its_startup() {
    let mut router = Clocked::new(config(100));
    assert_eq!(router.handle(reconfigure(110, &[101])), vec![]);
    let outputs = router.handle(Input::Startup);
    assert_eq!(
        timer_set(&outputs, Timer::MasterDown),
        Some(master_down_interval(110, Centiseconds(100)))
    );
}

#[test]
fn priority_255_is_refused_for_an_instance_that_does_not_own_the_addresses() {
    let mut router = master(100);
    let outputs = router.handle(reconfigure(255, &[100]));
    assert_eq!(
        rejected(&outputs),
        vec![ConfigError::OwnerChange { from: 100, to: 255 }]
    );
    assert_eq!(outputs.len(), 1, "nothing else happens: {outputs:?}");
    assert_eq!(router.fsm.config().priority, 100);
    assert_eq!(router.state(), State::Master);
}

#[test]
fn the_owner_cannot_be_lowered_but_can_change_its_addresses() {
    let mut router = Clocked::new(config(255));
    router.handle(Input::Startup);
    let outputs = router.handle(reconfigure(200, &[100]));
    assert_eq!(
        rejected(&outputs),
        vec![ConfigError::OwnerChange { from: 255, to: 200 }]
    );
    let outputs = router.handle(reconfigure(255, &[100, 101]));
    assert_eq!(rejected(&outputs), vec![]);
    assert!(outputs.contains(&Output::AddressesChanged {
        added: vec![IpAddr::V4(v4(101))],
        removed: vec![],
    }));
}

#[test]
fn out_of_range_values_are_refused_with_every_problem_and_change_nothing() {
    let mut router = master(100);
    let outputs = router.handle(Input::Reconfigure {
        priority: 0,
        addresses: VirtualAddresses::V4(vec![]),
    });
    assert_eq!(
        rejected(&outputs),
        vec![ConfigError::PriorityZero, ConfigError::NoAddresses]
    );
    let outputs = router.handle(Input::Reconfigure {
        priority: 100,
        addresses: VirtualAddresses::V6(vec![Ipv6Addr::LOCALHOST]),
    });
    assert!(matches!(
        rejected(&outputs)[..],
        [ConfigError::FamilyMismatch { .. }]
    ));
    let too_many = VirtualAddresses::V4((0..300u32).map(|n| Ipv4Addr::from(n + 1)).collect());
    assert_eq!(
        router.fsm.reconfigure_problems(100, &too_many),
        vec![ConfigError::TooManyAddresses { count: 300 }]
    );
    assert_eq!(router.fsm.config().addresses, vips());
    assert_eq!(router.state(), State::Master);
}

#[test]
fn a_master_lowered_below_a_preempting_backup_goes_on_until_the_backup_takes_over() {
    // Router 1 (200) is master, router 2 (150) backup with preemption.
    let mut lan = Lan::new(vec![router(1, 200), router(2, 150)]);
    lan.input(0, Input::Startup);
    lan.input(1, Input::Startup);
    lan.run_until(400);
    assert_eq!(lan.states(), vec![State::Master, State::Backup]);
    let lowered = lan.now;
    lan.input(0, reconfigure(100, &[100]));
    assert_eq!(lan.states()[0], State::Master, "it goes on at first");
    // The backup discards the lower adverts, its Master_Down_Timer runs out
    // (3 * 100 + 39 cs), it takes over and the old master yields to its advert.
    lan.run_until(lowered + 400);
    assert_eq!(lan.states(), vec![State::Backup, State::Master]);
    let took_over = lan.last_change(1, State::Master).unwrap();
    assert!(took_over - lowered <= 339, "after {}", took_over - lowered);
    assert_eq!(lan.masters(), 1);
}

#[test]
fn a_master_lowered_below_a_backup_without_preemption_stays_master() {
    let mut backup = router(2, 150);
    backup.preempt = false;
    let mut lan = Lan::new(vec![router(1, 200), backup]);
    lan.input(0, Input::Startup);
    lan.input(1, Input::Startup);
    lan.run_until(400);
    lan.input(0, reconfigure(100, &[100]));
    lan.run_until(2000);
    assert_eq!(lan.states(), vec![State::Master, State::Backup]);
}
