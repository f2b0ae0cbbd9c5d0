//! Backend selection for one listener: round robin or least connections over a backend set
//! that changes while connections run. Updating the set keeps each remaining backend's
//! connection count, health and place in the rotation; a removed backend drains
//! ([`super::health::Drain`]). Down and draining backends take no new connections.
//!
//! The data path counts a connection from the moment its connect starts
//! ([`BackendSet::opened`]) to its close or connect failure ([`BackendSet::closed`]), so
//! that least connections sees connects in flight. A connect failure retries with
//! [`BackendSet::next_candidate`], excluding the backends already tried.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use herald_config::Balance;

use super::health::{CheckResult, Drain, DrainStep, Health, HealthCheck, Transition};

/// One backend and what the balancer knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    address: SocketAddr,
    health: Health,
    open: u32,
    drain: Option<Drain>,
}

impl Backend {
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Connections open or connecting.
    pub fn open(&self) -> u32 {
        self.open
    }

    /// `Some` while the backend drains after removal.
    pub fn drain(&self) -> Option<&Drain> {
        self.drain.as_ref()
    }

    /// Up and not draining.
    pub fn takes_new(&self) -> bool {
        self.health.is_up() && self.drain.is_none()
    }
}

/// What an update changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// New backends (to start checking).
    pub added: Vec<SocketAddr>,
    /// Backends that started draining.
    pub draining: Vec<SocketAddr>,
    /// Draining backends given back by the endpoints: they take new connections again.
    pub restored: Vec<SocketAddr>,
}

/// The backends of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSet {
    algorithm: Balance,
    check: Option<HealthCheck>,
    backends: Vec<Backend>,
    /// Where the rotation starts: the backend after the last one picked.
    cursor: usize,
}

impl BackendSet {
    /// An empty set; `check` `None` means no active checks (backends always up).
    pub fn new(algorithm: Balance, check: Option<HealthCheck>) -> Self {
        Self {
            algorithm,
            check,
            backends: Vec::new(),
            cursor: 0,
        }
    }

    /// Changes the algorithm; counts and rotation are kept.
    pub fn set_algorithm(&mut self, algorithm: Balance) {
        self.algorithm = algorithm;
    }

    /// Changes the active checks. Turned off: every backend is up again (passive health
    /// only, as a set made without checks). Turned on or changed: each backend keeps its
    /// state and its streak of results, now counted against the new rise and fall, so a
    /// live listener does not drop its backends (nor withdraw its address) because its
    /// checks were retuned; a backend added later starts in the new `initial` state.
    pub fn set_check(&mut self, check: Option<HealthCheck>) {
        if check.is_none() {
            for backend in &mut self.backends {
                backend.health = Health::new(None);
            }
        }
        self.check = check;
    }

    /// Every backend, active and draining, in rotation order.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// The backend at `address`.
    pub fn get(&self, address: SocketAddr) -> Option<&Backend> {
        self.backends.iter().find(|b| b.address == address)
    }

    /// Backends that take new connections.
    pub fn healthy(&self) -> usize {
        self.backends.iter().filter(|b| b.takes_new()).count()
    }

    /// Makes `addresses` the active backends at `now`: new ones join the end of the
    /// rotation in the initial health state, missing ones start draining for `grace`,
    /// draining ones listed again are restored with their health and counts.
    pub fn update(&mut self, addresses: &[SocketAddr], now: Instant, grace: Duration) -> Update {
        let mut update = Update::default();
        for backend in &mut self.backends {
            let listed = addresses.contains(&backend.address);
            match (listed, backend.drain.is_some()) {
                (false, false) => {
                    backend.drain = Some(Drain::starting(now, grace));
                    update.draining.push(backend.address);
                }
                (true, true) => {
                    backend.drain = None;
                    update.restored.push(backend.address);
                }
                _ => {}
            }
        }
        for &address in addresses {
            if self.get(address).is_none() {
                self.backends.push(Backend {
                    address,
                    health: Health::new(self.check.as_ref()),
                    open: 0,
                    drain: None,
                });
                update.added.push(address);
            }
        }
        update
    }

