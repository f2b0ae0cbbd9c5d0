//! `status.loadBalancer` as Herald writes it: the ingress entries for an assignment, whether
//! the status already says so, and the server-side apply body.
//!
//! `ipMode` (`VIP`, or `Proxy` when Herald's proxy serves the address) exists from
//! Kubernetes 1.29 (alpha; beta and on by default in 1.30). An older server's server-side
//! apply refuses the whole patch (`HTTP 500: failed to create typed patch object:
//! .status.loadBalancer.ingress[0].ipMode: field not declared in schema`), so the field is
//! only written when the server is known to have it.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, Service, ServiceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use herald_core::ServiceKey;

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "herald-controller";

/// How traffic reaches a Herald address, for `ipMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpMode {
    /// The node receives packets for the address itself (BGP/VRRP announce it).
    Vip,
    /// Herald's proxy terminates connections on the address; kube-proxy must not
    /// short-circuit it.
    Proxy,
}

impl IpMode {
    pub fn as_str(self) -> &'static str {
        match self {
            IpMode::Vip => "VIP",
            IpMode::Proxy => "Proxy",
        }
    }
}

pub use herald_core::service::server_has_ip_mode;

/// Whether an API error is a server refusing `ipMode` as unknown (the fallback when the
/// version check was wrong, e.g. a server with the field switched off in its schema).
pub fn is_unknown_ip_mode_error(message: &str) -> bool {
    message.contains("ipMode") && message.contains("not declared in schema")
}

/// The mode of a Service's addresses: `Proxy` when Herald's proxy serves it
/// ([`herald_config::keys::proxy_wanted`], the rule the speaker's listeners follow too),
/// `VIP` otherwise.
pub fn ip_mode_for(pool: Option<&herald_config::Pool>, service: &Service) -> IpMode {
    use herald_config::keys;
    let pool_enabled = pool
        .and_then(|p| p.proxy.as_ref())
        .is_some_and(|p| p.enabled);
    let (proxy, tls) = match service.metadata.annotations.as_ref() {
        Some(annotations) => (
            keys::proxy_switch(annotations),
            keys::tls_switch(annotations),
        ),
        None => (None, None),
    };
    if keys::proxy_wanted(pool_enabled, proxy, tls) {
        IpMode::Proxy
    } else {
        IpMode::Vip
    }
}

/// The ingress entries for `addresses` (primary family first), with `ipMode` when given.
pub fn ingress_for(addresses: &[IpAddr], mode: Option<IpMode>) -> Vec<LoadBalancerIngress> {
    addresses
        .iter()
        .map(|ip| LoadBalancerIngress {
            ip: Some(ip.to_string()),
            ip_mode: mode.map(|m| m.as_str().to_owned()),
            ..Default::default()
        })
        .collect()
}

/// The Service's current ingress entries (empty when it has none).
pub fn current_ingress(service: &Service) -> &[LoadBalancerIngress] {
    service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or(&[])
}

/// Whether the status already shows exactly `desired`: same entries in the same order, with
/// no hostnames or port statuses of someone else's left in them.
pub fn status_matches(current: &[LoadBalancerIngress], desired: &[LoadBalancerIngress]) -> bool {
    current.len() == desired.len()
        && current.iter().zip(desired).all(|(have, want)| {
            have.ip == want.ip
                && have.ip_mode == want.ip_mode
                && have.hostname.is_none()
                && have.ports.as_ref().is_none_or(Vec::is_empty)
        })
}

/// The server-side apply body that sets `status.loadBalancer.ingress` to `ingress` (an empty
/// list clears it, also when another manager wrote it, once applied with force).
pub fn status_patch(key: &ServiceKey, ingress: Vec<LoadBalancerIngress>) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(key.name.clone()),
            namespace: Some(key.namespace.clone()),
            ..Default::default()
        },
        spec: None,
        status: Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(ingress),
            }),
            conditions: None,
        }),
    }
}

