//! What a route we originate carries besides its prefix.

use std::fmt;

use crate::packet::{Community, ExtendedCommunity, LargeCommunity, Origin};

/// What a route carries besides its prefix. AS_PATH, NEXT_HOP and the family encoding
/// are per session and filled in by the speaker.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouteAttributes {
    pub origin: Origin,
    pub med: Option<u32>,
    /// Sent to iBGP peers only (100 when unset).
    pub local_pref: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    pub extended_communities: Vec<ExtendedCommunity>,
    /// Sent as the link bandwidth extended community (draft-ietf-idr-link-bandwidth),
    /// in bytes per second, with the session's local AS: routers with weighted ECMP
    /// split traffic over paths in proportion to it.
    pub link_bandwidth: Option<u32>,
}

impl Default for RouteAttributes {
    fn default() -> Self {
        RouteAttributes {
            origin: Origin::Igp,
            med: None,
            local_pref: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
            extended_communities: Vec::new(),
            link_bandwidth: None,
        }
    }
}

impl fmt::Display for RouteAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "origin {:?}", self.origin)?;
        if let Some(med) = self.med {
            write!(f, " med {med}")?;
        }
        if let Some(local_pref) = self.local_pref {
            write!(f, " local-pref {local_pref}")?;
        }
        for community in &self.communities {
            write!(
                f,
                " community {}:{}",
                community.0 >> 16,
                community.0 & 0xFFFF
            )?;
        }
        for large in &self.large_communities {
            write!(
                f,
                " large {}:{}:{}",
                large.global_admin, large.local_data1, large.local_data2
            )?;
        }
        for extended in &self.extended_communities {
            write!(f, " extended {extended}")?;
        }
        if let Some(bandwidth) = self.link_bandwidth {
            write!(f, " link-bandwidth {bandwidth}")?;
        }
        Ok(())
    }
}
