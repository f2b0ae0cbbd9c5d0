//! Unicast adverts (`Options::unicast_peers`, keepalived's `unicast_peer`), no
//! multicast at all: two Herald instances elect and fail over, and Herald and
//! keepalived with `unicast_peer` do the same in both directions. The namespaces'
//! IPv4 multicast output counter (`IpExt OutMcastPkts`, with link-local IGMP reports
//! off) shows that nothing went to 224.0.0.18.
#![allow(clippy::unwrap_used)] // a panic in a test is the failure report

mod driver_support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use driver_support::{
    A4, B4, Keepalived, NsRuntime, Topology, VIP4, has_address, init_tracing, run, vrrp_instance,
    wait_for_status, wait_until,
};
use vrrp::Centiseconds;
use vrrp::driver::{Instance, Options, Status, primary_address};
use vrrp::fsm::{Config, State, master_down_interval};
use vrrp::packet::{Family, VirtualAddresses};

const VRID: u8 = 81;
const ADVERT: Centiseconds = Centiseconds(10);

/// IPv4 multicast packets sent from namespace `ns` so far.
fn multicast_sent(ns: &str) -> u64 {
    let text = run("ip", &["netns", "exec", ns, "cat", "/proc/net/netstat"]);
    let mut lines = text.lines().filter(|l| l.starts_with("IpExt:"));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    let column = names
        .split_whitespace()
        .position(|n| n == "OutMcastPkts")
        .unwrap();
    values
        .split_whitespace()
        .nth(column)
        .unwrap()
        .parse()
        .unwrap()
}

/// No IGMP report for 224.0.0.18, so only adverts could count as multicast.
fn quiet_igmp(ns: &str) {
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv4.igmp_link_local_mcast_reports=0",
        ],
    );
}

fn start(runtime: &NsRuntime, priority: u8, peer: &str) -> Instance {
    let peer: IpAddr = peer.parse().unwrap();
    runtime.block_on(async move {
        let primary = primary_address("eth0", Family::Ipv4).unwrap();
        let addresses = VirtualAddresses::V4(vec![VIP4.parse().unwrap()]);
        let mut config = Config::new(VRID, priority, primary, addresses);
        config.advert_interval = ADVERT;
        let options = Options {
            unicast_peers: vec![peer],
            ..Options::default()
        };
        Instance::start("eth0", config, options).unwrap()
    })
}

#[test]
fn two_herald_instances_with_unicast_peers_elect_and_fail_over_without_multicast() {
    init_tracing();
    let topology = Topology::new("unicast-herald");
    let (ns_a, ns_b) = (topology.a.clone(), topology.b.clone());
    quiet_igmp(&ns_a);
    quiet_igmp(&ns_b);
    let multicast_before = multicast_sent(&ns_a) + multicast_sent(&ns_b);
    let runtime_a = NsRuntime::start(&ns_a);
    let runtime_b = NsRuntime::start(&ns_b);
    let a: IpAddr = A4.parse().unwrap();
    let limit = master_down_interval(100, ADVERT).as_duration();

    let backup = start(&runtime_b, 100, A4);
    let master = start(&runtime_a, 200, B4);
    wait_for_status(&runtime_a, &master, "a Master", String::new, |s| {
        s.state == State::Master
    });
    wait_for_status(
        &runtime_b,
        &backup,
        "b following a",
        String::new,
        move |s| s.state == State::Backup && s.master == Some(a),
    );
    wait_until(Duration::from_secs(5), "the address on a only", || {
        has_address(&ns_a, VIP4) && !has_address(&ns_b, VIP4)
    });

    // Crash: b hears no more unicast adverts and takes over in Master_Down_Interval.
    let killed = Instant::now();
    drop(master);
    let gap = wait_for_status(&runtime_b, &backup, "b Master", String::new, |s| {
        s.state == State::Master
    }) - killed;
    assert!(gap <= limit + Duration::from_millis(50), "took {gap:?}");

    // a back (preempts), then stopped gracefully: its priority 0 reaches b by unicast.
    let master = start(&runtime_a, 200, B4);
    wait_for_status(&runtime_a, &master, "a Master again", String::new, |s| {
        s.state == State::Master
    });
    wait_for_status(&runtime_b, &backup, "b Backup again", String::new, |s| {
        s.state == State::Backup
    });
    let stopped = Instant::now();
    runtime_a.block_on(master.shutdown()).unwrap();
    let gap = wait_for_status(&runtime_b, &backup, "b Master", String::new, |s| {
        s.state == State::Master
    }) - stopped;
    assert!(gap < limit, "took {gap:?} after priority 0");
    wait_until(Duration::from_secs(5), "the address on b only", || {
        has_address(&ns_b, VIP4) && !has_address(&ns_a, VIP4)
    });
    runtime_b.block_on(backup.shutdown()).unwrap();

    let multicast = multicast_sent(&ns_a) + multicast_sent(&ns_b) - multicast_before;
    assert_eq!(multicast, 0, "IPv4 multicast packets were sent");
}

