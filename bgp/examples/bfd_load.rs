//! CPU cost of Herald's BFD driver: N sessions at a given interval, between two drivers
//! in one process over loopback (each on its own single-threaded runtime and thread), with
//! crossed ports so both can listen. Prints the CPU time of one driver's thread as a
//! share of one core.
//!
//! ```text
//! cargo run --release -p bgp --example bfd_load -- [--sessions 100] [--interval-ms 20] [--seconds 10]
//! ```
//!
//! Session i runs between 127.0.(i/250).(i%250+1) on side A and 127.1.(i/250).(i%250+1) on side
//! B, so every session has its own pair of addresses, as with real peers.

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bgp::BfdTimers;
use bgp::bfd::{Bfd, Ports, SessionKey, State};

const USAGE: u8 = 64;

struct Args {
    sessions: u32,
    interval_ms: u64,
    seconds: u64,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        sessions: 100,
        interval_ms: 20,
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sessions" => args.sessions = value.parse()?,
            "--interval-ms" => args.interval_ms = value.parse()?,
            "--seconds" => args.seconds = value.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    Ok(args)
}

fn address(side: u8, i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        side,
        (i / 250) as u8,
        (i % 250 + 1) as u8,
    ))
}

/// User + system CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command (which is in parentheses): utime is the 12th, stime 13th.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Runs one driver with `n` sessions on its own thread; reports (all Up, CPU over the
/// window) through `report`.
/// One of the two drivers: its name, ports, and the second octet of its addresses and of
/// its peers' addresses.
struct Side {
    name: &'static str,
    ports: Ports,
    local_side: u8,
    peer_side: u8,
}

type Report = (&'static str, Duration, Duration, u64);

fn side(
    side: Side,
    n: u32,
    timers: BfdTimers,
    window: Duration,
    report: mpsc::Sender<Report>,
) -> std::thread::JoinHandle<()> {
    let Side {
        name,
        ports,
        local_side,
        peer_side,
    } = side;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let bfd = Bfd::spawn_with_ports(ports);
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    bfd.add(
                        SessionKey {
                            peer: address(peer_side, i),
                            local: Some(address(local_side, i)),
                            multihop: false,
                        },
                        timers,
                    )
                })
                .collect();
            let started = Instant::now();
            loop {
                let up = handles
                    .iter()
                    .filter(|h| {
                        let s = h.status();
                        s.state == State::Up && s.negotiated.tx_interval == timers.desired_min_tx
                    })
                    .count();
                if up == handles.len() {
                    break;
                }
                if started.elapsed() > Duration::from_secs(60) {
                    eprintln!("{name}: only {up} of {n} sessions Up after 60 s");
                    std::process::exit(1);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let up_after = started.elapsed();
            let cpu0 = thread_cpu();
            let wall0 = Instant::now();
            tokio::time::sleep(window).await;
            let cpu = thread_cpu() - cpu0;
            let wall = wall0.elapsed();
            let flaps: u64 = handles.iter().map(|h| h.status().flaps).sum();
            let _ = report.send((name, cpu, wall, flaps));
            eprintln!("{name}: all {n} Up after {up_after:?}");
            // Keep running until the other side has measured too.
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error:#}");
            eprintln!("usage: bfd_load [--sessions N] [--interval-ms MS] [--seconds S]");
            return ExitCode::from(USAGE);
        }
    };
    let timers = BfdTimers {
        desired_min_tx: Duration::from_millis(args.interval_ms),
        required_min_rx: Duration::from_millis(args.interval_ms),
        detect_mult: 3,
    };
    let window = Duration::from_secs(args.seconds);
    let a_ports = Ports {
        listen_single_hop: 13784,
        peer_single_hop: 23784,
        ..Ports::default()
    };
    let b_ports = Ports {
        listen_single_hop: 23784,
        peer_single_hop: 13784,
        ..Ports::default()
    };
    let (tx, rx) = mpsc::channel();
    let a = Side {
        name: "A",
        ports: a_ports,
        local_side: 0,
        peer_side: 1,
    };
    let b = Side {
        name: "B",
        ports: b_ports,
        local_side: 1,
        peer_side: 0,
    };
    let a = side(a, args.sessions, timers, window, tx.clone());
    let b = side(b, args.sessions, timers, window, tx);
    for _ in 0..2 {
        let Ok((name, cpu, wall, flaps)) = rx.recv() else {
            eprintln!("a driver thread ended early");
            return ExitCode::FAILURE;
        };
        println!(
            "driver {name}: {} sessions at {} ms x 3: {:.2} % of one core ({:?} CPU in {:.1} s), {flaps} flaps",
            args.sessions,
            args.interval_ms,
            cpu.as_secs_f64() / wall.as_secs_f64() * 100.0,
            cpu,
            wall.as_secs_f64()
        );
    }
    let _ = a.join();
    let _ = b.join();
    ExitCode::SUCCESS
}
