//! The proxy's limits with real clients: idle (slowloris) clients cut at the idle timeout,
//! the connection cap under a flood, draining a removed backend until its deadline, and a
//! graceful shutdown.

mod proxy_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::FutureExt;
use herald_core::ServiceKey;
use herald_speaker::proxy::listener::ProxyOptions;
use herald_speaker::proxy::serving::{Serving, WithdrawReason};
use herald_testsupport::wait::{ms, wait_until};
use proxy_support::{ProxyLab, VIP4, VIP6, ip, listener, sock, url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: web\r\n\r\n";

/// Sends one keep-alive request on `stream` and returns the response's body.
async fn request(stream: &mut TcpStream) -> std::io::Result<String> {
    stream.write_all(REQUEST).await?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        response.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some((_, body)) = text.split_once("\r\n\r\n")
            && body.ends_with('\n')
        {
            return Ok(body.trim().to_owned());
        }
    }
}

/// Reads until the proxy closes the stream (end of stream or reset); `Err` if it stays
/// open for `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut chunk)).await {
            Err(_) => return Err(format!("still open after {limit:?}")),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[test]
fn a_slowloris_client_is_cut_at_the_idle_timeout() {
    let mut lab = ProxyLab::new("idle", ProxyOptions::default());
    let backend = sock("[::1]:8001");
    lab.http_backend("a", backend);
    let mut web = listener(VIP6, 80, &[backend]);
    web.idle_timeout = Duration::from_secs(1);
    lab.apply(vec![web]);
    let front = sock("[fd00:99::1]:80");
    lab.wait_bound(front);
    let cut = lab.runtime.block_on(async move {
        let mut stream = TcpStream::connect(front).await.expect("connect");
        // Half a request, then nothing.
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: web\r\n")
            .await
            .expect("send");
        closed_within(&mut stream, Duration::from_secs(10)).await
    });
    let cut = cut.expect("the idle client is cut");
    println!(
        "idle client cut {} after its last byte (timeout 1 s)",
        ms(cut)
    );
    assert!(cut >= Duration::from_millis(950), "{cut:?}");
    assert!(cut < Duration::from_secs(5), "{cut:?}");
    let snapshot = lab.snapshot(front);
    assert_eq!(snapshot.idle_timeouts, 1);
    assert_eq!(lab.curl(&url(front), &[]).as_deref(), Ok("a"));
}

#[test]
fn the_cap_holds_under_a_flood_and_the_listener_serves_after() {
    let mut lab = ProxyLab::new("cap", ProxyOptions::default());
    let backend = sock("127.0.0.1:8001");
    lab.http_backend("a", backend);
    let mut web = listener(VIP4, 80, &[backend]);
    web.max_connections = Some(50);
    lab.apply(vec![web]);
    let front = sock("10.99.0.1:80");
    lab.wait_bound(front);
    let flood = lab.runtime.block_on(async move {
        // A connection the proxy resets before connect() returns counts as refused too.
        let mut streams = Vec::new();
        for _ in 0..200 {
            match TcpStream::connect(front).await {
                Ok(stream) => streams.push(stream),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                Err(e) => panic!("connect: {e}"),
            }
        }
        streams
    });
    wait_until(
        Duration::from_secs(20),
        "the proxy to accept the 200 connections",
        || (lab.snapshot(front).total == 200).then_some(()),
        || format!("{:?}", lab.snapshot(front)),
    );
    let snapshot = lab.snapshot(front);
    assert_eq!(snapshot.active, 50, "{snapshot:?}");
    assert_eq!(snapshot.refused, 150, "{snapshot:?}");
    // The clients see it: 150 closed at once, 50 open and forwarded.
    let (open, flood) = lab.runtime.block_on(async move {
        let mut flood = flood;
        let mut open = 0;
        for stream in &mut flood {
            if closed_within(stream, Duration::from_millis(20))
                .await
                .is_err()
            {
                open += 1;
            }
        }
        (open, flood)
    });
    assert_eq!(open, 50);
    drop(flood);
    wait_until(
        Duration::from_secs(20),
        "the flood's connections to close",
        || (lab.snapshot(front).active == 0).then_some(()),
        || format!("{:?}", lab.snapshot(front)),
    );
    assert_eq!(lab.curl(&url(front), &[]).as_deref(), Ok("a"));
}

