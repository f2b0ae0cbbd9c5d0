//! The reconcile decision for one Service, pure: given the Service, the allocator and the
//! config, what should its status say and which Event tells the user why.
//!
//! The reconciler calls [`plan`] under the allocator's lock and then carries the plan out
//! (status apply, Event) without it.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service};

use crate::status::{self, FIELD_MANAGER};
use herald_core::ServiceKey;
use herald_core::allocator::{AllocationError, Allocator, Assignment};
use herald_core::service::{self, ServiceError};

/// What the plan needs besides the Service and the allocator.
#[derive(Debug, Clone, Copy)]
pub struct PlanInputs<'a> {
    /// `--lb-class`.
    pub lb_class: &'a str,
    /// The active config (for each pool's `ipMode`).
    pub config: &'a herald_config::Config,
    /// Whether the server's schema has `ingress[].ipMode`.
    pub write_ip_mode: bool,
}

/// What to do for one Service.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub key: ServiceKey,
    /// The ingress list to apply, when the status does not already show it (empty clears).
    pub write: Option<Vec<LoadBalancerIngress>>,
    pub outcome: Outcome,
}

/// Why, for the Event, the log and the metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Not Herald's Service, and nothing of Herald's on it.
    Ignored,
    /// It holds these addresses and its status says so.
    Unchanged(Assignment),
    /// It was given addresses that its status does not show yet (`IPAllocated`).
    Allocated {
        assignment: Assignment,
        previous: Vec<IpAddr>,
        /// Herald's proxy should serve it, but the server has no `ipMode`: kube-proxy on
        /// every node intercepts traffic to the address before the proxy sees it
        /// (`ProxyBypassed` Warning).
        proxy_bypassed: bool,
    },
    /// It stopped being Herald's (type or class changed): addresses released and the
    /// status cleared (`IPReleased`).
    Released { addresses: Vec<IpAddr> },
    /// It cannot have addresses (`AllocationFailed`). It keeps what it held, if anything.
    Failed(PlanError),
}

/// Why a Service got no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Request(#[from] ServiceError),
    #[error(transparent)]
    Allocation(#[from] AllocationError),
}

impl PlanError {
    /// Metric label.
    pub fn label(&self) -> &'static str {
        match self {
            PlanError::Request(e) => e.label(),
            PlanError::Allocation(e) => e.label(),
        }
    }

    /// Whether it may clear up without the Service changing: a pool ran out, or another
    /// Service holds the address; worth another try when an address is released.
    pub fn may_clear_up(&self) -> bool {
        match self {
            PlanError::Request(_) => false,
            PlanError::Allocation(e) => e.is_exhaustion() || e.is_conflict(),
        }
    }
}

