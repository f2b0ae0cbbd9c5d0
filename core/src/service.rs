//! From a `v1.Service` to what the allocator needs: is it ours, what does it ask for, what
//! does its status already hold. Pure functions of the object.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use herald_config::{Community, keys};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::allocator::{Held, IpFamilyPolicy, ServiceRequest};
use crate::types::{IpFamily, ServiceKey, ServicePort, TrafficPolicy, TransportProtocol};

/// Why a Service's spec or annotations cannot be turned into a request. Permanent: nothing
/// changes until the Service does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("the Service has no name or namespace")]
    MissingName,
    #[error(transparent)]
    Annotation(#[from] keys::AnnotationError),
    #[error("spec.loadBalancerIP \"{value}\" is not an IP address")]
    InvalidLoadBalancerIp { value: String },
    #[error("both spec.loadBalancerIP ({spec}) and annotation {annotation} are set; use only one")]
    BothRequested { spec: String, annotation: String },
    #[error("spec.ipFamilies has unknown family \"{value}\"")]
    UnknownFamily { value: String },
    #[error("spec.ipFamilyPolicy \"{value}\" is unknown")]
    UnknownFamilyPolicy { value: String },
    #[error("spec.ports has port {port}, outside 1-65535")]
    InvalidPort { port: i32 },
    #[error("spec.ports has unknown protocol \"{value}\"")]
    UnknownProtocol { value: String },
}

impl ServiceError {
    /// A short stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ServiceError::MissingName => "missing_name",
            ServiceError::Annotation(_) => "invalid_annotation",
            ServiceError::InvalidLoadBalancerIp { .. } => "invalid_load_balancer_ip",
            ServiceError::BothRequested { .. } => "both_ips_requested",
            ServiceError::UnknownFamily { .. } => "unknown_ip_family",
            ServiceError::UnknownFamilyPolicy { .. } => "unknown_ip_family_policy",
            ServiceError::InvalidPort { .. } => "invalid_port",
            ServiceError::UnknownProtocol { .. } => "unknown_protocol",
        }
    }
}

/// The Service's namespace and name.
pub fn service_key(service: &Service) -> Result<ServiceKey, ServiceError> {
    match (&service.metadata.namespace, &service.metadata.name) {
        (Some(namespace), Some(name)) => Ok(ServiceKey::new(namespace, name)),
        _ => Err(ServiceError::MissingName),
    }
}

/// Whether Herald handles this Service: `type: LoadBalancer` with no
/// `spec.loadBalancerClass`, or the class Herald runs with (`--lb-class`). A 1.20 API server
/// has no class field, so there every LoadBalancer Service is Herald's.
pub fn handles(service: &Service, lb_class: &str) -> bool {
    let Some(spec) = &service.spec else {
        return false;
    };
    spec.type_.as_deref() == Some("LoadBalancer")
        && keys::handles_class(spec.load_balancer_class.as_deref(), lb_class)
}

fn annotations(service: &Service) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    service.metadata.annotations.as_ref().unwrap_or(&EMPTY)
}

