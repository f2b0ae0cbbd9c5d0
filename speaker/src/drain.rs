//! When a node stops announcing, and how (pure; the main loop feeds it the time).
//!
//! Draining (RFC 8326): a node that is to stop serving — cordoned, labelled
//! `node.kubernetes.io/exclude-from-external-load-balancers`, or its speaker stopping in
//! drain mode — first re-announces its routes with the GRACEFUL_SHUTDOWN community and
//! LOCAL_PREF 0 ([`crate::announce::decide_draining`]), so routers prefer other nodes while
//! this one still serves; after the drain delay it withdraws. When the cause goes away
//! before the speaker stops (the node uncordoned), the routes return unmarked at once.
//!
//! At SIGTERM, [`stop_kind`] chooses between that drain and a graceful restart (RFC 4724:
//! the sessions closed without withdrawing, routers keep the routes as stale until the
//! next process has sent them again).

use std::time::{Duration, Instant};

use crate::announce::Reason;
use crate::cli::ShutdownMode;

/// Where a node stands in its drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Announcing normally.
    Serving,
    /// Announcing with GRACEFUL_SHUTDOWN until `until`.
    Draining { until: Instant },
    /// The drain is over (or there is none): the node announces nothing.
    Drained,
}

/// The drain clock of one node.
#[derive(Debug, Clone)]
pub struct Drain {
    delay: Duration,
    started: Option<Instant>,
}

impl Drain {
    /// `delay`: how long routes stay announced with GRACEFUL_SHUTDOWN; zero turns the
    /// drain off (a node that stops withdraws at once).
    pub fn new(delay: Duration) -> Self {
        Self {
            delay,
            started: None,
        }
    }

    /// The phase at `now`, given whether the node is to stop announcing (`stopping`: a
    /// cordon, the exclusion label, or the speaker draining at SIGTERM). A drain starts the
    /// first time `stopping` is seen and keeps its start while it holds; it ends when
    /// `stopping` is gone.
    pub fn phase(&mut self, stopping: bool, now: Instant) -> Phase {
        if !stopping {
            self.started = None;
            return Phase::Serving;
        }
        let started = *self.started.get_or_insert(now);
        let until = started + self.delay;
        if now < until {
            Phase::Draining { until }
        } else {
            Phase::Drained
        }
    }

    /// The drain delay.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// When the drain began, if one runs or ran.
    pub fn started(&self) -> Option<Instant> {
        self.started
    }
}

/// What SIGTERM does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// Routes with GRACEFUL_SHUTDOWN for the drain delay, then withdraw and Cease; the
    /// proxy accepts until the withdraw, then finishes its live connections.
    Drain,
    /// Graceful restart: sessions closed without NOTIFICATION (routers keep the routes),
    /// local addresses kept, the proxy's listeners handed to the next process.
    Restart,
    /// Withdraw and Cease at once.
    Withdraw,
}

impl StopKind {
    pub fn label(self) -> &'static str {
        match self {
            StopKind::Drain => "drain",
            StopKind::Restart => "restart",
            StopKind::Withdraw => "withdraw",
        }
    }
}

/// What the node looks like at SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopInputs {
    pub mode: ShutdownMode,
    pub drain_delay: Duration,
    /// Why the node is to stop serving (cordoned, excluded), if it is.
    pub node_stopping: Option<Reason>,
    /// The node has BGP peers and every one of them has `graceful-restart`.
    pub all_peers_restart_gracefully: bool,
    /// The node announces BGP routes now (without any there is nothing to drain).
    pub announcing: bool,
}

