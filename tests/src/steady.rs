//! Rolling restarts and drains under a steady client (issue: zero lost connections), shared
//! by the tests (`tests/tests/zero_loss.rs`) and the benchmark (`benches/restarts.rs`).
//!
//! A [`FibWatch`] polls the router's kernel FIB for the Service address every few
//! milliseconds on a thread of its own and keeps every change it sees, so a test can show
//! that the router never lost a node (graceful restart) or when it stopped preferring one
//! (drain) — measured on the router, not inferred from the speaker.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::lab::{Family, Lab, LabOptions, Policy, SteadySummary};
use crate::speaker_binary::Profile;
use herald_testsupport::wait::wait_until;

const SAFETY: Duration = Duration::from_secs(60);

/// How often [`FibWatch`] reads the FIB entry when `ip monitor route` says nothing.
const FIB_REREAD: Duration = Duration::from_millis(100);

/// A next-hop list the FIB took (kernel order), and when (since the watch started).
pub type FibChange = (Duration, Vec<IpAddr>);

/// The router's FIB entry for one address, watched until dropped.
#[derive(Debug)]
pub struct FibWatch {
    changes: Arc<Mutex<Vec<FibChange>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// `ip monitor route` in the router namespace.
    monitor: Child,
    start: Instant,
    start_unix: std::time::SystemTime,
}

impl FibWatch {
    /// Starts watching `lab`'s router FIB for `address`: `ip monitor route` in the
    /// router namespace tells when any route changed, and the entry is read again
    /// (`ip -j route show`) at each change, and every [`FIB_REREAD`] besides.
    pub fn start(lab: &Lab, address: IpAddr) -> FibWatch {
        let start = Instant::now();
        let start_unix = std::time::SystemTime::now();
        let changes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let router = lab.router_ns();
        let mut monitor = Command::new("ip")
            .args(["-n", &router, "monitor", "route"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run ip monitor route");
        let (event, events) = mpsc::channel();
        let output = monitor.stdout.take().expect("ip monitor's stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines() {
                if line.is_err() || event.send(()).is_err() {
                    break;
                }
            }
        });
        let thread = {
            let (changes, stop) = (changes.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut last: Option<Vec<IpAddr>> = None;
                while !stop.load(Ordering::Relaxed) {
                    let hops = Lab::fib_next_hops_in(&router, address);
                    if last.as_ref() != Some(&hops) {
                        changes
                            .lock()
                            .expect("fib watch")
                            .push((start.elapsed(), hops.clone()));
                        last = Some(hops);
                    }
                    // One read after any number of events covers them all.
                    let _ = events.recv_timeout(FIB_REREAD);
                    while events.try_recv().is_ok() {}
                }
            })
        };
        FibWatch {
            changes,
            stop,
            thread: Some(thread),
            monitor,
            start,
            start_unix,
        }
    }

    /// When the FIB first had exactly `want` after `since`, as Unix milliseconds (to
    /// compare with the steady client's clock).
    pub fn first_since_unix_ms(&self, since: Instant, want: &BTreeSet<IpAddr>) -> Option<f64> {
        let offset = since.saturating_duration_since(self.start);
        let at = offset + self.first_since(since, want)?;
        let unix = self.start_unix + at;
        Some(
            unix.duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs_f64()
                * 1000.0,
        )
    }

    /// Every distinct next-hop list seen (in the kernel's order: a reordering moves flows
    /// too), with when (since the watch started).
    pub fn changes(&self) -> Vec<FibChange> {
        self.changes.lock().expect("fib watch").clone()
    }

    /// The first time since `since` (an instant after the watch started) at which the
    /// FIB had exactly `want`, measured from `since`.
    pub fn first_since(&self, since: Instant, want: &BTreeSet<IpAddr>) -> Option<Duration> {
        let offset = since.saturating_duration_since(self.start);
        self.changes()
            .into_iter()
            .find(|(at, hops)| {
                *at >= offset && hops.iter().copied().collect::<BTreeSet<_>>() == *want
            })
            .map(|(at, _)| at - offset)
    }
}

impl Drop for FibWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.monitor.kill();
        let _ = self.monitor.wait();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What one run under the steady client gave.