/// What the Service asks of the allocator: requested addresses (`spec.loadBalancerIP` or
/// the load-balancer-ips annotation, not both), pool and sharing key (annotations with
/// aliases), ports, traffic policy with the selector as backend key, and families
/// (`spec.ipFamilies`/`ipFamilyPolicy`; without them, the families of the requested
/// addresses, else IPv4).
pub fn service_request(service: &Service) -> Result<ServiceRequest, ServiceError> {
    let key = service_key(service)?;
    let annotations = annotations(service);
    let spec = service.spec.clone().unwrap_or_default();

    let from_annotation = keys::load_balancer_ips(annotations)?;
    let from_spec = match spec.load_balancer_ip.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            Some(
                text.parse::<IpAddr>()
                    .map_err(|_| ServiceError::InvalidLoadBalancerIp {
                        value: text.to_owned(),
                    })?,
            )
        }
    };
    let requested_ips = match (from_spec, from_annotation.is_empty()) {
        (Some(spec_ip), false) => {
            let annotation = keys::lookup(
                annotations,
                keys::LOAD_BALANCER_IPS,
                keys::LOAD_BALANCER_IPS_ALIASES,
            )
            .map_or(keys::LOAD_BALANCER_IPS, |found| found.key);
            return Err(ServiceError::BothRequested {
                spec: spec_ip.to_string(),
                annotation: annotation.to_owned(),
            });
        }
        (Some(spec_ip), true) => vec![spec_ip],
        (None, _) => from_annotation,
    };

    let ports = service_ports(service)?;

    let mut families = Vec::new();
    for family in spec.ip_families.iter().flatten() {
        families.push(match family.as_str() {
            "IPv4" => IpFamily::V4,
            "IPv6" => IpFamily::V6,
            other => {
                return Err(ServiceError::UnknownFamily {
                    value: other.to_owned(),
                });
            }
        });
    }
    if families.is_empty() {
        for ip in &requested_ips {
            let family = IpFamily::of(*ip);
            if !families.contains(&family) {
                families.push(family);
            }
        }
    }
    if families.is_empty() {
        families.push(IpFamily::V4);
    }
    let policy = match spec.ip_family_policy.as_deref() {
        None | Some("SingleStack") => IpFamilyPolicy::SingleStack,
        Some("PreferDualStack") => IpFamilyPolicy::PreferDualStack,
        Some("RequireDualStack") => IpFamilyPolicy::RequireDualStack,
        Some(other) => {
            return Err(ServiceError::UnknownFamilyPolicy {
                value: other.to_owned(),
            });
        }
    };

    let mut request = ServiceRequest::new(key)
        .with_requested_ips(requested_ips)
        .with_ports(ports)
        .with_families(families, policy);
    if let Some(pool) = keys::address_pool(annotations) {
        request = request.with_pool(pool);
    }
    if let Some(sharing_key) = keys::allow_shared_ip(annotations) {
        request = request.with_sharing_key(sharing_key);
    }
    if traffic_policy(service) == TrafficPolicy::Local {
        request = request.with_local_policy(spec.selector.unwrap_or_default());
    }
    Ok(request)
}

/// `spec.ports` as `(protocol, port)` pairs, in order. A port outside 1-65535 or an unknown
/// protocol is an error naming it; no port is ever left out silently.
pub fn service_ports(service: &Service) -> Result<Vec<ServicePort>, ServiceError> {
    let ports = service.spec.as_ref().and_then(|spec| spec.ports.as_ref());
    ports
        .into_iter()
        .flatten()
        .map(|port| {
            let number = u16::try_from(port.port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or(ServiceError::InvalidPort { port: port.port })?;
            let protocol = match port.protocol.as_deref() {
                None | Some("TCP") => TransportProtocol::Tcp,
                Some("UDP") => TransportProtocol::Udp,
                Some("SCTP") => TransportProtocol::Sctp,
                Some(other) => {
                    return Err(ServiceError::UnknownProtocol {
                        value: other.to_owned(),
                    });
                }
            };
            Ok(ServicePort {
                protocol,
                port: number,
            })
        })
        .collect()
}

/// `spec.externalTrafficPolicy`: `Local`, else `Cluster` (the API's default).
pub fn traffic_policy(service: &Service) -> TrafficPolicy {
    let policy = service
        .spec
        .as_ref()
        .and_then(|spec| spec.external_traffic_policy.as_deref());
    match policy {
        Some("Local") => TrafficPolicy::Local,
        _ => TrafficPolicy::Cluster,
    }
}

/// What a Service's BGP annotations add to its routes (`herald.dev/bgp-communities`,
/// `herald.dev/bgp-localpref`), and why an annotation is not used. A bad annotation adds
/// nothing; the others still apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceBgp {
    pub communities: BTreeSet<Community>,
    pub local_pref: Option<u32>,
    pub problems: Vec<keys::BgpAnnotationError>,
}

/// The Service's BGP annotations, community aliases resolved with `aliases` (the config's
/// `bgp-communities`).
pub fn bgp_annotations(service: &Service, aliases: &BTreeMap<String, Community>) -> ServiceBgp {
    let annotations = annotations(service);
    let mut bgp = ServiceBgp::default();
    match keys::bgp_communities(annotations, aliases) {
        Ok(communities) => bgp.communities = communities,
        Err(errors) => bgp.problems.extend(errors),
    }
    match keys::bgp_localpref(annotations) {
        Ok(local_pref) => bgp.local_pref = local_pref,
        Err(error) => bgp.problems.push(error),
    }
    bgp
}

/// The IP addresses in `status.loadBalancer.ingress`, in order; hostname-only entries and
/// unparsable ones are skipped.
pub fn status_addresses(service: &Service) -> Vec<IpAddr> {
    service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|ingress| ingress.ip.as_deref()?.parse().ok())
        .collect()
}

