//! Per-Service communities and LOCAL_PREF by annotation (`herald.dev/bgp-communities`,
//! `herald.dev/bgp-localpref`): the communities reach FRR's RIB on the Service's route
//! only, a bad value leaves the annotation out (the route stays, `/status` says why),
//! and removing the annotation removes the communities.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use herald_e2e::{Family, Lab, LabOptions, Policy};
use herald_testsupport::wait::{ms, wait_until};
use serde_json::Value;

const SAFETY: Duration = Duration::from_secs(30);

/// Rewrites Service `name`'s manifest with `annotations` (a YAML flow mapping body) or
/// none.
fn annotate(lab: &Lab, name: &str, annotations: Option<&str>) {
    lab.service(name, Policy::Cluster, Family::Ipv4, &[1]);
    let Some(annotations) = annotations else {
        return;
    };
    let manifest = lab.read_file(&format!("{name}.yaml"));
    let annotated = manifest.replacen(
        "  namespace: default\n",
        &format!("  namespace: default\n  annotations: {{{annotations}}}\n"),
        1,
    );
    assert_ne!(manifest, annotated, "the Service has metadata.namespace");
    lab.write_file(&format!("{name}.yaml"), &annotated);
}

/// Standard and large communities of every path FRR holds for `address`/32 (FRR's names:
/// `noExport` for no-export).
fn rib_communities(lab: &Lab, address: IpAddr) -> Option<BTreeSet<String>> {
    let json: Value =
        serde_json::from_str(&lab.vtysh(&format!("show bgp ipv4 unicast {address}/32 json")))
            .ok()?;
    let paths = json["paths"].as_array()?;
    if paths.is_empty() {
        return None;
    }
    let mut communities = BTreeSet::new();
    for path in paths {
        for kind in ["community", "largeCommunity"] {
            for value in path[kind]["list"].as_array().into_iter().flatten() {
                communities.insert(value.as_str().unwrap_or_default().to_owned());
            }
        }
    }
    Some(communities)
}

fn wait_communities(lab: &Lab, address: IpAddr, want: &[&str]) -> Duration {
    let want: BTreeSet<String> = want.iter().map(|s| (*s).to_owned()).collect();
    wait_until(
        SAFETY,
        &format!("FRR's paths for {address} carry exactly {want:?}"),
        || (rib_communities(lab, address)? == want).then_some(()),
        || format!("{:?}", rib_communities(lab, address)),
    )
    .1
}

#[test]
fn annotation_communities_reach_frr_and_a_bad_value_is_reported_without_the_rest_changing() {
    let lab = Lab::start("svc_communities", LabOptions::default());
    let config = lab.read_file("config.yaml");
    let with_alias = config.replacen(
        "address-pools:\n",
        "bgp-communities:\n  edge: \"64500:9\"\naddress-pools:\n",
        1,
    );
    assert_ne!(config, with_alias);
    lab.write_file("config.yaml", &with_alias);

    annotate(
        &lab,
        "api",
        Some(
            "herald.dev/bgp-communities: \"64500:7, 64500:1:2, no-export, edge\", \
             herald.dev/bgp-localpref: \"300\"",
        ),
    );
    annotate(&lab, "plain", None);
    let api = lab.address("api", Family::Ipv4);
    let plain = lab.address("plain", Family::Ipv4);
    let all = Lab::next_hops(&[1, 2, 3], api);

    let took = wait_communities(&lab, api, &["64500:7", "64500:9", "noExport", "64500:1:2"]);
    println!("api {api}: communities in FRR's RIB after {}", ms(took));
    lab.wait_fib(api, &all, SAFETY);
    lab.wait_fib(plain, &Lab::next_hops(&[1, 2, 3], plain), SAFETY);
    assert_eq!(
        rib_communities(&lab, plain),
        Some(BTreeSet::new()),
        "another Service's route carries none of them"
    );
    let status = lab.status(1);
    let route = status["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["prefix"] == format!("{api}/32"))
        .unwrap_or_else(|| panic!("node1 reports the route of {api}: {status}"));
    assert_eq!(route["local_pref"], 300, "LOCAL_PREF (iBGP only): {route}");

    // A bad entry: the whole annotation is left out, the route stays, /status says why.
    annotate(
        &lab,
        "api",
        Some("herald.dev/bgp-communities: \"64500:7, gold\", herald.dev/bgp-localpref: \"300\""),
    );
    let took = wait_communities(&lab, api, &[]);
    println!(
        "bad community: annotation left out of FRR's RIB after {}",
        ms(took)
    );
    for node in 1..=3 {
        let status = lab.status(node);
        let problems = status["service_problems"].to_string();
        assert!(
            problems.contains("default/api: annotation herald.dev/bgp-communities: \\\"gold\\\""),
            "node{node} reports the bad value: {problems}"
        );
        let route = status["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["prefix"] == format!("{api}/32"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            route["local_pref"], 300,
            "the good annotation still applies: {route}"
        );
    }
    assert_eq!(lab.fib_next_hops(api), all, "the route stays on every node");

    // Fixed, then removed.
    annotate(&lab, "api", Some("herald.dev/bgp-communities: \"64500:7\""));
    wait_communities(&lab, api, &["64500:7"]);
    let problems = lab.status(1)["service_problems"].to_string();
    assert!(
        !problems.contains("gold"),
        "the problem is gone: {problems}"
    );
    annotate(&lab, "api", None);
    let took = wait_communities(&lab, api, &[]);
    println!(
        "annotation removed: communities gone from FRR's RIB after {}",
        ms(took)
    );
    assert_eq!(lab.fib_next_hops(api), all);

    for (peer, session) in lab.sessions() {
        assert_eq!(
            session.connections_established, 1,
            "{peer} was reset: {session:?}"
        );
    }
}
