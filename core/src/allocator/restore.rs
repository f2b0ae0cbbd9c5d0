//! Rebuilding from Service statuses, and changing pools without taking addresses away.

use std::net::IpAddr;

use super::pool::PoolSet;
use super::{
    AllocationError, Allocator, Assignment, Holding, PoolError, PoolSpec, ServiceKey,
    ServiceRequest, Sharer,
};
use crate::types::IpFamily;

/// A Service as found at start: its request and the addresses its status shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub request: ServiceRequest,
    pub addresses: Vec<IpAddr>,
}

/// What [`Allocator::restore`] made of one [`Held`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub key: ServiceKey,
    /// What the Service now holds; `None` if none of its addresses could be kept.
    pub kept: Option<Assignment>,
    /// Addresses of its status it may not keep, and why.
    pub refused: Vec<Refused>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub ip: IpAddr,
    pub reason: AllocationError,
}

/// What [`Allocator::rebuild`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuild {
    /// One per holder, in the order given.
    pub restored: Vec<Restored>,
    /// One per holder, then one per other Service, in the order given: the result of
    /// assigning each after every holder was restored.
    pub assigned: Vec<(ServiceKey, Result<Assignment, AllocationError>)>,
}

/// An address a Service holds that a new set of pools would take away.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Orphan {
    pub key: ServiceKey,
    pub ip: IpAddr,
    pub reason: OrphanReason,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum OrphanReason {
    #[error("no pool contains it")]
    NotInAnyPool,
    #[error("pool {pool} would avoid it (avoid-buggy-ips)")]
    Avoided { pool: String },
    #[error("the Service's other address would be in pool {other_pool}, this one in {pool}")]
    SplitAcrossPools { pool: String, other_pool: String },
}

impl std::fmt::Display for Orphan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Service {} holds {}, but {}",
            self.key, self.ip, self.reason
        )
    }
}

/// Why [`Allocator::set_pools`] refused new pools; the old ones stay in force.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolChangeError {
    #[error(transparent)]
    Invalid(#[from] PoolError),
    #[error(
        "the new pools would take {} address(es) away from Services that hold them, first: {}",
        orphans.len(),
        orphans.first().map(ToString::to_string).unwrap_or_default()
    )]
    WouldOrphan { orphans: Vec<Orphan> },
}

impl Allocator {
    /// Registers Services that already hold addresses, in the order given: an earlier holder
    /// wins, and an address is never taken from one that holds it. Each address is kept if
    /// it lies in a pool (not avoided), in the same pool as the Service's other kept address,
    /// and may be shared with the holders registered before; otherwise it is refused with
    /// the reason. Whether the addresses still match the request (pool annotation, requested
    /// IP, families) is left to [`Allocator::assign`], which keeps what fits.
    ///
    /// A Service already registered is replaced. Pass holders in a stable order (e.g. by
    /// creation time, then key) so every run decides conflicts the same way.
    pub fn restore(&mut self, held: &[Held]) -> Vec<Restored> {
        held.iter().map(|one| self.restore_one(one)).collect()
    }

    fn restore_one(&mut self, held: &Held) -> Restored {
        let request = &held.request;
        let key = match self.unregister(&request.key) {
            Some((key, _)) => key,
            None => std::sync::Arc::new(request.key.clone()),
        };
        let backend = request.backend_key();
        let sharer = Sharer {
            sharing_key: request.sharing_key.as_deref(),
            backend: &backend,
            ports: &request.ports,
        };
        let mut kept: Vec<IpAddr> = Vec::new();
        let mut pool_of_kept: Option<usize> = None;
        let mut refused = Vec::new();
        for &ip in &held.addresses {
            match self.restorable(ip, &kept, pool_of_kept, sharer) {
                Ok(pool) => {
                    kept.push(ip);
                    pool_of_kept = Some(pool);
                }
                Err(reason) => refused.push(Refused { ip, reason }),
            }
        }
        let primary = request.wanted_families().primary;
        kept.sort_by_key(|ip| IpFamily::of(*ip) != primary);
        let kept = pool_of_kept.map(|pool| {
            let holding = Holding {
                pool,
                addresses: kept,
                ports: request.ports.clone(),
                sharing_key: request.sharing_key.clone(),
                backend,
            };
            let assignment = self.assignment_of(&holding);
            self.register(key, holding);
            assignment
        });
        Restored {
            key: request.key.clone(),
            kept,
            refused,
        }
    }

