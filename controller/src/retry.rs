//! Per-Service retry bookkeeping of the reconciler: Services waiting for an address to be
//! released ([`Retries::add_pending`]), and transient failures in a row for the backoff
//! ([`crate::error::backoff`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use k8s_openapi::api::core::v1::Service;
use kube::runtime::reflector::ObjectRef;

/// Which Services to retry, and how often each failed in a row.
#[derive(Debug, Default)]
pub struct Retries {
    /// Services whose allocation failed in a way a release may cure.
    pending: Mutex<HashSet<ObjectRef<Service>>>,
    /// Transient failures in a row per Service, for backoff.
    attempts: Mutex<HashMap<ObjectRef<Service>, u32>>,
}

impl Retries {
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

/// The lock; a poisoned one is used as is (every change is a single insert or remove).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> ObjectRef<Service> {
        ObjectRef::new(name).within("ns")
    }

    #[test]
    fn attempts_count_up_until_reset() {
        let retries = Retries::default();
        assert_eq!(retries.bump_attempts(service("a")), 1);
        assert_eq!(retries.bump_attempts(service("a")), 2);
        assert_eq!(retries.bump_attempts(service("b")), 1);
        retries.reset_attempts(&service("a"));
        assert_eq!(retries.bump_attempts(service("a")), 1);
    }

    #[test]
    fn pending_services_are_taken_once() {
        let retries = Retries::default();
        retries.add_pending(service("a"));
        retries.add_pending(service("a"));
        assert_eq!(retries.take_pending(), [service("a")]);
        assert!(retries.take_pending().is_empty());
    }
}
