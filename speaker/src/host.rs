//! What the host's interfaces hold, read with getifaddrs(3): the one place the speaker
//! asks the kernel about its own addresses. The BGP driver takes a fallback identifier
//! from them; the L2 plan finds the NIC whose subnet holds a Service address.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

/// One address of one interface, with its prefix (the subnet it is on).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InterfaceAddress {
    /// The interface's name (an IPv4 address label `eth0:1` is read as `eth0`).
    pub interface: String,
    /// The address and the prefix length of its subnet (`172.30.0.11/24`).
    pub network: IpNet,
    /// A VRRP address Herald holds (IPv4 label `<ifname>:hv`): it belongs to whichever
    /// node is master, not to this host.
    pub herald_vrrp: bool,
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
            if !entry.interface_name.contains(':') {
                host.names.insert(entry.interface_name.clone());
            }
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
                // getifaddrs names an IPv4 address by its label, which may extend the
                // interface's name after a colon.
                let name = &entry.interface_name;
                host.addresses.push(InterfaceAddress {
                    interface: name.split(':').next().unwrap_or(name).to_owned(),
                    herald_vrrp: name.ends_with(vrrp::driver::LABEL_SUFFIX),
                    network,
                });
            }
        }
        host
    }

    /// The addresses on interfaces other than `lo`, without the VRRP addresses Herald
    /// holds.
    pub fn non_loopback(&self) -> Vec<IpAddr> {
        self.addresses
            .iter()
            .filter(|a| a.interface != "lo" && !a.herald_vrrp)
            .map(|a| a.network.addr())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_addresses_leave_out_loopback_and_the_vrrp_addresses_herald_holds() {
        let address = |interface: &str, network: &str, herald_vrrp| InterfaceAddress {
            interface: interface.into(),
            network: network.parse().expect("net"),
            herald_vrrp,
        };
        let host = HostInterfaces {
            names: ["lo", "eth0"].map(String::from).into(),
            addresses: vec![
                address("lo", "127.0.0.1/8", false),
                address("eth0", "172.30.0.11/24", false),
                address("eth0", "172.30.0.2/32", true),
            ],
        };
        assert_eq!(
            host.non_loopback(),
            ["172.30.0.11".parse::<IpAddr>().expect("ip")]
        );
    }
}
