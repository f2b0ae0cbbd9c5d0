//! Pool address blocks: CIDRs and start-end ranges, IPv4 and IPv6.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }

    /// The other family.
    pub fn other(self) -> Self {
        match self {
            Self::V4 => Self::V6,
            Self::V6 => Self::V4,
        }
    }

    /// 0 for IPv4, 1 for IPv6: the index into per-family arrays.
    pub fn index(self) -> usize {
        match self {
            Self::V4 => 0,
            Self::V6 => 1,
        }
    }

    /// Address width in bits: 32 or 128.
    pub fn bits(self) -> u8 {
        match self {
            Self::V4 => 32,
            Self::V6 => 128,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        })
    }
}

/// An inclusive range of addresses of one family, `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpRange {
    start: IpAddr,
    end: IpAddr,
}

/// Why two addresses do not make a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFault {
    /// One IPv4 and one IPv6 end.
    MixedFamily,
    /// start > end.
    StartAfterEnd,
}

impl IpRange {
    /// A range from `start` to `end` inclusive.
    pub fn new(start: IpAddr, end: IpAddr) -> Result<Self, RangeFault> {
        if IpFamily::of(start) != IpFamily::of(end) {
            Err(RangeFault::MixedFamily)
        } else if start > end {
            Err(RangeFault::StartAfterEnd)
        } else {
            Ok(Self { start, end })
        }
    }

    /// First address.
    pub fn start(&self) -> IpAddr {
        self.start
    }

    /// Last address.
    pub fn end(&self) -> IpAddr {
        self.end
    }

    /// Family of both ends.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(self.start)
    }

    /// True when `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        IpFamily::of(ip) == self.family() && self.start <= ip && ip <= self.end
    }

    /// Number of addresses in the range.
    pub fn len(&self) -> u128 {
        // Saturates only for the whole IPv6 space (2^128 addresses).
        (to_u128(self.end) - to_u128(self.start)).saturating_add(1)
    }

    /// Never empty: a range holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The smallest list of CIDRs that together cover exactly this range, in order.
    pub fn to_cidrs(&self) -> Vec<IpNet> {
        let bits = self.family().bits();
        let mut out = Vec::new();
        let mut start = to_u128(self.start);
        let end = to_u128(self.end);
        loop {
            // Largest block aligned at `start` that does not pass `end`.
            let align = if start == 0 {
                u32::from(bits)
            } else {
                start.trailing_zeros()
            };
            let mut size_log = align.min(u32::from(bits));
            while size_log > 0 && block_last(start, size_log) > end {
                size_log -= 1;
            }
            let prefix = bits - u8::try_from(size_log).unwrap_or(bits);
            out.push(make_net(self.family(), start, prefix));
            let last = block_last(start, size_log);
            if last >= end {
                break;
            }
            start = last + 1;
        }
        out
    }

    /// True when the two ranges share an address.
    pub fn overlaps(&self, other: &IpRange) -> bool {
        self.family() == other.family() && self.start <= other.end && other.start <= self.end
    }
}

fn block_last(start: u128, size_log: u32) -> u128 {
    if size_log >= 128 {
        u128::MAX
    } else {
        start | ((1u128 << size_log) - 1)
    }
}

fn make_net(family: IpFamily, value: u128, prefix: u8) -> IpNet {
    match family {
        IpFamily::V4 => {
            let addr = Ipv4Addr::from(u32::try_from(value).unwrap_or(u32::MAX));
            IpNet::V4(Ipv4Net::new(addr, prefix).unwrap_or_else(|_| Ipv4Net::from(addr)))
        }
        IpFamily::V6 => {
            let addr = Ipv6Addr::from(value);
            IpNet::V6(Ipv6Net::new(addr, prefix).unwrap_or_else(|_| Ipv6Net::from(addr)))
        }
    }
}

/// The address as an integer (IPv4 in the low 32 bits).
pub(crate) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// One entry of a pool's `addresses`: a CIDR or an explicit range, as the user wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddressBlock {
    /// A prefix such as `192.168.1.0/24` (host bits cleared).
    Cidr(IpNet),
    /// A range such as `10.0.0.10-10.0.0.20`.
    Range(IpRange),
}

/// Why an address-pool entry does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockFault {
    /// Not a CIDR, address, or range at all.
    Syntax,
    /// A CIDR whose prefix length is not valid for its family.
    PrefixLength,
    /// A range end that is not an address.
    BadRangeEnd,
    /// See [`RangeFault`].
    Range(RangeFault, IpAddr, IpAddr),
}

impl AddressBlock {
    /// Parses `10.0.0.0/24`, `2001:db8::/120`, `10.0.0.10-10.0.0.20` (spaces around `-`
    /// allowed), or a single address (a /32 or /128).
    pub fn parse(text: &str) -> Result<Self, BlockFault> {
        let text = text.trim();
        if let Some((start, end)) = text.split_once('-') {
            let start: IpAddr = start.trim().parse().map_err(|_| BlockFault::BadRangeEnd)?;
            let end: IpAddr = end.trim().parse().map_err(|_| BlockFault::BadRangeEnd)?;
            return IpRange::new(start, end)
                .map(Self::Range)
                .map_err(|fault| BlockFault::Range(fault, start, end));
        }
        if let Some((addr, len)) = text.split_once('/') {
            let addr: IpAddr = addr.trim().parse().map_err(|_| BlockFault::Syntax)?;
            let len: u8 = len.trim().parse().map_err(|_| BlockFault::PrefixLength)?;
            return IpNet::new(addr, len)
                .map(|net| Self::Cidr(net.trunc()))
                .map_err(|_| BlockFault::PrefixLength);
        }
        let addr: IpAddr = text.parse().map_err(|_| BlockFault::Syntax)?;
        Ok(Self::Cidr(IpNet::from(addr)))
    }

