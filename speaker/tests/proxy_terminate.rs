//! The TLS hook: a listener that terminates TLS forwards whatever stream its
//! [`Terminate`] returns, and without one (no good certificate) it refuses connections
//! and its address is withdrawn. The terminator here is a stand-in that reads a one-line
//! greeting before handing the stream over, so the test needs no certificate; the TLS
//! module's rustls terminator plugs in the same way.

mod proxy_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use herald_core::ServiceKey;
use herald_speaker::proxy::driver::ProxyDriver;
use herald_speaker::proxy::listener::ProxyOptions;
use herald_speaker::proxy::select::{CertificateSource, TlsRule, TlsTermination};
use herald_speaker::proxy::serving::{CertificateState, Serving, WithdrawReason};
use herald_speaker::proxy::terminate::{Accepting, ClientStream, Terminate, TerminateFor};
use herald_testsupport::wait::wait_until;
use proxy_support::{ProxyLab, VIP4, ip, listener, sock, url};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Expects the client to send `HELLO\n` first, then forwards the rest.
#[derive(Debug)]
struct Greeting;

impl Terminate for Greeting {
    fn accept(&self, mut tcp: TcpStream) -> Accepting {
        Box::pin(async move {
            let mut hello = [0u8; 6];
            tcp.read_exact(&mut hello).await?;
            if &hello != b"HELLO\n" {
                return Err(std::io::Error::other("no greeting"));
            }
            Ok(Box::new(tcp) as Box<dyn ClientStream>)
        })
    }

    fn certificate(&self) -> CertificateState {
        CertificateState::Loaded
    }
}

#[test]
fn a_tls_listener_forwards_the_terminated_stream_and_without_a_terminator_withdraws() {
    let mut lab = ProxyLab::new("terminate", ProxyOptions::default());
    let backend = sock("127.0.0.1:8001");
    lab.http_backend("a", backend);
    let certificate_ready = Arc::new(AtomicBool::new(false));
    let ready = certificate_ready.clone();
    let terminate_for: TerminateFor = Arc::new(move |_listener| {
        ready
            .load(Ordering::Relaxed)
            .then(|| Arc::new(Greeting) as Arc<dyn Terminate>)
    });
    *lab.driver.blocking_lock() = lab
        .runtime
        .block_on(async move { ProxyDriver::new(ProxyOptions::default(), Some(terminate_for)) });
    let mut web = listener(VIP4, 443, &[backend]);
    web.tls = Some(TlsTermination {
        rule: TlsRule::Port443,
        certificate: CertificateSource::Bundle("/etc/certs/default.pem".into()),
    });
    lab.apply(vec![web.clone()]);
    let front = sock("10.99.0.1:443");
    lab.wait_bound(front);
    let key = (ServiceKey::new("ns", "web"), ip(VIP4));
    // Published just after the bind: wait for it.
    let no_certificate = Serving::Withdraw(WithdrawReason::NoCertificate { port: 443 });
    wait_until(
        Duration::from_secs(10),
        "the address to be withdrawn for want of a certificate",
        || (lab.serving().get(&key) == Some(&no_certificate)).then_some(()),
        || format!("{:?}", lab.serving()),
    );
    assert!(
        lab.curl(&url(front), &[]).is_err(),
        "no certificate: refused"
    );

    certificate_ready.store(true, Ordering::Relaxed);
    lab.apply(vec![web]);
    assert_eq!(lab.serving().get(&key), Some(&Serving::Announce));
    // curl's request must follow the greeting: send both over one raw connection.
    let answer = lab.runtime.block_on(async move {
        use tokio::io::AsyncWriteExt;
        let mut stream = TcpStream::connect(front).await.expect("connect");
        stream
            .write_all(b"HELLO\nGET / HTTP/1.0\r\nHost: web\r\n\r\n")
            .await
            .expect("send");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("response");
        response
    });
    assert!(answer.ends_with("\r\n\r\na\n"), "{answer:?}");
    let snapshot = lab.snapshot(front);
    assert!(snapshot.tls);
    // curl's plain request has no greeting: a failed "handshake".
    assert!(lab.curl(&url(front), &[]).is_err());
    assert_eq!(lab.snapshot(front).handshake_failures, 1);
}
