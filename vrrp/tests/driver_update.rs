//! `Instance::update` on a live pair of Herald instances in network namespaces: the
//! master takes new addresses and announces them, drops the removed ones, refuses
//! priority 255, and is preempted by the backup once lowered below it.
#![allow(clippy::unwrap_used)] // a panic in a test is the failure report

mod driver_support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use driver_support::{
    NsRuntime, Topology, has_address, init_tracing, mac, neighbour_is, wait_for_state, wait_until,
};
use vrrp::Centiseconds;
use vrrp::driver::{DriverError, Instance, Options, primary_address};
use vrrp::fsm::{Config, ConfigError, State};
use vrrp::packet::{Family, VirtualAddresses};

const VRID: u8 = 61;

fn vips(lasts: &[u8]) -> VirtualAddresses {
    VirtualAddresses::V4(
        lasts
            .iter()
            .map(|l| Ipv4Addr::new(172, 30, 0, *l))
            .collect(),
    )
}

fn start(runtime: &NsRuntime, priority: u8) -> Instance {
    runtime.block_on(async move {
        let primary = primary_address("eth0", Family::Ipv4).unwrap();
        let mut config = Config::new(VRID, priority, primary, vips(&[100]));
        config.advert_interval = Centiseconds(10);
        Instance::start("eth0", config, Options::default()).unwrap()
    })
}

#[test]
fn a_master_updated_live_moves_to_the_new_addresses_and_yields_when_lowered() {
    init_tracing();
    let topology = Topology::new("update");
    let (ns_a, ns_b) = (topology.a.clone(), topology.b.clone());
    let runtime_a = NsRuntime::start(&ns_a);
    let runtime_b = NsRuntime::start(&ns_b);
    let master = start(&runtime_a, 200);
    wait_for_state(&runtime_a, &master, State::Master);
    let backup = start(&runtime_b, 150);
    wait_for_state(&runtime_b, &backup, State::Backup);
    wait_until(Duration::from_secs(5), ".100 is on a", || {
        has_address(&ns_a, "172.30.0.100")
    });

    // Add .101 and .102, drop .100: a stays master and holds exactly the new list.
    let transitions = master.status().borrow().transitions;
    runtime_a
        .block_on(master.update(200, vips(&[101, 102])))
        .unwrap();
    runtime_b
        .block_on(backup.update(150, vips(&[101, 102])))
        .unwrap();
    wait_until(Duration::from_secs(5), "a holds the new list", || {
        has_address(&ns_a, "172.30.0.101")
            && has_address(&ns_a, "172.30.0.102")
            && !has_address(&ns_a, "172.30.0.100")
    });
    assert_eq!(master.status().borrow().state, State::Master);
    assert_eq!(master.status().borrow().transitions, transitions);
    assert!(
        !has_address(&ns_b, "172.30.0.101"),
        "the backup adds nothing"
    );
    // The new addresses were announced: b's neighbour table learnt a's MAC for them.
    let mac_a = mac(&ns_a);
    wait_until(Duration::from_secs(5), "b heard the announcements", || {
        neighbour_is(&ns_b, "172.30.0.102", &mac_a)
    });

    // Priority 255 is the owner's: refused with a typed error, nothing changes.
    let refused = runtime_a.block_on(master.update(255, vips(&[101, 102])));
    assert!(
        matches!(&refused, Err(DriverError::Config(p)) if p == &[ConfigError::OwnerChange { from: 200, to: 255 }]),
        "{refused:?}"
    );
    assert_eq!(master.status().borrow().state, State::Master);

    // Lowered below b (150): a goes on until b preempts it, then a removes the list.
    runtime_a
        .block_on(master.update(100, vips(&[101, 102])))
        .unwrap();
    wait_for_state(&runtime_b, &backup, State::Master);
    wait_for_state(&runtime_a, &master, State::Backup);
    let a_address: IpAddr = "172.30.0.1".parse().unwrap();
    let b_master = backup.status().borrow().master;
    assert_ne!(b_master, Some(a_address));
    wait_until(Duration::from_secs(5), "the list moved to b", || {
        has_address(&ns_b, "172.30.0.101")
            && has_address(&ns_b, "172.30.0.102")
            && !has_address(&ns_a, "172.30.0.101")
            && !has_address(&ns_a, "172.30.0.102")
    });
    let status = master.status().borrow().clone();
    assert_eq!(status.errors.len(), 0, "{status:?}");

    runtime_a.block_on(master.shutdown()).unwrap();
    runtime_b.block_on(backup.shutdown()).unwrap();
}