    /// The backend for a new connection, `None` when none takes new connections.
    pub fn pick(&mut self) -> Option<SocketAddr> {
        self.next_candidate(&[])
    }

    /// The next backend to try, excluding `tried` (after a connect failure, the ones
    /// already tried for this connection); `None` when no other takes new connections.
    pub fn next_candidate(&mut self, tried: &[SocketAddr]) -> Option<SocketAddr> {
        let count = self.backends.len();
        let rotation = (0..count).map(|i| (self.cursor + i) % count).filter(|&i| {
            self.backends[i].takes_new() && !tried.contains(&self.backends[i].address)
        });
        let index = match self.algorithm {
            Balance::RoundRobin => rotation.into_iter().next(),
            // The first of the least loaded in rotation order: ties go round robin.
            Balance::LeastConnections => rotation.min_by_key(|&i| self.backends[i].open),
        }?;
        self.cursor = (index + 1) % count;
        Some(self.backends[index].address)
    }

    /// A connection to `address` starts (count it from its connect).
    pub fn opened(&mut self, address: SocketAddr) {
        if let Some(backend) = self.backends.iter_mut().find(|b| b.address == address) {
            backend.open += 1;
        }
    }

    /// A connection to `address` closed or failed to connect.
    pub fn closed(&mut self, address: SocketAddr) {
        if let Some(backend) = self.backends.iter_mut().find(|b| b.address == address) {
            backend.open = backend.open.saturating_sub(1);
        }
    }

    /// Folds an active check result in; the transition, if any. Ignored without checks or
    /// for an unknown backend.
    pub fn record_check(&mut self, address: SocketAddr, result: CheckResult) -> Option<Transition> {
        let check = self.check.as_ref()?;
        let backend = self.backends.iter_mut().find(|b| b.address == address)?;
        backend.health.record(check, result)
    }

