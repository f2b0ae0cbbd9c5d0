//! The cluster as one node's speaker sees it: plain data built from Kubernetes objects
//! (from the API server's reflectors, or from manifests in standalone mode). No client,
//! no I/O: [`ClusterView::build`] is a pure function of the objects.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use herald_config::Config;
use herald_controller::allocator::{Protocol, ServiceKey, ServicePort, TrafficPolicy};
use herald_controller::service::{handles, service_key, status_addresses};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label an EndpointSlice carries naming the Service it belongs to (same namespace).
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The node condition whose status `"True"` means the node's network is not set up.
pub const NETWORK_UNAVAILABLE: &str = "NetworkUnavailable";

/// Everything the announcement decision needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// The config in force.
    pub config: Arc<Config>,
    /// The LoadBalancer Services Herald handles, by namespace/name.
    pub services: BTreeMap<ServiceKey, ServiceView>,
    /// Every node, by name.
    pub nodes: BTreeMap<String, NodeView>,
}

/// One LoadBalancer Service of our class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    pub key: ServiceKey,
    /// `status.loadBalancer.ingress` IPs in order (in standalone mode: the in-process
    /// allocation).
    pub addresses: Vec<IpAddr>,
    /// `spec.externalTrafficPolicy`: `Local`, else `Cluster`.
    pub traffic_policy: TrafficPolicy,
    /// `spec.ports` (entries with a bad port number or protocol are left out).
    pub ports: Vec<ServicePort>,
    /// Endpoints of every EndpointSlice labelled with this Service's name, in the order of
    /// the slices given.
    pub endpoints: Vec<EndpointView>,
}

/// One endpoint of an EndpointSlice, its conditions as the API gives them (`None` = unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointView {
    /// The addresses that parse as IPs (FQDN slices give none).
    pub addresses: Vec<IpAddr>,
    pub node_name: Option<String>,
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
}

impl EndpointView {
    /// Whether traffic may be sent to this endpoint: `ready` (unset counts as ready, as the
    /// EndpointSlice API tells consumers to read it), or `serving` while `terminating` (a
    /// Pod draining gracefully still takes traffic), as kube-proxy reads the conditions.
    pub fn is_serving(&self) -> bool {
        let ready = self.ready != Some(false);
        let draining = self.serving == Some(true) && self.terminating == Some(true);
        ready || draining
    }

    /// Whether this endpoint runs on `node`.
    pub fn is_on(&self, node: &str) -> bool {
        self.node_name.as_deref() == Some(node)
    }
}

/// One node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The `NetworkUnavailable` condition has status `"True"`.
    pub network_unavailable: bool,
}

impl ClusterView {
    /// Builds the view from Kubernetes objects: only `type: LoadBalancer` Services Herald
    /// handles under `lb_class` are kept; each gets the endpoints of the EndpointSlices in
    /// its namespace labelled `kubernetes.io/service-name: <name>`. Objects without a name
    /// are skipped.
    pub fn build(
        config: Arc<Config>,
        services: &[Service],
        slices: &[EndpointSlice],
        nodes: &[Node],
        lb_class: &str,
    ) -> ClusterView {
        let mut service_views = BTreeMap::new();
        for service in services {
            if !handles(service, lb_class) {
                continue;
            }
            let Ok(key) = service_key(service) else {
                continue;
            };
            let view = ServiceView {
                addresses: status_addresses(service),
                traffic_policy: traffic_policy(service),
                ports: ports(service),
                endpoints: Vec::new(),
                key: key.clone(),
            };
            service_views.insert(key, view);
        }

        for slice in slices {
            let Some(key) = slice_service(slice) else {
                continue;
            };
            if let Some(view) = service_views.get_mut(&key) {
                view.endpoints.extend(slice.endpoints.iter().flatten().map(endpoint_view));
            }
        }

        let nodes = nodes
            .iter()
            .filter_map(node_view)
            .map(|node| (node.name.clone(), node))
            .collect();

        ClusterView {
            config,
            services: service_views,
            nodes,
        }
    }
}

/// The Service an EndpointSlice belongs to, from its namespace and service-name label.
pub fn slice_service(slice: &EndpointSlice) -> Option<ServiceKey> {
    let namespace = slice.metadata.namespace.as_deref()?;
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some(ServiceKey::new(namespace, name))
}

fn traffic_policy(service: &Service) -> TrafficPolicy {
    let policy = service
        .spec
        .as_ref()
        .and_then(|spec| spec.external_traffic_policy.as_deref());
    match policy {
        Some("Local") => TrafficPolicy::Local,
        _ => TrafficPolicy::Cluster,
    }
}

fn ports(service: &Service) -> Vec<ServicePort> {
    let Some(ports) = service.spec.as_ref().and_then(|spec| spec.ports.as_ref()) else {
        return Vec::new();
    };
    ports
        .iter()
        .filter_map(|port| {
            let number = u16::try_from(port.port).ok().filter(|p| *p != 0)?;
            let protocol = match port.protocol.as_deref() {
                None | Some("TCP") => Protocol::Tcp,
                Some("UDP") => Protocol::Udp,
                Some("SCTP") => Protocol::Sctp,
                Some(_) => return None,
            };
            Some(ServicePort {
                protocol,
                port: number,
            })
        })
        .collect()
}

fn endpoint_view(endpoint: &k8s_openapi::api::discovery::v1::Endpoint) -> EndpointView {
    let conditions = endpoint.conditions.as_ref();
    EndpointView {
        addresses: endpoint
            .addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect(),
        node_name: endpoint.node_name.clone(),
        ready: conditions.and_then(|c| c.ready),
        serving: conditions.and_then(|c| c.serving),
        terminating: conditions.and_then(|c| c.terminating),
    }
}

fn node_view(node: &Node) -> Option<NodeView> {
    let name = node.metadata.name.clone()?;
    let network_unavailable = node
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == NETWORK_UNAVAILABLE && c.status == "True");
    Some(NodeView {
        name,
        labels: node.metadata.labels.clone().unwrap_or_default(),
        network_unavailable,
    })
}

/// What a source of cluster state (the API server, or a standalone directory) currently
/// offers the speaker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceState {
    /// The last good view; `None` until one was built.
    pub view: Option<Arc<ClusterView>>,
    /// Current problems (e.g. a bad config), each one line; empty when all is well.
    pub errors: Vec<String>,
}
