//! Lab benchmarks: Herald's Speaker and gobgpd side by side, each feeding FRR 8.4 in
//! fresh network namespaces. Prints figures; asserts nothing about time.
//!
//! 1. Bulk: N /32 prefixes (default 100,000) from one speaker into FRR's RIB. Both speakers
//!    hold the whole table before the session exists (Herald: `announce` before
//!    `add_peer`; gobgpd: `gobgp mrt inject` before `gobgp neighbor add`); the clock starts
//!    when FRR's session reaches Established (FRR's own `%ADJCHANGE ... Up` log line, in
//!    milliseconds) and stops when `show bgp summary json` (polled every 50 ms) shows
//!    pfxRcd = N. The time from adding the peer is printed too; it includes how soon each
//!    speaker first connects, which is not what this measures.
//! 2. Latency: one announce -> the route in the router's kernel FIB (zebra), repeated, as
//!    median and p90. Herald: from the `announce` call. gobgpd: from starting
//!    `gobgp global rib add` (and from its return, which leaves out the CLI's own start-up).
//!    The FIB is watched with `ip monitor route`, so the time is when the kernel reports it.
//!
//! `cargo bench -p bgp --bench lab_bgp` runs the full sizes (root, frr and gobgpd installed).
//! Options after `--`: `--count N` (prefixes), `--rounds N` (bulk runs per speaker, 3;
//! the median is reported), `--reps N` (latency samples, 20). Without `--bench` (as
//! `cargo test --all-targets` runs it) it does a small smoke run: 1,000 prefixes, one
//! round, 3 samples.

#[path = "../tests/support/mod.rs"]
mod support;

use bgp::RouteAttributes;
use ipnet::{IpNet, Ipv4Net};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};
use support::frr::{Frr, FrrOptions};
use support::gobgp::Gobgpd;
use support::herald::Herald;
use support::wait::poll_every;
use support::{NODE_AS, NODE4, ROUTER_AS, ROUTER4, Topology, wait_until};