/// Decides what `service`'s status should be, updating `allocator` (assign or release).
pub fn plan(
    service: &Service,
    allocator: &mut Allocator,
    inputs: PlanInputs<'_>,
) -> Result<Plan, ServiceError> {
    let key = service::service_key(service)?;
    let current = status::current_ingress(service);

    if !service::handles(service, inputs.lb_class) {
        let released = allocator.release(&key);
        let ours = released.is_some() || service::ingress_managed_by(service, FIELD_MANAGER);
        if ours && !current.is_empty() {
            let addresses = service::status_addresses(service);
            return Ok(Plan {
                key,
                write: Some(Vec::new()),
                outcome: Outcome::Released { addresses },
            });
        }
        let outcome = match released {
            Some(assignment) => Outcome::Released {
                addresses: assignment.addresses,
            },
            None => Outcome::Ignored,
        };
        return Ok(Plan {
            key,
            write: None,
            outcome,
        });
    }

    let request = match service::service_request(service) {
        Ok(request) => request,
        Err(error) => {
            return Ok(Plan {
                key,
                write: None,
                outcome: Outcome::Failed(error.into()),
            });
        }
    };
    let mode_of = |assignment: &Assignment| {
        let pool = inputs
            .config
            .pools
            .iter()
            .find(|p| p.name == assignment.pool);
        status::ip_mode_for(pool, service)
    };
    let ingress_of = |assignment: &Assignment| {
        let mode = inputs.write_ip_mode.then(|| mode_of(assignment));
        status::ingress_for(&assignment.addresses, mode)
    };
    let write_unless_shown = |desired: Vec<LoadBalancerIngress>| {
        (!status::status_matches(current, &desired)).then_some(desired)
    };

    match allocator.assign(&request) {
        Ok(assignment) => {
            let write = write_unless_shown(ingress_of(&assignment));
            let outcome = if write.is_some() {
                Outcome::Allocated {
                    proxy_bypassed: !inputs.write_ip_mode
                        && mode_of(&assignment) == status::IpMode::Proxy,
                    assignment,
                    previous: service::status_addresses(service),
                }
            } else {
                Outcome::Unchanged(assignment)
            };
            Ok(Plan {
                key,
                write,
                outcome,
            })
        }
        Err(error) => {
            // On failure the Service keeps what it held; the status must show only that.
            let desired = allocator
                .assignment(&key)
                .map(|held| ingress_of(&held))
                .unwrap_or_default();
            Ok(Plan {
                key,
                write: write_unless_shown(desired),
                outcome: Outcome::Failed(error.into()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ingress_for;
    use herald_core::allocator::{Held, pools_from_config};
    use k8s_openapi::api::core::v1::{LoadBalancerStatus, ServiceStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};

    const CONFIG: &str = "address-pools:\n\
        - {name: default, protocol: bgp, addresses: ['10.0.0.1-10.0.0.2']}\n\
        - {name: proxied, protocol: bgp, addresses: [10.0.9.0/24], auto-assign: false, proxy: {enabled: true}}\n";

    fn config() -> herald_config::Config {
        herald_config::Config::from_yaml(CONFIG).expect("valid config")
    }

    fn allocator(config: &herald_config::Config) -> Allocator {
        Allocator::new(pools_from_config(config)).expect("valid pools")
    }

    use herald_testsupport::fixtures::{ip, lb};

    fn showing(mut service: Service, ingress: Vec<LoadBalancerIngress>) -> Service {
        service.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(ingress),
            }),
            conditions: None,
        });
        service
    }

    fn inputs(config: &herald_config::Config, write_ip_mode: bool) -> PlanInputs<'_> {
        PlanInputs {
            lb_class: "herald.dev/lb",
            config,
            write_ip_mode,
        }
    }

    #[test]
    fn new_service_gets_the_lowest_address_and_a_status_write() {
        let config = config();
        let mut allocator = allocator(&config);
        let planned = plan(&lb("web"), &mut allocator, inputs(&config, false)).expect("named");
        assert_eq!(planned.write, Some(ingress_for(&[ip("10.0.0.1")], None)));
        let Outcome::Allocated {
            assignment,
            previous,
            ..
        } = planned.outcome
        else {
            panic!("allocated: {:?}", planned.outcome);
        };
        assert_eq!(assignment.addresses, vec![ip("10.0.0.1")]);
        assert!(previous.is_empty());
    }

    #[test]
    fn status_that_already_shows_the_assignment_is_not_rewritten() {
        let config = config();
        let mut allocator = allocator(&config);
        let service = showing(lb("web"), ingress_for(&[ip("10.0.0.1")], None));
        let planned = plan(&service, &mut allocator, inputs(&config, false)).expect("named");
        assert_eq!(planned.write, None);
        assert!(matches!(planned.outcome, Outcome::Unchanged(_)));
    }

    #[test]
    fn ip_mode_is_written_when_the_server_has_it() {
        let config = config();
        let mut allocator = allocator(&config);
        let service = showing(lb("web"), ingress_for(&[ip("10.0.0.1")], None));
        let planned = plan(&service, &mut allocator, inputs(&config, true)).expect("named");
        assert_eq!(
            planned.write,
            Some(ingress_for(&[ip("10.0.0.1")], Some(status::IpMode::Vip))),
            "a status without ipMode is brought up to date"
        );

        let mut proxied = lb("tls");
        proxied.metadata.annotations =
            Some([("herald.dev/address-pool".into(), "proxied".into())].into());
        let proxied_plan = plan(&proxied, &mut allocator, inputs(&config, true)).expect("named");
        let written = proxied_plan.write.expect("new address");
        assert_eq!(written[0].ip_mode.as_deref(), Some("Proxy"));
        assert!(
            matches!(
                proxied_plan.outcome,
                Outcome::Allocated {
                    proxy_bypassed: false,
                    ..
                }
            ),
            "a server with ipMode does not bypass the proxy"
        );
    }

    #[test]
    fn a_proxied_service_on_a_server_without_ip_mode_is_flagged_as_bypassed() {
        let config = config();
        let mut allocator = allocator(&config);
        let mut proxied = lb("tls");
        proxied.metadata.annotations =
            Some([("herald.dev/address-pool".into(), "proxied".into())].into());
        let planned = plan(&proxied, &mut allocator, inputs(&config, false)).expect("named");
        assert_eq!(
            planned.write.expect("new address")[0].ip_mode,
            None,
            "no ipMode written to a server that lacks it"
        );
        assert!(matches!(
            planned.outcome,
            Outcome::Allocated {
                proxy_bypassed: true,
                ..
            }
        ));

        let plain = plan(&lb("web"), &mut allocator, inputs(&config, false)).expect("named");
        assert!(
            matches!(
                plain.outcome,
                Outcome::Allocated {
                    proxy_bypassed: false,
                    ..
                }
            ),
            "a Service the proxy does not serve is not flagged"
        );
    }

    #[test]
    fn exhausted_pool_fails_and_leaves_no_ingress() {
        let config = config();
        let mut allocator = allocator(&config);
        for name in ["a", "b"] {
            plan(&lb(name), &mut allocator, inputs(&config, false)).expect("named");
        }
        let planned = plan(&lb("c"), &mut allocator, inputs(&config, false)).expect("named");
        assert_eq!(planned.write, None, "no status to clear");
        let Outcome::Failed(error) = planned.outcome else {
            panic!("failed: {:?}", planned.outcome);
        };
        assert_eq!(error.label(), "pool_exhausted");
        assert!(error.may_clear_up());
    }

    #[test]
    fn s2_cannot_grab_s1s_address_and_its_stale_status_is_cleared() {
        let config = config();
        let mut allocator = allocator(&config);
        let s1 = showing(lb("s1"), ingress_for(&[ip("10.0.0.1")], None));
        let s2 = {
            let mut s = showing(lb("s2"), ingress_for(&[ip("10.0.0.1")], None));
            s.spec.as_mut().expect("spec").load_balancer_ip = Some("10.0.0.1".into());
            s
        };
        let request = service::service_request(&s1).expect("valid");
        allocator.restore(&[Held {
            request,
            addresses: vec![ip("10.0.0.1")],
        }]);
        let planned = plan(&s2, &mut allocator, inputs(&config, false)).expect("named");
        assert_eq!(
            planned.write,
            Some(vec![]),
            "s2's claim on s1's address is cleared"
        );
        let Outcome::Failed(PlanError::Allocation(AllocationError::AddressInUse {
            holder, ..
        })) = planned.outcome
        else {
            panic!("conflict: {:?}", planned.outcome);
        };
        assert_eq!(holder, ServiceKey::new("ns", "s1"));
    }

    #[test]
    fn failed_change_keeps_what_the_service_held() {
        let config = config();
        let mut allocator = allocator(&config);
        plan(&lb("web"), &mut allocator, inputs(&config, false)).expect("named");
        let mut moved = showing(lb("web"), ingress_for(&[ip("10.0.0.1")], None));
        moved.metadata.annotations =
            Some([("herald.dev/address-pool".into(), "missing".into())].into());
        let planned = plan(&moved, &mut allocator, inputs(&config, false)).expect("named");
        assert_eq!(planned.write, None, "the held address stays in the status");
        assert!(matches!(
            planned.outcome,
            Outcome::Failed(PlanError::Allocation(AllocationError::UnknownPool { .. }))
        ));
        assert_eq!(
            allocator
                .assignment(&ServiceKey::new("ns", "web"))
                .map(|a| a.addresses),
            Some(vec![ip("10.0.0.1")])
        );
    }

    #[test]
    fn bad_request_is_a_failure_without_touching_the_status() {
        let config = config();
        let mut allocator = allocator(&config);
        let mut service = showing(lb("web"), ingress_for(&[ip("10.0.0.1")], None));
        service.spec.as_mut().expect("spec").load_balancer_ip = Some("bogus".into());
        let planned = plan(&service, &mut allocator, inputs(&config, false)).expect("named");
        assert_eq!(planned.write, None);
        let Outcome::Failed(error) = planned.outcome else {
            panic!("failed");
        };
        assert!(!error.may_clear_up());
    }

    #[test]
    fn type_change_away_from_load_balancer_releases_and_clears() {
        let config = config();
        let mut allocator = allocator(&config);
        plan(&lb("web"), &mut allocator, inputs(&config, false)).expect("named");
        let mut now_cluster_ip = showing(lb("web"), ingress_for(&[ip("10.0.0.1")], None));
        now_cluster_ip.spec.as_mut().expect("spec").type_ = Some("ClusterIP".into());
        let planned = plan(&now_cluster_ip, &mut allocator, inputs(&config, false)).expect("named");
        assert_eq!(planned.write, Some(vec![]));
        assert_eq!(
            planned.outcome,
            Outcome::Released {
                addresses: vec![ip("10.0.0.1")]
            }
        );
        assert!(allocator.is_empty());
    }

    #[test]
    fn foreign_status_is_left_alone_but_our_leftover_is_cleared() {
        let config = config();
        let mut allocator = allocator(&config);
        let mut foreign = showing(lb("other"), ingress_for(&[ip("192.0.2.1")], None));
        foreign.spec.as_mut().expect("spec").load_balancer_class = Some("other.io/lb".into());
        let plan_foreign = plan(&foreign, &mut allocator, inputs(&config, false)).expect("named");
        assert_eq!(plan_foreign.write, None);
        assert_eq!(plan_foreign.outcome, Outcome::Ignored);

        // Changed type while the controller was down: not in the allocator, but the status
        // is ours by its managed fields.
        let mut leftover = showing(lb("web"), ingress_for(&[ip("10.0.0.2")], None));
        leftover.spec.as_mut().expect("spec").type_ = Some("NodePort".into());
        leftover.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some(FIELD_MANAGER.into()),
            fields_v1: Some(FieldsV1(serde_json::json!({
                "f:status": {"f:loadBalancer": {"f:ingress": {}}}
            }))),
            ..Default::default()
        }]);
        let planned = plan(&leftover, &mut allocator, inputs(&config, false)).expect("named");
        assert_eq!(planned.write, Some(vec![]));
        assert!(matches!(planned.outcome, Outcome::Released { .. }));
    }
}
