//! Which EndpointSlice API the server serves, and the `discovery.k8s.io/v1beta1` slices of
//! servers older than 1.21 read as `discovery.k8s.io/v1` ones, so that everything after the
//! source sees one type.
//!
//! Kubernetes 1.21 added `discovery.k8s.io/v1`; 1.17-1.20 serve only `v1beta1`, and 1.25
//! removed `v1beta1`. The speaker asks the server once at start ([`SliceApi::choose`]) and
//! watches the version it picked. The two versions differ where an endpoint says where it
//! runs: `v1beta1` puts the node into `topology["kubernetes.io/hostname"]` (and into
//! `nodeName` only behind the alpha `EndpointSliceNodeName` gate of 1.20), the zone into
//! `topology["topology.kubernetes.io/zone"]`; `v1` has `nodeName`, `zone` and keeps the rest
//! of the map as `deprecatedTopology`. Conditions (`ready`, `serving`, `terminating`),
//! ports, addresses, `targetRef` and `hints` have the same shape in both and are carried
//! over unchanged, unset ones included: the reader treats an unset condition the same way
//! for both versions (see [`crate::view::EndpointView::is_serving`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointHints, EndpointPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, ObjectMeta};
use serde::{Deserialize, Serialize};

/// The API group of EndpointSlices in every version.
pub const GROUP: &str = "discovery.k8s.io";
/// The `v1beta1` topology key naming the endpoint's node.
pub const HOSTNAME_KEY: &str = "kubernetes.io/hostname";
/// The `v1beta1` topology key naming the endpoint's zone.
pub const ZONE_KEY: &str = "topology.kubernetes.io/zone";

/// The EndpointSlice API version the speaker watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceApi {
    /// `discovery.k8s.io/v1` (Kubernetes 1.21 and later).
    V1,
    /// `discovery.k8s.io/v1beta1` (Kubernetes 1.17-1.20), read as `v1`.
    V1Beta1,
}

impl SliceApi {
    /// `v1` when the server serves it, else `v1beta1` when it serves that; `None` when the
    /// server lists neither under [`GROUP`].
    pub fn choose(groups: &APIGroupList) -> Option<Self> {
        let group = groups.groups.iter().find(|group| group.name == GROUP)?;
        let serves = |version: &str| group.versions.iter().any(|v| v.version == version);
        if serves("v1") {
            Some(Self::V1)
        } else if serves("v1beta1") {
            Some(Self::V1Beta1)
        } else {
            None
        }
    }

    /// `discovery.k8s.io/v1` or `discovery.k8s.io/v1beta1`.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::V1 => "discovery.k8s.io/v1",
            Self::V1Beta1 => "discovery.k8s.io/v1beta1",
        }
    }
}

/// A `discovery.k8s.io/v1beta1` EndpointSlice: the fields the speaker reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSliceV1Beta1 {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub address_type: String,
    /// `null` on the wire when the slice has no endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<EndpointV1Beta1>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<EndpointPort>>,
}

/// One endpoint of a `discovery.k8s.io/v1beta1` EndpointSlice.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointV1Beta1 {
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<EndpointConditions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<BTreeMap<String, String>>,
    /// Only with the `EndpointSliceNodeName` feature gate (alpha in 1.20, on from 1.21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hints: Option<EndpointHints>,
}

impl k8s_openapi::Resource for EndpointSliceV1Beta1 {
    const API_VERSION: &'static str = "discovery.k8s.io/v1beta1";
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = "EndpointSlice";
    const VERSION: &'static str = "v1beta1";
    const URL_PATH_SEGMENT: &'static str = "endpointslices";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::ListableResource for EndpointSliceV1Beta1 {
    const LIST_KIND: &'static str = "EndpointSliceList";
}