    /// First address.
    pub fn first(&self) -> IpAddr {
        match self {
            Self::Cidr(net) => net.network(),
            Self::Range(r) => r.start(),
        }
    }

    /// Last address.
    pub fn last(&self) -> IpAddr {
        match self {
            Self::Cidr(net) => net.broadcast(),
            Self::Range(r) => r.end(),
        }
    }

    /// The block as a range.
    pub fn range(&self) -> IpRange {
        IpRange {
            start: self.first(),
            end: self.last(),
        }
    }

    /// Family of the block.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(self.first())
    }

    /// True when `ip` is in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.range().contains(ip)
    }

    /// Number of addresses in the block.
    pub fn len(&self) -> u128 {
        self.range().len()
    }

    /// Never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The block as CIDRs (one for a CIDR; the minimal cover for a range).
    pub fn to_cidrs(&self) -> Vec<IpNet> {
        match self {
            Self::Cidr(net) => vec![*net],
            Self::Range(r) => r.to_cidrs(),
        }
    }

    /// The shortest prefix length among [`Self::to_cidrs`]: MetalLB's bound for
    /// aggregation-length.
    pub fn shortest_prefix_len(&self) -> u8 {
        self.to_cidrs()
            .iter()
            .map(IpNet::prefix_len)
            .min()
            .unwrap_or(self.family().bits())
    }
}

impl fmt::Display for AddressBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cidr(net) => write!(f, "{net}"),
            Self::Range(r) => write!(f, "{r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_parse_in_every_form() {
        assert_eq!(
            AddressBlock::parse("192.168.1.7/24"),
            Ok(AddressBlock::Cidr("192.168.1.0/24".parse().unwrap()))
        );
        assert_eq!(
            AddressBlock::parse("10.0.0.10 - 10.0.0.20"),
            Ok(AddressBlock::Range(
                IpRange::new(ip("10.0.0.10"), ip("10.0.0.20")).unwrap()
            ))
        );
        assert_eq!(
            AddressBlock::parse("2001:db8::1-2001:db8::ff").map(|b| b.len()),
            Ok(255)
        );
        assert_eq!(
            AddressBlock::parse("10.1.1.1"),
            Ok(AddressBlock::Cidr("10.1.1.1/32".parse().unwrap()))
        );
    }

    #[test]
    fn bad_blocks_say_why() {
        assert_eq!(
            AddressBlock::parse("10.0.0.0/33"),
            Err(BlockFault::PrefixLength)
        );
        assert_eq!(AddressBlock::parse("10.0.0/24"), Err(BlockFault::Syntax));
        assert_eq!(AddressBlock::parse("nonsense"), Err(BlockFault::Syntax));
        assert_eq!(
            AddressBlock::parse("10.0.0.1-x"),
            Err(BlockFault::BadRangeEnd)
        );
        assert_eq!(
            AddressBlock::parse("10.0.0.20-10.0.0.10"),
            Err(BlockFault::Range(
                RangeFault::StartAfterEnd,
                ip("10.0.0.20"),
                ip("10.0.0.10")
            ))
        );
        assert_eq!(
            AddressBlock::parse("10.0.0.1-::1"),
            Err(BlockFault::Range(
                RangeFault::MixedFamily,
                ip("10.0.0.1"),
                ip("::1")
            ))
        );
    }

    #[test]
    fn range_splits_into_minimal_cidrs() {
        let r = IpRange::new(ip("10.0.0.10"), ip("10.0.0.20")).unwrap();
        let cidrs: Vec<String> = r.to_cidrs().iter().map(ToString::to_string).collect();
        assert_eq!(
            cidrs,
            [
                "10.0.0.10/31",
                "10.0.0.12/30",
                "10.0.0.16/30",
                "10.0.0.20/32"
            ]
        );
        let all = IpRange::new(ip("0.0.0.0"), ip("255.255.255.255")).unwrap();
        assert_eq!(all.to_cidrs(), vec!["0.0.0.0/0".parse::<IpNet>().unwrap()]);
        let v6 = IpRange::new(ip("::"), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).unwrap();
        assert_eq!(v6.to_cidrs(), vec!["::/0".parse::<IpNet>().unwrap()]);
        let aligned = AddressBlock::parse("192.168.1.0-192.168.1.255").unwrap();
        assert_eq!(aligned.shortest_prefix_len(), 24);
    }

    #[test]
    fn contains_respects_family_and_bounds() {
        let b = AddressBlock::parse("10.0.0.0/30").unwrap();
        assert!(b.contains(ip("10.0.0.3")));
        assert!(!b.contains(ip("10.0.0.4")));
        assert!(!b.contains(ip("::a00:1")));
    }
}
