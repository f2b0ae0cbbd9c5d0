//! Which Service addresses and ports this node's proxy serves, with TLS or not, the
//! certificate source and the backends (DESIGN.md section 8). Pure: the cluster view, the
//! proxy's reading of the Services and their EndpointSlices, and the node's name in; the
//! listeners to run and why every other address or port is not proxied out.
//!
//! A Service address is proxied when its pool has `proxy.enabled`, the Service carries
//! `herald.dev/proxy: "true"`, or it asks for TLS by annotation (only the proxy terminates
//! TLS); `herald.dev/proxy: "false"` keeps it out even of an enabled pool. The rule is
//! `herald_config::keys::proxy_wanted`, which the controller's `ipMode` follows too. Only TCP
//! ports are proxied. TLS is terminated on a port when the Service says
//! `herald.dev/tls`/`loadbalancer/ssl: "true"` (every port), or, without that annotation,
//! on port 443 and on ports whose name starts with `https`; `"false"` turns it off on
//! every port (the k8slb seed's rules).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use herald_config::{Balance, Pool, Proxy, ProxyProtocol, keys};
use herald_core::{ServiceKey, ServicePort, TrafficPolicy, TransportProtocol};

use super::health::{HealthCheck, HealthState};
use super::service::{PortSpec, ProxyServiceSpec, SliceBackends, TargetPort};
use crate::view::{ClusterView, ServiceView};

/// What the proxy on one node does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// One listener per proxied (address, TCP port), by Service, address, then port order.
    pub listeners: Vec<Listener>,
    /// Addresses and ports of handled Services that are not proxied, and why.
    pub not_proxied: Vec<NotProxied>,
}

/// One `address:port` the proxy listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub service: ServiceKey,
    pub address: IpAddr,
    pub port: u16,
    /// The pool the address lies in.
    pub pool: String,
    /// TLS termination, `None` for plain TCP.
    pub tls: Option<TlsTermination>,
    /// The pool's proxy settings (defaults when the pool has none and the Service asked).
    pub balance: Balance,
    pub proxy_protocol: ProxyProtocol,
    pub idle_timeout: Duration,
    pub max_connections: Option<u32>,
    /// The pool's connect, handshake and drain timeouts and health checks; `None`: the
    /// driver's defaults.
    pub timers: Option<ListenerTimers>,
    /// Serving endpoints' addresses with the port's target port, sorted, no duplicates:
    /// on this node only for `Local` policy, anywhere for `Cluster`. May be empty.
    pub backends: Vec<SocketAddr>,
}

/// A listener's timeouts and active checks, from its pool's `proxy` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerTimers {
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    pub drain_timeout: Duration,
    pub health_check: Option<HealthCheck>,
}

impl ListenerTimers {
    /// The timers a pool's `proxy` settings give. With active checks a backend starts
    /// down and takes connections (and lets its address be announced) once a check
    /// succeeded: announcing before would send traffic to a backend never seen alive.
    pub fn from_settings(settings: &Proxy) -> Self {
        Self {
            connect_timeout: settings.connect_timeout,
            handshake_timeout: settings.handshake_timeout,
            drain_timeout: settings.drain_timeout,
            health_check: settings.health_check.map(|check| HealthCheck {
                interval: check.interval,
                rise: check.rise,
                fall: check.fall,
                initial: HealthState::Down,
            }),
        }
    }
}

/// Why and with which certificate a listener terminates TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsTermination {
    pub rule: TlsRule,
    pub certificate: CertificateSource,
}

/// The rule that made a port terminate TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsRule {
    /// `herald.dev/tls` or `loadbalancer/ssl` is `"true"`.
    Annotation,
    /// The port is 443.
    Port443,
    /// The port's name starts with `https`.
    HttpsPortName,
}

/// Where a TLS listener's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum CertificateSource {
    /// A `kubernetes.io/tls` Secret named by `herald.dev/tls-secret`.
    Secret { namespace: String, name: String },
    /// The pool's bundle file (`tls.bundle`, default `/etc/certs/<pool>.pem`).
    Bundle(PathBuf),
}

/// A Service address, or one port of it, that is not proxied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotProxied {
    pub service: ServiceKey,
    pub address: IpAddr,
    /// `None` when the whole address is not proxied.
    pub port: Option<ServicePort>,
    pub reason: NotProxiedReason,
}

impl fmt::Display for NotProxied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(
                f,
                "{} {} {port}: {}",
                self.service, self.address, self.reason
            ),
            None => write!(f, "{} {}: {}", self.service, self.address, self.reason),
        }
    }
}

