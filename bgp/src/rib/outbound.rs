//! The UPDATEs one session sends: the whole table after Established, then deltas.
//! Pure: routes in, messages out.
//!
//! Attributes are per session (RFC 4271 section 5.1): AS_PATH is our AS for eBGP and empty
//! for iBGP, NEXT_HOP is the session's local address, LOCAL_PREF goes to iBGP peers only.
//! Prefixes that share attributes are packed together, as many per UPDATE as fit.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};

use super::pack::{pack_announce_v4, pack_announce_v6, pack_withdraw_v4, pack_withdraw_v6};
use super::table::{Change, Delta, RouteTable};
use crate::packet::{
    AfiSafi, AsPath, CodecContext, ExtendedCommunity, MpNextHop, PathAttributes, UpdateMsg,
};
use crate::route::RouteAttributes;

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
            extended_communities: self.extended_communities(route),
            ..PathAttributes::default()
        }
    }

    /// The route's extended communities, plus its link bandwidth with our AS.
    fn extended_communities(&self, route: &RouteAttributes) -> Vec<ExtendedCommunity> {
        let mut communities = route.extended_communities.clone();
        if let Some(bandwidth) = route.link_bandwidth {
            communities.push(ExtendedCommunity::link_bandwidth(
                self.local_as,
                bandwidth as f32,
            ));
        }
        communities
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::*;
    use crate::packet::{Community, Origin};
    use crate::rib::Batch;

    fn ebgp_v4() -> Outbound {
        Outbound {
            local_as: 64500,
            ibgp: false,
            next_hop: "172.30.0.11".parse().expect("address"),
            families: vec![AfiSafi::IPV4_UNICAST],
            codec: CodecContext::default(),
        }
    }

    fn ebgp_v6() -> Outbound {
        Outbound {
            next_hop: "fd00:30::11".parse().expect("address"),
            families: vec![AfiSafi::IPV6_UNICAST],
            ..ebgp_v4()
        }
    }

    fn host(i: u32) -> ipnet::IpNet {
        ipnet::IpNet::from(IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + i)))
    }

    fn table_of(
        routes: impl IntoIterator<Item = (ipnet::IpNet, RouteAttributes)>,
    ) -> Arc<RouteTable> {
        let mut table = Arc::new(RouteTable::default());
        let mut batch = Batch::default();
        for (prefix, attributes) in routes {
            batch.announce(&mut table, prefix, attributes);
        }
        table
    }

    fn tagged(value: u16) -> RouteAttributes {
        RouteAttributes {
            communities: vec![Community::new(64500, value)],
            ..RouteAttributes::default()
        }
    }

    #[test]
    fn prefixes_sharing_attributes_share_updates() {
        let table = table_of((0..2000).map(|i| (host(i), RouteAttributes::default())));
        let (messages, count) = ebgp_v4().full_table(&table, false);
        assert_eq!(count, 2000);
        // 5 octets per /32 in at most 4096 octets: 3 messages, not 2000.
        assert_eq!(messages.len(), 3);
        assert_eq!(messages.iter().map(|m| m.nlri.len()).sum::<usize>(), 2000);
    }

    #[test]
    fn a_session_with_extended_messages_sends_the_table_in_big_updates() {
        let table = table_of((0..20_000).map(|i| (host(i), RouteAttributes::default())));
        let extended = Outbound {
            codec: CodecContext {
                extended_message: true,
                ..CodecContext::default()
            },
            ..ebgp_v4()
        };
        let (messages, count) = extended.full_table(&table, false);
        assert_eq!(count, 20_000);
        // 5 octets per /32 in at most 65535 octets: 2 messages, where 4096 takes 25.
        assert_eq!(messages.len(), 2);
        assert_eq!(ebgp_v4().full_table(&table, false).0.len(), 25);
    }

    #[test]
    fn different_attributes_go_in_different_updates() {
        let table = table_of([
            (host(1), tagged(1)),
            (host(2), tagged(2)),
            (host(3), tagged(1)),
        ]);
        let (messages, _) = ebgp_v4().full_table(&table, false);
        assert_eq!(messages.len(), 2);
        let with_one: Vec<_> = messages
            .iter()
            .filter(|m| m.attributes.communities == tagged(1).communities)
            .collect();
        assert_eq!(with_one[0].nlri.len(), 2);
    }

    #[test]
    fn ebgp_routes_carry_our_as_and_the_session_address_as_next_hop() {
        let table = table_of([(
            host(1),
            RouteAttributes {
                local_pref: Some(200),
                med: Some(7),
                ..tagged(1)
            },
        )]);
        let (messages, _) = ebgp_v4().full_table(&table, false);
        let attributes = &messages[0].attributes;
        assert_eq!(attributes.as_path, Some(AsPath::sequence([64500])));
        assert_eq!(
            attributes.next_hop,
            Some("172.30.0.11".parse().expect("address"))
        );
        assert_eq!(attributes.origin, Some(Origin::Igp));
        assert_eq!(attributes.med, Some(7));
        assert_eq!(attributes.local_pref, None, "LOCAL_PREF is for iBGP only");
    }

    #[test]
    fn ibgp_routes_have_an_empty_as_path_and_local_pref() {
        let ibgp = Outbound {
            ibgp: true,
            ..ebgp_v4()
        };
        let table = table_of([
            (host(1), RouteAttributes::default()),
            (
                host(2),
                RouteAttributes {
                    local_pref: Some(50),
                    ..RouteAttributes::default()
                },
            ),
        ]);
        let (messages, _) = ibgp.full_table(&table, false);
        let mut local_prefs: Vec<_> = messages.iter().map(|m| m.attributes.local_pref).collect();
        local_prefs.sort();
        assert_eq!(local_prefs, vec![Some(50), Some(100)]);
        assert!(
            messages
                .iter()
                .all(|m| m.attributes.as_path == Some(AsPath::default()))
        );
    }

    #[test]
    fn sessions_get_only_their_own_family_then_end_of_rib() {
        let v6: ipnet::IpNet = "fd00:99::10/128".parse().expect("prefix");
        let table = table_of([
            (host(1), RouteAttributes::default()),
            (v6, RouteAttributes::default()),
        ]);

        let (messages, count) = ebgp_v4().full_table(&table, true);
        assert_eq!(count, 1);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1].end_of_rib_family(), Some(AfiSafi::IPV4_UNICAST));

        let (messages, count) = ebgp_v6().full_table(&table, true);
        assert_eq!(count, 1);
        let reach = messages[0]
            .attributes
            .mp_reach
            .as_ref()
            .expect("MP_REACH_NLRI");
        assert_eq!(
            reach.nlri,
            vec!["fd00:99::10/128".parse::<Ipv6Net>().expect("prefix")]
        );
        assert_eq!(
            reach.next_hop.global,
            "fd00:30::11"
                .parse::<std::net::Ipv6Addr>()
                .expect("address")
        );
        assert_eq!(messages[0].attributes.next_hop, None);
        assert_eq!(messages[1].end_of_rib_family(), Some(AfiSafi::IPV6_UNICAST));
    }

    #[test]
    fn delta_sends_withdrawals_and_announcements_and_counts_new_prefixes() {
        let mut table = table_of([
            (host(1), RouteAttributes::default()),
            (host(2), RouteAttributes::default()),
        ]);
        let mut batch = Batch::default();
        batch.withdraw(&mut table, host(1));
        batch.announce(&mut table, host(2), tagged(9));
        batch.announce(&mut table, host(3), RouteAttributes::default());
        batch.announce(&mut table, host(4), RouteAttributes::default());
        let delta = batch.finish(&table);
        let updates = ebgp_v4().changes(&delta);
        assert_eq!(
            updates.prefix_change, 1,
            "two new, one withdrawn, one changed"
        );
        assert_eq!(
            updates.messages[0].withdrawn,
            vec![host(1).to_string().parse::<Ipv4Net>().expect("prefix")]
        );
        let announced: usize = updates.messages.iter().map(|m| m.nlri.len()).sum();
        assert_eq!(announced, 3);
        assert_eq!(
            updates.messages.len(),
            3,
            "one withdrawal, one UPDATE per attribute set"
        );
    }

    #[test]
    fn link_bandwidth_goes_out_as_an_extended_community_with_the_session_as() {
        let weighted = |bandwidth| RouteAttributes {
            link_bandwidth: Some(bandwidth),
            ..RouteAttributes::default()
        };
        let table = table_of([
            (host(1), weighted(125_000)),
            (host(2), weighted(375_000)),
            (host(3), weighted(125_000)),
        ]);
        let (messages, _) = ebgp_v4().full_table(&table, false);
        assert_eq!(messages.len(), 2, "one UPDATE per bandwidth");
        let mut seen: Vec<(usize, Option<(u16, f32)>)> = messages
            .iter()
            .map(|m| {
                let [community] = m.attributes.extended_communities[..] else {
                    panic!("one extended community: {m:?}");
                };
                (m.nlri.len(), community.as_link_bandwidth())
            })
            .collect();
        seen.sort_by_key(|(count, _)| *count);
        assert_eq!(
            seen,
            [(1, Some((64500, 375_000.0))), (2, Some((64500, 125_000.0)))]
        );

        let four_octet = Outbound {
            local_as: 4_200_000_001,
            ..ebgp_v4()
        };
        let (messages, _) = four_octet.full_table(&table, false);
        assert_eq!(
            messages[0].attributes.extended_communities[0]
                .as_link_bandwidth()
                .map(|(asn, _)| asn),
            Some(23456),
            "AS_TRANS in the two-octet AS field"
        );
    }

    #[test]
    fn routes_without_link_bandwidth_carry_no_extended_community() {
        let table = table_of([(host(1), RouteAttributes::default())]);
        let (messages, _) = ebgp_v6().full_table(&table, false);
        assert!(
            messages
                .iter()
                .all(|m| m.attributes.extended_communities.is_empty())
        );
        let (messages, _) = ebgp_v4().full_table(&table, false);
        assert!(messages[0].attributes.extended_communities.is_empty());
    }

    #[test]
    fn delta_of_another_family_sends_nothing() {
        let mut table = Arc::new(RouteTable::default());
        let mut batch = Batch::default();
        batch.announce(
            &mut table,
            "fd00:99::10/128".parse().expect("prefix"),
            RouteAttributes::default(),
        );
        let delta = batch.finish(&table);
        assert_eq!(ebgp_v4().changes(&delta), Updates::default());
    }
}
