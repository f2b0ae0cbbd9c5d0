//! A minimal rtnetlink client: look up a link, list, add and remove interface
//! addresses. Requests go over a blocking `NETLINK_ROUTE` socket opened in the calling
//! thread's network namespace; each one waits for the kernel's acknowledgement, which
//! takes microseconds, so the driver calls it inline.
//!
//! Hand-written rather than a crate: five message types with fixed layouts
//! (`nlmsghdr`, `ifinfomsg`, `ifaddrmsg` and `rtattr`, all in host byte order).

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, Ordering};

use socket2::{Domain, Protocol, Socket, Type};

const NLMSG_HEADER_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_FLAGS: u16 = 8;
/// `IFA_PROTO` (Linux 6.1): who added the address, one octet kept by the kernel.
const IFA_PROTO: u16 = 11;

/// `IFA_F_NODAD`: no duplicate address detection, the address is usable at once.
pub(crate) const IFA_F_NODAD: u32 = 0x02;
/// `IFA_F_TENTATIVE`: duplicate address detection still runs.
pub(crate) const IFA_F_TENTATIVE: u32 = 0x40;
/// `RT_SCOPE_LINK`.
pub(crate) const SCOPE_LINK: u8 = 253;

static SEQUENCE: AtomicU32 = AtomicU32::new(1);

/// One interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub index: u32,
    /// The hardware address (absent on links without one, like `lo`).
    pub mac: Option<[u8; 6]>,
}

/// One address of an interface, as `RTM_GETADDR` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InterfaceAddress {
    pub index: u32,
    pub address: IpAddr,
    pub prefix_len: u8,
    pub scope: u8,
    pub flags: u32,
    /// IPv4 only.
    pub label: Option<String>,
    /// `IFA_PROTO`, when the kernel keeps it.
    pub proto: Option<u8>,
}

/// An address to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewAddress<'a> {
    pub index: u32,
    pub address: IpAddr,
    pub prefix_len: u8,
    pub flags: u32,
    pub label: Option<&'a str>,
    pub proto: u8,
}

/// A route netlink socket.
#[derive(Debug)]
pub(crate) struct Netlink {
    socket: Socket,
}

impl Netlink {
    pub(crate) fn open() -> io::Result<Netlink> {
        let socket = Socket::new(
            Domain::from(libc::AF_NETLINK),
            Type::RAW.cloexec(),
            Some(Protocol::from(libc::NETLINK_ROUTE)),
        )?;
        Ok(Netlink { socket })
    }

    /// The link named `name`; `NotFound` when there is none.
    pub(crate) fn link(&self, name: &str) -> io::Result<Link> {
        let mut request = Request::new(RTM_GETLINK, NLM_F_REQUEST);
        // struct ifinfomsg: family, pad, type, index, flags, change.
        request.body(&[0u8; 16]);
        let mut ifname = name.as_bytes().to_vec();
        ifname.push(0);
        request.attribute(IFLA_IFNAME, &ifname);
        let mut link = None;
        self.exchange(request, |kind, body| {
            if kind != RTM_NEWLINK || body.len() < 16 {
                return;
            }
            let index = u32::from_ne_bytes([body[4], body[5], body[6], body[7]]);
            let mac = attributes(&body[16..])
                .find(|(kind, _)| *kind == IFLA_ADDRESS)
                .and_then(|(_, value)| <[u8; 6]>::try_from(value).ok());
            link = Some(Link { index, mac });
        })?;
        link.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such link"))
    }

