//! Annotation and label keys Herald reads (DESIGN.md sections 3 and 5), and small helpers
//! that read an annotation through its aliases. Herald's own key always wins over an alias.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::address::IpFamily;
use crate::community::Community;
use crate::error::CommunityFault;

/// Service annotation: the pool to allocate from.
pub const ADDRESS_POOL: &str = "herald.dev/address-pool";
/// Accepted aliases of [`ADDRESS_POOL`], in precedence order.
pub const ADDRESS_POOL_ALIASES: &[&str] = &[
    "metallb.universe.tf/address-pool",
    "metallb.io/address-pool",
    "loadbalancer/pool",
];

/// Service annotation: requested addresses, a comma list with at most one per family.
pub const LOAD_BALANCER_IPS: &str = "herald.dev/load-balancer-ips";
/// Accepted aliases of [`LOAD_BALANCER_IPS`], in precedence order.
pub const LOAD_BALANCER_IPS_ALIASES: &[&str] = &[
    "metallb.universe.tf/loadBalancerIPs",
    "metallb.io/loadBalancerIPs",
];

/// Service annotation: Services with the same value may share an address.
pub const ALLOW_SHARED_IP: &str = "herald.dev/allow-shared-ip";
/// Accepted aliases of [`ALLOW_SHARED_IP`], in precedence order.
pub const ALLOW_SHARED_IP_ALIASES: &[&str] = &[
    "metallb.universe.tf/allow-shared-ip",
    "metallb.io/allow-shared-ip",
];

/// Service annotation (seed convention): `"true"` asks for TLS termination.
pub const SSL: &str = "loadbalancer/ssl";
/// Service annotation: `"true"` asks for TLS termination.
pub const TLS: &str = "herald.dev/tls";
/// Service annotation: name of a `kubernetes.io/tls` Secret in the Service's namespace.
pub const TLS_SECRET: &str = "herald.dev/tls-secret";
/// Service annotation: `"true"` asks the speaker's proxy to serve the Service, `"false"`
/// keeps it out of the proxy of a pool with `proxy.enabled`.
pub const PROXY: &str = "herald.dev/proxy";

/// Service annotation: communities added to the Service's routes (comma list of `A:B`,
/// large `A:B:C`, well-known names such as `no-export`, and `bgp-communities` aliases).
pub const BGP_COMMUNITIES: &str = "herald.dev/bgp-communities";
/// Service annotation: LOCAL_PREF of the Service's routes (0-4294967295; sent on iBGP
/// sessions only).
pub const BGP_LOCALPREF: &str = "herald.dev/bgp-localpref";

/// Node label: a node carrying it (any value) never announces Service addresses.
pub const EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS: &str =
    "node.kubernetes.io/exclude-from-external-load-balancers";

/// The `spec.loadBalancerClass` Herald handles by default (flag `--lb-class`).
pub const LOAD_BALANCER_CLASS: &str = "herald.dev/lb";

/// An annotation found through one of its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<'a> {
    /// The key it was found under (Herald's own or an alias).
    pub key: &'a str,
    /// Its value.
    pub value: &'a str,
}

/// Looks `key` up, then each alias in order.
pub fn lookup<'a>(
    annotations: &'a BTreeMap<String, String>,
    key: &'a str,
    aliases: &[&'a str],
) -> Option<Found<'a>> {
    std::iter::once(key)
        .chain(aliases.iter().copied())
        .find_map(|k| {
            annotations.get(k).map(|v| Found {
                key: k,
                value: v.as_str(),
            })
        })
}

/// The requested pool name (`herald.dev/address-pool` or an alias), trimmed.
pub fn address_pool(annotations: &BTreeMap<String, String>) -> Option<&str> {
    lookup(annotations, ADDRESS_POOL, ADDRESS_POOL_ALIASES)
        .map(|f| f.value.trim())
        .filter(|v| !v.is_empty())
}

/// The sharing key (`herald.dev/allow-shared-ip` or an alias), trimmed.
pub fn allow_shared_ip(annotations: &BTreeMap<String, String>) -> Option<&str> {
    lookup(annotations, ALLOW_SHARED_IP, ALLOW_SHARED_IP_ALIASES)
        .map(|f| f.value.trim())
        .filter(|v| !v.is_empty())
}

/// Why a `load-balancer-ips` annotation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationError {
    /// An entry that is not an IP address.
    #[error("annotation {key}: \"{value}\" is not an IP address")]
    InvalidIp { key: String, value: String },
    /// Two addresses of the same family.
    #[error("annotation {key}: more than one {family} address")]
    SameFamilyTwice { key: String, family: IpFamily },
}

