//! Proxied Services across a speaker restart (issue 11), with real processes and sockets in
//! a network namespace: the `herald-speaker` binary in standalone mode proxies one Service
//! address (made local by the speaker: an AnyIP route, proto 72) on a plain port and a TLS
//! port to an echo backend, while a steady client opens a new connection every 10 ms on
//! each port and a few long connections keep exchanging data.
//!
//! - `--shutdown-mode restart`: the old speaker gets SIGTERM, a new one starts while the
//!   old still runs, takes its listening sockets over `--handover-socket`, and the old stops
//!   accepting and exits once its long connections have finished: not one connection
//!   fails, the long ones complete, the new one serves, the old admin listener is gone and
//!   the new one answers on the same port, and the address stays local throughout.
//! - `--shutdown-mode withdraw` with the new speaker started once the old one has exited:
//!   the same client counts failed connections (the test shows it can fail).
//! - A handover socket whose process never answers does not keep a new speaker from
//!   serving: it gives up within its bound and binds its listeners itself.

mod bin_support;
mod proxy_support;

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bin_support::BIN;
use herald_testsupport::child::Process;
use herald_testsupport::http::http_get;
use herald_testsupport::netns::{NsRuntime, require_program, run};
use herald_testsupport::pki::self_signed;
use herald_testsupport::wait::wait_until;
use proxy_support::{Namespace, VIP4};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

/// The admin port of both speakers: the same port, as on a node (host network).
const ADMIN: &str = "127.0.0.1:7472";
const PLAIN_PORT: u16 = 8080;
const TLS_PORT: u16 = 443;
const SERVER_NAME: &str = "web.test";
/// One request of the steady client may take this long (a safety net).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long waits for a process or the proxy may take on a busy CI machine.
const WAIT: Duration = Duration::from_secs(30);

/// The namespace, its runtime, the backend and the speakers' files. Fields drop in
/// reverse order of declaration in the test: declare this first.
struct Lab {
    runtime: NsRuntime,
    dir: tempfile::TempDir,
    tls: TlsConnector,
    ns: Namespace,
}

impl Lab {
    fn new(test: &str) -> Lab {
        require_program("openssl", "openssl");
        require_program("ss", "iproute2");
        let ns = Namespace::new(test);
        let runtime = NsRuntime::start(&ns.name);
        let dir = tempfile::tempdir().expect("tempdir");
        let backend: SocketAddr = runtime.block_on(echo_backend());
        let (bundle, tls) = certificate(dir.path());
        let manifests = dir.path().join("manifests");
        std::fs::create_dir(&manifests).expect("manifest dir");
        std::fs::write(
            manifests.join("config.yaml"),
            format!(
                "address-pools:\n- name: web\n  protocol: bgp\n  addresses: [{VIP4}/32]\n  \
                 proxy: {{enabled: true}}\n  tls: {{bundle: {}}}\n",
                bundle.display()
            ),
        )
        .expect("write config");
        std::fs::write(
            manifests.join("cluster.yaml"),
            format!(
                "apiVersion: v1\nkind: Node\nmetadata: {{name: node-a}}\n---\n\
                 apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\n\
                 spec:\n  type: LoadBalancer\n  loadBalancerIP: {VIP4}\n  ports:\n  \
                 - {{name: plain, port: {PLAIN_PORT}, targetPort: {target}}}\n  \
                 - {{name: https, port: {TLS_PORT}, targetPort: {target}}}\n---\n\
                 apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
                 metadata: {{name: web-1, namespace: default, labels: {{kubernetes.io/service-name: web}}}}\n\
                 addressType: IPv4\nports: [{{name: plain, port: {target}}}, {{name: https, port: {target}}}]\n\
                 endpoints:\n- addresses: [127.0.0.1]\n  nodeName: node-a\n  \
                 conditions: {{ready: true, serving: true}}\n",
                target = backend.port()
            ),
        )
        .expect("write manifests");
        Lab {
            runtime,
            dir,
            tls,
            ns,
        }
    }

    fn handover_socket(&self) -> PathBuf {
        self.dir.path().join("run").join("handover.sock")
    }

    /// Starts a speaker in the namespace with `mode`, the admin server on [`ADMIN`].
    fn speaker(&self, name: &str, mode: &str) -> Process {
        self.speaker_with(name, mode, &self.handover_socket())
    }

