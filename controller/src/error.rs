//! The reconciler's errors, split into transient (requeue with backoff) and permanent (wait
//! until the object changes). Each knows its metric label.

use std::time::Duration;

use crate::plan::PlanError;
use herald_core::service::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Service cannot have an address as it stands (bad annotation, pool exhausted,
    /// address held by another Service). Permanent; a release elsewhere retries the ones
    /// that may clear up.
    #[error("{0}")]
    Plan(#[from] PlanError),

    /// The object is unusable (no name).
    #[error(transparent)]
    Service(#[from] ServiceError),

    /// Writing the status failed.
    #[error("writing the Service status failed: {0}")]
    Kube(#[source] kube::Error),

    /// This replica stopped leading while the reconcile ran; the next leader reconciles.
    #[error("not the leader")]
    NotLeader,

    /// The allocator is not set up (no config yet, or the term is ending).
    #[error("the allocator is not ready")]
    NotReady,
}

impl Error {
    /// Whether trying again later, without the object changing, may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Plan(_) | Error::Service(_) | Error::NotLeader => false,
            Error::NotReady => true,
            Error::Kube(error) => kube_is_transient(error),
        }
    }

    /// Metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Plan(error) => error.label(),
            Error::Service(error) => error.label(),
            Error::Kube(error) => kube_label(error),
            Error::NotLeader => "not_leader",
            Error::NotReady => "not_ready",
        }
    }
}

/// API answers that may go away by themselves: conflicts, throttling, server errors,
/// timeouts, missing permissions (an admin may fix RBAC), and anything that never reached
/// the server. Not: the object is gone (404), or the request is invalid (400, 422).
pub fn kube_is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => !matches!(status.code, 400 | 404 | 405 | 415 | 422),
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => false,
        _ => true,
    }
}

fn kube_label(error: &kube::Error) -> &'static str {
    match error {
        kube::Error::Api(status) => match status.code {
            403 => "api_forbidden",
            404 => "api_not_found",
            409 => "api_conflict",
            422 | 400 => "api_invalid",
            429 => "api_throttled",
            500..=599 => "api_server_error",
            _ => "api_other",
        },
        _ => "api_unreachable",
    }
}

/// Requeue delay after `attempt` transient failures in a row (1 = the first): 1 s doubling
/// up to 5 min.
pub fn backoff(attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exponent).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::IpFamily;
    use herald_core::allocator::AllocationError;
    use kube::core::Status;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(Status {
            code,
            ..Default::default()
        }))
    }

    #[test]
    fn conflicts_and_server_errors_are_retried_invalid_requests_are_not() {
        for code in [409, 429, 500, 503, 403] {
            assert!(Error::Kube(api(code)).is_transient(), "{code}");
        }
        for code in [400, 404, 422] {
            assert!(!Error::Kube(api(code)).is_transient(), "{code}");
        }
        assert_eq!(Error::Kube(api(409)).label(), "api_conflict");
        assert_eq!(Error::Kube(api(503)).label(), "api_server_error");
    }

    #[test]
    fn allocation_failures_wait_for_a_change() {
        let error = Error::Plan(PlanError::Allocation(AllocationError::PoolExhausted {
            pool: "default".into(),
            family: IpFamily::V4,
        }));
        assert!(!error.is_transient());
        assert_eq!(error.label(), "pool_exhausted");
        assert!(!Error::NotLeader.is_transient());
        assert!(Error::NotReady.is_transient());
    }

    #[test]
    fn backoff_doubles_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(9), Duration::from_secs(256));
        assert_eq!(backoff(10), Duration::from_secs(300));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(300));
        assert_eq!(backoff(0), Duration::from_secs(1));
    }
}
