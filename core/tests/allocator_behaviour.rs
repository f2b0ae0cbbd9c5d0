//! Table tests of the allocator, one behaviour each, in the spirit of MetalLB's
//! allocator tests: choosing pools and addresses, sharing, dual-stack, re-runs.

mod allocator_support;

use allocator_support::*;
use herald_core::allocator::*;
use herald_core::*;

#[test]
fn second_service_cannot_take_first_services_ip() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    let wanted = ip("10.0.0.1");
    give(&mut a, &svc("s1").with_requested_ips([wanted]));
    let err = a
        .assign(&svc("s2").with_requested_ips([wanted]))
        .unwrap_err();
    assert_eq!(
        err,
        AllocationError::AddressInUse {
            ip: wanted,
            holder: key("s1")
        }
    );
    assert_eq!(a.holders(wanted), &[key("s1")]);
    assert_eq!(a.assignment(&key("s2")), None);
}

#[test]
fn static_ip_outside_every_pool_is_refused() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    let err = a
        .assign(&svc("s1").with_requested_ips([ip("10.0.1.1")]))
        .unwrap_err();
    assert_eq!(err, AllocationError::NotInAnyPool { ip: ip("10.0.1.1") });
}

#[test]
fn static_ip_must_lie_in_the_annotated_pool() {
    let mut a = allocator(vec![
        pool("default", &["10.0.0.0/30"]),
        pool("other", &["10.0.1.0/30"]),
    ]);
    let err = a
        .assign(
            &svc("s1")
                .with_pool("other")
                .with_requested_ips([ip("10.0.0.1")]),
        )
        .unwrap_err();
    assert_eq!(
        err,
        AllocationError::NotInRequestedPool {
            ip: ip("10.0.0.1"),
            pool: "other".into()
        }
    );
    let ok = a
        .assign(
            &svc("s1")
                .with_pool("other")
                .with_requested_ips([ip("10.0.1.2")]),
        )
        .unwrap();
    assert_eq!(ok.pool, "other");
    assert_eq!(addresses(&ok), ["10.0.1.2"]);
}

#[test]
fn static_ip_in_a_manual_pool_is_given_without_annotation() {
    let mut a = allocator(vec![
        pool("default", &["10.0.0.0/30"]),
        pool("manual", &["10.0.1.0/30"]).with_auto_assign(false),
    ]);
    let got = a
        .assign(&svc("s1").with_requested_ips([ip("10.0.1.3")]))
        .unwrap();
    assert_eq!(
        (got.pool.as_str(), addresses(&got)),
        ("manual", vec!["10.0.1.3".to_owned()])
    );
}

#[test]
fn unknown_pool_is_refused() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    let err = a.assign(&svc("s1").with_pool("nope")).unwrap_err();
    assert_eq!(
        err,
        AllocationError::UnknownPool {
            pool: "nope".into()
        }
    );
}

#[test]
fn default_pool_is_tried_first() {
    let mut a = allocator(vec![
        pool("first", &["10.0.1.0/30"]),
        pool("default", &["10.0.2.0/30"]),
    ]);
    let got = a.assign(&svc("s1")).unwrap();
    assert_eq!(got.pool, "default");
    assert_eq!(addresses(&got), ["10.0.2.0"]);
}

#[test]
fn auto_assign_pools_are_tried_in_config_order_when_default_is_full() {
    let mut a = allocator(vec![
        pool("b", &["10.0.3.0/32"]),
        pool("a", &["10.0.1.0/32"]),
        pool("default", &["10.0.2.0/32"]),
    ]);
    let pools: Vec<String> = ["s1", "s2", "s3"]
        .iter()
        .map(|s| a.assign(&svc(s)).unwrap().pool)
        .collect();
    assert_eq!(pools, ["default", "b", "a"]);
}

#[test]
fn auto_assign_false_pool_only_by_annotation_or_request() {
    let mut a = allocator(vec![
        pool("manual", &["10.0.1.0/30"]).with_auto_assign(false),
        pool("default", &["10.0.0.0/32"]),
    ]);
    assert_eq!(give(&mut a, &svc("s1")), ["10.0.0.0"]);
    // default is full and manual is not auto-assign.
    assert_eq!(
        a.assign(&svc("s2")).unwrap_err(),
        AllocationError::PoolExhausted {
            pool: "default".into(),
            family: IpFamily::V4
        }
    );
    assert_eq!(give(&mut a, &svc("s2").with_pool("manual")), ["10.0.1.0"]);
    assert_eq!(
        give(&mut a, &svc("s3").with_requested_ips([ip("10.0.1.2")])),
        ["10.0.1.2"]
    );
}

