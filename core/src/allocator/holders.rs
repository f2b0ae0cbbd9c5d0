//! The Services holding one address: almost always one, so one is kept inline.

use std::sync::Arc;

use crate::types::ServiceKey;

/// Holders of one address, sorted by key, never empty while stored.
#[derive(Debug, Clone)]
pub(crate) enum Holders {
    One(Arc<ServiceKey>),
    Many(Vec<Arc<ServiceKey>>),
}

impl Holders {
    pub fn as_slice(&self) -> &[Arc<ServiceKey>] {
        match self {
            Holders::One(key) => std::slice::from_ref(key),
            Holders::Many(keys) => keys,
        }
    }

    /// Adds `key` in order; nothing if present.
    pub fn insert(&mut self, key: Arc<ServiceKey>) {
        match self {
            Holders::One(existing) => {
                if *existing == key {
                    return;
                }
                let mut keys = vec![existing.clone(), key];
                keys.sort();
                *self = Holders::Many(keys);
            }
            Holders::Many(keys) => {
                if let Err(at) = keys.binary_search(&key) {
                    keys.insert(at, key);
                }
            }
        }
    }

    /// Removes `key`; returns true if no holder is left.
    pub fn remove(&mut self, key: &ServiceKey) -> bool {
        match self {
            Holders::One(existing) => **existing == *key,
            Holders::Many(keys) => {
                if let Ok(at) = keys.binary_search_by(|k| k.as_ref().cmp(key)) {
                    keys.remove(at);
                }
                match keys.as_slice() {
                    [] => true,
                    [last] => {
                        *self = Holders::One(last.clone());
                        false
                    }
                    _ => false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Arc<ServiceKey> {
        Arc::new(ServiceKey::new("ns", name))
    }

    #[test]
    fn holders_stay_sorted_and_shrink_back_to_one() {
        let mut holders = Holders::One(key("b"));
        holders.insert(key("c"));
        holders.insert(key("a"));
        holders.insert(key("a"));
        let names: Vec<&str> = holders.as_slice().iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(!holders.remove(&key("b")));
        assert!(!holders.remove(&key("a")));
        assert!(matches!(holders, Holders::One(_)));
        assert!(holders.remove(&key("c")));
    }

    #[test]
    fn removing_a_stranger_from_one_holder_leaves_it() {
        let mut holders = Holders::One(key("a"));
        assert!(!holders.remove(&key("b")));
    }
}
