//! The BGP identifier when nothing sets it: speakers started exactly as the README says
//! (`herald-speaker --standalone DIR --node-name nodeI`, no `--router-id`, no
//! `--node-address`) bring up their IPv6 sessions too and announce /128s, on dual-stack
//! nodes (the IPv6 session uses the id of the node's IPv4 sessions) and on IPv6-only
//! nodes (an id derived from the node name).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use herald_e2e::frr::remote_router_id;
use herald_e2e::{Family, Lab, LabOptions, Policy};
use herald_testsupport::wait::{ms, wait_until};

const SAFETY: Duration = Duration::from_secs(30);

/// The router id FRR saw in node `node`'s OPEN on the session from `address`.
fn router_id_seen(lab: &Lab, node: usize, family: Family) -> Ipv4Addr {
    let address = Lab::node_address(node, family);
    let (id, _) = wait_until(
        SAFETY,
        &format!("FRR knows node{node}'s router id on {address}"),
        || {
            remote_router_id(
                &lab.vtysh(&format!("show bgp neighbors {address} json")),
                address,
            )
        },
        || lab.vtysh(&format!("show bgp neighbors {address}")),
    );
    id
}

#[test]
fn readme_command_on_dual_stack_nodes_announces_both_families() {
    let lab = Lab::start(
        "readme_dual",
        LabOptions {
            nodes: 2,
            readme_flags: true,
            ..LabOptions::default()
        },
    );
    // up.sh waited for all 2N sessions: the IPv6 peers are configured and Established.
    assert_eq!(lab.established(), 4, "{:?}", lab.sessions());
    for node in lab.all_nodes() {
        let v4 = router_id_seen(&lab, node, Family::Ipv4);
        let v6 = router_id_seen(&lab, node, Family::Ipv6);
        assert_eq!(
            IpAddr::V4(v4),
            Lab::node_address(node, Family::Ipv4),
            "node{node}'s IPv4 session uses its source address"
        );
        assert_eq!(v6, v4, "node{node}: one BGP identifier per speaker");
        let status = lab.status(node);
        assert_eq!(status["router_id"]["id"], v4.to_string(), "{status}");
        assert_eq!(status["router_id"]["origin"], "ipv4_session", "{status}");
    }

    lab.service("web", Policy::Cluster, Family::Dual, &[1, 2]);
    for family in [Family::Ipv4, Family::Ipv6] {
        let address = lab.address("web", family);
        let hops = Lab::next_hops(&lab.all_nodes(), address);
        let took = lab.wait_fib(address, &hops, SAFETY);
        println!(
            "{address}: in the router's FIB from both nodes after {}",
            ms(took)
        );
    }
    let log = lab.speaker_log(1);
    assert!(
        !log.contains("no router id"),
        "node1 reported a missing router id:\n{log}"
    );
}

#[test]
fn ipv6_only_node_derives_a_stable_router_id_from_its_name() {
    let lab = Lab::start(
        "ipv6_only_id",
        LabOptions {
            nodes: 2,
            readme_flags: true,
            ipv6_only: true,
            ..LabOptions::default()
        },
    );
    for node in lab.all_nodes() {
        let id = router_id_seen(&lab, node, Family::Ipv6);
        assert_eq!(
            id,
            herald_speaker_name_id(&format!("node{node}")),
            "node{node}: FNV-1a of its name"
        );
        let status = lab.status(node);
        assert_eq!(status["router_id"]["id"], id.to_string(), "{status}");
        assert_eq!(status["router_id"]["origin"], "node_name", "{status}");
    }
    let log = lab.speaker_log(1);
    assert_eq!(
        log.matches("BGP identifier chosen").count(),
        1,
        "logged once:\n{log}"
    );

    lab.service("web6", Policy::Cluster, Family::Ipv6, &[1, 2]);
    let address = lab.address("web6", Family::Ipv6);
    let hops = Lab::next_hops(&lab.all_nodes(), address);
    let took = lab.wait_fib(address, &hops, SAFETY);
    println!(
        "{address}: in the router's FIB from both IPv6-only nodes after {}",
        ms(took)
    );
    assert!(
        lab.rib(Family::Ipv4).is_empty(),
        "no IPv4 session, nothing in the IPv4 table"
    );
}

/// The id the speaker derives from a node name (32-bit FNV-1a, written out here so the
/// test pins the documented rule rather than calling the code under test).
fn herald_speaker_name_id(name: &str) -> Ipv4Addr {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    Ipv4Addr::from(hash.max(1))
}
