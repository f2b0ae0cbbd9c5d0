//! Two Herald instances on one segment, each in its own network namespace: one master,
//! the address on exactly one node, takeover within Master_Down_Interval after a
//! crash, and at once after a graceful stop (priority 0).
#![allow(clippy::unwrap_used)] // a panic in a test is the failure report

mod driver_support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use driver_support::{
    A4, NsRuntime, Topology, VIP4, VIP6, addresses, has_address, init_tracing, wait_for_state,
    wait_until,
};
use vrrp::Centiseconds;
use vrrp::driver::{Instance, Options, primary_address, remove_stale};
use vrrp::fsm::{Config, State, master_down_interval};
use vrrp::packet::{Family, VirtualAddresses};

const VRID: u8 = 42;
/// 100 ms adverts.
const ADVERT: Centiseconds = Centiseconds(10);

fn start(runtime: &NsRuntime, priority: u8, family: Family) -> Instance {
    runtime.block_on(async move {
        let addresses = match family {
            Family::Ipv4 => VirtualAddresses::V4(vec![VIP4.parse().unwrap()]),
            Family::Ipv6 => VirtualAddresses::V6(vec![VIP6.parse().unwrap()]),
        };
        let primary = primary_address("eth0", family).unwrap();
        let mut config = Config::new(VRID, priority, primary, addresses);
        config.advert_interval = ADVERT;
        Instance::start("eth0", config, Options::default()).unwrap()
    })
}

fn state(instance: &Instance) -> State {
    instance.status().borrow().state
}

fn only_on(ns: &str, other: &str, vip: &str) -> bool {
    has_address(ns, vip) && !has_address(other, vip)
}

fn pair(family: Family) {
    init_tracing();
    let vip = match family {
        Family::Ipv4 => VIP4,
        Family::Ipv6 => VIP6,
    };
    let topology = Topology::new(&format!("herald-pair-{family}"));
    let (ns_a, ns_b) = (topology.a.clone(), topology.b.clone());
    let runtime_a = NsRuntime::start(&ns_a);
    let runtime_b = NsRuntime::start(&ns_b);
    let limit = master_down_interval(100, ADVERT).as_duration();

    // Election: the higher priority (a, 200) is master; the address is on a only.
    let backup = start(&runtime_b, 100, family);
    let master = start(&runtime_a, 200, family);
    wait_for_state(&runtime_a, &master, State::Master);
    wait_until(Duration::from_secs(5), "the address is on a only", || {
        only_on(&ns_a, &ns_b, vip)
    });
    wait_for_state(&runtime_b, &backup, State::Backup);
    assert_eq!(state(&backup), State::Backup);
    let master_address: IpAddr = match family {
        Family::Ipv4 => A4.parse().unwrap(),
        Family::Ipv6 => primary_address_in(&runtime_a, family),
    };
    wait_until(Duration::from_secs(5), "b follows a", || {
        backup.status().borrow().master == Some(master_address)
    });
    // The IPv4 mark `ip` shows (iproute2 6.1 does not print IFA_PROTO, the other
    // mark: remove_stale below finds it).
    if family == Family::Ipv4 {
        let marks = addresses(&ns_a);
        assert!(marks.contains(" eth0:hv"), "{marks}");
    }

    // Crash: the master's task dies without a word; b takes over within
    // Master_Down_Interval, the stale address stays on a.
    let killed = Instant::now();
    drop(master);
    let took_over = wait_for_state(&runtime_b, &backup, State::Master);
    let gap = took_over - killed;
    println!(
        "{family}: crash -> b Master after {} ms (Master_Down_Interval {} ms)",
        gap.as_millis(),
        limit.as_millis()
    );
    assert!(
        gap <= limit + Duration::from_millis(50),
        "took {gap:?}, more than {limit:?}"
    );
    wait_until(Duration::from_secs(5), "b has the address", || {
        has_address(&ns_b, vip)
    });
    assert!(has_address(&ns_a, vip), "a crash leaves the address");
    // What a restarted speaker does first: remove what Herald left, by its marks.
    let stale = runtime_a.block_on(async { remove_stale("eth0").unwrap() });
    assert_eq!(stale, vec![vip.parse::<IpAddr>().unwrap()]);
    assert!(!has_address(&ns_a, vip), "{}", addresses(&ns_a));
    assert!(has_address(&ns_b, vip), "b keeps the address");

    // Restart a: it starts in Backup, then preempts b
    // (higher priority), and b removes the address.
    let master = start(&runtime_a, 200, family);
    wait_for_state(&runtime_a, &master, State::Master);
    wait_for_state(&runtime_b, &backup, State::Backup);
    wait_until(
        Duration::from_secs(5),
        "the address is back on a only",
        || only_on(&ns_a, &ns_b, vip),
    );
    assert!(
        master.status().borrow().transitions >= 2,
        "a went through Backup"
    );

    // Graceful stop: priority 0, b takes over after Skew_Time, and only then does a
    // remove the address (make-before-break: one node serves it all along).
    let stopped = Instant::now();
    runtime_a.block_on(master.shutdown()).unwrap();
    assert_eq!(
        state(&backup),
        State::Master,
        "a kept the address until b took over"
    );
    assert!(!has_address(&ns_a, vip), "shutdown removes the address");
    let took_over = wait_for_state(&runtime_b, &backup, State::Master);
    let gap = took_over - stopped;
    println!(
        "{family}: graceful stop -> b Master after {} ms",
        gap.as_millis()
    );
    assert!(gap < limit, "took {gap:?} after priority 0");
    wait_until(Duration::from_secs(5), "the address is on b only", || {
        only_on(&ns_b, &ns_a, vip)
    });

    runtime_b.block_on(backup.shutdown()).unwrap();
    assert!(!has_address(&ns_b, vip), "shutdown removes the address");
}

