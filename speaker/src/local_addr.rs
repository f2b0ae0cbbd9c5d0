//! Service addresses made local on this node, so that the proxy's listeners receive their
//! traffic (DESIGN.md section 8). The one speaker module that speaks rtnetlink.
//!
//! An address becomes local with a route of type `local` in the `local` table on `lo`
//! ("AnyIP", what `ip route add local ADDR/32 dev lo table local proto 72` does): the
//! kernel then delivers packets for it to local sockets, without an address on any link
//! (this kernel has no `dummy` link type) and without answering ARP/ND for it on every
//! interface the way an address would with the default `arp_ignore`.
//!
//! Herald marks its routes with route protocol **72** ([`HERALD_ROUTE_PROTOCOL`]): it is
//! not reserved by the kernel (`include/uapi/linux/rtnetlink.h` stops at 99 `openr` with
//! gaps), nor by iproute2's `/etc/iproute2/rt_protos` or FRR's `rt_protos.d` (186-197), so
//! `ip route show table local proto 72` lists exactly Herald's routes. Everything here
//! filters on it: a route with another protocol (`kernel` for a link's own address,
//! `static` for an operator's) is never changed or removed, and a removal names the
//! protocol, so the kernel itself refuses to delete a foreign route of the same prefix.
//!
//! Restarts: a speaker killed with SIGKILL leaves its routes behind. The next one calls
//! [`LocalAddresses::adopt`] with the addresses it wants: it keeps those (no gap in
//! service) and removes the rest ([`plan`] decides, purely).
//!
//! IPv4 sockets may bind an AnyIP address as they are; IPv6 ones need `IPV6_FREEBIND`
//! (the kernel checks link addresses only), which the proxy's listeners set anyway.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::{Handle, RouteMessageBuilder};
use tokio::task::JoinHandle;

/// The route protocol number that marks Herald's routes (`proto 72` to `ip route`).
pub const HERALD_ROUTE_PROTOCOL: u8 = 72;

/// The kernel's `local` routing table (`RT_TABLE_LOCAL`).
const LOCAL_TABLE: u8 = 255;

/// `EEXIST`, as netlink reports it (negated).
const EEXIST: i32 = 17;

/// A failure talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum LocalAddrError {
    #[error("cannot open a netlink socket: {0}")]
    Connect(#[source] std::io::Error),
    #[error("the loopback link `lo` was not found")]
    NoLoopback,
    #[error("netlink {operation} failed: {source}")]
    Netlink {
        operation: &'static str,
        #[source]
        source: rtnetlink::Error,
    },
}

impl LocalAddrError {
    /// A short stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect",
            Self::NoLoopback => "no_loopback",
            Self::Netlink { .. } => "netlink",
        }
    }
}

/// What to do with Herald's routes, given the ones present and the addresses wanted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Wanted and not present: add.
    pub add: Vec<IpAddr>,
    /// Present and wanted: keep (adopted after a restart).
    pub keep: Vec<IpAddr>,
    /// Present and not wanted: remove.
    pub remove: Vec<IpAddr>,
}

/// The plan that makes Herald's routes exactly `wanted`. Pure.
pub fn plan(present: &BTreeSet<IpAddr>, wanted: &BTreeSet<IpAddr>) -> Plan {
    Plan {
        add: wanted.difference(present).copied().collect(),
        keep: wanted.intersection(present).copied().collect(),
        remove: present.difference(wanted).copied().collect(),
    }
}

/// What [`LocalAddresses::ensure`] found for each address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ensured {
    /// Routes added now.
    pub added: Vec<IpAddr>,
    /// Herald's routes already present.
    pub present: Vec<IpAddr>,
    /// A route of another protocol already makes the address local (a link's own address,
    /// an operator's route): left as it is, and never removed by Herald.
    pub foreign: Vec<IpAddr>,
}

