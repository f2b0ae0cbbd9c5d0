//! The pure L2 plan: which VRRP instances this node runs, with which settings and
//! addresses, and what stops an address from being held. See the module documentation
//! of [`crate::l2`] for why the mapping is what it is.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use herald_config::{IpFamily, Pool, Protocol, VridRange, Vrrp};
use herald_core::{ServiceKey, TrafficPolicy};
use ipnet::IpNet;
use vrrp::Centiseconds;

use crate::announce::{Reason, node_state};
use crate::host::HostInterfaces;
use crate::view::{ClusterView, ServiceView};

/// The most addresses one advert carries (RFC 5798 section 5.2.5: an 8-bit count).
pub const MAX_ADDRESSES: usize = 255;

/// Which virtual router: VRIDs are per family and per segment (interface).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceKey {
    pub interface: String,
    pub family: IpFamily,
    pub vrid: u8,
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} VRID {}",
            self.interface,
            family_label(self.family),
            self.vrid
        )
    }
}

/// One VRRP instance this node should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePlan {
    pub interface: String,
    pub family: IpFamily,
    pub vrid: u8,
    /// 1-254 ([`priority`]).
    pub priority: u8,
    pub advert_interval: Centiseconds,
    /// Where adverts go instead of the multicast group (this family's peers of the pool,
    /// the node's own addresses left out); empty: multicast.
    pub unicast_peers: Vec<IpAddr>,
    /// The Service addresses of this VRID, sorted, at most [`MAX_ADDRESSES`].
    pub addresses: Vec<IpAddr>,
}

impl InstancePlan {
    pub fn key(&self) -> InstanceKey {
        InstanceKey {
            interface: self.interface.clone(),
            family: self.family,
            vrid: self.vrid,
        }
    }
}

/// Something that keeps addresses from being held as they should be.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum L2Problem {
    /// No interface for the address: the pool's `interface` does not exist on this node
    /// (`interface: Some`), or no interface's subnet holds the address (`None`).
    InterfaceNotFound {
        pool: String,
        service: ServiceKey,
        address: IpAddr,
        interface: Option<String>,
    },
    /// `Local` Services whose serving endpoints share no node are in one VRID: no node is
    /// eligible to hold it.
    NoCommonNode {
        family: IpFamily,
        vrid: u8,
        services: Vec<ServiceKey>,
    },
    /// More addresses map to one VRID than an advert carries; the lowest are held.
    TooManyAddresses {
        key: InstanceKey,
        count: usize,
        left_out: Vec<IpAddr>,
    },
    /// Pools whose VRID ranges overlap on one interface give one VRID different advert
    /// settings; the first pool's (config order) are used.
    SettingsConflict {
        key: InstanceKey,
        pools: Vec<String>,
    },
}

impl L2Problem {
    /// Every label, for metrics.
    pub const LABELS: [&'static str; 4] = [
        "interface_not_found",
        "no_common_node",
        "too_many_addresses",
        "settings_conflict",
    ];

    /// A short stable label for metrics and `/status`.
    pub fn label(&self) -> &'static str {
        match self {
            L2Problem::InterfaceNotFound { .. } => "interface_not_found",
            L2Problem::NoCommonNode { .. } => "no_common_node",
            L2Problem::TooManyAddresses { .. } => "too_many_addresses",
            L2Problem::SettingsConflict { .. } => "settings_conflict",
        }
    }
}