/// The requested addresses (`herald.dev/load-balancer-ips` or an alias): a comma list with
/// at most one address per family. Empty when the annotation is absent or blank.
pub fn load_balancer_ips(
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<IpAddr>, AnnotationError> {
    let Some(found) = lookup(annotations, LOAD_BALANCER_IPS, LOAD_BALANCER_IPS_ALIASES) else {
        return Ok(vec![]);
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    for item in found
        .value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let ip: IpAddr = item.parse().map_err(|_| AnnotationError::InvalidIp {
            key: found.key.to_string(),
            value: item.to_string(),
        })?;
        let family = IpFamily::of(ip);
        if ips.iter().any(|other| IpFamily::of(*other) == family) {
            return Err(AnnotationError::SameFamilyTwice {
                key: found.key.to_string(),
                family,
            });
        }
        ips.push(ip);
    }
    Ok(ips)
}

/// Why a per-Service BGP annotation is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BgpAnnotationError {
    /// An entry that is no literal, no well-known name and no `bgp-communities` alias.
    #[error(
        "annotation {key}: \"{value}\" is not a community (A:B, A:B:C), a well-known name or a bgp-communities alias"
    )]
    UnknownCommunity { key: &'static str, value: String },
    /// A literal that does not parse.
    #[error("annotation {key}: \"{value}\": {fault}")]
    MalformedCommunity {
        key: &'static str,
        value: String,
        fault: CommunityFault,
    },
    /// Not a number in 0-4294967295.
    #[error("annotation {key}: \"{value}\" is not a LOCAL_PREF (0-4294967295)")]
    InvalidLocalPref { key: &'static str, value: String },
}

impl BgpAnnotationError {
    /// The annotation the error is about.
    pub fn key(&self) -> &'static str {
        match self {
            BgpAnnotationError::UnknownCommunity { key, .. }
            | BgpAnnotationError::MalformedCommunity { key, .. }
            | BgpAnnotationError::InvalidLocalPref { key, .. } => key,
        }
    }
}

/// The communities of `herald.dev/bgp-communities`: each comma-separated entry is an
/// alias from the config's `bgp-communities` (`aliases`), a well-known name, or a literal
/// `A:B` / `A:B:C`, resolved as in an advertisement's `communities`. Empty when the
/// annotation is absent or blank; every bad entry is reported (and then none is used).
pub fn bgp_communities(
    annotations: &BTreeMap<String, String>,
    aliases: &BTreeMap<String, Community>,
) -> Result<BTreeSet<Community>, Vec<BgpAnnotationError>> {
    let Some(value) = annotations.get(BGP_COMMUNITIES) else {
        return Ok(BTreeSet::new());
    };
    let mut communities = BTreeSet::new();
    let mut errors = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(alias) = aliases.get(item) {
            communities.insert(*alias);
        } else if let Some(known) = Community::well_known(item) {
            communities.insert(known);
        } else if item.contains(':') {
            match item.parse::<Community>() {
                Ok(community) => {
                    communities.insert(community);
                }
                Err(fault) => errors.push(BgpAnnotationError::MalformedCommunity {
                    key: BGP_COMMUNITIES,
                    value: item.to_string(),
                    fault,
                }),
            }
        } else {
            errors.push(BgpAnnotationError::UnknownCommunity {
                key: BGP_COMMUNITIES,
                value: item.to_string(),
            });
        }
    }
    if errors.is_empty() {
        Ok(communities)
    } else {
        Err(errors)
    }
}

/// The LOCAL_PREF of `herald.dev/bgp-localpref` (trimmed decimal); `None` when absent or
/// blank.
pub fn bgp_localpref(
    annotations: &BTreeMap<String, String>,
) -> Result<Option<u32>, BgpAnnotationError> {
    let Some(value) = annotations.get(BGP_LOCALPREF).map(|v| v.trim()) else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    let parsed = if value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse::<u32>().ok()
    } else {
        None
    };
    parsed
        .map(Some)
        .ok_or_else(|| BgpAnnotationError::InvalidLocalPref {
            key: BGP_LOCALPREF,
            value: value.to_string(),
        })
}

