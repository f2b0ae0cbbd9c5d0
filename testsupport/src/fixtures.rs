//! Kubernetes objects for tests: small, valid, and named so a test reads as what it sets up.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// An address from a literal; panics (failing the test) on a typo.
pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

/// A minimal LoadBalancer Service `ns/NAME` with one port (80/TCP), no status.
pub fn lb(name: &str) -> Service {
    Service {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            ports: Some(vec![ServicePort {
                port: 80,
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    }
}