/// `ingress` without `ipMode`, for servers that lack the field.
pub fn without_ip_mode(mut ingress: Vec<LoadBalancerIngress>) -> Vec<LoadBalancerIngress> {
    for entry in &mut ingress {
        entry.ip_mode = None;
    }
    ingress
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn the_1_20_refusal_is_recognised() {
        assert!(is_unknown_ip_mode_error(
            "failed to create typed patch object: .status.loadBalancer.ingress[0].ipMode: \
             field not declared in schema"
        ));
        assert!(!is_unknown_ip_mode_error("the object has been modified"));
    }

    #[test]
    fn ingress_carries_ip_mode_only_when_asked() {
        let with = ingress_for(&[ip("10.0.0.1"), ip("2001:db8::1")], Some(IpMode::Vip));
        assert_eq!(with.len(), 2);
        assert_eq!(with[0].ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(with[1].ip.as_deref(), Some("2001:db8::1"));
        assert!(with.iter().all(|i| i.ip_mode.as_deref() == Some("VIP")));

        let without = ingress_for(&[ip("10.0.0.1")], None);
        assert_eq!(without[0].ip_mode, None);
        assert_eq!(without_ip_mode(with.clone())[0].ip_mode, None);
        let json = serde_json::to_value(&without[0]).expect("serialises");
        assert_eq!(json, serde_json::json!({"ip": "10.0.0.1"}));
    }

    #[test]
    fn proxy_mode_when_the_pool_proxies_or_tls_is_asked() {
        let config = herald_config::Config::from_yaml(
            "address-pools:\n\
             - {name: plain, protocol: bgp, addresses: [10.0.0.0/24]}\n\
             - {name: proxied, protocol: bgp, addresses: [10.0.1.0/24], proxy: {enabled: true}}\n",
        )
        .expect("valid config");
        let service = Service::default();
        assert_eq!(ip_mode_for(Some(&config.pools[0]), &service), IpMode::Vip);
        assert_eq!(ip_mode_for(Some(&config.pools[1]), &service), IpMode::Proxy);
        assert_eq!(ip_mode_for(None, &service), IpMode::Vip);
        let mut tls = Service::default();
        tls.metadata.annotations = Some([("loadbalancer/ssl".into(), "true".into())].into());
        assert_eq!(ip_mode_for(Some(&config.pools[0]), &tls), IpMode::Proxy);
        let mut asks = Service::default();
        asks.metadata.annotations = Some([("herald.dev/proxy".into(), "true".into())].into());
        assert_eq!(ip_mode_for(Some(&config.pools[0]), &asks), IpMode::Proxy);
        let mut refuses = Service::default();
        refuses.metadata.annotations = Some([("herald.dev/proxy".into(), "false".into())].into());
        assert_eq!(ip_mode_for(Some(&config.pools[1]), &refuses), IpMode::Vip);
    }

    #[test]
    fn status_diff_compares_addresses_order_and_mode() {
        let want = ingress_for(&[ip("10.0.0.1"), ip("2001:db8::1")], Some(IpMode::Vip));
        assert!(status_matches(&want, &want));
        assert!(!status_matches(&[], &want));
        assert!(!status_matches(&want[..1], &want));
        let reversed: Vec<_> = want.iter().rev().cloned().collect();
        assert!(!status_matches(&reversed, &want));
        let no_mode = without_ip_mode(want.clone());
        assert!(!status_matches(&no_mode, &want));
        assert!(status_matches(&no_mode, &no_mode));
        let mut with_hostname = want.clone();
        with_hostname[0].hostname = Some("lb.example".into());
        assert!(!status_matches(&with_hostname, &want));
        assert!(status_matches(&[], &[]));
    }

    #[test]
    fn apply_body_names_the_object_and_only_the_status() {
        let key = ServiceKey::new("ns", "web");
        let body = serde_json::to_value(status_patch(
            &key,
            ingress_for(&[ip("10.0.0.1")], Some(IpMode::Proxy)),
        ))
        .expect("serialises");
        assert_eq!(
            body,
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": "ns"},
                "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1", "ipMode": "Proxy"}]}}
            })
        );
        let clear = serde_json::to_value(status_patch(&key, vec![])).expect("serialises");
        assert_eq!(
            clear["status"],
            serde_json::json!({"loadBalancer": {"ingress": []}}),
            "an empty list, not an absent one, so a forced apply clears what others wrote"
        );
    }
}
