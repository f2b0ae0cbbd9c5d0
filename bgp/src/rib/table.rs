//! The routes the speaker originates, and the changes between two versions of them.
//!
//! The core task owns the one [`RouteTable`]; peers get it as a cheap `Arc` snapshot when
//! a session comes up and as [`Delta`]s afterwards. A batch of announce/withdraw calls
//! becomes one delta with at most one change per prefix, relative to the table before
//! the batch; no-op changes (re-announcing equal attributes) vanish.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::route::RouteAttributes;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RouteTable {
    pub(crate) v4: BTreeMap<Ipv4Net, Arc<RouteAttributes>>,
    pub(crate) v6: BTreeMap<Ipv6Net, Arc<RouteAttributes>>,
}

impl RouteTable {
    fn get(&self, prefix: &IpNet) -> Option<&Arc<RouteAttributes>> {
        match prefix {
            IpNet::V4(p) => self.v4.get(p),
            IpNet::V6(p) => self.v6.get(p),
        }
    }

    fn set(&mut self, prefix: IpNet, attributes: Option<Arc<RouteAttributes>>) {
        match (prefix, attributes) {
            (IpNet::V4(p), Some(a)) => {
                self.v4.insert(p, a);
            }
            (IpNet::V4(p), None) => {
                self.v4.remove(&p);
            }
            (IpNet::V6(p), Some(a)) => {
                self.v6.insert(p, a);
            }
            (IpNet::V6(p), None) => {
                self.v6.remove(&p);
            }
        }
    }
}

/// What happened to one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Announced; `new` when the prefix was not in the table before (it counts once).
    Announce {
        attributes: Arc<RouteAttributes>,
        new: bool,
    },
    Withdraw,
}

/// Net changes of one batch, sorted by prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Delta {
    pub(crate) v4: Vec<(Ipv4Net, Change)>,
    pub(crate) v6: Vec<(Ipv6Net, Change)>,
}

