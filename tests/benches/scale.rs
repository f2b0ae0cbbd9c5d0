//! Many Services on 3 nodes: N `Cluster` Services (one IPv4 address each, an endpoint on
//! node1) written in one manifest file. Measured from the write: when every speaker had
//! loaded them (log line), when FRR's RIB held N prefixes from each node, when the
//! router's kernel FIB held N routes; then the same for deleting the file. Also each
//! speaker's resident memory (VmRSS) idle and with N Services.
//!
//! `cargo bench -p herald-e2e --bench scale [-- --count N]` (release build, N = 1,000;
//! DESIGN section 12's target is 10,000 in < 5 s); `cargo test --all-targets` runs 100
//! against the debug build. Prints figures, asserts nothing about time.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use herald_e2e::bench::BenchArgs;
use herald_e2e::logs::{now_us, speaker_log_times};
use herald_e2e::{Family, Lab, LabOptions, Policy};
use herald_testsupport::wait::wait_until;

/// Generous: the debug build on a loaded 2-core machine is slow at large N.
const SAFETY: Duration = Duration::from_secs(300);

fn services(count: usize) -> String {
    let mut text = String::with_capacity(count * 700);
    for i in 0..count {
        let _ = write!(
            text,
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc{i:05}, namespace: bench}}\n\
             spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Cluster\n  selector: {{app: svc{i:05}}}\n\
             \x20 ports: [{{name: http, port: 80, protocol: TCP, targetPort: 8080}}]\n\
             ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata:\n  name: svc{i:05}-1\n  namespace: bench\n  labels: {{kubernetes.io/service-name: svc{i:05}}}\n\
             addressType: IPv4\nports: [{{name: http, port: 8080, protocol: TCP}}]\n\
             endpoints:\n- addresses: [\"10.244.1.10\"]\n  nodeName: node1\n  conditions: {{ready: true}}\n"
        );
    }
    text
}

/// Prefixes FRR accepted from each node's IPv4 session.
fn received_v4(lab: &Lab) -> Vec<u64> {
    let sessions = lab.sessions();
    lab.all_nodes()
        .iter()
        .map(|&n| {
            let address = Lab::node_address(n, Family::Ipv4);
            sessions.get(&address).map_or(0, |s| s.prefixes_received)
        })
        .collect()
}

fn rss_mib(lab: &Lab) -> Vec<String> {
    lab.all_nodes()
        .iter()
        .map(|&n| format!("{:.1}", lab.speaker_rss_kib(n) as f64 / 1024.0))
        .collect()
}

fn main() {
    let args = BenchArgs::from_env();
    let count = args.count.unwrap_or(if args.full { 1000 } else { 100 });
    println!(
        "scale benchmark: {count} Services on 3 nodes, {:?} build of herald-speaker",
        args.profile()
    );
    let lab = Lab::start(
        "bench_scale",
        LabOptions {
            profile: args.profile(),
            ..LabOptions::default()
        },
    );
    if count > 4000 {
        // The lab's pool has ~4,000 IPv4 addresses; give the benchmark a /14.
        let config = lab
            .read_file("config.yaml")
            .replace("10.99.0.10-10.99.15.254", "10.96.0.0/14");
        lab.write_file("config.yaml", &config);
        std::thread::sleep(Duration::from_secs(2));
    }
    std::thread::sleep(Duration::from_secs(1));
    println!(
        "speaker RSS idle (MiB, node1..3): {}",
        rss_mib(&lab).join(" / ")
    );

    let manifest = services(count);
    let logs_before: Vec<usize> = lab
        .all_nodes()
        .iter()
        .map(|&n| lab.speaker_log(n).len())
        .collect();
    let write_us = now_us();
    let start = Instant::now();
    lab.write_file("bench.yaml", &manifest);
    let want = vec![count as u64; lab.nodes()];
    // Poll both in one loop: FRR's RIB (per-peer prefix counts) and the kernel FIB.
    let (mut rib, mut fib) = (None, None);
    wait_until(
        SAFETY,
        &format!("{count} prefixes from every node in FRR and {count} routes in the FIB"),
        || {
            if rib.is_none() && received_v4(&lab) == want {
                rib = Some(start.elapsed());
            }
            if fib.is_none() && lab.fib_bgp_routes(Family::Ipv4) == count {
                fib = Some(start.elapsed());
            }
            rib.zip(fib)
        },
        || {
            format!(
                "{:?}, FIB {}",
                received_v4(&lab),
                lab.fib_bgp_routes(Family::Ipv4)
            )
        },
    );
    let (rib, fib) = (rib.unwrap_or_default(), fib.unwrap_or_default());
    let loaded: Vec<String> = lab
        .all_nodes()
        .iter()
        .zip(&logs_before)
        .map(|(&n, &before)| {
            let times = speaker_log_times(&lab.speaker_log(n)[before..], "directory loaded");
            times
                .into_iter()
                .find(|t| *t >= write_us)
                .map_or("?".to_owned(), |t| {
                    format!("{:.0}", (t - write_us) as f64 / 1000.0)
                })
        })
        .collect();
    // every route goes through all three nodes
    let sample: IpAddr = lab
        .read_file("status/bench_svc00000.yaml")
        .lines()
        .find_map(|l| l.strip_prefix("- ")?.trim().parse().ok())
        .expect("svc00000 has an address");
    let hops = lab.fib_next_hops(sample).len();
    println!(
        "\n{count} Services written at t=0 (one file, {} KiB)",
        manifest.len() / 1024
    );
    println!(
        "  speakers loaded them (ms, node1..3):  {}",
        loaded.join(" / ")
    );
    println!(
        "  FRR RIB: all prefixes from each node: {:.0} ms",
        rib.as_secs_f64() * 1000.0
    );
    println!(
        "  router kernel FIB: all routes:        {:.0} ms ({sample} has {hops} next hops)",
        fib.as_secs_f64() * 1000.0
    );
    println!(
        "  speaker RSS now (MiB, node1..3):      {}",
        rss_mib(&lab).join(" / ")
    );

    // One small change while N Services are in the view: a Local Service's endpoint
    // moves from node2 to node3 (every reload reads the whole directory again).
    lab.service("moving", Policy::Local, Family::Ipv4, &[3]);
    let on3 = lab.read_file("moving.yaml");
    lab.service("moving", Policy::Local, Family::Ipv4, &[2]);
    let moving = lab.address("moving", Family::Ipv4);
    lab.wait_fib(moving, &Lab::next_hops(&[2], moving), SAFETY);
    lab.write_file("moving.yaml", &on3);
    let moved = lab.wait_fib(moving, &Lab::next_hops(&[3], moving), SAFETY);
    println!(
        "  one Local endpoint moved -> FIB:      {:.0} ms (one file changed, the directory reloaded)",
        moved.as_secs_f64() * 1000.0
    );

    lab.ctl(&["delete", "moving"]);
    lab.wait_fib(moving, &Default::default(), SAFETY);

    let start = Instant::now();
    std::fs::remove_file(lab.standalone_dir().join("bench.yaml")).expect("remove bench.yaml");
    let (_, gone) = wait_until(
        SAFETY,
        "every route withdrawn from the router's FIB",
        || (lab.fib_bgp_routes(Family::Ipv4) == 0).then(|| start.elapsed()),
        || lab.fib_bgp_routes(Family::Ipv4).to_string(),
    );
    println!(
        "  file removed -> FIB empty again:      {:.0} ms",
        gone.as_secs_f64() * 1000.0
    );
}
