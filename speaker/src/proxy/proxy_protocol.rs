//! The PROXY protocol header the proxy sends to a backend before the client's bytes, so
//! that the backend sees the client's address (HAProxy's `proxy-protocol.txt`, versions 1
//! and 2). Pure: the client and the listener's address in, the header's bytes out.
//!
//! Version 1 is one text line, `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n`. Version 2 is
//! binary: the 12-byte signature, version 2 with the PROXY command, `AF_INET` or
//! `AF_INET6` over `STREAM`, the address block's length, then source and destination
//! addresses and ports in network order. An IPv4 client on an IPv6 socket
//! (`::ffff:a.b.c.d`) is sent as IPv4; families that still differ are sent as
//! `UNKNOWN` (v1) or `AF_UNSPEC` with no addresses (v2), which backends accept and read
//! as "use the connection's own addresses".

use std::net::{IpAddr, SocketAddr};

use herald_config::ProxyProtocol;

/// The version 2 signature.
pub const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

/// Version 2, command PROXY.
const V2_PROXY: u8 = 0x21;
const V2_UNSPEC: u8 = 0x00;
const V2_TCP4: u8 = 0x11;
const V2_TCP6: u8 = 0x21;

/// The header for `version`, `None` for [`ProxyProtocol::None`]. `client` is the peer of
/// the accepted connection, `listener` its local address (the Service address and port).
pub fn header(version: ProxyProtocol, client: SocketAddr, listener: SocketAddr) -> Option<Vec<u8>> {
    match version {
        ProxyProtocol::None => None,
        ProxyProtocol::V1 => Some(v1(client, listener)),
        ProxyProtocol::V2 => Some(v2(client, listener)),
    }
}

/// The version 1 text line.
pub fn v1(client: SocketAddr, listener: SocketAddr) -> Vec<u8> {
    let (client, listener) = (canonical(client), canonical(listener));
    let family = match (client.ip(), listener.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => "TCP4",
        (IpAddr::V6(_), IpAddr::V6(_)) => "TCP6",
        _ => return b"PROXY UNKNOWN\r\n".to_vec(),
    };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        client.ip(),
        listener.ip(),
        client.port(),
        listener.port()
    )
    .into_bytes()
}

/// The version 2 binary header.
pub fn v2(client: SocketAddr, listener: SocketAddr) -> Vec<u8> {
    let (client, listener) = (canonical(client), canonical(listener));
    let mut header = Vec::with_capacity(16 + 36);
    header.extend_from_slice(&V2_SIGNATURE);
    header.push(V2_PROXY);
    match (client.ip(), listener.ip()) {
        (IpAddr::V4(source), IpAddr::V4(destination)) => {
            header.push(V2_TCP4);
            header.extend_from_slice(&12u16.to_be_bytes());
            header.extend_from_slice(&source.octets());
            header.extend_from_slice(&destination.octets());
        }
        (IpAddr::V6(source), IpAddr::V6(destination)) => {
            header.push(V2_TCP6);
            header.extend_from_slice(&36u16.to_be_bytes());
            header.extend_from_slice(&source.octets());
            header.extend_from_slice(&destination.octets());
        }
        _ => {
            header.push(V2_UNSPEC);
            header.extend_from_slice(&0u16.to_be_bytes());
            return header;
        }
    }
    header.extend_from_slice(&client.port().to_be_bytes());
    header.extend_from_slice(&listener.port().to_be_bytes());
    header
}

/// An IPv4-mapped IPv6 address as IPv4.
fn canonical(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip().to_canonical(), address.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn v1_ipv4_is_one_text_line_with_client_then_listener() {
        assert_eq!(
            v1(sock("192.0.2.10:51234"), sock("198.51.100.1:443")),
            b"PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\n"
        );
    }

    #[test]
    fn v1_ipv6_uses_tcp6_and_the_short_address_form() {
        assert_eq!(
            v1(sock("[2001:db8::10]:51234"), sock("[2001:db8:1::1]:80")),
            b"PROXY TCP6 2001:db8::10 2001:db8:1::1 51234 80\r\n"
        );
    }

    #[test]
    fn a_mapped_ipv4_client_is_sent_as_ipv4_and_mixed_families_as_unknown() {
        assert_eq!(
            v1(sock("[::ffff:192.0.2.10]:1000"), sock("198.51.100.1:80")),
            b"PROXY TCP4 192.0.2.10 198.51.100.1 1000 80\r\n"
        );
        assert_eq!(
            v1(sock("192.0.2.10:1000"), sock("[2001:db8::1]:80")),
            b"PROXY UNKNOWN\r\n"
        );
        let mut unspec = V2_SIGNATURE.to_vec();
        unspec.extend_from_slice(&[0x21, 0x00, 0x00, 0x00]);
        assert_eq!(
            v2(sock("192.0.2.10:1000"), sock("[2001:db8::1]:80")),
            unspec
        );
    }

    #[test]
    fn v2_ipv4_is_signature_proxy_command_inet_stream_and_twelve_address_bytes() {
        let expected: &[u8] = &[
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54,
            0x0A, // signature
            0x21, // version 2, PROXY
            0x11, // AF_INET, STREAM
            0x00, 0x0C, // 12 address bytes
            192, 0, 2, 10, // source
            198, 51, 100, 1, // destination
            0xC8, 0x22, // source port 51234
            0x01, 0xBB, // destination port 443
        ];
        assert_eq!(
            v2(sock("192.0.2.10:51234"), sock("198.51.100.1:443")),
            expected
        );
    }

    #[test]
    fn v2_ipv6_is_inet6_stream_with_thirty_six_address_bytes() {
        let header = v2(sock("[2001:db8::10]:51234"), sock("[2001:db8:1::1]:80"));
        assert_eq!(&header[..12], &V2_SIGNATURE);
        assert_eq!(&header[12..16], &[0x21, 0x21, 0x00, 0x24]);
        assert_eq!(header.len(), 16 + 36);
        let mut source = [0u8; 16];
        source[..2].copy_from_slice(&[0x20, 0x01]);
        source[2..4].copy_from_slice(&[0x0d, 0xb8]);
        source[15] = 0x10;
        assert_eq!(&header[16..32], &source);
        assert_eq!(&header[48..52], &[0xC8, 0x22, 0x00, 0x50]);
    }

    #[test]
    fn no_header_unless_the_pool_asks() {
        let (client, listener) = (sock("192.0.2.10:1"), sock("198.51.100.1:2"));
        assert_eq!(header(ProxyProtocol::None, client, listener), None);
        assert_eq!(
            header(ProxyProtocol::V2, client, listener),
            Some(v2(client, listener))
        );
    }
}