    /// The pool of `ip` if a restoring Service may keep it next to `kept`.
    fn restorable(
        &self,
        ip: IpAddr,
        kept: &[IpAddr],
        pool_of_kept: Option<usize>,
        sharer: Sharer<'_>,
    ) -> Result<usize, AllocationError> {
        if let Some(&first) = kept.iter().find(|k| IpFamily::of(**k) == IpFamily::of(ip)) {
            return Err(AllocationError::SameFamilyTwice { first, second: ip });
        }
        let pool = self
            .pools
            .pool_containing(ip)
            .ok_or(AllocationError::NotInAnyPool { ip })?;
        if self.pools.pools[pool].avoids(ip) {
            return Err(AllocationError::AvoidedAddress {
                ip,
                pool: self.pools.pools[pool].name().to_owned(),
            });
        }
        if let (Some(first_pool), Some(&first)) = (pool_of_kept, kept.first())
            && first_pool != pool
        {
            return Err(AllocationError::DifferentPools {
                first,
                first_pool: self.pools.pools[first_pool].name().to_owned(),
                second: ip,
                second_pool: self.pools.pools[pool].name().to_owned(),
            });
        }
        self.check_shareable(ip, sharer)?;
        Ok(pool)
    }

    /// The start-up sequence: [`restore`](Allocator::restore) every holder, then
    /// [`assign`](Allocator::assign) every holder (which keeps what still fits and fills
    /// in what was refused or is missing) and then every other Service, in the order given.
    pub fn rebuild(&mut self, held: &[Held], others: &[ServiceRequest]) -> Rebuild {
        let restored = self.restore(held);
        let assigned = held
            .iter()
            .map(|h| &h.request)
            .chain(others)
            .map(|request| (request.key.clone(), self.assign(request)))
            .collect();
        Rebuild { restored, assigned }
    }

    /// The addresses that `pools` would take away from the Services holding them, sorted by
    /// Service and address. Empty means [`set_pools`](Allocator::set_pools) would succeed.
    pub fn would_orphan(&self, pools: &[PoolSpec]) -> Result<Vec<Orphan>, PoolError> {
        let new = PoolSet::new(pools.to_vec())?;
        Ok(self.orphans_under(&new))
    }

    fn orphans_under(&self, new: &PoolSet) -> Vec<Orphan> {
        let mut orphans = Vec::new();
        for (key, holding) in &self.services {
            let mut first_pool: Option<usize> = None;
            for &ip in &holding.addresses {
                let reason = match new.pool_containing(ip) {
                    None => Some(OrphanReason::NotInAnyPool),
                    Some(pool) if new.pools[pool].avoids(ip) => Some(OrphanReason::Avoided {
                        pool: new.pools[pool].name().to_owned(),
                    }),
                    Some(pool) => match first_pool {
                        Some(first) if first != pool => Some(OrphanReason::SplitAcrossPools {
                            pool: new.pools[pool].name().to_owned(),
                            other_pool: new.pools[first].name().to_owned(),
                        }),
                        _ => {
                            first_pool = Some(pool);
                            None
                        }
                    },
                };
                if let Some(reason) = reason {
                    orphans.push(Orphan {
                        key: key.as_ref().clone(),
                        ip,
                        reason,
                    });
                }
            }
        }
        orphans.sort();
        orphans
    }

    /// Replaces the pools, unless that would take an address from a Service that holds it
    /// (or the pools are invalid); then nothing changes. Every holder keeps its addresses,
    /// re-homed to whichever new pool contains them.
    pub fn set_pools(&mut self, pools: Vec<PoolSpec>) -> Result<(), PoolChangeError> {
        let new = PoolSet::new(pools)?;
        let orphans = self.orphans_under(&new);
        if !orphans.is_empty() {
            return Err(PoolChangeError::WouldOrphan { orphans });
        }
        let mut services: Vec<(std::sync::Arc<ServiceKey>, Holding)> =
            std::mem::take(&mut self.services).into_iter().collect();
        services.sort_by(|a, b| a.0.cmp(&b.0));
        self.holders.clear();
        self.pools = new;
        for (key, mut holding) in services {
            if let Some(pool) = holding
                .addresses
                .first()
                .and_then(|ip| self.pools.pool_containing(*ip))
            {
                holding.pool = pool;
                self.register(key, holding);
            }
        }
        Ok(())
    }
}