fn primary_address_in(runtime: &NsRuntime, family: Family) -> IpAddr {
    runtime.block_on(async move { primary_address("eth0", family).unwrap() })
}

#[test]
fn ipv4_backup_takes_over_after_a_crash_and_after_a_graceful_stop() {
    pair(Family::Ipv4);
}

#[test]
fn ipv6_backup_takes_over_after_a_crash_and_after_a_graceful_stop() {
    pair(Family::Ipv6);
}

/// A partition (b's link down: neither hears the other) makes both masters, each holding
/// the address on its side; when the link comes back, the lower-priority master hears
/// the higher one's advert, turns backup and removes the address: exactly one holder
/// again within about one advert interval.
#[test]
fn after_a_partition_heals_exactly_one_node_holds_the_address() {
    init_tracing();
    let topology = Topology::new("herald-partition");
    let (ns_a, ns_b) = (topology.a.clone(), topology.b.clone());
    let runtime_a = NsRuntime::start(&ns_a);
    let runtime_b = NsRuntime::start(&ns_b);
    let master = start(&runtime_a, 200, Family::Ipv4);
    wait_for_state(&runtime_a, &master, State::Master);
    let backup = start(&runtime_b, 100, Family::Ipv4);
    wait_for_state(&runtime_b, &backup, State::Backup);
    wait_until(Duration::from_secs(5), "the address is on a only", || {
        only_on(&ns_a, &ns_b, VIP4)
    });

    driver_support::run("ip", &["-n", &ns_b, "link", "set", "eth0", "down"]);
    wait_for_state(&runtime_b, &backup, State::Master);
    wait_until(Duration::from_secs(5), "both hold the address", || {
        has_address(&ns_a, VIP4) && has_address(&ns_b, VIP4)
    });
    assert_eq!(state(&master), State::Master, "a never lost mastership");

    let healed = Instant::now();
    driver_support::run("ip", &["-n", &ns_b, "link", "set", "eth0", "up"]);
    let backed_off = wait_for_state(&runtime_b, &backup, State::Backup);
    wait_until(
        Duration::from_secs(5),
        "the address is on a only again",
        || only_on(&ns_a, &ns_b, VIP4),
    );
    let one_holder = healed.elapsed();
    println!(
        "partition healed -> b Backup after {} ms, one holder after {} ms",
        (backed_off - healed).as_millis(),
        one_holder.as_millis()
    );
    // One advert interval, plus the link coming up (carrier, multicast rejoin) and the
    // polling of `ip addr`.
    assert!(
        one_holder < ADVERT.as_duration() + Duration::from_millis(400),
        "two holders for {one_holder:?} after the heal"
    );
    assert_eq!(state(&master), State::Master);
}
