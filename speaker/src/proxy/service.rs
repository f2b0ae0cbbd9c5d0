//! What the proxy reads from Kubernetes objects beyond [`crate::view::ServiceView`]: the
//! Service's proxy and TLS annotations, each port's name and `targetPort`, and the
//! EndpointSlices with their own port lists (which resolve named target ports, as
//! kube-proxy reads them). Pure functions of the objects.

use std::collections::BTreeMap;
use std::fmt;

use herald_config::keys;
use herald_core::{ServiceKey, ServicePort, TransportProtocol};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::view::{EndpointView, endpoint_view, slice_service};

/// A Service's proxy-related annotations and ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyAnnotations {
    /// `herald.dev/proxy`: `Some(true)` asks for the proxy, `Some(false)` refuses it.
    pub proxy: Option<bool>,
    /// `herald.dev/tls` (alias `loadbalancer/ssl`): `Some(false)` turns TLS off even on 443.
    pub tls: Option<bool>,
    /// `herald.dev/tls-secret`: a `kubernetes.io/tls` Secret in the Service's namespace.
    pub tls_secret: Option<String>,
}

/// One `spec.ports[]` entry as the proxy needs it. Entries that
/// `herald_core::service::service_ports` refuses (bad number or protocol) are reported
/// there and left out here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// `name`, `None` when unset or empty.
    pub name: Option<String>,
    pub port: ServicePort,
    pub target: TargetPort,
}

/// `spec.ports[].targetPort`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetPort {
    /// A number; an unset `targetPort` is the port itself, as the API defaults it.
    Number(u16),
    /// A container port name, resolved per EndpointSlice.
    Named(String),
}

/// The proxy's reading of a Service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyServiceSpec {
    pub annotations: ProxyAnnotations,
    /// Every valid port (any protocol), in `spec.ports` order.
    pub ports: Vec<PortSpec>,
}

impl ProxyServiceSpec {
    /// The spec of `port` (the first entry with that protocol and number).
    pub fn port(&self, port: ServicePort) -> Option<&PortSpec> {
        self.ports.iter().find(|p| p.port == port)
    }
}

/// Reads the proxy annotations and port names/target ports of a Service.
pub fn proxy_service_spec(service: &Service) -> ProxyServiceSpec {
    let empty = BTreeMap::new();
    let annotations = service.metadata.annotations.as_ref().unwrap_or(&empty);
    let ports = service
        .spec
        .as_ref()
        .and_then(|spec| spec.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|port| {
            let number = u16::try_from(port.port).ok().filter(|p| *p != 0)?;
            let protocol = match port.protocol.as_deref() {
                None | Some("TCP") => TransportProtocol::Tcp,
                Some("UDP") => TransportProtocol::Udp,
                Some("SCTP") => TransportProtocol::Sctp,
                Some(_) => return None,
            };
            let target = match &port.target_port {
                None => TargetPort::Number(number),
                Some(IntOrString::Int(n)) => TargetPort::Number(u16::try_from(*n).ok()?),
                Some(IntOrString::String(name)) => match name.parse::<u16>() {
                    Ok(n) => TargetPort::Number(n),
                    Err(_) => TargetPort::Named(name.clone()),
                },
            };
            Some(PortSpec {
                name: port.name.clone().filter(|n| !n.is_empty()),
                port: ServicePort {
                    protocol,
                    port: number,
                },
                target,
            })
        })
        .collect();
    ProxyServiceSpec {
        annotations: ProxyAnnotations {
            proxy: keys::proxy_switch(annotations),
            tls: keys::tls_switch(annotations),
            tls_secret: keys::tls_secret(annotations).map(str::to_owned),
        },
        ports,
    }
}

/// The specs of every named Service, by key (Services without a name are skipped; whether
/// Herald handles them is [`crate::view::ClusterView::build`]'s business).
pub fn proxy_service_specs(services: &[Service]) -> BTreeMap<ServiceKey, ProxyServiceSpec> {
    services
        .iter()
        .filter_map(|service| {
            let key = herald_core::service::service_key(service).ok()?;
            Some((key, proxy_service_spec(service)))
        })
        .collect()
}

