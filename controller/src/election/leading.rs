//! What the leader does while it leads, one run ("term") per leadership: from taking the
//! Lease to losing it (or shutting down).
//!
//! ```text
//!  Trigger broadcast ──▶ dispatcher ──┬─ Changed / All / RetryPending ──▶ queue ──▶ applier(reconcile)
//!                                     └─ Deleted / Resynced ──▶ release in the allocator
//! ```
//!
//! A term waits for the Service cache, a config and (a few seconds at most) the API
//! server's version, rebuilds the allocator from every Service's status (holders first,
//! oldest first, so no address is stolen), then reconciles every Service and whatever the
//! watchers report until it is stopped. The allocator lives only while the term does; the
//! next term rebuilds it from the statuses, which are the truth.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::applier;
use kube::runtime::controller::{self, ReconcileRequest};
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::context::Context;
use crate::reconcile::{error_policy, reconcile};
use crate::trigger::Trigger;
use herald_core::ServiceKey;
use herald_core::allocator::{Allocator, pools_from_config};
use herald_core::service::partition_holders;

/// At most this many reconciles at once (each is at most one status write and one Event).
const CONCURRENCY: u16 = 16;

/// How long a term waits for the API server's version before it allocates (statuses are
/// then written without `ipMode` until the version is read, and looked at again after).
const VERSION_WAIT: Duration = Duration::from_secs(5);

/// Why a term ended other than by being stopped.
#[derive(Debug, thiserror::Error)]
pub enum TermError {
    #[error("the config channel is gone")]
    ConfigGone,
    #[error("the config in force has invalid pools: {0}")]
    Pools(#[from] herald_core::allocator::PoolError),
}

/// Runs a term until `stop` is cancelled.
pub async fn lead(
    ctx: Arc<Context>,
    store: Store<Service>,
    stop: CancellationToken,
) -> Result<(), TermError> {
    // Subscribe before looking at the store so no change between the two is missed.
    let triggers = ctx.state.subscribe();
    let prepared = async {
        ctx.state.services_synced().await;
        let mut loaded = ctx.state.config_loaded();
        if !*loaded.borrow() {
            info!("leading, waiting for a valid config before allocating");
        }
        loaded
            .wait_for(|loaded| *loaded)
            .await
            .map_err(|_| TermError::ConfigGone)?;
        if tokio::time::timeout(VERSION_WAIT, ctx.state.ip_mode_known())
            .await
            .is_err()
        {
            info!(
                "the API server's version is not read yet; allocating without ingress ipMode until it is"
            );
        }
        rebuild(&ctx, &store)
    };
    tokio::select! {
        () = stop.cancelled() => return Ok(()),
        prepared = prepared => prepared?,
    }

    let (queue, requests) = mpsc::unbounded::<ReconcileRequest<Service>>();
    for service in store.state() {
        let _ = queue.unbounded_send(ObjectRef::from_obj(service.as_ref()).into());
    }
    let dispatch = dispatch(&ctx, &store, triggers, queue);
    let run = applier(
        |service, ctx| Box::pin(reconcile(service, ctx)),
        error_policy,
        ctx.clone(),
        store.clone(),
        requests.map(Ok::<_, Infallible>),
        controller::Config::default().concurrency(CONCURRENCY),
    )
    .for_each(|result| async move {
        if let Err(error) = result {
            // Reconcile errors were logged with their Service; these are the runner's own
            // (e.g. a Service deleted between trigger and run).
            debug!(%error, "applier");
        }
    });
    tokio::select! {
        () = stop.cancelled() => {}
        () = dispatch => warn!("trigger channel closed; ending the term"),
        () = run => warn!("reconcile queue ended; ending the term"),
    }
    ctx.state.brain().allocator = None;
    ctx.metrics.clear_usage();
    Ok(())
}

/// A fresh allocator over the config in force with every holder restored, oldest first.
fn rebuild(ctx: &Context, store: &Store<Service>) -> Result<(), TermError> {
    let services = store.state();
    let (held, others) =
        partition_holders(services.iter().map(AsRef::as_ref), &ctx.settings.lb_class);
    let mut brain = ctx.state.brain();
    let Some(config) = brain.config.clone() else {
        return Err(TermError::ConfigGone);
    };
    let mut allocator = Allocator::new(pools_from_config(&config))?;
    for restored in allocator.restore(&held) {
        for refused in &restored.refused {
            warn!(
                service = %restored.key,
                ip = %refused.ip,
                reason = %refused.reason,
                "address in the status cannot be kept"
            );
        }
    }
    info!(
        holders = held.len(),
        without_address = others.len(),
        in_use = allocator.len(),
        "allocator rebuilt from Service statuses"
    );
    ctx.metrics.set_usage(&allocator.usage());
    brain.allocator = Some(allocator);
    Ok(())
}

/// Turns triggers into reconcile requests and releases; ends when the trigger channel
/// closes.
async fn dispatch(
    ctx: &Context,
    store: &Store<Service>,
    mut triggers: tokio::sync::broadcast::Receiver<Trigger>,
    queue: mpsc::UnboundedSender<ReconcileRequest<Service>>,
) {
    let enqueue = |service: ObjectRef<Service>| {
        let _ = queue.unbounded_send(service.into());
    };
    let enqueue_all = || {
        for service in store.state() {
            enqueue(ObjectRef::from_obj(service.as_ref()));
        }
    };
    loop {
        match triggers.recv().await {
            Ok(Trigger::Changed(service)) => enqueue(service),
            Ok(Trigger::All) => enqueue_all(),
            Ok(Trigger::RetryPending) => ctx
                .state
                .retries
                .take_pending()
                .into_iter()
                .for_each(enqueue),
            Ok(Trigger::Deleted(service)) => {
                let key =
                    ServiceKey::new(service.namespace.clone().unwrap_or_default(), &service.name);
                if release(ctx, std::iter::once(key)) > 0 {
                    ctx.state
                        .retries
                        .take_pending()
                        .into_iter()
                        .for_each(enqueue);
                }
            }
            Ok(Trigger::Resynced) => {
                let gone: Vec<ServiceKey> = {
                    let brain = ctx.state.brain();
                    brain
                        .allocator
                        .iter()
                        .flat_map(|a| a.assignments())
                        .map(|(key, _)| key.clone())
                        .filter(|key| {
                            store
                                .get(&ObjectRef::new(&key.name).within(&key.namespace))
                                .is_none()
                        })
                        .collect()
                };
                if release(ctx, gone) > 0 {
                    ctx.state
                        .retries
                        .take_pending()
                        .into_iter()
                        .for_each(enqueue);
                }
            }
            Err(RecvError::Lagged(missed)) => {
                debug!(missed, "trigger channel lagged; reconciling everything");
                enqueue_all();
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Releases what the given (deleted) Services held; returns how many held something.
fn release(ctx: &Context, keys: impl IntoIterator<Item = ServiceKey>) -> usize {
    let mut brain = ctx.state.brain();
    let Some(allocator) = brain.allocator.as_mut() else {
        return 0;
    };
    let mut released = 0;
    for key in keys {
        if let Some(assignment) = allocator.release(&key) {
            info!(service = %key, %assignment, "released: Service deleted");
            released += 1;
        }
    }
    if released > 0 {
        ctx.metrics.set_usage(&allocator.usage());
    }
    released
}
