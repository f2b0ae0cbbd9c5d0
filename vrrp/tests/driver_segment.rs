//! Many virtual routers on one interface share one receive socket (`Segment`): three
//! Herald instances on one segment elect correctly against keepalived running the same
//! three VRIDs, and 200 instances per node on one interface with 100 ms adverts each
//! see their own master, every advert decoded once per segment.
#![allow(clippy::unwrap_used)] // a panic in a test is the failure report

mod driver_support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use driver_support::{
    A4, B4, Keepalived, NsRuntime, Topology, has_address, init_tracing, vrrp_instance, wait_until,
};
use vrrp::Centiseconds;
use vrrp::driver::{DriverError, Instance, Options, Segment, Status, primary_address};
use vrrp::fsm::{Config, State};
use vrrp::packet::{Family, VirtualAddresses};

fn vip(vrid: u8) -> Ipv4Addr {
    Ipv4Addr::new(172, 30, 1, vrid)
}

fn config(primary: IpAddr, vrid: u8, priority: u8) -> Config {
    let mut config = Config::new(
        vrid,
        priority,
        primary,
        VirtualAddresses::V4(vec![vip(vrid)]),
    );
    config.advert_interval = Centiseconds(10);
    config
}

/// Opens a segment on eth0 and starts one instance per (VRID, priority).
fn segment(runtime: &NsRuntime, routers: Vec<(u8, u8)>) -> (Segment, Vec<Instance>) {
    runtime.block_on(async move {
        let primary = primary_address("eth0", Family::Ipv4).unwrap();
        let segment = Segment::open("eth0", primary).unwrap();
        let instances = routers
            .into_iter()
            .map(|(vrid, priority)| {
                segment
                    .start_instance(config(primary, vrid, priority), Options::default())
                    .unwrap()
            })
            .collect();
        (segment, instances)
    })
}

fn settled(instance: &Instance, state: State, master: IpAddr) -> bool {
    let status: Status = instance.status().borrow().clone();
    status.state == state && status.master == Some(master)
}

#[test]
fn three_instances_on_one_segment_elect_against_keepalived() {
    init_tracing();
    let topology = Topology::new("segment-keepalived");
    let (ns_herald, ns_keepalived) = (topology.a.clone(), topology.b.clone());
    let dir = tempfile::tempdir().unwrap();
    let runtime = NsRuntime::start(&ns_herald);
    // keepalived runs 71-73 at 150; Herald wins 71 and 73 (200), loses 72 (100).
    let blocks: String = [71u8, 72, 73]
        .iter()
        .map(|vrid| {
            vrrp_instance(
                &format!("VI{vrid}"),
                *vrid,
                150,
                "0.1",
                &[IpAddr::V4(vip(*vrid))],
                None,
            )
        })
        .collect();
    let keepalived = Keepalived::start_with(&ns_keepalived, dir.path(), &blocks);
    let (segment, instances) = segment(&runtime, vec![(71, 200), (72, 100), (73, 200)]);
    let (a, b): (IpAddr, IpAddr) = (A4.parse().unwrap(), B4.parse().unwrap());
    let expected = [(State::Master, a), (State::Backup, b), (State::Master, a)];
    wait_until(
        Duration::from_secs(15),
        "the three elections settle",
        || {
            instances
                .iter()
                .zip(expected)
                .all(|(i, (state, master))| settled(i, state, master))
        },
    );
    wait_until(Duration::from_secs(5), "each address on its master", || {
        has_address(&ns_herald, "172.30.1.71")
            && has_address(&ns_keepalived, "172.30.1.72")
            && has_address(&ns_herald, "172.30.1.73")
            && !has_address(&ns_herald, "172.30.1.72")
            && !has_address(&ns_keepalived, "172.30.1.71")
            && !has_address(&ns_keepalived, "172.30.1.73")
    });
    let status = segment.status().borrow().clone();
    assert_eq!(status.instances, 3, "{status:?}");
    assert!(status.received > 0, "{status:?}");
    assert_eq!(
        status.rejects.total(),
        0,
        "{status:?}\n{}",
        keepalived.log()
    );
    assert_eq!(status.overflows, 0, "{status:?}");

    // One VRID per segment; an instance sends from the segment's address.
    let refused = runtime.block_on({
        let segment = segment.clone();
        async move { segment.start_instance(config(a, 71, 100), Options::default()) }
    });
    assert!(
        matches!(refused, Err(DriverError::VridInUse { vrid: 71, .. })),
        "{refused:?}"
    );
    let refused = runtime.block_on({
        let segment = segment.clone();
        async move { segment.start_instance(config(b, 74, 100), Options::default()) }
    });
    assert!(
        matches!(refused, Err(DriverError::OtherPrimary { .. })),
        "{refused:?}"
    );

    // An instance that stops frees its VRID: adverts for it count as unknown.
    let mut instances = instances;
    let stopped = instances.remove(1);
    runtime.block_on(stopped.shutdown()).unwrap();
    let before = segment.status().borrow().unknown_vrids;
    wait_until(
        Duration::from_secs(5),
        "keepalived's VRID 72 is unknown now",
        || segment.status().borrow().unknown_vrids > before + 3,
    );
    for instance in instances {
        runtime.block_on(instance.shutdown()).unwrap();
    }
    drop(keepalived);
}

