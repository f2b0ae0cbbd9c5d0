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

/// Writes Service `name`'s manifest with `annotations` (a YAML flow mapping body) or none,
/// in one atomic write once the Service exists (so no speaker ever reads a version in
/// between).
fn annotate(lab: &Lab, name: &str, annotations: Option<&str>) {
    let file = format!("{name}.yaml");
    if !lab.standalone_dir().join(&file).exists() {
        lab.service(name, Policy::Cluster, Family::Ipv4, &[1]);
    }
    let manifest: String = lab
        .read_file(&file)
        .lines()
        .filter(|line| !line.starts_with("  annotations: "))
        .flat_map(|line| [line, "\n"])
        .collect();
    let annotated = match annotations {
        Some(annotations) => manifest.replacen(
            "  namespace: default\n",
            &format!("  namespace: default\n  annotations: {{{annotations}}}\n"),
            1,
        ),
        None => manifest.clone(),
    };
    assert!(
        annotations.is_none() || manifest != annotated,
        "the Service has metadata.namespace"
    );
    lab.write_file(&file, &annotated);
}

/// Standard and large communities of each path FRR holds for `address`/32 (FRR's names:
/// `noExport` for no-export).
fn rib_communities(lab: &Lab, address: IpAddr) -> Vec<BTreeSet<String>> {
    let json: Value =
        serde_json::from_str(&lab.vtysh(&format!("show bgp ipv4 unicast {address}/32 json")))
            .unwrap_or_default();
    let paths = json["paths"].as_array().into_iter().flatten();
    paths
        .map(|path| {
            ["community", "largeCommunity"]
                .iter()
                .flat_map(|kind| path[kind]["list"].as_array().into_iter().flatten())
                .map(|value| value.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .collect()
}

/// Waits until FRR holds one path from each of the three nodes for `address`, each with
/// exactly `want`: every speaker has read the manifest in force.
fn wait_communities(lab: &Lab, address: IpAddr, want: &[&str]) -> Duration {
    let want: BTreeSet<String> = want.iter().map(|s| (*s).to_owned()).collect();
    wait_until(
        SAFETY,
        &format!("FRR's three paths for {address} carry exactly {want:?}"),
        || {
            let paths = rib_communities(lab, address);
            (paths.len() == 3 && paths.iter().all(|p| *p == want)).then_some(())
        },
        || format!("{:?}", rib_communities(lab, address)),
    )
    .1
}

/// The route node status `status` reports for `address`/32 (null when none).
fn route_of(status: &Value, address: IpAddr) -> Value {
    status["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["prefix"] == format!("{address}/32"))
        .cloned()
        .unwrap_or_default()
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
        vec![BTreeSet::new(); 3],
        "another Service's route carries none of them"
    );
    // FRR's path from node1 carries the communities, so node1 has the annotation; its
    // /status follows the announcement.
    lab.wait_status(1, "LOCAL_PREF 300 on the route (iBGP only)", |status| {
        route_of(status, api)["local_pref"] == 300
    });

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
        let status = lab.wait_status(node, "the bad value reported", |status| {
            status["service_problems"]
                .to_string()
                .contains("default/api: annotation herald.dev/bgp-communities: \\\"gold\\\"")
        });
        let route = route_of(&status, api);
        assert_eq!(
            route["local_pref"], 300,
            "the good annotation still applies: {route}"
        );
    }
    assert_eq!(lab.fib_next_hops(api), all, "the route stays on every node");

    // Fixed, then removed.
    annotate(&lab, "api", Some("herald.dev/bgp-communities: \"64500:7\""));
    wait_communities(&lab, api, &["64500:7"]);
    for node in 1..=3 {
        lab.wait_status(node, "the problem gone", |status| {
            !status["service_problems"].to_string().contains("gold")
        });
    }
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