    /// Every address of interface `index`.
    pub(crate) fn addresses(&self, index: u32) -> io::Result<Vec<InterfaceAddress>> {
        let mut request = Request::new(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
        request.body(&[libc::AF_UNSPEC as u8, 0, 0, 0, 0, 0, 0, 0]);
        let mut found = Vec::new();
        self.exchange(request, |kind, body| {
            if kind == RTM_NEWADDR
                && let Some(address) = parse_address(body)
                && address.index == index
            {
                found.push(address);
            }
        })?;
        Ok(found)
    }

    /// Adds an address; `AlreadyExists` if the interface has it.
    pub(crate) fn add(&self, new: &NewAddress<'_>) -> io::Result<()> {
        let mut request = Request::new(
            RTM_NEWADDR,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        );
        request.body(&ifaddrmsg(
            new.address,
            new.prefix_len,
            new.flags,
            new.index,
        ));
        let octets = octets(new.address);
        request.attribute(IFA_LOCAL, &octets);
        request.attribute(IFA_ADDRESS, &octets);
        if let Some(label) = new.label {
            let mut label = label.as_bytes().to_vec();
            label.push(0);
            request.attribute(IFA_LABEL, &label);
        }
        request.attribute(IFA_FLAGS, &new.flags.to_ne_bytes());
        request.attribute(IFA_PROTO, &[new.proto]);
        self.exchange(request, |_, _| {})
    }

    /// Removes an address; `AddrNotAvailable` if the interface does not have it.
    pub(crate) fn remove(&self, index: u32, address: IpAddr, prefix_len: u8) -> io::Result<()> {
        let mut request = Request::new(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK);
        request.body(&ifaddrmsg(address, prefix_len, 0, index));
        let octets = octets(address);
        request.attribute(IFA_LOCAL, &octets);
        request.attribute(IFA_ADDRESS, &octets);
        self.exchange(request, |_, _| {})
    }

    /// An unbound netlink socket sends to port 0, the kernel.
    fn send(&self, bytes: &[u8]) -> io::Result<()> {
        let sent = self.socket.send(bytes)?;
        if sent != bytes.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short netlink send",
            ));
        }
        Ok(())
    }

    /// Sends `request` and reads replies until its acknowledgement or the end of its
    /// dump, handing every other message to `each` as (type, body).
    fn exchange(&self, request: Request, mut each: impl FnMut(u16, &[u8])) -> io::Result<()> {
        let sequence = request.sequence;
        let dump = request.flags & NLM_F_DUMP == NLM_F_DUMP;
        let acked = request.flags & NLM_F_ACK != 0;
        self.send(&request.finish())?;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let length = (&self.socket).read(&mut buffer)?;
            let mut rest = &buffer[..length];
            while rest.len() >= NLMSG_HEADER_LEN {
                let message_len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                if message_len < NLMSG_HEADER_LEN || message_len > rest.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "malformed netlink message",
                    ));
                }
                let kind = u16::from_ne_bytes([rest[4], rest[5]]);
                let message_sequence = u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]);
                let body = &rest[NLMSG_HEADER_LEN..message_len];
                rest = &rest[align(message_len).min(rest.len())..];
                if message_sequence != sequence {
                    continue;
                }
                match kind {
                    NLMSG_ERROR => {
                        let code = body
                            .first_chunk::<4>()
                            .map_or(0, |code| i32::from_ne_bytes(*code));
                        if code != 0 {
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                        return Ok(());
                    }
                    NLMSG_DONE => return Ok(()),
                    _ => {
                        each(kind, body);
                        if !dump && !acked {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

struct Request {
    bytes: Vec<u8>,
    flags: u16,
    sequence: u32,
}

impl Request {
    fn new(kind: u16, flags: u16) -> Request {
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // length, set in finish
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&flags.to_ne_bytes());
        bytes.extend_from_slice(&sequence.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel assigns it
        Request {
            bytes,
            flags,
            sequence,
        }
    }

    fn body(&mut self, body: &[u8]) {
        self.bytes.extend_from_slice(body);
        self.pad();
    }

    fn attribute(&mut self, kind: u16, value: &[u8]) {
        let length = u16::try_from(4 + value.len()).unwrap_or(u16::MAX);
        self.bytes.extend_from_slice(&length.to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(value);
        self.pad();
    }

    fn pad(&mut self) {
        self.bytes.resize(align(self.bytes.len()), 0);
    }

    fn finish(mut self) -> Vec<u8> {
        let length = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        self.bytes[..4].copy_from_slice(&length.to_ne_bytes());
        self.bytes
    }
}

fn align(length: usize) -> usize {
    (length + 3) & !3
}

fn octets(address: IpAddr) -> Vec<u8> {
    match address {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// `struct ifaddrmsg`: family, prefix length, flags (low 8 bits), scope, index.
fn ifaddrmsg(address: IpAddr, prefix_len: u8, flags: u32, index: u32) -> [u8; 8] {
    let family = match address {
        IpAddr::V4(_) => libc::AF_INET,
        IpAddr::V6(_) => libc::AF_INET6,
    } as u8;
    let [i0, i1, i2, i3] = index.to_ne_bytes();
    [family, prefix_len, (flags & 0xff) as u8, 0, i0, i1, i2, i3]
}

/// The attributes of a message body, as (type, value).
fn attributes(mut bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let header = bytes.first_chunk::<4>()?;
        let length = usize::from(u16::from_ne_bytes([header[0], header[1]]));
        let kind = u16::from_ne_bytes([header[2], header[3]]) & 0x3fff;
        if length < 4 || length > bytes.len() {
            return None;
        }
        let value = &bytes[4..length];
        bytes = &bytes[align(length).min(bytes.len())..];
        Some((kind, value))
    })
}

fn parse_address(body: &[u8]) -> Option<InterfaceAddress> {
    let header = body.first_chunk::<8>()?;
    let family = i32::from(header[0]);
    let index = u32::from_ne_bytes([header[4], header[5], header[6], header[7]]);
    let mut parsed = InterfaceAddress {
        index,
        address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        prefix_len: header[1],
        scope: header[3],
        flags: u32::from(header[2]),
        label: None,
        proto: None,
    };
    let (mut local, mut address) = (None, None);
    for (kind, value) in attributes(&body[8..]) {
        match kind {
            IFA_LOCAL => local = ip(family, value),
            IFA_ADDRESS => address = ip(family, value),
            IFA_LABEL => {
                let text = value.split(|b| *b == 0).next().unwrap_or_default();
                parsed.label = Some(String::from_utf8_lossy(text).into_owned());
            }
            IFA_FLAGS => {
                if let Some(flags) = value.first_chunk::<4>() {
                    parsed.flags = u32::from_ne_bytes(*flags);
                }
            }
            IFA_PROTO => parsed.proto = value.first().copied(),
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address (it differs from IFA_ADDRESS only on
    // point-to-point links); IPv6 sends only IFA_ADDRESS.
    parsed.address = local.or(address)?;
    Some(parsed)
}

fn ip(family: i32, value: &[u8]) -> Option<IpAddr> {
    match family {
        libc::AF_INET => <[u8; 4]>::try_from(value)
            .ok()
            .map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        libc::AF_INET6 => <[u8; 16]>::try_from(value)
            .ok()
            .map(|o| IpAddr::V6(Ipv6Addr::from(o))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_to_four_octets() {
        let mut request = Request::new(RTM_NEWADDR, NLM_F_REQUEST);
        request.body(&[0u8; 8]);
        request.attribute(IFA_LABEL, b"eth0:hv\0");
        request.attribute(IFA_PROTO, &[72]);
        let bytes = request.finish();
        assert_eq!(bytes.len(), 16 + 8 + 12 + 8);
        assert_eq!(
            u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            44
        );
        let parsed: Vec<_> = attributes(&bytes[24..]).collect();
        assert_eq!(
            parsed,
            vec![(IFA_LABEL, &b"eth0:hv\0"[..]), (IFA_PROTO, &[72][..])]
        );
    }

    #[test]
    fn an_ipv4_address_message_parses_local_label_and_proto() {
        let mut request = Request::new(RTM_NEWADDR, 0);
        request.body(&ifaddrmsg(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 32, 0, 7));
        request.attribute(IFA_ADDRESS, &[10, 0, 0, 1]);
        request.attribute(IFA_LOCAL, &[10, 0, 0, 1]);
        request.attribute(IFA_LABEL, b"eth0:hv\0");
        request.attribute(IFA_FLAGS, &0x80u32.to_ne_bytes());
        request.attribute(IFA_PROTO, &[72]);
        let bytes = request.finish();
        let parsed = parse_address(&bytes[NLMSG_HEADER_LEN..]).expect("parses");
        assert_eq!(parsed.index, 7);
        assert_eq!(parsed.address, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(parsed.prefix_len, 32);
        assert_eq!(parsed.label.as_deref(), Some("eth0:hv"));
        assert_eq!(parsed.flags, 0x80);
        assert_eq!(parsed.proto, Some(72));
    }
}