/// What the proxy's selection reads beyond the Service views, for the Services a
/// [`crate::view::ClusterView`] holds: built with the view, so both sources (API server,
/// standalone directory) provide it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyInputs {
    pub specs: BTreeMap<ServiceKey, ProxyServiceSpec>,
    pub slices: BTreeMap<ServiceKey, Vec<SliceBackends>>,
    /// The `kubernetes.io/tls` Secrets that `herald.dev/tls-secret` annotations of these
    /// Services name, by namespace and name, or why one cannot be used.
    pub secrets: BTreeMap<SecretKey, Result<TlsSecret, SecretProblem>>,
}

/// A Secret's namespace and name (the Service's namespace, the annotation's name).
pub type SecretKey = ServiceKey;

/// The certificate chain and key of a `kubernetes.io/tls` Secret, as PEM. Its `Debug`
/// never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsSecret {
    /// `data["tls.crt"]`.
    pub chain_pem: Vec<u8>,
    /// `data["tls.key"]`.
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for TlsSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSecret")
            .field(
                "chain_pem",
                &format_args!("<{} bytes>", self.chain_pem.len()),
            )
            .field("key_pem", &format_args!("<redacted>"))
            .finish()
    }
}

/// Why a named Secret gives no certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretProblem {
    #[error("Secret {0} not found (or not of type kubernetes.io/tls)")]
    Missing(SecretKey),
    #[error("Secret {key} has no data[\"{field}\"]")]
    NoField { key: SecretKey, field: &'static str },
}

/// The type of Secret the proxy reads.
pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

/// The TLS Secrets `specs` name, read from `secrets` (other types are not looked at).
pub fn tls_secrets(
    specs: &BTreeMap<ServiceKey, ProxyServiceSpec>,
    secrets: &[Secret],
) -> BTreeMap<SecretKey, Result<TlsSecret, SecretProblem>> {
    let wanted = specs.iter().filter_map(|(service, spec)| {
        let name = spec.annotations.tls_secret.as_deref()?;
        Some(SecretKey::new(service.namespace.clone(), name))
    });
    wanted
        .map(|key| {
            let found = secrets.iter().find(|s| {
                s.type_.as_deref() == Some(TLS_SECRET_TYPE)
                    && s.metadata.namespace.as_deref() == Some(key.namespace.as_str())
                    && s.metadata.name.as_deref() == Some(key.name.as_str())
            });
            let read = match found {
                None => Err(SecretProblem::Missing(key.clone())),
                Some(secret) => {
                    let field = |field: &'static str| {
                        secret
                            .data
                            .as_ref()
                            .and_then(|d| d.get(field))
                            .map(|b| b.0.clone())
                            .filter(|b| !b.is_empty())
                            .ok_or_else(|| SecretProblem::NoField {
                                key: key.clone(),
                                field,
                            })
                    };
                    field("tls.crt").and_then(|chain_pem| {
                        Ok(TlsSecret {
                            chain_pem,
                            key_pem: field("tls.key")?,
                        })
                    })
                }
            };
            (key, read)
        })
        .collect()
}

impl ProxyInputs {
    /// The specs and slice backends of the Services `keep` accepts.
    pub fn new(
        services: &[Service],
        slices: &[EndpointSlice],
        keep: impl Fn(&ServiceKey) -> bool,
    ) -> Self {
        let mut inputs = ProxyInputs {
            specs: proxy_service_specs(services),
            slices: slice_backends(slices),
            secrets: BTreeMap::new(),
        };
        inputs.specs.retain(|key, _| keep(key));
        inputs.slices.retain(|key, _| keep(key));
        inputs
    }
}

/// One EndpointSlice's `ports[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlicePort {
    /// The Service port name it belongs to (`None` for an unnamed single port).
    pub name: Option<String>,
    /// The resolved target port.
    pub port: u16,
}

/// The endpoints of one EndpointSlice with the ports it resolves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SliceBackends {
    pub ports: Vec<SlicePort>,
    pub endpoints: Vec<EndpointView>,
}

impl SliceBackends {
    /// The target port this slice gives the Service port `spec`: the slice port of the
    /// same name (how kube-proxy reads slices), else a numeric `targetPort`; `None` for a
    /// named target port the slice does not resolve.
    pub fn target_port(&self, spec: &PortSpec) -> Option<u16> {
        let by_name = self
            .ports
            .iter()
            .find(|p| p.name == spec.name)
            .map(|p| p.port);
        by_name.or(match spec.target {
            TargetPort::Number(n) => Some(n),
            TargetPort::Named(_) => None,
        })
    }
}

