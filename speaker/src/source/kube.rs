//! The Kubernetes source: reflectors for Services, EndpointSlices, Nodes and the Herald
//! ConfigMap, turned into a [`SourceState`] on a watch channel, the same channel the
//! standalone directory source feeds.
//!
//! EndpointSlices are read as `discovery.k8s.io/v1`, or on servers older than 1.21 as
//! `discovery.k8s.io/v1beta1` converted to `v1` ([`slice_api`]): which one is decided once,
//! from the server's API discovery, when the watch starts.
//!
//! ```text
//!   Service watcher ───────reflector──▶ Store<Service>  ──┐
//!   EndpointSlice watcher ─reflector──▶ Store<Slice>    ──┤ each change bumps
//!    (v1, or v1beta1 -> v1)                                │
//!   Node watcher ──────────reflector──▶ Store<Node>     ──┤ `generation`
//!   ConfigMap watcher ─────reflector──▶ Store<ConfigMap>──┤
//!   Secret watcher (type kubernetes.io/tls, --tls-secrets) ─┘
//!                                                          ▼
//!   rebuild task: waits for every store, then per change (debounced 50 ms):
//!     ConfigMap -> config (reload::decide: last good kept) ; ClusterView::build
//!     ──▶ watch::Sender<Arc<SourceState>>  ──▶ the speaker's main loop
//! ```
//!
//! Nothing is published before every store has listed once, so no decision is ever made
//! from a partial view. A ConfigMap that does not validate, or that would take addresses
//! away from Services holding them (the controller refuses those too), leaves the last good
//! config in force and shows up in `SourceState::errors`.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt};
use herald_config::Config;
use herald_core::reload::{self, ReloadDecision};
use herald_core::service::partition_holders;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Node, NodeStatus, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::slice_api::{EndpointSliceV1Beta1, SliceApi};
use super::SourceState;
use crate::proxy::service::TLS_SECRET_TYPE;
use crate::view::{ClusterView, SERVICE_NAME_LABEL};

pub mod slice_api;

/// How long the rebuild waits after a change for more changes to arrive.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// What to watch.
#[derive(Debug, Clone)]
pub struct KubeSource {
    /// Watch Services and EndpointSlices in this namespace only (`None`: all namespaces).
    pub namespace: Option<String>,
    pub config_namespace: String,
    pub config_name: String,
    /// The key of the ConfigMap's `data` holding the YAML config.
    pub config_key: String,
    /// The `spec.loadBalancerClass` Herald handles besides class-less Services.
    pub lb_class: String,
    /// Watch `kubernetes.io/tls` Secrets for `herald.dev/tls-secret`.
    pub tls_secrets: bool,
}

/// The stores the rebuild reads.
#[derive(Clone)]
struct Stores {
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    nodes: Store<Node>,
    config_maps: Store<ConfigMap>,
    /// `kubernetes.io/tls` Secrets only (field selector), when [`KubeSource::tls_secrets`].
    secrets: Option<Store<Secret>>,
}

impl KubeSource {
    /// Starts the watchers and the rebuild task on the current runtime; they stop when
    /// `shutdown` is cancelled.
    pub fn watch(
        self,
        client: Client,
        shutdown: CancellationToken,
    ) -> watch::Receiver<Arc<SourceState>> {
        let (generation, changes) = watch::channel(0u64);
        let generation = Arc::new(generation);
        let services_api: Api<Service> = self.namespaced(&client);
        let secrets = self.tls_secrets.then(|| {
            spawn_reflector(
                self.namespaced::<Secret>(&client),
                watcher::Config::default().fields(&format!("type={TLS_SECRET_TYPE}")),
                strip_meta,
                generation.clone(),
                shutdown.clone(),
            )
        });
        let stores = Stores {
            services: spawn_reflector(
                services_api,
                watcher::Config::default(),
                strip_service,
                generation.clone(),
                shutdown.clone(),
            ),
            slices: self.spawn_slice_reflector(&client, generation.clone(), shutdown.clone()),
            nodes: spawn_reflector(
                Api::all(client.clone()),
                watcher::Config::default(),
                strip_node,
                generation.clone(),
                shutdown.clone(),
            ),
            config_maps: spawn_reflector(
                Api::namespaced(client, &self.config_namespace),
                watcher::Config::default().fields(&format!("metadata.name={}", self.config_name)),
                strip_meta,
                generation,
                shutdown.clone(),
            ),
            secrets,
        };
        let (state, receiver) = watch::channel(Arc::new(SourceState::default()));
        tokio::spawn(rebuild_loop(self, stores, changes, state, shutdown));
        receiver
    }

