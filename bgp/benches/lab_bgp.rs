//! Lab benchmarks: Herald's Speaker beside other BGP speakers, each feeding FRR 8.4 (zebra +
//! bgpd, the router) in fresh network namespaces. Prints figures; asserts nothing about time.
//!
//! 1. Bulk: N /32 prefixes (default 100,000) from one sender into the router's RIB. The
//!    senders, in the same run and by the same method:
//!    - Herald's `Speaker`: N `announce` calls before `add_peer`;
//!    - gobgpd 3: `gobgp mrt inject` of an MRT file before `gobgp neighbor add`;
//!    - BIRD 2: the prefixes as `route X/32 blackhole;` lines of a `protocol static`,
//!      exported by a BGP protocol that starts disabled (`disabled yes`); no kernel
//!      protocol, so BIRD's FIB side is not involved. When `show route count` shows N, the
//!      benchmark runs `birdc enable` (`lab/bird/speaker.conf.in`);
//!    - FRR 8.4's own bgpd (the floor: FRR -> FRR is what the router's ingest allows):
//!      bgpd alone (`-Z`, no zebra), the prefixes as `network` statements in its config
//!      (`no bgp network import-check`, nothing to resolve without zebra), the neighbor
//!      configured `shutdown`. When `show bgp ipv4 unicast statistics json` counts N
//!      prefixes, the benchmark runs `no neighbor X shutdown`. With `coalesce-time 0`, so
//!      it does not wait the default 1 s for further peers to join the update group before
//!      it sends (`lab/frr/speaker-bgpd.conf.in`).
//!
//!    So every sender holds the whole table before the session exists. The clock starts
//!    when the router's session reaches Established (FRR's own `%ADJCHANGE ... Up` log line,
//!    in milliseconds) and stops when `show bgp summary json` (polled every 50 ms) shows
//!    pfxRcd = N. The time from adding (enabling) the peer is printed too; it includes how
//!    soon each sender first connects, which is not what this measures. Rounds rotate which
//!    sender goes first; the table gives each sender's median, routes/s, and Herald's
//!    median over the sender's (below 1: Herald faster).
//! 2. Latency: one announce -> the route in the router's kernel FIB (zebra), repeated, as
//!    median and p90. Herald: from the `announce` call. gobgpd: from starting
//!    `gobgp global rib add` (and from its return, which leaves out the CLI's own start-up).
//!    The FIB is watched with `ip monitor route`, so the time is when the kernel reports it.
//!
//! `cargo bench -p bgp --bench lab_bgp` runs the full sizes (root; frr, gobgpd and bird2
//! installed). Options after `--`: `--count N` (prefixes), `--rounds N` (bulk runs per
//! sender, 3; the median is reported), `--reps N` (latency samples, 20). Without `--bench`
//! (as `cargo test --all-targets` runs it) it does a small smoke run of every sender: 1,000
//! prefixes, one round, 3 samples.

#[path = "../tests/support/mod.rs"]
mod support;

use bgp::RouteAttributes;
use ipnet::{IpNet, Ipv4Net};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};
use support::bird::Bird;
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

/// A sender of the bulk benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sender {
    Herald,
    Gobgpd,
    Bird,
    Frr,
}

impl Sender {
    const ALL: [Sender; 4] = [Sender::Herald, Sender::Gobgpd, Sender::Bird, Sender::Frr];

    fn name(self) -> &'static str {
        match self {
            Sender::Herald => "Herald",
            Sender::Gobgpd => "gobgpd 3",
            Sender::Bird => "BIRD 2",
            Sender::Frr => "FRR 8.4 bgpd",
        }
    }

    fn bulk(self, count: u32) -> Duration {
        match self {
            Sender::Herald => bulk_herald(count),
            Sender::Gobgpd => bulk_gobgpd(count),
            Sender::Bird => bulk_bird(count),
            Sender::Frr => bulk_frr(count),
        }
    }
}