struct Options {
    count: u32,
    rounds: usize,
    reps: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let (count, rounds, reps) = if full {
        (100_000, 3, 20)
    } else {
        (1_000, 1, 3)
    };
    let value = |name: &str, default: usize| -> usize {
        match args.iter().position(|a| a == name) {
            Some(i) => args
                .get(i + 1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number")),
            None => default,
        }
    };
    Options {
        count: u32::try_from(value("--count", count)).expect("--count fits in u32"),
        rounds: value("--rounds", rounds).max(1),
        reps: value("--reps", reps).max(1),
    }
}

fn main() {
    let options = options();
    println!(
        "lab_bgp: {} prefixes x {} rounds per speaker, {} latency repetitions",
        options.count, options.rounds, options.reps
    );
    let (mut herald_bulk, mut gobgp_bulk) = (vec![], vec![]);
    for round in 0..options.rounds {
        // Alternate who goes first, so neither always runs on a warmer (or busier) machine.
        if round % 2 == 0 {
            herald_bulk.push(bulk_herald(options.count));
            gobgp_bulk.push(bulk_gobgpd(options.count));
        } else {
            gobgp_bulk.push(bulk_gobgpd(options.count));
            herald_bulk.push(bulk_herald(options.count));
        }
    }
    let (herald, gobgp) = (percentile(&herald_bulk, 50), percentile(&gobgp_bulk, 50));
    println!(
        "bulk {n} /32 -> FRR RIB, from Established, median of {r}: Herald {h:.3} s, gobgpd {g:.3} s, \
         Herald/gobgpd = {ratio:.2} (below 1: Herald faster)",
        n = options.count,
        r = options.rounds,
        h = herald.as_secs_f64(),
        g = gobgp.as_secs_f64(),
        ratio = herald.as_secs_f64() / gobgp.as_secs_f64()
    );
    let herald_fib = latency_herald(options.reps);
    let (gobgp_fib, gobgp_fib_after_cli) = latency_gobgpd(options.reps);
    println!(
        "announce -> router FIB, {n} samples: Herald median {} ms p90 {} ms; gobgpd from CLI start \
         median {} ms p90 {} ms, from CLI return median {} ms p90 {} ms",
        ms(percentile(&herald_fib, 50)),
        ms(percentile(&herald_fib, 90)),
        ms(percentile(&gobgp_fib, 50)),
        ms(percentile(&gobgp_fib, 90)),
        ms(percentile(&gobgp_fib_after_cli, 50)),
        ms(percentile(&gobgp_fib_after_cli, 90)),
        n = options.reps,
    );
}

// ------------------------------------------------------------------------- bulk ---

/// The first `count` /32 prefixes from 10.0.0.0.
fn host_prefixes(count: u32) -> impl Iterator<Item = Ipv4Net> {
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
    (0..count).map(move |i| Ipv4Net::new(Ipv4Addr::from(base + i), 32).expect("/32"))
}

fn bulk_herald(count: u32) -> Duration {
    let topology = Topology::new("lab_bgp_bulk_herald");
    let frr = Frr::start(&topology, FrrOptions::default());
    let herald = Herald::start(&topology);
    let loading = Instant::now();
    for prefix in host_prefixes(count) {
        herald.announce(prefix.into(), RouteAttributes::default());
    }
    // stats() is answered by the core task after it has taken every announce queued before.
    herald.stats();
    println!(
        "  Herald: {count} announce calls taken in {:?}",
        loading.elapsed()
    );
    let added = Instant::now();
    herald.add_peer(Herald::peer_config(false, NODE_AS));
    let result = wait_full_rib(&frr, count, added);
    println!(
        "  Herald: {count} prefixes in FRR's RIB {:.3} s after Established ({:.3} s after add_peer)",
        result.from_established.as_secs_f64(),
        result.from_start.as_secs_f64()
    );
    drop(herald);
    result.from_established
}

fn bulk_gobgpd(count: u32) -> Duration {
    let topology = Topology::new("lab_bgp_bulk_gobgpd");
    let frr = Frr::start(&topology, FrrOptions::default());
    let gobgpd = Gobgpd::start_speaker(&topology);
    let mrt = gobgpd.dir().join("table.mrt");
    std::fs::write(&mrt, mrt_table_dump(host_prefixes(count), NODE4)).expect("write MRT file");
    let loading = Instant::now();
    gobgpd.inject_mrt(&mrt);
    let rib = wait_until(
        Duration::from_secs(120),
        "gobgpd holds the injected table",
        || {
            let out = gobgpd.cli(&["global", "rib", "summary", "-a", "ipv4"]);
            out.contains(&format!("Destination: {count},"))
                .then_some(out)
        },
    );
    println!(
        "  gobgpd: {count} routes injected (mrt inject) in {:?}: {}",
        loading.elapsed(),
        rib.trim()
    );
    let added = Instant::now();
    gobgpd.add_neighbor(ROUTER4.into(), ROUTER_AS);
    let result = wait_full_rib(&frr, count, added);
    println!(
        "  gobgpd: {count} prefixes in FRR's RIB {:.3} s after Established ({:.3} s after neighbor add)",
        result.from_established.as_secs_f64(),
        result.from_start.as_secs_f64()
    );
    result.from_established
}

struct BulkResult {
    from_established: Duration,
    from_start: Duration,
}

/// Polls FRR until it has received `count` prefixes from the node's IPv4 session.
fn wait_full_rib(frr: &Frr, count: u32, start: Instant) -> BulkResult {
    let node = IpAddr::from(NODE4);
    let (done, done_wall) = poll_every(Duration::from_secs(600), Duration::from_millis(50), || {
        (frr.prefixes_received(node) == Some(u64::from(count)))
            .then(|| (Instant::now(), SystemTime::now()))
    })
    .unwrap_or_else(|| panic!("FRR did not receive {count} prefixes within 600 s"));
    // FRR's own time of Established, from its log (milliseconds, UTC).
    let established = frr
        .established_at(node)
        .expect("FRR logged the session coming up");
    BulkResult {
        from_established: done_wall.duration_since(established).unwrap_or_default(),
        from_start: done - start,
    }
}

/// An MRT TABLE_DUMP_V2 file (RFC 6396): a PEER_INDEX_TABLE with one peer, then one
/// RIB_IPV4_UNICAST record per prefix with ORIGIN IGP, an empty AS_PATH (gobgpd prepends
/// its AS towards eBGP peers, as Herald does) and NEXT_HOP = `next_hop`, then
/// [`MRT_PADDING`] copies of the first RIB record.
fn mrt_table_dump(prefixes: impl Iterator<Item = Ipv4Net>, next_hop: Ipv4Addr) -> Vec<u8> {
    const TABLE_DUMP_V2: u16 = 13;
    const PEER_INDEX_TABLE: u16 = 1;
    const RIB_IPV4_UNICAST: u16 = 2;
    fn record(out: &mut Vec<u8>, subtype: u16, body: &[u8]) {
        out.extend_from_slice(&0u32.to_be_bytes()); // timestamp
        out.extend_from_slice(&TABLE_DUMP_V2.to_be_bytes());
        out.extend_from_slice(&subtype.to_be_bytes());
        out.extend_from_slice(
            &u32::try_from(body.len())
                .expect("record size")
                .to_be_bytes(),
        );
        out.extend_from_slice(body);
    }
    let mut out = Vec::new();
    let mut peers = Vec::new();
    peers.extend_from_slice(&next_hop.octets()); // collector BGP ID
    peers.extend_from_slice(&0u16.to_be_bytes()); // view name length
    peers.extend_from_slice(&1u16.to_be_bytes()); // peer count
    peers.push(0b10); // peer type: IPv4 address, 4-octet AS
    peers.extend_from_slice(&next_hop.octets()); // peer BGP ID
    peers.extend_from_slice(&next_hop.octets()); // peer address
    peers.extend_from_slice(&NODE_AS.to_be_bytes());
    record(&mut out, PEER_INDEX_TABLE, &peers);

    let mut attributes = vec![0x40, 1, 1, 0]; // ORIGIN IGP
    attributes.extend_from_slice(&[0x40, 2, 0]); // AS_PATH, empty
    attributes.extend_from_slice(&[0x40, 3, 4]); // NEXT_HOP
    attributes.extend_from_slice(&next_hop.octets());
    let mut first_record = None;
    for (sequence, prefix) in prefixes.enumerate() {
        let mut body = Vec::with_capacity(32);
        body.extend_from_slice(&u32::try_from(sequence).expect("sequence").to_be_bytes());
        body.push(prefix.prefix_len());
        let bytes = usize::from(prefix.prefix_len()).div_ceil(8);
        body.extend_from_slice(&prefix.network().octets()[..bytes]);
        body.extend_from_slice(&1u16.to_be_bytes()); // entry count
        body.extend_from_slice(&0u16.to_be_bytes()); // peer index
        body.extend_from_slice(&0u32.to_be_bytes()); // originated time
        body.extend_from_slice(
            &u16::try_from(attributes.len())
                .expect("attributes")
                .to_be_bytes(),
        );
        body.extend_from_slice(&attributes);
        let start = out.len();
        record(&mut out, RIB_IPV4_UNICAST, &body);
        first_record.get_or_insert_with(|| out[start..].to_vec());
    }
    // gobgp 3.10's `mrt inject` loses the last records it streams (about 150 of 100,000
    // here): pad with copies of the first record, which only re-add a path it has.
    if let Some(first) = first_record {
        for _ in 0..MRT_PADDING {
            out.extend_from_slice(&first);
        }
    }
    out
}

/// Records appended to the MRT file so the ones `gobgp mrt inject` drops are spares.
const MRT_PADDING: usize = 2_000;

// ---------------------------------------------------------------------- latency ---

/// Lines of `ip -n NS monitor route`, each with the time it was read.
struct FibMonitor {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
}

impl FibMonitor {
    fn start(ns: &str) -> FibMonitor {
        let mut child = Command::new("ip")
            .args(["-n", ns, "monitor", "route"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ip monitor");
        let stdout = child.stdout.take().expect("monitor stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        // Let the monitor subscribe before anything is measured.
        std::thread::sleep(Duration::from_millis(200));
        FibMonitor { child, lines }
    }

    /// Drops what was reported so far.
    fn drain(&self) {
        while self.lines.try_recv().is_ok() {}
    }

    /// When the kernel reported `prefix` added (`added`) or deleted.
    fn wait(&self, prefix: Ipv4Net, added: bool) -> Instant {
        let wanted = format!("{} ", prefix.addr());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, line) = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the FIB did not report {prefix} (added: {added})"));
            let deleted = line.starts_with("Deleted ");
            let route = line.trim_start_matches("Deleted ");
            if route.starts_with(&wanted) && deleted != added {
                return at;
            }
        }
    }
}

impl Drop for FibMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn probe_prefix(i: usize) -> Ipv4Net {
    let i = u8::try_from(i % 250).expect("small index");
    Ipv4Net::new(Ipv4Addr::new(10, 99, 1, i + 1), 32).expect("/32")
}

fn latency_herald(reps: usize) -> Vec<Duration> {
    let topology = Topology::new("lab_bgp_latency_herald");
    let frr = Frr::start(&topology, FrrOptions::default());
    let herald = Herald::start(&topology);
    herald.add_peer(Herald::peer_config(false, NODE_AS));
    frr.wait_established(NODE4.into(), Duration::from_secs(60));
    let monitor = FibMonitor::start(&topology.router);
    let mut samples = vec![];
    for i in 0..reps {
        let prefix = probe_prefix(i);
        monitor.drain();
        let start = Instant::now();
        herald.announce(IpNet::V4(prefix), RouteAttributes::default());
        samples.push(monitor.wait(prefix, true) - start);
        herald.withdraw(IpNet::V4(prefix));
        monitor.wait(prefix, false);
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("  Herald announce -> FIB samples (ms): {}", list(&samples));
    samples
}

fn latency_gobgpd(reps: usize) -> (Vec<Duration>, Vec<Duration>) {
    let topology = Topology::new("lab_bgp_latency_gobgpd");
    let frr = Frr::start(&topology, FrrOptions::default());
    let gobgpd = Gobgpd::start_speaker(&topology);
    gobgpd.add_neighbor(ROUTER4.into(), ROUTER_AS);
    frr.wait_established(NODE4.into(), Duration::from_secs(60));
    let monitor = FibMonitor::start(&topology.router);
    let (mut from_start, mut from_return) = (vec![], vec![]);
    for i in 0..reps {
        let prefix = probe_prefix(i);
        monitor.drain();
        let start = Instant::now();
        gobgpd.announce(IpNet::V4(prefix), NODE4.into());
        let returned = Instant::now();
        let at = monitor.wait(prefix, true);
        from_start.push(at - start);
        from_return.push(at.saturating_duration_since(returned));
        gobgpd.withdraw(IpNet::V4(prefix));
        monitor.wait(prefix, false);
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "  gobgpd announce -> FIB samples from CLI start (ms): {}",
        list(&from_start)
    );
    println!(
        "  gobgpd announce -> FIB samples from CLI return (ms): {}",
        list(&from_return)
    );
    (from_start, from_return)
}

fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn list(samples: &[Duration]) -> String {
    samples.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(" ")
}
