//! TLS termination against real clients: `openssl s_client` and `curl` talk to a small
//! server on 127.0.0.1 and ::1 that terminates TLS with `TlsTerminator` and echoes lines
//! (or answers an HTTP GET). Certificates come from a test CA made with the `openssl` CLI.
//!
//! Shown: TLS 1.2 and 1.3 over IPv4 and IPv6; SNI picks between a pool bundle and a
//! Secret, and the pool's certificate answers clients without SNI; bad bundles (key of
//! another certificate, garbage, no key) are refused while the last good certificate stays
//! in use; a certificate rotated under a live connection leaves that connection working
//! while new ones get the new certificate; sessions resume (TLS 1.2 and 1.3); a client that
//! never sends its ClientHello is cut at the handshake timeout.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use herald_speaker::proxy::select::CertificateSource;
use herald_speaker::proxy::serving::CertificateState;
use herald_speaker::proxy::tls::{
    BundleError, CertificateStore, HandshakeStats, TlsSettings, TlsTerminator,
};
use herald_testsupport::netns::{require_program, run};
use herald_testsupport::pki::{new_key_args, self_signed};
use herald_testsupport::wait::eventually;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

/// How long one client command may take (a safety net, not a timing assertion).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HTTP_BODY: &str = "hello from the TLS listener";

fn require_tools() {
    require_program("openssl", "openssl");
    require_program("curl", "curl");
}

/// A test CA and the certificates it issues, in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

/// One issued certificate.
struct Issued {
    crt: PathBuf,
    key: PathBuf,
}

impl Issued {
    /// The HAProxy bundle: certificate, then key.
    fn bundle(&self) -> Vec<u8> {
        [read(&self.crt), read(&self.key)].concat()
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Self { dir };
        self_signed(
            Path::new(&pki.path("ca.crt")),
            Path::new(&pki.path("ca.key")),
            "herald-proxy-test-ca",
            None,
            &[],
        );
        pki
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn ca(&self) -> String {
        self.path("ca.crt")
    }

    /// A certificate for `names` (the first is the CN) with serial `serial` (hex), signed
    /// by the CA, with a fresh P-256 key.
    fn issue(&self, file: &str, names: &[&str], serial: &str) -> Issued {
        let key = self.path(&format!("{file}.key"));
        let csr = self.path(&format!("{file}.csr"));
        let crt = self.path(&format!("{file}.crt"));
        let ext = self.path(&format!("{file}.ext"));
        let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        std::fs::write(&ext, format!("subjectAltName={}\n", san.join(","))).expect("ext file");
        let subject = format!("/CN={}", names[0]);
        let mut args = vec!["req", "-new"];
        args.extend(new_key_args());
        args.extend(["-subj", &subject, "-keyout", &key, "-out", &csr]);
        run("openssl", &args);
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &self.ca(),
                "-CAkey",
                &self.path("ca.key"),
                "-set_serial",
                &format!("0x{serial}"),
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &crt,
            ],
        );
        Issued {
            crt: crt.into(),
            key: key.into(),
        }
    }
}

/// A TLS listener on 127.0.0.1 and ::1: echoes lines, answers `GET` with [`HTTP_BODY`].
struct Server {
    terminator: Arc<TlsTerminator>,
    v4: SocketAddr,
    v6: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Server {
    async fn start(store: Arc<CertificateStore>, handshake_timeout: Duration) -> Self {
        Self::start_with(store, handshake_timeout, &TlsSettings::default()).await
    }

    async fn start_with(
        store: Arc<CertificateStore>,
        handshake_timeout: Duration,
        settings: &TlsSettings,
    ) -> Self {
        let terminator = Arc::new(TlsTerminator::new(store, settings).expect("TLS config"));
        let v4 = TcpListener::bind("127.0.0.1:0").await.expect("bind v4");
        let v6 = TcpListener::bind((Ipv6Addr::LOCALHOST, 0))
            .await
            .expect("bind v6");
        let (v4_addr, v6_addr) = (
            v4.local_addr().expect("v4 addr"),
            v6.local_addr().expect("v6 addr"),
        );
        let tasks = [v4, v6]
            .into_iter()
            .map(|listener| tokio::spawn(serve(listener, terminator.clone(), handshake_timeout)))
            .collect();
        Self {
            terminator,
            v4: v4_addr,
            v6: v6_addr,
            tasks,
        }
    }

    fn stats(&self) -> HandshakeStats {
        self.terminator.stats()
    }
}

async fn serve(listener: TcpListener, terminator: Arc<TlsTerminator>, timeout: Duration) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let terminator = terminator.clone();
        tokio::spawn(async move {
            let Ok(tls) = terminator.accept(tcp, timeout).await else {
                return;
            };
            let _ = echo_or_http(tls).await;
        });
    }
}

