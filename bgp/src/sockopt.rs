//! Socket options that neither socket2 nor the standard library wrap: TCP MD5 signatures
//! (RFC 2385, `TCP_MD5SIG` with `struct tcp_md5sig`) and the minimum TTL / hop limit of
//! the Generalized TTL Security Mechanism (RFC 5082, `IP_MINTTL` / `IPV6_MINHOPCOUNT`),
//! and for BFD (RFC 5881 section 5) the TTL / hop limit of each received UDP datagram
//! (`IP_RECVTTL` / `IPV6_RECVHOPLIMIT` and `recvmsg(2)` with its control messages).
//!
//! This is the one module of the workspace allowed to use `unsafe` (the workspace lint is
//! `deny`, allowed here only): `setsockopt(2)` takes a raw pointer and a length. Each call
//! passes a pointer to a fully initialised local value together with that value's exact
//! size, on a file descriptor borrowed from a live socket for the duration of the call.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

/// `TCP_MD5SIG_MAXKEYLEN` of `<linux/tcp.h>`.
pub const MD5_MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` of `<linux/tcp.h>` (libc does not define it).
#[repr(C)]
struct TcpMd5Sig {
    /// `struct __kernel_sockaddr_storage`; socket2's type is `repr(transparent)` over
    /// `sockaddr_storage`, which has the same size and alignment.
    addr: socket2::SockAddrStorage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_MAX_KEY_LEN],
}

/// Installs (`Some(key)`) or removes (`None`) the TCP MD5 key for segments exchanged with
/// `peer` on `socket`. On a listening socket the key applies to connections accepted from
/// `peer`; on a connecting socket it must be set before `connect`. An IPv6 socket talks to
/// IPv4 peers through IPv4-mapped addresses, so the key is installed under that form.
pub fn set_tcp_md5(
    socket: &impl AsFd,
    socket_is_ipv6: bool,
    peer: IpAddr,
    key: Option<&[u8]>,
) -> io::Result<()> {
    let key = key.unwrap_or_default();
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "TCP MD5 key longer than 80 bytes",
        ));
    }
    let peer = match peer {
        IpAddr::V4(v4) if socket_is_ipv6 => IpAddr::V6(v4.to_ipv6_mapped()),
        IpAddr::V6(_) if !socket_is_ipv6 => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "IPv6 peer on an IPv4 socket",
            ));
        }
        other => other,
    };
    let mut signature = TcpMd5Sig {
        addr: socket2::SockAddr::from(SocketAddr::new(peer, 0)).as_storage(),
        flags: 0,
        prefixlen: 0,
        // Fits: checked against MD5_MAX_KEY_LEN above.
        keylen: key.len() as u16,
        ifindex: 0,
        key: [0; MD5_MAX_KEY_LEN],
    };
    signature.key[..key.len()].copy_from_slice(key);
    set_option(socket, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &signature)
}

/// Asks the kernel to report the TTL (IPv4) or hop limit (IPv6) of every datagram
/// received on `socket`, for [`recv_with_ttl`].
pub fn set_recv_ttl(socket: &impl AsFd, ipv6: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    if ipv6 {
        set_option(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &on)
    } else {
        set_option(socket, libc::IPPROTO_IP, libc::IP_RECVTTL, &on)
    }
}

/// One datagram from a non-blocking UDP socket with [`set_recv_ttl`]: its length, its
/// source, and its TTL / hop limit (`None` if the kernel did not say).
pub fn recv_with_ttl(
    socket: &impl AsFd,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u8>)> {
    // SAFETY (whole function): all-zero is a valid value of these plain C structs;
    // `recvmsg` writes at most `msg_namelen` bytes into `source`, `msg_controllen` bytes
    // into `control` and `iov_len` bytes into `buf`, all of which live past the call; the
    // CMSG_* helpers only walk the control buffer within the length the kernel set.
    let mut source: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    // u64 elements: control messages must be aligned like `cmsghdr`.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut source).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control);
    let fd = socket.as_fd().as_raw_fd();
    let received = unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_DONTWAIT) };
    let len = usize::try_from(received).map_err(|_| io::Error::last_os_error())?;
    let mut ttl = None;
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
    while !cmsg.is_null() {
        let header = unsafe { &*cmsg };
        let is_ttl = (header.cmsg_level == libc::IPPROTO_IP && header.cmsg_type == libc::IP_TTL)
            || (header.cmsg_level == libc::IPPROTO_IPV6 && header.cmsg_type == libc::IPV6_HOPLIMIT);
        if is_ttl {
            let value =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>()) };
            ttl = u8::try_from(value).ok();
        }
        cmsg = unsafe { libc::CMSG_NXTHDR(&raw const msg, cmsg) };
    }
    let source = match libc::c_int::from(source.ss_family) {
        libc::AF_INET => {
            let v4 = unsafe { &*(&raw const source).cast::<libc::sockaddr_in>() };
            SocketAddr::new(
                IpAddr::V4(std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))),
                u16::from_be(v4.sin_port),
            )
        }
        libc::AF_INET6 => {
            let v6 = unsafe { &*(&raw const source).cast::<libc::sockaddr_in6>() };
            SocketAddr::V6(std::net::SocketAddrV6::new(
                std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            ))
        }
        family => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("datagram from address family {family}"),
            ));
        }
    };
    Ok((len, source, ttl))
}

/// Drops received packets whose TTL (IPv4) or hop limit (IPv6) is below `min` (RFC 5082).
pub fn set_min_ttl(socket: &impl AsFd, ipv6: bool, min: u8) -> io::Result<()> {
    let value = libc::c_int::from(min);
    if ipv6 {
        set_option(socket, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &value)
    } else {
        set_option(socket, libc::IPPROTO_IP, libc::IP_MINTTL, &value)
    }
}

fn set_option<T>(
    socket: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let fd = socket.as_fd();
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option too large"))?;
    // SAFETY: `fd` is borrowed from a live socket for the whole call; `value` points to an
    // initialised `T` of exactly `len` bytes that outlives the call; the kernel only reads it.
    let rc =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_struct_has_the_kernel_layout() {
        // 128 (sockaddr_storage) + 1 + 1 + 2 + 4 + 80.
        assert_eq!(size_of::<TcpMd5Sig>(), 216);
    }

    #[test]
    fn md5_key_can_be_set_and_removed_on_a_tcp_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let peer: IpAddr = "127.0.0.2".parse().expect("address");
        set_tcp_md5(&listener, false, peer, Some(b"s3cret")).expect("set");
        set_tcp_md5(&listener, false, peer, None).expect("remove");
    }

    #[test]
    fn md5_key_longer_than_80_bytes_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let error = set_tcp_md5(
            &listener,
            false,
            "127.0.0.2".parse().expect("address"),
            Some(&[b'k'; 81]),
        )
        .expect_err("too long");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn received_datagram_reports_its_ttl_and_source() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        set_recv_ttl(&receiver, false).expect("IP_RECVTTL");
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        sender.set_ttl(255).expect("ttl");
        sender
            .send_to(b"bfd", receiver.local_addr().expect("addr"))
            .expect("send");
        let mut buf = [0u8; 16];
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        // Wait until it arrived (recv_with_ttl does not block).
        let _ = receiver.peek(&mut buf).expect("peek");
        let (len, source, ttl) = recv_with_ttl(&receiver, &mut buf).expect("recv");
        assert_eq!(&buf[..len], b"bfd");
        assert_eq!(source, sender.local_addr().expect("addr"));
        assert_eq!(ttl, Some(255));
        sender.set_ttl(64).expect("ttl");
        sender
            .send_to(b"x", receiver.local_addr().expect("addr"))
            .expect("send");
        let _ = receiver.peek(&mut buf).expect("peek");
        assert_eq!(
            recv_with_ttl(&receiver, &mut buf).expect("recv").2,
            Some(64)
        );
    }

    #[test]
    fn received_datagram_reports_its_hop_limit_over_ipv6() {
        let Ok(receiver) = std::net::UdpSocket::bind("[::1]:0") else {
            eprintln!("no IPv6 loopback here");
            return;
        };
        set_recv_ttl(&receiver, true).expect("IPV6_RECVHOPLIMIT");
        let sender = std::net::UdpSocket::bind("[::1]:0").expect("bind");
        socket2::SockRef::from(&sender)
            .set_unicast_hops_v6(255)
            .expect("hops");
        sender
            .send_to(b"bfd", receiver.local_addr().expect("addr"))
            .expect("send");
        let mut buf = [0u8; 16];
        let _ = receiver.peek(&mut buf).expect("peek");
        let (len, _, ttl) = recv_with_ttl(&receiver, &mut buf).expect("recv");
        assert_eq!((len, ttl), (3, Some(255)));
    }

    #[test]
    fn min_ttl_is_accepted_by_the_kernel() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        set_min_ttl(&listener, false, 254).expect("IP_MINTTL");
    }
}
