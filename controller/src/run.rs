//! `herald-controller run`: connects to the API server and runs every task until shutdown.
//!
//! ```text
//!   Service watcher ──reflector──▶ Store<Service> ◀───────────── term (leader only):
//!         │                             ▲                          rebuild, applier(reconcile)
//!         └── Changed/Deleted/Resynced ─┼──▶ Trigger broadcast ──▶      ▲
//!   ConfigMap watcher ── good config ───┴──▶ Trigger::All              │
//!   Lease loop ── leader? ── starts/stops one term per leadership ─────┘
//!   admin HTTP ── /metrics /livez /readyz (bound first)
//!   version reader ── retries until the server's version says whether to write ipMode
//! ```
//!
//! One [`CancellationToken`] stops everything: the term stops writing first, then the
//! Lease is released.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use herald_runtime::kube_client::{self, ClientError};
use herald_runtime::{admin, events};
use k8s_openapi::api::core::v1::Service;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::cli::{RunArgs, default_identity};
use crate::config_watch::{self, ConfigSource};
use crate::context::{Context, Settings};
use crate::election::{self, LeaseConfig};
use crate::metrics::Metrics;
use crate::state::State;
use crate::status::{FIELD_MANAGER, server_has_ip_mode};
use crate::trigger::Trigger;

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot bind the admin server to {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the controller until `shutdown` is cancelled and every task has wound down.
pub async fn run(
    args: RunArgs,
    registry: Registry,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    // The admin server first: its liveness must not wait on an API server that is slow
    // to answer (the chart's probe restarts a pod whose /livez fails for 30 s).
    let listener = admin::bind(args.common.admin_addr)
        .await
        .map_err(|source| RunError::Bind {
            addr: args.common.admin_addr,
            source,
        })?;
    let admin_addr = listener.local_addr().unwrap_or(args.common.admin_addr);
    info!(addr = %admin_addr, "admin server listening");

    let client = kube_client::client(args.common.kubeconfig.as_deref()).await?;
    let identity = default_identity(args.identity.as_deref());
    let settings = Arc::new(Settings {
        lb_class: args.common.lb_class.clone(),
        config_key: args.common.config_key.clone(),
        identity: identity.clone(),
    });
    let recorder = events::recorder(client.clone(), FIELD_MANAGER, &identity);
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder,
        metrics,
        state: Arc::new(State::new()),
        settings,
    });

    let ready_state = ctx.state.clone();
    let admin = admin::serve(
        listener,
        Arc::new(registry),
        Arc::new(move || ready_state.is_ready()),
        shutdown.clone(),
    );
    let version = read_server_version(ctx.clone(), shutdown.clone());

    let (store, writer) = reflector::store::<Service>();
    let services: Api<Service> = match &args.common.namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    info!(
        namespace = args.common.namespace.as_deref().unwrap_or("<all>"),
        identity = %identity,
        lb_class = %args.common.lb_class,
        "watching Services"
    );
    let watch = watch_services(ctx.clone(), services, writer, shutdown.clone());
    let config = config_watch::run(
        ctx.clone(),
        store.clone(),
        ConfigSource {
            namespace: args.common.config_namespace.clone(),
            name: args.common.config_name.clone(),
        },
        shutdown.clone(),
    );
    let lead = election::run(
        ctx.clone(),
        store.clone(),
        LeaseConfig {
            name: args.lease_name.clone(),
            namespace: args.lease_namespace().to_owned(),
            identity,
            duration: args.lease_duration,
        },
        shutdown.clone(),
    );
    tokio::join!(watch, config, lead, admin, version);
    info!("stopped");
    Ok(())
}

/// How long one attempt to read the server's version may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest pause between two attempts.
const VERSION_RETRY_MAX: Duration = Duration::from_secs(30);

/// Reads the API server's version, which says whether statuses may carry
/// `ingress[].ipMode`, retrying with backoff until it succeeds: a failure at start (an API
/// server still coming up, a slow network) must not switch the field off for the life of
/// the process. Once a server with the field answers, every Service is looked at again.
async fn read_server_version(ctx: Arc<Context>, shutdown: CancellationToken) {
    let mut pause = Duration::from_millis(500);
    loop {
        let attempt = tokio::time::timeout(VERSION_TIMEOUT, ctx.client.apiserver_version());
        let result = tokio::select! {
            () = shutdown.cancelled() => return,
            result = attempt => result,
        };
        let error = match result {
            Ok(Ok(version)) => {
                let has = server_has_ip_mode(&version.major, &version.minor);
                info!(server = %version.git_version, write_ip_mode = has, "connected to the API server");
                if ctx.state.set_server_ip_mode(has) {
                    ctx.state.trigger(Trigger::All);
                }
                return;
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {VERSION_TIMEOUT:?}"),
        };
        warn!(%error, retry_in = ?pause, "cannot read the API server version; writing statuses without ingress ipMode until it is read");
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(VERSION_RETRY_MAX);
    }
}

/// Keeps the Service cache and tells the term what changed. Only our own managed-fields
/// entry is kept on each object (the one the plan reads), which saves most of the memory a
/// big cluster's Services would take.
async fn watch_services(
    ctx: Arc<Context>,
    api: Api<Service>,
    writer: reflector::store::Writer<Service>,
    shutdown: CancellationToken,
) {
    let events = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|service: &mut Service| {
            if let Some(fields) = service.metadata.managed_fields.as_mut() {
                fields.retain(|entry| entry.manager.as_deref() == Some(FIELD_MANAGER));
            }
        });
    let events = reflector::reflector(writer, events);
    let mut events = std::pin::pin!(events);
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            event = events.next() => event,
        };
        match event {
            None => return,
            Some(Ok(watcher::Event::Apply(service) | watcher::Event::InitApply(service))) => {
                debug!(
                    namespace = service.metadata.namespace.as_deref().unwrap_or(""),
                    name = service.metadata.name.as_deref().unwrap_or(""),
                    "Service changed"
                );
                ctx.state
                    .trigger(Trigger::Changed(ObjectRef::from_obj(&service)));
            }
            Some(Ok(watcher::Event::Delete(service))) => {
                ctx.state
                    .trigger(Trigger::Deleted(ObjectRef::from_obj(&service)));
            }
            Some(Ok(watcher::Event::InitDone)) => {
                ctx.state.set_services_synced();
                ctx.state.trigger(Trigger::Resynced);
            }
            Some(Ok(watcher::Event::Init)) => {}
            Some(Err(error)) => warn!(%error, "Service watch failed; retrying"),
        }
    }
}
