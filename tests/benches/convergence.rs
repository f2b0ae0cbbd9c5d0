//! Convergence of the whole path, in the end-to-end lab (3 nodes, FRR router):
//!
//! 1. A `Local` Service's endpoint moves between node2 and node3 (the EndpointSlice file
//!    is rewritten). Measured from the file write: when each speaker saw the change (its
//!    "standalone directory loaded" log line), when the UPDATEs were on the wire (tcpdump
//!    in the router namespace: first BGP segment longer than a KEEPALIVE from that node),
//!    and when the router's kernel FIB held only the new node. Detection includes the
//!    standalone poll interval (500 ms), so "seen -> UPDATE" is the speaker's own part.
//! 2. SIGTERM to a speaker of a `Cluster` Service -> the router's FIB without that node.
//!
//! `cargo bench -p herald-e2e --bench convergence [-- --rounds N]` (release build, 20
//! rounds); `cargo test --all-targets` runs 2 rounds against the debug build. Prints
//! figures, asserts nothing about time.

use std::time::{Duration, Instant};

use herald_e2e::bench::{BenchArgs, Summary, print_header, print_row};
use herald_e2e::capture::Capture;
use herald_e2e::logs::{now_us, speaker_log_times};
use herald_e2e::{Family, Lab, LabOptions, Policy};
use herald_testsupport::wait::wait_until;

const SAFETY: Duration = Duration::from_secs(30);

fn ms_between(from_us: i64, to_us: i64) -> f64 {
    (to_us - from_us) as f64 / 1000.0
}

fn endpoint_moves(lab: &Lab, rounds: usize) {
    // The two versions of the manifest, rendered once by ctl.sh; the rounds write them
    // straight from here so the clock starts at the write itself.
    lab.service("api", Policy::Local, Family::Ipv4, &[3]);
    let on3 = lab.read_file("api.yaml");
    lab.service("api", Policy::Local, Family::Ipv4, &[2]);
    let on2 = lab.read_file("api.yaml");
    let address = lab.address("api", Family::Ipv4);
    lab.wait_fib(address, &Lab::next_hops(&[2], address), SAFETY);
    let capture = Capture::start(lab);

    let mut seen = Vec::new(); // write -> the announcing speaker saw it
    let mut seen_to_update = Vec::new(); // that speaker: seen -> its UPDATE on the wire
    let mut write_to_announce = Vec::new(); // write -> announcing UPDATE on the wire
    let mut write_to_withdraw = Vec::new(); // write -> withdrawing UPDATE on the wire
    let mut write_to_fib = Vec::new(); // write -> router FIB via the new node only
    let (mut from, mut to) = (2usize, 3usize);
    for round in 0..rounds {
        // Let a poll pass: the next write lands at another point of the poll interval.
        std::thread::sleep(Duration::from_millis(700 + (round as u64 * 137) % 300));
        let log_before = lab.speaker_log(to).len();
        let manifest = if to == 3 { &on3 } else { &on2 };
        let write_us = now_us();
        let start = Instant::now();
        lab.write_file("api.yaml", manifest);
        let want = Lab::next_hops(&[to], address);
        let (fib, _) = wait_until(
            SAFETY,
            "router FIB via the new node",
            || (lab.fib_next_hops(address) == want).then(|| start.elapsed()),
            || format!("{:?}", lab.fib_next_hops(address)),
        );
        write_to_fib.push(fib.as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(100)); // capture and logs catch up
        let seen_us = speaker_log_times(&lab.speaker_log(to)[log_before..], "directory loaded")
            .into_iter()
            .find(|t| *t >= write_us);
        let announce_us = capture.first_update(Lab::node_address(to, Family::Ipv4), write_us);
        let withdraw_us = capture.first_update(Lab::node_address(from, Family::Ipv4), write_us);
        if let Some(seen_us) = seen_us {
            seen.push(ms_between(write_us, seen_us));
            if let Some(announce_us) = announce_us {
                seen_to_update.push(ms_between(seen_us, announce_us));
            }
        }
        if let Some(announce_us) = announce_us {
            write_to_announce.push(ms_between(write_us, announce_us));
        }
        if let Some(withdraw_us) = withdraw_us {
            write_to_withdraw.push(ms_between(write_us, withdraw_us));
        }
        (from, to) = (to, from);
    }
    print_header(&format!(
        "Local endpoint moves between node2 and node3 ({rounds} rounds; file write at t=0)"
    ));
    print_row(
        "write -> announcing speaker saw it (poll 500 ms)",
        Summary::of_ms(&seen),
    );
    print_row(
        "announcing speaker: seen -> UPDATE on the wire",
        Summary::of_ms(&seen_to_update),
    );
    print_row(
        "write -> announcing UPDATE on the wire",
        Summary::of_ms(&write_to_announce),
    );
    print_row(
        "write -> withdrawing UPDATE on the wire",
        Summary::of_ms(&write_to_withdraw),
    );
    print_row(
        "write -> router FIB via the new node only",
        Summary::of_ms(&write_to_fib),
    );
}

