//! Property tests: random sequences of assign, release, restart (restore from statuses) and
//! pool changes over small pools, checked against rules written out independently here.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use herald_core::allocator::{
    AddressRange, AllocationError, Allocator, Assignment, Held, IpFamilyPolicy, PoolChangeError,
    PoolSpec, ServiceRequest,
};
use herald_core::{IpFamily, ServiceKey, ServicePort, TrafficPolicy};
use proptest::prelude::*;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address parses")
}

fn range(text: &str) -> AddressRange {
    text.parse().expect("test range parses")
}

/// The pool sets the tests switch between; pool names stay put, addresses come and go.
fn pools(variant: usize) -> Vec<PoolSpec> {
    let default = |ranges: &[&str]| PoolSpec::new("default", ranges.iter().map(|r| range(r)));
    let extra = PoolSpec::new("extra", [range("10.0.1.254-10.0.2.1")]).with_avoid_buggy_ips(true);
    let manual = PoolSpec::new("manual", [range("10.0.3.0/30"), range("2001:db8:1::/127")])
        .with_auto_assign(false);
    let base_default = default(&["10.0.0.0-10.0.0.5", "2001:db8::-2001:db8::3"]);
    // `default` is not first in config order, so "default is tried first" matters.
    match variant {
        0 => vec![extra, base_default, manual],
        1 => vec![
            extra,
            default(&["10.0.0.0-10.0.0.7", "2001:db8::-2001:db8::3"]),
            manual,
        ],
        2 => vec![extra.with_avoid_buggy_ips(false), base_default, manual],
        3 => vec![extra, base_default],
        4 => vec![
            extra,
            default(&["10.0.0.0-10.0.0.2", "2001:db8::-2001:db8::1"]),
            manual,
        ],
        _ => vec![manual.with_auto_assign(true), extra, base_default],
    }
}

const POOL_VARIANTS: usize = 6;

/// Addresses a request may ask for: in pools, avoided, and outside every pool.
const UNIVERSE: &[&str] = &[
    "10.0.0.0",
    "10.0.0.3",
    "10.0.0.5",
    "10.0.0.7",
    "10.0.1.255",
    "10.0.2.0",
    "10.0.2.1",
    "10.0.3.1",
    "2001:db8::1",
    "2001:db8::3",
    "2001:db8:1::1",
    "192.0.2.1",
    "2001:db8:9::1",
];

fn key(i: usize) -> ServiceKey {
    ServiceKey::new("ns", format!("s{i}"))
}

fn request_strategy() -> impl Strategy<Value = ServiceRequest> {
    let families = prop_oneof![
        Just(vec![IpFamily::V4]),
        Just(vec![IpFamily::V6]),
        Just(vec![IpFamily::V4, IpFamily::V6]),
        Just(vec![IpFamily::V6, IpFamily::V4]),
    ];
    let policy = prop_oneof![
        3 => Just(IpFamilyPolicy::SingleStack),
        1 => Just(IpFamilyPolicy::PreferDualStack),
        1 => Just(IpFamilyPolicy::RequireDualStack),
    ];
    let requested = prop_oneof![
        4 => Just(vec![]),
        2 => (0..UNIVERSE.len()).prop_map(|i| vec![ip(UNIVERSE[i])]),
        1 => (0..UNIVERSE.len(), 0..UNIVERSE.len())
            .prop_map(|(i, j)| vec![ip(UNIVERSE[i]), ip(UNIVERSE[j])]),
    ];
    let pool = prop_oneof![
        4 => Just(None),
        1 => Just(Some("default")),
        1 => Just(Some("extra")),
        1 => Just(Some("manual")),
        1 => Just(Some("nope")),
    ];
    let sharing = prop_oneof![Just(None), Just(Some("a")), Just(Some("b"))];
    let ports = proptest::sample::subsequence(
        vec![
            ServicePort::tcp(80),
            ServicePort::tcp(443),
            ServicePort::udp(53),
        ],
        0..=2,
    );
    let backend = prop_oneof![
        2 => Just(None),
        1 => Just(Some("x")),
        1 => Just(Some("y")),
    ];
    (
        0..8usize,
        requested,
        pool,
        sharing,
        ports,
        backend,
        families,
        policy,
    )
        .prop_map(
            |(k, requested, pool, sharing, ports, backend, families, policy)| {
                let mut r = ServiceRequest::new(key(k))
                    .with_requested_ips(requested)
                    .with_ports(ports)
                    .with_families(families, policy);
                r.pool = pool.map(str::to_owned);
                r.sharing_key = sharing.map(str::to_owned);
                if let Some(app) = backend {
                    r = r.with_local_policy([("app", app)]);
                }
                r
            },
        )
}