impl Delta {
    pub(crate) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// Collects announce/withdraw calls into a delta while applying them to the table.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The value of each touched prefix before the batch.
    before: HashMap<IpNet, Option<Arc<RouteAttributes>>>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.before.is_empty()
    }

    pub(crate) fn announce(
        &mut self,
        table: &mut Arc<RouteTable>,
        prefix: IpNet,
        attributes: RouteAttributes,
    ) {
        let prefix = prefix.trunc();
        if table
            .get(&prefix)
            .is_some_and(|current| **current == attributes)
        {
            return;
        }
        self.touch(table, prefix);
        Arc::make_mut(table).set(prefix, Some(Arc::new(attributes)));
    }

    pub(crate) fn withdraw(&mut self, table: &mut Arc<RouteTable>, prefix: IpNet) {
        let prefix = prefix.trunc();
        if table.get(&prefix).is_none() {
            return;
        }
        self.touch(table, prefix);
        Arc::make_mut(table).set(prefix, None);
    }

    fn touch(&mut self, table: &RouteTable, prefix: IpNet) {
        self.before
            .entry(prefix)
            .or_insert_with(|| table.get(&prefix).cloned());
    }

    /// The net changes since the batch began; resets the batch.
    pub(crate) fn finish(&mut self, table: &RouteTable) -> Delta {
        let mut delta = Delta::default();
        let mut touched: Vec<(IpNet, Option<Arc<RouteAttributes>>)> = self.before.drain().collect();
        touched.sort_by_key(|(prefix, _)| *prefix);
        for (prefix, before) in touched {
            let change = match (before, table.get(&prefix)) {
                (None, None) => continue,
                (Some(_), None) => Change::Withdraw,
                (Some(old), Some(now)) if *old == **now => continue,
                (old, Some(now)) => Change::Announce {
                    attributes: now.clone(),
                    new: old.is_none(),
                },
            };
            match prefix {
                IpNet::V4(p) => delta.v4.push((p, change)),
                IpNet::V6(p) => delta.v6.push((p, change)),
            }
        }
        delta
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Community;

    fn net(s: &str) -> IpNet {
        s.parse().expect("prefix")
    }

    fn tagged(value: u16) -> RouteAttributes {
        RouteAttributes {
            communities: vec![Community::new(64500, value)],
            ..RouteAttributes::default()
        }
    }

    #[test]
    fn batch_keeps_the_last_change_per_prefix() {
        let mut table = Arc::new(RouteTable::default());
        let mut batch = Batch::default();
        batch.announce(&mut table, net("10.0.0.1/32"), tagged(1));
        batch.announce(&mut table, net("10.0.0.1/32"), tagged(2));
        batch.announce(&mut table, net("10.0.0.2/32"), tagged(1));
        batch.withdraw(&mut table, net("10.0.0.2/32"));
        batch.announce(&mut table, net("fd00::1/128"), tagged(3));
        let delta = batch.finish(&table);
        assert_eq!(delta.v4.len(), 1);
        assert_eq!(
            delta.v4[0].0,
            "10.0.0.1/32".parse::<Ipv4Net>().expect("prefix")
        );
        assert!(
            matches!(&delta.v4[0].1, Change::Announce { attributes, new: true } if **attributes == tagged(2))
        );
        assert_eq!(delta.v6.len(), 1);
        assert_eq!(table.v4.len(), 1);
        assert!(batch.is_empty());
    }

    #[test]
    fn reannouncing_equal_attributes_changes_nothing() {
        let mut table = Arc::new(RouteTable::default());
        let mut batch = Batch::default();
        batch.announce(&mut table, net("10.0.0.1/32"), tagged(1));
        batch.finish(&table);
        batch.announce(&mut table, net("10.0.0.1/32"), tagged(1));
        batch.announce(&mut table, net("10.0.0.1/32"), tagged(2));
        batch.announce(&mut table, net("10.0.0.1/32"), tagged(1));
        assert!(batch.finish(&table).is_empty());
    }

    #[test]
    fn changed_attributes_are_not_counted_as_new() {
        let mut table = Arc::new(RouteTable::default());
        let mut batch = Batch::default();
        batch.announce(&mut table, net("10.0.0.1/32"), tagged(1));
        batch.finish(&table);
        batch.announce(&mut table, net("10.0.0.1/32"), tagged(2));
        batch.withdraw(&mut table, net("10.0.0.9/32"));
        let delta = batch.finish(&table);
        assert!(matches!(
            &delta.v4[..],
            [(_, Change::Announce { new: false, .. })]
        ));
    }

    #[test]
    fn withdraw_of_an_announced_prefix_is_a_withdrawal() {
        let mut table = Arc::new(RouteTable::default());
        let mut batch = Batch::default();
        batch.announce(&mut table, net("10.0.0.1/32"), tagged(1));
        batch.finish(&table);
        batch.withdraw(&mut table, net("10.0.0.1/32"));
        assert_eq!(
            batch.finish(&table).v4,
            vec![("10.0.0.1/32".parse().expect("prefix"), Change::Withdraw)]
        );
        assert!(table.v4.is_empty());
    }

    #[test]
    fn snapshots_are_not_changed_by_later_batches() {
        let mut table = Arc::new(RouteTable::default());
        let mut batch = Batch::default();
        batch.announce(&mut table, net("10.0.0.1/32"), tagged(1));
        let snapshot = table.clone();
        batch.announce(&mut table, net("10.0.0.2/32"), tagged(1));
        assert_eq!(snapshot.v4.len(), 1);
        assert_eq!(table.v4.len(), 2);
    }

    #[test]
    fn host_bits_are_cleared() {
        let mut table = Arc::new(RouteTable::default());
        let mut batch = Batch::default();
        batch.announce(&mut table, net("10.0.0.7/24"), tagged(1));
        assert!(
            table
                .v4
                .contains_key(&"10.0.0.0/24".parse().expect("prefix"))
        );
    }
}
