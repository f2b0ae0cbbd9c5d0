//! The lab's files that no test runs here: the containerlab topology (no Docker on the
//! CI machines) must be well-formed, refer to files that exist, and carry the same FRR
//! config and standalone directory as the netns runner; every lab script must parse.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use herald_e2e::speaker_binary::repo_root;
use serde_yaml::Value;

fn containerlab_dir() -> PathBuf {
    repo_root().join("lab/containerlab")
}

fn topology() -> Value {
    let path = containerlab_dir().join("herald.clab.yml");
    let text = std::fs::read_to_string(&path).expect("read herald.clab.yml");
    serde_yaml::from_str(&text).expect("herald.clab.yml is YAML")
}

#[test]
fn containerlab_topology_is_well_formed() {
    let topology = topology();
    assert_eq!(topology["name"].as_str(), Some("herald"));
    let nodes = topology["topology"]["nodes"]
        .as_mapping()
        .expect("topology.nodes is a map");
    let names: BTreeSet<&str> = nodes.keys().filter_map(Value::as_str).collect();
    let want: BTreeSet<&str> = ["router", "switch", "node1", "node2", "node3", "client"].into();
    assert_eq!(names, want);
    for (name, node) in nodes {
        assert_eq!(node["kind"].as_str(), Some("linux"), "{name:?}");
        assert!(node["image"].as_str().is_some(), "{name:?} has an image");
    }
    assert!(
        topology["topology"]["nodes"]["router"]["image"]
            .as_str()
            .is_some_and(|i| i.contains("frr:8.4")),
        "the router runs FRR 8.4, like the netns runner"
    );

    // Links join defined nodes, and no interface is used twice.
    let links = topology["topology"]["links"].as_sequence().expect("links");
    let mut interfaces = BTreeSet::new();
    for link in links {
        let ends = link["endpoints"].as_sequence().expect("endpoints");
        assert_eq!(ends.len(), 2, "{link:?}");
        for end in ends {
            let end = end.as_str().expect("endpoint is a string");
            let (node, interface) = end.split_once(':').expect("node:interface");
            assert!(names.contains(node), "link to unknown node {end}");
            assert!(interface.starts_with("eth"), "{end}");
            assert!(interfaces.insert(end.to_owned()), "{end} used twice");
        }
    }
    assert_eq!(links.len(), 5);
    // Each node has its own NODE_INDEX.
    for (i, node) in ["node1", "node2", "node3"].iter().enumerate() {
        let index = &topology["topology"]["nodes"][*node]["env"]["NODE_INDEX"];
        assert_eq!(index.as_u64(), Some(i as u64 + 1), "{node}");
    }
}

#[test]
fn containerlab_binds_refer_to_files_of_the_repository() {
    let topology = topology();
    let nodes = topology["topology"]["nodes"].as_mapping().expect("nodes");
    let mut checked = 0;
    for (name, node) in nodes {
        for bind in node["binds"].as_sequence().into_iter().flatten() {
            let bind = bind.as_str().expect("bind is a string");
            let host = bind.split(':').next().expect("host path");
            let path = containerlab_dir().join(host);
            if host.ends_with("target/release/herald-speaker") {
                // A build artifact: `cargo build --release -p herald-speaker` makes it.
                let normalized = path.components().collect::<PathBuf>();
                assert!(
                    normalized.to_string_lossy().contains("target/release"),
                    "{bind}"
                );
                continue;
            }
            assert!(
                path.exists(),
                "{name:?}: bind {bind}: {} missing",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} binds checked");
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn containerlab_files_match_the_netns_lab() {
    let out = std::env::temp_dir().join(format!("herald-clab-gen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(containerlab_dir().join("generate.sh"))
        .arg("--out")
        .arg(&out)
        .status()
        .expect("run generate.sh");
    assert!(status.success(), "generate.sh failed");
    let generated = files_under(&out);
    assert_eq!(generated.len(), 5, "{generated:?}");
    for file in &generated {
        let relative = file.strip_prefix(&out).expect("under out");
        let committed = containerlab_dir().join(relative);
        let want = std::fs::read_to_string(file).expect("read generated");
        let have = std::fs::read_to_string(&committed)
            .unwrap_or_else(|e| panic!("{}: {e}", committed.display()));
        assert_eq!(
            have,
            want,
            "{} is stale: run lab/containerlab/generate.sh",
            committed.display()
        );
    }
    let bgpd = std::fs::read_to_string(out.join("frr/bgpd.conf")).expect("bgpd.conf");
    for line in [
        "maximum-paths 8",
        "bgp bestpath as-path multipath-relax",
        "no bgp ebgp-requires-policy",
        "bgp listen range 172.30.0.0/24 peer-group NODES4",
        "bgp listen range fd00:30::/64 peer-group NODES6",
    ] {
        assert!(bgpd.contains(line), "bgpd.conf lacks {line:?}");
    }
    std::fs::remove_dir_all(&out).expect("remove temp dir");
}

#[test]
fn lab_scripts_parse() {
    let root = repo_root();
    let scripts = [
        "lab/lib/common.sh",
        "lab/netns/lib.sh",
        "lab/netns/up.sh",
        "lab/netns/down.sh",
        "lab/e2e/lib.sh",
        "lab/e2e/up.sh",
        "lab/e2e/down.sh",
        "lab/e2e/ctl.sh",
        "lab/containerlab/generate.sh",
        "lab/containerlab/node-start.sh",
        "lab/k8s/lib.sh",
        "lab/k8s/up.sh",
        "lab/k8s/down.sh",
        "lab/k8s/status.sh",
        "lab/k8s/ctl.sh",
        "lab/k8s/images.sh",
        "scripts/kube-testenv.sh",
        "scripts/demo.sh",
        "scripts/test.sh",
        "bgp/tests/fixtures/capture/capture.sh",
    ];
    for script in scripts {
        let output = Command::new("bash")
            .arg("-n")
            .arg(root.join(script))
            .output()
            .expect("run bash -n");
        assert!(
            output.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for script in ["lab/e2e/backend.py", "lab/k8s/helm.py"] {
        let python = Command::new("python3")
            .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"])
            .arg(root.join(script))
            .output()
            .expect("run python3");
        assert!(
            python.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&python.stderr)
        );
    }
}
