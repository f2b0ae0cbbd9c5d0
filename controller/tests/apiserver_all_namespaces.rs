//! Without `--namespace` the controller watches Services in every namespace. This needs an
//! apiserver of its own (started here and stopped at the end): on the shared one it would
//! allocate for the other tests' Services too.

mod support;

use std::path::Path;

use herald_testsupport::apiserver::{TestEnv, TestNamespace};
use support::Controller;

/// Stops the private apiserver when the test ends, pass or fail.
struct Stop<'a>(&'a TestEnv);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_in_every_namespace_get_addresses_from_one_config() {
    let env = TestEnv::start(Path::new(env!("CARGO_TARGET_TMPDIR")).join("kube-testenv-allns"));
    let _stop = Stop(&env);
    let system = TestNamespace::create_in(&env, "herald-system").await;
    let team_a = TestNamespace::create_in(&env, "team-a").await;
    let team_b = TestNamespace::create_in(&env, "team-b").await;
    system
        .set_config("address-pools:\n- {name: default, protocol: bgp, addresses: ['10.65.0.10-10.65.0.19']}\n")
        .await;
    let controller = Controller::start_with(&env, &system.name, "all-a", &[]);

    team_a.create_lb("web", 80).await;
    team_b.create_lb("web", 80).await;
    let a = team_a.wait_for_ingress("web").await;
    let b = team_b.wait_for_ingress("web").await;
    let mut both = [a[0].clone(), b[0].clone()];
    both.sort();
    assert_eq!(both, ["10.65.0.10", "10.65.0.11"]);
    // Events land in each Service's own namespace.
    team_a.wait_for_event("Service", "web", "IPAllocated").await;
    team_b.wait_for_event("Service", "web", "IPAllocated").await;
    // `default/kubernetes` (ClusterIP) is not ours.
    assert!(
        !controller.log().contains("\"service\":\"kubernetes\""),
        "{}",
        controller.log()
    );
    drop(controller);
}
