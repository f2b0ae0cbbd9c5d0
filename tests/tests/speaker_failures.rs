//! A speaker that stops (SIGTERM), dies (SIGKILL) or freezes (SIGSTOP): its next hop
//! leaves the router's FIB. The lab runs with `hold-time: 3s` in config.yaml, so FRR
//! negotiates 3 s (keepalive 1 s) and a frozen speaker is dropped within about 3 s.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use herald_e2e::{Family, Lab, LabOptions, Policy};
use herald_testsupport::wait::{ms, wait_until};

const SAFETY: Duration = Duration::from_secs(30);

fn lab_with_service(test: &str) -> (Lab, IpAddr, IpAddr) {
    let lab = Lab::start(
        test,
        LabOptions {
            hold_time: "3s".to_owned(),
            ..LabOptions::default()
        },
    );
    lab.service("web", Policy::Cluster, Family::Dual, &[1, 2, 3]);
    let v4 = lab.address("web", Family::Ipv4);
    let v6 = lab.address("web", Family::Ipv6);
    for address in [v4, v6] {
        lab.wait_fib(address, &Lab::next_hops(&lab.all_nodes(), address), SAFETY);
    }
    (lab, v4, v6)
}

/// Waits for both families' FIB entries to have exactly `nodes`; prints and returns the
/// time from `start` for each.
fn wait_both(lab: &Lab, v4: IpAddr, v6: IpAddr, nodes: &[usize], start: Instant) -> [Duration; 2] {
    [v4, v6].map(|address| {
        let want = Lab::next_hops(nodes, address);
        wait_until(
            SAFETY,
            &format!("router FIB: {address} via {want:?}"),
            || (lab.fib_next_hops(address) == want).then(|| start.elapsed()),
            || format!("{:?}", lab.fib_next_hops(address)),
        )
        .0
    })
}

#[test]
fn sigterm_withdraws_and_closes_with_cease_then_a_restart_announces_again() {
    let (lab, v4, v6) = lab_with_service("sigterm");
    let node1 = Lab::node_address(1, Family::Ipv4);

    let start = Instant::now();
    lab.signal_speaker(1, "TERM");
    let [t4, t6] = wait_both(&lab, v4, v6, &[2, 3], start);
    let exited = lab.wait_speaker_exit(1, SAFETY);
    println!(
        "SIGTERM node1 -> router FIB without node1: IPv4 {}, IPv6 {}; speaker exited after {}",
        ms(t4),
        ms(t6),
        ms(exited)
    );
    let log = lab.router_log();
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("received from neighbor {node1}"))
                && l.contains("Cease/Administrative Shutdown")),
        "FRR got a Cease from node1:\n{log}"
    );
    let speaker_log = lab.speaker_log(1);
    assert!(speaker_log.contains("stopped"), "{speaker_log}");
    lab.curl(v4)
        .unwrap_or_else(|e| panic!("the other nodes still answer: {e}"));

    let start = Instant::now();
    lab.start_speaker(1);
    let [t4, t6] = wait_both(&lab, v4, v6, &[1, 2, 3], start);
    println!(
        "node1 restarted -> back in the router FIB: IPv4 {}, IPv6 {}",
        ms(t4),
        ms(t6)
    );
}

#[test]
fn sigkill_drops_the_sessions_and_the_routes() {
    let (lab, v4, v6) = lab_with_service("sigkill");
    let node2 = Lab::node_address(2, Family::Ipv4);

    let start = Instant::now();
    lab.signal_speaker(2, "KILL");
    let [t4, t6] = wait_both(&lab, v4, v6, &[1, 3], start);
    println!(
        "SIGKILL node2 -> router FIB without node2: IPv4 {}, IPv6 {} (the kernel closes the TCP connections)",
        ms(t4),
        ms(t6)
    );
    let (_, took) = wait_until(
        SAFETY,
        "node2's sessions gone from FRR",
        || {
            let sessions = lab.sessions();
            let up = |a: &IpAddr| sessions.get(a).is_some_and(|s| s.state == "Established");
            (!up(&node2) && !up(&Lab::node_address(2, Family::Ipv6))).then_some(())
        },
        || format!("{:?}", lab.sessions()),
    );
    println!("node2's sessions down in FRR {} after the routes", ms(took));
    assert_eq!(lab.established(), 4, "node1 and node3 keep theirs");

    lab.start_speaker(2);
    wait_both(&lab, v4, v6, &[1, 2, 3], Instant::now());
}

#[test]
fn frozen_speaker_is_dropped_when_the_negotiated_hold_time_expires() {
    let (lab, v4, v6) = lab_with_service("sigstop");
    let node3 = Lab::node_address(3, Family::Ipv4);
    let neighbor = lab.vtysh(&format!("show bgp neighbors {node3} json"));
    assert_eq!(
        herald_e2e::frr::hold_time_ms(&neighbor, node3),
        Some(3000),
        "FRR negotiated the speaker's 3 s hold time: {neighbor}"
    );

    let start = Instant::now();
    lab.signal_speaker(3, "STOP");
    let [t4, t6] = wait_both(&lab, v4, v6, &[1, 2], start);
    println!(
        "SIGSTOP node3 -> router FIB without node3: IPv4 {}, IPv6 {} (hold time 3 s)",
        ms(t4),
        ms(t6)
    );
    assert!(
        lab.router_log().contains("Hold Timer Expired"),
        "FRR's hold timer expired:\n{}",
        lab.router_log()
    );

    // Thawed, the speaker finds its sessions gone, reconnects and announces again.
    let start = Instant::now();
    lab.signal_speaker(3, "CONT");
    let [t4, t6] = wait_both(&lab, v4, v6, &[1, 2, 3], start);
    println!(
        "SIGCONT node3 -> back in the router FIB: IPv4 {}, IPv6 {}",
        ms(t4),
        ms(t6)
    );
}