#[test]
fn no_auto_assign_pool_is_reported() {
    let mut a = allocator(vec![
        pool("manual", &["10.0.1.0/30"]).with_auto_assign(false),
    ]);
    assert_eq!(
        a.assign(&svc("s1")).unwrap_err(),
        AllocationError::NoAutoAssignPool
    );
}

#[test]
fn lowest_free_address_is_used() {
    let mut a = allocator(vec![pool("default", &["10.0.0.8/29", "10.0.0.2-10.0.0.3"])]);
    give(&mut a, &svc("pinned").with_requested_ips([ip("10.0.0.2")]));
    assert_eq!(give(&mut a, &svc("s1")), ["10.0.0.3"]);
    assert_eq!(give(&mut a, &svc("s2")), ["10.0.0.8"]);
    assert_eq!(give(&mut a, &svc("s3")), ["10.0.0.9"]);
}

#[test]
fn released_address_is_reused() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/29"])]);
    for name in ["s0", "s1", "s2"] {
        give(&mut a, &svc(name));
    }
    let released = a.release(&key("s1")).unwrap();
    assert_eq!(addresses(&released), ["10.0.0.1"]);
    assert!(a.holders(ip("10.0.0.1")).is_empty());
    assert_eq!(give(&mut a, &svc("s3")), ["10.0.0.1"]);
    assert_eq!(give(&mut a, &svc("s4")), ["10.0.0.3"]);
}

#[test]
fn avoid_buggy_ips_skips_dot_zero_and_dot_255() {
    let mut a = allocator(vec![
        pool("default", &["10.0.0.254-10.0.1.1"]).with_avoid_buggy_ips(true),
    ]);
    assert_eq!(give(&mut a, &svc("s1")), ["10.0.0.254"]);
    assert_eq!(give(&mut a, &svc("s2")), ["10.0.1.1"]);
    assert_eq!(
        a.assign(&svc("s3")).unwrap_err(),
        AllocationError::PoolExhausted {
            pool: "default".into(),
            family: IpFamily::V4
        }
    );
    for requested in ["10.0.0.255", "10.0.1.0"] {
        assert_eq!(
            a.assign(&svc("s3").with_requested_ips([ip(requested)]))
                .unwrap_err(),
            AllocationError::AvoidedAddress {
                ip: ip(requested),
                pool: "default".into()
            }
        );
    }
}

#[test]
fn without_avoid_buggy_ips_dot_zero_and_dot_255_are_handed_out() {
    let mut a = allocator(vec![pool("default", &["10.0.0.255-10.0.1.0"])]);
    assert_eq!(give(&mut a, &svc("s1")), ["10.0.0.255"]);
    assert_eq!(give(&mut a, &svc("s2")), ["10.0.1.0"]);
}

#[test]
fn avoid_buggy_ips_does_not_touch_ipv6() {
    let mut a = allocator(vec![
        pool("default", &["2001:db8::ff-2001:db8::100"]).with_avoid_buggy_ips(true),
    ]);
    let v6 = svc("s1").with_families([IpFamily::V6], IpFamilyPolicy::SingleStack);
    assert_eq!(give(&mut a, &v6), ["2001:db8::ff"]);
}

