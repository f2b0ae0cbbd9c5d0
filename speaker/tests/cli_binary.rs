//! The `herald-speaker` binary: `--help`, usage errors and their exit codes, a standalone
//! directory that does not load, and a standalone run that serves `/status` and stops
//! cleanly on SIGTERM. (No BGP peers here: sessions are the lab's tests.)

mod bin_support;

use herald_testsupport::wait::eventually_showing;
use std::process::{Command, Output, Stdio};

use bin_support::{BIN, Running};

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

#[tokio::test]
async fn a_standalone_directory_that_does_not_load_at_start_is_reported_then_picked_up_when_fixed()
{
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("config.yaml"),
        "peers:\n- peer-address: not-an-ip\n  peer-asn: 64501\n  my-asn: 64500\n\
         address-pools:\n- name: default\n  protocol: bgp\n  addresses: [10.0.0.300/24]\n",
    )
    .expect("write config");
    let dir_arg = dir.path().display().to_string();
    let mut running = Running::start(&["--node-name", "n1", "--standalone", &dir_arg]);

    // Running, not ready, every error listed.
    let status = eventually_showing("the config errors are reported", || async {
        let status = running.status().await;
        let reported = status["source_errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty());
        if reported { Ok(status) } else { Err(status) }
    })
    .await;
    let errors = status["source_errors"].to_string();
    assert!(errors.contains("peers[0].peer-address"), "{errors}");
    assert!(errors.contains("address-pools[0].addresses[0]"), "{errors}");
    assert_eq!(status["ready"], false, "{status}");
    let (code, _) = running.get("/readyz").await;
    assert_ne!(code, 200);
    assert!(
        running.log().contains("peers[0].peer-address"),
        "{}",
        running.log()
    );

    // The fix is picked up without a restart.
    std::fs::write(
        dir.path().join("config.yaml"),
        "address-pools:\n- name: default\n  protocol: bgp\n  addresses: [10.0.0.0/24]\n",
    )
    .expect("write config");
    running.wait_ready().await;
    assert_eq!(
        running.status().await["source_errors"],
        serde_json::json!([])
    );
    assert_eq!(running.terminate().code(), Some(0), "{}", running.log());
}

#[tokio::test]
async fn standalone_run_serves_status_and_exits_zero_on_sigterm() {
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
    let dir_arg = dir.path().display().to_string();
    let mut running = Running::start(&["--node-name", "node-a", "--standalone", &dir_arg]);
    running.wait_ready().await;

    let status = running.status().await;
    assert_eq!(status["node"], "node-a");
    assert_eq!(status["ready"], true);
    assert_eq!(status["peers"], serde_json::json!([]));
    assert_eq!(status["not_announced"][0]["service"], "default/web");
    assert_eq!(status["not_announced"][0]["address"], "10.99.0.10");
    assert_eq!(status["not_announced"][0]["reason"], "no_peer_selects_node");
    let (_, metrics) = running.get("/metrics").await;
    assert!(
        metrics.contains("herald_speaker_not_announced{reason=\"no_peer_selects_node\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("herald_config_stale 0"), "{metrics}");

    // A bad edit: reported, the last good state stays.
    std::fs::write(dir.path().join("config.yaml"), "address-pools: 7\n").expect("write");
    let status = eventually_showing("the bad edit is reported", || async {
        let status = running.status().await;
        let reported = status["source_errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty());
        if reported { Ok(status) } else { Err(status) }
    })
    .await;
    assert_eq!(status["not_announced"][0]["service"], "default/web");
    assert!(
        running
            .get("/metrics")
            .await
            .1
            .contains("herald_config_stale 1")
    );

    let status = running.terminate();
    assert_eq!(status.code(), Some(0), "{}", running.log());
    assert!(running.log().contains("stopped"), "{}", running.log());
}
