//! Telling the segment where the virtual addresses are now: a gratuitous ARP request
//! per IPv4 address (RFC 5798 section 6.4.2 / RFC 5227) on an `AF_PACKET` socket, an
//! unsolicited Neighbor Advertisement per IPv6 address (RFC 4861 section 7.2.6) on an
//! ICMPv6 raw socket. Both carry the interface's own MAC: Herald uses no virtual MAC.
//!
//! The frames are built by pure functions; [`Announcer`] only sends them.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::error::DriverError;
use super::sockopt::link_layer_address;
use crate::packet::HOP_LIMIT;

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IP: u16 = 0x0800;
const BROADCAST: [u8; 6] = [0xff; 6];
/// All-nodes, where unsolicited NAs go (RFC 4861 section 7.2.6).
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// Router and Override flags: the master is a router, and its MAC replaces the one
/// the neighbours have cached.
const FLAGS_ROUTER_OVERRIDE: u8 = 0x80 | 0x20;
const OPTION_TARGET_LINK_LAYER: u8 = 2;

/// A gratuitous ARP request for `address` from `mac` (sender and target protocol
/// address both `address`; target hardware address all ones, as keepalived sends it).
pub(crate) fn gratuitous_arp(address: Ipv4Addr, mac: [u8; 6]) -> [u8; 28] {
    let mut frame = [0u8; 28];
    frame[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    frame[2..4].copy_from_slice(&ETH_P_IP.to_be_bytes());
    frame[4] = 6;
    frame[5] = 4;
    frame[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
    frame[8..14].copy_from_slice(&mac);
    frame[14..18].copy_from_slice(&address.octets());
    frame[18..24].copy_from_slice(&BROADCAST);
    frame[24..28].copy_from_slice(&address.octets());
    frame
}

/// An unsolicited Neighbor Advertisement for `address` with `mac` as its target
/// link-layer address. The checksum is left zero: the kernel fills it in for ICMPv6
/// raw sockets.
pub(crate) fn unsolicited_na(address: Ipv6Addr, mac: [u8; 6]) -> [u8; 32] {
    let mut message = [0u8; 32];
    message[0] = NEIGHBOR_ADVERTISEMENT;
    message[4] = FLAGS_ROUTER_OVERRIDE;
    message[8..24].copy_from_slice(&address.octets());
    message[24] = OPTION_TARGET_LINK_LAYER;
    message[25] = 1; // in units of 8 octets
    message[26..32].copy_from_slice(&mac);
    message
}

/// The sockets that announce the addresses of one family on one interface.
#[derive(Debug)]
pub(crate) struct Announcer {
    socket: Socket,
    mac: [u8; 6],
    destination: SockAddr,
}

impl Announcer {
    pub(crate) fn open(
        ifname: &str,
        index: u32,
        mac: [u8; 6],
        ipv6: bool,
    ) -> Result<Self, DriverError> {
        let (socket, destination) = if ipv6 {
            let socket = Socket::new(Domain::IPV6, Type::RAW.cloexec(), Some(Protocol::ICMPV6))
                .map_err(DriverError::socket("open ICMPv6 socket"))?;
            socket
                .bind_device(Some(ifname.as_bytes()))
                .map_err(DriverError::socket("SO_BINDTODEVICE"))?;
            socket
                .set_multicast_if_v6(index)
                .map_err(DriverError::socket("IPV6_MULTICAST_IF"))?;
            socket
                .set_multicast_hops_v6(u32::from(HOP_LIMIT))
                .map_err(DriverError::socket("IPV6_MULTICAST_HOPS"))?;
            socket
                .set_multicast_loop_v6(false)
                .map_err(DriverError::socket("IPV6_MULTICAST_LOOP"))?;
            (
                socket,
                SockAddr::from(SocketAddr::new(IpAddr::V6(ALL_NODES), 0)),
            )
        } else {
            let socket = Socket::new(
                Domain::PACKET,
                Type::DGRAM.cloexec(),
                // Protocol 0: a socket that only sends (the frame's EtherType is in
                // the destination address), so the kernel hands it no frames.
                None,
            )
            .map_err(DriverError::socket("open packet socket"))?;
            (socket, link_layer_address(index, ETH_P_ARP, BROADCAST))
        };
        // The ICMPv6 socket receives a copy of every ICMPv6 message of the interface;
        // we only send, so keep its queue at the kernel's minimum.
        socket
            .set_recv_buffer_size(0)
            .map_err(DriverError::socket("SO_RCVBUF"))?;
        socket
            .set_nonblocking(true)
            .map_err(DriverError::socket("O_NONBLOCK"))?;
        Ok(Announcer {
            socket,
            mac,
            destination,
        })
    }

    /// One gratuitous ARP or unsolicited NA for `address`.
    pub(crate) fn announce(&self, address: IpAddr) -> io::Result<()> {
        match address {
            IpAddr::V4(v4) => self
                .socket
                .send_to(&gratuitous_arp(v4, self.mac), &self.destination)?,
            IpAddr::V6(v6) => self
                .socket
                .send_to(&unsolicited_na(v6, self.mac), &self.destination)?,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0, 0, 0x30, 0, 0x11];

    #[test]
    fn a_gratuitous_arp_names_the_address_as_sender_and_target() {
        let frame = gratuitous_arp(Ipv4Addr::new(172, 30, 0, 100), MAC);
        assert_eq!(
            frame,
            [
                0, 1, 8, 0, 6, 4, 0, 1, // Ethernet/IPv4, request
                2, 0, 0, 0x30, 0, 0x11, 172, 30, 0, 100, // sender
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 172, 30, 0, 100, // target
            ]
        );
    }

    #[test]
    fn an_unsolicited_na_sets_router_and_override_and_carries_the_mac() {
        let address: Ipv6Addr = "fd00:30::100".parse().expect("address");
        let message = unsolicited_na(address, MAC);
        assert_eq!(&message[..8], &[136, 0, 0, 0, 0xa0, 0, 0, 0]);
        assert_eq!(&message[8..24], &address.octets());
        assert_eq!(&message[24..], &[2, 1, 2, 0, 0, 0x30, 0, 0x11]);
    }
}