#[test]
fn sharing_needs_same_key_and_distinct_ports() {
    let shared = ip("10.0.0.1");
    let first = svc("s1")
        .with_requested_ips([shared])
        .with_sharing_key("k")
        .with_ports([ServicePort::tcp(80)]);
    struct Case {
        what: &'static str,
        second: ServiceRequest,
        want: Result<(), AllocationError>,
    }
    let base = || svc("s2").with_requested_ips([shared]);
    let cases = [
        Case {
            what: "same key, other port",
            second: base()
                .with_sharing_key("k")
                .with_ports([ServicePort::tcp(443)]),
            want: Ok(()),
        },
        Case {
            what: "same key, same port number over UDP",
            second: base()
                .with_sharing_key("k")
                .with_ports([ServicePort::udp(80)]),
            want: Ok(()),
        },
        Case {
            what: "same key, same port",
            second: base()
                .with_sharing_key("k")
                .with_ports([ServicePort::tcp(443), ServicePort::tcp(80)]),
            want: Err(AllocationError::PortConflict {
                ip: shared,
                holder: key("s1"),
                port: ServicePort::tcp(80),
            }),
        },
        Case {
            what: "other key",
            second: base()
                .with_sharing_key("other")
                .with_ports([ServicePort::tcp(443)]),
            want: Err(AllocationError::SharingKeyMismatch {
                ip: shared,
                holder: key("s1"),
                ours: "other".into(),
                theirs: "k".into(),
            }),
        },
        Case {
            what: "no key",
            second: base().with_ports([ServicePort::tcp(443)]),
            want: Err(AllocationError::AddressInUse {
                ip: shared,
                holder: key("s1"),
            }),
        },
    ];
    for case in cases {
        let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
        give(&mut a, &first);
        let got = a.assign(&case.second).map(|_| ());
        assert_eq!(got, case.want, "{}", case.what);
    }
}

#[test]
fn holder_without_sharing_key_never_shares() {
    let shared = ip("10.0.0.1");
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    give(&mut a, &svc("s1").with_requested_ips([shared]));
    let err = a
        .assign(&svc("s2").with_requested_ips([shared]).with_sharing_key("k"))
        .unwrap_err();
    assert_eq!(
        err,
        AllocationError::AddressInUse {
            ip: shared,
            holder: key("s1")
        }
    );
}

#[test]
fn services_with_one_sharing_key_land_on_one_address() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/29"])]);
    give(&mut a, &svc("lonely"));
    let web = give(
        &mut a,
        &svc("web")
            .with_sharing_key("k")
            .with_ports([ServicePort::tcp(80)]),
    );
    let dns = give(
        &mut a,
        &svc("dns")
            .with_sharing_key("k")
            .with_ports([ServicePort::udp(53)]),
    );
    assert_eq!(web, ["10.0.0.1"]);
    assert_eq!(dns, web);
    // A third with a clashing port moves on to the next free address.
    let web2 = give(
        &mut a,
        &svc("web2")
            .with_sharing_key("k")
            .with_ports([ServicePort::tcp(80)]),
    );
    assert_eq!(web2, ["10.0.0.2"]);
    assert_eq!(a.holders(ip("10.0.0.1")), &[key("dns"), key("web")]);
}

#[test]
fn sharing_with_local_needs_the_same_selector() {
    let shared = ip("10.0.0.1");
    let local = |name: &str, app: &str, port: u16| {
        svc(name)
            .with_requested_ips([shared])
            .with_sharing_key("k")
            .with_ports([ServicePort::tcp(port)])
            .with_local_policy([("app", app)])
    };
    let cluster = |name: &str, port: u16| {
        svc(name)
            .with_requested_ips([shared])
            .with_sharing_key("k")
            .with_ports([ServicePort::tcp(port)])
    };
    let cases = [
        (
            "Local, same selector",
            local("s1", "web", 80),
            local("s2", "web", 443),
            true,
        ),
        (
            "Local, other selector",
            local("s1", "web", 80),
            local("s2", "db", 443),
            false,
        ),
        (
            "Local after Cluster",
            cluster("s1", 80),
            local("s2", "web", 443),
            false,
        ),
        (
            "Cluster after Local",
            local("s1", "web", 80),
            cluster("s2", 443),
            false,
        ),
        (
            "Cluster, any selector",
            cluster("s1", 80),
            cluster("s2", 443),
            true,
        ),
    ];
    for (what, first, second, shares) in cases {
        let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
        give(&mut a, &first);
        let got = a.assign(&second);
        if shares {
            assert_eq!(
                got.map(|g| addresses(&g)),
                Ok(vec!["10.0.0.1".to_owned()]),
                "{what}"
            );
        } else {
            assert_eq!(
                got,
                Err(AllocationError::BackendMismatch {
                    ip: shared,
                    holder: key("s1")
                }),
                "{what}"
            );
        }
    }
}