fn intruder_strategy() -> impl Strategy<Value = (ServiceRequest, Vec<IpAddr>)> {
    (
        request_strategy(),
        proptest::collection::vec(0..UNIVERSE.len(), 1..=2),
    )
        .prop_map(|(mut request, picks)| {
            request.key = ServiceKey::new("ns", "intruder");
            (
                request,
                picks.into_iter().map(|i| ip(UNIVERSE[i])).collect(),
            )
        })
}

#[derive(Debug, Clone)]
enum Op {
    Assign(ServiceRequest),
    Release(usize),
    /// Restart: rebuild a fresh allocator from the statuses, holders in this rotation,
    /// then an intruder whose status claims addresses it may not have.
    Restart(usize, Option<(ServiceRequest, Vec<IpAddr>)>),
    SetPools(usize),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => request_strategy().prop_map(Op::Assign),
        2 => (0..8usize).prop_map(Op::Release),
        1 => (0..8usize, proptest::option::of(intruder_strategy()))
            .prop_map(|(rotation, intruder)| Op::Restart(rotation, intruder)),
        1 => (0..POOL_VARIANTS).prop_map(Op::SetPools),
    ]
}

/// What the test believes: per Service, the request that produced its holding and the
/// holding.
type Model = BTreeMap<ServiceKey, (ServiceRequest, Assignment)>;

fn snapshot(a: &Allocator) -> BTreeMap<ServiceKey, Assignment> {
    a.assignments().map(|(k, v)| (k.clone(), v)).collect()
}

fn pool_containing(pools: &[PoolSpec], ip: IpAddr) -> Option<&PoolSpec> {
    pools
        .iter()
        .find(|p| p.addresses.iter().any(|r| r.contains(ip)))
}

fn buggy(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if matches!(v4.octets()[3], 0 | 255))
}

fn avoided(pool: &PoolSpec, ip: IpAddr) -> bool {
    pool.avoid_buggy_ips && buggy(ip)
}

fn addresses_of(pool: &PoolSpec, family: IpFamily) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for r in pool.addresses.iter().filter(|r| r.family() == family) {
        match (r.first(), r.last()) {
            (IpAddr::V4(first), IpAddr::V4(last)) => {
                out.extend(
                    (u32::from(first)..=u32::from(last)).map(|v| IpAddr::from(v.to_be_bytes())),
                );
            }
            (IpAddr::V6(first), IpAddr::V6(last)) => {
                out.extend(
                    (u128::from(first)..=u128::from(last)).map(|v| IpAddr::from(v.to_be_bytes())),
                );
            }
            _ => unreachable!("ranges are of one family"),
        }
    }
    out.sort();
    out
}

/// The sharing rule, written out: same key on both, same policy and (for Local) selector,
/// no common (protocol, port).
fn may_share(a: &ServiceRequest, b: &ServiceRequest) -> bool {
    let same_key = matches!((&a.sharing_key, &b.sharing_key), (Some(x), Some(y)) if x == y);
    let same_backend = a.traffic_policy == b.traffic_policy
        && (a.traffic_policy == TrafficPolicy::Cluster || a.selector == b.selector);
    let disjoint = a.ports.iter().all(|p| !b.ports.contains(p));
    same_key && same_backend && disjoint
}