impl fmt::Display for L2Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            L2Problem::InterfaceNotFound {
                pool,
                service,
                address,
                interface: Some(interface),
            } => write!(
                f,
                "{service} {address}: pool {pool}'s interface {interface} does not exist on this node; the address is not held from here"
            ),
            L2Problem::InterfaceNotFound {
                pool,
                service,
                address,
                interface: None,
            } => write!(
                f,
                "{service} {address}: no interface of this node has a subnet holding the address (pool {pool}); set the pool's interface; the address is not held from here"
            ),
            L2Problem::NoCommonNode {
                family,
                vrid,
                services,
            } => {
                let services: Vec<String> = services.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "{} VRID {vrid} holds Local Services whose endpoints share no node ({}): no node may hold it; widen the pool's vrrp.vrids so they get VRIDs of their own",
                    family_label(*family),
                    services.join(", ")
                )
            }
            L2Problem::TooManyAddresses {
                key,
                count,
                left_out,
            } => write!(
                f,
                "{key}: {count} addresses, an advert carries {MAX_ADDRESSES}; {} not held; widen the pool's vrrp.vrids",
                left_out.len()
            ),
            L2Problem::SettingsConflict { key, pools } => write!(
                f,
                "{key}: pools {} share the VRID with different vrrp settings; {}'s are used",
                pools.join(", "),
                pools.first().map_or("the first", String::as_str)
            ),
        }
    }
}

/// What this node should do in L2 mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct L2Plan {
    /// The instances to run, by key order.
    pub instances: Vec<InstancePlan>,
    pub problems: Vec<L2Problem>,
    /// Why the node holds nothing at all (unknown, excluded, network unavailable).
    pub node_reason: Option<Reason>,
    /// Every interface an address of a pool held with VRRP may go on (the pools'
    /// `interface`s that exist, and the NICs with a subnet overlapping a pool): where a
    /// previous run's leftovers are looked for, whether or not an instance runs there.
    pub interfaces: BTreeSet<String>,
}

/// The pools this node holds with VRRP: `layer2` pools, and `bgp` pools when no peer
/// selects the node (no BGP session would announce them from here).
pub fn held_with_vrrp(pool: &Pool, peerless: bool) -> bool {
    match pool.protocol {
        Protocol::Layer2 => true,
        Protocol::Bgp => peerless,
    }
}

/// The address's offset among the pool's addresses of its family, counted across the
/// pool's blocks in config order; `None` when the pool does not hold it.
pub fn family_offset(pool: &Pool, address: IpAddr) -> Option<u128> {
    let mut before: u128 = 0;
    for block in pool.iter_family(IpFamily::of(address)) {
        if block.contains(address) {
            return Some(before.saturating_add(number(address) - number(block.first())));
        }
        before = before.saturating_add(block.len());
    }
    None
}

/// The VRID of `address`: `first + offset mod (last - first + 1)` over the pool's
/// `vrrp.vrids` (default 1-255). A function of the config alone.
pub fn vrid(pool: &Pool, address: IpAddr) -> Option<u8> {
    let range = pool.vrrp.as_ref().map_or(VridRange::ALL, |v| v.vrids);
    let count = u128::from(range.last.saturating_sub(range.first)) + 1;
    let offset = family_offset(pool, address)? % count;
    range.first.checked_add(u8::try_from(offset).ok()?)
}

/// This node's priority in one VRID: `1 + FNV-1a("<node>/<family>/<vrid>") mod 254`, so
/// 1-254 (255 is the address owner's), the same after every restart, and different
/// nodes win different VRIDs.
pub fn priority(node: &str, family: IpFamily, vrid: u8) -> u8 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    let text = format!("{node}/{}/{vrid}", family_label(family));
    let hash = text.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(PRIME)
    });
    // hash % 254 < 254, so this is 1..=254.
    u8::try_from(1 + hash % 254).unwrap_or(1)
}

/// `ipv4` / `ipv6`.
pub fn family_label(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "ipv4",
        IpFamily::V6 => "ipv6",
    }
}

/// The interface that holds `address` of `pool` on this host: the pool's `interface`
/// when it exists here, else the interface with a subnet (not a host address) holding
/// it, `lo` excluded; `Err` carries the missing configured name, if any.
pub fn interface_for(
    pool: &Pool,
    address: IpAddr,
    host: &HostInterfaces,
) -> Result<String, Option<String>> {
    if let Some(name) = &pool.interface {
        return if host.names.contains(name) {
            Ok(name.clone())
        } else {
            Err(Some(name.clone()))
        };
    }
    host.addresses
        .iter()
        .filter(|a| a.interface != "lo")
        .filter(|a| a.network.prefix_len() < a.network.max_prefix_len())
        .filter(|a| a.network.contains(&address))
        // The most specific subnet wins, then the name, so the choice does not depend on
        // the order getifaddrs lists them in.
        .max_by(|a, b| {
            a.network
                .prefix_len()
                .cmp(&b.network.prefix_len())
                .then_with(|| b.interface.cmp(&a.interface))
        })
        .map(|a| a.interface.clone())
        .ok_or(None)
}