/// Whether `status.loadBalancer.ingress` has any entry.
pub fn has_ingress(service: &Service) -> bool {
    service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .is_some_and(|ingress| !ingress.is_empty())
}

/// Whether field manager `manager` owns `status.loadBalancer.ingress` (it wrote it with
/// server-side apply). Used to clear the status of a Service that stopped being ours while
/// the controller was down, without touching what another load balancer wrote.
pub fn ingress_managed_by(service: &Service, manager: &str) -> bool {
    service
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|entry| entry.manager.as_deref() == Some(manager))
        .filter_map(|entry| entry.fields_v1.as_ref())
        .any(|fields| {
            fields
                .0
                .pointer("/f:status/f:loadBalancer/f:ingress")
                .is_some()
        })
}

/// A request that only keeps `addresses`: their families, no sharing.
fn fallback_request(key: ServiceKey, addresses: &[IpAddr]) -> ServiceRequest {
    let mut families: Vec<IpFamily> = Vec::new();
    for ip in addresses {
        if !families.contains(&IpFamily::of(*ip)) {
            families.push(IpFamily::of(*ip));
        }
    }
    let policy = if families.len() > 1 {
        IpFamilyPolicy::RequireDualStack
    } else {
        IpFamilyPolicy::SingleStack
    };
    ServiceRequest::new(key).with_families(families, policy)
}

/// The Services Herald handles, split into those whose status holds addresses (as
/// [`Held`], oldest first so an earlier holder wins a conflict, then by key) and the others.
/// A holder whose request cannot be formed (bad annotation) is still restored, exclusively;
/// a non-holder in that state is left out: it gets no address.
pub fn partition_holders<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    lb_class: &str,
) -> (Vec<Held>, Vec<ServiceRequest>) {
    let mut held: Vec<(Option<&Time>, Held)> = Vec::new();
    let mut others = Vec::new();
    for service in services {
        if !handles(service, lb_class) {
            continue;
        }
        let addresses = status_addresses(service);
        let request = match service_request(service) {
            Ok(request) => request,
            // A holder whose annotations went bad still holds its addresses: restore them
            // as an exclusive holding so nobody else is given them.
            Err(_) if !addresses.is_empty() => match service_key(service) {
                Ok(key) => fallback_request(key, &addresses),
                Err(_) => continue,
            },
            Err(_) => continue,
        };
        if addresses.is_empty() {
            others.push(request);
        } else {
            held.push((
                service.metadata.creation_timestamp.as_ref(),
                Held { request, addresses },
            ));
        }
    }
    held.sort_by(|(a_time, a), (b_time, b)| {
        let a_time = a_time.map(|t| t.0);
        let b_time = b_time.map(|t| t.0);
        // Services without a timestamp (never from a real server) sort last.
        (a_time.is_none(), a_time, &a.request.key).cmp(&(b_time.is_none(), b_time, &b.request.key))
    });
    others.sort_by(|a, b| a.key.cmp(&b.key));
    (held.into_iter().map(|(_, h)| h).collect(), others)
}

