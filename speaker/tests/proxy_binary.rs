//! The proxy in the `herald-speaker` binary at SIGTERM, on loopback: the listener closes
//! at once (new connections are refused), a live connection goes on and is answered, and
//! the process exits as soon as it closes, well inside `--proxy-grace-period`.

mod bin_support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bin_support::Running;
use herald_testsupport::ports::free_port;
use herald_testsupport::wait::{eventually, wait_until};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// An echo backend: every connection gets its bytes back, until the peer closes.
fn echo_backend() -> SocketAddr {
    let listener = TcpListener::bind((LOOPBACK, 0)).expect("bind the backend");
    let address = listener.local_addr().expect("backend address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buffer = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 || stream.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    address
}

fn echo(stream: &mut TcpStream, text: &[u8]) -> Vec<u8> {
    stream.write_all(text).expect("write");
    let mut answer = vec![0u8; text.len()];
    stream.read_exact(&mut answer).expect("read the echo");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_sigterm_the_proxy_stops_accepting_and_lets_a_live_connection_finish() {
    let backend = echo_backend();
    let port = free_port(LOOPBACK);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("config.yaml"),
        "address-pools:\n- name: local\n  protocol: bgp\n  addresses: [127.0.0.1/32]\n  \
         proxy: {enabled: true}\n",
    )
    .expect("write config");
    std::fs::write(
        dir.path().join("cluster.yaml"),
        format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: node-a}}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {{name: echo, namespace: default}}\n\
             spec:\n  type: LoadBalancer\n  loadBalancerIP: 127.0.0.1\n  \
             ports: [{{name: echo, port: {port}, targetPort: {target}}}]\n---\n\
             apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{name: echo-1, namespace: default, labels: {{kubernetes.io/service-name: echo}}}}\n\
             addressType: IPv4\nports: [{{name: echo, port: {target}}}]\n\
             endpoints:\n- addresses: [127.0.0.1]\n  nodeName: node-a\n  \
             conditions: {{ready: true, serving: true}}\n",
            target = backend.port()
        ),
    )
    .expect("write manifests");
    let dir_arg = dir.path().display().to_string();
    let mut running = Running::start(&[
        "--node-name",
        "node-a",
        "--standalone",
        &dir_arg,
        "--proxy-grace-period",
        "15s",
    ]);
    running.wait_ready().await;
    eventually("the proxy listens", || async {
        let status = running.status().await;
        let listener = status["proxy"]["listeners"].get(0)?.clone();
        listener["bind_error"].is_null().then_some(())
    })
    .await;
    let service = SocketAddr::new(LOOPBACK, port);
    let mut live = TcpStream::connect(service).expect("connect through the proxy");
    live.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    assert_eq!(echo(&mut live, b"before"), b"before");

    // SIGTERM (and the wait for the exit) on a thread of its own.
    let stopping = std::thread::spawn(move || {
        let status = running.terminate();
        (status, Instant::now(), running)
    });
    wait_until(
        Duration::from_secs(10),
        "new connections are refused",
        || TcpStream::connect(service).is_err().then_some(()),
        || "the listener still accepts".to_owned(),
    );
    assert_eq!(
        echo(&mut live, b"during the drain"),
        b"during the drain",
        "the live connection is still served"
    );
    assert!(
        !stopping.is_finished(),
        "the speaker must not exit while a connection is live"
    );
    let closed = Instant::now();
    drop(live);
    let (status, exited, running) = stopping.join().expect("the stopping thread");
    assert!(
        status.success(),
        "exit status {status:?}:\n{}",
        running.log()
    );
    let after_close = exited.duration_since(closed);
    println!(
        "exited {} ms after the last connection closed",
        after_close.as_millis()
    );
    assert!(
        after_close < Duration::from_secs(5),
        "exited {after_close:?} after the last connection closed, not at once"
    );
}
