//! Table tests of the allocator's lifecycle: release, restart from Service statuses,
//! pool changes, large pools, usage figures and error messages.

mod allocator_support;

use allocator_support::*;
use herald_core::allocator::*;
use herald_core::*;

#[test]
fn releasing_an_unknown_service_changes_nothing() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/29"])]);
    give(&mut a, &svc("s0"));
    assert_eq!(a.release(&key("ghost")), None);
    assert_eq!(a.len(), 1);
}

#[test]
fn restore_registers_holders_before_assigning_others() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    let held = [Held {
        request: svc("old"),
        addresses: vec![ip("10.0.0.0")],
    }];
    let rebuild = a.rebuild(&held, &[svc("new")]);
    assert_eq!(rebuild.restored[0].refused, vec![]);
    assert_eq!(
        rebuild.assigned,
        vec![
            (
                key("old"),
                Ok(Assignment {
                    pool: "default".into(),
                    addresses: vec![ip("10.0.0.0")]
                })
            ),
            (
                key("new"),
                Ok(Assignment {
                    pool: "default".into(),
                    addresses: vec![ip("10.0.0.1")]
                })
            ),
        ]
    );
}

#[test]
fn restore_never_takes_an_address_from_a_holder() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    let held = [
        Held {
            request: svc("first"),
            addresses: vec![ip("10.0.0.2")],
        },
        Held {
            request: svc("second"),
            addresses: vec![ip("10.0.0.2")],
        },
    ];
    let restored = a.restore(&held);
    assert!(restored[0].refused.is_empty());
    assert_eq!(restored[1].kept, None);
    assert_eq!(
        restored[1].refused[0].reason,
        AllocationError::AddressInUse {
            ip: ip("10.0.0.2"),
            holder: key("first")
        }
    );
    assert_eq!(a.holders(ip("10.0.0.2")), &[key("first")]);
    // The loser then gets a fresh address; the winner keeps its own.
    assert_eq!(give(&mut a, &svc("second")), ["10.0.0.0"]);
    assert_eq!(give(&mut a, &svc("first")), ["10.0.0.2"]);
}

#[test]
fn restore_keeps_compatible_sharers_together() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    let sharer = |name: &str, port: u16| Held {
        request: svc(name)
            .with_sharing_key("k")
            .with_ports([ServicePort::tcp(port)]),
        addresses: vec![ip("10.0.0.3")],
    };
    let restored = a.restore(&[sharer("s1", 80), sharer("s2", 443), sharer("s3", 80)]);
    assert!(restored[0].refused.is_empty() && restored[1].refused.is_empty());
    assert!(matches!(
        restored[2].refused[0].reason,
        AllocationError::PortConflict { .. }
    ));
}

#[test]
fn restore_refuses_addresses_outside_every_pool() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30", "2001:db8::/126"])]);
    let request = dual(svc("s1"), IpFamilyPolicy::RequireDualStack);
    let held = [Held {
        request: request.clone(),
        addresses: vec![ip("2001:db8::1"), ip("192.0.2.1")],
    }];
    let restored = a.restore(&held);
    assert_eq!(
        restored[0].kept,
        Some(Assignment {
            pool: "default".into(),
            addresses: vec![ip("2001:db8::1")]
        })
    );
    assert_eq!(
        restored[0].refused[0].reason,
        AllocationError::NotInAnyPool {
            ip: ip("192.0.2.1")
        }
    );
    // Assigning then fills in the missing family and keeps the IPv6 address.
    assert_eq!(give(&mut a, &request), ["10.0.0.0", "2001:db8::1"]);
}

#[test]
fn restart_from_statuses_reproduces_the_assignment() {
    let pools = vec![pool("default", &["10.0.0.0/29", "2001:db8::/125"])];
    let mut a = allocator(pools.clone());
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
    for r in &requests {
        give(&mut a, r);
    }
    a.release(&key("s1"));
    let held: Vec<Held> = requests
        .iter()
        .filter_map(|r| {
            a.assignment(&r.key).map(|got| Held {
                request: r.clone(),
                addresses: got.addresses,
            })
        })
        .collect();
    let mut b = allocator(pools);
    let rebuild = b.rebuild(&held, &[]);
    for ((key, result), h) in rebuild.assigned.iter().zip(&held) {
        assert_eq!(result.as_ref().unwrap().addresses, h.addresses, "{key}");
    }
    assert_eq!(give(&mut b, &svc("s5")), give(&mut a, &svc("s5")));
}

