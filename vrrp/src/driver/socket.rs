//! The raw IP sockets (protocol 112) that carry adverts, one per segment (interface and
//! family), shared by the instances on it.
//!
//! Receiving: the socket is bound to the interface (`SO_BINDTODEVICE`) and joined to
//! 224.0.0.18 / ff02::12 there; unicast adverts to the node's address arrive on it too.
//! The codec needs the IP header's source, destination and TTL / hop limit: an IPv4
//! raw socket hands over the whole IP header, an IPv6 one only the payload, so there
//! the destination and hop limit come from `IPV6_PKTINFO` / `IPV6_HOPLIMIT` control
//! messages (`recvmsg`).
//!
//! Sending: TTL / hop limit 255, multicast out of the interface, multicast loop off (we
//! never hear ourselves). The source is the primary address: for IPv4 through
//! `IP_MULTICAST_IF` set to it, for IPv6 the kernel's choice for a link-local group,
//! the interface's link-local address.

use std::io::{self, IoSliceMut, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg, setsockopt, sockopt};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::error::DriverError;
use crate::packet::{HOP_LIMIT, IP_PROTOCOL, IPV4_MULTICAST, IPV6_MULTICAST, PseudoHeader};

/// Large enough for an IPv4 header with options and 255 IPv6 addresses.
const BUFFER_LEN: usize = 8 * 1024;

/// The receive buffer asked for, in bytes.
const RECEIVE_QUEUE: usize = 4 << 20;

/// One received VRRP payload with what the codec needs from its IP header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Datagram {
    pub header: PseudoHeader,
    pub hop_limit: u8,
    pub payload: Vec<u8>,
}

/// A raw VRRP socket on one interface, for one address family.
#[derive(Debug)]
pub(crate) struct AdvertSocket {
    socket: AsyncFd<Socket>,
    primary: IpAddr,
}