/// The interfaces addresses of `pool` may go on: its `interface` if the host has it,
/// else every interface (not `lo`) with a subnet overlapping one of its blocks.
pub fn pool_interfaces(pool: &Pool, host: &HostInterfaces) -> BTreeSet<String> {
    if let Some(name) = &pool.interface {
        return host.names.iter().filter(|n| *n == name).cloned().collect();
    }
    let blocks: Vec<IpNet> = pool
        .addresses
        .iter()
        .flat_map(|block| block.to_cidrs())
        .collect();
    host.addresses
        .iter()
        .filter(|a| a.interface != "lo")
        .filter(|a| a.network.prefix_len() < a.network.max_prefix_len())
        .filter(|a| {
            let subnet = a.network.trunc();
            blocks
                .iter()
                .any(|block| subnet.contains(&block.network()) || block.contains(&subnet.network()))
        })
        .map(|a| a.interface.clone())
        .collect()
}

/// The addresses of one VRID on one interface while the plan is built.
#[derive(Debug, Default)]
struct Group {
    /// Every pool that contributed, by its index in the config, with its settings: the
    /// first one's are used, whatever order the Services come in.
    pools: BTreeMap<usize, (String, Vrrp)>,
    addresses: BTreeSet<IpAddr>,
    /// `Local` Services in the VRID and the nodes of their serving endpoints.
    local: BTreeMap<ServiceKey, BTreeSet<String>>,
}

/// The L2 plan for `node`.
pub fn plan(view: &ClusterView, node: &str, host: &HostInterfaces) -> L2Plan {
    let mut result = L2Plan::default();
    let labels = view.nodes.get(node).map(|n| &n.labels);
    let peerless = labels.is_some_and(|labels| view.config.peers_for_node(labels).next().is_none());
    result.interfaces = view
        .config
        .pools
        .iter()
        .filter(|pool| held_with_vrrp(pool, peerless))
        .flat_map(|pool| pool_interfaces(pool, host))
        .collect();
    if let Err(reason) = node_state(view, node) {
        result.node_reason = Some(reason);
        return result;
    }
    let own: BTreeSet<IpAddr> = host.addresses.iter().map(|a| a.network.addr()).collect();

    let mut groups: BTreeMap<InstanceKey, Group> = BTreeMap::new();
    for service in view.services.values() {
        for &address in &service.addresses {
            let Some(pool) = view.config.pool_containing(address) else {
                continue;
            };
            if !held_with_vrrp(pool, peerless) || !has_serving_endpoint(service) {
                continue;
            }
            let Some(vrid) = vrid(pool, address) else {
                continue;
            };
            let interface = match interface_for(pool, address, host) {
                Ok(interface) => interface,
                Err(interface) => {
                    result.problems.push(L2Problem::InterfaceNotFound {
                        pool: pool.name.clone(),
                        service: service.key.clone(),
                        address,
                        interface,
                    });
                    continue;
                }
            };
            let key = InstanceKey {
                interface,
                family: IpFamily::of(address),
                vrid,
            };
            let group = groups.entry(key).or_default();
            let index = view
                .config
                .pools
                .iter()
                .position(|p| std::ptr::eq(p, pool))
                .unwrap_or(usize::MAX);
            group
                .pools
                .entry(index)
                .or_insert_with(|| (pool.name.clone(), pool.vrrp.clone().unwrap_or_default()));
            group.addresses.insert(address);
            if service.traffic_policy == TrafficPolicy::Local {
                let nodes = service
                    .endpoints
                    .iter()
                    .filter(|e| e.is_serving())
                    .filter_map(|e| e.node_name.clone())
                    .collect();
                group.local.insert(service.key.clone(), nodes);
            }
        }
    }

    let mut no_common_node = BTreeSet::new();
    for (key, group) in groups {
        let settings = group
            .pools
            .values()
            .next()
            .map(|(_, settings)| settings.clone())
            .unwrap_or_default();
        if group.pools.values().any(|(_, other)| *other != settings) {
            result.problems.push(L2Problem::SettingsConflict {
                key: key.clone(),
                pools: group.pools.values().map(|(name, _)| name.clone()).collect(),
            });
        }
        let common = group
            .local
            .values()
            .cloned()
            .reduce(|a, b| a.intersection(&b).cloned().collect());
        if common.as_ref().is_some_and(BTreeSet::is_empty)
            && no_common_node.insert((key.family, key.vrid))
        {
            result.problems.push(L2Problem::NoCommonNode {
                family: key.family,
                vrid: key.vrid,
                services: group.local.keys().cloned().collect(),
            });
        }
        // Eligible: a serving endpoint here for every Local Service in the VRID.
        if common.is_some_and(|nodes| !nodes.contains(node)) {
            continue;
        }
        let mut addresses: Vec<IpAddr> = group.addresses.into_iter().collect();
        if addresses.len() > MAX_ADDRESSES {
            let left_out = addresses.split_off(MAX_ADDRESSES);
            result.problems.push(L2Problem::TooManyAddresses {
                key: key.clone(),
                count: MAX_ADDRESSES + left_out.len(),
                left_out,
            });
        }
        result.instances.push(InstancePlan {
            priority: priority(node, key.family, key.vrid),
            advert_interval: centiseconds(&settings),
            unicast_peers: settings
                .unicast_peers
                .iter()
                .copied()
                .filter(|peer| IpFamily::of(*peer) == key.family && !own.contains(peer))
                .collect(),
            addresses,
            interface: key.interface,
            family: key.family,
            vrid: key.vrid,
        });
    }
    result
}

