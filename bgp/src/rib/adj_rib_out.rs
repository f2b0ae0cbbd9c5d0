//! What one Established session has sent of our routes (its Adj-RIB-Out, RFC 4271
//! section 3.2), reduced to what we need: whether the first table is still to come, and
//! how many prefixes the peer has from us.
//!
//! The session asks for the table when it comes up. Deltas published before the table
//! arrives are already part of it and are dropped; the first table is followed by
//! End-of-RIB (RFC 4724 section 2), a table sent again for a route refresh is not.

use super::outbound::Outbound;
use super::table::{Delta, RouteTable};
use crate::packet::UpdateMsg;

#[derive(Debug)]
pub(crate) struct AdjRibOut {
    outbound: Outbound,
    /// Waiting for the first table snapshot (to be followed by End-of-RIB).
    awaiting_table: bool,
    /// Prefixes the peer currently has from us.
    prefixes_sent: u64,
}

impl AdjRibOut {
    /// A session that has just come up and asked for the table.
    pub(crate) fn new(outbound: Outbound) -> Self {
        AdjRibOut {
            outbound,
            awaiting_table: true,
            prefixes_sent: 0,
        }
    }

    pub(crate) fn prefixes_sent(&self) -> u64 {
        self.prefixes_sent
    }

    /// The UPDATEs that send `table` whole: after Established (then with End-of-RIB) or
    /// for a route refresh.
    pub(crate) fn table(&mut self, table: &RouteTable) -> Vec<UpdateMsg> {
        let (messages, count) = self.outbound.full_table(table, self.awaiting_table);
        self.awaiting_table = false;
        self.prefixes_sent = count;
        messages
    }

    /// The UPDATEs for one delta; none while the first table is on its way, since the
    /// snapshot already includes the delta.
    pub(crate) fn changes(&mut self, delta: &Delta) -> Vec<UpdateMsg> {
        if self.awaiting_table {
            return Vec::new();
        }
        let updates = self.outbound.changes(delta);
        self.prefixes_sent = self
            .prefixes_sent
            .saturating_add_signed(updates.prefix_change);
        updates.messages
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    use ipnet::IpNet;

    use super::*;
    use crate::packet::{AfiSafi, CodecContext};
    use crate::rib::Batch;
    use crate::route::RouteAttributes;

    fn session() -> AdjRibOut {
        AdjRibOut::new(Outbound {
            local_as: 64500,
            ibgp: false,
            next_hop: "172.30.0.11".parse().expect("address"),
            families: vec![AfiSafi::IPV4_UNICAST],
            codec: CodecContext::default(),
        })
    }

    fn host(i: u32) -> IpNet {
        IpNet::from(IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + i)))
    }

    /// Applies announcements of `hosts` to `table` and returns their delta.
    fn announce(table: &mut Arc<RouteTable>, hosts: impl IntoIterator<Item = u32>) -> Delta {
        let mut batch = Batch::default();
        for i in hosts {
            batch.announce(table, host(i), RouteAttributes::default());
        }
        batch.finish(table)
    }

    #[test]
    fn deltas_before_the_first_table_are_dropped_because_the_table_includes_them() {
        let mut table = Arc::new(RouteTable::default());
        let mut rib = session();
        let delta = announce(&mut table, 0..3);
        assert!(rib.changes(&delta).is_empty());
        assert_eq!(rib.prefixes_sent(), 0);

        let messages = rib.table(&table);
        assert_eq!(messages.iter().map(|m| m.nlri.len()).sum::<usize>(), 3);
        assert_eq!(rib.prefixes_sent(), 3);
    }

    #[test]
    fn only_the_first_table_ends_with_end_of_rib() {
        let mut table = Arc::new(RouteTable::default());
        announce(&mut table, 0..2);
        let mut rib = session();
        let first = rib.table(&table);
        assert_eq!(
            first.last().and_then(UpdateMsg::end_of_rib_family),
            Some(AfiSafi::IPV4_UNICAST)
        );
        let refresh = rib.table(&table);
        assert_eq!(refresh.len(), first.len() - 1);
        assert!(refresh.iter().all(|m| m.end_of_rib_family().is_none()));
    }

    #[test]
    fn deltas_after_the_table_are_sent_and_counted() {
        let mut table = Arc::new(RouteTable::default());
        announce(&mut table, 0..2);
        let mut rib = session();
        rib.table(&table);

        let delta = announce(&mut table, 2..5);
        let messages = rib.changes(&delta);
        assert_eq!(messages.iter().map(|m| m.nlri.len()).sum::<usize>(), 3);
        assert_eq!(rib.prefixes_sent(), 5);

        let mut batch = Batch::default();
        batch.withdraw(&mut table, host(0));
        let messages = rib.changes(&batch.finish(&table));
        assert_eq!(messages.len(), 1);
        assert_eq!(rib.prefixes_sent(), 4);
    }
}
