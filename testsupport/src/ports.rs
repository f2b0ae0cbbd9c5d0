//! Free TCP ports on loopback, for a test's listeners.

use std::net::{IpAddr, SocketAddr, TcpListener};

/// A TCP port free on `ip` (a loopback address) a moment ago: bound, read, released. Bind
/// it soon; another process may take it in between.
pub fn free_port(ip: IpAddr) -> u16 {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0))
        .unwrap_or_else(|e| panic!("bind {ip}:0 for a free port: {e}"));
    listener.local_addr().expect("bound address").port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_can_be_bound_again() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let port = free_port(ip);
        assert_ne!(port, 0);
        TcpListener::bind(SocketAddr::new(ip, port)).expect("the port is free");
    }
}
