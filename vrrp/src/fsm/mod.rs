//! The VRRPv3 state machine of RFC 5798 section 6, sans-IO.
//!
//! [`Fsm::handle`] takes one [`Input`] (Startup, Shutdown, a received advert, a timer
//! that ran out) and returns the [`Output`]s the driver carries out: send an advert,
//! take or give up the addresses, set or cancel a timer, count a discarded advert. No
//! clock, socket or runtime in here: timers are named by [`Timer`], set for a span of
//! [`Centiseconds`], and the driver says when one fires. One `Fsm`
//! is one virtual router (one VRID, one address family, one interface).

mod types;

use std::net::IpAddr;

use crate::Centiseconds;
use crate::packet::{Advertisement, Family, VirtualAddresses};

pub use types::{Config, ConfigError, Discard, Input, Output, Reason, State, Timer};

/// The priority of the address owner (section 6.1).
pub const OWNER_PRIORITY: u8 = 255;

/// Skew_Time (section 6.1): `((256 - priority) * Master_Adver_Interval) / 256`, so that
/// a higher-priority backup times out first.
pub fn skew_time(priority: u8, master_advert_interval: Centiseconds) -> Centiseconds {
    Centiseconds((256 - u32::from(priority)) * master_advert_interval.get() / 256)
}

/// Master_Down_Interval (section 6.1): `3 * Master_Adver_Interval + Skew_Time`.
pub fn master_down_interval(priority: u8, master_advert_interval: Centiseconds) -> Centiseconds {
    Centiseconds(
        3 * master_advert_interval.get() + skew_time(priority, master_advert_interval).get(),
    )
}

/// Where a backup stands with its preempt delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PreemptHold {
    /// No lower-priority master seen since we last were in Backup.
    Idle,
    /// The delay runs: a lower-priority master is still obeyed.
    Running,
    /// The delay is over: lower-priority adverts are discarded, so Master_Down_Timer
    /// runs out and we take over.
    Expired,
}

/// The state machine of one virtual router.
#[derive(Debug)]
pub struct Fsm {
    config: Config,
    state: State,
    /// Master_Adver_Interval (section 6.2): learned from the master's adverts while in
    /// Backup, our own Advertisement_Interval otherwise.
    master_advert_interval: Centiseconds,
    hold: PreemptHold,
    /// The master we last obeyed, for `/status`.
    master: Option<IpAddr>,
    outputs: Vec<Output>,
}

