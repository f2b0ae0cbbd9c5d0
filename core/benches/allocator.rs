//! Allocator benchmark: allocate 10,000 and 100,000 Services in one pool and print
//! Services/s, compute time and peak memory next to the targets (DESIGN.md section 12:
//! 100k Services < 1 s of compute and < 100 MiB).
//!
//! Run: `cargo bench -p herald-core --bench allocator`
//!
//! Each scenario runs in a child process of its own so that its peak resident memory
//! (VmHWM from /proc/self/status) is its own, not the largest of all scenarios.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use herald_core::allocator::{AddressRange, Allocator, IpFamilyPolicy, PoolSpec, ServiceRequest};
use herald_core::{IpFamily, ServiceKey, ServicePort};

const SCENARIO_ENV: &str = "HERALD_ALLOCATOR_BENCH_SCENARIO";

#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    services: usize,
    ranges: &'static [&'static str],
    families: &'static [IpFamily],
    policy: IpFamilyPolicy,
    avoid_buggy_ips: bool,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "ipv4-/8-10k",
        services: 10_000,
        ranges: &["10.0.0.0/8"],
        families: &[IpFamily::V4],
        policy: IpFamilyPolicy::SingleStack,
        avoid_buggy_ips: false,
    },
    Scenario {
        name: "ipv4-/8-100k",
        services: 100_000,
        ranges: &["10.0.0.0/8"],
        families: &[IpFamily::V4],
        policy: IpFamilyPolicy::SingleStack,
        avoid_buggy_ips: false,
    },
    Scenario {
        name: "ipv4-/8-100k-avoid-buggy",
        services: 100_000,
        ranges: &["10.0.0.0/8"],
        families: &[IpFamily::V4],
        policy: IpFamilyPolicy::SingleStack,
        avoid_buggy_ips: true,
    },
    Scenario {
        name: "ipv6-/96-10k",
        services: 10_000,
        ranges: &["2001:db8::/96"],
        families: &[IpFamily::V6],
        policy: IpFamilyPolicy::SingleStack,
        avoid_buggy_ips: false,
    },
    Scenario {
        name: "ipv6-/96-100k",
        services: 100_000,
        ranges: &["2001:db8::/96"],
        families: &[IpFamily::V6],
        policy: IpFamilyPolicy::SingleStack,
        avoid_buggy_ips: false,
    },
    Scenario {
        name: "dual-stack-100k",
        services: 100_000,
        ranges: &["10.0.0.0/8", "2001:db8::/96"],
        families: &[IpFamily::V4, IpFamily::V6],
        policy: IpFamilyPolicy::RequireDualStack,
        avoid_buggy_ips: false,
    },
];

const TARGET_SECONDS: f64 = 1.0;
const TARGET_MIB: f64 = 100.0;

fn main() {
    match std::env::var(SCENARIO_ENV) {
        Ok(name) => run_child(&name),
        Err(_) => run_parent(),
    }
}

fn run_parent() {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("cannot find the benchmark's own executable: {error}");
            std::process::exit(1);
        }
    };
    println!(
        "{:<26} {:>8} {:>11} {:>12} {:>11} {:>12} {:>11} {:>10} {:>9}",
        "scenario",
        "services",
        "assign",
        "Services/s",
        "re-assign",
        "release",
        "peak MiB",
        "< 1 s",
        "< 100 MiB"
    );
    let mut failed = false;
    for scenario in SCENARIOS {
        let output = Command::new(&exe).env(SCENARIO_ENV, scenario.name).output();
        match output {
            Ok(out) if out.status.success() => {
                print!("{}", String::from_utf8_lossy(&out.stdout));
            }
            Ok(out) => {
                failed = true;
                eprintln!(
                    "{} failed: {}",
                    scenario.name,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Err(error) => {
                failed = true;
                eprintln!("{} could not start: {error}", scenario.name);
            }
        }
    }
    println!(
        "assign = total compute time to allocate every Service into an empty allocator; \
         re-assign = the same requests again (idempotent reconcile); release = release all; \
         peak = VmHWM of the scenario's process (binary and allocator together)."
    );
    if failed {
        std::process::exit(1);
    }
}

fn run_child(name: &str) {
    let Some(scenario) = SCENARIOS.iter().find(|s| s.name == name) else {
        eprintln!("no scenario {name}");
        std::process::exit(2);
    };
    let ranges = scenario
        .ranges
        .iter()
        .map(|r| r.parse::<AddressRange>())
        .collect::<Result<Vec<_>, _>>();
    let ranges = match ranges {
        Ok(ranges) => ranges,
        Err(error) => {
            eprintln!("bad range: {error}");
            std::process::exit(2);
        }
    };
    let pool = PoolSpec::new("default", ranges).with_avoid_buggy_ips(scenario.avoid_buggy_ips);
    let mut allocator = match Allocator::new(vec![pool]) {
        Ok(allocator) => allocator,
        Err(error) => {
            eprintln!("bad pool: {error}");
            std::process::exit(2);
        }
    };
    let request = |i: usize| {
        ServiceRequest::new(ServiceKey::new("bench", format!("service-{i:06}")))
            .with_ports([ServicePort::tcp(80), ServicePort::tcp(443)])
            .with_families(scenario.families.iter().copied(), scenario.policy)
    };

    let assign = time(|| {
        for i in 0..scenario.services {
            if let Err(error) = allocator.assign(black_box(&request(i))) {
                eprintln!("service {i}: {error}");
                std::process::exit(1);
            }
        }
    });
    let peak = peak_mib();
    let reassign = time(|| {
        for i in 0..scenario.services {
            black_box(allocator.assign(&request(i)).is_ok());
        }
    });
    let release = time(|| {
        for i in 0..scenario.services {
            black_box(allocator.release(&ServiceKey::new("bench", format!("service-{i:06}"))));
        }
    });
    assert_eq!(allocator.len(), 0);

    let seconds = assign.as_secs_f64();
    let rate = scenario.services as f64 / seconds;
    let verdict = |ok: bool| if ok { "yes" } else { "NO" };
    println!(
        "{:<26} {:>8} {:>9.1}ms {:>12.0} {:>9.1}ms {:>10.1}ms {:>11} {:>10} {:>9}",
        scenario.name,
        scenario.services,
        seconds * 1e3,
        rate,
        reassign.as_secs_f64() * 1e3,
        release.as_secs_f64() * 1e3,
        peak.map_or_else(|| "n/a".to_owned(), |mib| format!("{mib:.1}")),
        verdict(seconds < TARGET_SECONDS),
        peak.map_or("n/a", |mib| verdict(mib < TARGET_MIB)),
    );
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Peak resident set size of this process in MiB, from `/proc/self/status`.
fn peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
