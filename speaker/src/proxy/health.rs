//! Backend health and draining, as state machines with time and results passed in.
//!
//! Active TCP checks follow HAProxy's `rise`/`fall`: a backend starts up or down per
//! [`HealthCheck::initial`], goes down after `fall` consecutive failed checks and up after
//! `rise` consecutive successful ones; a result that agrees with the current state resets
//! the count. Without checks a backend is always up (HAProxy's `no check`), and only
//! passive health applies: a connect failure makes the balancer try the next backend.
//!
//! A backend removed from the endpoints drains: it takes no new connections, keeps its
//! live ones until a deadline, and is forgotten when the last one closes or the deadline
//! passes (the driver then closes what is left).

use std::time::{Duration, Instant};

/// Active health-check settings of a listener's backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheck {
    /// Time between two checks of one backend (the driver's timer).
    pub interval: Duration,
    /// Consecutive successes that bring a down backend up (at least 1).
    pub rise: u32,
    /// Consecutive failures that take an up backend down (at least 1).
    pub fall: u32,
    /// The state of a backend before its first check.
    pub initial: HealthState,
}

impl Default for HealthCheck {
    /// HAProxy's defaults: `inter 2s rise 2 fall 3`, a new server up.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            rise: 2,
            fall: 3,
            initial: HealthState::Up,
        }
    }
}

/// Whether a backend takes new connections as far as health goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthState {
    Up,
    Down,
}

/// A change of state after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    WentUp,
    WentDown,
}

/// The outcome of one active check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckResult {
    /// The TCP connection was established within the check timeout.
    Passed,
    /// Refused, unreachable or timed out.
    Failed,
}

/// One backend's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    state: HealthState,
    /// Consecutive results against the current state.
    streak: u32,
}

impl Health {
    /// A backend not checked yet: `check.initial`, or up when checks are off.
    pub fn new(check: Option<&HealthCheck>) -> Self {
        Self {
            state: check.map_or(HealthState::Up, |c| c.initial),
            streak: 0,
        }
    }

    pub fn state(&self) -> HealthState {
        self.state
    }

    pub fn is_up(&self) -> bool {
        self.state == HealthState::Up
    }

    /// Folds one check result in; the transition, if the state changed.
    pub fn record(&mut self, check: &HealthCheck, result: CheckResult) -> Option<Transition> {
        let (against, needed, next, transition) = match self.state {
            HealthState::Up => (
                CheckResult::Failed,
                check.fall,
                HealthState::Down,
                Transition::WentDown,
            ),
            HealthState::Down => (
                CheckResult::Passed,
                check.rise,
                HealthState::Up,
                Transition::WentUp,
            ),
        };
        if result != against {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        if self.streak < needed.max(1) {
            return None;
        }
        self.state = next;
        self.streak = 0;
        Some(transition)
    }
}

/// A removed backend's drain: no new connections, live ones until `deadline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drain {
    pub deadline: Instant,
}

/// What to do with a draining backend now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrainStep {
    /// Live connections remain and the deadline is ahead.
    Wait,
    /// No live connection left: forget the backend.
    Drained,
    /// The deadline passed with connections still open: close them, forget the backend.
    Expired { open: u32 },
}

impl Drain {
    /// A drain starting at `now` for `grace`.
    pub fn starting(now: Instant, grace: Duration) -> Self {
        Self {
            deadline: now + grace,
        }
    }

    /// The step for a backend with `open` live connections at `now`.
    pub fn step(&self, now: Instant, open: u32) -> DrainStep {
        if open == 0 {
            DrainStep::Drained
        } else if now >= self.deadline {
            DrainStep::Expired { open }
        } else {
            DrainStep::Wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use CheckResult::{Failed, Passed};

    fn check(rise: u32, fall: u32, initial: HealthState) -> HealthCheck {
        HealthCheck {
            rise,
            fall,
            initial,
            ..HealthCheck::default()
        }
    }

    fn run(check: &HealthCheck, results: &[CheckResult]) -> (Health, Vec<Option<Transition>>) {
        let mut health = Health::new(Some(check));
        let transitions = results.iter().map(|r| health.record(check, *r)).collect();
        (health, transitions)
    }

    #[test]
    fn an_up_backend_goes_down_only_after_fall_consecutive_failures() {
        let c = check(2, 3, HealthState::Up);
        let (health, transitions) = run(&c, &[Failed, Failed, Failed]);
        assert_eq!(transitions, [None, None, Some(Transition::WentDown)]);
        assert_eq!(health.state(), HealthState::Down);
    }

    #[test]
    fn a_success_between_failures_resets_the_fall_count() {
        let c = check(2, 3, HealthState::Up);
        let (health, transitions) = run(&c, &[Failed, Failed, Passed, Failed, Failed]);
        assert!(transitions.iter().all(Option::is_none));
        assert!(health.is_up());
    }

    #[test]
    fn a_down_backend_comes_up_after_rise_consecutive_successes() {
        let c = check(2, 3, HealthState::Down);
        let (health, transitions) = run(&c, &[Passed, Failed, Passed, Passed]);
        assert_eq!(transitions, [None, None, None, Some(Transition::WentUp)]);
        assert!(health.is_up());
    }

    #[test]
    fn backends_start_in_the_configured_state_and_always_up_without_checks() {
        assert!(Health::new(Some(&check(2, 3, HealthState::Up))).is_up());
        assert!(!Health::new(Some(&check(2, 3, HealthState::Down))).is_up());
        assert!(Health::new(None).is_up());
    }

    #[test]
    fn rise_and_fall_of_one_flip_on_every_disagreeing_result_and_zero_counts_as_one() {
        let c = check(1, 0, HealthState::Up);
        let (_, transitions) = run(&c, &[Passed, Failed, Failed, Passed]);
        assert_eq!(
            transitions,
            [
                None,
                Some(Transition::WentDown),
                None,
                Some(Transition::WentUp)
            ]
        );
    }

    #[test]
    fn a_drain_waits_for_live_connections_until_its_deadline() {
        let start = Instant::now();
        let drain = Drain::starting(start, Duration::from_secs(30));
        assert_eq!(drain.step(start, 2), DrainStep::Wait);
        assert_eq!(
            drain.step(start + Duration::from_secs(29), 1),
            DrainStep::Wait
        );
        assert_eq!(
            drain.step(start + Duration::from_secs(10), 0),
            DrainStep::Drained
        );
        assert_eq!(
            drain.step(start + Duration::from_secs(30), 3),
            DrainStep::Expired { open: 3 }
        );
    }
}
