//! Announce prefixes to one or more BGP peers, then take commands on stdin.
//!
//! ```text
//! cargo run -p bgp --example announce -- --peer 172.30.0.1 --remote-as 64501 \
//!     --local-as 64500 --router-id 172.30.0.11 [--source ADDR] [--password KEY] \
//!     [--hold 90] [--listen ADDR:PORT] [--passive] [--multihop N] [--gtsm] \
//!     [--graceful-restart SECONDS] [--bfd TX_MS,RX_MS,MULT] [--count N --base 10.0.0.0]
//!     [PREFIX...]
//! ```
//!
//! Commands, one per line: `announce PREFIX [community A:B]... [large A:B:C]... [med N]
//! [local-pref N]`, `withdraw PREFIX`, `stats` (one JSON object per peer), `quit`
//! (graceful shutdown), `restart` (close without NOTIFICATION, so that peers with graceful
//! restart keep the routes, and exit). State changes print as `peer ADDRESS STATE`. With `--count N`,
//! N consecutive /32s from `--base` are announced and a line tells when the last of
//! their UPDATEs was written to each peer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bgp::{
    BfdTimers, Community, IpNet, LargeCommunity, PeerConfig, PeerStats, RouteAttributes,
    SessionState, Speaker, SpeakerConfig,
};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Exit code for bad usage (sysexits EX_USAGE).
const USAGE: u8 = 64;

#[derive(Debug)]
struct Args {
    peers: Vec<IpAddr>,
    remote_as: u32,
    local_as: u32,
    router_id: Ipv4Addr,
    source: Option<IpAddr>,
    password: Option<String>,
    hold: u16,
    listen: Option<SocketAddr>,
    passive: bool,
    multihop: Option<u8>,
    gtsm: bool,
    graceful_restart: Option<u16>,
    bfd: Option<BfdTimers>,
    count: u32,
    base: Ipv4Addr,
    prefixes: Vec<IpNet>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args> {
    let mut parsed = Args {
        peers: Vec::new(),
        remote_as: 0,
        local_as: 0,
        router_id: Ipv4Addr::UNSPECIFIED,
        source: None,
        password: None,
        hold: 90,
        listen: None,
        passive: false,
        multihop: None,
        gtsm: false,
        graceful_restart: None,
        bfd: None,
        count: 0,
        base: Ipv4Addr::new(10, 0, 0, 0),
        prefixes: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--peer" => parsed
                .peers
                .push(value("--peer")?.parse().context("--peer")?),
            "--remote-as" => {
                parsed.remote_as = value("--remote-as")?.parse().context("--remote-as")?
            }
            "--local-as" => parsed.local_as = value("--local-as")?.parse().context("--local-as")?,
            "--router-id" => {
                parsed.router_id = value("--router-id")?.parse().context("--router-id")?
            }
            "--source" => parsed.source = Some(value("--source")?.parse().context("--source")?),
            "--password" => parsed.password = Some(value("--password")?),
            "--hold" => parsed.hold = value("--hold")?.parse().context("--hold")?,
            "--listen" => parsed.listen = Some(value("--listen")?.parse().context("--listen")?),
            "--passive" => parsed.passive = true,
            "--multihop" => {
                parsed.multihop = Some(value("--multihop")?.parse().context("--multihop")?)
            }
            "--gtsm" => parsed.gtsm = true,
            "--graceful-restart" => {
                parsed.graceful_restart = Some(
                    value("--graceful-restart")?
                        .parse()
                        .context("--graceful-restart")?,
                );
            }
            "--bfd" => {
                parsed.bfd = Some(parse_bfd(&value("--bfd")?).context("--bfd TX_MS,RX_MS,MULT")?)
            }
            "--count" => parsed.count = value("--count")?.parse().context("--count")?,
            "--base" => parsed.base = value("--base")?.parse().context("--base")?,
            flag if flag.starts_with("--") => bail!("unknown option {flag}"),
            prefix => parsed
                .prefixes
                .push(prefix.parse().with_context(|| format!("prefix {prefix}"))?),
        }
    }
    if parsed.peers.is_empty()
        || parsed.remote_as == 0
        || parsed.local_as == 0
        || parsed.router_id.is_unspecified()
    {
        bail!("--peer, --remote-as, --local-as and --router-id are required");
    }
    Ok(parsed)
}

/// `TX_MS,RX_MS,MULT`, e.g. `20,20,3`.
fn parse_bfd(text: &str) -> Result<BfdTimers> {
    let parts: Vec<&str> = text.split(',').collect();
    let [tx, rx, mult] = parts[..] else {
        bail!("three comma-separated numbers")
    };
    Ok(BfdTimers {
        desired_min_tx: Duration::from_millis(tx.parse()?),
        required_min_rx: Duration::from_millis(rx.parse()?),
        detect_mult: mult.parse()?,
    })
}

fn peer_config(args: &Args, address: IpAddr) -> PeerConfig {
    let mut peer = PeerConfig::new(address, args.local_as, args.remote_as, args.router_id);
    // The source address only applies to peers of its family.
    peer.source_address = args
        .source
        .filter(|source| source.is_ipv4() == address.is_ipv4());
    peer.password.clone_from(&args.password);
    peer.hold_time = args.hold;
    peer.passive = args.passive;
    peer.ebgp_multihop = args.multihop;
    peer.gtsm = args.gtsm;
    peer.graceful_restart = args.graceful_restart;
    peer.bfd = args.bfd;
    peer
}

