//! The UPDATEs one session sends: the whole table after Established, then deltas.
//! Pure: routes in, messages out.
//!
//! Attributes are per session (RFC 4271 section 5.1): AS_PATH is our AS for eBGP and empty
//! for iBGP, NEXT_HOP is the session's local address, LOCAL_PREF goes to iBGP peers only.
//! Prefixes that share attributes are packed together, as many per UPDATE as fit.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};

use crate::packet::{
    AfiSafi, AsPath, CodecContext, MpNextHop, PathAttributes, UpdateMsg, pack_announce_v4,
    pack_announce_v6, pack_withdraw_v4, pack_withdraw_v6,
};
use crate::speaker::RouteAttributes;
use crate::speaker::table::{Change, Delta, RouteTable};

/// LOCAL_PREF sent to iBGP peers for routes that do not set one.
const DEFAULT_LOCAL_PREF: u32 = 100;

/// How one Established session turns routes into UPDATEs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outbound {
    pub(crate) local_as: u32,
    pub(crate) ibgp: bool,
    /// The session's local address.
    pub(crate) next_hop: IpAddr,
    /// Negotiated families.
    pub(crate) families: Vec<AfiSafi>,
    pub(crate) codec: CodecContext,
}

/// UPDATEs to send and how the count of advertised prefixes changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Updates {
    pub(crate) messages: Vec<UpdateMsg>,
    pub(crate) prefix_change: i64,
}

impl Outbound {
    fn sends_v4(&self) -> bool {
        self.next_hop.is_ipv4() && self.families.contains(&AfiSafi::IPV4_UNICAST)
    }

    fn sends_v6(&self) -> bool {
        self.next_hop.is_ipv6() && self.families.contains(&AfiSafi::IPV6_UNICAST)
    }

    fn path_attributes(&self, route: &RouteAttributes) -> PathAttributes {
        PathAttributes {
            origin: Some(route.origin),
            as_path: Some(if self.ibgp {
                AsPath::default()
            } else {
                AsPath::sequence([self.local_as])
            }),
            next_hop: match self.next_hop {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            },
            med: route.med,
            local_pref: self
                .ibgp
                .then(|| route.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)),
            communities: route.communities.clone(),
            large_communities: route.large_communities.clone(),
            ..PathAttributes::default()
        }
    }

    /// Every route of the table for our families; with `end_of_rib`, followed by an
    /// End-of-RIB marker per family (RFC 4724 section 2).
    pub(crate) fn full_table(&self, table: &RouteTable, end_of_rib: bool) -> (Vec<UpdateMsg>, u64) {
        let mut messages = Vec::new();
        let mut count = 0;
        if self.sends_v4() {
            let routes: Vec<(Ipv4Net, &RouteAttributes)> =
                table.v4.iter().map(|(p, a)| (*p, &**a)).collect();
            count += routes.len() as u64;
            self.announce_v4(routes, &mut messages);
            if end_of_rib {
                messages.push(UpdateMsg::end_of_rib(AfiSafi::IPV4_UNICAST));
            }
        }
        if self.sends_v6() {
            let routes: Vec<(Ipv6Net, &RouteAttributes)> =
                table.v6.iter().map(|(p, a)| (*p, &**a)).collect();
            count += routes.len() as u64;
            self.announce_v6(routes, &mut messages);
            if end_of_rib {
                messages.push(UpdateMsg::end_of_rib(AfiSafi::IPV6_UNICAST));
            }
        }
        (messages, count)
    }

    /// The UPDATEs for one delta: withdrawals first, then announcements grouped by attributes.
    pub(crate) fn changes(&self, delta: &Delta) -> Updates {
        let mut updates = Updates::default();
        if self.sends_v4() {
            let (announce, withdraw, change) = split(&delta.v4);
            updates.prefix_change += change;
            if !withdraw.is_empty() {
                updates
                    .messages
                    .extend(pack_withdraw_v4(&withdraw, &self.codec));
            }
            self.announce_v4(announce, &mut updates.messages);
        }
        if self.sends_v6() {
            let (announce, withdraw, change) = split(&delta.v6);
            updates.prefix_change += change;
            if !withdraw.is_empty() {
                updates
                    .messages
                    .extend(pack_withdraw_v6(&withdraw, &self.codec));
            }
            self.announce_v6(announce, &mut updates.messages);
        }
        updates
    }

    fn announce_v4(&self, routes: Vec<(Ipv4Net, &RouteAttributes)>, out: &mut Vec<UpdateMsg>) {
        for (route, prefixes) in group(routes) {
            out.extend(pack_announce_v4(
                &self.path_attributes(route),
                &prefixes,
                &self.codec,
            ));
        }
    }

    fn announce_v6(&self, routes: Vec<(Ipv6Net, &RouteAttributes)>, out: &mut Vec<UpdateMsg>) {
        let IpAddr::V6(global) = self.next_hop else {
            return;
        };
        let next_hop = MpNextHop {
            global,
            link_local: None,
        };
        for (route, prefixes) in group(routes) {
            out.extend(pack_announce_v6(
                &self.path_attributes(route),
                next_hop,
                &prefixes,
                &self.codec,
            ));
        }
    }
}

/// Announcements, withdrawals and the change in the number of advertised prefixes.
fn split<P: Copy>(changes: &[(P, Change)]) -> (Vec<(P, &RouteAttributes)>, Vec<P>, i64) {
    let mut announce = Vec::new();
    let mut withdraw = Vec::new();
    let mut count = 0;
    for (prefix, change) in changes {
        match change {
            Change::Announce { attributes, new } => {
                announce.push((*prefix, &**attributes));
                count += i64::from(*new);
            }
            Change::Withdraw => {
                withdraw.push(*prefix);
                count -= 1;
            }
        }
    }
    (announce, withdraw, count)
}

/// Prefixes grouped by equal attributes, groups in order of first appearance.
fn group<P>(routes: Vec<(P, &RouteAttributes)>) -> Vec<(&RouteAttributes, Vec<P>)> {
    let mut index: HashMap<&RouteAttributes, usize> = HashMap::new();
    let mut groups: Vec<(&RouteAttributes, Vec<P>)> = Vec::new();
    for (prefix, route) in routes {
        let slot = *index.entry(route).or_insert_with(|| {
            groups.push((route, Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(prefix);
    }
    groups
}