/// The choice at SIGTERM. `auto`: a node that stops serving drains; otherwise a
/// graceful restart when every peer can keep the routes (`graceful-restart`), else a
/// drain. A drain with a zero delay, or of a node that announces nothing, is a plain
/// withdraw.
pub fn stop_kind(inputs: StopInputs) -> StopKind {
    let drain = if inputs.drain_delay.is_zero() || !inputs.announcing {
        StopKind::Withdraw
    } else {
        StopKind::Drain
    };
    match inputs.mode {
        ShutdownMode::Withdraw => StopKind::Withdraw,
        ShutdownMode::Drain => drain,
        ShutdownMode::Restart => StopKind::Restart,
        ShutdownMode::Auto => {
            if inputs.node_stopping.is_none() && inputs.all_peers_restart_gracefully {
                StopKind::Restart
            } else {
                drain
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAY: Duration = Duration::from_secs(5);

    #[test]
    fn a_node_that_keeps_serving_never_drains() {
        let mut drain = Drain::new(DELAY);
        let t0 = Instant::now();
        assert_eq!(drain.phase(false, t0), Phase::Serving);
        assert_eq!(drain.phase(false, t0 + DELAY * 3), Phase::Serving);
        assert_eq!(drain.started(), None);
    }

    #[test]
    fn a_drain_lasts_the_delay_from_when_it_was_first_seen() {
        let mut drain = Drain::new(DELAY);
        let t0 = Instant::now();
        let until = t0 + DELAY;
        assert_eq!(drain.phase(true, t0), Phase::Draining { until });
        // Later looks do not move the end.
        assert_eq!(
            drain.phase(true, t0 + Duration::from_secs(4)),
            Phase::Draining { until }
        );
        assert_eq!(drain.phase(true, until), Phase::Drained);
        assert_eq!(drain.phase(true, until + DELAY), Phase::Drained);
        assert_eq!(drain.started(), Some(t0));
    }

    #[test]
    fn lifting_the_cause_undrains_at_once_and_a_new_cause_starts_afresh() {
        let mut drain = Drain::new(DELAY);
        let t0 = Instant::now();
        drain.phase(true, t0);
        assert_eq!(drain.phase(true, t0 + DELAY), Phase::Drained);
        let t1 = t0 + DELAY * 2;
        assert_eq!(drain.phase(false, t1), Phase::Serving);
        let t2 = t1 + Duration::from_secs(1);
        assert_eq!(drain.phase(true, t2), Phase::Draining { until: t2 + DELAY });
    }

    #[test]
    fn a_zero_delay_goes_straight_to_drained() {
        let mut drain = Drain::new(Duration::ZERO);
        assert_eq!(drain.phase(true, Instant::now()), Phase::Drained);
    }

    fn inputs(mode: ShutdownMode) -> StopInputs {
        StopInputs {
            mode,
            drain_delay: DELAY,
            node_stopping: None,
            all_peers_restart_gracefully: true,
            announcing: true,
        }
    }

    #[test]
    fn auto_restarts_gracefully_when_the_node_serves_on_and_every_peer_can_help() {
        assert_eq!(stop_kind(inputs(ShutdownMode::Auto)), StopKind::Restart);
    }

    #[test]
    fn auto_drains_a_cordoned_or_excluded_node() {
        for reason in [Reason::NodeCordoned, Reason::NodeExcluded] {
            let stopping = StopInputs {
                node_stopping: Some(reason),
                ..inputs(ShutdownMode::Auto)
            };
            assert_eq!(stop_kind(stopping), StopKind::Drain, "{reason:?}");
        }
    }

    #[test]
    fn auto_drains_when_a_peer_would_drop_the_routes_at_once() {
        let without = StopInputs {
            all_peers_restart_gracefully: false,
            ..inputs(ShutdownMode::Auto)
        };
        assert_eq!(stop_kind(without), StopKind::Drain);
    }

    #[test]
    fn a_zero_drain_delay_withdraws_instead_of_draining() {
        for mode in [ShutdownMode::Auto, ShutdownMode::Drain] {
            let off = StopInputs {
                drain_delay: Duration::ZERO,
                node_stopping: Some(Reason::NodeCordoned),
                ..inputs(mode)
            };
            assert_eq!(stop_kind(off), StopKind::Withdraw, "{mode:?}");
        }
    }

    #[test]
    fn a_node_that_announces_nothing_has_nothing_to_drain() {
        for mode in [ShutdownMode::Auto, ShutdownMode::Drain] {
            let idle = StopInputs {
                announcing: false,
                all_peers_restart_gracefully: false,
                ..inputs(mode)
            };
            assert_eq!(stop_kind(idle), StopKind::Withdraw, "{mode:?}");
        }
    }

    #[test]
    fn forced_modes_win_over_the_node_state() {
        let cordoned = |mode| StopInputs {
            node_stopping: Some(Reason::NodeCordoned),
            all_peers_restart_gracefully: false,
            ..inputs(mode)
        };
        assert_eq!(
            stop_kind(cordoned(ShutdownMode::Restart)),
            StopKind::Restart
        );
        assert_eq!(
            stop_kind(cordoned(ShutdownMode::Withdraw)),
            StopKind::Withdraw
        );
        assert_eq!(stop_kind(inputs(ShutdownMode::Drain)), StopKind::Drain);
    }
}
