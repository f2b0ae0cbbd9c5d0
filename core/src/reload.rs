//! Config reload decision, pure: given the config in force, the ConfigMap's new contents and
//! the addresses Services hold, apply the new config or keep the old one and say why.
//!
//! A config that fails validation, or whose pools would take an address away from a Service
//! that holds it, never takes effect: the last good config stays, the ConfigMap gets a
//! Warning Event (`InvalidConfig` / `ConfigWouldOrphan`) and `herald_config_stale` is 1.

use std::collections::BTreeMap;
use std::sync::Arc;

use herald_config::{Config, ConfigErrors};

use crate::allocator::{
    AllocationError, Allocator, Held, Orphan, OrphanReason, PoolError, pools_from_config,
};

/// What to do with a ConfigMap's contents.
#[derive(Debug, Clone, PartialEq)]
pub enum ReloadDecision {
    /// Use this config from now on.
    Apply(Arc<Config>),
    /// Same as the config in force: nothing to do.
    Unchanged,
    /// Keep the config in force (if any).
    Reject(Rejection),
}

/// Why a config was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("ConfigMap has no key \"{key}\" in its data")]
    MissingKey { key: String },
    #[error("config is invalid:\n{0}")]
    Invalid(ConfigErrors),
    #[error("config pools are invalid: {0}")]
    Pools(PoolError),
    #[error(
        "config would take {} address(es) away from Services that hold them:\n{}",
        .0.len(),
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    )]
    WouldOrphan(Vec<Orphan>),
}

impl Rejection {
    /// The Event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::MissingKey { .. } | Rejection::Invalid(_) | Rejection::Pools(_) => {
                "InvalidConfig"
            }
            Rejection::WouldOrphan(_) => "ConfigWouldOrphan",
        }
    }
}

/// The config text from a ConfigMap's `data`.
pub fn config_text<'a>(
    data: Option<&'a BTreeMap<String, String>>,
    key: &str,
) -> Result<&'a str, Rejection> {
    data.and_then(|d| d.get(key))
        .map(String::as_str)
        .ok_or_else(|| Rejection::MissingKey {
            key: key.to_owned(),
        })
}

/// Decides about `text` (the ConfigMap's `config` payload). `current` is the config in
/// force, `held` the addresses Services' statuses show (as [`crate::service::partition_holders`]
/// gives them, oldest first).
///
/// The orphan check replays the holders onto the current pools and asks the allocator what
/// the new pools would take away ([`Allocator::would_orphan`]). With no config in force yet
/// (start-up), every holder is replayed onto the new pools directly and any address they
/// cannot contain counts.
pub fn decide(
    current: Option<&Config>,
    text: Result<&str, Rejection>,
    held: &[Held],
) -> ReloadDecision {
    let text = match text {
        Ok(text) => text,
        Err(rejection) => return ReloadDecision::Reject(rejection),
    };
    let candidate = match Config::from_yaml(text) {
        Ok(config) => config,
        Err(errors) => return ReloadDecision::Reject(Rejection::Invalid(errors)),
    };
    if current == Some(&candidate) {
        return ReloadDecision::Unchanged;
    }
    let new_pools = pools_from_config(&candidate);
    if let Err(error) = Allocator::new(new_pools.clone()) {
        return ReloadDecision::Reject(Rejection::Pools(error));
    }
    let orphans = match current {
        Some(current) => {
            let Ok(mut replay) = Allocator::new(pools_from_config(current)) else {
                // The config in force was accepted, so its pools are valid; if they somehow
                // are not, judge the new config on its own.
                return judge_alone(candidate, new_pools, held);
            };
            replay.restore(held);
            match replay.would_orphan(&new_pools) {
                Ok(orphans) => orphans,
                Err(error) => return ReloadDecision::Reject(Rejection::Pools(error)),
            }
        }
        None => return judge_alone(candidate, new_pools, held),
    };
    if orphans.is_empty() {
        ReloadDecision::Apply(Arc::new(candidate))
    } else {
        ReloadDecision::Reject(Rejection::WouldOrphan(orphans))
    }
}

