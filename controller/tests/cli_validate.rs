//! `herald-controller validate FILE` and the command line, run as a process.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn herald(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald-controller"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run herald-controller")
}

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(contents.as_bytes()).expect("write");
    file
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const PAYLOAD: &str = "peers:\n- peer-address: 172.30.0.1\n  peer-asn: 64501\n  my-asn: 64500\n\
address-pools:\n- name: default\n  protocol: bgp\n  addresses: [192.168.197.0/24, '10.0.0.10-10.0.0.20']\n";

#[test]
fn valid_bare_payload_prints_ok_with_counts() {
    let config = file(PAYLOAD);
    let output = herald(&["validate", &config.path().display().to_string()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(stdout(&output).trim(), "ok: 1 pool, 1 peer");
}

#[test]
fn valid_configmap_manifest_is_accepted() {
    let indented: String = PAYLOAD.lines().map(|l| format!("    {l}\n")).collect();
    let manifest = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: herald\n  namespace: herald-system\n\
         data:\n  config: |\n{indented}"
    );
    let config = file(&manifest);
    let output = herald(&["validate", &config.path().display().to_string()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(stdout(&output).trim(), "ok: 1 pool, 1 peer");
}

#[test]
fn invalid_config_lists_every_error_by_path_and_exits_1() {
    let config = file(
        "peers:\n- {peer-address: 172.30.0.1, peer-asn: 64501, my-asn: 64500, hold-time: 2s}\n\
         address-pools:\n- {name: default, protocol: carrier-pigeon, addresses: ['10.0.0.20-10.0.0.10']}\n\
         colour: blue\n",
    );
    let path = config.path().display().to_string();
    let output = herald(&["validate", &path]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.iter().all(|l| l.starts_with(&format!("{path}: "))),
        "{text}"
    );
    for needle in [
        "address-pools[0].addresses[0]",
        "address-pools[0].protocol",
        "colour",
        "peers[0].hold-time",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    // Sorted by path, then the count.
    let pools = text.find("address-pools[0].addresses[0]").expect("pools");
    let peers = text.find("peers[0].hold-time").expect("peers");
    assert!(pools < peers, "{text}");
    assert!(
        lines.last().is_some_and(|l| l.ends_with("4 errors")),
        "{text}"
    );
}

#[test]
fn stdin_is_read_with_a_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald-controller"))
        .args(["validate", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(PAYLOAD.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output).trim(), "ok: 1 pool, 1 peer");
}

#[test]
fn bad_usage_exits_64() {
    assert_eq!(herald(&["validate"]).status.code(), Some(64));
    assert_eq!(herald(&["--no-such-flag"]).status.code(), Some(64));
    assert_eq!(
        herald(&["--lease-duration", "soon"]).status.code(),
        Some(64)
    );
    let missing = herald(&["validate", "/nonexistent/herald.yaml"]);
    assert_eq!(missing.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn help_explains_the_flags_and_exits_0() {
    let output = herald(&["run", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    for flag in [
        "--kubeconfig",
        "--lb-class",
        "--admin-addr",
        "--lease-duration",
        "--namespace",
    ] {
        assert!(text.contains(flag), "{flag}:\n{text}");
    }
}

#[test]
fn run_without_credentials_fails_with_a_reason() {
    let output = Command::new(env!("CARGO_BIN_EXE_herald-controller"))
        .args([
            "run",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "--admin-addr",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("/nonexistent/kubeconfig"),
        "{output:?}"
    );
}
