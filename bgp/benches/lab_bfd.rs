//! Lab benchmark: a node's failure -> the router's FIB without the node's route, for BGP's
//! hold timer alone and for BFD, side by side in one run. FRR 8.4 (zebra, bgpd, bfdd) is
//! the router; the node is a separate Herald process (this binary started again in the
//! node namespace) or, as the floor, FRR's own bgpd+bfdd. Prints figures; asserts nothing
//! about time.
//!
//! Scenarios, each `--rounds N` times (default 3 with `--bench`, 1 otherwise):
//! a. Herald, no BFD, FRR `timers 3 9` (hold 9 s);
//! b. Herald with BFD 100 ms x 3 (FRR's profile the same);
//! c. Herald with BFD 20 ms x 3;
//! d. FRR bgpd+bfdd as the node at 20 ms x 3 (the floor of this router).
//!
//! Two failures: SIGSTOP of the node's process(es) (its sockets stay open, so only a
//! timer can tell), and a cut link: iptables in the node namespace drops everything in
//! and out of its `eth0` (as a switch port going dark would; `ip link set down` is not
//! used because the router's end of the veth would lose carrier and the kernel would drop
//! the route at once, whatever BGP or BFD do). The clock starts just before the signal or
//! the `iptables` command (whose own start-up, a few ms, is inside the figure) and stops
//! when `ip route` in the router namespace (polled every 2 ms) no longer shows the route.
//!
//! `cargo bench -p bgp --bench lab_bfd` (root, frr installed). CPU of 100 sessions at
//! 20 ms: `cargo run --release -p bgp --example bfd_load`.
#![allow(clippy::unwrap_used)] // a panic in a benchmark is the failure report

#[path = "../tests/support/mod.rs"]
mod support;

use bgp::{BfdTimers, PeerConfig, RouteAttributes, Speaker, SpeakerConfig};
use ipnet::IpNet;
use std::path::Path;
use std::time::{Duration, Instant};
use support::daemon::Daemon;
use support::frr::{Frr, FrrBfd, FrrOptions, spawn_daemon};
use support::{NODE_AS, NODE4, ROUTER_AS, ROUTER4, Topology, fib, run, wait_until};

const CHILD: &str = "HERALD_BFD_BENCH_CHILD";
const SERVICE: &str = "10.99.0.10/32";
const SETTLE: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    Stop,
    Cut,
}

#[derive(Clone, Copy, Debug)]
enum Node {
    /// Herald, BFD at this interval (ms), or none.
    Herald(Option<u64>),
    /// FRR bgpd+bfdd at this interval (ms).
    Frr(u32),
}

