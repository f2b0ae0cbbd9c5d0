//! Every transition of RFC 5798 section 6.4, one state machine at a time, time moved
//! by hand on a virtual clock.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

mod fsm_support;

use fsm_support::*;
use vrrp::Centiseconds;
use vrrp::fsm::{Config, Discard, Input, Output, Reason, State, Timer};

// ------------------------------------------------------------- Initialize ---

#[test]
fn startup_enters_backup_and_arms_master_down_interval() {
    let mut fsm = fsm(config(100));
    let outputs = fsm.handle(Input::Startup);
    // Section 6.4.1: Master_Down_Interval = 3 * 100 + (156 * 100 / 256 = 60) cs.
    assert_eq!(
        outputs,
        vec![
            Output::SetTimer {
                timer: Timer::MasterDown,
                after: Centiseconds(360)
            },
            Output::BecomeBackup {
                from: State::Initialize,
                reason: Reason::Startup
            },
        ]
    );
    assert_eq!(fsm.state(), State::Backup);
    assert!(sent(&outputs).is_empty(), "a backup never sends adverts");
}

#[test]
fn owner_with_priority_255_becomes_master_at_once() {
    let mut fsm = fsm(config(255));
    let outputs = fsm.handle(Input::Startup);
    assert_eq!(
        outputs,
        vec![
            Output::SendAdvert { priority: 255 },
            Output::SetTimer {
                timer: Timer::Advert,
                after: Centiseconds(100)
            },
            Output::BecomeMaster {
                from: State::Initialize,
                reason: Reason::Startup,
                accept: true
            },
        ]
    );
    assert_eq!(fsm.master(), Some(addr(1)));
}

#[test]
fn second_startup_is_ignored() {
    let mut fsm = fsm(config(100));
    fsm.handle(Input::Startup);
    assert!(fsm.handle(Input::Startup).is_empty());
    assert_eq!(fsm.state(), State::Backup);
}

#[test]
fn shutdown_in_initialize_does_nothing() {
    let mut fsm = fsm(config(100));
    assert!(fsm.handle(Input::Shutdown).is_empty());
}

// ----------------------------------------------------------------- Backup ---

#[test]
fn backup_takes_over_after_master_down_interval() {
    let mut router = Clocked::new(config(100));
    router.handle(Input::Startup);
    assert!(router.advance(359).is_empty());
    assert_eq!(router.state(), State::Backup);
    let log = router.advance(1);
    assert_eq!(log.first().map(|(t, _)| *t), Some(360));
    // Section 6.4.2: send an advert, announce, arm Adver_Timer, become Master.
    assert_eq!(
        log_outputs(&log),
        vec![
            Output::SendAdvert { priority: 100 },
            Output::SetTimer {
                timer: Timer::Advert,
                after: Centiseconds(100)
            },
            Output::BecomeMaster {
                from: State::Backup,
                reason: Reason::MasterDown,
                accept: false
            },
        ]
    );
}

#[test]
fn adverts_from_a_live_master_keep_the_backup_waiting() {
    let mut router = Clocked::new(config(100));
    router.handle(Input::Startup);
    for _ in 0..10 {
        router.advance(100);
        let outputs = router.handle(received(2, 200));
        assert_eq!(
            timer_set(&outputs, Timer::MasterDown),
            Some(Centiseconds(360))
        );
    }
    assert!(router.advance(359).is_empty());
    assert_eq!(router.state(), State::Backup);
    assert_eq!(router.fsm.master(), Some(addr(2)));
    assert!(became_master(&log_outputs(&router.advance(1))));
}

#[test]
fn backup_learns_the_masters_advert_interval() {
    let mut router = Clocked::new(config(100));
    router.handle(Input::Startup);
    let outputs = router.handle(Input::AdvertReceived {
        from: addr(2),
        advert: advert(200, 10),
    });
    // Section 6.4.2: Master_Adver_Interval from the advert, 3 * 10 + 156 * 10 / 256.
    assert_eq!(router.fsm.master_advert_interval(), Centiseconds(10));
    assert_eq!(
        timer_set(&outputs, Timer::MasterDown),
        Some(Centiseconds(36))
    );
}

#[test]
fn priority_zero_advert_makes_backup_take_over_after_skew_time() {
    let mut router = Clocked::new(config(100));
    router.handle(Input::Startup);
    router.handle(received(2, 200));
    let outputs = router.handle(received(2, 0));
    // Skew_Time = 156 * 100 / 256 = 60 cs, not the full 360.
    assert_eq!(
        timer_set(&outputs, Timer::MasterDown),
        Some(Centiseconds(60))
    );
    assert!(router.advance(59).is_empty());
    let log = router.advance(1);
    assert!(became_master(&log_outputs(&log)));
    assert_eq!(log[0].0, 60);
}

#[test]
fn equal_priority_master_keeps_the_backup_waiting() {
    // Section 6.4.2: "greater than or equal to the local Priority".
    let mut fsm = fsm(config(100));
    fsm.handle(Input::Startup);
    let outputs = fsm.handle(received(2, 100));
    assert_eq!(
        timer_set(&outputs, Timer::MasterDown),
        Some(Centiseconds(360))
    );
}

