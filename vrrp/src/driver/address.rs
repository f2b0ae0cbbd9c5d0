//! The virtual addresses on the interface: the master adds them, the loser removes
//! them.
//!
//! Herald marks every address it adds, so that a speaker restarted after a crash can
//! tell its own leftovers from the node's addresses ([`remove_stale`]):
//! - `IFA_PROTO` = [`ADDRESS_PROTO`] on both families (Linux 6.1 and later keep it;
//!   `ip -d addr` shows it as `proto 0x48`). This is the mark for IPv6, which has no
//!   labels;
//! - on IPv4 also the label `<ifname>:hv` (when it fits the kernel's 15 characters),
//!   which every kernel keeps and `ip addr` shows.
//!
//! Addresses are host routes (/32, /128) with the node's own MAC, as keepalived adds
//! them by default; IPv6 ones without duplicate address detection (`IFA_F_NODAD`), so
//! a takeover is usable at once. The loser removes each of its virtual addresses it
//! finds, marked or not: a VRRP address belongs to whoever is master.

use std::io;
use std::net::IpAddr;

use tracing::{debug, warn};

use super::error::DriverError;
use super::netlink::{IFA_F_NODAD, InterfaceAddress, Netlink, NewAddress};

/// The `IFA_PROTO` value of the addresses Herald adds ('H').
pub const ADDRESS_PROTO: u8 = 0x48;
/// The suffix of the IPv4 label of the addresses Herald adds.
pub const LABEL_SUFFIX: &str = ":hv";
/// `IFNAMSIZ - 1`: the longest label the kernel keeps.
const MAX_LABEL_LEN: usize = 15;

/// The addresses of one interface.
#[derive(Debug)]
pub(crate) struct InterfaceAddresses {
    netlink: Netlink,
    index: u32,
    label: Option<String>,
}

impl InterfaceAddresses {
    pub(crate) fn new(netlink: Netlink, ifname: &str, index: u32) -> Self {
        InterfaceAddresses {
            netlink,
            index,
            label: label(ifname),
        }
    }

    pub(crate) fn list(&self) -> io::Result<Vec<InterfaceAddress>> {
        self.netlink.addresses(self.index)
    }

    /// Adds the addresses the interface does not have yet; returns how many it added.
    pub(crate) fn add(&self, addresses: impl Iterator<Item = IpAddr>) -> io::Result<usize> {
        let mut added = 0;
        for address in addresses {
            let (prefix_len, flags, label) = match address {
                IpAddr::V4(_) => (32, 0, self.label.as_deref()),
                IpAddr::V6(_) => (128, IFA_F_NODAD, None),
            };
            let new = NewAddress {
                index: self.index,
                address,
                prefix_len,
                flags,
                label,
                proto: ADDRESS_PROTO,
            };
            match self.netlink.add(&new) {
                Ok(()) => added += 1,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    debug!(%address, "already on the interface");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(added)
    }

    /// Removes each of `addresses` the interface has, with whatever prefix length;
    /// returns how many it removed.
    pub(crate) fn remove(&self, addresses: impl Iterator<Item = IpAddr>) -> io::Result<usize> {
        let wanted: Vec<IpAddr> = addresses.collect();
        let present = self.list()?;
        let mut removed = 0;
        for found in present.iter().filter(|a| wanted.contains(&a.address)) {
            if !is_herald(found, self.label.as_deref()) {
                warn!(address = %found.address, "removing a virtual address Herald did not add");
            }
            match self
                .netlink
                .remove(self.index, found.address, found.prefix_len)
            {
                Ok(()) => removed += 1,
                // Removed by someone else in the meantime.
                Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// Removes every address marked as Herald's.
    pub(crate) fn remove_marked(&self) -> io::Result<Vec<IpAddr>> {
        let marked: Vec<IpAddr> = self
            .list()?
            .into_iter()
            .filter(|a| is_herald(a, self.label.as_deref()))
            .map(|a| a.address)
            .collect();
        self.remove(marked.iter().copied())?;
        Ok(marked)
    }
}

/// Whether Herald added `address` (see the module documentation for the marks).
pub(crate) fn is_herald(address: &InterfaceAddress, label: Option<&str>) -> bool {
    address.proto == Some(ADDRESS_PROTO)
        || (label.is_some() && address.label.as_deref() == label && address.address.is_ipv4())
}

/// `<ifname>:hv`, or nothing when that is longer than the kernel keeps.
fn label(ifname: &str) -> Option<String> {
    let label = format!("{ifname}{LABEL_SUFFIX}");
    (label.len() <= MAX_LABEL_LEN).then_some(label)
}

/// Removes every address marked as Herald's from interface `ifname` (a speaker's
/// leftovers after a crash); returns them. Call it once at startup, before any
/// instance runs on the interface.
pub fn remove_stale(ifname: &str) -> Result<Vec<IpAddr>, DriverError> {
    let netlink = Netlink::open().map_err(DriverError::netlink("open"))?;
    let link = netlink
        .link(ifname)
        .map_err(|source| DriverError::Interface {
            ifname: ifname.to_owned(),
            source,
        })?;
    InterfaceAddresses::new(netlink, ifname, link.index)
        .remove_marked()
        .map_err(DriverError::netlink("remove stale addresses"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn address(address: IpAddr, label: Option<&str>, proto: Option<u8>) -> InterfaceAddress {
        InterfaceAddress {
            index: 2,
            address,
            prefix_len: 32,
            scope: 0,
            flags: 0,
            label: label.map(str::to_owned),
            proto,
        }
    }

    #[test]
    fn the_label_is_the_interface_name_and_a_suffix_when_it_fits() {
        assert_eq!(label("eth0").as_deref(), Some("eth0:hv"));
        assert_eq!(label("enp129s0f1np1").as_deref(), None);
    }

    #[test]
    fn an_address_is_herald_s_by_proto_or_by_ipv4_label() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let label = Some("eth0:hv");
        assert!(is_herald(&address(v4, None, Some(ADDRESS_PROTO)), label));
        assert!(is_herald(&address(v6, None, Some(ADDRESS_PROTO)), label));
        assert!(is_herald(&address(v4, Some("eth0:hv"), None), label));
        assert!(!is_herald(&address(v4, Some("eth0"), None), label));
        assert!(!is_herald(&address(v4, Some("eth0"), Some(0)), label));
        assert!(!is_herald(&address(v6, None, None), label));
    }
}
