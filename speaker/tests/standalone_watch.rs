//! Standalone mode, live: the watcher's first state, reloads on change, and a bad file
//! never replacing the last good view. Waits are generous loops, not timing assertions; an
//! absence is checked in a state that proves the watcher has seen the change.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use herald_core::ServiceKey;
use herald_speaker::source::standalone::{SourceState, Standalone};
use herald_testsupport::wait::{TIMEOUT, wait_until};
use tokio::sync::watch;

const CLASS: &str = "herald.dev/lb";

const CONFIG: &str = "
peers:
- {peer-address: 172.30.0.1, peer-asn: 64501, my-asn: 64500}
address-pools:
- {name: default, protocol: bgp, addresses: [10.99.0.10-10.99.0.19]}
";

fn service(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: ns}}\n\
         spec: {{type: LoadBalancer, ports: [{{port: 80}}]}}\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Waits until the current state satisfies `done`, and returns it.
fn wait_for(
    receiver: &watch::Receiver<Arc<SourceState>>,
    what: &str,
    done: impl Fn(&SourceState) -> bool,
) -> Arc<SourceState> {
    let (state, _) = wait_until(
        TIMEOUT,
        what,
        || {
            let state = receiver.borrow().clone();
            done(&state).then_some(state)
        },
        || format!("{:?}", receiver.borrow()),
    );
    state
}

fn has_service(state: &SourceState, name: &str) -> bool {
    state
        .view
        .as_ref()
        .is_some_and(|v| v.services.contains_key(&ServiceKey::new("ns", name)))
}

#[test]
fn first_state_is_the_first_load() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "config.yaml", CONFIG);
    write(dir.path(), "web.yaml", &service("web"));
    let receiver = Standalone::watch(dir.path().to_owned(), CLASS.into());

    let state = receiver.borrow().clone();
    assert!(state.errors.is_empty(), "{state:?}");
    assert!(has_service(&state, "web"));
    assert!(dir.path().join("status/ns_web.yaml").exists());
}

#[test]
fn new_service_is_picked_up_within_a_few_poll_periods() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "config.yaml", CONFIG);
    write(dir.path(), "web.yaml", &service("web"));
    let receiver = Standalone::watch(dir.path().to_owned(), CLASS.into());
    assert!(has_service(&receiver.borrow(), "web"));

    write(dir.path(), "api.yaml", &service("api"));
    let state = wait_for(&receiver, "Service api", |s| has_service(s, "api"));
    let view = state.view.as_ref().unwrap();
    // web holds the lowest address (recorded in status/): api, though it sorts first,
    // gets the next one.
    assert_eq!(
        view.services[&ServiceKey::new("ns", "api")].addresses,
        ["10.99.0.11".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(
        view.services[&ServiceKey::new("ns", "web")].addresses,
        ["10.99.0.10".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(dir.path().join("status/ns_api.yaml").exists());

    std::fs::remove_file(dir.path().join("web.yaml")).unwrap();
    wait_for(&receiver, "Service web gone", |s| !has_service(s, "web"));
    let web_status = dir.path().join("status/ns_web.yaml");
    wait_until(
        TIMEOUT,
        "the status file of web removed",
        || (!web_status.exists()).then_some(()),
        || format!("{} still there", web_status.display()),
    );
}

#[test]
fn bad_config_keeps_the_last_good_view_until_fixed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "config.yaml", CONFIG);
    write(dir.path(), "web.yaml", &service("web"));
    let receiver = Standalone::watch(dir.path().to_owned(), CLASS.into());
    let good = receiver.borrow().view.clone().unwrap();

    write(
        dir.path(),
        "config.yaml",
        "address-pools: [{name: default}]\n",
    );
    let broken = wait_for(&receiver, "the config error", |s| !s.errors.is_empty());
    assert!(
        broken.errors.iter().all(|e| e.contains("config.yaml")),
        "{:?}",
        broken.errors
    );
    assert_eq!(broken.view.as_deref(), Some(&*good), "last good view kept");

    // A Service added while the config is bad does not take effect either. A later change
    // (a second mistake in the config) shows up once the watcher has reloaded the directory
    // with api.yaml in it; the view of that same state must still lack api.
    write(dir.path(), "api.yaml", &service("api"));
    write(
        dir.path(),
        "config.yaml",
        "address-pools: [{name: default}]\nsurprise: true\n",
    );
    let still = wait_for(&receiver, "the second config error", |s| {
        s.errors.iter().any(|e| e.contains("surprise"))
    });
    assert!(!has_service(&still, "api"), "{still:?}");
    assert_eq!(still.view.as_deref(), Some(&*good), "last good view kept");

    write(dir.path(), "config.yaml", CONFIG);
    let fixed = wait_for(&receiver, "the fix", |s| s.errors.is_empty());
    assert!(has_service(&fixed, "api"));
}

#[test]
fn bad_manifest_keeps_the_last_good_view() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "config.yaml", CONFIG);
    write(dir.path(), "web.yaml", &service("web"));
    let receiver = Standalone::watch(dir.path().to_owned(), CLASS.into());

    write(dir.path(), "web.yaml", "kind: Service\nspec: [\n");
    let broken = wait_for(&receiver, "the manifest error", |s| !s.errors.is_empty());
    assert!(broken.errors[0].contains("web.yaml"), "{:?}", broken.errors);
    assert!(has_service(&broken, "web"), "nothing withdrawn");
    assert!(dir.path().join("status/ns_web.yaml").exists());
}

#[test]
fn directory_bad_from_the_start_has_no_view_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "web.yaml", &service("web"));
    let receiver = Standalone::watch(dir.path().to_owned(), CLASS.into());
    let state = receiver.borrow().clone();
    assert!(state.view.is_none());
    assert_eq!(state.errors.len(), 1, "{:?}", state.errors);
    assert!(state.errors[0].contains("config.yaml"));

    write(dir.path(), "config.yaml", CONFIG);
    wait_for(&receiver, "the first good view", |s| has_service(s, "web"));
}
