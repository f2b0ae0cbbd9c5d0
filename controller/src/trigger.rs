//! What makes the leader look at Services again: the watchers and the reconciler send a
//! [`Trigger`] on one broadcast channel ([`crate::state::State::trigger`]); the running
//! leadership consumes them, followers drop them.

use k8s_openapi::api::core::v1::Service;
use kube::runtime::reflector::ObjectRef;

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