fn main() {
    let options = options();
    println!(
        "lab_bgp: {} prefixes x {} rounds per sender, {} latency repetitions",
        options.count, options.rounds, options.reps
    );
    let mut bulk: Vec<Vec<Duration>> = vec![vec![]; Sender::ALL.len()];
    for round in 0..options.rounds {
        // Rotate who goes first, so no sender always runs on a warmer (or busier) machine.
        for i in 0..Sender::ALL.len() {
            let index = (round + i) % Sender::ALL.len();
            bulk[index].push(Sender::ALL[index].bulk(options.count));
        }
    }
    print_bulk(&options, &bulk);
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

/// The bulk table: per sender the median from Established, routes per second at that
/// median, Herald's median over the sender's (below 1: Herald faster), and every round.
fn print_bulk(options: &Options, bulk: &[Vec<Duration>]) {
    let medians: Vec<Duration> = bulk.iter().map(|rounds| percentile(rounds, 50)).collect();
    let herald = medians[0].as_secs_f64();
    println!(
        "bulk {n} /32 -> FRR 8.4 RIB, from Established to pfxRcd = {n}, median of {r}:",
        n = options.count,
        r = options.rounds
    );
    println!(
        "  {:<14} {:>10} {:>11} {:>14}  rounds (s)",
        "sender", "median (s)", "routes/s", "Herald/sender"
    );
    for ((sender, median), rounds) in Sender::ALL.iter().zip(&medians).zip(bulk) {
        let seconds = median.as_secs_f64();
        let rate = if seconds > 0.0 {
            f64::from(options.count) / seconds
        } else {
            f64::INFINITY
        };
        let rounds: Vec<String> = rounds
            .iter()
            .map(|d| format!("{:.3}", d.as_secs_f64()))
            .collect();
        println!(
            "  {:<14} {:>10.3} {:>11.0} {:>14.2}  {}",
            sender.name(),
            seconds,
            rate,
            herald / seconds,
            rounds.join(" ")
        );
    }
    let ratio = |sender: Sender| herald / medians[sender as usize].as_secs_f64();
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!(
        "  target: Herald ahead of gobgpd ({:.2} < 1: {}) and of BIRD ({:.2} < 1: {}), within \
         1.1x of the FRR -> FRR floor ({:.2} <= 1.10: {})",
        ratio(Sender::Gobgpd),
        verdict(ratio(Sender::Gobgpd) < 1.0),
        ratio(Sender::Bird),
        verdict(ratio(Sender::Bird) < 1.0),
        ratio(Sender::Frr),
        verdict(ratio(Sender::Frr) <= 1.1),
    );
}

// ------------------------------------------------------------------------- bulk ---

/// The first `count` /32 prefixes from 10.0.0.0.
fn host_prefixes(count: u32) -> impl Iterator<Item = Ipv4Net> {
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
    (0..count).map(move |i| Ipv4Net::new(Ipv4Addr::from(base + i), 32).expect("/32"))
}

/// One bulk round in fresh namespaces with a fresh router: `load` starts the sender in the
/// node namespace and returns once it holds all `count` prefixes; `open` then lets the
/// session come up (`opened` names that step in the output).
fn bulk_round<S>(
    sender: Sender,
    count: u32,
    opened: &str,
    load: impl FnOnce(&Topology) -> S,
    open: impl FnOnce(&S),
) -> Duration {
    let name = sender.name();
    let topology = Topology::new(&format!("lab_bgp_bulk_{sender:?}"));
    let frr = Frr::start(&topology, FrrOptions::default());
    let loading = Instant::now();
    let speaker = load(&topology);
    println!(
        "  {name}: holds {count} prefixes {:.3} s after its start",
        loading.elapsed().as_secs_f64()
    );
    let added = Instant::now();
    open(&speaker);
    let result = wait_full_rib(&frr, count, added);
    println!(
        "  {name}: {count} prefixes in FRR's RIB {:.3} s after Established ({:.3} s after {opened})",
        result.from_established.as_secs_f64(),
        result.from_start.as_secs_f64()
    );
    drop(speaker);
    result.from_established
}

/// Waits (up to 120 s) until a sender says it holds its whole table.
fn wait_loaded(what: &str, mut loaded: impl FnMut() -> bool) {
    wait_until(Duration::from_secs(120), what, || loaded().then_some(()));
}

fn bulk_herald(count: u32) -> Duration {
    let load = |topology: &Topology| {
        let herald = Herald::start(topology);
        for prefix in host_prefixes(count) {
            herald.announce(prefix.into(), RouteAttributes::default());
        }
        // stats() is answered by the core task after it has taken every announce queued
        // before.
        herald.stats();
        herald
    };
    let open = |herald: &Herald| herald.add_peer(Herald::peer_config(false, NODE_AS));
    bulk_round(Sender::Herald, count, "add_peer", load, open)
}

fn bulk_gobgpd(count: u32) -> Duration {
    let load = |topology: &Topology| {
        let gobgpd = Gobgpd::start_speaker(topology);
        let mrt = gobgpd.dir().join("table.mrt");
        let table = mrt_table_dump(host_prefixes(count), NODE4);
        std::fs::write(&mrt, table).expect("write MRT file");
        gobgpd.inject_mrt(&mrt);
        wait_loaded("gobgpd holds the injected table", || {
            let out = gobgpd.cli(&["global", "rib", "summary", "-a", "ipv4"]);
            out.contains(&format!("Destination: {count},"))
        });
        gobgpd
    };
    let open = |gobgpd: &Gobgpd| gobgpd.add_neighbor(ROUTER4.into(), ROUTER_AS);
    bulk_round(Sender::Gobgpd, count, "neighbor add", load, open)
}

fn bulk_bird(count: u32) -> Duration {
    let load = |topology: &Topology| {
        let bird = Bird::start_speaker(topology, host_prefixes(count));
        wait_loaded("BIRD holds the static table", || {
            bird.route_count("master4") == u64::from(count)
        });
        bird
    };
    bulk_round(Sender::Bird, count, "enable", load, |bird| {
        bird.enable("router4")
    })
}

fn bulk_frr(count: u32) -> Duration {
    let load = |topology: &Topology| {
        let sender = Frr::start_speaker(topology, host_prefixes(count));
        wait_loaded("the sending bgpd holds its networks", || {
            sender.rib_prefix_count() == u64::from(count)
        });
        sender
    };
    bulk_round(Sender::Frr, count, "no shutdown", load, |sender| {
        sender.set_neighbor_shutdown(ROUTER4.into(), false)
    })
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