    fn speaker_with(&self, name: &str, mode: &str, handover: &Path) -> Process {
        let manifests = self.dir.path().join("manifests").display().to_string();
        let handover = handover.display().to_string();
        let args = [
            "--node-name",
            "node-a",
            "--standalone",
            &manifests,
            "--shutdown-mode",
            mode,
            "--proxy-grace-period",
            "60s",
            "--handover-socket",
            &handover,
            "--admin-addr",
            ADMIN,
            "--log-format",
            "json",
        ];
        // `Process::start` appends `--admin-addr 127.0.0.1:0 --log-format json`; both
        // speakers must share one admin port, so bash drops those four arguments.
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns.name, "bash", "-c"])
            .arg(r#"exec "${@:1:$#-4}""#)
            .arg("speaker")
            .arg(BIN)
            .args(args)
            .env("RUST_LOG", "info,herald_speaker=debug");
        Process::start(name, command)
    }

    /// `/status` of whichever speaker answers on the admin port.
    fn status(&self) -> Option<serde_json::Value> {
        let admin: SocketAddr = ADMIN.parse().expect("admin address");
        let (code, body) = self.runtime.block_on(async move {
            tokio::time::timeout(REQUEST_TIMEOUT, http_get(admin, "/status"))
                .await
                .unwrap_or((0, String::new()))
        });
        (code == 200).then(|| serde_json::from_str(&body).expect("/status is JSON"))
    }

    /// Waits until both ports answer through the proxy.
    fn wait_serving(&self) {
        wait_until(
            WAIT,
            "the proxy to answer on both ports",
            || {
                let tls = self.tls.clone();
                self.runtime
                    .block_on(async move {
                        request(PLAIN_PORT, None, 0).await?;
                        request(TLS_PORT, Some(tls), 0).await
                    })
                    .ok()
            },
            || format!("{:?}", self.status()),
        );
    }

    /// Whether the Service address has Herald's local route (proto 72).
    fn address_local(&self) -> bool {
        self.ns
            .ip(&["route", "show", "table", "local", "proto", "72"])
            .contains(VIP4)
    }

    /// The pids of the processes listening on the admin port.
    fn admin_listeners(&self) -> String {
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.ns.name,
                "ss",
                "-Hltnp",
                "sport",
                "=",
                ":7472",
            ],
        )
    }
}

/// A self-signed certificate for [`SERVER_NAME`]: the HAProxy bundle's path, and a client
/// that trusts it.
fn certificate(dir: &Path) -> (PathBuf, TlsConnector) {
    let key = dir.join("web.key");
    let crt = dir.join("web.crt");
    self_signed(
        &crt,
        &key,
        SERVER_NAME,
        None,
        &["-addext", "basicConstraints=critical,CA:FALSE"],
    );
    let bundle = dir.join("web.pem");
    let mut pem = std::fs::read(&crt).expect("read the certificate");
    pem.extend(std::fs::read(&key).expect("read the key"));
    std::fs::write(&bundle, pem).expect("write the bundle");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&crt).expect("parse the certificate"))
        .expect("trust the certificate");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    (bundle, TlsConnector::from(Arc::new(config)))
}

/// An echo backend on 127.0.0.1 in the namespace (run on its runtime).
async fn echo_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    address
}

fn service(port: u16) -> SocketAddr {
    SocketAddr::new(VIP4.parse().expect("address"), port)
}

/// One request: connect (and a TLS handshake), a line out, its echo back, close.
async fn request(port: u16, tls: Option<TlsConnector>, n: u64) -> Result<(), String> {
    let work = async {
        let tcp = TcpStream::connect(service(port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let line = format!("request {n}\n");
        match tls {
            None => exchange(tcp, line.as_bytes()).await,
            Some(tls) => {
                let name = ServerName::try_from(SERVER_NAME).expect("server name");
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                exchange(stream, line.as_bytes()).await
            }
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, work)
        .await
        .map_err(|_| "timed out".to_owned())?
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    line: &[u8],
) -> Result<(), String> {
    echo(&mut stream, line).await?;
    stream.shutdown().await.map_err(|e| format!("close: {e}"))
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    line: &[u8],
) -> Result<(), String> {
    stream
        .write_all(line)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = vec![0u8; line.len()];
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if answer != line {
        return Err(format!("echo {answer:?} for {line:?}"));
    }
    Ok(())
}

/// Runs `future` on the namespace's runtime; its output comes on the receiver.
fn start<T, F>(runtime: &NsRuntime, future: F) -> Receiver<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let (sender, receiver) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = sender.send(future.await);
    });
    receiver
}

