//! The proxy's data path alone, for the benchmark harness (`shared/bench`, `PROXY_CMD`):
//! one plain TCP listener forwarding to one backend through `ProxyDriver`.
//!
//! ```text
//! cargo build --release -p herald-speaker --example proxy_bench
//! PROXY_CMD='target/release/examples/proxy_bench {tcp_listen} {backend} {threads}' ./run.sh
//! ```
//! With one thread the proxy runs on a current-thread runtime (no work stealing).
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::time::Duration;

use herald_config::{Balance, ProxyProtocol};
use herald_core::ServiceKey;
use herald_speaker::proxy::driver::ProxyDriver;
use herald_speaker::proxy::listener::ProxyOptions;
use herald_speaker::proxy::select::{Listener, Selection};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: proxy_bench LISTEN BACKEND [THREADS]";
    let listen: SocketAddr = args.get(1).ok_or(usage)?.parse()?;
    let backend: SocketAddr = args.get(2).ok_or(usage)?.parse()?;
    let threads: usize = args.get(3).map_or(Ok(1), |t| t.parse())?;
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async move {
        let mut driver = ProxyDriver::new(ProxyOptions::default(), None);
        driver.apply(&Selection {
            listeners: vec![Listener {
                service: ServiceKey::new("bench", "bench"),
                address: listen.ip(),
                port: listen.port(),
                pool: "bench".into(),
                tls: None,
                balance: Balance::RoundRobin,
                proxy_protocol: ProxyProtocol::None,
                idle_timeout: Duration::from_secs(300),
                max_connections: None,
                timers: None,
                backends: vec![backend],
            }],
            not_proxied: vec![],
        });
        println!("proxy_bench: {listen} -> {backend}, {threads} thread(s)");
        let _ = tokio::signal::ctrl_c().await;
        driver.shutdown(Duration::from_secs(1)).await;
    });
    Ok(())
}