/// The netlink connection and the loopback link.
#[derive(Debug)]
pub struct LocalAddresses {
    handle: Handle,
    loopback: u32,
    connection: JoinHandle<()>,
}

impl Drop for LocalAddresses {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl LocalAddresses {
    /// Opens a netlink socket in the calling thread's network namespace (its task runs on
    /// the current tokio runtime) and finds `lo`.
    pub async fn connect() -> Result<Self, LocalAddrError> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(LocalAddrError::Connect)?;
        let connection = tokio::spawn(connection);
        let link = handle
            .link()
            .get()
            .match_name("lo".to_owned())
            .execute()
            .try_next()
            .await;
        let loopback = match link {
            Ok(Some(link)) => link.header.index,
            Ok(None) => return Err(LocalAddrError::NoLoopback),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -19 => {
                return Err(LocalAddrError::NoLoopback);
            }
            Err(source) => {
                return Err(LocalAddrError::Netlink {
                    operation: "link get",
                    source,
                });
            }
        };
        Ok(Self {
            handle,
            loopback,
            connection,
        })
    }

    /// The addresses Herald's routes make local now (protocol 72, `local` table).
    pub async fn list_ours(&self) -> Result<BTreeSet<IpAddr>, LocalAddrError> {
        Ok(self
            .our_routes()
            .await?
            .iter()
            .filter_map(destination)
            .collect())
    }

    /// Makes every address in `addresses` local; idempotent.
    pub async fn ensure(&self, addresses: &[IpAddr]) -> Result<Ensured, LocalAddrError> {
        let ours = self.list_ours().await?;
        let mut ensured = Ensured::default();
        for &address in addresses {
            if ours.contains(&address) {
                ensured.present.push(address);
                continue;
            }
            match self.handle.route().add(self.route(address)).execute().await {
                Ok(()) => ensured.added.push(address),
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -EEXIST => {
                    ensured.foreign.push(address);
                }
                Err(source) => {
                    return Err(LocalAddrError::Netlink {
                        operation: "route add",
                        source,
                    });
                }
            }
        }
        Ok(ensured)
    }

    /// Removes Herald's routes for `addresses`; an address without one (never added, or
    /// made local by someone else) is left alone. Returns the addresses removed.
    pub async fn remove(&self, addresses: &[IpAddr]) -> Result<Vec<IpAddr>, LocalAddrError> {
        let mut removed = Vec::new();
        for route in self.our_routes().await? {
            let Some(address) = destination(&route) else {
                continue;
            };
            if addresses.contains(&address) {
                self.delete(route).await?;
                removed.push(address);
            }
        }
        Ok(removed)
    }

    /// At start: keeps Herald's routes (left by a previous process) for the addresses in
    /// `wanted`, removes the others, and adds the wanted ones missing. The plan carried out.
    pub async fn adopt(&self, wanted: &[IpAddr]) -> Result<Plan, LocalAddrError> {
        let present = self.list_ours().await?;
        let plan = plan(&present, &wanted.iter().copied().collect());
        self.remove(&plan.remove).await?;
        self.ensure(&plan.add).await?;
        Ok(plan)
    }

    /// Removes every route Herald added (at stop, or leftovers when nothing is wanted).
    pub async fn remove_leftovers(&self) -> Result<Vec<IpAddr>, LocalAddrError> {
        let ours: Vec<IpAddr> = self.list_ours().await?.into_iter().collect();
        self.remove(&ours).await
    }

    async fn delete(&self, route: RouteMessage) -> Result<(), LocalAddrError> {
        match self.handle.route().del(route).execute().await {
            Ok(()) => Ok(()),
            // Gone in the meantime: what was wanted.
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -3 => Ok(()),
            Err(source) => Err(LocalAddrError::Netlink {
                operation: "route del",
                source,
            }),
        }
    }

