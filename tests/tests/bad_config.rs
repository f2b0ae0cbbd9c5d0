//! A bad config.yaml (or a broken manifest) never takes effect: every speaker reports it
//! (`/status` source_errors, a log line) and the router keeps exactly what it had; fixing
//! the file clears the error and lets pending changes through.

use std::time::Duration;

use herald_e2e::{Family, Lab, LabOptions, Policy};
use herald_testsupport::wait::{ms, wait_until};
use serde_json::Value;

const SAFETY: Duration = Duration::from_secs(30);

/// Waits until every speaker's /status satisfies `done` on its `source_errors`; returns
/// each node's /status (in `lab.all_nodes()` order) as it was when it did, so what else it
/// says (the routes) comes from the same published state.
fn wait_status(lab: &Lab, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<Value> {
    let mut statuses = Vec::new();
    for node in lab.all_nodes() {
        let (status, took) = wait_until(
            SAFETY,
            &format!("node{node} /status source_errors: {what}"),
            || {
                let status = lab.status(node);
                done(&source_errors(&status)).then_some(status)
            },
            || lab.status(node).to_string(),
        );
        println!(
            "node{node}: source_errors after {}: {:?}",
            ms(took),
            source_errors(&status)
        );
        statuses.push(status);
    }
    statuses
}

fn source_errors(status: &Value) -> Vec<String> {
    status["source_errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect()
}

/// Waits until every speaker's /status has `errors` non-empty (or empty); returns them.
fn wait_errors(lab: &Lab, want_errors: bool) -> Vec<String> {
    let what = if want_errors { "non-empty" } else { "empty" };
    wait_status(lab, what, |errors| errors.is_empty() != want_errors)
        .iter()
        .flat_map(source_errors)
        .collect()
}

/// Every node's /status now.
fn statuses(lab: &Lab) -> Vec<Value> {
    lab.all_nodes().iter().map(|&n| lab.status(n)).collect()
}

fn routes(statuses: &[Value]) -> Vec<Value> {
    statuses.iter().map(|s| s["routes"].clone()).collect()
}

#[test]
fn bad_config_is_reported_and_the_announcements_stay() {
    let lab = Lab::start("bad_config", LabOptions::default());
    lab.service("web", Policy::Cluster, Family::Ipv4, &[1]);
    lab.service("api", Policy::Local, Family::Ipv4, &[2]);
    let web = lab.address("web", Family::Ipv4);
    let api = lab.address("api", Family::Ipv4);
    let all = Lab::next_hops(&lab.all_nodes(), web);
    lab.wait_fib(web, &all, SAFETY);
    lab.wait_fib(api, &Lab::next_hops(&[2], api), SAFETY);
    let routes_before = routes(&statuses(&lab));

    // Two mistakes at once: a hold time below 3 s and an unknown key.
    let good = lab.read_file("config.yaml");
    let bad = good.replace("hold-time: 9s", "hold-time: 2s") + "surprise: true\n";
    lab.write_file("config.yaml", &bad);
    let errors = wait_errors(&lab, true);
    assert!(errors.iter().any(|e| e.contains("hold")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("surprise")),
        "every problem at once: {errors:?}"
    );
    for node in lab.all_nodes() {
        let metrics = lab.metrics(node);
        assert!(
            metrics.contains("herald_config_stale 1"),
            "node{node}:\n{metrics}"
        );
        let log = lab.speaker_log(node);
        assert!(
            log.lines()
                .any(|l| l.contains("WARN") && l.contains("surprise")),
            "node{node} logs the problem:\n{log}"
        );
    }

    // While the config is bad, a manifest change waits too: the last good view stays. A
    // later change (a third mistake in the config) shows up in /status once a speaker has
    // reloaded the directory with the moved api in it; that same /status still has the old
    // routes.
    lab.service("api", Policy::Local, Family::Ipv4, &[3]);
    lab.write_file("config.yaml", &(bad.clone() + "second-surprise: true\n"));
    let statuses = wait_status(&lab, "the later mistake", |errors| {
        errors.iter().any(|e| e.contains("second-surprise"))
    });
    assert_eq!(routes_before, routes(&statuses), "/status routes unchanged");
    assert_eq!(lab.fib_next_hops(web), all, "web unchanged");
    assert_eq!(
        lab.fib_next_hops(api),
        Lab::next_hops(&[2], api),
        "api unchanged"
    );
    for (peer, session) in lab.sessions() {
        assert_eq!(session.state, "Established", "{peer}");
        assert_eq!(session.connections_established, 1, "{peer} was not reset");
    }
    lab.curl(web).unwrap_or_else(|e| panic!("{e}"));

    // Fixed: the error clears and the pending move goes through.
    lab.write_file("config.yaml", &good);
    wait_errors(&lab, false);
    assert!(lab.metrics(1).contains("herald_config_stale 0"));
    let took = lab.wait_fib(api, &Lab::next_hops(&[3], api), SAFETY);
    println!("config fixed -> api moved to node3 after {}", ms(took));
    assert_eq!(lab.fib_next_hops(web), all);
}

#[test]
fn broken_manifest_is_reported_and_the_announcements_stay() {
    let lab = Lab::start("bad_manifest", LabOptions::default());
    lab.service("web", Policy::Cluster, Family::Ipv4, &[1]);
    let web = lab.address("web", Family::Ipv4);
    let all = Lab::next_hops(&lab.all_nodes(), web);
    lab.wait_fib(web, &all, SAFETY);
    let routes_before = routes(&statuses(&lab));

    lab.write_file(
        "broken.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: [not, a, map\n",
    );
    // The /status that reports the broken file is the speaker's state after reading it:
    // its routes must be those from before.
    let statuses = wait_status(&lab, "non-empty", |errors| !errors.is_empty());
    let errors: Vec<String> = statuses.iter().flat_map(source_errors).collect();
    assert!(
        errors.iter().any(|e| e.contains("broken.yaml")),
        "names the file: {errors:?}"
    );
    assert_eq!(routes_before, routes(&statuses), "/status routes unchanged");
    assert_eq!(lab.fib_next_hops(web), all, "web unchanged");

    std::fs::remove_file(lab.standalone_dir().join("broken.yaml")).expect("remove broken.yaml");
    wait_errors(&lab, false);
    assert_eq!(lab.fib_next_hops(web), all);
}
