//! In-process allocation for standalone mode, with the allocator of `herald-core` (the one
//! the controller uses).
//!
//! Deterministic, so every node reading the same directory computes the same addresses:
//! Services whose manifest has a `status.loadBalancer.ingress` (or, failing that, an address
//! recorded in `DIR/status/`) are restored first (oldest
//! `creationTimestamp` first, then by namespace/name; an address they may not keep is
//! replaced), then every other Service is assigned in namespace/name order.

use std::collections::BTreeMap;

use herald_config::Config;
use herald_core::ServiceKey;
use herald_core::allocator::{
    AllocationError, Allocator, Assignment, PoolError, pools_from_config,
};
use herald_core::service::{
    ServiceError, handles, partition_holders, service_key, service_request,
};
use k8s_openapi::api::core::v1::Service;

/// Why a Service got no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationFailure {
    /// Its spec or annotations do not form a request.
    #[error(transparent)]
    Request(#[from] ServiceError),
    /// The allocator could not give it one.
    #[error(transparent)]
    Allocator(#[from] AllocationError),
}

impl AllocationFailure {
    /// A short stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            AllocationFailure::Request(error) => error.label(),
            AllocationFailure::Allocator(error) => error.label(),
        }
    }
}

/// The allocation of every Service Herald handles under `lb_class`, by key.
pub(crate) fn allocate(
    config: &Config,
    services: &[Service],
    lb_class: &str,
) -> Result<BTreeMap<ServiceKey, Result<Assignment, AllocationFailure>>, PoolError> {
    let mut allocator = Allocator::new(pools_from_config(config))?;
    let (held, others) = partition_holders(services, lb_class);
    let rebuild = allocator.rebuild(&held, &others);

    let mut allocations: BTreeMap<ServiceKey, Result<Assignment, AllocationFailure>> = rebuild
        .assigned
        .into_iter()
        .map(|(key, result)| (key, result.map_err(AllocationFailure::from)))
        .collect();

    // Services left out of the rebuild: their request cannot be formed.
    for service in services.iter().filter(|s| handles(s, lb_class)) {
        let Ok(key) = service_key(service) else {
            continue;
        };
        if allocations.contains_key(&key) {
            continue;
        }
        if let Err(error) = service_request(service) {
            allocations.insert(key, Err(AllocationFailure::Request(error)));
        }
    }
    Ok(allocations)
}