/// Every EndpointSlice's endpoints and ports, by the Service it belongs to, in slice order.
pub fn slice_backends(slices: &[EndpointSlice]) -> BTreeMap<ServiceKey, Vec<SliceBackends>> {
    let mut by_service: BTreeMap<ServiceKey, Vec<SliceBackends>> = BTreeMap::new();
    for slice in slices {
        let Some(key) = slice_service(slice) else {
            continue;
        };
        let ports = slice
            .ports
            .iter()
            .flatten()
            .filter(|p| p.protocol.as_deref().is_none_or(|p| p == "TCP"))
            .filter_map(|p| {
                Some(SlicePort {
                    name: p.name.clone().filter(|n| !n.is_empty()),
                    port: u16::try_from(p.port?).ok().filter(|n| *n != 0)?,
                })
            })
            .collect();
        let endpoints = slice
            .endpoints
            .iter()
            .flatten()
            .map(endpoint_view)
            .collect();
        by_service
            .entry(key)
            .or_default()
            .push(SliceBackends { ports, endpoints });
    }
    by_service
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ServicePort as K8sPort, ServiceSpec};
    use k8s_openapi::api::discovery::v1::EndpointPort;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::view::SERVICE_NAME_LABEL;

    fn k8s_port(name: &str, protocol: &str, port: i32, target: Option<IntOrString>) -> K8sPort {
        K8sPort {
            name: Some(name.into()),
            protocol: Some(protocol.into()),
            port,
            target_port: target,
            ..Default::default()
        }
    }

    #[test]
    fn annotations_and_ports_are_read_and_bad_ports_left_to_the_view_to_report() {
        let service = Service {
            metadata: ObjectMeta {
                annotations: Some(
                    [
                        ("herald.dev/proxy", "true"),
                        ("loadbalancer/ssl", "false"),
                        ("herald.dev/tls-secret", " web-cert "),
                    ]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                ports: Some(vec![
                    k8s_port("", "TCP", 80, Some(IntOrString::String("8080".into()))),
                    k8s_port("https", "TCP", 443, Some(IntOrString::String("web".into()))),
                    k8s_port("dns", "UDP", 53, None),
                    k8s_port("bad", "TCP", 70000, None),
                    k8s_port("odd", "QUIC", 9, None),
                ]),
                ..Default::default()
            }),
            status: None,
        };
        let spec = proxy_service_spec(&service);
        assert_eq!(
            spec.annotations,
            ProxyAnnotations {
                proxy: Some(true),
                tls: Some(false),
                tls_secret: Some("web-cert".into()),
            }
        );
        assert_eq!(
            spec.ports,
            [
                PortSpec {
                    name: None,
                    port: ServicePort::tcp(80),
                    target: TargetPort::Number(8080)
                },
                PortSpec {
                    name: Some("https".into()),
                    port: ServicePort::tcp(443),
                    target: TargetPort::Named("web".into())
                },
                PortSpec {
                    name: Some("dns".into()),
                    port: ServicePort::udp(53),
                    target: TargetPort::Number(53)
                },
            ]
        );
    }

    #[test]
    fn slices_keep_their_tcp_ports_and_group_by_service() {
        let slice = |service: &str, ports: Vec<EndpointPort>| EndpointSlice {
            metadata: ObjectMeta {
                namespace: Some("ns".into()),
                labels: Some([(SERVICE_NAME_LABEL.to_owned(), service.to_owned())].into()),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            endpoints: Some(vec![]),
            ports: Some(ports),
        };
        let port = |name: &str, protocol: &str, number: Option<i32>| EndpointPort {
            name: Some(name.into()),
            protocol: Some(protocol.into()),
            port: number,
            ..Default::default()
        };
        let slices = slice_backends(&[
            slice(
                "web",
                vec![
                    port("http", "TCP", Some(8080)),
                    port("dns", "UDP", Some(53)),
                    port("all", "TCP", None),
                ],
            ),
            slice("web", vec![port("", "TCP", Some(9000))]),
            slice("api", vec![]),
        ]);
        let web = &slices[&ServiceKey::new("ns", "web")];
        assert_eq!(
            web[0].ports,
            [SlicePort {
                name: Some("http".into()),
                port: 8080
            }]
        );
        assert_eq!(
            web[1].ports,
            [SlicePort {
                name: None,
                port: 9000
            }]
        );
        assert_eq!(slices[&ServiceKey::new("ns", "api")].len(), 1);
    }
}