impl Fsm {
    /// A state machine in Initialize; [`Input::Startup`] starts it.
    pub fn new(config: Config) -> Result<Self, Vec<ConfigError>> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Fsm {
            master_advert_interval: config.advert_interval,
            config,
            state: State::Initialize,
            hold: PreemptHold::Idle,
            master: None,
            outputs: Vec::new(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The current master: us, the router whose adverts we obey, or nobody known.
    pub fn master(&self) -> Option<IpAddr> {
        match self.state {
            State::Master => Some(self.config.primary_address),
            State::Backup => self.master,
            State::Initialize => None,
        }
    }

    /// Master_Adver_Interval as it stands.
    pub fn master_advert_interval(&self) -> Centiseconds {
        self.master_advert_interval
    }

    /// Master_Down_Interval as it stands.
    pub fn master_down_interval(&self) -> Centiseconds {
        master_down_interval(self.config.priority, self.master_advert_interval)
    }

    /// We own the addresses (priority 255).
    pub fn is_owner(&self) -> bool {
        self.config.priority == OWNER_PRIORITY
    }

    /// The advert to send for [`Output::SendAdvert`].
    pub fn advertisement(&self, priority: u8) -> Advertisement {
        Advertisement {
            vrid: self.config.vrid,
            priority,
            max_advert_interval: self.config.advert_interval,
            addresses: self.config.addresses.clone(),
        }
    }

    /// Feed one input; returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        match (self.state, input) {
            // Section 6.4.1: Startup leaves Initialize for Master (owner) or Backup.
            (State::Initialize, Input::Startup) => self.startup(),
            (_, Input::Startup) => {}
            (State::Initialize, Input::Shutdown) => {}
            // Section 6.4.2, Backup: "If a Shutdown event is received".
            (State::Backup, Input::Shutdown) => self.backup_shutdown(),
            // Section 6.4.3, Master: "If a Shutdown event is received".
            (State::Master, Input::Shutdown) => self.master_shutdown(),
            // Section 7.1 checks, then 6.4.2 or 6.4.3 "If an ADVERTISEMENT is received".
            (_, Input::AdvertReceived { from, advert }) => self.advert_received(from, &advert),
            // Section 6.4.2: "If the Master_Down_Timer fires".
            (State::Backup, Input::TimerFired(Timer::MasterDown)) => self.master_down(),
            // Not in RFC 5798: the preempt delay is over, preemption may proceed.
            (State::Backup, Input::TimerFired(Timer::PreemptDelay)) => {
                if self.hold == PreemptHold::Running {
                    self.hold = PreemptHold::Expired;
                }
            }
            // Section 6.4.3: "If the Adver_Timer fires": advert, rearm.
            (State::Master, Input::TimerFired(Timer::Advert)) => {
                self.send_advert(self.config.priority);
                self.set_timer(Timer::Advert, self.config.advert_interval);
            }
            // A timer the driver fired after the state moved on: nothing to do.
            (_, Input::TimerFired(_)) => {}
            // Not in RFC 5798: a live change of priority and addresses.
            (
                _,
                Input::Reconfigure {
                    priority,
                    addresses,
                },
            ) => self.reconfigure(priority, addresses),
        }
        std::mem::take(&mut self.outputs)
    }

    // ------------------------------------------------------------- Initialize ---

    /// Section 6.4.1, Startup: the owner becomes Master at once, everyone else Backup.
    fn startup(&mut self) {
        if self.is_owner() {
            self.become_master(Reason::Startup);
        } else {
            self.master_advert_interval = self.config.advert_interval;
            self.set_timer(Timer::MasterDown, self.master_down_interval());
            self.enter(State::Backup, Reason::Startup);
        }
    }

    // ----------------------------------------------------------------- Backup ---

    /// Section 6.4.2, Shutdown: cancel Master_Down_Timer, go to Initialize.
    fn backup_shutdown(&mut self) {
        self.outputs.push(Output::CancelTimer(Timer::MasterDown));
        self.leave_backup();
        self.state = State::Initialize;
        self.outputs.push(Output::BecomeInitialize {
            from: State::Backup,
        });
    }

    /// Section 6.4.2, "If the Master_Down_Timer fires": take over.
    fn master_down(&mut self) {
        self.become_master(Reason::MasterDown);
    }

    /// Section 6.4.2, "If an ADVERTISEMENT is received".
    fn backup_receives(&mut self, from: IpAddr, advert: &Advertisement) {
        if advert.priority == 0 {
            // The master is stopping: take over after Skew_Time only, so the
            // highest-priority backup goes first.
            self.set_timer(
                Timer::MasterDown,
                skew_time(self.config.priority, self.master_advert_interval),
            );
            return;
        }
        let lower = advert.priority < self.config.priority;
        if lower && self.config.preempt {
            // "Otherwise, discard the ADVERTISEMENT": Master_Down_Timer runs out and we
            // preempt, unless the preempt delay still holds us back.
            match self.hold {
                PreemptHold::Expired => {
                    self.discard(Discard::LowerPriority {
                        priority: advert.priority,
                    });
                    return;
                }
                PreemptHold::Idle if !self.config.preempt_delay.is_zero() => {
                    self.hold = PreemptHold::Running;
                    self.set_timer(Timer::PreemptDelay, self.config.preempt_delay);
                }
                PreemptHold::Idle => {
                    self.discard(Discard::LowerPriority {
                        priority: advert.priority,
                    });
                    return;
                }
                PreemptHold::Running => {}
            }
        } else if !lower {
            // A master we could not preempt anyway: the delay starts over next time.
            self.cancel_preempt_delay();
        }
        // "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT is greater
        // than or equal to the local Priority": learn its interval, rearm the timer.
        self.master = Some(from);
        self.master_advert_interval = advert.max_advert_interval;
        self.set_timer(Timer::MasterDown, self.master_down_interval());
    }