#[test]
fn preempting_backup_discards_a_lower_priority_master_and_takes_over() {
    let mut router = Clocked::new(config(200));
    router.handle(Input::Startup);
    // A lower-priority router is master: its adverts are discarded, so the timer set at
    // startup (3 * 100 + 56 * 100 / 256 = 321) runs out.
    for _ in 0..3 {
        router.advance(100);
        let outputs = router.handle(received(2, 100));
        assert_eq!(
            outputs,
            vec![Output::Discarded(Discard::LowerPriority { priority: 100 })]
        );
    }
    let log = router.advance(21);
    assert_eq!(log[0].0, 321);
    assert!(became_master(&log_outputs(&log)));
}

#[test]
fn non_preempting_backup_never_takes_over_a_live_master() {
    let mut router = Clocked::new(Config {
        preempt: false,
        ..config(250)
    });
    router.handle(Input::Startup);
    for _ in 0..100 {
        router.advance(100);
        let outputs = router.handle(received(2, 1));
        assert!(timer_set(&outputs, Timer::MasterDown).is_some());
        assert_eq!(router.state(), State::Backup);
    }
    // It still takes over when the master goes quiet.
    let log = router.advance(400);
    assert!(became_master(&log_outputs(&log)));
}

#[test]
fn preempt_delay_holds_a_higher_priority_backup() {
    let mut router = Clocked::new(Config {
        preempt_delay: Centiseconds::from_secs(5),
        ..config(200)
    });
    router.handle(Input::Startup);
    // The first lower-priority advert starts the delay, and is obeyed.
    let outputs = router.handle(received(2, 100));
    assert_eq!(
        timer_set(&outputs, Timer::PreemptDelay),
        Some(Centiseconds(500))
    );
    assert!(timer_set(&outputs, Timer::MasterDown).is_some());
    // For 5 s the lower-priority master is obeyed.
    for _ in 0..4 {
        assert!(router.advance(100).is_empty());
        let outputs = router.handle(received(2, 100));
        assert_eq!(
            timer_set(&outputs, Timer::PreemptDelay),
            None,
            "not restarted"
        );
        assert!(timer_set(&outputs, Timer::MasterDown).is_some());
    }
    assert!(router.advance(100).is_empty(), "the delay ran out quietly");
    assert_eq!(router.state(), State::Backup);
    // Then its adverts are discarded and Master_Down_Timer runs out.
    let outputs = router.handle(received(2, 100));
    assert_eq!(
        outputs,
        vec![Output::Discarded(Discard::LowerPriority { priority: 100 })]
    );
    // Master_Down_Timer runs from the last advert obeyed, at 4 s.
    let log = router.advance(321);
    assert!(became_master(&log_outputs(&log)));
    assert_eq!(log[0].0, 400 + 321);
}

#[test]
fn preempt_delay_starts_over_after_a_higher_priority_master() {
    let mut router = Clocked::new(Config {
        preempt_delay: Centiseconds::from_secs(5),
        ..config(200)
    });
    router.handle(Input::Startup);
    router.handle(received(2, 100));
    router.advance(100);
    let outputs = router.handle(received(3, 250));
    assert!(outputs.contains(&Output::CancelTimer(Timer::PreemptDelay)));
    router.advance(100);
    let outputs = router.handle(received(2, 100));
    assert_eq!(
        timer_set(&outputs, Timer::PreemptDelay),
        Some(Centiseconds(500))
    );
}

#[test]
fn leaving_backup_cancels_a_running_preempt_delay() {
    let mut router = Clocked::new(Config {
        preempt_delay: Centiseconds::from_secs(5),
        ..config(200)
    });
    router.handle(Input::Startup);
    router.handle(received(2, 100));
    let outputs = router.handle(Input::Shutdown);
    assert!(outputs.contains(&Output::CancelTimer(Timer::PreemptDelay)));
    assert!(router.timers.is_empty());
}

#[test]
fn shutdown_of_backup_cancels_master_down_timer() {
    let mut fsm = fsm(config(100));
    fsm.handle(Input::Startup);
    assert_eq!(
        fsm.handle(Input::Shutdown),
        vec![
            Output::CancelTimer(Timer::MasterDown),
            Output::BecomeInitialize {
                from: State::Backup
            }
        ]
    );
    assert_eq!(fsm.state(), State::Initialize);
    assert_eq!(fsm.master(), None);
}

// ----------------------------------------------------------------- Master ---

fn master(priority: u8) -> Clocked {
    let mut router = Clocked::new(config(priority));
    router.handle(Input::Startup);
    let log = router.advance(400);
    assert!(became_master(&log_outputs(&log)));
    router
}

#[test]
fn master_sends_an_advert_every_advert_interval() {
    let mut router = master(100);
    let log = router.advance(1000);
    let times: Vec<u64> = log
        .iter()
        .filter(|(_, o)| matches!(o, Output::SendAdvert { priority: 100 }))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(times, (1..=10).map(|i| 360 + 100 * i).collect::<Vec<_>>());
}