/// Whether `request` may take `ip` next to the holders in `model` (itself excluded).
fn available(model: &Model, request: &ServiceRequest, ip: IpAddr) -> bool {
    model
        .iter()
        .filter(|(k, (_, got))| **k != request.key && got.addresses.contains(&ip))
        .all(|(_, (other, _))| may_share(request, other))
}

fn check_state(a: &Allocator, model: &Model, pools: &[PoolSpec]) -> Result<(), TestCaseError> {
    let actual = snapshot(a);
    let expected: BTreeMap<ServiceKey, Assignment> = model
        .iter()
        .map(|(k, (_, got))| (k.clone(), got.clone()))
        .collect();
    prop_assert_eq!(&actual, &expected);

    let mut holders: BTreeMap<IpAddr, Vec<&ServiceRequest>> = BTreeMap::new();
    for (request, got) in model.values() {
        prop_assert!(!got.addresses.is_empty() && got.addresses.len() <= 2);
        let families: BTreeSet<IpFamily> =
            got.addresses.iter().map(|ip| IpFamily::of(*ip)).collect();
        prop_assert_eq!(
            families.len(),
            got.addresses.len(),
            "one address per family"
        );
        for &ip in &got.addresses {
            let pool = pool_containing(pools, ip);
            prop_assert!(
                pool.is_some(),
                "{} holds {} outside every pool",
                request.key,
                ip
            );
            let pool = pool.expect("checked");
            prop_assert_eq!(&pool.name, &got.pool, "address and pool agree");
            prop_assert!(!avoided(pool, ip), "{} holds avoided {}", request.key, ip);
            holders.entry(ip).or_default().push(request);
        }
    }
    for (ip, on_ip) in &holders {
        let mut keys: Vec<ServiceKey> = on_ip.iter().map(|r| r.key.clone()).collect();
        keys.sort();
        prop_assert_eq!(a.holders(*ip), keys);
        for (i, x) in on_ip.iter().enumerate() {
            for y in &on_ip[i + 1..] {
                prop_assert!(
                    may_share(x, y),
                    "{} shared by {} and {} unlawfully",
                    ip,
                    x.key,
                    y.key
                );
            }
        }
    }
    for usage in a.usage() {
        let in_use = holders
            .keys()
            .filter(|ip| IpFamily::of(**ip) == usage.family)
            .filter(|ip| pool_containing(pools, **ip).is_some_and(|p| p.name == usage.pool))
            .count();
        prop_assert_eq!(usage.in_use, in_use as u128, "usage of {}", usage.pool);
    }
    Ok(())
}

