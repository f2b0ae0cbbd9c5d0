//! The `herald-speaker` binary: `--help`, usage errors and their exit codes, a standalone
//! directory that does not load, and a standalone run that serves `/status` and stops
//! cleanly on SIGTERM. (No BGP peers here: sessions are the lab's tests.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_herald-speaker");

fn speaker(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("NODE_NAME")
        .stdin(Stdio::null())
        .output()
        .expect("run herald-speaker")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_explains_both_modes_and_exits_zero() {
    let output = speaker(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for text in [
        "--standalone <DIR>",
        "--node-name <NAME>",
        "--kubeconfig <FILE>",
        "--bgp-listen <ADDR>",
        "--router-id <IPV4>",
        "[env: NODE_NAME=]",
        "SIGTERM",
    ] {
        assert!(help.contains(text), "{text} missing from --help:\n{help}");
    }
}

#[test]
fn missing_node_name_is_a_usage_error() {
    let output = speaker(&["--standalone", "/tmp"]);
    assert_eq!(output.status.code(), Some(64), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--node-name"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_standalone_directory_that_does_not_exist_is_a_usage_error() {
    let output = speaker(&[
        "--node-name",
        "n1",
        "--standalone",
        "/nonexistent/herald-speaker-test",
    ]);
    assert_eq!(output.status.code(), Some(64), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("/nonexistent/herald-speaker-test: not a directory"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_standalone_directory_with_a_bad_config_fails_listing_every_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("config.yaml"),
        "peers:\n- peer-address: not-an-ip\n  peer-asn: 64501\n  my-asn: 64500\n\
         address-pools:\n- name: default\n  protocol: bgp\n  addresses: [10.0.0.300/24]\n",
    )
    .expect("write config");
    let dir_arg = dir.path().display().to_string();
    let output = speaker(&[
        "--node-name",
        "n1",
        "--standalone",
        &dir_arg,
        "--log-format",
        "text",
        "--admin-addr",
        "127.0.0.1:0",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("peers[0].peer-address"), "{text}");
    assert!(text.contains("address-pools[0].addresses[0]"), "{text}");
}

/// A running speaker, killed on drop.
struct Running {
    child: Option<Child>,
    log: std::path::PathBuf,
}

impl Running {
    fn start(dir: &Path, log_dir: &Path) -> Self {
        let log = log_dir.join("speaker.log");
        let child = Command::new(BIN)
            .args(["--node-name", "node-a", "--standalone"])
            .arg(dir)
            .args(["--admin-addr", "127.0.0.1:0", "--log-format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start herald-speaker");
        Self {
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn admin_addr(&mut self) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.log();
            let found = text.lines().find_map(|line| {
                let json: serde_json::Value = serde_json::from_str(line).ok()?;
                (json["fields"]["message"] == "admin server listening")
                    .then(|| json["fields"]["addr"].as_str()?.parse().ok())?
            });
            if let Some(addr) = found {
                return addr;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("speaker exited ({status}):\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "no admin address logged:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- speaker log ----\n{}", self.log());
        }
    }
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read");
    let code = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

#[test]
fn standalone_run_serves_status_and_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A pool but no peers: nothing is announced, for a reason /status gives.
    std::fs::write(
        dir.path().join("config.yaml"),
        "address-pools:\n- name: default\n  protocol: bgp\n  addresses: [10.99.0.10-10.99.0.20]\n",
    )
    .expect("write config");
    std::fs::write(
        dir.path().join("cluster.yaml"),
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n\
         spec:\n  type: LoadBalancer\n  ports: [{port: 80, protocol: TCP}]\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}\n\
         addressType: IPv4\nendpoints:\n- addresses: [172.31.0.10]\n  nodeName: node-a\n  \
         conditions: {ready: true}\n",
    )
    .expect("write manifests");
    let logs = tempfile::tempdir().expect("log dir");
    let mut running = Running::start(dir.path(), logs.path());
    let admin = running.admin_addr();

    let deadline = Instant::now() + Duration::from_secs(20);
    while get(admin, "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "never ready:\n{}", running.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, body) = get(admin, "/status");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status["node"], "node-a");
    assert_eq!(status["ready"], true);
    assert_eq!(status["peers"], serde_json::json!([]));
    assert_eq!(status["not_announced"][0]["service"], "default/web");
    assert_eq!(status["not_announced"][0]["address"], "10.99.0.10");
    assert_eq!(status["not_announced"][0]["reason"], "no_peer_selects_node");
    let (_, metrics) = get(admin, "/metrics");
    assert!(
        metrics.contains("herald_speaker_not_announced{reason=\"no_peer_selects_node\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("herald_config_stale 0"), "{metrics}");

    // A bad edit: reported, the last good state stays.
    std::fs::write(dir.path().join("config.yaml"), "address-pools: 7\n").expect("write");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = get(admin, "/status");
        let status: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        if status["source_errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
        {
            assert_eq!(status["not_announced"][0]["service"], "default/web");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bad config not reported:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(get(admin, "/metrics").1.contains("herald_config_stale 1"));

    let status = running.terminate();
    assert_eq!(status.code(), Some(0), "{}", running.log());
    assert!(running.log().contains("stopped"), "{}", running.log());
}