#[test]
fn herald_and_keepalived_with_unicast_peers_elect_and_fail_over_both_ways() {
    init_tracing();
    let topology = Topology::new("unicast-keepalived");
    let (ns_herald, ns_keepalived) = (topology.a.clone(), topology.b.clone());
    quiet_igmp(&ns_herald);
    quiet_igmp(&ns_keepalived);
    let multicast_before = multicast_sent(&ns_herald) + multicast_sent(&ns_keepalived);
    let dir = tempfile::tempdir().unwrap();
    let runtime = NsRuntime::start(&ns_herald);
    let vip: IpAddr = VIP4.parse().unwrap();
    let keepalived_address: IpAddr = B4.parse().unwrap();
    let config = |priority| vrrp_instance("VI", VRID, priority, "0.1", &[vip], Some((B4, &[A4])));

    // keepalived (150) is master, Herald (100) follows it.
    let mut keepalived = Keepalived::start_with(&ns_keepalived, dir.path(), &config(150));
    let herald = start(&runtime, 100, B4);
    wait_for_status(
        &runtime,
        &herald,
        "Herald following keepalived",
        String::new,
        move |s| s.state == State::Backup && s.master == Some(keepalived_address),
    );
    wait_until(
        Duration::from_secs(10),
        "keepalived holds the address",
        || has_address(&ns_keepalived, VIP4) && !has_address(&ns_herald, VIP4),
    );

    // keepalived stops (priority 0 by unicast): Herald takes over.
    let stopped = Instant::now();
    keepalived.terminate();
    let gap = wait_for_status(&runtime, &herald, "Herald Master", String::new, |s| {
        s.state == State::Master
    }) - stopped;
    assert!(
        gap < Duration::from_millis(360),
        "took {gap:?} after priority 0"
    );
    keepalived.wait_exit();
    wait_until(Duration::from_secs(5), "Herald holds the address", || {
        has_address(&ns_herald, VIP4) && !has_address(&ns_keepalived, VIP4)
    });

    // keepalived back at 50 follows Herald; Herald crashes: keepalived takes over.
    let keepalived = Keepalived::start_with(&ns_keepalived, dir.path(), &config(50));
    let herald_status = herald.status();
    wait_until(Duration::from_secs(10), "keepalived stays backup", || {
        let status: Status = herald_status.borrow().clone();
        status.state == State::Master && keepalived.log().contains("Entering BACKUP STATE")
    });
    assert!(!has_address(&ns_keepalived, VIP4), "{}", keepalived.log());
    drop(herald);
    wait_until(Duration::from_secs(10), "keepalived takes over", || {
        has_address(&ns_keepalived, VIP4)
    });
    assert!(
        keepalived.log().contains("Entering MASTER STATE"),
        "{}",
        keepalived.log()
    );
    let multicast = multicast_sent(&ns_herald) + multicast_sent(&ns_keepalived) - multicast_before;
    assert_eq!(multicast, 0, "IPv4 multicast packets were sent");
    drop(keepalived);
}
