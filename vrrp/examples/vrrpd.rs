//! `vrrpd`: a tiny VRRPv3 daemon on the `vrrp` driver, for the failover benchmark
//! (`scripts/bench-vrrp.sh`) and for trying Herald's VRRP against keepalived by hand.
//!
//! ```text
//! vrrpd --interface eth0 --vrid 51 --priority 150 --advert-interval-ms 100 \
//!       --address 172.30.0.100 [--address ...] [--unicast-peer 172.30.0.12 ...]
//! ```
//!
//! `--vrid A-B` runs one instance per VRID on one [`Segment`], the addresses split over
//! them in order (`--address START+COUNT` adds COUNT consecutive addresses). The
//! addresses Herald left on the interface are removed at start. SIGTERM or SIGINT:
//! graceful stop (priority 0, addresses removed). Logs go to stderr (`RUST_LOG`).
//! Exit codes: 0 after a graceful stop, 64 on bad usage, 1 on a start failure.

use std::net::IpAddr;
use std::process::ExitCode;

use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info};
use vrrp::Centiseconds;
use vrrp::driver::{Options, Segment, primary_address, remove_stale};
use vrrp::fsm::Config;
use vrrp::packet::{Family, VirtualAddresses};

const USAGE: &str = "usage: vrrpd --interface IF --vrid N|A-B --priority P \
    [--advert-interval-ms MS] --address ADDR|START+COUNT... [--unicast-peer ADDR...] \
    [--no-preempt]";

#[derive(Debug)]
struct Args {
    interface: String,
    vrids: Vec<u8>,
    priority: u8,
    advert_interval: Centiseconds,
    addresses: Vec<IpAddr>,
    unicast_peers: Vec<IpAddr>,
    preempt: bool,
}

/// Every problem with the command line, not just the first.
fn parse(arguments: impl Iterator<Item = String>) -> Result<Args, Vec<String>> {
    let mut problems = Vec::new();
    let (mut interface, mut vrids, mut priority) = (None, Vec::new(), None);
    let mut advert_interval = Centiseconds(100);
    let (mut addresses, mut unicast_peers, mut preempt) = (Vec::new(), Vec::new(), true);
    let mut arguments = arguments.peekable();
    while let Some(flag) = arguments.next() {
        if flag == "--no-preempt" {
            preempt = false;
            continue;
        }
        let Some(value) = arguments.next() else {
            problems.push(format!("{flag} needs a value"));
            break;
        };
        match flag.as_str() {
            "--interface" => interface = Some(value),
            "--vrid" => match parse_vrids(&value) {
                Some(parsed) => vrids = parsed,
                None => problems.push(format!("bad VRID or range {value}")),
            },
            "--priority" => match value.parse::<u8>() {
                Ok(p) => priority = Some(p),
                Err(_) => problems.push(format!("bad priority {value}")),
            },
            "--advert-interval-ms" => match value.parse::<u32>() {
                Ok(ms) if ms % 10 == 0 && ms > 0 => advert_interval = Centiseconds(ms / 10),
                _ => problems.push(format!("advert interval {value}: a multiple of 10 ms")),
            },
            "--address" => match parse_addresses(&value) {
                Some(mut parsed) => addresses.append(&mut parsed),
                None => problems.push(format!("bad address {value}")),
            },
            "--unicast-peer" => match value.parse() {
                Ok(peer) => unicast_peers.push(peer),
                Err(_) => problems.push(format!("bad unicast peer {value}")),
            },
            _ => problems.push(format!("unknown flag {flag}")),
        }
    }
    if interface.is_none() {
        problems.push("--interface is required".into());
    }
    if vrids.is_empty() {
        problems.push("--vrid is required".into());
    }
    if priority.is_none() {
        problems.push("--priority is required".into());
    }
    if addresses.len() < vrids.len() {
        problems.push(format!(
            "{} addresses for {} VRIDs: each needs one",
            addresses.len(),
            vrids.len()
        ));
    }
    match (interface, priority, problems.is_empty()) {
        (Some(interface), Some(priority), true) => Ok(Args {
            interface,
            vrids,
            priority,
            advert_interval,
            addresses,
            unicast_peers,
            preempt,
        }),
        _ => Err(problems),
    }
}

