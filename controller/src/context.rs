//! What every task shares: the kube client, the Event recorder, the metrics and the state
//! (config in force, allocator, leadership). Injected, no globals.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use herald_config::Config;
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use kube::Client;
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use tokio::sync::{broadcast, watch};

use crate::metrics::Metrics;
use herald_core::allocator::Allocator;

/// Event reasons.
pub mod reasons {
    pub const IP_ALLOCATED: &str = "IPAllocated";
    pub const ALLOCATION_FAILED: &str = "AllocationFailed";
    pub const IP_RELEASED: &str = "IPReleased";
    pub const CONFIG_LOADED: &str = "ConfigLoaded";
}

/// Fixed settings from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--lb-class`.
    pub lb_class: String,
    /// The key of the ConfigMap's data holding the config.
    pub config_key: String,
    /// This replica's Lease identity.
    pub identity: String,
}

/// Why the reconcile queue should look at Services again; sent by the watchers and the
/// reconciler, consumed by the leader's term (followers drop them).
#[derive(Debug, Clone)]
pub enum Trigger {
    /// The Service was added or changed.
    Changed(ObjectRef<Service>),
    /// The Service is gone: release what it held.
    Deleted(ObjectRef<Service>),
    /// A new config is in force: every Service again.
    All,
    /// The watch re-listed: release holders that are no longer there.
    Resynced,
    /// An address was released: retry the Services that failed for want of one.
    RetryPending,
}

/// The config in force and, while leading, the allocator. One lock so a config change and
/// an allocation never interleave; never held across an `.await`.
#[derive(Debug, Default)]
pub struct Brain {
    pub config: Option<Arc<Config>>,
    pub allocator: Option<Allocator>,
}

#[derive(Debug)]
pub struct State {
    brain: Mutex<Brain>,
    leader: watch::Sender<bool>,
    config_loaded: watch::Sender<bool>,
    services_synced: watch::Sender<bool>,
    write_ip_mode: AtomicBool,
    /// Services whose allocation failed in a way a release may cure.
    pending: Mutex<HashSet<ObjectRef<Service>>>,
    /// Transient failures in a row per Service, for backoff.
    attempts: Mutex<HashMap<ObjectRef<Service>, u32>>,
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
            pending: Mutex::default(),
            attempts: Mutex::default(),
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

    pub fn add_pending(&self, service: ObjectRef<Service>) {
        lock(&self.pending).insert(service);
    }

    pub fn take_pending(&self) -> Vec<ObjectRef<Service>> {
        std::mem::take(&mut *lock(&self.pending))
            .into_iter()
            .collect()
    }

    /// Counts one more transient failure of `service`; returns the count.
    pub fn bump_attempts(&self, service: ObjectRef<Service>) -> u32 {
        let mut attempts = lock(&self.attempts);
        let count = attempts.entry(service).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }

    pub fn reset_attempts(&self, service: &ObjectRef<Service>) {
        lock(&self.attempts).remove(service);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Everything the reconciler and the other tasks need.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub state: Arc<State>,
    pub settings: Arc<Settings>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Publishes an Event about `regarding` if this replica leads (followers stay silent);
    /// a failure to publish is logged, never fatal.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        if !self.state.is_leader() {
            return;
        }
        herald_runtime::events::publish(&self.recorder, regarding, type_, reason, action, note)
            .await;
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
