//! The pure IP allocator: which Service holds which load-balancer address.
//!
//! Stateless in the sense that matters: the truth is each Service's status, and the
//! allocator is rebuilt from it on start ([`Allocator::rebuild`]: holders first, so no
//! address is ever stolen, then everyone else). No I/O, no clock, no randomness: the same
//! calls in the same order give the same answers, which standalone mode relies on so every
//! node computes the same allocation.
//!
//! Order of choice for [`Allocator::assign`]:
//!
//! 1. the requested addresses (`spec.loadBalancerIP` or the annotation), which must lie in
//!    a pool, and in the requested pool when one is named too;
//! 2. the requested pool (annotation);
//! 3. the pool the Service already holds addresses from, keeping them when they still fit;
//! 4. the auto-assign pools, the pool named `default` first, then in config order.
//!
//! Within a pool the lowest free address is taken (or the lowest address already shared
//! under the Service's sharing key that it can join, if lower); one address per family,
//! both from the same pool. Sharing needs the same sharing key on every holder, no
//! overlapping `(protocol, port)`, and the same backend: all `Cluster`, or all `Local`
//! with the same selector.
//!
//! Cost: per pool and family the free addresses are a map of intervals, so allocation
//! and release are O(log n) and a /64 is one entry; holders are a hash map by address.

mod config;
mod error;
mod free;
mod holders;
mod pool;
mod restore;
mod types;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

pub use config::pools_from_config;
pub use error::AllocationError;
pub use pool::{AddressRange, AddressRangeError, PoolError, PoolSpec};
pub use restore::{Held, Orphan, OrphanReason, PoolChangeError, Rebuild, Refused, Restored};
pub use types::{Assignment, IpFamilyPolicy, ServiceRequest};

use crate::types::{IpFamily, ServiceKey, ServicePort};
use holders::Holders;
use pool::{PoolSet, from_u128, to_u128};
use types::{BackendKey, WantedFamilies};

/// Hands out addresses from pools to Services and remembers who holds what.
#[derive(Debug, Clone)]
pub struct Allocator {
    pools: PoolSet,
    /// Keys are shared with `holders`, so each is stored once.
    services: HashMap<Arc<ServiceKey>, Holding>,
    /// Holders of each held address, sorted by key.
    holders: HashMap<IpAddr, Holders>,
}

/// What one Service holds, with what it needs for sharing checks.
#[derive(Debug, Clone)]
struct Holding {
    pool: usize,
    /// Primary family first.
    addresses: Vec<IpAddr>,
    ports: Vec<ServicePort>,
    sharing_key: Option<String>,
    backend: BackendKey,
}

/// The sharing attributes of a Service that wants an address.
#[derive(Debug, Clone, Copy)]
struct Sharer<'a> {
    sharing_key: Option<&'a str>,
    backend: &'a BackendKey,
    ports: &'a [ServicePort],
}

/// Per family requested address, indexed by `IpFamily::index`.
type Requested = [Option<IpAddr>; 2];

/// What one pool can give a request, per wanted family.
#[derive(Debug)]
struct PoolPlan {
    primary: Result<IpAddr, AllocationError>,
    secondary: Option<Result<IpAddr, AllocationError>>,
}

impl PoolPlan {
    /// Every wanted family has an address.
    fn complete(&self) -> Option<Vec<IpAddr>> {
        let primary = *self.primary.as_ref().ok()?;
        match &self.secondary {
            None => Some(vec![primary]),
            Some(Ok(secondary)) => Some(vec![primary, *secondary]),
            Some(Err(_)) => None,
        }
    }

    /// The addresses the family policy accepts from this pool alone.
    fn resolve(self, wanted: WantedFamilies) -> Result<Vec<IpAddr>, AllocationError> {
        match (self.primary, self.secondary) {
            (Ok(primary), None) => Ok(vec![primary]),
            (Ok(primary), Some(Ok(secondary))) => Ok(vec![primary, secondary]),
            (Err(error), None) => Err(error),
            (Ok(_), Some(Err(error))) | (Err(error), Some(Ok(_))) if wanted.require_both => {
                Err(error)
            }
            (Ok(primary), Some(Err(_))) => Ok(vec![primary]),
            (Err(_), Some(Ok(secondary))) => Ok(vec![secondary]),
            (Err(primary), Some(Err(secondary))) => {
                if matches!(primary, AllocationError::FamilyNotInPool { .. }) {
                    Err(secondary)
                } else {
                    Err(primary)
                }
            }
        }
    }
}

