//! `local_addr` against the kernel, in a network namespace: Service addresses made local
//! with `local` routes marked protocol 72, idempotent, leftovers of a previous process
//! adopted or removed, foreign routes never touched, and listeners that bind the address.

mod proxy_support;

use std::net::{IpAddr, SocketAddr};

use herald_speaker::local_addr::LocalAddresses;
use proxy_support::{Namespace, NsRuntime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

/// `ip route show table local proto 72` for both families, one destination per line.
fn herald_routes(ns: &Namespace) -> Vec<String> {
    let mut routes = Vec::new();
    for family in ["-4", "-6"] {
        let text = ns.ip(&[family, "route", "show", "table", "local", "proto", "72"]);
        routes.extend(text.lines().map(|l| l.trim().to_owned()));
    }
    routes.sort();
    routes
}

#[test]
fn addresses_are_made_local_once_with_protocol_72_in_both_families() {
    let ns = Namespace::new("local_addr_add");
    let runtime = NsRuntime::start(&ns.name);
    let wanted = [ip("10.99.0.1"), ip("fd00:99::1")];
    let (first, second) = runtime.block_on(async move {
        let local = LocalAddresses::connect().await.expect("netlink");
        let first = local.ensure(&wanted).await.expect("ensure");
        let second = local.ensure(&wanted).await.expect("ensure again");
        (first, second)
    });
    assert_eq!(first.added, wanted);
    assert!(second.added.is_empty(), "{second:?}");
    assert_eq!(second.present, wanted);
    let routes = herald_routes(&ns);
    assert_eq!(routes.len(), 2, "{routes:?}");
    assert!(
        routes[0].starts_with("local 10.99.0.1 dev lo"),
        "{routes:?}"
    );
    assert!(
        routes[1].starts_with("local fd00:99::1 dev lo"),
        "{routes:?}"
    );

    let removed = runtime.block_on(async move {
        let local = LocalAddresses::connect().await.expect("netlink");
        local.remove(&wanted).await.expect("remove")
    });
    assert_eq!(removed, wanted);
    assert_eq!(herald_routes(&ns), Vec::<String>::new());
}

#[test]
fn a_restart_adopts_the_wanted_leftovers_and_removes_the_rest() {
    let ns = Namespace::new("local_addr_adopt");
    // What a speaker killed with SIGKILL left behind.
    for address in ["10.99.0.1/32", "10.99.0.2/32"] {
        ns.ip(&[
            "route", "add", "local", address, "dev", "lo", "table", "local", "proto", "72",
        ]);
    }
    ns.ip(&[
        "-6",
        "route",
        "add",
        "local",
        "fd00:99::2/128",
        "dev",
        "lo",
        "table",
        "local",
        "proto",
        "72",
    ]);
    let runtime = NsRuntime::start(&ns.name);
    let plan = runtime.block_on(async {
        let local = LocalAddresses::connect().await.expect("netlink");
        local
            .adopt(&[ip("10.99.0.2"), ip("fd00:99::3")])
            .await
            .expect("adopt")
    });
    assert_eq!(plan.keep, [ip("10.99.0.2")]);
    assert_eq!(plan.remove, [ip("10.99.0.1"), ip("fd00:99::2")]);
    assert_eq!(plan.add, [ip("fd00:99::3")]);
    let routes = herald_routes(&ns);
    assert_eq!(routes.len(), 2, "{routes:?}");
    assert!(routes[0].starts_with("local 10.99.0.2 "), "{routes:?}");
    assert!(routes[1].starts_with("local fd00:99::3 "), "{routes:?}");
}

#[test]
fn routes_of_other_protocols_are_never_touched() {
    let ns = Namespace::new("local_addr_foreign");
    ns.ip(&[
        "route",
        "add",
        "local",
        "10.99.0.7/32",
        "dev",
        "lo",
        "table",
        "local",
        "proto",
        "static",
    ]);
    ns.ip(&["addr", "add", "10.98.0.1/32", "dev", "lo"]);
    let runtime = NsRuntime::start(&ns.name);
    let (ensured, removed, leftovers, ours) = runtime.block_on(async {
        let local = LocalAddresses::connect().await.expect("netlink");
        let ensured = local
            .ensure(&[ip("10.99.0.7"), ip("10.98.0.1")])
            .await
            .expect("ensure");
        let removed = local
            .remove(&[ip("10.99.0.7"), ip("10.98.0.1")])
            .await
            .expect("remove");
        let leftovers = local.remove_leftovers().await.expect("leftovers");
        let ours = local.list_ours().await.expect("list");
        (ensured, removed, leftovers, ours)
    });
    assert_eq!(ensured.foreign, [ip("10.99.0.7"), ip("10.98.0.1")]);
    assert!(ensured.added.is_empty());
    assert!(removed.is_empty() && leftovers.is_empty() && ours.is_empty());
    let static_route = ns.ip(&["route", "show", "table", "local", "10.99.0.7"]);
    assert!(static_route.contains("proto static"), "{static_route}");
    let kernel_route = ns.ip(&["route", "show", "table", "local", "10.98.0.1"]);
    assert!(kernel_route.contains("proto kernel"), "{kernel_route}");
}

/// Binds `address:7000` (with or without IP_FREEBIND), connects to it and echoes a line.
async fn bind_and_talk(address: IpAddr, freebind: bool) -> std::io::Result<Vec<u8>> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(SocketAddr::new(address, 0)),
        socket2::Type::STREAM,
        None,
    )?;
    if freebind {
        match address {
            IpAddr::V4(_) => socket.set_freebind_v4(true)?,
            IpAddr::V6(_) => socket.set_freebind_v6(true)?,
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(address, 7000).into())?;
    socket.listen(8)?;
    let listener = tokio::net::TcpListener::from_std(socket.into())?;
    let mut client = tokio::net::TcpStream::connect(SocketAddr::new(address, 7000)).await?;
    let (mut server, _) = listener.accept().await?;
    client.write_all(b"ping").await?;
    let mut received = vec![0; 4];
    server.read_exact(&mut received).await?;
    Ok(received)
}

#[test]
fn a_listener_binds_a_local_route_address_ipv4_as_is_ipv6_with_freebind() {
    let ns = Namespace::new("local_addr_bind");
    let runtime = NsRuntime::start(&ns.name);
    let (v4, v6, v6_plain, v4_unrouted) = runtime.block_on(async {
        let local = LocalAddresses::connect().await.expect("netlink");
        local
            .ensure(&[ip("10.99.0.1"), ip("fd00:99::1")])
            .await
            .expect("ensure");
        let v4 = bind_and_talk(ip("10.99.0.1"), false).await;
        let v6 = bind_and_talk(ip("fd00:99::1"), true).await;
        let v6_plain = bind_and_talk(ip("fd00:99::1"), false).await;
        // Freebind lets a socket bind before the route exists; traffic needs the route.
        let v4_unrouted = bind_and_talk(ip("10.99.0.50"), true).await;
        (v4, v6, v6_plain, v4_unrouted)
    });
    assert_eq!(v4.expect("IPv4 AnyIP"), b"ping");
    assert_eq!(v6.expect("IPv6 AnyIP with freebind"), b"ping");
    assert!(
        v6_plain.is_err(),
        "IPv6 binds only link addresses without IPV6_FREEBIND"
    );
    assert!(
        v4_unrouted.is_err(),
        "no route: the connect cannot reach a listener"
    );
}
