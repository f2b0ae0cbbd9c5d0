//! What the host's interfaces hold, read with getifaddrs(3): the one place the speaker
//! asks the kernel about its own addresses. The BGP driver takes a fallback identifier
//! from them; the L2 plan finds the NIC whose subnet holds a Service address.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

/// One address of one interface, with its prefix (the subnet it is on).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InterfaceAddress {
    pub interface: String,
    /// The address and the prefix length of its subnet (`172.30.0.11/24`).
    pub network: IpNet,
}

/// The host's interfaces and their addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostInterfaces {
    /// Every interface name, with or without addresses.
    pub names: BTreeSet<String>,
    /// Every IPv4 and IPv6 address, `lo` included.
    pub addresses: Vec<InterfaceAddress>,
}

impl HostInterfaces {
    /// Reads them now (empty if getifaddrs fails).
    pub fn read() -> Self {
        let mut host = HostInterfaces::default();
        let Ok(entries) = nix::ifaddrs::getifaddrs() else {
            return host;
        };
        for entry in entries {
            host.names.insert(entry.interface_name.clone());
            let Some(address) = entry.address else {
                continue;
            };
            let network = if let Some(v4) = address.as_sockaddr_in() {
                let prefix = entry
                    .netmask
                    .as_ref()
                    .and_then(|mask| mask.as_sockaddr_in())
                    .map_or(32, |mask| u32::from(mask.ip()).count_ones());
                IpNet::new(IpAddr::V4(v4.ip()), u8::try_from(prefix).unwrap_or(32))
            } else if let Some(v6) = address.as_sockaddr_in6() {
                let prefix = entry
                    .netmask
                    .as_ref()
                    .and_then(|mask| mask.as_sockaddr_in6())
                    .map_or(128, |mask| u128::from(mask.ip()).count_ones());
                IpNet::new(IpAddr::V6(v6.ip()), u8::try_from(prefix).unwrap_or(128))
            } else {
                continue;
            };
            if let Ok(network) = network {
                host.addresses.push(InterfaceAddress {
                    interface: entry.interface_name,
                    network,
                });
            }
        }
        host
    }

    /// The addresses on interfaces other than `lo`.
    pub fn non_loopback(&self) -> Vec<IpAddr> {
        self.addresses
            .iter()
            .filter(|a| a.interface != "lo")
            .map(|a| a.network.addr())
            .collect()
    }
}