#[derive(Debug)]
pub struct Outcome {
    pub client: SteadySummary,
    /// Every FIB next-hop list the router had during the run (kernel order), with when.
    pub fib: Vec<FibChange>,
    /// Per stopped speaker: SIGTERM -> the router's FIB without that node (`None`: it
    /// never left, as with a graceful restart).
    pub router_moved: Vec<Option<Duration>>,
    /// Per stopped speaker: SIGTERM -> the process gone.
    pub stopped: Vec<Duration>,
}

impl Outcome {
    /// The FIB sets that lacked one of `all`.
    pub fn fib_losses(&self, all: &BTreeSet<IpAddr>) -> Vec<FibChange> {
        self.fib
            .iter()
            .filter(|(_, hops)| hops.iter().copied().collect::<BTreeSet<_>>() != *all)
            .cloned()
            .collect()
    }

    /// One line per figure, for tests and the benchmark.
    pub fn describe(&self, case: &str) -> String {
        let ms = |d: &Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        let moved: Vec<String> = self
            .router_moved
            .iter()
            .map(|m| m.as_ref().map_or_else(|| "never".to_owned(), ms))
            .collect();
        format!(
            "{case}: {} connections attempted, {} failed, longest gap {} ms; long connections {} started, {} finished, {} failed; SIGTERM -> router without the node: [{}]; SIGTERM -> speaker gone: [{}]; FIB changes {}",
            self.client.attempts,
            self.client.failed,
            self.client.longest_gap_ms.unwrap_or(0.0),
            self.client.long.started,
            self.client.long.finished,
            self.client.long.failed,
            moved.join(", "),
            self.stopped.iter().map(ms).collect::<Vec<_>>().join(", "),
            self.fib.len().saturating_sub(1),
        )
    }
}

/// How a rolling restart replaces one node's speaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// SIGTERM and a new process beside the old one at once (a DaemonSet with surge, or
    /// a container restart).
    AtOnce,
    /// SIGTERM, then the new process only once the old one has exited and the router has
    /// acted on it (its FIB without the node): a DaemonSet's default
    /// rolling update deletes the old pod before it creates the new one.
    AfterExit,
}

/// Restarts every node's speaker, one after another, as a DaemonSet upgrade does, under a
/// steady client of `address:port`; after each, waits until the router has the node's
/// routes fresh again (not stale, in the FIB) before the next node. The Service must be
/// announced by every node.
pub fn rolling_restart(
    lab: &Lab,
    address: IpAddr,
    port: u16,
    tls: bool,
    replace: Replace,
) -> Outcome {
    let all = Lab::next_hops(&lab.all_nodes(), address);
    lab.wait_fib(address, &all, SAFETY);
    let watch = FibWatch::start(lab, address);
    let client = lab.steady_client(address, port, tls);
    // Let the client reach every node before the first restart.
    std::thread::sleep(Duration::from_millis(500));
    let (mut router_moved, mut stopped) = (Vec::new(), Vec::new());
    for node in lab.all_nodes() {
        let without = Lab::next_hops(
            &lab.all_nodes()
                .into_iter()
                .filter(|n| *n != node)
                .collect::<Vec<_>>(),
            address,
        );
        let signal = Instant::now();
        match replace {
            Replace::AtOnce => stopped.push(lab.restart_speaker(node)),
            Replace::AfterExit => {
                stopped.push(stop_and_wait(lab, node, address, &without, signal));
                lab.start_speaker(node);
            }
        }
        wait_fresh(lab, node, address);
        lab.wait_fib(address, &all, SAFETY);
        router_moved.push(watch.first_since(signal, &without));
        // The next node only once this one is back, as a DaemonSet rollout waits for the
        // new pod to be ready.
        std::thread::sleep(Duration::from_millis(300));
    }
    let client = client.finish();
    Outcome {
        client,
        fib: watch.changes(),
        router_moved,
        stopped,
    }
}

/// Waits until FRR holds a path for `address` from `node` that is not stale (the new
/// speaker sent it again, End-of-RIB done).
pub fn wait_fresh(lab: &Lab, node: usize, address: IpAddr) {
    let family = if address.is_ipv4() {
        Family::Ipv4
    } else {
        Family::Ipv6
    };
    let hop = Lab::node_address(node, family);
    let prefix = format!("{address}/{}", if address.is_ipv4() { 32 } else { 128 });
    wait_until(
        SAFETY,
        &format!("a fresh path for {prefix} from node{node}"),
        || {
            lab.rib(family)
                .get(&prefix)
                .into_iter()
                .flatten()
                .any(|p| p.next_hops.contains(&hop) && !p.stale)
                .then_some(())
        },
        || format!("{:?}", lab.rib(family).get(&prefix)),
    );
}