/// Why an address or port is not proxied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotProxiedReason {
    /// The address lies in no configured pool.
    NotInAnyPool,
    /// The pool does not proxy every Service and the Service does not ask.
    NotRequested,
    /// The Service says `herald.dev/proxy: "false"`.
    RefusedByAnnotation,
    /// `spec.ports` cannot be read (reported by the view).
    PortsUnreadable,
    /// The port is UDP or SCTP; the proxy forwards TCP only.
    NotTcp(TransportProtocol),
}

impl NotProxiedReason {
    /// A short stable label for metrics and JSON.
    pub fn label(self) -> &'static str {
        match self {
            Self::NotInAnyPool => "not_in_any_pool",
            Self::NotRequested => "not_requested",
            Self::RefusedByAnnotation => "refused_by_annotation",
            Self::PortsUnreadable => "ports_unreadable",
            Self::NotTcp(_) => "not_tcp",
        }
    }
}

impl fmt::Display for NotProxiedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInAnyPool => f.write_str("the address is in no configured pool"),
            Self::NotRequested => f.write_str(
                "the pool's proxy is not enabled and the Service asks neither for the proxy \
                 (herald.dev/proxy) nor for TLS",
            ),
            Self::RefusedByAnnotation => f.write_str("the Service has herald.dev/proxy: \"false\""),
            Self::PortsUnreadable => f.write_str("spec.ports cannot be read"),
            Self::NotTcp(protocol) => write!(f, "{protocol} is not proxied, only TCP"),
        }
    }
}

/// The proxy's selection on `node`. `specs` and `slices` come from
/// [`super::service::proxy_service_specs`] and [`super::service::slice_backends`]; a
/// Service missing from them has no annotations and no backends. Services without an
/// address have nothing to listen on and are left out (the announcement reports them).
pub fn select(
    view: &ClusterView,
    specs: &BTreeMap<ServiceKey, ProxyServiceSpec>,
    slices: &BTreeMap<ServiceKey, Vec<SliceBackends>>,
    node: &str,
) -> Selection {
    let no_spec = ProxyServiceSpec::default();
    let mut selection = Selection::default();
    for service in view.services.values() {
        let spec = specs.get(&service.key).unwrap_or(&no_spec);
        let service_slices = slices.get(&service.key).map(Vec::as_slice).unwrap_or(&[]);
        for &address in &service.addresses {
            let mut not_proxied = |port, reason| {
                selection.not_proxied.push(NotProxied {
                    service: service.key.clone(),
                    address,
                    port,
                    reason,
                })
            };
            let Some(pool) = view.config.pool_containing(address) else {
                not_proxied(None, NotProxiedReason::NotInAnyPool);
                continue;
            };
            let settings = match proxy_settings(pool, spec) {
                Ok(settings) => settings,
                Err(reason) => {
                    not_proxied(None, reason);
                    continue;
                }
            };
            let Ok(ports) = &service.ports else {
                not_proxied(None, NotProxiedReason::PortsUnreadable);
                continue;
            };
            for &port in ports {
                if port.protocol != TransportProtocol::Tcp {
                    not_proxied(Some(port), NotProxiedReason::NotTcp(port.protocol));
                    continue;
                }
                let port_spec = spec.port(port).cloned().unwrap_or(PortSpec {
                    name: None,
                    port,
                    target: TargetPort::Number(port.port),
                });
                selection.listeners.push(Listener {
                    service: service.key.clone(),
                    address,
                    port: port.port,
                    pool: pool.name.clone(),
                    tls: tls_rule(spec.annotations.tls, &port_spec).map(|rule| TlsTermination {
                        rule,
                        certificate: certificate_source(pool, &service.key, spec),
                    }),
                    balance: settings.balance,
                    proxy_protocol: settings.proxy_protocol,
                    idle_timeout: settings.idle_timeout,
                    max_connections: settings.max_connections,
                    timers: Some(ListenerTimers::from_settings(&settings)),
                    backends: backends(service, service_slices, &port_spec, node),
                });
            }
        }
    }
    selection
}

/// The proxy settings for a Service address in `pool`, or why it is not proxied.
fn proxy_settings(pool: &Pool, spec: &ProxyServiceSpec) -> Result<Proxy, NotProxiedReason> {
    let pool_proxies = pool.proxy.as_ref().is_some_and(|p| p.enabled);
    let annotations = &spec.annotations;
    if annotations.proxy == Some(false) {
        Err(NotProxiedReason::RefusedByAnnotation)
    } else if keys::proxy_wanted(pool_proxies, annotations.proxy, annotations.tls) {
        Ok(pool.proxy.clone().unwrap_or_default())
    } else {
        Err(NotProxiedReason::NotRequested)
    }
}