    /// The EndpointSlice reflector: asks the server which version it serves (retrying until
    /// it answers), then watches that one; `v1beta1` slices enter the store as `v1`.
    fn spawn_slice_reflector(
        &self,
        client: &Client,
        generation: Arc<watch::Sender<u64>>,
        shutdown: CancellationToken,
    ) -> Store<EndpointSlice> {
        let (store, writer) = reflector::store::<EndpointSlice>();
        let v1: Api<EndpointSlice> = self.namespaced(client);
        let v1beta1: Api<EndpointSliceV1Beta1> = self.namespaced(client);
        let client = client.clone();
        tokio::spawn(async move {
            let api = tokio::select! {
                () = shutdown.cancelled() => return,
                api = discover_slice_api(&client) => api,
            };
            info!(api_version = api.api_version(), "reading EndpointSlices");
            let config = watcher::Config::default().labels(SERVICE_NAME_LABEL);
            match api {
                SliceApi::V1 => {
                    let events = watcher(v1, config).default_backoff().modify(strip_meta);
                    run_reflector(writer, events, "EndpointSlice", generation, shutdown).await;
                }
                SliceApi::V1Beta1 => {
                    let events = watcher(v1beta1, config)
                        .default_backoff()
                        .map_ok(|event| map_event(event, slice_to_v1));
                    run_reflector(writer, events, "EndpointSlice", generation, shutdown).await;
                }
            }
        });
        store
    }

    fn namespaced<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match &self.namespace {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        }
    }
}

/// Runs one reflector until `shutdown`; every event bumps `generation`.
fn spawn_reflector<K>(
    api: Api<K>,
    config: watcher::Config,
    strip: fn(&mut K),
    generation: Arc<watch::Sender<u64>>,
    shutdown: CancellationToken,
) -> Store<K>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store::<K>();
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let events = watcher(api, config).default_backoff().modify(strip);
    tokio::spawn(run_reflector(writer, events, kind, generation, shutdown));
    store
}

/// Feeds `events` into the store behind `writer` until `shutdown`; every event but the
/// start of a (re)list bumps `generation`.
async fn run_reflector<K>(
    writer: Writer<K>,
    events: impl Stream<Item = watcher::Result<watcher::Event<K>>>,
    kind: impl Into<String>,
    generation: Arc<watch::Sender<u64>>,
    shutdown: CancellationToken,
) where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let kind = kind.into();
    let events = reflector::reflector(writer, events).take_until(shutdown.cancelled_owned());
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => {}
            Ok(_) => generation.send_modify(|g| *g = g.wrapping_add(1)),
            Err(error) => warn!(%kind, %error, "watch failed; retrying"),
        }
    }
}