#[test]
fn shared_address_is_released_only_by_its_last_holder() {
    let shared = ip("10.0.0.0");
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    for (name, port) in [("s1", 80), ("s2", 81)] {
        give(
            &mut a,
            &svc(name)
                .with_sharing_key("k")
                .with_ports([ServicePort::tcp(port)]),
        );
    }
    assert_eq!(a.holders(shared).len(), 2);
    a.release(&key("s1"));
    assert_eq!(a.holders(shared), &[key("s2")]);
    // Still held: a Service without the key gets the next address.
    assert_eq!(give(&mut a, &svc("s3")), ["10.0.0.1"]);
    a.release(&key("s2"));
    assert!(a.holders(shared).is_empty());
    assert_eq!(give(&mut a, &svc("s4")), ["10.0.0.0"]);
}

#[test]
fn sole_holder_may_change_its_sharing_key() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    give(&mut a, &svc("s1").with_sharing_key("old"));
    assert_eq!(
        give(&mut a, &svc("s1").with_sharing_key("new")),
        ["10.0.0.0"]
    );
    let joined = give(
        &mut a,
        &svc("s2")
            .with_sharing_key("new")
            .with_ports([ServicePort::tcp(1)]),
    );
    assert_eq!(joined, ["10.0.0.0"]);
}

#[test]
fn dual_stack_takes_one_per_family_from_the_same_pool() {
    let mut a = allocator(vec![
        pool("default", &["10.0.0.0/30"]),
        pool("dual", &["10.0.1.0/30", "2001:db8::/126"]),
    ]);
    let got = a
        .assign(&dual(svc("s1"), IpFamilyPolicy::RequireDualStack))
        .unwrap();
    assert_eq!(got.pool, "dual");
    assert_eq!(addresses(&got), ["10.0.1.0", "2001:db8::"]);

    let v6_first = svc("s2").with_families(
        [IpFamily::V6, IpFamily::V4],
        IpFamilyPolicy::RequireDualStack,
    );
    assert_eq!(give(&mut a, &v6_first), ["2001:db8::1", "10.0.1.1"]);
}

#[test]
fn prefer_dual_stack_picks_a_pool_with_both_families() {
    let mut a = allocator(vec![
        pool("default", &["10.0.0.0/30"]),
        pool("dual", &["10.0.1.0/30", "2001:db8::/126"]),
    ]);
    let got = a
        .assign(&dual(svc("s1"), IpFamilyPolicy::PreferDualStack))
        .unwrap();
    assert_eq!(got.pool, "dual");
    assert_eq!(addresses(&got), ["10.0.1.0", "2001:db8::"]);
}

#[test]
fn require_dual_stack_fails_on_a_single_family_pool() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    let request = dual(svc("s1"), IpFamilyPolicy::RequireDualStack);
    assert_eq!(
        a.assign(&request.clone().with_pool("default")).unwrap_err(),
        AllocationError::FamilyNotInPool {
            pool: "default".into(),
            family: IpFamily::V6
        }
    );
    assert_eq!(
        a.assign(&request).unwrap_err(),
        AllocationError::NoAutoAssignPoolForFamily {
            family: IpFamily::V6
        }
    );
    assert!(a.is_empty());
}

#[test]
fn require_dual_stack_without_any_dual_pool_names_the_missing_family() {
    let mut a = allocator(vec![
        pool("default", &["10.0.0.0/30"]),
        pool("v4", &["10.0.1.0/30"]),
    ]);
    assert_eq!(
        a.assign(&dual(svc("s1"), IpFamilyPolicy::RequireDualStack))
            .unwrap_err(),
        AllocationError::NoAutoAssignPoolForFamily {
            family: IpFamily::V6
        }
    );
}

#[test]
fn prefer_dual_stack_falls_back_to_one_family() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    let got = a
        .assign(&dual(svc("s1"), IpFamilyPolicy::PreferDualStack))
        .unwrap();
    assert_eq!(addresses(&got), ["10.0.0.0"]);
    // The primary family is IPv6, which the pool lacks: the secondary is taken.
    let v6_first = svc("s2").with_families(
        [IpFamily::V6, IpFamily::V4],
        IpFamilyPolicy::PreferDualStack,
    );
    assert_eq!(give(&mut a, &v6_first), ["10.0.0.1"]);
}

