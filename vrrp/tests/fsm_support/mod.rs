//! Helpers shared by the state machine tests: configs, adverts, and a virtual clock
//! that runs the timers the state machine sets, so tests move time by hand (no
//! sleeping, no runtime). [`Lan`] puts several routers on one simulated segment.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use vrrp::Centiseconds;
use vrrp::fsm::{Config, Fsm, Input, Output, State, Timer};
use vrrp::packet::{Advertisement, VirtualAddresses};

pub const VRID: u8 = 7;

/// Router `n`'s address on the segment: 192.0.2.n.
pub fn addr(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
}

pub fn vips() -> VirtualAddresses {
    VirtualAddresses::V4(vec![Ipv4Addr::new(192, 0, 2, 100)])
}

/// Router 1's config with `priority`, RFC defaults otherwise (1 s adverts, preempt).
pub fn config(priority: u8) -> Config {
    Config::new(VRID, priority, addr(1), vips())
}

pub fn fsm(config: Config) -> Fsm {
    Fsm::new(config).expect("valid config")
}

/// An advert as another router would send it with `priority` and `interval`.
pub fn advert(priority: u8, interval: u32) -> Advertisement {
    Advertisement {
        vrid: VRID,
        priority,
        max_advert_interval: Centiseconds(interval),
        addresses: vips(),
    }
}

pub fn received(from: u8, priority: u8) -> Input {
    Input::AdvertReceived {
        from: addr(from),
        advert: advert(priority, 100),
    }
}

/// The span `timer` was set for in `outputs`, if it was.
pub fn timer_set(outputs: &[Output], timer: Timer) -> Option<Centiseconds> {
    outputs.iter().rev().find_map(|o| match o {
        Output::SetTimer { timer: t, after } if *t == timer => Some(*after),
        _ => None,
    })
}

pub fn sent(outputs: &[Output]) -> Vec<u8> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::SendAdvert { priority } => Some(*priority),
            _ => None,
        })
        .collect()
}

pub fn became_master(outputs: &[Output]) -> bool {
    outputs
        .iter()
        .any(|o| matches!(o, Output::BecomeMaster { .. }))
}

pub fn became_backup(outputs: &[Output]) -> bool {
    outputs
        .iter()
        .any(|o| matches!(o, Output::BecomeBackup { .. }))
}

/// One state machine with its timers on a virtual clock in centiseconds.
#[derive(Debug)]
pub struct Clocked {
    pub fsm: Fsm,
    pub now: u64,
    /// Deadline of each running timer.
    pub timers: BTreeMap<Timer, u64>,
}

impl Clocked {
    pub fn new(config: Config) -> Self {
        Clocked {
            fsm: fsm(config),
            now: 0,
            timers: BTreeMap::new(),
        }
    }

    /// Feeds `input` now and applies the timer outputs.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let outputs = self.fsm.handle(input);
        for output in &outputs {
            match output {
                Output::SetTimer { timer, after } => {
                    self.timers
                        .insert(*timer, self.now + u64::from(after.get()));
                }
                Output::CancelTimer(timer) => {
                    self.timers.remove(timer);
                }
                _ => {}
            }
        }
        outputs
    }

    /// The earliest running timer.
    pub fn next_timer(&self) -> Option<(Timer, u64)> {
        self.timers
            .iter()
            .map(|(t, d)| (*t, *d))
            .min_by_key(|(t, d)| (*d, *t))
    }

    /// Moves the clock forward by `span` centiseconds, firing every timer that runs out
    /// on the way, in order. Returns the outputs with the time of each.
    pub fn advance(&mut self, span: u64) -> Vec<(u64, Output)> {
        let until = self.now + span;
        let mut log = Vec::new();
        while let Some((timer, deadline)) = self.next_timer().filter(|(_, d)| *d <= until) {
            self.now = deadline;
            self.timers.remove(&timer);
            for output in self.handle(Input::TimerFired(timer)) {
                log.push((self.now, output));
            }
        }
        self.now = until;
        log
    }

    pub fn state(&self) -> State {
        self.fsm.state()
    }
}

/// Outputs without their times.
pub fn log_outputs(log: &[(u64, Output)]) -> Vec<Output> {
    log.iter().map(|(_, o)| o.clone()).collect()
}

/// Routers on one segment: every advert one sends reaches all the others at once,
/// unless the sender is cut off.
#[derive(Debug)]
pub struct Lan {
    pub routers: Vec<Clocked>,
    pub now: u64,
    /// Routers whose adverts no one hears (a crash or a cut cable).
    pub cut: Vec<bool>,
    /// State changes: (time, router, new state).
    pub changes: Vec<(u64, usize, State)>,
}

impl Lan {
    pub fn new(configs: Vec<Config>) -> Self {
        let n = configs.len();
        Lan {
            routers: configs.into_iter().map(Clocked::new).collect(),
            now: 0,
            cut: vec![false; n],
            changes: Vec::new(),
        }
    }

    /// Feeds `input` to router `r` now and delivers what it sends.
    pub fn input(&mut self, r: usize, input: Input) {
        let outputs = self.routers[r].handle(input);
        self.carry_out(r, outputs);
    }

    fn carry_out(&mut self, r: usize, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::SendAdvert { priority } if !self.cut[r] => {
                    let from = self.routers[r].fsm.config().primary_address;
                    let advert = self.routers[r].fsm.advertisement(priority);
                    for other in (0..self.routers.len()).filter(|o| *o != r) {
                        self.input(
                            other,
                            Input::AdvertReceived {
                                from,
                                advert: advert.clone(),
                            },
                        );
                    }
                }
                Output::BecomeMaster { .. }
                | Output::BecomeBackup { .. }
                | Output::BecomeInitialize { .. } => {
                    self.changes.push((self.now, r, self.routers[r].state()));
                }
                _ => {}
            }
        }
    }

    /// Runs every router's timers up to `until`, in time order.
    pub fn run_until(&mut self, until: u64) {
        loop {
            let next = (0..self.routers.len())
                .filter_map(|r| self.routers[r].next_timer().map(|(t, d)| (d, r, t)))
                .filter(|(d, _, _)| *d <= until)
                .min();
            let Some((deadline, r, timer)) = next else {
                break;
            };
            self.now = deadline;
            for router in &mut self.routers {
                router.now = deadline;
            }
            self.routers[r].timers.remove(&timer);
            self.input(r, Input::TimerFired(timer));
        }
        self.now = until;
        for router in &mut self.routers {
            router.now = until;
        }
    }

    pub fn states(&self) -> Vec<State> {
        self.routers.iter().map(Clocked::state).collect()
    }

    /// How many routers are Master.
    pub fn masters(&self) -> usize {
        self.states()
            .iter()
            .filter(|s| **s == State::Master)
            .count()
    }

    /// When router `r` last became `state`.
    pub fn last_change(&self, r: usize, state: State) -> Option<u64> {
        self.changes
            .iter()
            .rev()
            .find(|(_, router, s)| *router == r && *s == state)
            .map(|(t, _, _)| *t)
    }
}

/// Router `n` (1-based address) with `priority`.
pub fn router(n: u8, priority: u8) -> Config {
    Config::new(VRID, priority, addr(n), vips())
}