/// Which EndpointSlice API to watch, from the server's API discovery; asks again (1 s, then
/// doubling up to 30 s) until the server answers. A server that lists no EndpointSlice
/// version gets `v1` watched, whose failures are then logged as they retry.
async fn discover_slice_api(client: &Client) -> SliceApi {
    let mut delay = Duration::from_secs(1);
    loop {
        match client.list_api_groups().await {
            Ok(groups) => {
                return SliceApi::choose(&groups).unwrap_or_else(|| {
                    warn!(
                        group = slice_api::GROUP,
                        "the API server serves no EndpointSlice version Herald reads (v1, v1beta1); watching v1"
                    );
                    SliceApi::V1
                });
            }
            Err(error) => {
                warn!(%error, retry_in = ?delay, "cannot list the API server's groups to pick the EndpointSlice version");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// A watch event about one type as the same event about another.
fn map_event<A, B>(event: watcher::Event<A>, f: impl Fn(A) -> B) -> watcher::Event<B> {
    match event {
        watcher::Event::Apply(object) => watcher::Event::Apply(f(object)),
        watcher::Event::Delete(object) => watcher::Event::Delete(f(object)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(object) => watcher::Event::InitApply(f(object)),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

/// A `v1beta1` slice as `v1`, without managed fields.
fn slice_to_v1(mut slice: EndpointSliceV1Beta1) -> EndpointSlice {
    strip_meta(&mut slice);
    slice_api::to_v1(slice)
}

/// Managed fields are most of an object's size and never read.
fn strip_meta<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

fn strip_service(service: &mut Service) {
    strip_meta(service);
}

/// Only labels and conditions of a Node are read; its image list alone can be kilobytes.
fn strip_node(node: &mut Node) {
    strip_meta(node);
    node.spec = None;
    node.status = node.status.take().map(|status| NodeStatus {
        conditions: status.conditions,
        addresses: status.addresses,
        ..NodeStatus::default()
    });
}

/// The config in force and what the ConfigMap last said about it.
#[derive(Debug, Default)]
struct ConfigTracker {
    current: Option<Arc<Config>>,
    /// `resourceVersion` of the ConfigMap last judged (`None`: absent).
    judged: Option<Option<String>>,
    errors: Vec<String>,
}

impl ConfigTracker {
    /// Judges the ConfigMap again if it changed since last time.
    fn observe(&mut self, source: &KubeSource, map: Option<&ConfigMap>, services: &[Arc<Service>]) {
        let version = map.map(|m| m.metadata.resource_version.clone().unwrap_or_default());
        if self.judged.as_ref() == Some(&version) {
            return;
        }
        self.judged = Some(version);
        let name = format!("{}/{}", source.config_namespace, source.config_name);
        let Some(map) = map else {
            warn!(configmap = %name, "no config ConfigMap");
            self.errors = vec![format!("ConfigMap {name} not found: no config")];
            return;
        };
        let (held, _) = partition_holders(services.iter().map(AsRef::as_ref), &source.lb_class);
        let text = reload::config_text(map.data.as_ref(), &source.config_key);
        match reload::decide(self.current.as_deref(), text, &held) {
            ReloadDecision::Apply(config) => {
                info!(
                    configmap = %name,
                    pools = config.pools.len(),
                    peers = config.peers.len(),
                    "config loaded"
                );
                self.current = Some(config);
                self.errors.clear();
            }
            ReloadDecision::Unchanged => self.errors.clear(),
            ReloadDecision::Reject(rejection) => {
                warn!(
                    configmap = %name,
                    reason = rejection.reason(),
                    error = %rejection,
                    "config refused; the last good config stays in force"
                );
                self.errors = rejection
                    .to_string()
                    .lines()
                    .filter(|line| !line.trim().is_empty())
                    .map(|line| format!("ConfigMap {name}: {line}"))
                    .collect();
            }
        }
    }
}

/// Builds the state from the stores as they are now.
fn build_state(source: &KubeSource, stores: &Stores, config: &mut ConfigTracker) -> SourceState {
    let services = stores.services.state();
    let config_map = stores.config_maps.state().into_iter().next();
    config.observe(source, config_map.as_deref(), &services);
    let view = config.current.clone().map(|config| {
        let services: Vec<Service> = services.iter().map(|s| Service::clone(s)).collect();
        let slices: Vec<EndpointSlice> = stores
            .slices
            .state()
            .iter()
            .map(|s| EndpointSlice::clone(s))
            .collect();
        let nodes: Vec<Node> = stores
            .nodes
            .state()
            .iter()
            .map(|n| Node::clone(n))
            .collect();
        let secrets: Vec<Secret> = stores
            .secrets
            .iter()
            .flat_map(|store| store.state())
            .map(|s| Secret::clone(&s))
            .collect();
        Arc::new(
            ClusterView::build(config, &services, &slices, &nodes, &source.lb_class)
                .with_secrets(&secrets),
        )
    });
    SourceState {
        view,
        errors: config.errors.clone(),
    }
}

async fn rebuild_loop(
    source: KubeSource,
    stores: Stores,
    mut changes: watch::Receiver<u64>,
    state: watch::Sender<Arc<SourceState>>,
    shutdown: CancellationToken,
) {
    // One waiter per store (kube-runtime 5.0.0's readiness wakes only its last waiter).
    let ready = async {
        stores.services.wait_until_ready().await?;
        stores.slices.wait_until_ready().await?;
        stores.nodes.wait_until_ready().await?;
        if let Some(secrets) = &stores.secrets {
            secrets.wait_until_ready().await?;
        }
        stores.config_maps.wait_until_ready().await
    };
    tokio::select! {
        () = shutdown.cancelled() => return,
        result = ready => if result.is_err() { return },
    }
    info!("Services, EndpointSlices, Nodes and the ConfigMap are synced");
    let mut config = ConfigTracker::default();
    loop {
        changes.borrow_and_update();
        let next = build_state(&source, &stores, &mut config);
        state.send_if_modified(|current| {
            if **current == next {
                false
            } else {
                *current = Arc::new(next);
                true
            }
        });
        debug!("source state rebuilt");
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(DEBOUNCE) => {}
        }
    }
}