impl k8s_openapi::Metadata for EndpointSliceV1Beta1 {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The `v1` reading of a `v1beta1` slice (what a 1.21 server's conversion gives).
pub fn to_v1(slice: EndpointSliceV1Beta1) -> EndpointSlice {
    EndpointSlice {
        metadata: slice.metadata,
        address_type: slice.address_type,
        endpoints: slice
            .endpoints
            .map(|endpoints| endpoints.into_iter().map(endpoint_to_v1).collect()),
        ports: slice.ports,
    }
}

/// One endpoint: the node from `nodeName`, else from the topology's hostname; the zone from
/// the topology; what else the topology holds stays as `deprecatedTopology`.
fn endpoint_to_v1(endpoint: EndpointV1Beta1) -> Endpoint {
    let mut topology = endpoint.topology.unwrap_or_default();
    let hostname = topology.remove(HOSTNAME_KEY);
    let zone = topology.remove(ZONE_KEY);
    Endpoint {
        addresses: endpoint.addresses,
        conditions: endpoint.conditions,
        deprecated_topology: (!topology.is_empty()).then_some(topology),
        hints: endpoint.hints,
        hostname: endpoint.hostname,
        node_name: endpoint.node_name.or(hostname),
        target_ref: endpoint.target_ref,
        zone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroup, GroupVersionForDiscovery};
    use serde_json::json;

    fn groups(list: &[(&str, &[&str])]) -> APIGroupList {
        APIGroupList {
            groups: list
                .iter()
                .map(|(name, versions)| APIGroup {
                    name: (*name).into(),
                    versions: versions
                        .iter()
                        .map(|v| GroupVersionForDiscovery {
                            group_version: format!("{name}/{v}"),
                            version: (*v).into(),
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    fn v1beta1(value: serde_json::Value) -> EndpointSliceV1Beta1 {
        serde_json::from_value(value).expect("a v1beta1 EndpointSlice")
    }

    #[test]
    fn server_serving_v1_and_v1beta1_is_read_as_v1() {
        let list = groups(&[("apps", &["v1"]), (GROUP, &["v1", "v1beta1"])]);
        assert_eq!(SliceApi::choose(&list), Some(SliceApi::V1));
    }

    #[test]
    fn server_serving_only_v1beta1_is_read_as_v1beta1() {
        let list = groups(&[(GROUP, &["v1beta1"])]);
        assert_eq!(SliceApi::choose(&list), Some(SliceApi::V1Beta1));
    }

    #[test]
    fn server_without_the_discovery_group_offers_no_slice_api() {
        assert_eq!(SliceApi::choose(&groups(&[("apps", &["v1"])])), None);
        assert_eq!(SliceApi::choose(&groups(&[(GROUP, &["v2alpha1"])])), None);
    }

    #[test]
    fn topology_hostname_becomes_the_node_name() {
        let slice = to_v1(v1beta1(json!({
            "apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "namespace": "team",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [{
                "addresses": ["10.244.1.5"],
                "conditions": {"ready": true},
                "topology": {"kubernetes.io/hostname": "node2",
                             "topology.kubernetes.io/zone": "rack1",
                             "example.com/row": "7"},
            }],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        })));
        assert_eq!(slice.metadata.name.as_deref(), Some("web-abc"));
        assert_eq!(slice.metadata.namespace.as_deref(), Some("team"));
        assert_eq!(
            slice.metadata.labels.unwrap()["kubernetes.io/service-name"],
            "web"
        );
        assert_eq!(slice.address_type, "IPv4");
        let endpoint = &slice.endpoints.as_ref().unwrap()[0];
        assert_eq!(endpoint.addresses, ["10.244.1.5"]);
        assert_eq!(endpoint.node_name.as_deref(), Some("node2"));
        assert_eq!(endpoint.zone.as_deref(), Some("rack1"));
        assert_eq!(
            endpoint.deprecated_topology,
            Some(BTreeMap::from([("example.com/row".into(), "7".into())]))
        );
        let ports = slice.ports.unwrap();
        assert_eq!(ports[0].name.as_deref(), Some("http"));
        assert_eq!(ports[0].port, Some(8080));
        assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
    }

    #[test]
    fn node_name_field_wins_over_topology_hostname() {
        let slice = to_v1(v1beta1(json!({
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.1.5"], "nodeName": "node3",
                           "topology": {"kubernetes.io/hostname": "node2"}}],
        })));
        let endpoint = &slice.endpoints.unwrap()[0];
        assert_eq!(endpoint.node_name.as_deref(), Some("node3"));
        assert_eq!(endpoint.deprecated_topology, None);
    }

    #[test]
    fn endpoint_without_topology_or_node_name_has_no_node() {
        let slice = to_v1(v1beta1(json!({
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.1.5"]}],
        })));
        let endpoint = &slice.endpoints.unwrap()[0];
        assert_eq!(endpoint.node_name, None);
        assert_eq!(endpoint.zone, None);
        assert_eq!(endpoint.deprecated_topology, None);
    }

    #[test]
    fn conditions_are_carried_over_and_unset_ones_stay_unset() {
        let slice = to_v1(v1beta1(json!({
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {}},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": false}},
                {"addresses": ["10.0.0.3"],
                 "conditions": {"ready": false, "serving": true, "terminating": true}},
            ],
        })));
        let conditions: Vec<_> = slice
            .endpoints
            .unwrap()
            .into_iter()
            .map(|e| {
                let c = e.conditions.unwrap();
                (c.ready, c.serving, c.terminating)
            })
            .collect();
        assert_eq!(
            conditions,
            [
                (None, None, None),
                (Some(false), None, None),
                (Some(false), Some(true), Some(true)),
            ]
        );
    }

    #[test]
    fn converted_conditions_serve_as_the_view_reads_them() {
        // 1.20 without the EndpointSliceTerminatingCondition gate sends `ready` only.
        let slice = to_v1(v1beta1(json!({
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {"ready": true}},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": false}},
                {"addresses": ["10.0.0.3"]},
                {"addresses": ["10.0.0.4"],
                 "conditions": {"ready": false, "serving": true, "terminating": true}},
            ],
        })));
        let serving: Vec<bool> = slice
            .endpoints
            .unwrap()
            .iter()
            .map(|e| crate::view::endpoint_view(e).is_serving())
            .collect();
        assert_eq!(serving, [true, false, true, true]);
    }

    #[test]
    fn slice_without_endpoints_sent_as_null_reads_as_no_endpoints() {
        let slice = to_v1(v1beta1(json!({
            "addressType": "IPv4", "endpoints": null, "ports": null,
        })));
        assert_eq!(slice.endpoints, None);
        assert_eq!(slice.ports, None);
    }

    #[test]
    fn hostname_target_ref_and_hints_are_carried_over() {
        let slice = to_v1(v1beta1(json!({
            "addressType": "IPv6",
            "endpoints": [{
                "addresses": ["fd00::5"], "hostname": "web-0",
                "targetRef": {"kind": "Pod", "name": "web-0", "namespace": "team"},
                "hints": {"forZones": [{"name": "rack1"}]},
            }],
        })));
        assert_eq!(slice.address_type, "IPv6");
        let endpoint = &slice.endpoints.unwrap()[0];
        assert_eq!(endpoint.hostname.as_deref(), Some("web-0"));
        let target = endpoint.target_ref.as_ref().unwrap();
        assert_eq!(target.kind.as_deref(), Some("Pod"));
        assert_eq!(target.name.as_deref(), Some("web-0"));
        let zones = endpoint.hints.as_ref().unwrap().for_zones.as_ref().unwrap();
        assert_eq!(zones[0].name, "rack1");
    }
}
