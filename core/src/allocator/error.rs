//! Why an address could not be given, kept or restored. Each message reads as the reason of
//! an `AllocationFailed` Event.

use std::net::IpAddr;

use crate::types::{IpFamily, ServiceKey, ServicePort};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("address {ip} is not in any address pool")]
    NotInAnyPool { ip: IpAddr },

    #[error("requested address {ip} is not in the requested pool {pool}")]
    NotInRequestedPool { ip: IpAddr, pool: String },

    #[error("address {ip} ends in .0 or .255, which pool {pool} avoids (avoid-buggy-ips)")]
    AvoidedAddress { ip: IpAddr, pool: String },

    #[error(
        "requested addresses {first} (pool {first_pool}) and {second} (pool {second_pool}) \
         are in different pools; both must come from one pool"
    )]
    DifferentPools {
        first: IpAddr,
        first_pool: String,
        second: IpAddr,
        second_pool: String,
    },

    #[error("addresses {first} and {second} are of the same family; at most one per family")]
    SameFamilyTwice { first: IpAddr, second: IpAddr },

    #[error("requested address {ip} is {family}, which is not among the Service's ipFamilies")]
    FamilyNotRequested { ip: IpAddr, family: IpFamily },

    #[error("address pool {pool} does not exist")]
    UnknownPool { pool: String },

    #[error("no free {family} address left in pool {pool}")]
    PoolExhausted { pool: String, family: IpFamily },

    #[error("no free {family} address left in the auto-assign pools {}", pools.join(", "))]
    AutoAssignExhausted {
        pools: Vec<String>,
        family: IpFamily,
    },

    #[error("pool {pool} has no {family} addresses")]
    FamilyNotInPool { pool: String, family: IpFamily },

    #[error("no auto-assign pool has {family} addresses")]
    NoAutoAssignPoolForFamily { family: IpFamily },

    #[error("no pool is auto-assign; name a pool or request an address")]
    NoAutoAssignPool,

    #[error("address {ip} is in use by Service {holder} and the two do not both allow sharing")]
    AddressInUse { ip: IpAddr, holder: ServiceKey },

    #[error("address {ip} is shared by Service {holder} under key {theirs:?}, not {ours:?}")]
    SharingKeyMismatch {
        ip: IpAddr,
        holder: ServiceKey,
        ours: String,
        theirs: String,
    },

    #[error("port {port} on address {ip} is already used by Service {holder}")]
    PortConflict {
        ip: IpAddr,
        holder: ServiceKey,
        port: ServicePort,
    },

    #[error(
        "address {ip} is shared with Service {holder}, which has a different traffic policy \
         or, under Local policy, a different selector"
    )]
    BackendMismatch { ip: IpAddr, holder: ServiceKey },
}

impl AllocationError {
    /// A short stable label for metrics (`herald_allocation_failures_total{reason=...}`).
    pub fn label(&self) -> &'static str {
        match self {
            AllocationError::NotInAnyPool { .. } => "not_in_any_pool",
            AllocationError::NotInRequestedPool { .. } => "not_in_requested_pool",
            AllocationError::AvoidedAddress { .. } => "avoided_address",
            AllocationError::DifferentPools { .. } => "different_pools",
            AllocationError::SameFamilyTwice { .. } => "same_family_twice",
            AllocationError::FamilyNotRequested { .. } => "family_not_requested",
            AllocationError::UnknownPool { .. } => "unknown_pool",
            AllocationError::PoolExhausted { .. } => "pool_exhausted",
            AllocationError::AutoAssignExhausted { .. } => "auto_assign_exhausted",
            AllocationError::FamilyNotInPool { .. } => "family_not_in_pool",
            AllocationError::NoAutoAssignPoolForFamily { .. } => "no_auto_assign_pool_for_family",
            AllocationError::NoAutoAssignPool => "no_auto_assign_pool",
            AllocationError::AddressInUse { .. } => "address_in_use",
            AllocationError::SharingKeyMismatch { .. } => "sharing_key_mismatch",
            AllocationError::PortConflict { .. } => "port_conflict",
            AllocationError::BackendMismatch { .. } => "backend_mismatch",
        }
    }

    /// Whether the error is about another Service holding the address (it may clear up when
    /// that Service goes away), as opposed to the request or the config being wrong.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            AllocationError::AddressInUse { .. }
                | AllocationError::SharingKeyMismatch { .. }
                | AllocationError::PortConflict { .. }
                | AllocationError::BackendMismatch { .. }
        )
    }

    /// Whether a pool ran out (it may clear up when addresses are released or pools grow).
    pub fn is_exhaustion(&self) -> bool {
        matches!(
            self,
            AllocationError::PoolExhausted { .. } | AllocationError::AutoAssignExhausted { .. }
        )
    }
}
