//! What every task shares, injected, no globals: the kube client, the Event recorder, the
//! metrics, the fixed settings and the [`State`].

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{EventType, Recorder};

use crate::metrics::Metrics;
use crate::state::State;

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
