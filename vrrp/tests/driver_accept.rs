//! Accept mode as Herald has it: a master accepts traffic sent to its virtual address
//! even with `Config::accept` off (the address is on the interface and nothing
//! filters), as keepalived does without `vrrp_strict`. A client in the other namespace
//! connects to a TCP listener on the address.
#![allow(clippy::unwrap_used)] // a panic in a test is the failure report

mod driver_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use driver_support::{NsRuntime, Topology, VIP4, has_address, init_tracing, wait_until};
use vrrp::Centiseconds;
use vrrp::driver::{Instance, Options, Status, primary_address};
use vrrp::fsm::{Config, State};
use vrrp::packet::{Family, VirtualAddresses};

#[test]
fn a_master_without_accept_mode_still_answers_on_its_virtual_address() {
    init_tracing();
    let topology = Topology::new("accept");
    let runtime_a = NsRuntime::start(&topology.a);
    let runtime_b = NsRuntime::start(&topology.b);
    let master = runtime_a.block_on(async {
        let primary = primary_address("eth0", Family::Ipv4).unwrap();
        let addresses = VirtualAddresses::V4(vec![VIP4.parse().unwrap()]);
        // Not the owner (200, not 255) and accept off: RFC 5798 would have this
        // master drop traffic to the address.
        let mut config = Config::new(91, 200, primary, addresses);
        config.advert_interval = Centiseconds(10);
        config.accept = false;
        Instance::start("eth0", config, Options::default()).unwrap()
    });
    let mut status = master.status();
    let reached = runtime_a.block_on(async move {
        tokio::time::timeout(
            Duration::from_secs(10),
            status.wait_for(|s: &Status| s.state == State::Master),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    });
    assert!(reached, "no Master: {:?}", *master.status().borrow());
    wait_until(Duration::from_secs(5), "the address is on a", || {
        has_address(&topology.a, VIP4)
    });

    let address = SocketAddr::new(VIP4.parse().unwrap(), 8080);
    let listener = runtime_a.block_on(async move { TcpListener::bind(address).unwrap() });
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"master").unwrap();
    });
    let answer = runtime_b.block_on(async move {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    });
    server.join().unwrap();
    assert_eq!(answer, "master");
    runtime_a.block_on(master.shutdown()).unwrap();
}
