//! The cluster as one node's speaker sees it: plain data built from Kubernetes objects
//! (from the API server's reflectors, or from manifests in standalone mode). No client,
//! no I/O: [`ClusterView::build`] is a pure function of the objects.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use herald_config::Config;
use herald_core::service::{
    ServiceBgp, ServiceError, bgp_annotations, handles, service_key, service_ports,
    status_addresses, traffic_policy,
};
use herald_core::{ServiceKey, ServicePort, TrafficPolicy};
use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::proxy::service::ProxyInputs;

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
    /// The proxy's reading of the same Services and EndpointSlices (annotations, port
    /// names, target ports) and of the TLS Secrets they name ([`ClusterView::with_secrets`]).
    pub proxy: ProxyInputs,
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
    /// `spec.ports`, or why they cannot be read (a port outside 1-65535, an unknown
    /// protocol): reported in `/status`, never silently left out.
    pub ports: Result<Vec<ServicePort>, ServiceError>,
    /// Endpoints of every EndpointSlice labelled with this Service's name, in the order of
    /// the slices given.
    pub endpoints: Vec<EndpointView>,
    /// Communities and LOCAL_PREF its annotations add to its routes, and the annotations
    /// that are not used (reported in `/status` and as Warning Events).
    pub bgp: ServiceBgp,
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
    /// `status.addresses` of type `InternalIP` that parse, in order.
    pub internal_ips: Vec<IpAddr>,
    /// `spec.unschedulable`: the node is cordoned (`kubectl cordon`, `kubectl drain`).
    pub unschedulable: bool,
}

impl ClusterView {
    /// The view with the `kubernetes.io/tls` Secrets its Services name (`herald.dev/tls-secret`)
    /// read from `secrets`; other Secrets are not kept.
    pub fn with_secrets(mut self, secrets: &[Secret]) -> Self {
        self.proxy.secrets = crate::proxy::service::tls_secrets(&self.proxy.specs, secrets);
        self
    }

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
                ports: service_ports(service),
                endpoints: Vec::new(),
                bgp: bgp_annotations(service, &config.bgp_communities),
                key: key.clone(),
            };
            service_views.insert(key, view);
        }

        for slice in slices {
            let Some(key) = slice_service(slice) else {
                continue;
            };
            if let Some(view) = service_views.get_mut(&key) {
                view.endpoints
                    .extend(slice.endpoints.iter().flatten().map(endpoint_view));
            }
        }

        let nodes = nodes
            .iter()
            .filter_map(node_view)
            .map(|node| (node.name.clone(), node))
            .collect();

        let proxy = ProxyInputs::new(services, slices, |key| service_views.contains_key(key));
        ClusterView {
            config,
            services: service_views,
            nodes,
            proxy,
        }
    }

    /// What is wrong with the Services of the view, one line each (`ns/name: why`), in key
    /// order. The Services are still in the view: their addresses are announced as usual.
    pub fn service_problems(&self) -> Vec<String> {
        self.services
            .values()
            .flat_map(|service| {
                let ports = service.ports.as_ref().err().map(ToString::to_string);
                let annotations = service.bgp.problems.iter().map(ToString::to_string);
                ports
                    .into_iter()
                    .chain(annotations)
                    .map(move |why| format!("{}: {why}", service.key))
            })
            .collect()
    }

    /// The Services whose BGP annotations are not used, with why (one line each).
    pub fn annotation_problems(&self) -> Vec<(ServiceKey, String)> {
        self.services
            .values()
            .flat_map(|service| {
                service
                    .bgp
                    .problems
                    .iter()
                    .map(|problem| (service.key.clone(), problem.to_string()))
            })
            .collect()
    }
}

/// The Service an EndpointSlice belongs to, from its namespace and service-name label.
pub fn slice_service(slice: &EndpointSlice) -> Option<ServiceKey> {
    let namespace = slice.metadata.namespace.as_deref()?;
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some(ServiceKey::new(namespace, name))
}