/// Whether the server's schema has `ipMode`, from its `/version` (`major`, `minor`; minor may
/// carry a `+` suffix as on some distributions). Unknown versions are taken as lacking it:
/// writing without the field always works.
pub fn server_has_ip_mode(major: &str, minor: &str) -> bool {
    let number = |text: &str| -> Option<u32> {
        let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    match (number(major), number(minor)) {
        (Some(major), Some(minor)) => major > 1 || (major == 1 && minor >= 29),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_bgp_annotation_adds_nothing_and_the_other_still_applies() {
        let aliases = BTreeMap::from([("edge".to_string(), Community::standard(64500, 7))]);
        let service = annotated(
            lb("web"),
            &[
                (keys::BGP_COMMUNITIES, "edge, 64500:1:2"),
                (keys::BGP_LOCALPREF, "lots"),
            ],
        );
        let bgp = bgp_annotations(&service, &aliases);
        assert_eq!(
            bgp.communities,
            BTreeSet::from([
                Community::standard(64500, 7),
                Community::Large {
                    global_admin: 64500,
                    local_data1: 1,
                    local_data2: 2
                }
            ])
        );
        assert_eq!(bgp.local_pref, None);
        assert_eq!(bgp.problems.len(), 1);
        assert_eq!(bgp.problems[0].key(), keys::BGP_LOCALPREF);

        let service = annotated(
            lb("web"),
            &[
                (keys::BGP_COMMUNITIES, "edge, gold"),
                (keys::BGP_LOCALPREF, "300"),
            ],
        );
        let bgp = bgp_annotations(&service, &aliases);
        assert!(bgp.communities.is_empty(), "one bad entry: none is used");
        assert_eq!(bgp.local_pref, Some(300));
        assert_eq!(bgp.problems.len(), 1);

        assert_eq!(
            bgp_annotations(&lb("plain"), &aliases),
            ServiceBgp::default()
        );
    }

    #[test]
    fn ip_mode_is_known_from_1_29_on() {
        assert!(!server_has_ip_mode("1", "20"));
        assert!(!server_has_ip_mode("1", "28+"));
        assert!(server_has_ip_mode("1", "29"));
        assert!(server_has_ip_mode("1", "33+"));
        assert!(server_has_ip_mode("2", "0"));
        assert!(!server_has_ip_mode("", "weird"));
    }
    use herald_testsupport::fixtures::{ip, lb};
    use k8s_openapi::api::core::v1::{
        LoadBalancerIngress, LoadBalancerStatus, ServicePort as K8sPort, ServiceSpec, ServiceStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};

    fn annotated(mut service: Service, pairs: &[(&str, &str)]) -> Service {
        service.metadata.annotations = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        service
    }

    fn with_status(mut service: Service, ips: &[&str]) -> Service {
        service.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(
                    ips.iter()
                        .map(|ip| LoadBalancerIngress {
                            ip: Some(ip.to_string()),
                            ..Default::default()
                        })
                        .collect(),
                ),
            }),
            ..Default::default()
        });
        service
    }

    fn spec(service: &mut Service) -> &mut ServiceSpec {
        service.spec.get_or_insert_with(Default::default)
    }

    #[test]
    fn class_filter_takes_load_balancers_with_no_class_or_ours() {
        let mut service = lb("web");
        assert!(handles(&service, "herald.dev/lb"));
        spec(&mut service).load_balancer_class = Some("herald.dev/lb".into());
        assert!(handles(&service, "herald.dev/lb"));
        spec(&mut service).load_balancer_class = Some("other.io/lb".into());
        assert!(!handles(&service, "herald.dev/lb"));
        assert!(handles(&service, "other.io/lb"), "--lb-class changes it");
    }

    #[test]
    fn class_filter_ignores_other_service_types() {
        for kind in ["ClusterIP", "NodePort", "ExternalName"] {
            let mut service = lb("web");
            spec(&mut service).type_ = Some(kind.into());
            assert!(!handles(&service, "herald.dev/lb"), "{kind}");
        }
        let mut no_spec = lb("web");
        no_spec.spec = None;
        assert!(!handles(&no_spec, "herald.dev/lb"));
    }

    #[test]
    fn plain_load_balancer_asks_for_one_ipv4_address_with_its_ports() {
        let request = service_request(&lb("web")).expect("valid");
        assert_eq!(request.key, ServiceKey::new("ns", "web"));
        assert_eq!(request.ports, vec![ServicePort::tcp(80)]);
        assert_eq!(request.ip_families, vec![IpFamily::V4]);
        assert_eq!(request.ip_family_policy, IpFamilyPolicy::SingleStack);
        assert!(request.requested_ips.is_empty());
        assert_eq!(request.pool, None);
        assert_eq!(request.sharing_key, None);
    }

    #[test]
    fn spec_load_balancer_ip_is_a_requested_address() {
        let mut service = lb("web");
        spec(&mut service).load_balancer_ip = Some("10.0.0.7".into());
        let request = service_request(&service).expect("valid");
        assert_eq!(request.requested_ips, vec![ip("10.0.0.7")]);

        spec(&mut service).load_balancer_ip = Some("10.0.0".into());
        assert_eq!(
            service_request(&service),
            Err(ServiceError::InvalidLoadBalancerIp {
                value: "10.0.0".into()
            })
        );
    }

    #[test]
    fn requested_addresses_come_from_any_alias_annotation() {
        let service = annotated(
            lb("web"),
            &[(
                "metallb.universe.tf/loadBalancerIPs",
                "10.0.0.7,2001:db8::7",
            )],
        );
        let request = service_request(&service).expect("valid");
        assert_eq!(
            request.requested_ips,
            vec![ip("10.0.0.7"), ip("2001:db8::7")]
        );
        // No ipFamilies on the object (a 1.20 server without the dual-stack gate): the
        // families of the requested addresses.
        assert_eq!(request.ip_families, vec![IpFamily::V4, IpFamily::V6]);
    }

    #[test]
    fn spec_ip_and_annotation_together_are_refused() {
        let mut service = annotated(lb("web"), &[("metallb.io/loadBalancerIPs", "10.0.0.8")]);
        spec(&mut service).load_balancer_ip = Some("10.0.0.7".into());
        assert_eq!(
            service_request(&service),
            Err(ServiceError::BothRequested {
                spec: "10.0.0.7".into(),
                annotation: "metallb.io/loadBalancerIPs".into()
            })
        );
    }

    #[test]
    fn bad_annotation_is_a_typed_error() {
        let service = annotated(lb("web"), &[("herald.dev/load-balancer-ips", "nope")]);
        let error = service_request(&service).expect_err("invalid");
        assert_eq!(error.label(), "invalid_annotation");
    }

    #[test]
    fn pool_and_sharing_key_are_read_through_aliases() {
        let service = annotated(
            lb("web"),
            &[
                ("metallb.universe.tf/address-pool", "gold"),
                ("metallb.universe.tf/allow-shared-ip", "team-a"),
            ],
        );
        let request = service_request(&service).expect("valid");
        assert_eq!(request.pool.as_deref(), Some("gold"));
        assert_eq!(request.sharing_key.as_deref(), Some("team-a"));

        let service = annotated(
            lb("web"),
            &[
                ("loadbalancer/pool", "seed"),
                ("herald.dev/address-pool", "own"),
            ],
        );
        assert_eq!(
            service_request(&service).expect("valid").pool.as_deref(),
            Some("own")
        );
    }

    #[test]
    fn families_and_policy_follow_the_spec() {
        let mut service = lb("web");
        spec(&mut service).ip_families = Some(vec!["IPv6".into(), "IPv4".into()]);
        spec(&mut service).ip_family_policy = Some("RequireDualStack".into());
        let request = service_request(&service).expect("valid");
        assert_eq!(request.ip_families, vec![IpFamily::V6, IpFamily::V4]);
        assert_eq!(request.ip_family_policy, IpFamilyPolicy::RequireDualStack);

        spec(&mut service).ip_family_policy = Some("PreferDualStack".into());
        assert_eq!(
            service_request(&service).expect("valid").ip_family_policy,
            IpFamilyPolicy::PreferDualStack
        );
        spec(&mut service).ip_family_policy = Some("Sometimes".into());
        assert_eq!(
            service_request(&service),
            Err(ServiceError::UnknownFamilyPolicy {
                value: "Sometimes".into()
            })
        );
        spec(&mut service).ip_family_policy = None;
        spec(&mut service).ip_families = Some(vec!["IPv5".into()]);
        assert!(matches!(
            service_request(&service),
            Err(ServiceError::UnknownFamily { .. })
        ));
    }

    #[test]
    fn ports_keep_protocols_and_reject_nonsense() {
        let mut service = lb("dns");
        spec(&mut service).ports = Some(vec![
            K8sPort {
                port: 53,
                protocol: Some("UDP".into()),
                ..Default::default()
            },
            K8sPort {
                port: 53,
                protocol: Some("TCP".into()),
                ..Default::default()
            },
            K8sPort {
                port: 3868,
                protocol: Some("SCTP".into()),
                ..Default::default()
            },
        ]);
        let request = service_request(&service).expect("valid");
        assert_eq!(
            request.ports,
            vec![
                ServicePort::udp(53),
                ServicePort::tcp(53),
                ServicePort {
                    protocol: TransportProtocol::Sctp,
                    port: 3868
                }
            ]
        );
        spec(&mut service).ports = Some(vec![K8sPort {
            port: 70000,
            ..Default::default()
        }]);
        assert_eq!(
            service_request(&service),
            Err(ServiceError::InvalidPort { port: 70000 })
        );
        spec(&mut service).ports = Some(vec![K8sPort {
            port: 80,
            protocol: Some("QUIC".into()),
            ..Default::default()
        }]);
        assert!(matches!(
            service_request(&service),
            Err(ServiceError::UnknownProtocol { .. })
        ));
    }

    #[test]
    fn local_policy_uses_the_selector_as_backend_key() {
        let mut service = lb("web");
        spec(&mut service).external_traffic_policy = Some("Local".into());
        spec(&mut service).selector = Some(BTreeMap::from([("app".into(), "web".into())]));
        let request = service_request(&service).expect("valid");
        assert_eq!(request.traffic_policy, TrafficPolicy::Local);
        assert_eq!(request.selector.get("app").map(String::as_str), Some("web"));

        spec(&mut service).external_traffic_policy = Some("Cluster".into());
        let request = service_request(&service).expect("valid");
        assert_eq!(request.traffic_policy, TrafficPolicy::Cluster);
        assert!(
            request.selector.is_empty(),
            "selector only matters for Local"
        );
    }

    #[test]
    fn status_addresses_skip_hostnames_and_garbage() {
        let mut service = with_status(lb("web"), &["10.0.0.1", "junk", "2001:db8::1"]);
        if let Some(ingress) = service
            .status
            .as_mut()
            .and_then(|s| s.load_balancer.as_mut())
            .and_then(|lb| lb.ingress.as_mut())
        {
            ingress.push(LoadBalancerIngress {
                hostname: Some("lb.example".into()),
                ..Default::default()
            });
        }
        assert_eq!(
            status_addresses(&service),
            vec![ip("10.0.0.1"), ip("2001:db8::1")]
        );
        assert!(has_ingress(&service));
        assert!(!has_ingress(&lb("web")));
        assert!(!has_ingress(&with_status(lb("web"), &[])));
    }

    #[test]
    fn ingress_ownership_is_read_from_managed_fields() {
        let mut service = with_status(lb("web"), &["10.0.0.1"]);
        assert!(!ingress_managed_by(&service, "herald-controller"));
        service.metadata.managed_fields = Some(vec![
            ManagedFieldsEntry {
                manager: Some("kubectl".into()),
                fields_v1: Some(FieldsV1(serde_json::json!({"f:spec": {"f:type": {}}}))),
                ..Default::default()
            },
            ManagedFieldsEntry {
                manager: Some("herald-controller".into()),
                operation: Some("Apply".into()),
                fields_v1: Some(FieldsV1(serde_json::json!({
                    "f:status": {"f:loadBalancer": {"f:ingress": {}}}
                }))),
                ..Default::default()
            },
        ]);
        assert!(ingress_managed_by(&service, "herald-controller"));
        assert!(!ingress_managed_by(&service, "kubectl"));
    }

    #[test]
    fn holders_come_oldest_first_and_foreign_services_are_left_out() {
        use k8s_openapi::jiff::Timestamp;
        let at = |secs: i64| Some(Time(Timestamp::from_second(secs).expect("time")));
        let mut young = with_status(lb("young"), &["10.0.0.1"]);
        young.metadata.creation_timestamp = at(2_000);
        let mut old = with_status(lb("old"), &["10.0.0.1"]);
        old.metadata.creation_timestamp = at(1_000);
        let fresh = lb("fresh");
        let mut foreign = with_status(lb("foreign"), &["10.0.0.2"]);
        spec(&mut foreign).load_balancer_class = Some("other.io/lb".into());
        let mut cluster_ip = lb("internal");
        spec(&mut cluster_ip).type_ = Some("ClusterIP".into());

        let mut broken_holder = with_status(lb("broken"), &["10.0.0.3"]);
        broken_holder.metadata.creation_timestamp = at(1_500);
        spec(&mut broken_holder).load_balancer_ip = Some("garbage".into());
        let mut broken_newcomer = lb("broken-new");
        spec(&mut broken_newcomer).load_balancer_ip = Some("garbage".into());

        let services = [
            young,
            fresh,
            foreign,
            old,
            cluster_ip,
            broken_holder,
            broken_newcomer,
        ];
        let (held, others) = partition_holders(&services, "herald.dev/lb");
        let names: Vec<&str> = held.iter().map(|h| h.request.key.name.as_str()).collect();
        assert_eq!(
            names,
            ["old", "broken", "young"],
            "a bad annotation does not free an address"
        );
        assert_eq!(held[1].request.sharing_key, None);
        assert_eq!(held[0].addresses, vec![ip("10.0.0.1")]);
        let names: Vec<&str> = others.iter().map(|r| r.key.name.as_str()).collect();
        assert_eq!(names, ["fresh"]);
    }
}