/// The steady client's results: when each request ended, and how.
type Results = Arc<Mutex<Vec<(Instant, u16, Result<(), String>)>>>;

/// A new connection every 10 ms on `port` until `stop`, each recorded in `results`.
async fn steady(port: u16, tls: Option<TlsConnector>, stop: CancellationToken, results: Results) {
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    let mut requests = tokio::task::JoinSet::new();
    for n in 1.. {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let (tls, results) = (tls.clone(), results.clone());
        requests.spawn(async move {
            let outcome = request(port, tls, n).await;
            results
                .lock()
                .expect("results")
                .push((Instant::now(), port, outcome));
        });
    }
    while requests.join_next().await.is_some() {}
}

/// A long connection: a line and its echo every 50 ms until `stop`, then a clean close.
/// Returns the times of its exchanges.
async fn long(
    port: u16,
    tls: Option<TlsConnector>,
    stop: CancellationToken,
) -> Result<Vec<Instant>, String> {
    let tcp = TcpStream::connect(service(port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut stream: Box<dyn Stream> = match tls {
        None => Box::new(tcp),
        Some(tls) => {
            let name = ServerName::try_from(SERVER_NAME).expect("server name");
            Box::new(
                tls.connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?,
            )
        }
    };
    let mut exchanged = Vec::new();
    loop {
        let line = format!("exchange {}\n", exchanged.len());
        tokio::time::timeout(REQUEST_TIMEOUT, echo(&mut stream, line.as_bytes()))
            .await
            .map_err(|_| format!("exchange {} timed out", exchanged.len()))??;
        exchanged.push(Instant::now());
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    stream.shutdown().await.map_err(|e| format!("close: {e}"))?;
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .await
        .map_err(|e| format!("read to the end: {e}"))?;
    Ok(exchanged)
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// The steady clients on both ports, started on the namespace's runtime.
struct Client {
    stop: CancellationToken,
    results: Results,
    tasks: Vec<Receiver<()>>,
}

impl Client {
    fn start(lab: &Lab) -> Client {
        let stop = CancellationToken::new();
        let results: Results = Arc::default();
        let tasks = [(PLAIN_PORT, None), (TLS_PORT, Some(lab.tls.clone()))]
            .into_iter()
            .map(|(port, tls)| {
                let (stop, results) = (stop.clone(), results.clone());
                start(&lab.runtime, steady(port, tls, stop, results))
            })
            .collect();
        Client {
            stop,
            results,
            tasks,
        }
    }

    /// Stops and returns every result.
    fn finish(self) -> Vec<(Instant, u16, Result<(), String>)> {
        self.stop.cancel();
        for task in self.tasks {
            task.recv_timeout(WAIT).expect("the steady client stops");
        }
        std::mem::take(&mut *self.results.lock().expect("results"))
    }

    fn succeeded_since(&self, since: Instant, port: u16) -> usize {
        self.results
            .lock()
            .expect("results")
            .iter()
            .filter(|(at, p, outcome)| *at > since && *p == port && outcome.is_ok())
            .count()
    }
}

/// Samples whether the Service address is local, every 10 ms, on a thread of its own.
struct RouteWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u32, u32)>,
}

impl RouteWatch {
    fn start(ns: &str) -> RouteWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let ns = ns.to_owned();
        let thread = std::thread::spawn(move || {
            let (mut samples, mut missing) = (0, 0);
            while !flag.load(Ordering::Relaxed) {
                let routes = run(
                    "ip",
                    &["-n", &ns, "route", "show", "table", "local", "proto", "72"],
                );
                samples += 1;
                if !routes.contains(VIP4) {
                    missing += 1;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (samples, missing)
        });
        RouteWatch { stop, thread }
    }

    /// (samples, samples without the route).
    fn finish(self) -> (u32, u32) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("route watch")
    }
}

fn wait_log(process: &Process, message: &str) {
    wait_until(
        WAIT,
        &format!("the log line {message:?}"),
        || process.log().contains(message).then_some(()),
        || process.log(),
    );
}

fn failures(results: &[(Instant, u16, Result<(), String>)]) -> Vec<String> {
    results
        .iter()
        .filter_map(|(_, port, outcome)| {
            outcome
                .as_ref()
                .err()
                .map(|error| format!("port {port}: {error}"))
        })
        .collect()
}

/// The value of `field` in the first JSON log line of `process` with `message`.
fn log_field(process: &Process, message: &str, field: &str) -> Option<serde_json::Value> {
    process.log().lines().find_map(|line| {
        let json: serde_json::Value = serde_json::from_str(line).ok()?;
        (json["fields"]["message"] == message).then(|| json["fields"][field].clone())
    })
}

/// Which comes first at a restart: the old speaker's SIGTERM, or the new speaker (a
/// DaemonSet rolling with `maxSurge`: the new pod runs before the old one is stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    SigtermFirst,
    NewFirst,
}

#[test]
fn a_restart_hands_the_listening_sockets_over_and_no_connection_fails() {
    restart_loses_nothing("handover-restart", Order::SigtermFirst);
}

#[test]
fn a_new_speaker_started_before_the_old_one_stops_takes_over_without_failures() {
    restart_loses_nothing("handover-surge", Order::NewFirst);
}

fn restart_loses_nothing(test: &str, order: Order) {
    let lab = Lab::new(test);
    let mut old = lab.speaker("old", "restart");
    lab.wait_serving();
    assert!(lab.address_local(), "the speaker made the address local");
    let routes = RouteWatch::start(&lab.ns.name);
    let client = Client::start(&lab);
    let stop_long = CancellationToken::new();
    let long_connections: Vec<Receiver<Result<Vec<Instant>, String>>> = [
        (PLAIN_PORT, None),
        (PLAIN_PORT, None),
        (TLS_PORT, Some(lab.tls.clone())),
        (TLS_PORT, Some(lab.tls.clone())),
    ]
    .into_iter()
    .map(|(port, tls)| {
        let stop = stop_long.clone();
        start(&lab.runtime, long(port, tls, stop))
    })
    .collect();
    let started = Instant::now();
    wait_until(
        WAIT,
        "the steady client to get through on both ports",
        || {
            (client.succeeded_since(started, PLAIN_PORT) >= 10
                && client.succeeded_since(started, TLS_PORT) >= 10)
                .then_some(())
        },
        String::new,
    );

    // SIGTERM to the old speaker (on a thread: terminate waits for the exit), and the new
    // one started while the old one still runs.
    let sigterm_old = move || {
        let sigterm = Instant::now();
        // The old speaker finishes its long connections first (its grace period: 60 s).
        let stopping = std::thread::spawn(move || {
            let status = old.terminate_within(Duration::from_secs(90));
            (status, Instant::now(), old)
        });
        (sigterm, stopping)
    };
    let (new, ready, sigterm, stopping) = match order {
        Order::SigtermFirst => {
            let (sigterm, stopping) = sigterm_old();
            let new = lab.speaker("new", "restart");
            wait_log(&new, "accepting on the previous speaker's sockets");
            (new, Instant::now(), sigterm, stopping)
        }
        Order::NewFirst => {
            let new = lab.speaker("new", "restart");
            wait_log(&new, "accepting on the previous speaker's sockets");
            let ready = Instant::now();
            let (sigterm, stopping) = sigterm_old();
            (new, ready, sigterm, stopping)
        }
    };
    assert_eq!(
        log_field(
            &new,
            "took the listening sockets of the previous speaker",
            "sockets"
        ),
        Some(serde_json::json!(2)),
        "the new speaker took both listening sockets:\n{}",
        new.log()
    );
    if order == Order::SigtermFirst {
        println!(
            "the new speaker was ready {} ms after SIGTERM",
            ready.duration_since(sigterm).as_millis()
        );
    }

    // The new speaker serves both ports; the old one's admin listener goes away while the
    // new one answers on the same port.
    wait_until(
        WAIT,
        "the new speaker to serve both ports",
        || {
            (client.succeeded_since(ready, PLAIN_PORT) >= 20
                && client.succeeded_since(ready, TLS_PORT) >= 20)
                .then_some(())
        },
        String::new,
    );
    wait_until(
        WAIT,
        "only the new speaker to listen on the admin port",
        || {
            let listening = lab.admin_listeners();
            let new_pid = format!("pid={},", new.pid());
            (listening.lines().count() == 1 && listening.contains(&new_pid)).then_some(())
        },
        || lab.admin_listeners(),
    );
    let status = lab.status().expect("the new speaker answers /status");
    assert_eq!(
        status["proxy"]["handover"],
        serde_json::json!({
            "serving": lab.handover_socket(),
            "inherited": 2,
            "adopted": 2,
            "predecessor_stopped": true,
        }),
        "{status}"
    );
    let listeners = status["proxy"]["listeners"].as_array().expect("listeners");
    assert_eq!(listeners.len(), 2, "{status}");
    assert!(
        listeners.iter().all(|l| l["total"].as_u64() > Some(0)),
        "the new speaker accepted on both ports: {status}"
    );
    assert!(
        !stopping.is_finished(),
        "the old speaker waits for its long connections"
    );

    // The long connections (all on the old speaker) finish now; the old speaker exits.
    stop_long.cancel();
    for connection in long_connections {
        let exchanged = connection
            .recv_timeout(WAIT)
            .expect("the long connection ends")
            .unwrap_or_else(|error| panic!("a long connection failed: {error}\n{}", new.log()));
        let after = exchanged.iter().filter(|at| **at > ready).count();
        assert!(
            after > 0,
            "the long connection exchanged data after the switch"
        );
    }
    let (exit, exited, old) = stopping.join().expect("the stopping thread");
    assert!(exit.success(), "old speaker exit {exit:?}:\n{}", old.log());
    println!(
        "the old speaker exited {} ms after SIGTERM",
        exited.duration_since(sigterm).as_millis()
    );
    wait_until(
        WAIT,
        "the new speaker to serve after the old one exited",
        || {
            (client.succeeded_since(exited, PLAIN_PORT) >= 20
                && client.succeeded_since(exited, TLS_PORT) >= 20)
                .then_some(())
        },
        String::new,
    );
    let results = client.finish();
    let (samples, missing) = routes.finish();
    let failed = failures(&results);
    println!(
        "steady client: {} connections, {} failed; route samples {samples}, without the route {missing}",
        results.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "failed connections: {failed:?}\n--- new ---\n{}\n--- old ---\n{}",
        new.log(),
        old.log()
    );
    assert!(samples > 10, "the route was sampled during the switch");
    assert_eq!(missing, 0, "the address stayed local throughout");
    assert!(lab.address_local());
    assert!(
        lab.handover_socket().exists(),
        "the handover socket is the new speaker's"
    );
}

#[test]
fn without_the_handover_a_withdrawing_restart_refuses_connections() {
    let lab = Lab::new("handover-withdraw");
    let mut old = lab.speaker("old", "withdraw");
    lab.wait_serving();
    let client = Client::start(&lab);
    let started = Instant::now();
    wait_until(
        WAIT,
        "the steady client to get through",
        || (client.succeeded_since(started, PLAIN_PORT) >= 10).then_some(()),
        String::new,
    );
    // The old speaker closes its listeners and exits; only then does the new one start.
    let exit = old.terminate();
    assert!(exit.success(), "old speaker exit {exit:?}:\n{}", old.log());
    let new = lab.speaker("new", "withdraw");
    let restarted = Instant::now();
    wait_until(
        WAIT,
        "the new speaker to serve",
        || (client.succeeded_since(restarted, PLAIN_PORT) >= 10).then_some(()),
        || new.log(),
    );
    let results = client.finish();
    let failed = failures(&results);
    println!(
        "steady client: {} connections, {} failed, e.g. {:?}",
        results.len(),
        failed.len(),
        failed.first()
    );
    assert!(
        !failed.is_empty(),
        "a restart without the handover loses connections"
    );
}

#[test]
fn a_handover_socket_that_never_answers_does_not_keep_a_new_speaker_from_serving() {
    let lab = Lab::new("handover-silent");
    let path = lab.handover_socket();
    std::fs::create_dir_all(path.parent().expect("parent")).expect("socket dir");
    // Listening, never accepting: connecting works, nothing ever answers.
    let silent = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let silent_inode = std::fs::metadata(&path).expect("socket file").ino();
    let start = Instant::now();
    let speaker = lab.speaker_with("speaker", "restart", &path);
    wait_log(
        &speaker,
        "cannot take the previous speaker's listening sockets",
    );
    lab.wait_serving();
    println!("serving {} ms after start", start.elapsed().as_millis());
    wait_log(&speaker, "serving the handover socket");
    let inode = std::fs::metadata(&path).expect("socket file").ino();
    assert_ne!(inode, silent_inode, "the new speaker took the path over");
    drop(silent);
    // The path answers now: the new speaker offers its two listening sockets.
    let offered = lab.runtime.block_on(async move {
        let identity = herald_speaker::proxy::handover::identity("node-a");
        herald_speaker::proxy::handover::receive(&path, &identity, Duration::from_secs(5))
            .await
            .sockets
            .len()
    });
    assert_eq!(offered, 2);
}
