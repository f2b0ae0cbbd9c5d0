//! The controller's shared state: the config in force and, while leading, the allocator
//! (one lock: [`Brain`]), leadership, readiness, the trigger channel and the retry
//! bookkeeping. Every task holds it through [`crate::context::Context`].

use std::sync::{Arc, Mutex, MutexGuard};

use herald_config::Config;
use herald_core::allocator::Allocator;
use tokio::sync::{broadcast, watch};

use crate::retry::Retries;
use crate::trigger::Trigger;

/// The config in force and, while leading, the allocator. One lock so a config change and
/// an allocation never interleave; never held across an `.await`.
#[derive(Debug, Default)]
pub struct Brain {
    pub config: Option<Arc<Config>>,
    pub allocator: Option<Allocator>,
}

/// What the controller knows of the API server's `status.loadBalancer.ingress[].ipMode`
/// (Kubernetes 1.29+), on which depends whether it writes the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpModeSupport {
    /// The server's version has not been read yet: written without it meanwhile.
    Unknown,
    /// From the server's version.
    Server(bool),
    /// The server refused the field or dropped it from a write: never written again by
    /// this process, whatever the version says.
    Refused,
}

/// Shared by every task; see the module documentation.
#[derive(Debug)]
pub struct State {
    brain: Mutex<Brain>,
    leader: watch::Sender<bool>,
    config_loaded: watch::Sender<bool>,
    services_synced: watch::Sender<bool>,
    ip_mode: watch::Sender<IpModeSupport>,
    /// Retry bookkeeping of the reconciler.
    pub retries: Retries,
    triggers: broadcast::Sender<Trigger>,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    pub fn new() -> Self {
        Self {
            brain: Mutex::default(),
            leader: watch::Sender::new(false),
            config_loaded: watch::Sender::new(false),
            services_synced: watch::Sender::new(false),
            ip_mode: watch::Sender::new(IpModeSupport::Unknown),
            retries: Retries::default(),
            triggers: broadcast::Sender::new(4096),
        }
    }

    /// The config and allocator. A panic while holding the lock would have left them
    /// consistent (every change is a single assignment), so a poisoned lock is used as is.
    pub fn brain(&self) -> MutexGuard<'_, Brain> {
        self.brain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.send_replace(leader);
    }

    pub fn config_loaded(&self) -> watch::Receiver<bool> {
        self.config_loaded.subscribe()
    }

    pub fn set_config(&self, brain: &mut Brain, config: Arc<Config>) {
        brain.config = Some(config);
        self.config_loaded.send_replace(true);
    }

    pub fn set_services_synced(&self) {
        self.services_synced.send_replace(true);
    }

    /// Waits until the Service cache has synced once.
    ///
    /// Tasks wait on this rather than each on `Store::wait_until_ready`: in kube-runtime
    /// 5.0.0 the store's readiness is a `futures` oneshot with one waker slot, so of several
    /// tasks waiting at once only the last to poll is woken.
    pub async fn services_synced(&self) {
        let mut synced = self.services_synced.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we are borrowed.
        let _ = synced.wait_for(|synced| *synced).await;
    }

    /// Ready: the Service cache has synced and a config is in force.
    pub fn is_ready(&self) -> bool {
        *self.services_synced.borrow() && *self.config_loaded.borrow()
    }

    /// Whether statuses carry `ingress[].ipMode`: only once the server's version says it
    /// has the field, and never after the server refused it.
    pub fn write_ip_mode(&self) -> bool {
        *self.ip_mode.borrow() == IpModeSupport::Server(true)
    }

    pub fn ip_mode_support(&self) -> IpModeSupport {
        *self.ip_mode.borrow()
    }

    /// The server refused `ipMode`: statuses are written without it from now on.
    pub fn disable_ip_mode(&self) {
        self.ip_mode.send_replace(IpModeSupport::Refused);
    }

    /// The server's version was read and says whether it has `ipMode`. Returns true when
    /// that turns the field on, so the Services written meanwhile are looked at again. A
    /// refusal seen first stands.
    pub fn set_server_ip_mode(&self, has: bool) -> bool {
        let known = self.ip_mode.send_if_modified(|support| {
            let unknown = *support == IpModeSupport::Unknown;
            if unknown {
                *support = IpModeSupport::Server(has);
            }
            unknown
        });
        known && has
    }

    /// Waits until the server's version has been read (or the field refused).
    pub async fn ip_mode_known(&self) {
        let mut known = self.ip_mode.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we are borrowed.
        let _ = known
            .wait_for(|support| *support != IpModeSupport::Unknown)
            .await;
    }

    pub fn trigger(&self, trigger: Trigger) {
        // No receiver means no term is running: the next term looks at everything anyway.
        let _ = self.triggers.send(trigger);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Trigger> {
        self.triggers.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_both_the_cache_and_a_config() {
        let state = State::new();
        assert!(!state.is_ready());
        state.set_services_synced();
        assert!(!state.is_ready());
        let mut brain = Brain::default();
        state.set_config(&mut brain, Arc::new(Config::default()));
        assert!(state.is_ready());
    }

    #[test]
    fn ip_mode_is_written_only_once_the_server_version_says_so() {
        let state = State::new();
        assert_eq!(state.ip_mode_support(), IpModeSupport::Unknown);
        assert!(!state.write_ip_mode());
        assert!(state.set_server_ip_mode(true), "turned on: look again");
        assert!(state.write_ip_mode());
        assert!(!state.set_server_ip_mode(true), "read once is enough");
    }

    #[test]
    fn a_server_without_ip_mode_turns_nothing_on() {
        let state = State::new();
        assert!(!state.set_server_ip_mode(false));
        assert_eq!(state.ip_mode_support(), IpModeSupport::Server(false));
        assert!(!state.write_ip_mode());
    }

    #[test]
    fn a_refusal_stands_against_a_later_version_read() {
        let state = State::new();
        state.disable_ip_mode();
        assert!(!state.set_server_ip_mode(true));
        assert_eq!(state.ip_mode_support(), IpModeSupport::Refused);
        assert!(!state.write_ip_mode());
        // And after a version that said yes.
        let state = State::new();
        state.set_server_ip_mode(true);
        state.disable_ip_mode();
        assert!(!state.write_ip_mode());
    }

    #[tokio::test]
    async fn waiting_for_the_version_ends_when_it_is_read() {
        let state = Arc::new(State::new());
        let waiter = tokio::spawn({
            let state = state.clone();
            async move { state.ip_mode_known().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        state.set_server_ip_mode(false);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("woken")
            .expect("joined");
    }
}