impl Allocator {
    /// An allocator over `pools` holding nothing.
    pub fn new(pools: Vec<PoolSpec>) -> Result<Self, PoolError> {
        Ok(Self {
            pools: PoolSet::new(pools)?,
            services: HashMap::new(),
            holders: HashMap::new(),
        })
    }

    /// Gives `request` its addresses, or says why not.
    ///
    /// A Service that already holds addresses keeps them while the request still fits
    /// (so a re-run returns the same answer); if it no longer fits, it gets new ones. On
    /// error nothing changes: a Service keeps what it held ([`Allocator::assignment`]), and
    /// the caller decides whether to [`release`](Allocator::release) it.
    pub fn assign(&mut self, request: &ServiceRequest) -> Result<Assignment, AllocationError> {
        let wanted = request.wanted_families();
        let requested = requested_by_family(request, wanted)?;
        let backend = request.backend_key();
        let sharer = Sharer {
            sharing_key: request.sharing_key.as_deref(),
            backend: &backend,
            ports: &request.ports,
        };
        let (key, old) = match self.unregister(&request.key) {
            Some((key, old)) => (key, Some(old)),
            None => (Arc::new(request.key.clone()), None),
        };
        match self.plan(request, wanted, requested, sharer, old.as_ref()) {
            Ok((pool, addresses)) => {
                let holding = Holding {
                    pool,
                    addresses,
                    ports: request.ports.clone(),
                    sharing_key: request.sharing_key.clone(),
                    backend,
                };
                let assignment = self.assignment_of(&holding);
                self.register(key, holding);
                Ok(assignment)
            }
            Err(error) => {
                if let Some(old) = old {
                    self.register(key, old);
                }
                Err(error)
            }
        }
    }

    /// Forgets what `key` holds and returns it. A shared address becomes free only when its
    /// last holder is released.
    pub fn release(&mut self, key: &ServiceKey) -> Option<Assignment> {
        let (_, holding) = self.unregister(key)?;
        Some(self.assignment_of(&holding))
    }

    /// What `key` holds.
    pub fn assignment(&self, key: &ServiceKey) -> Option<Assignment> {
        self.services.get(key).map(|h| self.assignment_of(h))
    }

