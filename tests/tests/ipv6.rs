//! IPv6 and dual-stack Services: /128 routes over the IPv6 sessions (MP-BGP), /32 routes
//! over the IPv4 sessions, each with next hops of its own family; curl -6 works.

use std::net::IpAddr;
use std::time::Duration;

use herald_e2e::lab::answering_node;
use herald_e2e::{Family, Lab, LabOptions, Policy};
use herald_testsupport::wait::ms;

const SAFETY: Duration = Duration::from_secs(30);

#[test]
fn ipv6_service_gets_a_host_route_over_the_ipv6_sessions() {
    let lab = Lab::start("ipv6_only", LabOptions::default());
    lab.service("web6", Policy::Cluster, Family::Ipv6, &[1, 2]);
    let addresses = lab.addresses("web6");
    assert!(
        addresses.len() == 1 && addresses[0].is_ipv6(),
        "{addresses:?}"
    );
    let address = addresses[0];
    let all = Lab::next_hops(&lab.all_nodes(), address);

    let took = lab.wait_fib(address, &all, SAFETY);
    println!(
        "web6 {address}: router FIB has {} IPv6 next hops after {}",
        all.len(),
        ms(took)
    );
    let rib = lab.rib(Family::Ipv6);
    let key = format!("{address}/128");
    let paths = rib
        .get(&key)
        .unwrap_or_else(|| panic!("{key} not in FRR's IPv6 table: {rib:?}"));
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert_eq!(lab.rib_next_hops(address), all);
    // Learned over the IPv6 sessions: each IPv6 peer sent one prefix, IPv4 peers none.
    for (peer, session) in lab.sessions() {
        let want = u64::from(peer.is_ipv6());
        assert_eq!(session.prefixes_received, want, "{peer}: {session:?}");
    }
    assert!(
        lab.rib(Family::Ipv4).is_empty(),
        "nothing in the IPv4 table"
    );

    let answers = lab.curl_nodes(address, 12);
    println!("12 GETs over IPv6: {answers:?}");
}

#[test]
fn dual_stack_service_is_announced_in_both_families() {
    let lab = Lab::start("dual_stack", LabOptions::default());
    lab.service("web", Policy::Local, Family::Dual, &[3]);
    let addresses = lab.addresses("web");
    assert_eq!(addresses.len(), 2, "one address per family: {addresses:?}");
    let v4 = lab.address("web", Family::Ipv4);
    let v6 = lab.address("web", Family::Ipv6);

    for address in [v4, v6] {
        let want = Lab::next_hops(&[3], address);
        let took = lab.wait_fib(address, &want, SAFETY);
        println!("{address}: router FIB via node3 after {}", ms(took));
        assert_eq!(lab.rib_next_hops(address), want);
        let body = lab.curl(address).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answering_node(&body).as_deref(), Some("node3"), "{body}");
    }
    let v4_table = lab.rib(Family::Ipv4);
    let v6_table = lab.rib(Family::Ipv6);
    assert_eq!(
        v4_table.keys().collect::<Vec<_>>(),
        vec![&format!("{v4}/32")]
    );
    assert_eq!(
        v6_table.keys().collect::<Vec<_>>(),
        vec![&format!("{v6}/128")]
    );
    // Next hops never cross families.
    let crossed = |table: &std::collections::BTreeMap<String, Vec<herald_e2e::frr::Path>>,
                   v6: bool| {
        table
            .values()
            .flatten()
            .flat_map(|p| p.next_hops.iter())
            .any(|hop: &IpAddr| hop.is_ipv6() != v6)
    };
    assert!(!crossed(&v4_table, false) && !crossed(&v6_table, true));

    // The endpoint moves to node1: both families follow.
    lab.service("web", Policy::Local, Family::Dual, &[1]);
    for address in [v4, v6] {
        let took = lab.wait_fib(address, &Lab::next_hops(&[1], address), SAFETY);
        println!("{address}: moved to node1 after {}", ms(took));
    }
    assert_eq!(
        lab.addresses("web"),
        addresses,
        "the addresses stay with the Service"
    );
}