/// SIGTERM to node `node`'s speaker (no new one) under a steady client of
/// `address:port`; waits until the router's FIB is without the node and the process is
/// gone, then starts it again and waits until the router has every node back.
pub fn stop_one(lab: &Lab, address: IpAddr, port: u16, node: usize) -> Outcome {
    let all = Lab::next_hops(&lab.all_nodes(), address);
    lab.wait_fib(address, &all, SAFETY);
    let others: Vec<usize> = lab.all_nodes().into_iter().filter(|n| *n != node).collect();
    let without = Lab::next_hops(&others, address);
    let watch = FibWatch::start(lab, address);
    let client = lab.steady_client(address, port, false);
    std::thread::sleep(Duration::from_millis(500));
    let signal = Instant::now();
    let stopped = stop_and_wait(lab, node, address, &without, signal);
    // Let the long connections that started before the signal run their course.
    std::thread::sleep(Duration::from_millis(500));
    let client = client.finish();
    let router_moved = watch.first_since(signal, &without);
    let fib = watch.changes();
    drop(watch);
    lab.start_speaker(node);
    lab.wait_fib(address, &all, SAFETY);
    Outcome {
        client,
        fib,
        router_moved: vec![router_moved],
        stopped: vec![stopped],
    }
}

/// SIGTERM to node `node`'s speaker (sent now; `signal` is now); waits until it has
/// exited and the router's FIB for `address` is `without`. Returns SIGTERM -> exit.
fn stop_and_wait(
    lab: &Lab,
    node: usize,
    address: IpAddr,
    without: &BTreeSet<IpAddr>,
    signal: Instant,
) -> Duration {
    lab.signal_speaker(node, "TERM");
    let mut stopped = None;
    wait_until(
        SAFETY,
        &format!("node{node} out of the FIB and its speaker gone"),
        || {
            if stopped.is_none() && !lab.speaker_running(node) {
                stopped = Some(signal.elapsed());
            }
            (stopped.is_some() && lab.fib_next_hops(address) == *without).then_some(())
        },
        || format!("{:?}", lab.fib_next_hops(address)),
    );
    stopped.expect("gone")
}

/// A three-node lab for the restart and drain cases: the speakers' peers with
/// `graceful-restart` or not, `speaker_args` added to every speaker's flags.
pub fn restart_lab(
    name: &str,
    profile: Profile,
    graceful_restart: bool,
    speaker_args: &str,
) -> Lab {
    Lab::start(
        name,
        LabOptions {
            profile,
            graceful_restart,
            speaker_args: speaker_args.to_owned(),
            ..LabOptions::default()
        },
    )
}

/// A `Cluster` Service `web` over the backends of every node; its IPv4 address once the
/// router has it from every node.
pub fn cluster_service(lab: &Lab) -> IpAddr {
    lab.service("web", Policy::Cluster, Family::Ipv4, &[1, 2, 3]);
    let address = lab.address("web", Family::Ipv4);
    lab.wait_fib(address, &Lab::next_hops(&lab.all_nodes(), address), SAFETY);
    address
}

/// Port of the proxied Service's plain listener: backend.py already answers on port 80
/// of every address of a node.
pub const PROXIED_PLAIN_PORT: &str = "8081";

/// A `Cluster` Service of the lab's `web` pool, which Herald's proxy serves (TLS on 443
/// with the lab certificate), over pods on every node; its IPv4 address once the router
/// has it from every node.
pub fn proxied_tls_service(lab: &Lab) -> IpAddr {
    lab.ctl(&[
        "service",
        "web",
        "--pool",
        "web",
        "--endpoints",
        "all",
        "--tls",
        "--port",
        PROXIED_PLAIN_PORT,
    ]);
    let address = lab.address("web", Family::Ipv4);
    lab.wait_fib(address, &Lab::next_hops(&lab.all_nodes(), address), SAFETY);
    address
}