/// The start-up check: holders replayed onto the new pools; addresses no pool contains (or
/// that a pool avoids, or that split a Service across pools) are orphans. Conflicts between
/// holders are not the config's doing and are left to the reconciler.
fn judge_alone(
    candidate: Config,
    new_pools: Vec<crate::allocator::PoolSpec>,
    held: &[Held],
) -> ReloadDecision {
    let mut replay = match Allocator::new(new_pools) {
        Ok(allocator) => allocator,
        Err(error) => return ReloadDecision::Reject(Rejection::Pools(error)),
    };
    let mut orphans: Vec<Orphan> = Vec::new();
    for restored in replay.restore(held) {
        for refused in restored.refused {
            let reason = match refused.reason {
                AllocationError::NotInAnyPool { .. } => OrphanReason::NotInAnyPool,
                AllocationError::AvoidedAddress { pool, .. } => OrphanReason::Avoided { pool },
                AllocationError::DifferentPools {
                    first_pool,
                    second_pool,
                    ..
                } => OrphanReason::SplitAcrossPools {
                    pool: second_pool,
                    other_pool: first_pool,
                },
                _ => continue,
            };
            orphans.push(Orphan {
                key: restored.key.clone(),
                ip: refused.ip,
                reason,
            });
        }
    }
    orphans.sort();
    if orphans.is_empty() {
        ReloadDecision::Apply(Arc::new(candidate))
    } else {
        ReloadDecision::Reject(Rejection::WouldOrphan(orphans))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::ServiceRequest;
    use crate::types::ServiceKey;
    use std::net::IpAddr;

    const POOL_A: &str = "address-pools:\n- {name: a, protocol: bgp, addresses: [10.0.0.0/29]}\n";
    const POOL_A_WIDER: &str =
        "address-pools:\n- {name: a, protocol: bgp, addresses: [10.0.0.0/28]}\n";
    const POOL_B: &str = "address-pools:\n- {name: b, protocol: bgp, addresses: [10.1.0.0/29]}\n";

    fn config(text: &str) -> Config {
        Config::from_yaml(text).expect("valid config")
    }

    fn held(name: &str, ip: &str) -> Held {
        Held {
            request: ServiceRequest::new(ServiceKey::new("ns", name)),
            addresses: vec![ip.parse::<IpAddr>().expect("ip")],
        }
    }

    #[test]
    fn first_good_config_is_applied() {
        let decision = decide(None, Ok(POOL_A), &[]);
        assert_eq!(decision, ReloadDecision::Apply(Arc::new(config(POOL_A))));
    }

    #[test]
    fn invalid_config_is_rejected_with_every_error() {
        let text =
            "address-pools:\n- {name: a, protocol: carrier-pigeon, addresses: [nope]}\nextra: 1\n";
        let ReloadDecision::Reject(rejection) = decide(Some(&config(POOL_A)), Ok(text), &[]) else {
            panic!("rejected");
        };
        assert_eq!(rejection.reason(), "InvalidConfig");
        let Rejection::Invalid(errors) = &rejection else {
            panic!("invalid: {rejection:?}");
        };
        assert!(errors.len() >= 3, "all errors at once: {errors}");
    }

    #[test]
    fn missing_key_is_an_invalid_config() {
        let data = BTreeMap::from([("other".to_string(), POOL_A.to_string())]);
        let decision = decide(None, config_text(Some(&data), "config"), &[]);
        let ReloadDecision::Reject(rejection) = decision else {
            panic!("rejected");
        };
        assert_eq!(rejection.reason(), "InvalidConfig");
        assert_eq!(config_text(Some(&data), "other"), Ok(POOL_A));
    }

    #[test]
    fn same_config_again_is_unchanged() {
        assert_eq!(
            decide(Some(&config(POOL_A)), Ok(POOL_A), &[]),
            ReloadDecision::Unchanged
        );
    }

    #[test]
    fn growing_a_pool_under_holders_is_fine() {
        let decision = decide(
            Some(&config(POOL_A)),
            Ok(POOL_A_WIDER),
            &[held("web", "10.0.0.1")],
        );
        assert!(matches!(decision, ReloadDecision::Apply(_)));
    }

    #[test]
    fn config_that_would_orphan_a_held_address_is_refused() {
        let decision = decide(
            Some(&config(POOL_A)),
            Ok(POOL_B),
            &[held("web", "10.0.0.1")],
        );
        let ReloadDecision::Reject(rejection) = decision else {
            panic!("refused");
        };
        assert_eq!(rejection.reason(), "ConfigWouldOrphan");
        let Rejection::WouldOrphan(orphans) = &rejection else {
            panic!("orphans");
        };
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].key, ServiceKey::new("ns", "web"));
        assert!(rejection.to_string().contains("ns/web holds 10.0.0.1"));
    }

    #[test]
    fn replacing_pools_nobody_uses_is_fine() {
        assert!(matches!(
            decide(Some(&config(POOL_A)), Ok(POOL_B), &[]),
            ReloadDecision::Apply(_)
        ));
    }

    #[test]
    fn first_config_must_contain_the_addresses_already_held() {
        let decision = decide(None, Ok(POOL_B), &[held("web", "10.0.0.1")]);
        assert!(matches!(
            decision,
            ReloadDecision::Reject(Rejection::WouldOrphan(_))
        ));
        assert!(matches!(
            decide(None, Ok(POOL_A), &[held("web", "10.0.0.1")]),
            ReloadDecision::Apply(_)
        ));
    }

    #[test]
    fn holders_in_conflict_are_not_the_configs_fault() {
        let both = [held("one", "10.0.0.1"), held("two", "10.0.0.1")];
        assert!(matches!(
            decide(None, Ok(POOL_A), &both),
            ReloadDecision::Apply(_)
        ));
    }
}