    /// Every Service that holds addresses, in no particular order.
    pub fn assignments(&self) -> impl Iterator<Item = (&ServiceKey, Assignment)> + '_ {
        self.services
            .iter()
            .map(|(key, holding)| (key.as_ref(), self.assignment_of(holding)))
    }

    /// Number of Services holding addresses.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// The Services holding `ip`, sorted by key; empty if it is free.
    pub fn holders(&self, ip: IpAddr) -> Vec<ServiceKey> {
        self.holders.get(&ip).map_or_else(Vec::new, |holders| {
            holders.as_slice().iter().map(|k| (**k).clone()).collect()
        })
    }

    /// The pool whose ranges contain `ip` (held or not, avoided or not).
    pub fn pool_of(&self, ip: IpAddr) -> Option<&str> {
        self.pools
            .pool_containing(ip)
            .map(|i| self.pools.pools[i].name())
    }

    /// The pools, in config order.
    pub fn pools(&self) -> impl Iterator<Item = &PoolSpec> + '_ {
        self.pools.pools.iter().map(|p| &p.spec)
    }

    /// Addresses in use and capacity per pool and family, for metrics. Families a pool has
    /// no addresses of are left out. Capacity saturates at `u128::MAX`.
    pub fn usage(&self) -> Vec<PoolUsage> {
        let mut out = Vec::new();
        for pool in &self.pools.pools {
            for family in [IpFamily::V4, IpFamily::V6] {
                let space = pool.space(family);
                if !space.is_empty() {
                    out.push(PoolUsage {
                        pool: pool.name().to_owned(),
                        family,
                        in_use: space.in_use,
                        capacity: space.capacity,
                    });
                }
            }
        }
        out
    }

    fn assignment_of(&self, holding: &Holding) -> Assignment {
        Assignment {
            pool: self.pools.pools[holding.pool].name().to_owned(),
            addresses: holding.addresses.clone(),
        }
    }

    /// Chooses the pool and addresses for a request; `old` is what the Service held (it is
    /// already unregistered, so its own addresses count as free to it).
    fn plan(
        &mut self,
        request: &ServiceRequest,
        wanted: WantedFamilies,
        requested: Requested,
        sharer: Sharer<'_>,
        old: Option<&Holding>,
    ) -> Result<(usize, Vec<IpAddr>), AllocationError> {
        if !request.requested_ips.is_empty() {
            let pool = self.pool_for_requested(request)?;
            let plan = self.plan_in_pool(pool, wanted, requested, sharer, old)?;
            return plan.resolve(wanted).map(|addresses| (pool, addresses));
        }
        if let Some(name) = &request.pool {
            let pool = self.pool_named(name)?;
            let plan = self.plan_in_pool(pool, wanted, requested, sharer, old)?;
            return plan.resolve(wanted).map(|addresses| (pool, addresses));
        }
        if let Some(old) = old {
            let plan = self.plan_in_pool(old.pool, wanted, requested, sharer, Some(old))?;
            if let Ok(addresses) = plan.resolve(wanted)
                && addresses.iter().any(|ip| old.addresses.contains(ip))
            {
                return Ok((old.pool, addresses));
            }
        }
        self.plan_auto(wanted, requested, sharer)
    }

    fn plan_auto(
        &mut self,
        wanted: WantedFamilies,
        requested: Requested,
        sharer: Sharer<'_>,
    ) -> Result<(usize, Vec<IpAddr>), AllocationError> {
        if self.pools.auto_order.is_empty() {
            return Err(AllocationError::NoAutoAssignPool);
        }
        let order = self.pools.auto_order.clone();
        let mut fallback: [Option<(usize, IpAddr)>; 2] = [None, None];
        let mut failures: Vec<(usize, AllocationError)> = Vec::new();
        for pool in order {
            let plan = self.plan_in_pool(pool, wanted, requested, sharer, None)?;
            if let Some(addresses) = plan.complete() {
                return Ok((pool, addresses));
            }
            if !wanted.require_both {
                if let (Ok(ip), None) = (&plan.primary, fallback[0]) {
                    fallback[0] = Some((pool, *ip));
                }
                if let (Some(Ok(ip)), None) = (&plan.secondary, fallback[1]) {
                    fallback[1] = Some((pool, *ip));
                }
            }
            if let Err(error) = plan.resolve(wanted) {
                failures.push((pool, error));
            }
        }
        if let Some((pool, ip)) = fallback[0].or(fallback[1]) {
            return Ok((pool, vec![ip]));
        }

        // Pools that have the families this request needs; the others cannot help.
        let serves = |pool: usize| {
            let has = |family: IpFamily| !self.pools.pools[pool].space(family).is_empty();
            match wanted.secondary {
                None => has(wanted.primary),
                Some(secondary) if wanted.require_both => has(wanted.primary) && has(secondary),
                Some(secondary) => has(wanted.primary) || has(secondary),
            }
        };
        let candidates: Vec<(usize, AllocationError)> = failures
            .into_iter()
            .filter(|(pool, _)| serves(*pool))
            .collect();
        match candidates.as_slice() {
            [] => Err(AllocationError::NoAutoAssignPoolForFamily {
                family: match wanted.secondary {
                    Some(secondary)
                        if wanted.require_both && self.auto_pools_have(wanted.primary) =>
                    {
                        secondary
                    }
                    _ => wanted.primary,
                },
            }),
            [(_, error)] => Err(error.clone()),
            [(_, first), ..] => Err(AllocationError::AutoAssignExhausted {
                pools: candidates
                    .iter()
                    .map(|(pool, _)| self.pools.pools[*pool].name().to_owned())
                    .collect(),
                family: match first {
                    AllocationError::PoolExhausted { family, .. } => *family,
                    _ => wanted.primary,
                },
            }),
        }
    }

    fn auto_pools_have(&self, family: IpFamily) -> bool {
        self.pools
            .auto_order
            .iter()
            .any(|&pool| !self.pools.pools[pool].space(family).is_empty())
    }

    /// What `pool` can give, per wanted family. A requested address that cannot be had is
    /// an error for the whole request; anything else is reported per family.
    fn plan_in_pool(
        &mut self,
        pool: usize,
        wanted: WantedFamilies,
        requested: Requested,
        sharer: Sharer<'_>,
        old: Option<&Holding>,
    ) -> Result<PoolPlan, AllocationError> {
        let mut pick =
            |family: IpFamily| -> Result<Result<IpAddr, AllocationError>, AllocationError> {
                if let Some(ip) = requested[family.index()] {
                    self.check_shareable(ip, sharer)?;
                    return Ok(Ok(ip));
                }
                let kept = old
                    .filter(|old| old.pool == pool)
                    .and_then(|old| old.addresses.iter().find(|ip| IpFamily::of(**ip) == family));
                if let Some(&ip) = kept
                    && self.check_shareable(ip, sharer).is_ok()
                {
                    return Ok(Ok(ip));
                }
                Ok(self.lowest_available(pool, family, sharer))
            };
        let primary = pick(wanted.primary)?;
        let secondary = match wanted.secondary {
            Some(family) => Some(pick(family)?),
            None => None,
        };
        Ok(PoolPlan { primary, secondary })
    }

    /// The lowest address of `pool` and `family` the sharer may take: a free one, or one
    /// already shared under its sharing key that it can join.
    fn lowest_available(
        &mut self,
        pool: usize,
        family: IpFamily,
        sharer: Sharer<'_>,
    ) -> Result<IpAddr, AllocationError> {
        let avoid = self.pools.pools[pool].spec.avoid_buggy_ips && family == IpFamily::V4;
        let space = self.pools.pools[pool].space_mut(family);
        if space.is_empty() {
            return Err(AllocationError::FamilyNotInPool {
                pool: self.pools.pools[pool].name().to_owned(),
                family,
            });
        }
        let free = space.free.lowest(avoid);
        let space = self.pools.pools[pool].space(family);
        let shared = sharer
            .sharing_key
            .and_then(|key| space.shared.get(key))
            .and_then(|addresses| {
                let below = match free {
                    Some(free) => addresses.range(..free),
                    None => addresses.range(..),
                };
                below.copied().find(|&value| {
                    self.check_shareable(from_u128(family, value), sharer)
                        .is_ok()
                })
            });
        match (free, shared) {
            (_, Some(value)) | (Some(value), None) => Ok(from_u128(family, value)),
            (None, None) => Err(AllocationError::PoolExhausted {
                pool: self.pools.pools[pool].name().to_owned(),
                family,
            }),
        }
    }

    /// Whether `sharer` may hold `ip` next to its current holders (always, if it has none).
    /// The caller has checked that `ip` lies in a pool and is not avoided.
    fn check_shareable(&self, ip: IpAddr, sharer: Sharer<'_>) -> Result<(), AllocationError> {
        let Some(holders) = self.holders.get(&ip) else {
            return Ok(());
        };
        for holder in holders.as_slice() {
            let holder = holder.as_ref();
            let Some(holding) = self.services.get(holder) else {
                continue;
            };
            match (sharer.sharing_key, holding.sharing_key.as_deref()) {
                (Some(ours), Some(theirs)) if ours == theirs => {}
                (Some(ours), Some(theirs)) => {
                    return Err(AllocationError::SharingKeyMismatch {
                        ip,
                        holder: holder.clone(),
                        ours: ours.to_owned(),
                        theirs: theirs.to_owned(),
                    });
                }
                _ => {
                    return Err(AllocationError::AddressInUse {
                        ip,
                        holder: holder.clone(),
                    });
                }
            }
            if *sharer.backend != holding.backend {
                return Err(AllocationError::BackendMismatch {
                    ip,
                    holder: holder.clone(),
                });
            }
            if let Some(port) = sharer.ports.iter().find(|p| holding.ports.contains(p)) {
                return Err(AllocationError::PortConflict {
                    ip,
                    holder: holder.clone(),
                    port: *port,
                });
            }
        }
        Ok(())
    }

    fn pool_named(&self, name: &str) -> Result<usize, AllocationError> {
        self.pools
            .by_name
            .get(name)
            .copied()
            .ok_or_else(|| AllocationError::UnknownPool {
                pool: name.to_owned(),
            })
    }

    /// The one pool all requested addresses lie in, which must be the requested pool if
    /// one is named.
    fn pool_for_requested(&self, request: &ServiceRequest) -> Result<usize, AllocationError> {
        let named = request
            .pool
            .as_deref()
            .map(|name| self.pool_named(name).map(|i| (i, name)))
            .transpose()?;
        let mut chosen: Option<(usize, IpAddr)> = None;
        for &ip in &request.requested_ips {
            let pool = self
                .pools
                .pool_containing(ip)
                .ok_or(AllocationError::NotInAnyPool { ip })?;
            if let Some((named, name)) = named
                && named != pool
            {
                return Err(AllocationError::NotInRequestedPool {
                    ip,
                    pool: name.to_owned(),
                });
            }
            if self.pools.pools[pool].avoids(ip) {
                return Err(AllocationError::AvoidedAddress {
                    ip,
                    pool: self.pools.pools[pool].name().to_owned(),
                });
            }
            if let Some((first_pool, first)) = chosen
                && first_pool != pool
            {
                return Err(AllocationError::DifferentPools {
                    first,
                    first_pool: self.pools.pools[first_pool].name().to_owned(),
                    second: ip,
                    second_pool: self.pools.pools[pool].name().to_owned(),
                });
            }
            chosen = Some((pool, ip));
        }
        chosen
            .map(|(pool, _)| pool)
            .ok_or(AllocationError::NoAutoAssignPool)
    }

    /// Records `holding` for `key`. The caller has checked that it may hold its addresses.
    fn register(&mut self, key: Arc<ServiceKey>, holding: Holding) {
        for &ip in &holding.addresses {
            match self.holders.get_mut(&ip) {
                Some(holders) => holders.insert(key.clone()),
                None => {
                    self.holders.insert(ip, Holders::One(key.clone()));
                    let value = to_u128(ip);
                    let space = self.pools.pools[holding.pool].space_mut(IpFamily::of(ip));
                    let was_free = space.free.take(value);
                    debug_assert!(was_free, "{ip} registered but not free");
                    space.in_use += 1;
                    if let Some(sharing_key) = &holding.sharing_key {
                        space
                            .shared
                            .entry(sharing_key.clone())
                            .or_default()
                            .insert(value);
                    }
                }
            }
        }
        self.services.insert(key, holding);
    }

    /// Forgets what `key` holds, freeing addresses it was the last holder of.
    fn unregister(&mut self, key: &ServiceKey) -> Option<(Arc<ServiceKey>, Holding)> {
        let (key, holding) = self.services.remove_entry(key)?;
        for &ip in &holding.addresses {
            let Some(holders) = self.holders.get_mut(&ip) else {
                continue;
            };
            if !holders.remove(&key) {
                continue;
            }
            self.holders.remove(&ip);
            let value = to_u128(ip);
            let space = self.pools.pools[holding.pool].space_mut(IpFamily::of(ip));
            space.free.give(value);
            space.in_use -= 1;
            if let Some(sharing_key) = &holding.sharing_key
                && let Some(set) = space.shared.get_mut(sharing_key)
            {
                set.remove(&value);
                if set.is_empty() {
                    space.shared.remove(sharing_key);
                }
            }
        }
        Some((key, holding))
    }
}

/// Addresses in use and capacity of one pool and family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUsage {
    pub pool: String,
    pub family: IpFamily,
    pub in_use: u128,
    pub capacity: u128,
}

/// The requested addresses by family, checked against the Service's families.
fn requested_by_family(
    request: &ServiceRequest,
    wanted: WantedFamilies,
) -> Result<Requested, AllocationError> {
    let mut requested: Requested = [None, None];
    for &ip in &request.requested_ips {
        let family = IpFamily::of(ip);
        match requested[family.index()] {
            Some(first) if first == ip => continue,
            Some(first) => return Err(AllocationError::SameFamilyTwice { first, second: ip }),
            None => {}
        }
        if !wanted.contains(family) {
            return Err(AllocationError::FamilyNotRequested { ip, family });
        }
        requested[family.index()] = Some(ip);
    }
    Ok(requested)
}
