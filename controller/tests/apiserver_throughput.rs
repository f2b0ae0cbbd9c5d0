//! Figures, not timed assertions: how long a few hundred Services take to get addresses
//! from a real API server, and how long a new replica takes to rebuild and carry on.
//! The checks are behaviour (every Service gets a distinct address, a restart changes none).

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use herald_testsupport::apiserver::TestNamespace;
use herald_testsupport::wait::{eventually, eventually_within};
use support::{Controller, LEASE};

const SERVICES: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_services_get_distinct_addresses_and_keep_them_across_a_restart() {
    let ns = TestNamespace::create("bulk").await;
    ns.set_config("address-pools:\n- {name: default, protocol: bgp, addresses: [10.66.0.0/22]}\n")
        .await;
    let mut first = Controller::start(&ns.name, "bulk-a");
    eventually("bulk-a leads", || async {
        (ns.lease_holder(LEASE).await.as_deref() == Some("bulk-a")).then_some(())
    })
    .await;

    let started = Instant::now();
    futures::stream::iter(0..SERVICES)
        .for_each_concurrent(16, |i| {
            let ns = &ns;
            async move {
                ns.create_lb(&format!("svc-{i:03}"), 80).await;
            }
        })
        .await;
    let created = started.elapsed();
    // 300 status writes and 300 Events on a 2-core machine: a deadline for the work, not a
    // timing goal (the figure is printed).
    let statuses = eventually_within(
        Duration::from_secs(180),
        "every Service has an address",
        || async {
            let list = ns.services().list(&Default::default()).await.ok()?;
            let ips: Vec<(String, String)> = list
                .items
                .into_iter()
                .filter_map(|s| {
                    let ip = s.status?.load_balancer?.ingress?.first()?.ip.clone()?;
                    Some((s.metadata.name?, ip))
                })
                .collect();
            (ips.len() == SERVICES).then_some(ips)
        },
    )
    .await;
    let allocated = started.elapsed();
    let distinct: BTreeSet<&String> = statuses.iter().map(|(_, ip)| ip).collect();
    assert_eq!(distinct.len(), SERVICES, "no address given twice");
    eprintln!(
        "{SERVICES} Services: created in {created:.2?} ({:.0}/s), all with addresses after {allocated:.2?} ({:.0}/s end to end)",
        SERVICES as f64 / created.as_secs_f64(),
        SERVICES as f64 / allocated.as_secs_f64(),
    );

    // A crash and a new replica: it waits out the Lease, rebuilds from the statuses, and
    // the next Service gets the next address.
    first.kill();
    let restarted = Instant::now();
    let second = Controller::start(&ns.name, "bulk-b");
    ns.create_lb("after", 80).await;
    let after = ns.wait_for_ingress("after").await;
    eprintln!(
        "new replica after a crash: next Service allocated {:.2?} after start (includes the 3 s Lease expiry)",
        restarted.elapsed()
    );
    assert!(!distinct.contains(&after[0]), "{after:?} was held");
    assert_eq!(after, [format!("10.66.1.{}", SERVICES - 256)]);
    let list = ns.services().list(&Default::default()).await.expect("list");
    for service in list.items {
        let name = service.metadata.name.clone().unwrap_or_default();
        if name == "after" {
            continue;
        }
        let ip = service
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|lb| lb.ingress)
            .and_then(|i| i.into_iter().next())
            .and_then(|i| i.ip);
        let before = statuses
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, ip)| ip.clone());
        assert_eq!(ip, before, "{name} kept its address");
    }
    drop(second);
}