/// `announce PREFIX [community A:B]... [large A:B:C]... [med N] [local-pref N]`
fn parse_announce(words: &[&str]) -> Result<(IpNet, RouteAttributes)> {
    let (prefix, rest) = words.split_first().context("announce needs a prefix")?;
    let prefix: IpNet = prefix.parse().with_context(|| format!("prefix {prefix}"))?;
    let mut attributes = RouteAttributes::default();
    let mut rest = rest.iter();
    while let Some(keyword) = rest.next() {
        let value = rest
            .next()
            .with_context(|| format!("{keyword} needs a value"))?;
        match *keyword {
            "community" => {
                let (high, low) = value.split_once(':').context("community is A:B")?;
                attributes
                    .communities
                    .push(Community::new(high.parse()?, low.parse()?));
            }
            "large" => {
                let parts: Vec<u32> = value.split(':').map(str::parse).collect::<Result<_, _>>()?;
                let [global_admin, local_data1, local_data2] = parts[..] else {
                    bail!("large community is A:B:C")
                };
                attributes.large_communities.push(LargeCommunity {
                    global_admin,
                    local_data1,
                    local_data2,
                });
            }
            "med" => attributes.med = Some(value.parse()?),
            "local-pref" => attributes.local_pref = Some(value.parse()?),
            other => bail!("unknown attribute {other}"),
        }
    }
    Ok((prefix, attributes))
}

fn stats_json(stats: &PeerStats) -> serde_json::Value {
    serde_json::json!({
        "peer": stats.address.to_string(),
        "remote_as": stats.remote_as,
        "state": stats.state.to_string(),
        "established_for_s": stats.established_since.map(|since| since.elapsed().as_secs_f64()),
        "messages_sent": stats.messages_sent,
        "messages_received": stats.messages_received,
        "updates_sent": stats.updates_sent,
        "updates_received": stats.updates_received,
        "prefixes_sent": stats.prefixes_sent,
        "prefixes_received": stats.prefixes_received,
        "hold_time": stats.hold_time,
        "pending_messages": stats.pending_messages,
        "last_error": stats.last_error,
        "bfd": stats.bfd.as_ref().map(|bfd| serde_json::json!({
            "state": bfd.state.name(),
            "tx_interval_ms": bfd.negotiated.tx_interval.as_secs_f64() * 1000.0,
            "rx_interval_ms": bfd.negotiated.rx_interval.as_secs_f64() * 1000.0,
            "detection_time_ms": bfd.negotiated.detection_time.as_secs_f64() * 1000.0,
            "flaps": bfd.flaps,
            "error": bfd.error,
        })),
    })
}

/// Waits for each IPv4 peer to be Established and to have written `count` prefixes, then
/// prints how long that took after Established.
async fn report_count(speaker: Speaker, count: u64) {
    let mut established: std::collections::HashMap<IpAddr, Instant> = Default::default();
    let mut done: std::collections::HashSet<IpAddr> = Default::default();
    loop {
        for stats in speaker.stats().await {
            if !stats.address.is_ipv4() || done.contains(&stats.address) {
                continue;
            }
            if stats.state != SessionState::Established {
                established.remove(&stats.address);
                continue;
            }
            let since = *established
                .entry(stats.address)
                .or_insert_with(Instant::now);
            if stats.prefixes_sent >= count && stats.pending_messages == 0 {
                println!(
                    "count: {count} prefixes written to {} in {} UPDATEs, {:.1} ms after Established",
                    stats.address,
                    stats.updates_sent,
                    since.elapsed().as_secs_f64() * 1000.0
                );
                done.insert(stats.address);
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn run(args: Args) -> Result<()> {
    let speaker = Speaker::try_new(SpeakerConfig {
        listen: args.listen,
    })?;
    let mut events = speaker.events();
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    println!("({missed} state changes missed)");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            match event.reason {
                Some(reason) if event.state != SessionState::Established => {
                    println!("peer {} {} ({reason})", event.peer, event.state);
                }
                _ => println!("peer {} {}", event.peer, event.state),
            }
        }
    });
    for prefix in &args.prefixes {
        speaker.announce(*prefix, RouteAttributes::default());
    }
    if args.count > 0 {
        let base = u32::from(args.base);
        for i in 0..args.count {
            let address = Ipv4Addr::from(base.wrapping_add(i));
            speaker.announce(IpNet::from(IpAddr::V4(address)), RouteAttributes::default());
        }
        tokio::spawn(report_count(speaker.clone(), u64::from(args.count)));
    }
    for address in &args.peers {
        speaker.add_peer(peer_config(&args, *address)).await?;
    }

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line?,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let result = match words.split_first() {
            None => Ok(()),
            Some((&"announce", rest)) => parse_announce(rest).map(|(prefix, attributes)| {
                speaker.announce(prefix, attributes);
            }),
            Some((&"withdraw", [prefix])) => prefix
                .parse()
                .map(|prefix| speaker.withdraw(prefix))
                .context("withdraw PREFIX"),
            Some((&"stats", [])) => {
                for stats in speaker.stats().await {
                    println!("{}", stats_json(&stats));
                }
                Ok(())
            }
            Some((&"quit", [])) => break,
            Some((&"restart", [])) => {
                speaker.shutdown_for_restart().await;
                println!("closed for a graceful restart");
                return Ok(());
            }
            Some((command, _)) => Err(anyhow::anyhow!("unknown command {command}")),
        };
        if let Err(error) = result {
            eprintln!("error: {error:#}");
        }
    }
    speaker.shutdown().await;
    println!("shut down");
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error:#}");
            eprintln!(
                "usage: announce --peer ADDR [--peer ADDR]... --remote-as AS --local-as AS --router-id ID \
                 [--source ADDR] [--password KEY] [--hold S] [--listen ADDR:PORT] [--passive] \
                 [--multihop N] [--gtsm] [--graceful-restart S] [--bfd TX_MS,RX_MS,MULT] \
                 [--count N --base ADDR] [PREFIX]..."
            );
            return ExitCode::from(USAGE);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