/// One EndpointSlice endpoint as the speaker reads it.
pub fn endpoint_view(endpoint: &k8s_openapi::api::discovery::v1::Endpoint) -> EndpointView {
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
    let internal_ips = node
        .status
        .as_ref()
        .and_then(|status| status.addresses.as_ref())
        .into_iter()
        .flatten()
        .filter(|address| address.type_ == "InternalIP")
        .filter_map(|address| address.address.parse().ok())
        .collect();
    Some(NodeView {
        name,
        labels: node.metadata.labels.clone().unwrap_or_default(),
        network_unavailable,
        internal_ips,
        unschedulable: node
            .spec
            .as_ref()
            .and_then(|spec| spec.unschedulable)
            .unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_config::keys;
    use k8s_openapi::api::core::v1::{
        LoadBalancerIngress, LoadBalancerStatus, NodeCondition, NodeStatus, ServicePort as K8sPort,
        ServiceSpec, ServiceStatus,
    };
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const CLASS: &str = "herald.dev/lb";

    fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: namespace.map(Into::into),
            name: Some(name.into()),
            ..Default::default()
        }
    }

    fn lb(name: &str) -> Service {
        Service {
            metadata: meta(Some("ns"), name),
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn spec(service: &mut Service) -> &mut ServiceSpec {
        service.spec.get_or_insert_with(Default::default)
    }

    fn slice(
        namespace: &str,
        name: &str,
        service: Option<&str>,
        endpoints: Vec<Endpoint>,
    ) -> EndpointSlice {
        let mut metadata = meta(Some(namespace), name);
        metadata.labels =
            service.map(|s| BTreeMap::from([(SERVICE_NAME_LABEL.to_owned(), s.to_owned())]));
        EndpointSlice {
            metadata,
            address_type: "IPv4".into(),
            endpoints: Some(endpoints),
            ports: None,
        }
    }

    fn endpoint(address: &str, node: &str, ready: Option<bool>) -> Endpoint {
        Endpoint {
            addresses: vec![address.into()],
            node_name: Some(node.into()),
            conditions: Some(EndpointConditions {
                ready,
                serving: ready,
                terminating: Some(false),
            }),
            ..Default::default()
        }
    }

    fn config() -> Arc<Config> {
        Arc::new(Config::default())
    }

    fn key(name: &str) -> ServiceKey {
        ServiceKey::new("ns", name)
    }

    #[test]
    fn only_load_balancer_services_of_our_class_are_kept() {
        let plain = lb("plain");
        let mut ours = lb("ours");
        spec(&mut ours).load_balancer_class = Some(CLASS.into());
        let mut theirs = lb("theirs");
        spec(&mut theirs).load_balancer_class = Some("other.example/lb".into());
        let mut cluster_ip = lb("cluster-ip");
        spec(&mut cluster_ip).type_ = Some("ClusterIP".into());
        let mut nameless = lb("nameless");
        nameless.metadata.name = None;

        let view = ClusterView::build(
            config(),
            &[plain, ours, theirs, cluster_ip, nameless],
            &[],
            &[],
            CLASS,
        );
        let names: Vec<&str> = view.services.keys().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["ours", "plain"]);
    }

    #[test]
    fn service_fields_come_from_status_and_spec() {
        let mut web = lb("web");
        let spec = spec(&mut web);
        spec.external_traffic_policy = Some("Local".into());
        spec.ports = Some(vec![
            K8sPort {
                port: 80,
                ..Default::default()
            },
            K8sPort {
                port: 53,
                protocol: Some("UDP".into()),
                ..Default::default()
            },
            K8sPort {
                port: 0,
                ..Default::default()
            },
        ]);
        web.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(vec![
                    LoadBalancerIngress {
                        ip: Some("192.168.10.5".into()),
                        ..Default::default()
                    },
                    LoadBalancerIngress {
                        hostname: Some("lb.example".into()),
                        ..Default::default()
                    },
                    LoadBalancerIngress {
                        ip: Some("2001:db8::5".into()),
                        ..Default::default()
                    },
                ]),
            }),
            ..Default::default()
        });
        let mut cluster = lb("cluster");
        spec_set_policy(&mut cluster, "Cluster");

        let view = ClusterView::build(config(), &[web, cluster], &[], &[], CLASS);
        let web = &view.services[&key("web")];
        assert_eq!(
            web.addresses,
            [
                "192.168.10.5".parse::<IpAddr>().unwrap(),
                "2001:db8::5".parse().unwrap()
            ]
        );
        assert_eq!(web.traffic_policy, TrafficPolicy::Local);
        assert_eq!(web.ports, Err(ServiceError::InvalidPort { port: 0 }));
        assert_eq!(
            view.service_problems(),
            ["ns/web: spec.ports has port 0, outside 1-65535"]
        );
        let cluster = &view.services[&key("cluster")];
        assert_eq!(cluster.traffic_policy, TrafficPolicy::Cluster);
        assert!(cluster.addresses.is_empty());
    }

    #[test]
    fn good_ports_are_read_in_order_and_a_bad_one_is_reported_not_dropped() {
        let mut dns = lb("dns");
        spec(&mut dns).ports = Some(vec![
            K8sPort {
                port: 53,
                protocol: Some("UDP".into()),
                ..Default::default()
            },
            K8sPort {
                port: 53,
                ..Default::default()
            },
        ]);
        let mut sctp = lb("odd");
        spec(&mut sctp).ports = Some(vec![K8sPort {
            port: 9,
            protocol: Some("QUIC".into()),
            ..Default::default()
        }]);
        let view = ClusterView::build(config(), &[dns, sctp], &[], &[], CLASS);
        assert_eq!(
            view.services[&key("dns")].ports,
            Ok(vec![ServicePort::udp(53), ServicePort::tcp(53)])
        );
        assert_eq!(
            view.services[&key("odd")].ports,
            Err(ServiceError::UnknownProtocol {
                value: "QUIC".into()
            })
        );
        assert_eq!(
            view.service_problems(),
            ["ns/odd: spec.ports has unknown protocol \"QUIC\""]
        );
    }

    #[test]
    fn bgp_annotations_are_read_with_the_config_s_aliases_and_bad_ones_reported() {
        let config =
            Arc::new(Config::from_yaml("bgp-communities: {edge: '64500:7'}\n").expect("config"));
        let annotate = |name: &str, pairs: &[(&str, &str)]| {
            let mut service = lb(name);
            service.metadata.annotations = Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
            service
        };
        let good = annotate(
            "good",
            &[
                (keys::BGP_COMMUNITIES, "edge,no-export"),
                (keys::BGP_LOCALPREF, "300"),
            ],
        );
        let bad = annotate("bad", &[(keys::BGP_COMMUNITIES, "edge,gold")]);
        let view = ClusterView::build(config, &[good, bad], &[], &[], CLASS);
        let good = &view.services[&key("good")].bgp;
        assert_eq!(good.communities.len(), 2);
        assert_eq!(good.local_pref, Some(300));
        assert!(view.services[&key("bad")].bgp.communities.is_empty());
        let why = "annotation herald.dev/bgp-communities: \"gold\" is not a community (A:B, A:B:C), a well-known name or a bgp-communities alias";
        assert_eq!(view.service_problems(), [format!("ns/bad: {why}")]);
        assert_eq!(view.annotation_problems(), [(key("bad"), why.to_string())]);
    }

    fn spec_set_policy(service: &mut Service, policy: &str) {
        spec(service).external_traffic_policy = Some(policy.into());
    }

    #[test]
    fn endpoints_are_merged_from_every_slice_labelled_with_the_service_in_its_namespace() {
        let slices = [
            slice(
                "ns",
                "web-a",
                Some("web"),
                vec![endpoint("10.244.1.2", "n1", Some(true))],
            ),
            slice(
                "ns",
                "web-b",
                Some("web"),
                vec![endpoint("10.244.2.2", "n2", Some(false))],
            ),
            slice(
                "other",
                "web-x",
                Some("web"),
                vec![endpoint("10.244.3.2", "n3", Some(true))],
            ),
            slice(
                "ns",
                "unlabelled",
                None,
                vec![endpoint("10.244.4.2", "n4", Some(true))],
            ),
            slice(
                "ns",
                "api-a",
                Some("api"),
                vec![endpoint("10.244.5.2", "n5", None)],
            ),
        ];
        let view = ClusterView::build(config(), &[lb("web"), lb("api")], &slices, &[], CLASS);

        let web = &view.services[&key("web")];
        let nodes: Vec<&str> = web
            .endpoints
            .iter()
            .filter_map(|e| e.node_name.as_deref())
            .collect();
        assert_eq!(nodes, ["n1", "n2"]);
        assert_eq!(
            web.endpoints[0].addresses,
            ["10.244.1.2".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(web.endpoints[1].ready, Some(false));
        assert_eq!(web.endpoints[1].terminating, Some(false));

        let api = &view.services[&key("api")];
        assert_eq!(api.endpoints.len(), 1);
        assert_eq!(api.endpoints[0].ready, None);
    }

    #[test]
    fn endpoint_addresses_that_are_not_ips_are_dropped_but_the_endpoint_kept() {
        let mut fqdn = endpoint("backend.example", "n1", Some(true));
        fqdn.addresses.push("10.0.0.1".into());
        let view = ClusterView::build(
            config(),
            &[lb("web")],
            &[slice("ns", "web-a", Some("web"), vec![fqdn])],
            &[],
            CLASS,
        );
        let endpoints = &view.services[&key("web")].endpoints;
        assert_eq!(endpoints.len(), 1);
        assert_eq!(
            endpoints[0].addresses,
            ["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
    }

    fn node(name: &str, network_unavailable: Option<&str>) -> Node {
        let mut metadata = meta(None, name);
        metadata.labels = Some(BTreeMap::from([("rack".to_owned(), "a".to_owned())]));
        Node {
            metadata,
            spec: None,
            status: Some(NodeStatus {
                conditions: Some(
                    [
                        ("Ready", Some("True")),
                        (NETWORK_UNAVAILABLE, network_unavailable),
                    ]
                    .into_iter()
                    .filter_map(|(type_, status)| {
                        Some(NodeCondition {
                            type_: type_.into(),
                            status: status?.into(),
                            ..Default::default()
                        })
                    })
                    .collect(),
                ),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_cordoned_node_is_unschedulable_and_others_are_not() {
        let mut cordoned = node("cordoned", None);
        cordoned.spec = Some(k8s_openapi::api::core::v1::NodeSpec {
            unschedulable: Some(true),
            ..Default::default()
        });
        let mut uncordoned = node("uncordoned", None);
        uncordoned.spec = Some(k8s_openapi::api::core::v1::NodeSpec {
            unschedulable: Some(false),
            ..Default::default()
        });
        let view = ClusterView::build(
            config(),
            &[],
            &[],
            &[cordoned, uncordoned, node("plain", None)],
            CLASS,
        );
        let unschedulable: Vec<(&str, bool)> = view
            .nodes
            .values()
            .map(|n| (n.name.as_str(), n.unschedulable))
            .collect();
        assert_eq!(
            unschedulable,
            [("cordoned", true), ("plain", false), ("uncordoned", false)]
        );
    }

    #[test]
    fn node_network_unavailable_only_when_the_condition_is_true() {
        let view = ClusterView::build(
            config(),
            &[],
            &[],
            &[
                node("down", Some("True")),
                node("up", Some("False")),
                node("plain", None),
                node("odd", Some("Unknown")),
            ],
            CLASS,
        );
        let unavailable: Vec<(&str, bool)> = view
            .nodes
            .values()
            .map(|n| (n.name.as_str(), n.network_unavailable))
            .collect();
        assert_eq!(
            unavailable,
            [
                ("down", true),
                ("odd", false),
                ("plain", false),
                ("up", false)
            ]
        );
        assert_eq!(view.nodes["up"].labels["rack"], "a");
    }

    #[test]
    fn endpoint_serves_when_ready_or_unset_or_draining_while_serving() {
        let cases = [
            // (ready, serving, terminating) -> serves
            ((Some(true), Some(true), Some(false)), true),
            ((None, None, None), true),
            ((Some(false), None, None), false),
            ((Some(false), Some(true), Some(false)), false),
            ((Some(false), Some(true), Some(true)), true),
            ((Some(false), Some(false), Some(true)), false),
            ((Some(false), None, Some(true)), false),
        ];
        for ((ready, serving, terminating), serves) in cases {
            let endpoint = EndpointView {
                ready,
                serving,
                terminating,
                ..Default::default()
            };
            assert_eq!(endpoint.is_serving(), serves, "{endpoint:?}");
        }
    }
}