async fn echo_or_http<S>(stream: S) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if line.starts_with("GET ") {
            // the request's headers, up to the empty line
            while !matches!(line.as_str(), "\r\n" | "\n" | "") {
                line.clear();
                stream.read_line(&mut line).await?;
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{HTTP_BODY}",
                HTTP_BODY.len()
            );
            stream.get_mut().write_all(response.as_bytes()).await?;
            stream.get_mut().shutdown().await?;
            return Ok(());
        }
        stream.get_mut().write_all(line.as_bytes()).await?;
        stream.get_mut().flush().await?;
    }
}

/// `s_client` options: where, which name, which version.
#[derive(Clone, Copy)]
struct Hello<'a> {
    addr: SocketAddr,
    server_name: Option<&'a str>,
    version: Version,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    Tls12,
    Tls13,
}

impl Version {
    fn flag(self) -> &'static str {
        match self {
            Self::Tls12 => "-tls1_2",
            Self::Tls13 => "-tls1_3",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Tls12 => "TLSv1.2",
            Self::Tls13 => "TLSv1.3",
        }
    }
}

fn s_client(pki: &Pki, hello: Hello<'_>, extra: &[&str]) -> Command {
    let mut command = Command::new("openssl");
    command
        .args([
            "s_client",
            "-connect",
            &hello.addr.to_string(),
            hello.version.flag(),
        ])
        .args(["-CAfile", &pki.ca(), "-verify_return_error"])
        .args(extra)
        .kill_on_drop(true);
    match hello.server_name {
        Some(name) => command.args(["-servername", name, "-verify_hostname", name]),
        None => command.arg("-noservername"),
    };
    command
}

/// What one `s_client` run saw.
#[derive(Debug)]
struct Seen {
    output: String,
    /// `serial=...` of the server's certificate.
    serial: String,
    /// `subject=...` of the server's certificate.
    subject: String,
}

impl Seen {
    fn session_line(&self) -> &str {
        self.output
            .lines()
            .find(|l| l.starts_with("New, ") || l.starts_with("Reused, "))
            .unwrap_or_else(|| panic!("no session line in\n{}", self.output))
    }
}

/// The serial and subject of the first certificate in `s_client_output`.
async fn certificate_of(s_client_output: &str) -> (String, String) {
    let mut x509 = Command::new("openssl")
        .args([
            "x509", "-noout", "-serial", "-subject", "-nameopt", "RFC2253",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start openssl x509");
    let mut stdin = x509.stdin.take().expect("stdin");
    stdin
        .write_all(s_client_output.as_bytes())
        .await
        .expect("feed openssl x509");
    drop(stdin);
    let output = x509.wait_with_output().await.expect("openssl x509");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "no certificate in the s_client output:\n{s_client_output}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_owned()
    };
    (field("serial="), field("subject="))
}

/// One handshake with stdin closed: `s_client` connects, verifies and leaves.
async fn handshake(pki: &Pki, hello: Hello<'_>, extra: &[&str]) -> Seen {
    let output = tokio::time::timeout(
        CLIENT_TIMEOUT,
        s_client(pki, hello, extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output(),
    )
    .await
    .expect("s_client finishes")
    .expect("run s_client");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "s_client failed:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("Verify return code: 0 (ok)"),
        "not verified:\n{text}"
    );
    let (serial, subject) = certificate_of(&text).await;
    Seen {
        output: text,
        serial,
        subject,
    }
}

/// An `s_client` holding a connection: lines go in, their echo comes back.
struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Everything read so far.
    output: String,
}

