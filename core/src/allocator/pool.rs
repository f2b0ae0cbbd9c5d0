//! Pools as the allocator sees them: named sets of address ranges, validated and indexed.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

use super::free::FreeSet;
use crate::types::IpFamily;

/// An inclusive range of addresses of one family, `first <= last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressRange {
    first: IpAddr,
    last: IpAddr,
}

/// Why an address range could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressRangeError {
    #[error("range {first}-{last} mixes IPv4 and IPv6")]
    MixedFamilies { first: IpAddr, last: IpAddr },
    #[error("range {first}-{last} ends before it starts")]
    Reversed { first: IpAddr, last: IpAddr },
    #[error("{text:?} is not an address, a CIDR prefix or a first-last range")]
    Unparsable { text: String },
}

impl AddressRange {
    pub fn new(first: IpAddr, last: IpAddr) -> Result<Self, AddressRangeError> {
        if IpFamily::of(first) != IpFamily::of(last) {
            return Err(AddressRangeError::MixedFamilies { first, last });
        }
        if to_u128(first) > to_u128(last) {
            return Err(AddressRangeError::Reversed { first, last });
        }
        Ok(Self { first, last })
    }

    /// A range from ends the caller knows are of one family and in order.
    pub(crate) fn from_bounds(first: IpAddr, last: IpAddr) -> Self {
        debug_assert!(Self::new(first, last).is_ok(), "{first}-{last}");
        Self { first, last }
    }

    /// A range of one address.
    pub fn single(ip: IpAddr) -> Self {
        Self {
            first: ip,
            last: ip,
        }
    }

    pub fn first(&self) -> IpAddr {
        self.first
    }

    pub fn last(&self) -> IpAddr {
        self.last
    }

    pub fn family(&self) -> IpFamily {
        IpFamily::of(self.first)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        IpFamily::of(ip) == self.family()
            && (to_u128(self.first)..=to_u128(self.last)).contains(&to_u128(ip))
    }

    pub(crate) fn bounds(&self) -> (u128, u128) {
        (to_u128(self.first), to_u128(self.last))
    }
}

/// Every address of the prefix, network and broadcast addresses included (as MetalLB does).
impl From<IpNet> for AddressRange {
    fn from(net: IpNet) -> Self {
        Self {
            first: net.network(),
            last: net.broadcast(),
        }
    }
}

/// Accepts `192.168.1.0/24`, `10.0.0.10-10.0.0.20` (spaces around `-` allowed) and a bare
/// address.
impl FromStr for AddressRange {
    type Err = AddressRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unparsable = || AddressRangeError::Unparsable {
            text: text.to_owned(),
        };
        let trimmed = text.trim();
        if let Some((first, last)) = trimmed.split_once('-') {
            let first: IpAddr = first.trim().parse().map_err(|_| unparsable())?;
            let last: IpAddr = last.trim().parse().map_err(|_| unparsable())?;
            return Self::new(first, last);
        }
        if trimmed.contains('/') {
            let net: IpNet = trimmed.parse().map_err(|_| unparsable())?;
            return Ok(net.into());
        }
        let ip: IpAddr = trimmed.parse().map_err(|_| unparsable())?;
        Ok(Self::single(ip))
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// One pool as the allocator needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    pub name: String,
    pub addresses: Vec<AddressRange>,
    /// Whether Services that name no pool and request no address may get one from here.
    pub auto_assign: bool,
    /// Never hand out IPv4 addresses ending in `.0` or `.255`.
    pub avoid_buggy_ips: bool,
}

impl PoolSpec {
    /// An auto-assign pool that does not avoid `.0` and `.255`.
    pub fn new(name: impl Into<String>, addresses: impl IntoIterator<Item = AddressRange>) -> Self {
        Self {
            name: name.into(),
            addresses: addresses.into_iter().collect(),
            auto_assign: true,
            avoid_buggy_ips: false,
        }
    }

    pub fn with_auto_assign(mut self, auto_assign: bool) -> Self {
        self.auto_assign = auto_assign;
        self
    }

    pub fn with_avoid_buggy_ips(mut self, avoid: bool) -> Self {
        self.avoid_buggy_ips = avoid;
        self
    }
}

/// Why a set of pools cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("a pool has an empty name")]
    EmptyName,
    #[error("pool {pool} is defined twice")]
    DuplicateName { pool: String },
    #[error("range {range} of pool {pool} overlaps range {other_range} of pool {other_pool}")]
    Overlap {
        pool: String,
        range: AddressRange,
        other_pool: String,
        other_range: AddressRange,
    },
}

/// An IPv4 address ending in `.0` or `.255`, which some CPE firmware drops as a smurf
/// attack. IPv6 addresses are never buggy.
pub(crate) fn is_buggy(family: IpFamily, addr: u128) -> bool {
    family == IpFamily::V4 && matches!(addr % 256, 0 | 255)
}