    /// Forgets draining backends that are done at `now`: those with no connection left
    /// ([`DrainStep::Drained`]) and those past their deadline ([`DrainStep::Expired`],
    /// whose connections the driver closes). The rotation keeps its place.
    pub fn sweep(&mut self, now: Instant) -> Vec<(SocketAddr, DrainStep)> {
        let mut done = Vec::new();
        let mut index = 0;
        while index < self.backends.len() {
            let backend = &self.backends[index];
            let step = backend.drain.map(|d| d.step(now, backend.open));
            match step {
                Some(step @ (DrainStep::Drained | DrainStep::Expired { .. })) => {
                    done.push((backend.address, step));
                    self.backends.remove(index);
                    if index < self.cursor {
                        self.cursor -= 1;
                    }
                }
                _ => index += 1,
            }
        }
        if self.cursor >= self.backends.len() {
            self.cursor = 0;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::health::HealthState;

    const GRACE: Duration = Duration::from_secs(30);

    fn a(n: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, n], 8080))
    }

    fn set(
        algorithm: Balance,
        check: Option<HealthCheck>,
        backends: &[u8],
    ) -> (BackendSet, Instant) {
        let now = Instant::now();
        let mut set = BackendSet::new(algorithm, check);
        let addresses: Vec<SocketAddr> = backends.iter().map(|&n| a(n)).collect();
        set.update(&addresses, now, GRACE);
        (set, now)
    }

    fn picks(set: &mut BackendSet, n: usize) -> Vec<SocketAddr> {
        (0..n).filter_map(|_| set.pick()).collect()
    }

    fn checked() -> Option<HealthCheck> {
        Some(HealthCheck {
            rise: 1,
            fall: 1,
            ..HealthCheck::default()
        })
    }

    #[test]
    fn retuned_checks_keep_each_backend_state_and_count_against_the_new_fall() {
        let (mut set, _) = set(Balance::RoundRobin, checked(), &[1, 2]);
        assert_eq!(
            set.record_check(a(1), CheckResult::Failed),
            Some(Transition::WentDown)
        );
        let slower = HealthCheck {
            rise: 2,
            fall: 2,
            ..HealthCheck::default()
        };
        set.set_check(Some(slower));
        // a(1) stays down and a(2) up: nothing moves because of the change itself.
        assert_eq!(set.get(a(1)).unwrap().health().state(), HealthState::Down);
        assert_eq!(set.get(a(2)).unwrap().health().state(), HealthState::Up);
        // a(2) now needs two failures, a(1) two successes.
        assert_eq!(set.record_check(a(2), CheckResult::Failed), None);
        assert_eq!(
            set.record_check(a(2), CheckResult::Failed),
            Some(Transition::WentDown)
        );
        assert_eq!(set.record_check(a(1), CheckResult::Passed), None);
        assert_eq!(
            set.record_check(a(1), CheckResult::Passed),
            Some(Transition::WentUp)
        );
    }

    #[test]
    fn checks_turned_off_bring_every_backend_up_and_turned_on_keep_them_up() {
        let (mut set, _) = set(Balance::RoundRobin, checked(), &[1, 2]);
        set.record_check(a(1), CheckResult::Failed);
        assert_eq!(set.healthy(), 1);
        set.set_check(None);
        assert_eq!(set.healthy(), 2);
        assert_eq!(set.record_check(a(1), CheckResult::Failed), None);
        assert_eq!(set.healthy(), 2, "no checks: results are ignored");

        set.set_check(checked());
        assert_eq!(set.healthy(), 2, "turning checks on takes no backend down");
        assert_eq!(
            set.record_check(a(2), CheckResult::Failed),
            Some(Transition::WentDown)
        );
    }

    #[test]
    fn round_robin_takes_each_backend_in_turn() {
        let (mut set, _) = set(Balance::RoundRobin, None, &[1, 2, 3]);
        assert_eq!(picks(&mut set, 4), [a(1), a(2), a(3), a(1)]);
    }

    #[test]
    fn down_backends_are_skipped_until_they_come_back_up() {
        let (mut set, _) = set(Balance::RoundRobin, checked(), &[1, 2, 3]);
        assert_eq!(
            set.record_check(a(2), CheckResult::Failed),
            Some(Transition::WentDown)
        );
        assert_eq!(set.healthy(), 2);
        assert_eq!(picks(&mut set, 3), [a(1), a(3), a(1)]);
        assert_eq!(
            set.record_check(a(2), CheckResult::Passed),
            Some(Transition::WentUp)
        );
        assert_eq!(picks(&mut set, 2), [a(2), a(3)]);
    }

    #[test]
    fn no_backend_is_picked_when_all_are_down_or_the_set_is_empty() {
        let (mut set, _) = set(Balance::LeastConnections, checked(), &[1]);
        set.record_check(a(1), CheckResult::Failed);
        assert_eq!(set.pick(), None);
        let (mut empty, _) = super::tests::set(Balance::RoundRobin, None, &[]);
        assert_eq!(empty.pick(), None);
    }

    #[test]
    fn least_connections_picks_the_least_loaded_and_breaks_ties_round_robin() {
        let (mut set, _) = set(Balance::LeastConnections, None, &[1, 2, 3]);
        set.opened(a(1));
        set.opened(a(1));
        set.opened(a(3));
        assert_eq!(set.pick(), Some(a(2)));
        set.opened(a(2));
        // 2 and 3 now tie at one connection: the rotation goes on after 2.
        assert_eq!(set.pick(), Some(a(3)));
        set.closed(a(1));
        set.closed(a(1));
        assert_eq!(set.pick(), Some(a(1)));
    }

    #[test]
    fn a_connect_failure_retries_the_next_backend_not_yet_tried() {
        let (mut set, _) = set(Balance::RoundRobin, None, &[1, 2, 3]);
        let first = set.pick().unwrap();
        let second = set.next_candidate(&[first]).unwrap();
        let third = set.next_candidate(&[first, second]).unwrap();
        assert_eq!([first, second, third], [a(1), a(2), a(3)]);
        assert_eq!(set.next_candidate(&[first, second, third]), None);
    }

    #[test]
    fn a_retry_under_least_connections_skips_the_failed_backend_even_if_least_loaded() {
        let (mut set, _) = set(Balance::LeastConnections, None, &[1, 2]);
        set.opened(a(2));
        assert_eq!(set.next_candidate(&[a(1)]), Some(a(2)));
    }

    #[test]
    fn adding_a_backend_keeps_the_others_counts_health_and_rotation() {
        let (mut set, now) = set(Balance::RoundRobin, checked(), &[1, 2]);
        set.opened(a(1));
        set.record_check(a(2), CheckResult::Failed);
        assert_eq!(set.pick(), Some(a(1)));
        let update = set.update(&[a(1), a(2), a(3)], now, GRACE);
        assert_eq!(update.added, [a(3)]);
        assert_eq!(set.get(a(1)).unwrap().open(), 1);
        assert!(!set.get(a(2)).unwrap().health().is_up());
        assert_eq!(picks(&mut set, 3), [a(3), a(1), a(3)]);
    }

    #[test]
    fn a_new_backend_starts_in_the_configured_state() {
        let check = HealthCheck {
            initial: HealthState::Down,
            ..HealthCheck::default()
        };
        let (mut set, _) = set(Balance::RoundRobin, Some(check), &[1]);
        assert_eq!(set.healthy(), 0);
        assert_eq!(set.pick(), None);
    }

    #[test]
    fn a_removed_backend_drains_its_connections_and_takes_no_new_ones() {
        let (mut set, now) = set(Balance::RoundRobin, None, &[1, 2]);
        set.opened(a(1));
        let update = set.update(&[a(2)], now, GRACE);
        assert_eq!(update.draining, [a(1)]);
        assert_eq!(picks(&mut set, 2), [a(2), a(2)]);
        assert_eq!(set.healthy(), 1);
        assert_eq!(set.sweep(now + Duration::from_secs(1)), []);
        assert_eq!(set.get(a(1)).unwrap().open(), 1);
        set.closed(a(1));
        assert_eq!(
            set.sweep(now + Duration::from_secs(2)),
            [(a(1), DrainStep::Drained)]
        );
        assert_eq!(set.get(a(1)), None);
    }

    #[test]
    fn a_drain_past_its_deadline_is_forgotten_with_its_open_count_to_close() {
        let (mut set, now) = set(Balance::RoundRobin, None, &[1, 2]);
        set.opened(a(1));
        set.opened(a(1));
        set.update(&[a(2)], now, GRACE);
        assert_eq!(
            set.sweep(now + GRACE),
            [(a(1), DrainStep::Expired { open: 2 })]
        );
        assert_eq!(set.backends().len(), 1);
    }

    #[test]
    fn a_draining_backend_listed_again_takes_new_connections_with_its_count() {
        let (mut set, now) = set(Balance::LeastConnections, None, &[1, 2]);
        set.opened(a(1));
        set.update(&[a(2)], now, GRACE);
        let update = set.update(&[a(1), a(2)], now, GRACE);
        assert_eq!(update.restored, [a(1)]);
        assert_eq!(set.get(a(1)).unwrap().open(), 1);
        assert_eq!(set.pick(), Some(a(2)));
    }

    #[test]
    fn removing_a_backend_before_the_cursor_keeps_the_rotation_in_place() {
        let (mut set, now) = set(Balance::RoundRobin, None, &[1, 2, 3]);
        assert_eq!(picks(&mut set, 2), [a(1), a(2)]);
        set.update(&[a(2), a(3)], now, GRACE);
        set.sweep(now);
        assert_eq!(picks(&mut set, 3), [a(3), a(2), a(3)]);
    }
}
