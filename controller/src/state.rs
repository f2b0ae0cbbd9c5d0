//! The controller's shared state: the config in force and, while leading, the allocator
//! (one lock: [`Brain`]), leadership, readiness, the trigger channel and the retry
//! bookkeeping. Every task holds it through [`crate::context::Context`].

use std::sync::atomic::{AtomicBool, Ordering};
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

/// Shared by every task; see the module documentation.
#[derive(Debug)]
pub struct State {
    brain: Mutex<Brain>,
    leader: watch::Sender<bool>,
    config_loaded: watch::Sender<bool>,
    services_synced: watch::Sender<bool>,
    write_ip_mode: AtomicBool,
    /// Retry bookkeeping of the reconciler.
    pub retries: Retries,
    triggers: broadcast::Sender<Trigger>,
}

impl State {
    pub fn new(write_ip_mode: bool) -> Self {
        Self {
            brain: Mutex::default(),
            leader: watch::Sender::new(false),
            config_loaded: watch::Sender::new(false),
            services_synced: watch::Sender::new(false),
            write_ip_mode: AtomicBool::new(write_ip_mode),
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

    pub fn write_ip_mode(&self) -> bool {
        self.write_ip_mode.load(Ordering::Relaxed)
    }

    pub fn disable_ip_mode(&self) {
        self.write_ip_mode.store(false, Ordering::Relaxed);
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
        let state = State::new(false);
        assert!(!state.is_ready());
        state.set_services_synced();
        assert!(!state.is_ready());
        let mut brain = Brain::default();
        state.set_config(&mut brain, Arc::new(Config::default()));
        assert!(state.is_ready());
    }
}
