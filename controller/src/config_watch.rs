//! Watches the Herald ConfigMap and puts good configs in force ([`herald_core::reload`] decides).
//!
//! Every replica runs it (followers keep `herald_config_stale` honest and are ready to lead
//! with the right config); only the leader publishes the Events.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::Resource;
use kube::api::Api;
use kube::runtime::events::EventType;
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, watcher};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::context::Context;
use crate::reasons;
use crate::trigger::Trigger;
use herald_core::allocator::{PoolChangeError, pools_from_config};
use herald_core::reload::{self, Rejection, ReloadDecision};
use herald_core::service::partition_holders;

/// Where the config lives.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub namespace: String,
    pub name: String,
}

/// Runs until `shutdown`.
pub async fn run(
    ctx: Arc<Context>,
    services: Store<Service>,
    source: ConfigSource,
    shutdown: CancellationToken,
) {
    // Decide about orphans with the full view of who holds what.
    tokio::select! {
        () = shutdown.cancelled() => return,
        () = ctx.state.services_synced() => {}
    }
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &source.namespace);
    let selector = format!("metadata.name={}", source.name);
    let events = watcher(api, watcher::Config::default().fields(&selector)).default_backoff();
    let mut events = std::pin::pin!(events);
    let mut seen_in_list = false;
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            event = events.next() => event,
        };
        match event {
            None => return,
            Some(Ok(watcher::Event::Apply(map) | watcher::Event::InitApply(map))) => {
                seen_in_list = true;
                consider(&ctx, &services, &map).await;
            }
            Some(Ok(watcher::Event::Delete(_))) => {
                warn!(
                    namespace = %source.namespace,
                    name = %source.name,
                    "config ConfigMap deleted; the config in force stays"
                );
            }
            Some(Ok(watcher::Event::Init)) => seen_in_list = false,
            Some(Ok(watcher::Event::InitDone)) => {
                if !seen_in_list && ctx.state.brain().config.is_none() {
                    warn!(
                        namespace = %source.namespace,
                        name = %source.name,
                        "no config ConfigMap; nothing is allocated until it exists"
                    );
                }
            }
            Some(Err(error)) => warn!(%error, "ConfigMap watch failed; retrying"),
        }
    }
}

/// Decides about one version of the ConfigMap and acts on it.
async fn consider(ctx: &Context, services: &Store<Service>, map: &ConfigMap) {
    let all = services.state();
    let (held, _) = partition_holders(all.iter().map(AsRef::as_ref), &ctx.settings.lb_class);
    let outcome = {
        let mut brain = ctx.state.brain();
        let text = reload::config_text(map.data.as_ref(), &ctx.settings.config_key);
        match reload::decide(brain.config.as_deref(), text, &held) {
            ReloadDecision::Apply(config) => {
                // The leader's allocator knows allocations the statuses may not show yet.
                let refused = brain
                    .allocator
                    .as_mut()
                    .and_then(|allocator| allocator.set_pools(pools_from_config(&config)).err());
                match refused {
                    Some(PoolChangeError::WouldOrphan { orphans }) => {
                        Err(Rejection::WouldOrphan(orphans))
                    }
                    Some(PoolChangeError::Invalid(error)) => Err(Rejection::Pools(error)),
                    None => {
                        if let Some(allocator) = brain.allocator.as_ref() {
                            ctx.metrics.set_usage(&allocator.usage());
                        }
                        ctx.state.set_config(&mut brain, config.clone());
                        Ok(Some(config))
                    }
                }
            }
            ReloadDecision::Unchanged => Ok(None),
            ReloadDecision::Reject(rejection) => Err(rejection),
        }
    };
    let regarding = map.object_ref(&());
    match outcome {
        Ok(Some(config)) => {
            ctx.metrics.set_config(true, false);
            let summary = format!("{} pools, {} peers", config.pools.len(), config.peers.len());
            info!(%summary, "config loaded");
            ctx.publish(
                &regarding,
                EventType::Normal,
                reasons::CONFIG_LOADED,
                "LoadConfig",
                format!("Loaded config: {summary}"),
            )
            .await;
            ctx.state.trigger(Trigger::All);
        }
        Ok(None) => {
            // The ConfigMap is back to the config in force.
            ctx.metrics.set_config(true, false);
        }
        Err(rejection) => {
            let loaded = ctx.state.brain().config.is_some();
            ctx.metrics.set_config(loaded, true);
            warn!(
                reason = rejection.reason(),
                error = %rejection,
                "config refused; the last good config stays in force"
            );
            let keeping = if loaded {
                "the last good config stays in force"
            } else {
                "no config is in force"
            };
            ctx.publish(
                &regarding,
                EventType::Warning,
                rejection.reason(),
                "LoadConfig",
                format!("{rejection}\n({keeping})"),
            )
            .await;
        }
    }
}