    /// Herald's routes in the local table, both families.
    async fn our_routes(&self) -> Result<Vec<RouteMessage>, LocalAddrError> {
        let mut routes = Vec::new();
        for query in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let dump: Vec<RouteMessage> = self
                .handle
                .route()
                .get(query)
                .execute()
                .try_collect()
                .await
                .map_err(|source| LocalAddrError::Netlink {
                    operation: "route dump",
                    source,
                })?;
            routes.extend(dump.into_iter().filter(is_ours));
        }
        Ok(routes)
    }

    /// `local ADDR/32|128 dev lo table local proto 72 scope host`.
    fn route(&self, address: IpAddr) -> RouteMessage {
        match address {
            IpAddr::V4(v4) => local_route(
                RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(v4, 32),
                self.loopback,
            ),
            IpAddr::V6(v6) => local_route(
                RouteMessageBuilder::<Ipv6Addr>::new().destination_prefix(v6, 128),
                self.loopback,
            ),
        }
    }
}

fn local_route<T>(builder: RouteMessageBuilder<T>, loopback: u32) -> RouteMessage {
    builder
        .table_id(LOCAL_TABLE.into())
        .kind(RouteType::Local)
        .scope(RouteScope::Host)
        .protocol(RouteProtocol::Other(HERALD_ROUTE_PROTOCOL))
        .output_interface(loopback)
        .build()
}

/// A host route of type `local` in the local table with Herald's protocol.
fn is_ours(route: &RouteMessage) -> bool {
    let header = &route.header;
    let table = route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(table) => Some(*table),
            _ => None,
        })
        .unwrap_or(header.table.into());
    table == u32::from(LOCAL_TABLE)
        && header.kind == RouteType::Local
        && u8::from(header.protocol) == HERALD_ROUTE_PROTOCOL
        && destination(route).is_some()
}

/// The address of a host route (/32 or /128).
fn destination(route: &RouteMessage) -> Option<IpAddr> {
    let length = route.header.destination_prefix_length;
    route.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(v4)) if length == 32 => {
            Some(IpAddr::V4(*v4))
        }
        RouteAttribute::Destination(RouteAddress::Inet6(v6)) if length == 128 => {
            Some(IpAddr::V6(*v6))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use rtnetlink::packet_route::route::RouteHeader;

    use super::*;

    fn set(addresses: &[&str]) -> BTreeSet<IpAddr> {
        addresses.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn list(addresses: &[&str]) -> Vec<IpAddr> {
        addresses.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn a_restart_keeps_the_wanted_leftovers_removes_the_others_and_adds_the_missing() {
        let plan = plan(
            &set(&["10.0.0.1", "10.0.0.2", "fd00::1"]),
            &set(&["10.0.0.2", "fd00::1", "fd00::2"]),
        );
        assert_eq!(plan.add, list(&["fd00::2"]));
        assert_eq!(plan.keep, list(&["10.0.0.2", "fd00::1"]));
        assert_eq!(plan.remove, list(&["10.0.0.1"]));
    }

    #[test]
    fn nothing_wanted_removes_everything_herald_left() {
        let plan = plan(&set(&["10.0.0.1"]), &BTreeSet::new());
        assert_eq!(plan.remove, list(&["10.0.0.1"]));
        assert!(plan.add.is_empty() && plan.keep.is_empty());
    }

    #[test]
    fn herald_s_routes_are_the_local_table_host_routes_with_protocol_72() {
        let mut route = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(Ipv4Addr::new(10, 0, 0, 1), 32)
            .table_id(255)
            .kind(RouteType::Local)
            .protocol(RouteProtocol::Other(72))
            .build();
        assert!(is_ours(&route));
        route.header.protocol = RouteProtocol::Kernel;
        assert!(!is_ours(&route));
        route.header.protocol = RouteProtocol::Other(72);
        route.header.table = RouteHeader::RT_TABLE_MAIN;
        assert!(!is_ours(&route));
        route.header.table = 255;
        route.header.destination_prefix_length = 24;
        assert!(!is_ours(&route));
    }
}