impl Session {
    async fn open(pki: &Pki, hello: Hello<'_>, extra: &[&str]) -> Self {
        let mut child = s_client(pki, hello, extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s_client");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self {
            child,
            stdin,
            stdout,
            output: String::new(),
        }
    }

    /// Sends `text` as a line and waits for its echo.
    async fn echo(&mut self, text: &str) {
        self.stdin
            .write_all(format!("{text}\n").as_bytes())
            .await
            .expect("write to s_client");
        self.stdin.flush().await.expect("flush");
        tokio::time::timeout(CLIENT_TIMEOUT, async {
            let mut line = String::new();
            loop {
                line.clear();
                let read = self
                    .stdout
                    .read_line(&mut line)
                    .await
                    .expect("read s_client");
                assert!(
                    read > 0,
                    "s_client ended before the echo of {text}:\n{}",
                    self.output
                );
                self.output.push_str(&line);
                if line.trim_end() == text {
                    return;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no echo of {text}; s_client said:\n{}", self.output));
    }

    /// Closes stdin and waits for `s_client` to leave; returns all it printed.
    async fn close(mut self) -> String {
        drop(self.stdin);
        let mut rest = String::new();
        tokio::time::timeout(CLIENT_TIMEOUT, self.stdout.read_to_string(&mut rest))
            .await
            .expect("s_client leaves")
            .expect("read s_client");
        self.output.push_str(&rest);
        let _ = self.child.wait().await;
        self.output
    }
}

fn secret(name: &str) -> CertificateSource {
    CertificateSource::Secret {
        namespace: "shop".into(),
        name: name.into(),
    }
}

/// A store with the pool bundle (a.test, serial A1) as its first source.
fn pool_store(pki: &Pki) -> (Arc<CertificateStore>, CertificateSource) {
    let pool = CertificateSource::Bundle(pki.dir.path().join("pool.pem"));
    let issued = pki.issue("a", &["a.test", "*.a.test"], "A1");
    std::fs::write(pki.dir.path().join("pool.pem"), issued.bundle()).expect("write bundle");
    let store = Arc::new(CertificateStore::new([pool.clone()]));
    let reloads = store.poll_files();
    assert!(
        reloads.iter().all(|r| r.outcome.is_ok()),
        "pool bundle: {reloads:?}"
    );
    (store, pool)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_1_2_and_1_3_handshakes_over_ipv4_and_ipv6() {
    require_tools();
    let pki = Pki::new();
    let (store, _) = pool_store(&pki);
    let server = Server::start(store, HANDSHAKE_TIMEOUT).await;
    for addr in [server.v4, server.v6] {
        for version in [Version::Tls12, Version::Tls13] {
            let hello = Hello {
                addr,
                server_name: Some("a.test"),
                version,
            };
            let seen = handshake(&pki, hello, &[]).await;
            assert!(
                seen.session_line()
                    .starts_with(&format!("New, {}", version.name())),
                "{addr} {version:?}: {}",
                seen.session_line()
            );
            assert_eq!(seen.serial, "A1");

            let curl_version = match version {
                Version::Tls12 => ["--tlsv1.2", "--tls-max", "1.2"],
                Version::Tls13 => ["--tlsv1.3", "--tls-max", "1.3"],
            };
            let target = match addr {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            };
            let body = curl(&[
                "--cacert",
                &pki.ca(),
                "--resolve",
                &format!("a.test:{}:{target}", addr.port()),
                curl_version[0],
                curl_version[1],
                curl_version[2],
                &format!("https://a.test:{}/", addr.port()),
            ])
            .await;
            assert_eq!(body, HTTP_BODY, "{addr} {version:?}");
        }
    }
    let stats = eventually("the server counts 8 handshakes", || {
        let stats = server.stats();
        async move { (stats.completed == 8).then_some(stats) }
    })
    .await;
    assert_eq!(stats.failures(), 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_order_picks_aes_128_gcm_unless_the_client_lacks_it() {
    require_tools();
    let pki = Pki::new();
    let (store, _) = pool_store(&pki);
    let server = Server::start(store, HANDSHAKE_TIMEOUT).await;
    let hello = Hello {
        addr: server.v4,
        server_name: Some("a.test"),
        version: Version::Tls13,
    };
    // (what the client offers, in its order; what the server picks)
    let cases = [
        (
            "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
            "TLS_AES_128_GCM_SHA256",
        ),
        (
            "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384",
            "TLS_AES_256_GCM_SHA384",
        ),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
    ];
    for (offered, picked) in cases {
        let seen = handshake(&pki, hello, &["-ciphersuites", offered]).await;
        assert!(
            seen.session_line()
                .ends_with(&format!("Cipher is {picked}")),
            "offered {offered}: {}",
            seen.session_line()
        );
    }
}

async fn curl(args: &[&str]) -> String {
    let output = tokio::time::timeout(
        CLIENT_TIMEOUT,
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "20"])
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("curl finishes")
    .expect("run curl");
    assert!(
        output.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_picks_the_certificate_and_the_pool_one_is_the_default() {
    require_tools();
    let pki = Pki::new();
    let (store, _) = pool_store(&pki);
    let b = pki.issue("b", &["b.test"], "B1");
    store
        .replace_secret(&secret("b"), &read(&b.crt), &read(&b.key))
        .expect("secret b");
    let server = Server::start(store, HANDSHAKE_TIMEOUT).await;

    let cases: [(Option<&str>, &str, &str); 5] = [
        (Some("a.test"), "A1", "CN=a.test"),
        (Some("b.test"), "B1", "CN=b.test"),
        (Some("www.a.test"), "A1", "CN=a.test"),
        (Some("unknown.test"), "A1", "CN=a.test"),
        (None, "A1", "CN=a.test"),
    ];
    for (server_name, serial, subject) in cases {
        // an unknown name gets the default certificate, which does not verify for it
        let verify = server_name != Some("unknown.test");
        let hello = Hello {
            addr: server.v4,
            server_name: server_name.filter(|_| verify),
            version: Version::Tls13,
        };
        let seen = if verify {
            handshake(&pki, hello, &[]).await
        } else {
            unverified_handshake(&pki, server.v4, "unknown.test").await
        };
        assert_eq!(seen.serial, serial, "{server_name:?}");
        assert_eq!(seen.subject, subject, "{server_name:?}");
    }
    for (name, port) in [("a.test", server.v6.port()), ("b.test", server.v6.port())] {
        let body = curl(&[
            "--cacert",
            &pki.ca(),
            "--resolve",
            &format!("{name}:{port}:[::1]"),
            &format!("https://{name}:{port}/"),
        ])
        .await;
        assert_eq!(body, HTTP_BODY, "{name}");
    }
}

/// A handshake naming `server_name` without verifying the certificate.
async fn unverified_handshake(pki: &Pki, addr: SocketAddr, server_name: &str) -> Seen {
    let output = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            server_name,
        ])
        .args(["-CAfile", &pki.ca()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(CLIENT_TIMEOUT, output)
        .await
        .expect("s_client finishes")
        .expect("run s_client");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (serial, subject) = certificate_of(&text).await;
    Seen {
        output: text,
        serial,
        subject,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bundles_are_refused_and_the_old_certificate_stays() {
    require_tools();
    let pki = Pki::new();
    let (store, pool) = pool_store(&pki);
    let server = Server::start(store.clone(), HANDSHAKE_TIMEOUT).await;
    let hello = Hello {
        addr: server.v4,
        server_name: Some("a.test"),
        version: Version::Tls13,
    };
    assert_eq!(handshake(&pki, hello, &[]).await.serial, "A1");

    let other = pki.issue("other", &["a.test"], "C1");
    let good = pki.issue("good", &["a.test"], "A2");
    let pool_file = pki.dir.path().join("pool.pem");
    let bad: [(&str, Vec<u8>); 3] = [
        ("key_mismatch", [read(&good.crt), read(&other.key)].concat()),
        ("no_certificate", b"this is not a bundle\n".to_vec()),
        ("no_key", read(&good.crt)),
    ];
    for (label, bytes) in bad {
        std::fs::write(&pool_file, &bytes).expect("write bad bundle");
        let reload = store.reload_file(&pool).expect("a bundle source");
        let error = reload.outcome.expect_err("refused");
        assert_eq!(error.label(), label, "{error}");
        let status = &store.status()[0];
        assert_eq!(
            status.last_failure.as_ref().map(|f| f.label),
            Some(label),
            "{status:?}"
        );
        assert_eq!(store.certificate_state(), CertificateState::Loaded);
        assert_eq!(
            handshake(&pki, hello, &[]).await.serial,
            "A1",
            "after {label}"
        );
    }
    // the same through a Secret: refused, the pool certificate still answers
    let refused = store.replace_secret(&pool, &read(&good.crt), &read(&other.key));
    assert!(matches!(refused, Err(BundleError::KeyMismatch { .. })));
    assert_eq!(handshake(&pki, hello, &[]).await.serial, "A1");

    std::fs::write(&pool_file, good.bundle()).expect("write good bundle");
    let reloads = store.poll_files();
    assert!(reloads.iter().all(|r| r.outcome.is_ok()), "{reloads:?}");
    assert_eq!(handshake(&pki, hello, &[]).await.serial, "A2");
    assert_eq!(store.status()[0].last_failure, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_live_connections_and_new_ones_get_the_new_certificate() {
    require_tools();
    let pki = Pki::new();
    let (store, _) = pool_store(&pki);
    let server = Server::start(store.clone(), HANDSHAKE_TIMEOUT).await;
    for version in [Version::Tls12, Version::Tls13] {
        let hello = Hello {
            addr: server.v6,
            server_name: Some("a.test"),
            version,
        };
        let before = handshake(&pki, hello, &[]).await.serial;
        let mut live = Session::open(&pki, hello, &[]).await;
        live.echo("before rotation").await;

        let serial = match version {
            Version::Tls12 => "D012",
            Version::Tls13 => "D013",
        };
        let next = pki.issue(&format!("next-{serial}"), &["a.test"], serial);
        std::fs::write(pki.dir.path().join("pool.pem"), next.bundle()).expect("rotate");
        let reloads = store.poll_files();
        assert_eq!(reloads.len(), 1, "the changed file is read");
        assert!(reloads[0].outcome.is_ok(), "{reloads:?}");

        live.echo("after rotation").await;
        assert_eq!(handshake(&pki, hello, &[]).await.serial, serial);
        live.echo("still there").await;
        let output = live.close().await;
        let (held_serial, _) = certificate_of(&output).await;
        assert_eq!(
            held_serial, before,
            "the live connection kept its certificate"
        );
        assert_ne!(before, serial);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resume_with_tls_1_2_and_1_3() {
    require_tools();
    let pki = Pki::new();
    let (store, _) = pool_store(&pki);
    let server = Server::start(store, HANDSHAKE_TIMEOUT).await;
    for version in [Version::Tls12, Version::Tls13] {
        let session_file = pki.path(&format!("session-{}.pem", version.name()));
        let hello = Hello {
            addr: server.v4,
            server_name: Some("a.test"),
            version,
        };
        // a first connection that lives until the tickets came (an echo after them)
        let mut first = Session::open(&pki, hello, &["-sess_out", &session_file]).await;
        first.echo("first").await;
        let output = first.close().await;
        assert!(
            output.contains(&format!("New, {}", version.name())),
            "{output}"
        );
        let ticket = match version {
            Version::Tls12 => "TLS session ticket:",
            Version::Tls13 => "Post-Handshake New Session Ticket arrived",
        };
        assert!(output.contains(ticket), "{version:?}: no ticket:\n{output}");
        let resumed_before = server.stats().resumed;

        let mut second = Session::open(&pki, hello, &["-sess_in", &session_file]).await;
        second.echo("second").await;
        let output = second.close().await;
        assert!(
            output.contains(&format!("Reused, {}", version.name())),
            "{version:?} not resumed:\n{output}"
        );
        assert_eq!(server.stats().resumed, resumed_before + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_1_2_clients_without_tickets_resume_from_the_session_cache() {
    require_tools();
    let pki = Pki::new();
    let (store, _) = pool_store(&pki);
    let server = Server::start(store, HANDSHAKE_TIMEOUT).await;
    let session_file = pki.path("session-id.pem");
    let hello = Hello {
        addr: server.v6,
        server_name: Some("a.test"),
        version: Version::Tls12,
    };
    let first = handshake(&pki, hello, &["-no_ticket", "-sess_out", &session_file]).await;
    assert!(first.session_line().starts_with("New, TLSv1.2"));
    assert!(
        !first.output.contains("TLS session ticket:"),
        "{}",
        first.output
    );
    let second = handshake(&pki, hello, &["-no_ticket", "-sess_in", &session_file]).await;
    assert!(
        second.session_line().starts_with("Reused, TLSv1.2"),
        "{}",
        second.output
    );
    eventually("the server counts the resumption", || {
        let resumed = server.stats().resumed;
        async move { (resumed == 1).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_is_negotiated_only_when_configured() {
    require_tools();
    let pki = Pki::new();
    let (store, _) = pool_store(&pki);
    let plain = Server::start(store.clone(), HANDSHAKE_TIMEOUT).await;
    let configured = Server::start_with(
        store,
        HANDSHAKE_TIMEOUT,
        &TlsSettings {
            alpn: vec![b"http/1.1".to_vec()],
            ..TlsSettings::default()
        },
    )
    .await;
    let hello = |addr| Hello {
        addr,
        server_name: Some("a.test"),
        version: Version::Tls13,
    };
    let offer = ["-alpn", "h2,http/1.1"];
    let seen = handshake(&pki, hello(plain.v4), &offer).await;
    assert!(
        seen.output.contains("No ALPN negotiated"),
        "{}",
        seen.output
    );
    let seen = handshake(&pki, hello(configured.v4), &offer).await;
    assert!(
        seen.output.contains("ALPN protocol: http/1.1"),
        "{}",
        seen.output
    );
    // an offer without a configured protocol is refused (RFC 7301 section 3.2)
    let refused = s_client(&pki, hello(configured.v4), &["-alpn", "h2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let refused = tokio::time::timeout(CLIENT_TIMEOUT, refused)
        .await
        .expect("s_client finishes")
        .expect("run s_client");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no application protocol"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    eventually("the refused handshake is counted", || {
        let failed = configured.stats().failed;
        async move { (failed == 1).then_some(()) }
    })
    .await;
    // curl offers h2 and http/1.1 and gets HTTP/1.1
    let port = configured.v4.port();
    let body = curl(&[
        "--cacert",
        &pki.ca(),
        "--resolve",
        &format!("a.test:{port}:127.0.0.1"),
        &format!("https://a.test:{port}/"),
    ])
    .await;
    assert_eq!(body, HTTP_BODY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_is_closed_at_the_handshake_timeout() {
    require_tools();
    let pki = Pki::new();
    let (store, _) = pool_store(&pki);
    let timeout = Duration::from_millis(300);
    let server = Server::start(store, timeout).await;

    let mut silent = TcpStream::connect(server.v4).await.expect("connect");
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(CLIENT_TIMEOUT, silent.read(&mut buf))
        .await
        .expect("the server closes the silent client");
    // closed without a byte (or reset)
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() >= timeout, "closed before the timeout");
    eventually("the timeout is counted", || {
        let stats = server.stats();
        async move { (stats.timed_out == 1).then_some(()) }
    })
    .await;
    // the listener still serves
    let hello = Hello {
        addr: server.v4,
        server_name: Some("a.test"),
        version: Version::Tls13,
    };
    assert_eq!(handshake(&pki, hello, &[]).await.serial, "A1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_without_any_certificate_fails_handshakes_and_counts_them() {
    require_tools();
    let pki = Pki::new();
    let store = Arc::new(CertificateStore::new([secret("missing")]));
    assert_eq!(store.certificate_state(), CertificateState::Missing);
    let server = Server::start(store, HANDSHAKE_TIMEOUT).await;
    let output = s_client(
        &pki,
        Hello {
            addr: server.v4,
            server_name: Some("a.test"),
            version: Version::Tls13,
        },
        &[],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .output();
    let output = tokio::time::timeout(CLIENT_TIMEOUT, output)
        .await
        .expect("s_client finishes")
        .expect("run s_client");
    assert!(!output.status.success(), "handshake without a certificate");
    eventually("the failure is counted", || {
        let stats = server.stats();
        async move { (stats.failed == 1 && stats.completed == 0).then_some(()) }
    })
    .await;
}