/// Checks one successful assignment against the request and the state before it.
fn check_assigned(
    before: &Model,
    pools: &[PoolSpec],
    request: &ServiceRequest,
    got: &Assignment,
) -> Result<(), TestCaseError> {
    let primary = request.ip_families.first().copied().unwrap_or(IpFamily::V4);
    let families: Vec<IpFamily> = got.addresses.iter().map(|ip| IpFamily::of(*ip)).collect();
    match request.ip_family_policy {
        IpFamilyPolicy::SingleStack => prop_assert_eq!(&families, &vec![primary]),
        IpFamilyPolicy::RequireDualStack => {
            prop_assert_eq!(&families, &vec![primary, primary.other()])
        }
        IpFamilyPolicy::PreferDualStack => {
            for f in &families {
                prop_assert!(request.ip_families.contains(f));
            }
        }
    }
    for ip in &request.requested_ips {
        prop_assert!(got.addresses.contains(ip), "requested {} not given", ip);
    }
    if let Some(pool) = &request.pool {
        prop_assert_eq!(pool, &got.pool);
    }
    // An auto-assigned single-stack Service went to the first auto-assign pool, `default`
    // first, that had an address available.
    if request.requested_ips.is_empty()
        && request.pool.is_none()
        && request.ip_family_policy == IpFamilyPolicy::SingleStack
        && !before.contains_key(&request.key)
    {
        let mut order: Vec<&PoolSpec> = pools.iter().filter(|p| p.auto_assign).collect();
        order.sort_by_key(|p| p.name != "default");
        for earlier in order.iter().take_while(|p| p.name != got.pool) {
            for ip in addresses_of(earlier, primary) {
                prop_assert!(
                    avoided(earlier, ip) || !available(before, request, ip),
                    "{} went to {} though {} in {} was available",
                    request.key,
                    got.pool,
                    ip,
                    earlier.name
                );
            }
        }
    }
    // Every address not requested and not already held is the lowest available.
    let held_before = before
        .get(&request.key)
        .map(|(_, got)| got.addresses.clone());
    let pool = pools
        .iter()
        .find(|p| p.name == got.pool)
        .expect("assigned pool exists");
    for &ip in &got.addresses {
        if request.requested_ips.contains(&ip)
            || held_before.as_ref().is_some_and(|h| h.contains(&ip))
        {
            continue;
        }
        for lower in addresses_of(pool, IpFamily::of(ip))
            .into_iter()
            .take_while(|x| *x < ip)
        {
            prop_assert!(
                avoided(pool, lower) || !available(before, request, lower),
                "{} got {} though {} was available",
                request.key,
                ip,
                lower
            );
        }
    }
    Ok(())
}

/// A simple request that fails must have had nowhere to go.
fn check_refused(
    before: &Model,
    pools: &[PoolSpec],
    request: &ServiceRequest,
    error: &AllocationError,
) -> Result<(), TestCaseError> {
    let simple = request.requested_ips.is_empty()
        && request.ip_family_policy == IpFamilyPolicy::SingleStack
        && !before.contains_key(&request.key);
    if !simple {
        return Ok(());
    }
    let family = request.ip_families[0];
    let candidates: Vec<&PoolSpec> = match &request.pool {
        Some(name) => pools.iter().filter(|p| &p.name == name).collect(),
        None => pools.iter().filter(|p| p.auto_assign).collect(),
    };
    for pool in candidates {
        for ip in addresses_of(pool, family) {
            prop_assert!(
                avoided(pool, ip) || !available(before, request, ip),
                "{} refused ({}) though {} in {} was available",
                request.key,
                error,
                ip,
                pool.name
            );
        }
    }
    Ok(())
}