/// Whether anything serves the Service (as BGP withdraws an address nothing serves);
/// which node may hold a `Local` one is decided per VRID.
fn has_serving_endpoint(service: &ServiceView) -> bool {
    service.endpoints.iter().any(|e| e.is_serving())
}

fn centiseconds(settings: &Vrrp) -> Centiseconds {
    // The config checked it: whole centiseconds, 10 ms to 40.95 s.
    let centis = settings.advert_interval.as_millis() / 10;
    Centiseconds(u32::try_from(centis).unwrap_or(100).clamp(1, 4095))
}

fn number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// What to do to go from the instances that run to the plan's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// New instances.
    pub start: Vec<InstancePlan>,
    /// Instances whose priority or addresses changed (the rest equal).
    pub reconfigure: Vec<InstancePlan>,
    /// Instances whose advert interval or unicast peers changed: stopped and started.
    pub restart: Vec<InstancePlan>,
    /// Instances no longer planned: stopped gracefully.
    pub stop: Vec<InstanceKey>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
            && self.reconfigure.is_empty()
            && self.restart.is_empty()
            && self.stop.is_empty()
    }
}

/// The difference between `running` and `wanted`.
pub fn changes(running: &BTreeMap<InstanceKey, InstancePlan>, wanted: &[InstancePlan]) -> Changes {
    let mut changes = Changes::default();
    let wanted_keys: BTreeSet<InstanceKey> = wanted.iter().map(InstancePlan::key).collect();
    changes.stop = running
        .keys()
        .filter(|key| !wanted_keys.contains(key))
        .cloned()
        .collect();
    for plan in wanted {
        match running.get(&plan.key()) {
            None => changes.start.push(plan.clone()),
            Some(old) if old == plan => {}
            Some(old)
                if old.advert_interval == plan.advert_interval
                    && old.unicast_peers == plan.unicast_peers =>
            {
                changes.reconfigure.push(plan.clone());
            }
            Some(_) => changes.restart.push(plan.clone()),
        }
    }
    changes
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