#[test]
fn two_hundred_instances_per_node_on_one_interface_each_see_their_own_master() {
    init_tracing();
    let topology = Topology::new("segment-200");
    let runtime_a = NsRuntime::start(&topology.a);
    let runtime_b = NsRuntime::start(&topology.b);
    // Odd VRIDs are a's (200 against 100), even ones b's.
    let priority = |vrid: u8, ours_when_odd: bool| {
        if (vrid % 2 == 1) == ours_when_odd {
            200
        } else {
            100
        }
    };
    let (segment_a, on_a) = segment(
        &runtime_a,
        (1..=200).map(|v| (v, priority(v, true))).collect(),
    );
    let (segment_b, on_b) = segment(
        &runtime_b,
        (1..=200).map(|v| (v, priority(v, false))).collect(),
    );
    let (a, b): (IpAddr, IpAddr) = (A4.parse().unwrap(), B4.parse().unwrap());
    let all_settled = || {
        (1..=200u8).all(|vrid| {
            let (instance_a, instance_b) =
                (&on_a[usize::from(vrid - 1)], &on_b[usize::from(vrid - 1)]);
            if vrid % 2 == 1 {
                settled(instance_a, State::Master, a) && settled(instance_b, State::Backup, a)
            } else {
                settled(instance_a, State::Backup, b) && settled(instance_b, State::Master, b)
            }
        })
    };
    wait_until(
        Duration::from_secs(30),
        "all 200 elections settle",
        all_settled,
    );
    // Stable: a second later every instance still follows the same master.
    let transitions: u64 = on_a
        .iter()
        .chain(&on_b)
        .map(|i| i.status().borrow().transitions)
        .sum();
    let received = segment_a.status().borrow().received;
    std::thread::sleep(Duration::from_secs(1));
    assert!(all_settled(), "a master changed");
    let later: u64 = on_a
        .iter()
        .chain(&on_b)
        .map(|i| i.status().borrow().transitions)
        .sum();
    assert_eq!(later, transitions, "no instance flapped");
    // b's 100 masters advertise every 100 ms: about 1,000 adverts a second reach a,
    // each read and decoded once (not once per instance).
    let status = segment_a.status().borrow().clone();
    let per_second = status.received - received;
    assert!(
        (700..=1300).contains(&per_second),
        "{per_second} adverts/s: {status:?}"
    );
    assert_eq!(status.instances, 200);
    assert_eq!(status.overflows, 0, "{status:?}");
    assert_eq!(status.rejects.total(), 0, "{status:?}");
    assert_eq!(segment_b.status().borrow().overflows, 0);
    assert!(has_address(&topology.a, "172.30.1.1") && has_address(&topology.b, "172.30.1.2"));
    drop(on_a);
    drop(on_b);
}