#[test]
fn a_removed_backend_keeps_its_live_connection_until_the_drain_deadline() {
    let grace = Duration::from_secs(2);
    let mut lab = ProxyLab::new(
        "drain",
        ProxyOptions {
            drain_grace: grace,
            ..ProxyOptions::default()
        },
    );
    let (a, b) = (sock("127.0.0.1:8001"), sock("127.0.0.1:8002"));
    lab.http_backend("a", a);
    lab.http_backend("b", b);
    lab.apply(vec![listener(VIP4, 80, &[a, b])]);
    let front = sock("10.99.0.1:80");
    lab.wait_bound(front);
    let (first, live) = lab.runtime.block_on(async move {
        let mut stream = TcpStream::connect(front).await.expect("connect");
        let body = request(&mut stream).await.expect("first request");
        (body, stream)
    });
    assert_eq!(first, "a");

    let removed = Instant::now();
    lab.apply(vec![listener(VIP4, 80, &[b])]);
    for _ in 0..3 {
        assert_eq!(lab.curl(&url(front), &[]).as_deref(), Ok("b"));
    }
    let (again, closed, mut live) = lab.runtime.block_on(async move {
        let mut live = live;
        let again = request(&mut live).await;
        let closed = closed_within(&mut live, Duration::from_secs(10)).await;
        (again, closed, live)
    });
    assert_eq!(
        again.expect("the live connection still works while draining"),
        "a"
    );
    closed.expect("closed at the drain deadline");
    let took = removed.elapsed();
    println!(
        "live connection closed {} after removal (grace {grace:?})",
        ms(took)
    );
    assert!(took >= grace, "{took:?}");
    let backends: Vec<SocketAddr> = lab
        .snapshot(front)
        .backends
        .iter()
        .map(|b| b.address)
        .collect();
    assert_eq!(backends, [b]);
    let _ = lab.runtime.block_on(async move { live.shutdown().await });
}

#[test]
fn shutdown_withdraws_first_stops_accepting_and_closes_what_outlives_the_grace() {
    let mut lab = ProxyLab::new("shutdown", ProxyOptions::default());
    let backend = sock("127.0.0.1:8001");
    lab.http_backend("a", backend);
    lab.apply(vec![listener(VIP4, 80, &[backend])]);
    let front = sock("10.99.0.1:80");
    lab.wait_bound(front);
    let live = lab.runtime.block_on(async move {
        let mut stream = TcpStream::connect(front).await.expect("connect");
        request(&mut stream).await.expect("request");
        stream
    });
    let driver = lab.driver.clone();
    let mut serving = driver.blocking_lock().serving();
    let (report, withdrawn_first, still_open, refused, closed) = lab.runtime.block_on(async move {
        let mut live = live;
        let shutdown = tokio::spawn(async move {
            let mut driver = driver.lock().await;
            driver.shutdown(Duration::from_millis(500)).await
        });
        // Withdrawn for the shutdown while the live connection still runs.
        let key = (ServiceKey::new("ns", "web"), ip(VIP4));
        let shutting_down = Serving::Withdraw(WithdrawReason::ShuttingDown);
        let mut withdrawn_first = serving.borrow_and_update().clone();
        while withdrawn_first.get(&key) != Some(&shutting_down) {
            serving.changed().await.expect("serving published");
            withdrawn_first = serving.borrow_and_update().clone();
        }
        let still_open = live.peek(&mut [0u8; 1]).now_or_never().is_none();
        let closed = closed_within(&mut live, Duration::from_secs(10)).await;
        let report = shutdown.await.expect("shutdown");
        let refused = TcpStream::connect(front).await.is_err();
        (report, withdrawn_first, still_open, refused, closed)
    });
    assert!(still_open, "the live connection outlives the withdrawal");
    assert_eq!(
        withdrawn_first.get(&(ServiceKey::new("ns", "web"), ip(VIP4))),
        Some(&Serving::Withdraw(WithdrawReason::ShuttingDown))
    );
    assert_eq!(report.closed, 1, "{report:?}");
    assert!(report.took >= Duration::from_millis(500), "{report:?}");
    closed.expect("the live connection is closed after the grace");
    assert!(refused, "no listener after shutdown");
    let _ = VIP6;
}
