//! Herald and keepalived 2.2 in one virtual router, each in its own network namespace:
//! priority decides the master; keepalived stopped (SIGTERM, priority 0) -> Herald
//! takes over and holds the address; keepalived back with a higher priority -> it
//! preempts and Herald removes the address. keepalived missing fails the test.
#![allow(clippy::unwrap_used)] // a panic in a test is the failure report

mod driver_support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use driver_support::{
    B4, Keepalived, NsRuntime, Topology, VIP4, VIP6, has_address, init_tracing, mac, neighbour_is,
    wait_for_status, wait_until,
};
use vrrp::Centiseconds;
use vrrp::driver::{Instance, Options, Status, primary_address};
use vrrp::fsm::{Config, State};
use vrrp::packet::{Family, VirtualAddresses};

const VRID: u8 = 51;
const HERALD_PRIORITY: u8 = 100;
const KEEPALIVED_PRIORITY: u8 = 150;

fn wait_for(
    runtime: &NsRuntime,
    instance: &Instance,
    what: &str,
    keepalived: &Keepalived,
    wanted: impl Fn(&Status) -> bool + Send + Sync + 'static,
) -> Instant {
    let log = || format!("keepalived log:\n{}", keepalived.log());
    wait_for_status(runtime, instance, what, log, wanted)
}

fn interop(family: Family) {
    init_tracing();
    let vip_text = match family {
        Family::Ipv4 => VIP4,
        Family::Ipv6 => VIP6,
    };
    let vip: IpAddr = vip_text.parse().unwrap();
    let topology = Topology::new(&format!("keepalived-{family}"));
    let (ns_herald, ns_keepalived) = (topology.a.clone(), topology.b.clone());
    let dir = tempfile::tempdir().unwrap();
    let runtime = NsRuntime::start(&ns_herald);
    let keepalived_address: IpAddr = match family {
        Family::Ipv4 => B4.parse().unwrap(),
        Family::Ipv6 => {
            let peer = NsRuntime::start(&ns_keepalived);
            peer.block_on(async move { primary_address("eth0", family).unwrap() })
        }
    };

    // keepalived (150) and Herald (100): keepalived is master, Herald follows it.
    let mut keepalived =
        Keepalived::start(&ns_keepalived, dir.path(), VRID, KEEPALIVED_PRIORITY, vip);
    let herald = runtime.block_on(async move {
        let addresses = match vip {
            IpAddr::V4(v4) => VirtualAddresses::V4(vec![v4]),
            IpAddr::V6(v6) => VirtualAddresses::V6(vec![v6]),
        };
        let primary = primary_address("eth0", family).unwrap();
        let mut config = Config::new(VRID, HERALD_PRIORITY, primary, addresses);
        config.advert_interval = Centiseconds(10);
        Instance::start("eth0", config, Options::default()).unwrap()
    });
    wait_until(
        Duration::from_secs(15),
        "keepalived holds the address",
        || has_address(&ns_keepalived, vip_text),
    );
    wait_for(
        &runtime,
        &herald,
        "Backup following keepalived",
        &keepalived,
        move |s| s.state == State::Backup && s.master == Some(keepalived_address),
    );
    assert!(
        !has_address(&ns_herald, vip_text),
        "the backup has no address"
    );
    let status = herald.status().borrow().clone();
    assert_eq!(
        status.rejects.total(),
        0,
        "keepalived's adverts decode: {status:?}"
    );

    // keepalived stops (SIGTERM: priority 0): Herald takes over and holds the address.
    let stopped = Instant::now();
    keepalived.terminate();
    let took_over = wait_for(&runtime, &herald, "Master", &keepalived, |s| {
        s.state == State::Master
    });
    let gap = took_over - stopped;
    println!(
        "{family}: keepalived SIGTERM -> Herald Master after {} ms",
        gap.as_millis()
    );
    // Priority 0: Skew_Time (60 ms here), well before Master_Down_Interval (360 ms).
    assert!(gap < Duration::from_millis(360), "took {gap:?}");
    keepalived.wait_exit();
    wait_until(Duration::from_secs(5), "Herald holds the address", || {
        has_address(&ns_herald, vip_text)
    });
    assert!(
        !has_address(&ns_keepalived, vip_text),
        "keepalived removed its address"
    );
    // Herald's gratuitous ARP / unsolicited NA reached keepalived's node.
    let herald_mac = mac(&ns_herald);
    wait_until(Duration::from_secs(5), "the announcements arrive", || {
        neighbour_is(&ns_keepalived, vip_text, &herald_mac)
    });

    // keepalived back with the higher priority: it preempts, Herald removes the address.
    let started = Instant::now();
    let keepalived = Keepalived::start(&ns_keepalived, dir.path(), VRID, KEEPALIVED_PRIORITY, vip);
    wait_for(
        &runtime,
        &herald,
        "Backup after preemption",
        &keepalived,
        move |s| s.state == State::Backup && s.master == Some(keepalived_address),
    );
    println!(
        "{family}: keepalived restarted -> Herald Backup after {} ms",
        started.elapsed().as_millis()
    );
    wait_until(
        Duration::from_secs(5),
        "the address moves to keepalived",
        || has_address(&ns_keepalived, vip_text) && !has_address(&ns_herald, vip_text),
    );
    let status = herald.status().borrow().clone();
    assert_eq!(status.rejects.total(), 0, "{status:?}");
    assert_eq!(status.errors.len(), 0, "{status:?}");

    runtime.block_on(herald.shutdown()).unwrap();
    drop(keepalived);
}

#[test]
fn ipv4_herald_and_keepalived_elect_fail_over_and_preempt() {
    interop(Family::Ipv4);
}

#[test]
fn ipv6_herald_and_keepalived_elect_fail_over_and_preempt() {
    interop(Family::Ipv6);
}
