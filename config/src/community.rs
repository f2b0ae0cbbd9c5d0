//! BGP communities: standard (RFC 1997, `A:B`, two 16-bit halves) and large (RFC 8092,
//! `A:B:C`, three 32-bit parts), plus the well-known names.

use std::fmt;
use std::str::FromStr;

use crate::error::CommunityFault;

/// A BGP community value, resolved to numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Community {
    /// RFC 1997 community: high 16 bits = AS, low 16 bits = value.
    Standard(u32),
    /// RFC 8092 large community.
    Large {
        /// Global Administrator (an ASN).
        global_admin: u32,
        /// Local Data Part 1.
        local_data1: u32,
        /// Local Data Part 2.
        local_data2: u32,
    },
}

/// Well-known community names accepted without an alias, with their values.
pub const WELL_KNOWN: &[(&str, u32)] = &[
    ("graceful-shutdown", 0xFFFF_0000),   // RFC 8326
    ("accept-own", 0xFFFF_0001),          // RFC 7611
    ("llgr-stale", 0xFFFF_0006),          // RFC 9494
    ("no-llgr", 0xFFFF_0007),             // RFC 9494
    ("blackhole", 0xFFFF_029A),           // RFC 7999
    ("no-export", 0xFFFF_FF01),           // RFC 1997
    ("no-advertise", 0xFFFF_FF02),        // RFC 1997
    ("no-export-subconfed", 0xFFFF_FF03), // RFC 1997
    ("local-as", 0xFFFF_FF03),            // RFC 1997 (FRR's name for NO_EXPORT_SUBCONFED)
    ("no-peer", 0xFFFF_FF04),             // RFC 3765
];

impl Community {
    /// A standard community from its two halves.
    pub fn standard(asn: u16, value: u16) -> Self {
        Self::Standard((u32::from(asn) << 16) | u32::from(value))
    }

    /// The value of a well-known community name such as `no-export`.
    pub fn well_known(name: &str) -> Option<Self> {
        WELL_KNOWN
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| Self::Standard(v))
    }

    /// True for RFC 8092 large communities.
    pub fn is_large(&self) -> bool {
        matches!(self, Self::Large { .. })
    }
}

impl FromStr for Community {
    type Err = CommunityFault;

    /// Parses a literal `A:B` or `A:B:C` (names are resolved by the config parser).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let numbers = parts
            .iter()
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    Err(CommunityFault::NotANumber)
                } else {
                    Ok(p.parse::<u64>().unwrap_or(u64::MAX))
                }
            })
            .collect::<Result<Vec<u64>, _>>();
        match (parts.len(), numbers) {
            (2 | 3, Err(fault)) => Err(fault),
            (2, Ok(n)) => {
                let asn = u16::try_from(n[0]).map_err(|_| CommunityFault::StandardPartTooLarge)?;
                let value =
                    u16::try_from(n[1]).map_err(|_| CommunityFault::StandardPartTooLarge)?;
                Ok(Self::standard(asn, value))
            }
            (3, Ok(n)) => {
                let part = |v: u64| u32::try_from(v).map_err(|_| CommunityFault::LargePartTooLarge);
                Ok(Self::Large {
                    global_admin: part(n[0])?,
                    local_data1: part(n[1])?,
                    local_data2: part(n[2])?,
                })
            }
            _ => Err(CommunityFault::PartCount),
        }
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Standard(v) => write!(f, "{}:{}", v >> 16, v & 0xFFFF),
            Self::Large {
                global_admin,
                local_data1,
                local_data2,
            } => {
                write!(f, "{global_admin}:{local_data1}:{local_data2}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_large_literals_parse() {
        assert_eq!("65535:65281".parse(), Ok(Community::Standard(0xFFFF_FF01)));
        assert_eq!("64500:1".parse(), Ok(Community::standard(64500, 1)));
        assert_eq!(
            "4200000000:1:2".parse(),
            Ok(Community::Large {
                global_admin: 4_200_000_000,
                local_data1: 1,
                local_data2: 2
            })
        );
    }

    #[test]
    fn malformed_literals_say_why() {
        assert_eq!("1".parse::<Community>(), Err(CommunityFault::PartCount));
        assert_eq!(
            "1:2:3:4".parse::<Community>(),
            Err(CommunityFault::PartCount)
        );
        assert_eq!("a:1".parse::<Community>(), Err(CommunityFault::NotANumber));
        assert_eq!("1:".parse::<Community>(), Err(CommunityFault::NotANumber));
        assert_eq!(
            "70000:1".parse::<Community>(),
            Err(CommunityFault::StandardPartTooLarge)
        );
        assert_eq!(
            "1:2:4294967296".parse::<Community>(),
            Err(CommunityFault::LargePartTooLarge)
        );
    }

    #[test]
    fn well_known_names_resolve() {
        assert_eq!(
            Community::well_known("no-export"),
            Some(Community::Standard(0xFFFF_FF01))
        );
        assert_eq!(
            Community::well_known("NO-ADVERTISE"),
            Some(Community::Standard(0xFFFF_FF02))
        );
        assert_eq!(
            Community::well_known("graceful-shutdown"),
            Some(Community::standard(65535, 0))
        );
        assert_eq!(Community::well_known("gold"), None);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "0:0",
            "65535:65282",
            "64500:1",
            "1:2:3",
            "4294967295:0:4294967295",
        ] {
            assert_eq!(
                s.parse::<Community>().map(|c| c.to_string()),
                Ok(s.to_string())
            );
        }
    }
}