pub(crate) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address `value` of `family`; IPv4 values above `u32::MAX` wrap (never built here).
pub(crate) fn from_u128(family: IpFamily, value: u128) -> IpAddr {
    match family {
        IpFamily::V4 => IpAddr::V4(Ipv4Addr::from(value as u32)),
        IpFamily::V6 => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

/// One family of one pool: its ranges, what is free, and which held addresses carry which
/// sharing key.
#[derive(Debug, Clone)]
pub(crate) struct FamilySpace {
    pub ranges: Vec<(u128, u128)>,
    pub free: FreeSet,
    /// Held addresses by the sharing key their holders carry.
    pub shared: HashMap<String, BTreeSet<u128>>,
    pub in_use: u128,
    pub capacity: u128,
}

impl FamilySpace {
    fn new(family: IpFamily, mut ranges: Vec<(u128, u128)>, avoid_buggy: bool) -> Self {
        ranges.sort_unstable();
        let capacity = ranges
            .iter()
            .map(|&(s, e)| {
                let size = (e - s).saturating_add(1);
                if avoid_buggy && family == IpFamily::V4 {
                    size - count_residue(s, e, 0) - count_residue(s, e, 255)
                } else {
                    size
                }
            })
            .fold(0u128, u128::saturating_add);
        Self {
            free: FreeSet::from_ranges(&ranges),
            ranges,
            shared: HashMap::new(),
            in_use: 0,
            capacity,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// How many `x` in `start..=end` have `x % 256 == residue`.
fn count_residue(start: u128, end: u128, residue: u128) -> u128 {
    let up_to = |n: u128| {
        if n < residue {
            0
        } else {
            (n - residue) / 256 + 1
        }
    };
    up_to(end) - if start == 0 { 0 } else { up_to(start - 1) }
}

#[derive(Debug, Clone)]
pub(crate) struct Pool {
    pub spec: PoolSpec,
    /// Indexed by `IpFamily::index`.
    pub families: [FamilySpace; 2],
}

impl Pool {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn space(&self, family: IpFamily) -> &FamilySpace {
        &self.families[family.index()]
    }

    pub fn space_mut(&mut self, family: IpFamily) -> &mut FamilySpace {
        &mut self.families[family.index()]
    }

    /// Whether `ip` of this pool may never be handed out (avoid-buggy-ips).
    pub fn avoids(&self, ip: IpAddr) -> bool {
        self.spec.avoid_buggy_ips && is_buggy(IpFamily::of(ip), to_u128(ip))
    }
}

/// Validated pools with an address -> pool index.
#[derive(Debug, Clone)]
pub(crate) struct PoolSet {
    pub pools: Vec<Pool>,
    pub by_name: HashMap<String, usize>,
    /// Auto-assign pools in the order they are tried: `default` first, then config order.
    pub auto_order: Vec<usize>,
    /// Per family: `(start, end, pool index)` sorted by start, disjoint.
    index: [Vec<(u128, u128, usize)>; 2],
}

impl PoolSet {
    pub fn new(specs: Vec<PoolSpec>) -> Result<Self, PoolError> {
        let mut by_name = HashMap::new();
        for (i, spec) in specs.iter().enumerate() {
            if spec.name.is_empty() {
                return Err(PoolError::EmptyName);
            }
            if by_name.insert(spec.name.clone(), i).is_some() {
                return Err(PoolError::DuplicateName {
                    pool: spec.name.clone(),
                });
            }
        }

        let mut index: [Vec<(u128, u128, usize)>; 2] = [Vec::new(), Vec::new()];
        let mut owners: [Vec<(u128, u128, usize, AddressRange)>; 2] = [Vec::new(), Vec::new()];
        for (i, spec) in specs.iter().enumerate() {
            for range in &spec.addresses {
                let (s, e) = range.bounds();
                owners[range.family().index()].push((s, e, i, *range));
            }
        }
        for (family_index, ranges) in owners.iter_mut().enumerate() {
            ranges.sort_unstable_by_key(|&(s, e, i, _)| (s, e, i));
            for pair in ranges.windows(2) {
                let (_, prev_end, prev_pool, prev_range) = pair[0];
                let (start, _, pool, range) = pair[1];
                if start <= prev_end {
                    return Err(PoolError::Overlap {
                        pool: specs[pool].name.clone(),
                        range,
                        other_pool: specs[prev_pool].name.clone(),
                        other_range: prev_range,
                    });
                }
            }
            index[family_index] = ranges.iter().map(|&(s, e, i, _)| (s, e, i)).collect();
        }

        let pools = specs
            .into_iter()
            .enumerate()
            .map(|(i, spec)| {
                let families = [IpFamily::V4, IpFamily::V6].map(|family| {
                    let ranges = index[family.index()]
                        .iter()
                        .filter(|&&(_, _, pool)| pool == i)
                        .map(|&(s, e, _)| (s, e))
                        .collect();
                    FamilySpace::new(family, ranges, spec.avoid_buggy_ips)
                });
                Pool { spec, families }
            })
            .collect::<Vec<_>>();

        let mut auto_order: Vec<usize> = pools
            .iter()
            .enumerate()
            .filter(|(_, p)| p.spec.auto_assign)
            .map(|(i, _)| i)
            .collect();
        // A stable sort keeps config order among the others.
        auto_order.sort_by_key(|&i| pools[i].name() != "default");

        Ok(Self {
            pools,
            by_name,
            auto_order,
            index,
        })
    }

    /// The pool whose ranges contain `ip`, avoided addresses included.
    pub fn pool_containing(&self, ip: IpAddr) -> Option<usize> {
        let ranges = &self.index[IpFamily::of(ip).index()];
        let value = to_u128(ip);
        let after = ranges.partition_point(|&(start, _, _)| start <= value);
        let &(_, end, pool) = ranges.get(after.checked_sub(1)?)?;
        (value <= end).then_some(pool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> AddressRange {
        text.parse().unwrap()
    }

    #[test]
    fn cidr_covers_network_and_broadcast() {
        let r = range("192.168.1.0/24");
        assert_eq!(r.first(), "192.168.1.0".parse::<IpAddr>().unwrap());
        assert_eq!(r.last(), "192.168.1.255".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn dash_range_parses_with_spaces() {
        let r = range("10.0.0.10 - 10.0.0.20");
        assert_eq!(r.to_string(), "10.0.0.10-10.0.0.20");
    }

    #[test]
    fn reversed_and_mixed_ranges_are_refused() {
        assert!(matches!(
            "10.0.0.20-10.0.0.10".parse::<AddressRange>(),
            Err(AddressRangeError::Reversed { .. })
        ));
        assert!(matches!(
            "10.0.0.1-::1".parse::<AddressRange>(),
            Err(AddressRangeError::MixedFamilies { .. })
        ));
        assert!(matches!(
            "ten".parse::<AddressRange>(),
            Err(AddressRangeError::Unparsable { .. })
        ));
    }

    #[test]
    fn overlapping_pools_are_refused() {
        let err = PoolSet::new(vec![
            PoolSpec::new("a", [range("10.0.0.0/24")]),
            PoolSpec::new("b", [range("10.0.0.128-10.0.1.5")]),
        ])
        .unwrap_err();
        assert!(matches!(err, PoolError::Overlap { .. }), "{err}");
    }

    #[test]
    fn duplicate_pool_names_are_refused() {
        let err = PoolSet::new(vec![
            PoolSpec::new("a", [range("10.0.0.0/24")]),
            PoolSpec::new("a", [range("10.0.1.0/24")]),
        ])
        .unwrap_err();
        assert_eq!(err, PoolError::DuplicateName { pool: "a".into() });
    }

    #[test]
    fn default_pool_comes_first_in_auto_order() {
        let set = PoolSet::new(vec![
            PoolSpec::new("a", [range("10.0.0.0/24")]),
            PoolSpec::new("manual", [range("10.0.2.0/24")]).with_auto_assign(false),
            PoolSpec::new("b", [range("10.0.3.0/24")]),
            PoolSpec::new("default", [range("10.0.1.0/24")]),
        ])
        .unwrap();
        assert_eq!(set.auto_order, vec![3, 0, 2]);
    }

    #[test]
    fn capacity_leaves_out_avoided_addresses() {
        let set = PoolSet::new(vec![
            PoolSpec::new("a", [range("10.0.0.0/23"), range("10.1.0.1-10.1.0.3")])
                .with_avoid_buggy_ips(true),
            PoolSpec::new("b", [range("2001:db8::/64")]),
        ])
        .unwrap();
        assert_eq!(set.pools[0].space(IpFamily::V4).capacity, 512 - 4 + 3);
        assert_eq!(set.pools[1].space(IpFamily::V6).capacity, 1 << 64);
    }

    #[test]
    fn address_lookup_finds_the_owning_pool() {
        let set = PoolSet::new(vec![
            PoolSpec::new("a", [range("10.0.0.0/24")]),
            PoolSpec::new("b", [range("10.0.2.0/24"), range("2001:db8::/120")]),
        ])
        .unwrap();
        let lookup = |s: &str| set.pool_containing(s.parse().unwrap());
        assert_eq!(lookup("10.0.0.255"), Some(0));
        assert_eq!(lookup("10.0.1.0"), None);
        assert_eq!(lookup("10.0.2.0"), Some(1));
        assert_eq!(lookup("2001:db8::ff"), Some(1));
        assert_eq!(lookup("2001:db8::100"), None);
        assert_eq!(lookup("9.255.255.255"), None);
    }
}