    /// Leaving Backup: the preempt delay is a Backup matter.
    fn leave_backup(&mut self) {
        self.cancel_preempt_delay();
        self.master = None;
    }

    fn cancel_preempt_delay(&mut self) {
        if self.hold == PreemptHold::Running {
            self.outputs.push(Output::CancelTimer(Timer::PreemptDelay));
        }
        self.hold = PreemptHold::Idle;
    }

    // ----------------------------------------------------------------- Master ---

    /// Section 6.4.1 (owner at Startup) and 6.4.2 (Master_Down_Timer fired): send an
    /// advert, announce the addresses, arm Adver_Timer, go to Master.
    fn become_master(&mut self, reason: Reason) {
        if self.state == State::Backup {
            self.leave_backup();
        }
        self.send_advert(self.config.priority);
        self.set_timer(Timer::Advert, self.config.advert_interval);
        self.master_advert_interval = self.config.advert_interval;
        self.enter(State::Master, reason);
    }

    /// Section 6.4.3, Shutdown: cancel Adver_Timer, send priority 0, go to Initialize.
    fn master_shutdown(&mut self) {
        self.outputs.push(Output::CancelTimer(Timer::Advert));
        self.send_advert(0);
        self.state = State::Initialize;
        self.outputs.push(Output::BecomeInitialize {
            from: State::Master,
        });
    }

    /// Section 6.4.3, "If an ADVERTISEMENT is received".
    fn master_receives(&mut self, from: IpAddr, advert: &Advertisement) {
        if advert.priority == 0 {
            // Another router stepped down: make sure the backups hear from us at once.
            self.send_advert(self.config.priority);
            self.set_timer(Timer::Advert, self.config.advert_interval);
            return;
        }
        let wins = advert.priority > self.config.priority
            || (advert.priority == self.config.priority && from > self.config.primary_address);
        if !wins {
            self.discard(Discard::LowerPriority {
                priority: advert.priority,
            });
            return;
        }
        // Cancel Adver_Timer, learn the interval, arm Master_Down_Timer, go to Backup.
        self.outputs.push(Output::CancelTimer(Timer::Advert));
        self.master_advert_interval = advert.max_advert_interval;
        self.set_timer(Timer::MasterDown, self.master_down_interval());
        self.master = Some(from);
        self.enter(
            State::Backup,
            Reason::Preempted {
                by: from,
                priority: advert.priority,
            },
        );
    }

    // ----------------------------------------------------------- reconfigure ---

    /// Whether [`Input::Reconfigure`] with these values would be accepted: the checks
    /// of [`Config::problems`], and no change of ownership (priority 255).
    pub fn reconfigure_problems(
        &self,
        priority: u8,
        addresses: &VirtualAddresses,
    ) -> Vec<ConfigError> {
        let mut candidate = self.config.clone();
        candidate.priority = priority;
        candidate.addresses = addresses.clone();
        let mut problems = candidate.problems();
        let (was, will) = (self.is_owner(), priority == OWNER_PRIORITY);
        if was != will && priority != 0 {
            problems.push(ConfigError::OwnerChange {
                from: self.config.priority,
                to: priority,
            });
        }
        problems
    }