impl AdvertSocket {
    /// Opens the socket on interface `ifname` (index `index`), sending from `primary`.
    pub(crate) fn open(ifname: &str, index: u32, primary: IpAddr) -> Result<Self, DriverError> {
        let domain = if primary.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let socket = Socket::new(
            domain,
            Type::RAW.cloexec(),
            Some(Protocol::from(i32::from(IP_PROTOCOL))),
        )
        .map_err(DriverError::socket("open raw socket"))?;
        socket
            .bind_device(Some(ifname.as_bytes()))
            .map_err(DriverError::socket("SO_BINDTODEVICE"))?;
        let hops = u32::from(HOP_LIMIT);
        match primary {
            IpAddr::V4(source) => {
                socket
                    .join_multicast_v4_n(&IPV4_MULTICAST, &InterfaceIndexOrAddress::Index(index))
                    .map_err(DriverError::socket("join 224.0.0.18"))?;
                socket
                    .set_multicast_if_v4(&source)
                    .map_err(DriverError::socket("IP_MULTICAST_IF"))?;
                socket
                    .set_multicast_ttl_v4(hops)
                    .map_err(DriverError::socket("IP_MULTICAST_TTL"))?;
                socket
                    .set_ttl_v4(hops)
                    .map_err(DriverError::socket("IP_TTL"))?;
                socket
                    .set_multicast_loop_v4(false)
                    .map_err(DriverError::socket("IP_MULTICAST_LOOP"))?;
            }
            IpAddr::V6(_) => {
                socket
                    .join_multicast_v6(&IPV6_MULTICAST, index)
                    .map_err(DriverError::socket("join ff02::12"))?;
                socket
                    .set_multicast_if_v6(index)
                    .map_err(DriverError::socket("IPV6_MULTICAST_IF"))?;
                socket
                    .set_multicast_hops_v6(hops)
                    .map_err(DriverError::socket("IPV6_MULTICAST_HOPS"))?;
                socket
                    .set_unicast_hops_v6(hops)
                    .map_err(DriverError::socket("IPV6_UNICAST_HOPS"))?;
                socket
                    .set_multicast_loop_v6(false)
                    .map_err(DriverError::socket("IPV6_MULTICAST_LOOP"))?;
                socket
                    .set_recv_hoplimit_v6(true)
                    .map_err(DriverError::socket("IPV6_RECVHOPLIMIT"))?;
                setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)
                    .map_err(|e| DriverError::socket("IPV6_RECVPKTINFO")(e.into()))?;
            }
        }
        // Room for a burst of adverts from 255 virtual routers (the default queue holds
        // a few hundred). SO_RCVBUFFORCE passes rmem_max as root; without it the
        // kernel's default stays, which is only a smaller queue.
        let _ = setsockopt(&socket, sockopt::RcvBufForce, &RECEIVE_QUEUE);
        socket
            .set_nonblocking(true)
            .map_err(DriverError::socket("O_NONBLOCK"))?;
        let socket =
            super::sockopt::register(socket).map_err(DriverError::socket("register with tokio"))?;
        Ok(AdvertSocket { socket, primary })
    }

    /// The next VRRP datagram. Packets too short to hold an IP header are skipped.
    pub(crate) async fn recv(&self) -> io::Result<Datagram> {
        let mut buffer = vec![0u8; BUFFER_LEN];
        loop {
            let mut guard = self.socket.readable().await?;
            let received = guard.try_io(|socket| match self.primary {
                IpAddr::V4(_) => {
                    let length = socket.get_ref().read(&mut buffer)?;
                    Ok(parse_ipv4(&buffer[..length]))
                }
                IpAddr::V6(_) => recv_ipv6(socket.get_ref(), &mut buffer),
            });
            match received {
                Ok(Ok(Some(datagram))) => return Ok(datagram),
                Ok(Ok(None)) => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// The pseudo-header of an advert we send to `destination`.
    pub(crate) fn header_to(&self, destination: IpAddr) -> Option<PseudoHeader> {
        match (self.primary, destination) {
            (IpAddr::V4(source), IpAddr::V4(destination)) => Some(PseudoHeader::V4 {
                source,
                destination,
            }),
            (IpAddr::V6(source), IpAddr::V6(destination)) => Some(PseudoHeader::V6 {
                source,
                destination,
            }),
            _ => None,
        }
    }

    /// Sends one payload; a full send buffer is an error like any other.
    pub(crate) fn send(&self, payload: &[u8], destination: IpAddr) -> io::Result<()> {
        let to = SocketAddr::new(destination, 0);
        self.socket.get_ref().send_to(payload, &to.into())?;
        Ok(())
    }
}

/// Splits an IPv4 packet (header included, as raw sockets deliver it) into the
/// codec's inputs.
fn parse_ipv4(packet: &[u8]) -> Option<Datagram> {
    let header_len = usize::from(packet.first()? & 0x0f) * 4;
    if header_len < 20 || packet.len() < header_len {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let end = total_len.clamp(header_len, packet.len());
    let source = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let destination = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
    Some(Datagram {
        header: PseudoHeader::V4 {
            source,
            destination,
        },
        hop_limit: packet[8],
        payload: packet[header_len..end].to_vec(),
    })
}

/// One `recvmsg` on an IPv6 raw socket; `None` when a control message is missing.
fn recv_ipv6(socket: &Socket, buffer: &mut [u8]) -> io::Result<Option<Datagram>> {
    let mut control = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
    let mut iov = [IoSliceMut::new(buffer)];
    let (length, source, destination, hop_limit) = {
        let message = recvmsg::<SockaddrIn6>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut control),
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?;
        let (mut destination, mut hop_limit) = (None, None);
        for control in message.cmsgs().map_err(io::Error::from)? {
            match control {
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    destination = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                }
                ControlMessageOwned::Ipv6HopLimit(limit) => {
                    hop_limit = Some(u8::try_from(limit).unwrap_or(0));
                }
                _ => {}
            }
        }
        let source = message.address.map(|a| a.ip());
        (message.bytes, source, destination, hop_limit)
    };
    let (Some(source), Some(destination), Some(hop_limit)) = (source, destination, hop_limit)
    else {
        return Ok(None);
    };
    Ok(Some(Datagram {
        header: PseudoHeader::V6 {
            source,
            destination,
        },
        hop_limit,
        payload: buffer[..length].to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_packet_splits_into_header_fields_and_payload() {
        let mut packet = vec![0x45, 0, 0, 32, 0, 0, 0, 0, 255, 112, 0, 0];
        packet.extend_from_slice(&[172, 30, 0, 2, 224, 0, 0, 18]);
        packet.extend_from_slice(&[0x31, 1, 100, 1, 0, 100, 0, 0, 172, 30, 0, 100]);
        packet.extend_from_slice(&[0xee; 4]); // link-layer padding past total length
        let datagram = parse_ipv4(&packet).expect("parses");
        assert_eq!(
            datagram.header,
            PseudoHeader::v4_multicast(Ipv4Addr::new(172, 30, 0, 2))
        );
        assert_eq!(datagram.hop_limit, 255);
        assert_eq!(datagram.payload.len(), 12);
    }

    #[test]
    fn a_short_ipv4_packet_is_skipped() {
        assert_eq!(parse_ipv4(&[0x45, 0, 0]), None);
        assert_eq!(parse_ipv4(&[0x41; 24]), None);
    }
}