#[test]
fn prefer_dual_stack_falls_back_to_the_primary_family_before_the_secondary() {
    let mut a = allocator(vec![
        pool("default", &["2001:db8::/126"]),
        pool("v4", &["10.0.0.0/30"]),
    ]);
    let got = a
        .assign(&dual(svc("s1"), IpFamilyPolicy::PreferDualStack))
        .unwrap();
    assert_eq!(
        (got.pool.as_str(), addresses(&got)),
        ("v4", vec!["10.0.0.0".to_owned()])
    );
}

#[test]
fn prefer_dual_stack_falls_back_when_one_family_is_exhausted() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30", "2001:db8::/128"])]);
    let v6 = svc("v6").with_families([IpFamily::V6], IpFamilyPolicy::SingleStack);
    give(&mut a, &v6);
    let got = give(&mut a, &dual(svc("s1"), IpFamilyPolicy::PreferDualStack));
    assert_eq!(got, ["10.0.0.0"]);
    assert_eq!(
        a.assign(&dual(svc("s2"), IpFamilyPolicy::RequireDualStack))
            .unwrap_err(),
        AllocationError::PoolExhausted {
            pool: "default".into(),
            family: IpFamily::V6
        }
    );
}

#[test]
fn prefer_dual_stack_with_one_listed_family_is_single_stack() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30", "2001:db8::/126"])]);
    let request = svc("s1").with_families([IpFamily::V4], IpFamilyPolicy::PreferDualStack);
    assert_eq!(give(&mut a, &request), ["10.0.0.0"]);
}

#[test]
fn single_stack_ipv6_skips_pools_without_ipv6() {
    let mut a = allocator(vec![
        pool("default", &["10.0.0.0/30"]),
        pool("v6", &["2001:db8::/126"]),
    ]);
    let request = svc("s1").with_families([IpFamily::V6], IpFamilyPolicy::SingleStack);
    let got = a.assign(&request).unwrap();
    assert_eq!(
        (got.pool.as_str(), addresses(&got)),
        ("v6", vec!["2001:db8::".to_owned()])
    );
}

#[test]
fn no_auto_assign_pool_with_the_family_is_reported() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    let request = svc("s1").with_families([IpFamily::V6], IpFamilyPolicy::SingleStack);
    assert_eq!(
        a.assign(&request).unwrap_err(),
        AllocationError::NoAutoAssignPoolForFamily {
            family: IpFamily::V6
        }
    );
}

#[test]
fn pool_exhausted_reports_the_pool() {
    let mut a = allocator(vec![pool("small", &["10.0.0.0/31"])]);
    give(&mut a, &svc("s1"));
    give(&mut a, &svc("s2"));
    let err = a.assign(&svc("s3")).unwrap_err();
    assert_eq!(
        err,
        AllocationError::PoolExhausted {
            pool: "small".into(),
            family: IpFamily::V4
        }
    );
    assert_eq!(err.to_string(), "no free IPv4 address left in pool small");
    assert!(err.is_exhaustion());
}

#[test]
fn exhausting_every_auto_assign_pool_names_them_all() {
    let mut a = allocator(vec![
        pool("a", &["10.0.0.0/32"]),
        pool("default", &["10.0.1.0/32"]),
    ]);
    give(&mut a, &svc("s1"));
    give(&mut a, &svc("s2"));
    assert_eq!(
        a.assign(&svc("s3")).unwrap_err(),
        AllocationError::AutoAssignExhausted {
            pools: vec!["default".into(), "a".into()],
            family: IpFamily::V4
        }
    );
}

#[test]
fn requested_address_of_a_family_the_service_does_not_use_is_refused() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30", "2001:db8::/126"])]);
    let err = a
        .assign(&svc("s1").with_requested_ips([ip("2001:db8::1")]))
        .unwrap_err();
    assert_eq!(
        err,
        AllocationError::FamilyNotRequested {
            ip: ip("2001:db8::1"),
            family: IpFamily::V6
        }
    );
}

#[test]
fn two_requested_addresses_of_one_family_are_refused() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    let err = a
        .assign(&svc("s1").with_requested_ips([ip("10.0.0.1"), ip("10.0.0.2")]))
        .unwrap_err();
    assert_eq!(
        err,
        AllocationError::SameFamilyTwice {
            first: ip("10.0.0.1"),
            second: ip("10.0.0.2")
        }
    );
}