fn main() {
    if let Ok(interval) = std::env::var(CHILD) {
        child(interval.parse().unwrap());
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let rounds = match args.iter().position(|a| a == "--rounds") {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .expect("--rounds needs a number"),
        None if full => 3,
        None => 1,
    };
    let scenarios = [
        ("a. Herald, hold timer only (3/9)", Node::Herald(None)),
        ("b. Herald, BFD 100 ms x 3", Node::Herald(Some(100))),
        ("c. Herald, BFD 20 ms x 3", Node::Herald(Some(20))),
        ("d. FRR bgpd+bfdd node, BFD 20 ms x 3", Node::Frr(20)),
    ];
    for (failure, what) in [(Failure::Stop, "SIGSTOP"), (Failure::Cut, "link cut")] {
        let mut results = Vec::new();
        for (name, node) in scenarios {
            let mut times: Vec<Duration> = (0..rounds).map(|_| measure(node, failure)).collect();
            times.sort();
            println!(
                "{name}: {what} -> route out of the router's FIB: median {:.0} ms (min {:.0}, max {:.0}, {rounds} rounds)",
                ms(times[times.len() / 2]),
                ms(times[0]),
                ms(times[times.len() - 1])
            );
            results.push(times[times.len() / 2]);
        }
        println!(
            "{what}: Herald at 20 ms x 3 / FRR node at 20 ms x 3 = {:.2} (target <= 1.1)",
            results[2].as_secs_f64() / results[3].as_secs_f64()
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The node process: a Speaker with one IPv4 session to the router, announcing SERVICE.
fn child(interval_ms: u64) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let speaker = Speaker::try_new(SpeakerConfig::default()).unwrap();
        let mut peer = PeerConfig::new(ROUTER4.into(), NODE_AS, ROUTER_AS, NODE4);
        peer.connect_retry = Duration::from_secs(1);
        peer.bfd = (interval_ms > 0).then(|| BfdTimers {
            desired_min_tx: Duration::from_millis(interval_ms),
            required_min_rx: Duration::from_millis(interval_ms),
            detect_mult: 3,
        });
        speaker.add_peer(peer).await.unwrap();
        speaker.announce(SERVICE.parse().unwrap(), RouteAttributes::default());
        std::future::pending::<()>().await;
    });
}

fn measure(node: Node, failure: Failure) -> Duration {
    let topology = Topology::new("lab_bfd");
    let mut neighbor_options = vec!["timers connect 1".to_owned()];
    let bfd = match node {
        Node::Herald(None) => {
            neighbor_options.push("timers 3 9".into());
            None
        }
        Node::Herald(Some(interval)) => Some(interval as u32),
        Node::Frr(interval) => Some(interval),
    };
    let frr = Frr::start(
        &topology,
        FrrOptions {
            neighbor_options,
            bfd: bfd.map(|interval| FrrBfd {
                transmit_ms: interval,
                receive_ms: interval,
                multiplier: 3,
            }),
            ..FrrOptions::default()
        },
    );
    let dir = tempfile::Builder::new()
        .prefix("herald-lab-bfd-")
        .tempdir()
        .unwrap();
    let mut processes = match node {
        Node::Herald(interval) => {
            let exe = std::env::current_exe().unwrap().display().to_string();
            let interval = interval.unwrap_or(0).to_string();
            vec![Daemon::spawn_with_env(
                &topology.node,
                "herald-node",
                &exe,
                &[],
                &[(CHILD, interval.as_str())],
                &dir.path().join("herald.out"),
            )]
        }
        Node::Frr(interval) => frr_node(&topology, dir.path(), interval),
    };
    let service: IpNet = SERVICE.parse().unwrap();
    wait_until(SETTLE, "the router's FIB holds the service route", || {
        for process in &mut processes {
            process.assert_running();
        }
        fib::route(&topology.router, service).filter(|r| fib::protocol(r).as_deref() == Some("bgp"))
    });
    if bfd.is_some() {
        wait_until(SETTLE, "the router's BFD session is up", || {
            frr.bfd_peer(NODE4.into())
                .filter(|p| p["status"].as_str() == Some("up"))
        });
        // Let the Poll Sequence after Up settle the fast timers, and FRR restart its BFD
        // session after BGP came up (it does, once), then check again.
        std::thread::sleep(Duration::from_secs(2));
        wait_until(SETTLE, "route and BFD session in place", || {
            (fib::route(&topology.router, service).is_some()
                && frr
                    .bfd_peer(NODE4.into())
                    .is_some_and(|p| p["status"].as_str() == Some("up")))
            .then_some(())
        });
    }
    let failed_at = Instant::now();
    match failure {
        Failure::Stop => {
            for process in &processes {
                process.freeze();
            }
        }
        Failure::Cut => {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &topology.node,
                    "sh",
                    "-c",
                    "iptables -I OUTPUT -o eth0 -j DROP && iptables -I INPUT -i eth0 -j DROP",
                ],
            );
        }
    }
    while fib::route(&topology.router, service).is_some() {
        assert!(failed_at.elapsed() < SETTLE, "the route never left the FIB");
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = failed_at.elapsed();
    for mut process in processes {
        process.stop();
    }
    drop(frr);
    took
}

/// zebra, bfdd and bgpd in the node namespace, announcing SERVICE with BFD to the router.
fn frr_node(topology: &Topology, dir: &Path, interval: u32) -> Vec<Daemon> {
    let d = dir.display().to_string();
    std::fs::write(dir.join("zebra.conf"), "hostname node\n").unwrap();
    std::fs::write(
        dir.join("bfdd.conf"),
        format!(
            "hostname node\nbfd\n profile herald\n  detect-multiplier 3\n  receive-interval {interval}\n  \
             transmit-interval {interval}\n exit\nexit\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("bgpd.conf"),
        format!(
            "hostname node\nrouter bgp {NODE_AS}\n bgp router-id {NODE4}\n no bgp ebgp-requires-policy\n \
             no bgp network import-check\n neighbor {ROUTER4} remote-as {ROUTER_AS}\n \
             neighbor {ROUTER4} timers connect 1\n neighbor {ROUTER4} bfd\n \
             neighbor {ROUTER4} bfd profile herald\n address-family ipv4 unicast\n  \
             network {SERVICE}\n exit-address-family\nexit\n"
        ),
    )
    .unwrap();
    run("chown", &["-R", "frr:frr", &d]);
    let control = format!("{d}/bfdd.sock");
    ["zebra", "bfdd", "bgpd"]
        .into_iter()
        .map(|name| {
            let extra: &[&str] = if name == "bfdd" {
                &["--bfdctl", &control]
            } else {
                &[]
            };
            spawn_daemon(&topology.node, dir, name, extra)
        })
        .collect()
}
