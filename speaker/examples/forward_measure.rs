//! Measures the proxy's copy loop (`proxy::forward`, buffers lent per read) against
//! tokio's `copy_bidirectional` (8 KiB per direction held for the connection's life) and a
//! splice(2) loop through a pipe per direction, on loopback: 1 GiB bulk through one proxy
//! thread, and user-space memory per idle connection.
//!
//! ```text
//! cargo run --release -p herald-speaker --example forward_measure -- pooled|tokio|splice bulk|idle
//! ```
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use herald_speaker::proxy::forward;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

async fn proxy(mode: &'static str, backend: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut server = TcpStream::connect(backend).await.unwrap();
                client.set_nodelay(true).unwrap();
                server.set_nodelay(true).unwrap();
                match mode {
                    "pooled" => {
                        let traffic = forward::Traffic::default();
                        forward::forward(&mut client, &mut server, None, &traffic).await;
                    }
                    "splice" => {
                        let _ = tokio::join!(
                            splice_one(&client, &server),
                            splice_one(&server, &client)
                        );
                    }
                    _ => {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }
            });
        }
    });
    addr
}

async fn splice_one(src: &TcpStream, dst: &TcpStream) -> std::io::Result<()> {
    use nix::fcntl::{SpliceFFlags, splice};
    use tokio::io::Interest;
    let (pr, pw) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK)?;
    let flags = SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE;
    let mut in_pipe = 0usize;
    loop {
        if in_pipe == 0 {
            src.readable().await?;
            match src.try_io(Interest::READABLE, || {
                splice(src, None, &pw, None, 1 << 16, flags).map_err(std::io::Error::from)
            }) {
                Ok(0) => {
                    let _ = nix::sys::socket::shutdown(
                        std::os::fd::AsRawFd::as_raw_fd(dst),
                        nix::sys::socket::Shutdown::Write,
                    );
                    return Ok(());
                }
                Ok(n) => in_pipe += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        while in_pipe > 0 {
            dst.writable().await?;
            match dst.try_io(Interest::WRITABLE, || {
                splice(&pr, None, dst, None, in_pipe, flags).map_err(std::io::Error::from)
            }) {
                Ok(n) => in_pipe -= n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode: &'static str = Box::leak(args[1].clone().into_boxed_str());
    let test = args[2].clone();
    // The proxy on one thread, clients and backends on another runtime.
    let proxy_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let peers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let backend = peers.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = received.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let received = received.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                received.fetch_add(n as u64, Ordering::Relaxed);
                                // echo one byte per ping in the idle test
                                if n == 1 {
                                    let _ = s.write_all(&buf[..1]).await;
                                }
                            }
                        }
                    }
                });
            }
        });
        addr
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        proxy_rt.block_on(async move {
            tx.send(proxy(mode, backend).await).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let front = rx.recv().unwrap();
    match test.as_str() {
        "bulk" => peers.block_on(async {
            let total: u64 = 1 << 30;
            let buf = vec![7u8; 65536];
            let start = Instant::now();
            let mut c = TcpStream::connect(front).await.unwrap();
            let mut sent = 0;
            while sent < total {
                c.write_all(&buf).await.unwrap();
                sent += buf.len() as u64;
            }
            c.shutdown().await.unwrap();
            while received.load(Ordering::Relaxed) < total {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            let secs = start.elapsed().as_secs_f64();
            println!("{mode} bulk 1 GiB: {:.2} s, {:.0} MiB/s", secs, 1024.0 / secs);
        }),
        _ => peers.block_on(async {
            let n = 3000;
            let before = rss_kib();
            let mut conns = Vec::new();
            for _ in 0..n {
                let mut c = TcpStream::connect(front).await.unwrap();
                c.write_all(b"x").await.unwrap();
                let mut b = [0u8; 1];
                c.read_exact(&mut b).await.unwrap();
                conns.push(c);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let after = rss_kib();
            println!("{mode} idle: {n} connections, RSS +{} KiB, {:.2} KiB per connection (proxy + both peers' user space)", after - before, (after - before) as f64 / n as f64);
        }),
    }
}
