//! The free addresses of one pool and family, as a map of disjoint inclusive intervals.
//!
//! "Lowest free address" is the start of the first interval, so allocation and release are
//! O(log n) in the number of intervals, and a /64 costs one entry, not 2^64.

use std::collections::BTreeMap;

/// Disjoint, non-adjacent inclusive intervals `start -> end` of free addresses.
///
/// Addresses are `u128` for both families (an IPv4 address is its `u32` value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FreeSet {
    intervals: BTreeMap<u128, u128>,
}

impl FreeSet {
    /// A set holding every address of `ranges`, which must be sorted and disjoint.
    pub fn from_ranges(ranges: &[(u128, u128)]) -> Self {
        let mut set = Self::default();
        let mut pending: Option<(u128, u128)> = None;
        for &(start, end) in ranges {
            pending = match pending {
                Some((s, e)) if e.checked_add(1) == Some(start) => Some((s, end)),
                Some((s, e)) => {
                    set.intervals.insert(s, e);
                    Some((start, end))
                }
                None => Some((start, end)),
            };
        }
        if let Some((s, e)) = pending {
            set.intervals.insert(s, e);
        }
        set
    }

    /// The lowest free address. With `avoid_buggy_v4`, IPv4 addresses ending in `.0` or
    /// `.255` are skipped, and dropped from the set as they are met: they can never be
    /// handed out from such a pool, so each is passed over once, not on every call.
    pub fn lowest(&mut self, avoid_buggy_v4: bool) -> Option<u128> {
        loop {
            let (&start, &end) = self.intervals.first_key_value()?;
            if !avoid_buggy_v4 {
                return Some(start);
            }
            let candidate = match start % 256 {
                255 => start + 2,
                0 => start + 1,
                _ => return Some(start),
            };
            self.intervals.remove(&start);
            if candidate <= end {
                self.intervals.insert(candidate, end);
                return Some(candidate);
            }
        }
    }

    pub fn contains(&self, addr: u128) -> bool {
        self.intervals
            .range(..=addr)
            .next_back()
            .is_some_and(|(_, &end)| end >= addr)
    }

    /// Marks `addr` as used. Returns false if it was not free.
    pub fn take(&mut self, addr: u128) -> bool {
        let Some((&start, &end)) = self.intervals.range(..=addr).next_back() else {
            return false;
        };
        if end < addr {
            return false;
        }
        self.intervals.remove(&start);
        if start < addr {
            self.intervals.insert(start, addr - 1);
        }
        if addr < end {
            self.intervals.insert(addr + 1, end);
        }
        true
    }

    /// Marks `addr` as free again, merging it with adjacent intervals.
    pub fn give(&mut self, addr: u128) {
        if self.contains(addr) {
            return;
        }
        let mut start = addr;
        let mut end = addr;
        if let Some((&prev_start, &prev_end)) = self.intervals.range(..addr).next_back()
            && prev_end + 1 == addr
        {
            start = prev_start;
        }
        if let Some(next_end) = addr
            .checked_add(1)
            .and_then(|next_start| self.intervals.remove(&next_start))
        {
            end = next_end;
        }
        self.intervals.insert(start, end);
    }

    /// Number of intervals, for tests and benchmarks of the representation.
    #[cfg(test)]
    pub fn interval_count(&self) -> usize {
        self.intervals.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_is_the_first_interval_start() {
        let mut set = FreeSet::from_ranges(&[(10, 20), (30, 40)]);
        assert_eq!(set.lowest(false), Some(10));
        assert!(set.take(10));
        assert_eq!(set.lowest(false), Some(11));
    }

    #[test]
    fn adjacent_ranges_merge() {
        let set = FreeSet::from_ranges(&[(10, 20), (21, 40)]);
        assert_eq!(set.interval_count(), 1);
    }

    #[test]
    fn take_splits_and_give_merges_back() {
        let mut set = FreeSet::from_ranges(&[(0, 9)]);
        assert!(set.take(5));
        assert_eq!(set.interval_count(), 2);
        assert!(!set.contains(5));
        assert!(!set.take(5));
        set.give(5);
        assert_eq!(set.interval_count(), 1);
        assert!(set.contains(5));
    }

    #[test]
    fn give_of_a_free_address_changes_nothing() {
        let mut set = FreeSet::from_ranges(&[(0, 9)]);
        set.give(3);
        set.give(0);
        assert_eq!(set, FreeSet::from_ranges(&[(0, 9)]));
    }

    #[test]
    fn take_outside_is_refused() {
        let mut set = FreeSet::from_ranges(&[(10, 20)]);
        assert!(!set.take(9));
        assert!(!set.take(21));
    }

    #[test]
    fn avoiding_buggy_skips_dot_zero_and_dot_255() {
        // 10.0.0.254 .. 10.0.1.2 as u32 values.
        let base = u128::from(u32::from(std::net::Ipv4Addr::new(10, 0, 0, 254)));
        let mut set = FreeSet::from_ranges(&[(base, base + 4)]);
        assert_eq!(set.lowest(true), Some(base));
        assert!(set.take(base));
        // .255 and .0 are passed over.
        assert_eq!(set.lowest(true), Some(base + 3));
    }

    #[test]
    fn an_interval_of_only_buggy_addresses_is_dropped() {
        let mut set = FreeSet::from_ranges(&[(255, 256), (300, 301)]);
        assert_eq!(set.lowest(true), Some(300));
        assert_eq!(set.interval_count(), 1);
    }

    #[test]
    fn full_ipv6_space_is_one_interval() {
        let mut set = FreeSet::from_ranges(&[(0, u128::MAX)]);
        assert!(set.take(u128::MAX));
        assert!(set.take(0));
        set.give(u128::MAX);
        set.give(0);
        assert_eq!(set.interval_count(), 1);
    }
}