    /// [`Input::Reconfigure`]: record the values; a Master also takes the address
    /// difference and advertises at once, so backups hear the new list and priority
    /// (a higher-priority backup then preempts per section 6.4.2, if Preempt_Mode).
    fn reconfigure(&mut self, priority: u8, addresses: VirtualAddresses) {
        let problems = self.reconfigure_problems(priority, &addresses);
        if !problems.is_empty() {
            self.outputs.push(Output::ReconfigureRejected { problems });
            return;
        }
        let added: Vec<IpAddr> = addresses
            .iter()
            .filter(|a| !self.config.addresses.iter().any(|old| old == *a))
            .collect();
        let removed: Vec<IpAddr> = self
            .config
            .addresses
            .iter()
            .filter(|old| !addresses.iter().any(|a| a == *old))
            .collect();
        let changed = priority != self.config.priority || !added.is_empty() || !removed.is_empty();
        self.config.priority = priority;
        self.config.addresses = addresses;
        if self.state != State::Master || !changed {
            return;
        }
        if !added.is_empty() || !removed.is_empty() {
            self.outputs
                .push(Output::AddressesChanged { added, removed });
        }
        self.send_advert(self.config.priority);
        self.set_timer(Timer::Advert, self.config.advert_interval);
    }

    // ----------------------------------------------------------------- common ---

    /// Section 7.1, the checks that need our configuration, then the state's rules.
    fn advert_received(&mut self, from: IpAddr, advert: &Advertisement) {
        if self.state == State::Initialize {
            return self.discard(Discard::NotRunning);
        }
        if advert.vrid != self.config.vrid {
            return self.discard(Discard::OtherVrid { vrid: advert.vrid });
        }
        let family = match from {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        };
        if family != self.config.addresses.family() || advert.addresses.family() != family {
            return self.discard(Discard::OtherFamily);
        }
        if from == self.config.primary_address {
            return self.discard(Discard::OwnAdvert);
        }
        // "MUST verify that ... the local router is not the IPvX address owner".
        if self.is_owner() {
            return self.discard(Discard::WeAreOwner);
        }
        // "MAY verify that Count IPvX Addrs and the list of IPvX address(es) match";
        // on a mismatch the packet MUST be dropped unless it comes from the owner.
        if !advert.addresses.same_set(&self.config.addresses) {
            if self.config.strict_addresses && advert.priority != OWNER_PRIORITY {
                return self.discard(Discard::AddressMismatch);
            }
            self.outputs.push(Output::AddressMismatch { from });
        }
        match self.state {
            State::Backup => self.backup_receives(from, advert),
            State::Master => self.master_receives(from, advert),
            State::Initialize => {}
        }
    }

    fn enter(&mut self, to: State, reason: Reason) {
        let from = self.state;
        self.state = to;
        self.outputs.push(match to {
            State::Master => Output::BecomeMaster {
                from,
                reason,
                accept: self.is_owner() || self.config.accept,
            },
            State::Backup => Output::BecomeBackup { from, reason },
            State::Initialize => Output::BecomeInitialize { from },
        });
    }

    fn send_advert(&mut self, priority: u8) {
        self.outputs.push(Output::SendAdvert { priority });
    }

    fn set_timer(&mut self, timer: Timer, after: Centiseconds) {
        self.outputs.push(Output::SetTimer { timer, after });
    }

    fn discard(&mut self, reason: Discard) {
        self.outputs.push(Output::Discarded(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_and_master_down_interval_follow_section_6_1() {
        // 1 s adverts, priority 100: skew = 156 * 100 / 256 = 60 cs (truncated).
        assert_eq!(skew_time(100, Centiseconds(100)), Centiseconds(60));
        assert_eq!(
            master_down_interval(100, Centiseconds(100)),
            Centiseconds(360)
        );
        // The owner has (almost) no skew; priority 1 waits longest.
        assert_eq!(skew_time(255, Centiseconds(100)), Centiseconds(0));
        assert_eq!(skew_time(1, Centiseconds(100)), Centiseconds(99));
        // 10 ms adverts stay exact in centiseconds.
        assert_eq!(master_down_interval(200, Centiseconds(1)), Centiseconds(3));
        // The largest interval does not overflow.
        assert_eq!(
            master_down_interval(1, Centiseconds(4095)),
            Centiseconds(3 * 4095 + 255 * 4095 / 256)
        );
    }
}