#[test]
fn pool_change_that_orphans_an_address_is_detected() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30", "10.0.1.0/30"])]);
    give(&mut a, &svc("s1"));
    give(&mut a, &svc("s2").with_requested_ips([ip("10.0.1.1")]));
    let shrunk = vec![pool("default", &["10.0.0.0/30"])];
    let orphans = a.would_orphan(&shrunk).unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0].key, key("s2"));
    assert_eq!(orphans[0].ip, ip("10.0.1.1"));
    assert_eq!(orphans[0].reason, OrphanReason::NotInAnyPool);
    let err = a.set_pools(shrunk).unwrap_err();
    assert!(matches!(err, PoolChangeError::WouldOrphan { .. }), "{err}");
    // Nothing changed.
    assert_eq!(a.pool_of(ip("10.0.1.1")), Some("default"));
    assert_eq!(a.holders(ip("10.0.1.1")), &[key("s2")]);
}

#[test]
fn pool_change_to_avoid_buggy_ips_orphans_a_held_dot_zero() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    give(&mut a, &svc("s1"));
    let orphans = a
        .would_orphan(&[pool("default", &["10.0.0.0/30"]).with_avoid_buggy_ips(true)])
        .unwrap();
    assert_eq!(
        orphans.iter().map(|o| o.reason.clone()).collect::<Vec<_>>(),
        vec![OrphanReason::Avoided {
            pool: "default".into()
        }]
    );
}

#[test]
fn pool_change_that_splits_a_dual_stack_service_is_detected() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30", "2001:db8::/126"])]);
    give(&mut a, &dual(svc("s1"), IpFamilyPolicy::RequireDualStack));
    let split = [
        pool("default", &["10.0.0.0/30"]),
        pool("v6", &["2001:db8::/126"]),
    ];
    let orphans = a.would_orphan(&split).unwrap();
    assert!(matches!(
        orphans[0].reason,
        OrphanReason::SplitAcrossPools { .. }
    ));
}

#[test]
fn pool_change_that_keeps_every_address_is_accepted() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    give(&mut a, &svc("s1"));
    give(&mut a, &svc("s2"));
    a.release(&key("s1"));
    a.set_pools(vec![
        pool("renamed", &["10.0.0.1-10.0.0.2"]),
        pool("default", &["10.0.5.0/30"]),
    ])
    .unwrap();
    assert_eq!(a.assignment(&key("s2")).unwrap().pool, "renamed");
    // The held address is still taken under the new pools.
    assert_eq!(give(&mut a, &svc("s3").with_pool("renamed")), ["10.0.0.2"]);
    assert_eq!(give(&mut a, &svc("s4")), ["10.0.5.0"]);
}

#[test]
fn invalid_pools_are_refused_without_change() {
    let mut a = allocator(vec![pool("default", &["10.0.0.0/30"])]);
    let err = a
        .set_pools(vec![
            pool("a", &["10.0.0.0/30"]),
            pool("b", &["10.0.0.2/31"]),
        ])
        .unwrap_err();
    assert!(matches!(err, PoolChangeError::Invalid(_)), "{err}");
    assert_eq!(
        a.pools().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["default"]
    );
}

#[test]
fn large_ipv6_pool_is_not_materialised() {
    let mut a = allocator(vec![pool("default", &["2001:db8::/64", "8000::/1"])]);
    let request = |n: &str| svc(n).with_families([IpFamily::V6], IpFamilyPolicy::SingleStack);
    assert_eq!(give(&mut a, &request("s1")), ["2001:db8::"]);
    assert_eq!(
        give(
            &mut a,
            &request("s2").with_requested_ips([ip("2001:db8::ffff:ffff:ffff:ffff")])
        ),
        ["2001:db8::ffff:ffff:ffff:ffff"]
    );
    let usage = a.usage();
    assert_eq!(usage[0].in_use, 2);
    assert_eq!(usage[0].capacity, (1u128 << 127) + (1u128 << 64));
}

#[test]
fn usage_counts_a_shared_address_once() {
    let mut a = allocator(vec![
        pool("default", &["10.0.0.0/24"]).with_avoid_buggy_ips(true),
    ]);
    for (name, port) in [("s1", 1), ("s2", 2)] {
        give(
            &mut a,
            &svc(name)
                .with_sharing_key("k")
                .with_ports([ServicePort::tcp(port)]),
        );
    }
    give(&mut a, &svc("s3"));
    let usage = a.usage();
    assert_eq!(usage.len(), 1);
    assert_eq!((usage[0].in_use, usage[0].capacity), (2, 254));
}

#[test]
fn error_reasons_read_as_event_messages() {
    let cases = [
        (
            AllocationError::AddressInUse {
                ip: ip("10.0.0.1"),
                holder: ServiceKey::new("shop", "web"),
            },
            "address 10.0.0.1 is in use by Service shop/web and the two do not both allow sharing",
        ),
        (
            AllocationError::PortConflict {
                ip: ip("10.0.0.1"),
                holder: ServiceKey::new("shop", "web"),
                port: ServicePort::tcp(443),
            },
            "port TCP/443 on address 10.0.0.1 is already used by Service shop/web",
        ),
        (
            AllocationError::AutoAssignExhausted {
                pools: vec!["default".into(), "b".into()],
                family: IpFamily::V6,
            },
            "no free IPv6 address left in the auto-assign pools default, b",
        ),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
}
