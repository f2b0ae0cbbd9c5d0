//! Leader election on a `coordination.k8s.io/v1` Lease (kube-runtime has none).
//!
//! ```text
//!            ┌──────── follower ─────────┐  take (create / replace at resourceVersion)
//!   start ──▶│ look every retry interval ├─────────────────────────┐
//!            │ and when the Lease changes│                         │
//!            └───────────────────────────┘                         ▼
//!                  ▲   renew failed: stop the term at once   ┌──── leader ────┐
//!                  └─────────────────────────────────────────┤ renew every d/3 │
//!                                                            └───────┬────────┘
//!                                          shutdown: stop the term, release the Lease
//! ```
//!
//! All of leader election is in this module:
//! - [`decision`]: pure, whether this replica may take the Lease and what to write;
//! - this file: the API calls (create, replace at `resourceVersion`, renew, release) and
//!   the loop above;
//! - [`leading`]: what the leader does while it leads (one run per leadership: rebuild the
//!   allocator from the statuses, then reconcile).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, watcher};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::context::Context;
mod decision;
mod leading;

use decision::LeaseDecision;

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    pub duration: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("Lease API call failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("another replica changed the Lease first")]
    Conflict,
    #[error("the Lease API call did not answer within {0:?}")]
    Timeout(Duration),
}

/// Contends for the Lease until `shutdown`, running a term while leading. On shutdown the
/// term stops first, then the Lease is released so another replica takes over at once.
pub async fn run(
    ctx: Arc<Context>,
    store: Store<Service>,
    config: LeaseConfig,
    shutdown: CancellationToken,
) {
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), &config.namespace);
    let retry = decision::retry_interval(config.duration);
    let renew = decision::renew_interval(config.duration);
    loop {
        // Follower: look at the Lease every retry interval, and at once when it changes
        // (released by a leader that stops), until it can be taken.
        let selector = format!("metadata.name={}", config.name);
        let changes =
            watcher(api.clone(), watcher::Config::default().fields(&selector)).default_backoff();
        let mut changes = std::pin::pin!(changes);
        let mut watching = true;
        let mut lease = loop {
            match try_take(&api, &config).await {
                Ok(Some(lease)) => break lease,
                Ok(None) => {}
                Err(error) => debug!(%error, "could not take the Lease"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(retry) => {}
                change = changes.next(), if watching => {
                    watching = change.is_some();
                }
            }
        };

        info!(identity = %config.identity, lease = %config.name, "became leader");
        ctx.state.set_leader(true);
        ctx.metrics.set_leader(true);
        let term_stop = shutdown.child_token();
        let mut term = tokio::spawn(leading::lead(ctx.clone(), store.clone(), term_stop.clone()));

        // Leader: renew until that fails, the term ends, or shutdown.
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                ended = &mut term => {
                    match ended {
                        Ok(Ok(())) if shutdown.is_cancelled() => {}
                        Ok(Ok(())) => warn!("term ended by itself"),
                        Ok(Err(error)) => error!(%error, "term failed"),
                        Err(error) => error!(%error, "term panicked"),
                    }
                    break;
                }
                () = tokio::time::sleep(renew) => {}
            }
            match renew_once(&api, &config, &lease).await {
                Ok(renewed) => lease = renewed,
                Err(error) => {
                    warn!(%error, "could not renew the Lease; stepping down");
                    break;
                }
            }
        }

        // Stop writing at once, then wait for the term to wind down.
        ctx.state.set_leader(false);
        ctx.metrics.set_leader(false);
        term_stop.cancel();
        if !term.is_finished() {
            let _ = term.await;
        }
        if shutdown.is_cancelled() {
            release(&api, &config, &lease).await;
            return;
        }
        // Stepped down (or the term failed): give the Lease a chance to go elsewhere.
        info!("stepped down");
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(retry) => {}
        }
    }
}

/// One look at the Lease: take it if free or ours. `Ok(None)`: someone else holds it.
async fn try_take(api: &Api<Lease>, config: &LeaseConfig) -> Result<Option<Lease>, LeaseError> {
    let timeout = decision::renew_interval(config.duration);
    let current = with_timeout(timeout, api.get_opt(&config.name)).await??;
    let now = Timestamp::now();
    let decision = decision::decide(
        current.as_ref().and_then(|l| l.spec.as_ref()),
        current.is_some(),
        now,
        &config.identity,
    );
    let spec = match &decision {
        LeaseDecision::Wait { holder, expires } => {
            debug!(%holder, %expires, "Lease held by another replica");
            return Ok(None);
        }
        other => decision::claimed(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            other,
            &config.identity,
            now,
            duration_seconds(config.duration),
        ),
    };
    match current {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.name.clone()),
                    namespace: Some(config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(spec),
            };
            match with_timeout(timeout, api.create(&PostParams::default(), &lease)).await? {
                Ok(created) => Ok(Some(created)),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
                Err(error) => Err(error.into()),
            }
        }
        Some(existing) => {
            if let LeaseDecision::Acquire(why) = &decision {
                info!(?why, "Lease is free; taking it");
            }
            match replace(api, config, &existing, spec, timeout).await {
                Ok(lease) => Ok(Some(lease)),
                Err(LeaseError::Conflict) => Ok(None),
                Err(error) => Err(error),
            }
        }
    }
}

/// Renews our Lease; any failure (including someone else having changed it) means we must
/// stop leading.
async fn renew_once(
    api: &Api<Lease>,
    config: &LeaseConfig,
    lease: &Lease,
) -> Result<Lease, LeaseError> {
    let spec = decision::claimed(
        lease.spec.as_ref(),
        &LeaseDecision::Renew,
        &config.identity,
        Timestamp::now(),
        duration_seconds(config.duration),
    );
    replace(
        api,
        config,
        lease,
        spec,
        decision::renew_interval(config.duration),
    )
    .await
}

/// Replaces the Lease at the resourceVersion we last saw (optimistic concurrency).
async fn replace(
    api: &Api<Lease>,
    config: &LeaseConfig,
    existing: &Lease,
    spec: LeaseSpec,
    timeout: Duration,
) -> Result<Lease, LeaseError> {
    let mut updated = existing.clone();
    updated.spec = Some(spec);
    match with_timeout(
        timeout,
        api.replace(&config.name, &PostParams::default(), &updated),
    )
    .await?
    {
        Ok(lease) => Ok(lease),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(LeaseError::Conflict),
        Err(error) => Err(error.into()),
    }
}

/// Clears the holder so the next replica need not wait for the Lease to expire.
async fn release(api: &Api<Lease>, config: &LeaseConfig, lease: &Lease) {
    let Some(spec) = lease
        .spec
        .as_ref()
        .and_then(|spec| decision::released(spec, &config.identity))
    else {
        return;
    };
    match replace(api, config, lease, spec, Duration::from_secs(5)).await {
        Ok(_) => info!("released the Lease"),
        Err(error) => warn!(%error, "could not release the Lease; it will expire"),
    }
}

async fn with_timeout<T>(
    timeout: Duration,
    call: impl Future<Output = T>,
) -> Result<T, LeaseError> {
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| LeaseError::Timeout(timeout))
}

fn duration_seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}