/// The orphans of a pool change, worked out independently.
fn expected_orphans(model: &Model, pools: &[PoolSpec]) -> BTreeSet<(ServiceKey, IpAddr)> {
    let mut out = BTreeSet::new();
    for (key, (_, got)) in model {
        let mut first_pool: Option<&str> = None;
        for &ip in &got.addresses {
            match pool_containing(pools, ip) {
                None => {
                    out.insert((key.clone(), ip));
                }
                Some(pool) if avoided(pool, ip) => {
                    out.insert((key.clone(), ip));
                }
                Some(pool) => match first_pool {
                    Some(first) if first != pool.name => {
                        out.insert((key.clone(), ip));
                    }
                    _ => first_pool = Some(&pool.name),
                },
            }
        }
    }
    out
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut variant = 0;
    let mut a = Allocator::new(pools(variant)).expect("pools are valid");
    let mut model = Model::new();
    for op in ops {
        let current = pools(variant);
        match op {
            Op::Assign(request) => {
                let before_state = snapshot(&a);
                match a.assign(&request) {
                    Ok(got) => {
                        check_assigned(&model, &current, &request, &got)?;
                        model.insert(request.key.clone(), (request.clone(), got.clone()));
                        check_state(&a, &model, &current)?;
                        // Idempotent: a re-run gives the same and changes nothing.
                        let again = a.assign(&request);
                        prop_assert_eq!(again, Ok(got));
                    }
                    Err(error) => {
                        prop_assert_eq!(snapshot(&a), before_state, "failed assign changed state");
                        check_refused(&model, &current, &request, &error)?;
                    }
                }
            }
            Op::Release(k) => {
                let released = a.release(&key(k));
                let expected = model.remove(&key(k)).map(|(_, got)| got);
                prop_assert_eq!(released, expected);
            }
            Op::Restart(rotation, intruder) => {
                // An earlier intruder may hold what its request does not fit; it is left
                // out of this restart (its Service is gone), so every holder below fits.
                model.remove(&ServiceKey::new("ns", "intruder"));
                let mut held: Vec<Held> = model
                    .values()
                    .map(|(request, got)| Held {
                        request: request.clone(),
                        addresses: got.addresses.clone(),
                    })
                    .collect();
                if !held.is_empty() {
                    let n = rotation % held.len();
                    held.rotate_left(n);
                }
                let honest = held.len();
                if let Some((request, addresses)) = intruder {
                    held.retain(|h| h.request.key != request.key);
                    held.push(Held { request, addresses });
                }
                let mut fresh = Allocator::new(current.clone()).expect("pools are valid");
                let rebuild = fresh.rebuild(&held, &[]);
                for (restored, h) in rebuild.restored.iter().zip(&held).take(honest) {
                    prop_assert!(restored.refused.is_empty(), "{:?}", restored.refused);
                    prop_assert_eq!(
                        restored.kept.as_ref().map(|k| &k.addresses),
                        Some(&h.addresses)
                    );
                }
                if let (Some(h), Some((_, result))) =
                    (held.get(honest), rebuild.assigned.get(honest))
                {
                    // Whatever the intruder keeps, check_state below holds it to the rules.
                    // On a failed assign it keeps what restore let it keep.
                    let holds = match result {
                        Ok(got) => Some(got.clone()),
                        Err(_) => rebuild.restored[honest].kept.clone(),
                    };
                    if let Some(got) = holds {
                        model.insert(h.request.key.clone(), (h.request.clone(), got));
                    }
                }
                for ((key, result), h) in rebuild.assigned.iter().zip(&held).take(honest) {
                    let got = result.as_ref();
                    prop_assert!(got.is_ok(), "{} lost its addresses: {:?}", key, got);
                    let got = got.expect("checked");
                    for ip in &h.addresses {
                        prop_assert!(got.addresses.contains(ip), "{} renumbered", key);
                    }
                    // A PreferDualStack holder may have gained its missing family.
                    model.insert(key.clone(), (h.request.clone(), got.clone()));
                }
                a = fresh;
            }
            Op::SetPools(next) => {
                let new = pools(next);
                let expected = expected_orphans(&model, &new);
                let orphans: BTreeSet<(ServiceKey, IpAddr)> = a
                    .would_orphan(&new)
                    .expect("pools are valid")
                    .into_iter()
                    .map(|o| (o.key, o.ip))
                    .collect();
                prop_assert_eq!(&orphans, &expected);
                let before_state = snapshot(&a);
                match a.set_pools(new.clone()) {
                    Ok(()) => {
                        prop_assert!(expected.is_empty());
                        variant = next;
                        prop_assert_eq!(snapshot(&a), before_state, "pool change renumbered");
                    }
                    Err(PoolChangeError::WouldOrphan { .. }) => {
                        prop_assert!(!expected.is_empty());
                        prop_assert_eq!(snapshot(&a), before_state);
                    }
                    Err(error) => prop_assert!(false, "unexpected {error}"),
                }
            }
        }
        check_state(&a, &model, &pools(variant))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_every_allocator_invariant(
        ops in proptest::collection::vec(op_strategy(), 1..60)
    ) {
        run(ops)?;
    }
}