#[test]
fn requested_addresses_in_different_pools_are_refused() {
    let mut a = allocator(vec![
        pool("default", &["10.0.0.0/30"]),
        pool("v6", &["2001:db8::/126"]),
    ]);
    let request = dual(svc("s1"), IpFamilyPolicy::RequireDualStack)
        .with_requested_ips([ip("10.0.0.1"), ip("2001:db8::1")]);
    assert!(matches!(
        a.assign(&request).unwrap_err(),
        AllocationError::DifferentPools { .. }
    ));
}

#[test]
fn dual_stack_with_one_requested_address_takes_the_other_from_its_pool() {
    let mut a = allocator(vec![
        pool("default", &["10.0.0.0/30", "2001:db8::/126"]),
        pool("other", &["10.0.1.0/30", "2001:db8:1::/126"]),
    ]);
    let request =
        dual(svc("s1"), IpFamilyPolicy::RequireDualStack).with_requested_ips([ip("10.0.1.2")]);
    let got = a.assign(&request).unwrap();
    assert_eq!(got.pool, "other");
    assert_eq!(addresses(&got), ["10.0.1.2", "2001:db8:1::"]);
}

#[test]
fn rerun_returns_the_same_addresses() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/29", "2001:db8::/125"])]);
    let requests = [
        svc("s1"),
        dual(svc("s2"), IpFamilyPolicy::RequireDualStack),
        svc("s3")
            .with_sharing_key("k")
            .with_ports([ServicePort::tcp(1)]),
        svc("s4")
            .with_sharing_key("k")
            .with_ports([ServicePort::tcp(2)]),
    ];
    let first: Vec<_> = requests.iter().map(|r| a.assign(r).unwrap()).collect();
    let second: Vec<_> = requests.iter().map(|r| a.assign(r).unwrap()).collect();
    assert_eq!(first, second);
}

#[test]
fn service_keeps_its_address_when_a_lower_one_frees_up() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/29"])]);
    give(&mut a, &svc("s1"));
    give(&mut a, &svc("s2"));
    a.release(&key("s1"));
    assert_eq!(give(&mut a, &svc("s2")), ["10.0.0.1"]);
}

#[test]
fn service_keeps_an_address_from_a_pool_that_stopped_being_first() {
    let mut a = allocator(vec![pool("extra", &["10.0.1.0/30"])]);
    give(&mut a, &svc("s1"));
    a.set_pools(vec![
        pool("default", &["10.0.0.0/30"]),
        pool("extra", &["10.0.1.0/30"]),
    ])
    .unwrap();
    let got = a.assign(&svc("s1")).unwrap();
    assert_eq!(
        (got.pool.as_str(), addresses(&got)),
        ("extra", vec!["10.0.1.0".to_owned()])
    );
}

#[test]
fn changed_request_moves_the_service() {
    let mut a = allocator(vec![
        pool("default", &["10.0.0.0/30"]),
        pool("other", &["10.0.1.0/30"]),
    ]);
    give(&mut a, &svc("s1"));
    assert_eq!(give(&mut a, &svc("s1").with_pool("other")), ["10.0.1.0"]);
    assert!(a.holders(ip("10.0.0.0")).is_empty());
    assert_eq!(
        give(&mut a, &svc("s1").with_requested_ips([ip("10.0.1.3")])),
        ["10.0.1.3"]
    );
    assert!(a.holders(ip("10.0.1.0")).is_empty());
}

#[test]
fn failed_reassignment_keeps_the_old_address() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    give(&mut a, &svc("s1"));
    give(&mut a, &svc("s2"));
    let before = a.assignment(&key("s1"));
    let err = a
        .assign(&svc("s1").with_requested_ips([ip("10.0.0.1")]))
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(a.assignment(&key("s1")), before);
    assert_eq!(a.holders(ip("10.0.0.0")), &[key("s1")]);
}

#[test]
fn dual_stack_upgrade_keeps_the_existing_address() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30", "2001:db8::/126"])]);
    give(&mut a, &svc("s0"));
    give(&mut a, &svc("s1"));
    a.release(&key("s0"));
    let got = give(&mut a, &dual(svc("s1"), IpFamilyPolicy::RequireDualStack));
    assert_eq!(got, ["10.0.0.1", "2001:db8::"]);
}