/// Whether a port terminates TLS and by which rule: the annotation decides when set;
/// otherwise port 443 or a port name starting with `https`.
pub fn tls_rule(annotation: Option<bool>, port: &PortSpec) -> Option<TlsRule> {
    match annotation {
        Some(true) => Some(TlsRule::Annotation),
        Some(false) => None,
        None if port.port.port == 443 => Some(TlsRule::Port443),
        None if port.name.as_deref().is_some_and(|n| n.starts_with("https")) => {
            Some(TlsRule::HttpsPortName)
        }
        None => None,
    }
}

/// The Service's Secret when it names one, else the pool's bundle.
fn certificate_source(pool: &Pool, key: &ServiceKey, spec: &ProxyServiceSpec) -> CertificateSource {
    match &spec.annotations.tls_secret {
        Some(name) => CertificateSource::Secret {
            namespace: key.namespace.clone(),
            name: name.clone(),
        },
        None => CertificateSource::Bundle(pool.tls.bundle.clone()),
    }
}

/// Serving endpoints' addresses with the port's target port in each slice: on `node` only
/// for `Local` policy. Sorted, without duplicates.
fn backends(
    service: &ServiceView,
    slices: &[SliceBackends],
    port: &PortSpec,
    node: &str,
) -> Vec<SocketAddr> {
    let local_only = service.traffic_policy == TrafficPolicy::Local;
    let mut backends = BTreeSet::new();
    for slice in slices {
        let Some(target) = slice.target_port(port) else {
            continue;
        };
        let endpoints = slice
            .endpoints
            .iter()
            .filter(|e| e.is_serving() && (!local_only || e.is_on(node)));
        for endpoint in endpoints {
            backends.extend(
                endpoint
                    .addresses
                    .iter()
                    .map(|&ip| SocketAddr::new(ip, target)),
            );
        }
    }
    backends.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use herald_config::Config;
    use k8s_openapi::api::core::v1::{Service, ServicePort as K8sPort, ServiceSpec};
    use k8s_openapi::api::discovery::v1::{
        Endpoint, EndpointConditions, EndpointPort, EndpointSlice,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::*;
    use crate::proxy::service::{proxy_service_specs, slice_backends};
    use crate::view::SERVICE_NAME_LABEL;

    const CONFIG: &str = "
address-pools:
- name: proxied
  protocol: bgp
  addresses: [192.168.10.0/24]
  proxy: {enabled: true, balance: least-connections, max-connections: 100}
- name: plain
  protocol: bgp
  addresses: [192.168.20.0/24]
  tls: {bundle: /srv/plain.pem}
";

    struct Cluster {
        services: Vec<Service>,
        slices: Vec<EndpointSlice>,
    }

    impl Cluster {
        fn select(&self, node: &str) -> Selection {
            let config = Arc::new(Config::from_yaml(CONFIG).unwrap());
            let view =
                ClusterView::build(config, &self.services, &self.slices, &[], "herald.dev/lb");
            select(
                &view,
                &proxy_service_specs(&self.services),
                &slice_backends(&self.slices),
                node,
            )
        }
    }

    fn service(
        name: &str,
        address: &str,
        annotations: &[(&str, &str)],
        ports: &[(Option<&str>, &str, i32, Option<IntOrString>)],
    ) -> Service {
        Service {
            metadata: ObjectMeta {
                namespace: Some("ns".into()),
                name: Some(name.into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                ports: Some(
                    ports
                        .iter()
                        .map(|(port_name, protocol, port, target)| K8sPort {
                            name: port_name.map(Into::into),
                            protocol: Some(protocol.to_string()),
                            port: *port,
                            target_port: target.clone(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            status: Some(k8s_openapi::api::core::v1::ServiceStatus {
                load_balancer: Some(k8s_openapi::api::core::v1::LoadBalancerStatus {
                    ingress: Some(vec![k8s_openapi::api::core::v1::LoadBalancerIngress {
                        ip: Some(address.into()),
                        ..Default::default()
                    }]),
                }),
                ..Default::default()
            }),
        }
    }

    fn tcp(port: i32) -> (Option<&'static str>, &'static str, i32, Option<IntOrString>) {
        (None, "TCP", port, None)
    }

    fn slice(
        service: &str,
        ports: &[(Option<&str>, i32)],
        endpoints: &[(&str, &str, bool)],
    ) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                namespace: Some("ns".into()),
                name: Some(format!("{service}-slice")),
                labels: Some([(SERVICE_NAME_LABEL.to_owned(), service.to_owned())].into()),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            ports: Some(
                ports
                    .iter()
                    .map(|(name, port)| EndpointPort {
                        name: name.map(Into::into),
                        port: Some(*port),
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            endpoints: Some(
                endpoints
                    .iter()
                    .map(|(address, node, ready)| Endpoint {
                        addresses: vec![address.to_string()],
                        node_name: Some(node.to_string()),
                        conditions: Some(EndpointConditions {
                            ready: Some(*ready),
                            serving: Some(*ready),
                            terminating: Some(false),
                        }),
                        ..Default::default()
                    })
                    .collect(),
            ),
        }
    }

    fn sock(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn reasons(selection: &Selection) -> Vec<(&str, Option<u16>, NotProxiedReason)> {
        selection
            .not_proxied
            .iter()
            .map(|n| (n.service.name.as_str(), n.port.map(|p| p.port), n.reason))
            .collect()
    }

    #[test]
    fn a_pool_with_proxy_enabled_proxies_its_services_and_others_only_when_asked() {
        let cluster = Cluster {
            services: vec![
                service("in-pool", "192.168.10.1", &[], &[tcp(80)]),
                service(
                    "asks",
                    "192.168.20.1",
                    &[("herald.dev/proxy", "true")],
                    &[tcp(80)],
                ),
                service("silent", "192.168.20.2", &[], &[tcp(80)]),
                service(
                    "tls-only",
                    "192.168.20.3",
                    &[("loadbalancer/ssl", "true")],
                    &[tcp(80)],
                ),
                service(
                    "refuses",
                    "192.168.10.2",
                    &[("herald.dev/proxy", "false")],
                    &[tcp(80)],
                ),
                service(
                    "stray",
                    "10.9.9.9",
                    &[("herald.dev/proxy", "true")],
                    &[tcp(80)],
                ),
            ],
            slices: vec![],
        };
        let selection = cluster.select("n1");
        let proxied: Vec<(&str, &str, Balance)> = selection
            .listeners
            .iter()
            .map(|l| (l.service.name.as_str(), l.pool.as_str(), l.balance))
            .collect();
        assert_eq!(
            proxied,
            [
                ("asks", "plain", Balance::RoundRobin),
                ("in-pool", "proxied", Balance::LeastConnections),
                ("tls-only", "plain", Balance::RoundRobin),
            ]
        );
        assert_eq!(selection.listeners[1].max_connections, Some(100));
        assert_eq!(
            reasons(&selection),
            [
                ("refuses", None, NotProxiedReason::RefusedByAnnotation),
                ("silent", None, NotProxiedReason::NotRequested),
                ("stray", None, NotProxiedReason::NotInAnyPool),
            ]
        );
    }

    #[test]
    fn udp_and_sctp_ports_are_reported_not_proxied_and_tcp_ports_get_listeners() {
        let cluster = Cluster {
            services: vec![service(
                "dns",
                "192.168.10.1",
                &[],
                &[(None, "UDP", 53, None), tcp(53), (None, "SCTP", 9, None)],
            )],
            slices: vec![],
        };
        let selection = cluster.select("n1");
        let ports: Vec<u16> = selection.listeners.iter().map(|l| l.port).collect();
        assert_eq!(ports, [53]);
        assert_eq!(
            reasons(&selection),
            [
                (
                    "dns",
                    Some(53),
                    NotProxiedReason::NotTcp(TransportProtocol::Udp)
                ),
                (
                    "dns",
                    Some(9),
                    NotProxiedReason::NotTcp(TransportProtocol::Sctp)
                ),
            ]
        );
    }

    #[test]
    fn tls_on_port_443_and_https_names_unless_the_annotation_decides() {
        let ports = [
            tcp(80),
            tcp(443),
            (Some("https-admin"), "TCP", 8443, None),
            (Some("metrics"), "TCP", 9090, None),
        ];
        let rules = |annotations: &[(&str, &str)]| -> Vec<(u16, Option<TlsRule>)> {
            let cluster = Cluster {
                services: vec![service("web", "192.168.10.1", annotations, &ports)],
                slices: vec![],
            };
            cluster
                .select("n1")
                .listeners
                .iter()
                .map(|l| (l.port, l.tls.as_ref().map(|t| t.rule)))
                .collect()
        };
        assert_eq!(
            rules(&[]),
            [
                (80, None),
                (443, Some(TlsRule::Port443)),
                (8443, Some(TlsRule::HttpsPortName)),
                (9090, None)
            ]
        );
        let all = Some(TlsRule::Annotation);
        assert_eq!(
            rules(&[("loadbalancer/ssl", "true")]),
            [(80, all), (443, all), (8443, all), (9090, all)]
        );
        assert_eq!(
            rules(&[("herald.dev/tls", "false"), ("loadbalancer/ssl", "true")]),
            [(80, None), (443, None), (8443, None), (9090, None)]
        );
    }

    #[test]
    fn the_certificate_is_the_services_secret_else_the_pool_bundle() {
        let cluster = Cluster {
            services: vec![
                service(
                    "secret",
                    "192.168.10.1",
                    &[("herald.dev/tls-secret", "web-cert")],
                    &[tcp(443)],
                ),
                service("default", "192.168.10.2", &[], &[tcp(443)]),
                service(
                    "custom",
                    "192.168.20.1",
                    &[("herald.dev/proxy", "true")],
                    &[tcp(443)],
                ),
            ],
            slices: vec![],
        };
        let selection = cluster.select("n1");
        let certificates: Vec<(&str, CertificateSource)> = selection
            .listeners
            .iter()
            .map(|l| (l.service.name.as_str(), l.tls.clone().unwrap().certificate))
            .collect();
        assert_eq!(
            certificates,
            [
                ("custom", CertificateSource::Bundle("/srv/plain.pem".into())),
                (
                    "default",
                    CertificateSource::Bundle("/etc/certs/proxied.pem".into())
                ),
                (
                    "secret",
                    CertificateSource::Secret {
                        namespace: "ns".into(),
                        name: "web-cert".into()
                    }
                ),
            ]
        );
    }

    #[test]
    fn backends_are_serving_endpoints_with_the_target_port_all_for_cluster_local_for_local() {
        let mut local = service(
            "local",
            "192.168.10.2",
            &[],
            &[(None, "TCP", 80, Some(IntOrString::Int(8080)))],
        );
        local.spec.as_mut().unwrap().external_traffic_policy = Some("Local".into());
        let cluster = Cluster {
            services: vec![
                service(
                    "cluster",
                    "192.168.10.1",
                    &[],
                    &[(None, "TCP", 80, Some(IntOrString::Int(8080)))],
                ),
                local,
            ],
            slices: ["cluster", "local"]
                .iter()
                .map(|name| {
                    slice(
                        name,
                        &[],
                        &[
                            ("10.244.1.2", "n1", true),
                            ("10.244.2.2", "n2", true),
                            ("10.244.1.3", "n1", false),
                        ],
                    )
                })
                .collect(),
        };
        let selection = cluster.select("n1");
        let backends: Vec<(&str, &[SocketAddr])> = selection
            .listeners
            .iter()
            .map(|l| (l.service.name.as_str(), l.backends.as_slice()))
            .collect();
        assert_eq!(
            backends,
            [
                (
                    "cluster",
                    &[sock("10.244.1.2:8080"), sock("10.244.2.2:8080")][..]
                ),
                ("local", &[sock("10.244.1.2:8080")][..]),
            ]
        );
    }

    #[test]
    fn a_named_target_port_is_resolved_by_each_slices_port_of_the_same_name() {
        let cluster = Cluster {
            services: vec![service(
                "web",
                "192.168.10.1",
                &[],
                &[(
                    Some("http"),
                    "TCP",
                    80,
                    Some(IntOrString::String("web".into())),
                )],
            )],
            slices: vec![
                slice(
                    "web",
                    &[(Some("http"), 8080)],
                    &[("10.244.1.2", "n1", true)],
                ),
                slice(
                    "web",
                    &[(Some("http"), 9000)],
                    &[("10.244.2.2", "n2", true)],
                ),
                slice(
                    "web",
                    &[(Some("other"), 7000)],
                    &[("10.244.3.2", "n3", true)],
                ),
            ],
        };
        assert_eq!(
            cluster.select("n1").listeners[0].backends,
            [sock("10.244.1.2:8080"), sock("10.244.2.2:9000")]
        );
    }

    #[test]
    fn an_unset_target_port_is_the_port_itself() {
        let cluster = Cluster {
            services: vec![service("web", "192.168.10.1", &[], &[tcp(80)])],
            slices: vec![slice("web", &[], &[("10.244.1.2", "n1", true)])],
        };
        assert_eq!(
            cluster.select("n1").listeners[0].backends,
            [sock("10.244.1.2:80")]
        );
    }
}