fn parse_vrids(value: &str) -> Option<Vec<u8>> {
    let (first, last) = match value.split_once('-') {
        Some((a, b)) => (a.parse::<u8>().ok()?, b.parse::<u8>().ok()?),
        None => (value.parse().ok()?, value.parse().ok()?),
    };
    (first >= 1 && first <= last).then(|| (first..=last).collect())
}

fn parse_addresses(value: &str) -> Option<Vec<IpAddr>> {
    let (start, count) = match value.split_once('+') {
        Some((start, count)) => (start.parse::<IpAddr>().ok()?, count.parse::<u32>().ok()?),
        None => (value.parse().ok()?, 1),
    };
    (0..count)
        .map(|n| match start {
            IpAddr::V4(v4) => u32::from(v4).checked_add(n).map(|a| IpAddr::V4(a.into())),
            IpAddr::V6(v6) => u128::from(v6)
                .checked_add(u128::from(n))
                .map(|a| IpAddr::V6(a.into())),
        })
        .collect()
}

/// The addresses split over `vrids` in order, as evenly as they go.
fn split(addresses: &[IpAddr], vrids: usize) -> Vec<Vec<IpAddr>> {
    let (each, extra) = (addresses.len() / vrids, addresses.len() % vrids);
    let mut rest = addresses;
    (0..vrids)
        .map(|i| {
            let (chunk, tail) = rest.split_at(each + usize::from(i < extra));
            rest = tail;
            chunk.to_vec()
        })
        .collect()
}

fn virtual_addresses(list: Vec<IpAddr>) -> Option<VirtualAddresses> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for address in list {
        match address {
            IpAddr::V4(a) => v4.push(a),
            IpAddr::V6(a) => v6.push(a),
        }
    }
    match (v4.is_empty(), v6.is_empty()) {
        (false, true) => Some(VirtualAddresses::V4(v4)),
        (true, false) => Some(VirtualAddresses::V6(v6)),
        _ => None,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(problems) => {
            for problem in problems {
                eprintln!("vrrpd: {problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!(%message, "vrrpd stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let family = match args.addresses.first() {
        Some(IpAddr::V6(_)) => Family::Ipv6,
        _ => Family::Ipv4,
    };
    let stale = remove_stale(&args.interface).map_err(|e| e.to_string())?;
    if !stale.is_empty() {
        info!(
            count = stale.len(),
            "removed addresses left by an earlier run"
        );
    }
    let primary = primary_address(&args.interface, family).map_err(|e| e.to_string())?;
    let segment = Segment::open(&args.interface, primary).map_err(|e| e.to_string())?;
    let options = Options {
        unicast_peers: args.unicast_peers.clone(),
        ..Options::default()
    };
    let mut instances = Vec::new();
    for (vrid, list) in args
        .vrids
        .iter()
        .zip(split(&args.addresses, args.vrids.len()))
    {
        let addresses = virtual_addresses(list).ok_or("mixed address families in one VRID")?;
        let mut config = Config::new(*vrid, args.priority, primary, addresses);
        config.advert_interval = args.advert_interval;
        config.preempt = args.preempt;
        instances.push(
            segment
                .start_instance(config, options.clone())
                .map_err(|e| e.to_string())?,
        );
    }
    info!(
        interface = args.interface,
        instances = instances.len(),
        addresses = args.addresses.len(),
        priority = args.priority,
        advert_interval = %args.advert_interval,
        "running"
    );
    tokio::select! {
        _ = terminate.recv() => info!("SIGTERM: stopping gracefully"),
        _ = interrupt.recv() => info!("SIGINT: stopping gracefully"),
    }
    let stops: Vec<_> = instances
        .into_iter()
        .map(|instance| tokio::spawn(instance.shutdown()))
        .collect();
    for stop in stops {
        if let Ok(Err(error)) = stop.await {
            error!(%error, "stopping an instance");
        }
    }
    info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Args, Vec<String>> {
        parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn a_range_of_vrids_shares_the_addresses_in_order() {
        let parsed =
            args("--interface eth0 --vrid 1-3 --priority 100 --address 10.0.0.1+7").expect("valid");
        assert_eq!(parsed.vrids, vec![1, 2, 3]);
        let chunks = split(&parsed.addresses, 3);
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![3, 2, 2]);
        assert_eq!(chunks[2][1].to_string(), "10.0.0.7");
    }

    #[test]
    fn every_problem_is_reported() {
        let problems = args("--vrid 0 --advert-interval-ms 15 --address x").expect_err("bad");
        assert_eq!(problems.len(), 6, "{problems:?}");
    }
}