fn graceful_stops(lab: &Lab, rounds: usize) {
    lab.service("web", Policy::Cluster, Family::Ipv4, &[1, 2, 3]);
    let address = lab.address("web", Family::Ipv4);
    let all = Lab::next_hops(&lab.all_nodes(), address);
    lab.wait_fib(address, &all, SAFETY);
    let without_node1 = Lab::next_hops(&[2, 3], address);
    let node1 = Lab::node_address(1, Family::Ipv4);
    let capture = Capture::start(lab);
    let mut to_wire = Vec::new();
    let mut to_fib = Vec::new();
    let mut to_exit = Vec::new();
    for _ in 0..rounds {
        let signal_us = now_us();
        let start = Instant::now();
        lab.signal_speaker(1, "TERM");
        // Poll both: when the FIB lost node1, when the process was gone.
        let (mut fib, mut exit) = (None, None);
        wait_until(
            SAFETY,
            "node1 out of the FIB and its speaker gone",
            || {
                if fib.is_none() && lab.fib_next_hops(address) == without_node1 {
                    fib = Some(start.elapsed());
                }
                if exit.is_none() && !lab.speaker_running(1) {
                    exit = Some(start.elapsed());
                }
                fib.zip(exit)
            },
            || format!("{:?}", lab.fib_next_hops(address)),
        );
        to_fib.extend(fib);
        to_exit.extend(exit);
        std::thread::sleep(Duration::from_millis(100));
        if let Some(wire_us) = capture.first_update(node1, signal_us) {
            to_wire.push(ms_between(signal_us, wire_us));
        }
        lab.start_speaker(1);
        lab.wait_fib(address, &all, SAFETY);
        std::thread::sleep(Duration::from_millis(300));
    }
    print_header(&format!(
        "SIGTERM to node1's speaker ({rounds} rounds; signal at t=0)"
    ));
    print_row(
        "SIGTERM -> withdraw or Cease from node1 on the wire",
        Summary::of_ms(&to_wire),
    );
    print_row(
        "SIGTERM -> router FIB without node1",
        Summary::of_durations(&to_fib),
    );
    print_row(
        "SIGTERM -> speaker process gone",
        Summary::of_durations(&to_exit),
    );
}

fn main() {
    let args = BenchArgs::from_env();
    let rounds = args.rounds.unwrap_or(if args.full { 20 } else { 2 });
    println!(
        "convergence benchmark: {} run, {rounds} rounds, {:?} build of herald-speaker",
        if args.full { "full" } else { "smoke" },
        args.profile()
    );
    let lab = Lab::start(
        "bench_convergence",
        LabOptions {
            profile: args.profile(),
            // SIGTERM here measures the immediate withdraw; drains and graceful restarts
            // have their own benchmark (benches/restarts.rs).
            speaker_args: "--shutdown-mode withdraw".to_owned(),
            ..LabOptions::default()
        },
    );
    endpoint_moves(&lab, rounds);
    graceful_stops(&lab, rounds.min(10));
}