#[test]
fn higher_priority_advert_demotes_master() {
    let mut router = master(100);
    let outputs = router.handle(Input::AdvertReceived {
        from: addr(2),
        advert: advert(200, 50),
    });
    // Section 6.4.3: cancel Adver_Timer, learn the interval, arm Master_Down_Timer.
    assert_eq!(
        outputs,
        vec![
            Output::CancelTimer(Timer::Advert),
            Output::SetTimer {
                timer: Timer::MasterDown,
                after: Centiseconds(3 * 50 + 156 * 50 / 256)
            },
            Output::BecomeBackup {
                from: State::Master,
                reason: Reason::Preempted {
                    by: addr(2),
                    priority: 200
                }
            },
        ]
    );
    assert_eq!(router.fsm.master(), Some(addr(2)));
    assert_eq!(
        router.timers.keys().collect::<Vec<_>>(),
        [&Timer::MasterDown]
    );
}

#[test]
fn equal_priority_breaks_tie_on_higher_primary_address() {
    // We are 192.0.2.1; 192.0.2.2 with our priority wins.
    let mut router = master(100);
    let outputs = router.handle(received(2, 100));
    assert!(became_backup(&outputs));
}

#[test]
fn equal_priority_from_a_lower_address_is_discarded_by_master() {
    let mut router = Clocked::new(Config {
        primary_address: addr(9),
        ..config(100)
    });
    router.handle(Input::Startup);
    router.advance(400);
    let outputs = router.handle(received(2, 100));
    assert_eq!(
        outputs,
        vec![Output::Discarded(Discard::LowerPriority { priority: 100 })]
    );
    assert_eq!(router.state(), State::Master);
}

#[test]
fn lower_priority_advert_is_discarded_by_master() {
    let mut router = master(100);
    let outputs = router.handle(received(2, 99));
    assert_eq!(
        outputs,
        vec![Output::Discarded(Discard::LowerPriority { priority: 99 })]
    );
}

#[test]
fn master_answers_a_priority_zero_advert_at_once() {
    let mut router = master(100);
    router.advance(30);
    let outputs = router.handle(received(2, 0));
    assert_eq!(
        outputs,
        vec![
            Output::SendAdvert { priority: 100 },
            Output::SetTimer {
                timer: Timer::Advert,
                after: Centiseconds(100)
            }
        ]
    );
    assert_eq!(router.state(), State::Master);
}

#[test]
fn shutdown_of_master_sends_priority_zero() {
    let mut router = master(100);
    assert_eq!(
        router.handle(Input::Shutdown),
        vec![
            Output::CancelTimer(Timer::Advert),
            Output::SendAdvert { priority: 0 },
            Output::BecomeInitialize {
                from: State::Master
            },
        ]
    );
    assert!(router.timers.is_empty());
    assert_eq!(router.fsm.advertisement(0).priority, 0);
}

#[test]
fn accept_mode_reaches_the_driver_when_becoming_master() {
    let mut router = Clocked::new(Config {
        accept: true,
        ..config(100)
    });
    router.handle(Input::Startup);
    let log = router.advance(400);
    assert!(
        log_outputs(&log)
            .iter()
            .any(|o| matches!(o, Output::BecomeMaster { accept: true, .. }))
    );
}

#[test]
fn restart_after_shutdown_enters_backup_again() {
    let mut router = master(100);
    router.handle(Input::Shutdown);
    let outputs = router.handle(Input::Startup);
    assert!(became_backup(&outputs));
    // Master_Adver_Interval starts from our own interval again.
    assert_eq!(
        timer_set(&outputs, Timer::MasterDown),
        Some(Centiseconds(360))
    );
}

#[test]
fn timers_that_fire_after_the_state_moved_on_are_ignored() {
    let mut router = master(100);
    assert!(
        router
            .fsm
            .handle(Input::TimerFired(Timer::MasterDown))
            .is_empty()
    );
    assert!(
        router
            .fsm
            .handle(Input::TimerFired(Timer::PreemptDelay))
            .is_empty()
    );
    router.handle(received(2, 200));
    assert!(
        router
            .fsm
            .handle(Input::TimerFired(Timer::Advert))
            .is_empty()
    );
    router.handle(Input::Shutdown);
    for timer in [Timer::MasterDown, Timer::Advert, Timer::PreemptDelay] {
        assert!(router.fsm.handle(Input::TimerFired(timer)).is_empty());
    }
}

#[test]
fn ten_millisecond_adverts_fail_over_in_thirty_milliseconds() {
    let mut router = Clocked::new(Config {
        advert_interval: Centiseconds(1),
        ..config(200)
    });
    router.handle(Input::Startup);
    router.handle(Input::AdvertReceived {
        from: addr(2),
        advert: advert(250, 1),
    });
    // 3 * 1 + 56 * 1 / 256 = 3 cs.
    assert!(router.advance(2).is_empty());
    assert!(became_master(&log_outputs(&router.advance(1))));
    let log = router.advance(10);
    assert_eq!(sent(&log_outputs(&log)).len(), 10, "one advert every 10 ms");
}
