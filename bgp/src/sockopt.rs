//! Socket options that neither socket2 nor the standard library wrap: TCP MD5 signatures
//! (RFC 2385, `TCP_MD5SIG` with `struct tcp_md5sig`) and the minimum TTL / hop limit of
//! the Generalized TTL Security Mechanism (RFC 5082, `IP_MINTTL` / `IPV6_MINHOPCOUNT`).
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
    fn min_ttl_is_accepted_by_the_kernel() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        set_min_ttl(&listener, false, 254).expect("IP_MINTTL");
    }
}