/// A `"true"`/`"false"` annotation (any case, trimmed): `None` when absent or set to
/// anything else.
pub fn switch(annotations: &BTreeMap<String, String>, key: &str, aliases: &[&str]) -> Option<bool> {
    let found = lookup(annotations, key, aliases)?;
    let value = found.value.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// TLS termination asked for (`Some(true)`) or turned off (`Some(false)`) by annotation:
/// `herald.dev/tls`, else its alias `loadbalancer/ssl`.
pub fn tls_switch(annotations: &BTreeMap<String, String>) -> Option<bool> {
    switch(annotations, TLS, &[SSL])
}

/// The proxy asked for (`Some(true)`) or refused (`Some(false)`) by `herald.dev/proxy`.
pub fn proxy_switch(annotations: &BTreeMap<String, String>) -> Option<bool> {
    switch(annotations, PROXY, &[])
}

/// Whether Herald's proxy serves a Service: the one rule the controller (`ipMode: Proxy`)
/// and the speaker (its listeners) share. `herald.dev/proxy` decides when set (`proxy`);
/// otherwise the pool's `proxy.enabled` (`pool_enabled`), or TLS asked for by annotation
/// (`tls`, see [`tls_switch`]), since only the proxy terminates TLS.
pub fn proxy_wanted(pool_enabled: bool, proxy: Option<bool>, tls: Option<bool>) -> bool {
    proxy.unwrap_or(pool_enabled || tls == Some(true))
}

/// The TLS Secret name (`herald.dev/tls-secret`), trimmed.
pub fn tls_secret(annotations: &BTreeMap<String, String>) -> Option<&str> {
    annotations
        .get(TLS_SECRET)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// True when the node's labels exclude it from announcing (label present, any value, as
/// Kubernetes' own service controller treats it).
pub fn node_excluded(labels: &BTreeMap<String, String>) -> bool {
    labels.contains_key(EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS)
}

/// True when Herald handles a Service with this `spec.loadBalancerClass`: no class, or the
/// class Herald was started with (`configured`, normally [`LOAD_BALANCER_CLASS`]).
pub fn handles_class(service_class: Option<&str>, configured: &str) -> bool {
    service_class.is_none_or(|c| c == configured)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn aliases() -> BTreeMap<String, Community> {
        BTreeMap::from([("edge".to_string(), Community::standard(64500, 7))])
    }

    #[test]
    fn bgp_communities_resolve_literals_large_well_known_names_and_aliases() {
        let annotations = map(&[(BGP_COMMUNITIES, " 64500:1, 64500:1:2 ,no-export,edge,, ")]);
        let communities = bgp_communities(&annotations, &aliases()).expect("valid");
        assert_eq!(
            communities,
            BTreeSet::from([
                Community::standard(64500, 1),
                Community::Large {
                    global_admin: 64500,
                    local_data1: 1,
                    local_data2: 2
                },
                Community::Standard(0xFFFF_FF01),
                Community::standard(64500, 7),
            ])
        );
        assert_eq!(bgp_communities(&map(&[]), &aliases()), Ok(BTreeSet::new()));
        assert_eq!(
            bgp_communities(&map(&[(BGP_COMMUNITIES, " ")]), &aliases()),
            Ok(BTreeSet::new())
        );
    }

    #[test]
    fn bgp_communities_report_every_bad_entry() {
        let annotations = map(&[(BGP_COMMUNITIES, "64500:1, nowhere, 70000:1, 1:2:3:4")]);
        let errors = bgp_communities(&annotations, &aliases()).expect_err("invalid");
        assert_eq!(
            errors,
            [
                BgpAnnotationError::UnknownCommunity {
                    key: BGP_COMMUNITIES,
                    value: "nowhere".into()
                },
                BgpAnnotationError::MalformedCommunity {
                    key: BGP_COMMUNITIES,
                    value: "70000:1".into(),
                    fault: CommunityFault::StandardPartTooLarge
                },
                BgpAnnotationError::MalformedCommunity {
                    key: BGP_COMMUNITIES,
                    value: "1:2:3:4".into(),
                    fault: CommunityFault::PartCount
                },
            ]
        );
        assert_eq!(
            errors[0].to_string(),
            "annotation herald.dev/bgp-communities: \"nowhere\" is not a community (A:B, A:B:C), a well-known name or a bgp-communities alias"
        );
    }

    #[test]
    fn bgp_localpref_is_a_32_bit_number() {
        assert_eq!(
            bgp_localpref(&map(&[(BGP_LOCALPREF, " 250 ")])),
            Ok(Some(250))
        );
        assert_eq!(
            bgp_localpref(&map(&[(BGP_LOCALPREF, "4294967295")])),
            Ok(Some(u32::MAX))
        );
        assert_eq!(bgp_localpref(&map(&[])), Ok(None));
        assert_eq!(bgp_localpref(&map(&[(BGP_LOCALPREF, "")])), Ok(None));
        for bad in ["4294967296", "-1", "+5", "high", "1e3"] {
            assert_eq!(
                bgp_localpref(&map(&[(BGP_LOCALPREF, bad)])),
                Err(BgpAnnotationError::InvalidLocalPref {
                    key: BGP_LOCALPREF,
                    value: bad.into()
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn pool_is_read_through_aliases_with_herald_key_first() {
        assert_eq!(
            address_pool(&map(&[("metallb.io/address-pool", "gold")])),
            Some("gold")
        );
        assert_eq!(
            address_pool(&map(&[("loadbalancer/pool", " silver ")])),
            Some("silver")
        );
        assert_eq!(
            address_pool(&map(&[
                ("metallb.universe.tf/address-pool", "old"),
                ("herald.dev/address-pool", "new"),
            ])),
            Some("new")
        );
        assert_eq!(address_pool(&map(&[("herald.dev/address-pool", "")])), None);
        assert_eq!(address_pool(&map(&[])), None);
    }

    #[test]
    fn lookup_reports_which_key_matched() {
        let a = map(&[("metallb.io/loadBalancerIPs", "10.0.0.1")]);
        assert_eq!(
            lookup(&a, LOAD_BALANCER_IPS, LOAD_BALANCER_IPS_ALIASES),
            Some(Found {
                key: "metallb.io/loadBalancerIPs",
                value: "10.0.0.1"
            })
        );
    }

    #[test]
    fn load_balancer_ips_allow_one_address_per_family() {
        let a = map(&[("herald.dev/load-balancer-ips", "10.0.0.1, 2001:db8::1")]);
        assert_eq!(
            load_balancer_ips(&a),
            Ok(vec![
                "10.0.0.1".parse().unwrap(),
                "2001:db8::1".parse().unwrap()
            ])
        );
        let twice = map(&[("metallb.universe.tf/loadBalancerIPs", "10.0.0.1,10.0.0.2")]);
        assert_eq!(
            load_balancer_ips(&twice),
            Err(AnnotationError::SameFamilyTwice {
                key: "metallb.universe.tf/loadBalancerIPs".into(),
                family: IpFamily::V4
            })
        );
        let bad = map(&[("herald.dev/load-balancer-ips", "10.0.0")]);
        assert!(matches!(
            load_balancer_ips(&bad),
            Err(AnnotationError::InvalidIp { .. })
        ));
        assert_eq!(load_balancer_ips(&map(&[])), Ok(vec![]));
    }

    #[test]
    fn proxy_is_wanted_by_the_pool_the_annotation_or_tls_and_refused_by_the_annotation() {
        assert!(proxy_wanted(true, None, None), "pool");
        assert!(proxy_wanted(false, Some(true), None), "herald.dev/proxy");
        assert!(proxy_wanted(false, None, Some(true)), "TLS needs the proxy");
        assert!(!proxy_wanted(false, None, Some(false)));
        assert!(!proxy_wanted(false, None, None));
        assert!(!proxy_wanted(true, Some(false), Some(true)), "refused wins");
        let tls = |pairs: &[(&str, &str)]| tls_switch(&map(pairs));
        assert_eq!(tls(&[("loadbalancer/ssl", "true")]), Some(true));
        assert_eq!(tls(&[("herald.dev/tls", "True")]), Some(true));
        assert_eq!(
            tls(&[("herald.dev/tls", "false"), ("loadbalancer/ssl", "true")]),
            Some(false),
            "Herald's key wins"
        );
        assert_eq!(tls(&[]), None);
        assert_eq!(
            tls_secret(&map(&[("herald.dev/tls-secret", "web-cert")])),
            Some("web-cert")
        );
    }

    #[test]
    fn switches_read_true_and_false_and_herald_key_wins_over_the_seed_alias() {
        assert_eq!(
            tls_switch(&map(&[("loadbalancer/ssl", " TRUE ")])),
            Some(true)
        );
        assert_eq!(
            tls_switch(&map(&[("herald.dev/tls", "false")])),
            Some(false)
        );
        assert_eq!(
            tls_switch(&map(&[
                ("loadbalancer/ssl", "true"),
                ("herald.dev/tls", "false")
            ])),
            Some(false)
        );
        assert_eq!(tls_switch(&map(&[("herald.dev/tls", "yes")])), None);
        assert_eq!(tls_switch(&map(&[])), None);
        assert_eq!(
            proxy_switch(&map(&[("herald.dev/proxy", "true")])),
            Some(true)
        );
        assert_eq!(
            proxy_switch(&map(&[("herald.dev/proxy", "False")])),
            Some(false)
        );
        assert_eq!(proxy_switch(&map(&[("herald.dev/tls", "true")])), None);
    }

    #[test]
    fn sharing_key_and_exclusion_label_and_class() {
        assert_eq!(
            allow_shared_ip(&map(&[("metallb.universe.tf/allow-shared-ip", "k")])),
            Some("k")
        );
        assert!(node_excluded(&map(&[(
            EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS,
            ""
        )])));
        assert!(!node_excluded(&map(&[("rack", "a")])));
        assert!(handles_class(None, LOAD_BALANCER_CLASS));
        assert!(handles_class(Some("herald.dev/lb"), LOAD_BALANCER_CLASS));
        assert!(!handles_class(Some("other.io/lb"), LOAD_BALANCER_CLASS));
    }
}
