//! What a state machine does with adverts it must not act on (RFC 5798 section 7.1),
//! and the configs it refuses.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

mod fsm_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fsm_support::*;
use vrrp::Centiseconds;
use vrrp::fsm::{Config, ConfigError, Discard, Fsm, Input, Output, State, Timer};
use vrrp::packet::{Family, VirtualAddresses};

fn backup(config: Config) -> Fsm {
    let mut fsm = fsm(config);
    fsm.handle(Input::Startup);
    fsm
}

#[test]
fn adverts_before_startup_are_discarded() {
    let mut fsm = fsm(config(100));
    assert_eq!(
        fsm.handle(received(2, 200)),
        vec![Output::Discarded(Discard::NotRunning)]
    );
    assert_eq!(fsm.state(), State::Initialize);
}

#[test]
fn adverts_for_another_vrid_are_discarded() {
    let mut fsm = backup(config(100));
    let outputs = fsm.handle(Input::AdvertReceived {
        from: addr(2),
        advert: vrrp::packet::Advertisement {
            vrid: VRID + 1,
            ..advert(200, 100)
        },
    });
    assert_eq!(
        outputs,
        vec![Output::Discarded(Discard::OtherVrid { vrid: VRID + 1 })]
    );
}

#[test]
fn adverts_of_the_other_family_are_discarded() {
    let mut fsm = backup(config(100));
    let outputs = fsm.handle(Input::AdvertReceived {
        from: IpAddr::V6(Ipv6Addr::LOCALHOST),
        advert: advert(200, 100),
    });
    assert_eq!(outputs, vec![Output::Discarded(Discard::OtherFamily)]);
}

#[test]
fn our_own_advert_looping_back_is_discarded() {
    let mut fsm = backup(config(100));
    assert_eq!(
        fsm.handle(received(1, 200)),
        vec![Output::Discarded(Discard::OwnAdvert)]
    );
}

#[test]
fn owner_ignores_every_advert() {
    let mut fsm = fsm(config(255));
    fsm.handle(Input::Startup);
    for priority in [0, 100, 255] {
        assert_eq!(
            fsm.handle(received(2, priority)),
            vec![Output::Discarded(Discard::WeAreOwner)]
        );
    }
    assert_eq!(fsm.state(), State::Master);
}

fn other_addresses() -> VirtualAddresses {
    VirtualAddresses::V4(vec![Ipv4Addr::new(192, 0, 2, 101)])
}

#[test]
fn address_mismatch_is_reported_and_the_advert_still_counts_by_default() {
    let mut fsm = backup(config(100));
    let outputs = fsm.handle(Input::AdvertReceived {
        from: addr(2),
        advert: vrrp::packet::Advertisement {
            addresses: other_addresses(),
            ..advert(200, 100)
        },
    });
    assert_eq!(outputs[0], Output::AddressMismatch { from: addr(2) });
    assert_eq!(
        timer_set(&outputs, Timer::MasterDown),
        Some(Centiseconds(360))
    );
}

#[test]
fn strict_address_check_drops_mismatched_adverts_unless_from_the_owner() {
    let mut fsm = backup(Config {
        strict_addresses: true,
        ..config(100)
    });
    let mismatched = |priority| Input::AdvertReceived {
        from: addr(2),
        advert: vrrp::packet::Advertisement {
            addresses: other_addresses(),
            ..advert(priority, 100)
        },
    };
    assert_eq!(
        fsm.handle(mismatched(200)),
        vec![Output::Discarded(Discard::AddressMismatch)]
    );
    // Section 7.1: the owner's advert is logged and processed all the same.
    let outputs = fsm.handle(mismatched(255));
    assert_eq!(outputs[0], Output::AddressMismatch { from: addr(2) });
    assert!(timer_set(&outputs, Timer::MasterDown).is_some());
}

#[test]
fn address_order_does_not_matter() {
    let two = |a: u8, b: u8| {
        VirtualAddresses::V4(vec![
            Ipv4Addr::new(192, 0, 2, a),
            Ipv4Addr::new(192, 0, 2, b),
        ])
    };
    let mut fsm = backup(Config {
        strict_addresses: true,
        addresses: two(100, 101),
        ..config(100)
    });
    let outputs = fsm.handle(Input::AdvertReceived {
        from: addr(2),
        advert: vrrp::packet::Advertisement {
            addresses: two(101, 100),
            ..advert(200, 100)
        },
    });
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert!(timer_set(&outputs, Timer::MasterDown).is_some());
}

#[test]
fn every_discard_label_is_distinct() {
    let mut labels = Discard::LABELS.to_vec();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels.len(), Discard::LABELS.len());
    assert_eq!(
        Discard::LowerPriority { priority: 1 }.label(),
        "lower_priority"
    );
}

#[test]
fn config_problems_are_all_reported_at_once() {
    let bad = Config {
        vrid: 0,
        priority: 0,
        advert_interval: Centiseconds(4096),
        addresses: VirtualAddresses::V6(Vec::new()),
        ..config(100)
    };
    assert_eq!(
        Fsm::new(bad).unwrap_err(),
        vec![
            ConfigError::VridZero,
            ConfigError::PriorityZero,
            ConfigError::AdvertInterval {
                interval: Centiseconds(4096)
            },
            ConfigError::NoAddresses,
            ConfigError::FamilyMismatch {
                primary: Family::Ipv4,
                addresses: Family::Ipv6
            },
        ]
    );
    let too_many = Config {
        addresses: VirtualAddresses::V4(vec![Ipv4Addr::LOCALHOST; 256]),
        ..config(100)
    };
    assert_eq!(
        Fsm::new(too_many).unwrap_err(),
        vec![ConfigError::TooManyAddresses { count: 256 }]
    );
    let interval_zero = Config {
        advert_interval: Centiseconds::ZERO,
        ..config(100)
    };
    assert!(Fsm::new(interval_zero).is_err());
}

#[test]
fn ipv6_routers_elect_on_their_link_local_addresses() {
    let link_local = |n: u16| IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n));
    let vips = VirtualAddresses::V6(vec!["2001:db8::100".parse().unwrap()]);
    let mut fsm = fsm(Config::new(VRID, 100, link_local(1), vips.clone()));
    fsm.handle(Input::Startup);
    fsm.handle(Input::TimerFired(Timer::MasterDown));
    assert_eq!(fsm.state(), State::Master);
    let advert = vrrp::packet::Advertisement {
        vrid: VRID,
        priority: 100,
        max_advert_interval: Centiseconds(100),
        addresses: vips,
    };
    // fe80::2 > fe80::1 with equal priority: we step down.
    let outputs = fsm.handle(Input::AdvertReceived {
        from: link_local(2),
        advert,
    });
    assert!(became_backup(&outputs));
    // What we would send is an IPv6 advert of our addresses.
    assert_eq!(fsm.advertisement(100).addresses.family(), Family::Ipv6);
}
