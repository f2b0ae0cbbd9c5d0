//! The two things neither socket2, nix nor tokio offer safely:
//! - a link-layer socket address (`struct sockaddr_ll`, `AF_PACKET`) to send
//!   gratuitous ARP to the broadcast address of one interface: socket2 turns raw
//!   storage into a `SockAddr` only through an `unsafe` constructor;
//! - registering a raw socket with tokio's reactor (`AsyncFd::register` is `unsafe`
//!   since tokio 1.52: the caller promises the descriptor stays the same and open).
//!
//! This is the one module of the crate allowed to use `unsafe` (the workspace lint is
//! `deny`, allowed here only), and each block says why it holds.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;

use socket2::{SockAddr, SockAddrStorage, Socket};
use tokio::io::unix::AsyncFd;

/// Registers `socket` with the current tokio runtime's reactor.
pub(crate) fn register(socket: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: a `socket2::Socket` owns its descriptor (an `OwnedFd`): it is open until
    // the `Socket` drops, which happens only when the `AsyncFd` that now owns it drops,
    // and `as_raw_fd` returns that same descriptor every time.
    unsafe { AsyncFd::register(socket) }.map_err(io::Error::from)
}

/// `sockaddr_ll` for frames of EtherType `protocol` sent out of interface `ifindex` to
/// the link-layer address `destination`.
pub(crate) fn link_layer_address(ifindex: u32, protocol: u16, destination: [u8; 6]) -> SockAddr {
    let mut address = [0u8; 8];
    address[..6].copy_from_slice(&destination);
    let link = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as libc::sa_family_t,
        sll_protocol: protocol.to_be(),
        sll_ifindex: i32::try_from(ifindex).unwrap_or(i32::MAX),
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr: address,
    };
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` (20 bytes, align 4) fits `sockaddr_storage` (128 bytes,
    // align 8); the storage now holds an initialised `sockaddr_ll` with family
    // AF_PACKET, and the length passed is that struct's size.
    unsafe {
        *storage.view_as::<libc::sockaddr_ll>() = link;
        SockAddr::new(storage, size_of::<libc::sockaddr_ll>() as libc::socklen_t)
    }
}
