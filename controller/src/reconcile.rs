//! The Service reconciler: `reconcile(service, ctx) -> Result<Action>` and `error_policy`.
//!
//! The decision is [`crate::plan::plan`] (pure, under the allocator's lock); this module
//! carries it out: the status by server-side apply on the `status` subresource under the
//! field manager `herald-controller`, then the Event. Only the Lease holder runs it.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::{Instrument, info, info_span, warn};

use crate::context::Context;
use crate::error::{Error, backoff};
use crate::plan::{Outcome, PlanInputs, plan};
use crate::reasons;
use crate::status::{self, FIELD_MANAGER};
use crate::trigger::Trigger;
use herald_core::ServiceKey;
use herald_core::service::service_key;

/// Reconciles one Service.
pub async fn reconcile(service: Arc<Service>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = service_key(&service)?;
    let span = info_span!("service", namespace = %key.namespace, service = %key.name);
    let result = reconcile_service(&service, &ctx, &key)
        .instrument(span)
        .await;
    ctx.metrics
        .reconciled(result.as_ref().err().map(Error::label));
    if result.is_ok() {
        ctx.state
            .retries
            .reset_attempts(&ObjectRef::from_obj(service.as_ref()));
    }
    result
}

/// Transient errors are retried with per-Service exponential backoff; permanent ones wait
/// for the Service to change (or, for a full pool or a taken address, for a release).
pub fn error_policy(service: Arc<Service>, error: &Error, ctx: Arc<Context>) -> Action {
    if error.is_transient() {
        let attempt = ctx
            .state
            .retries
            .bump_attempts(ObjectRef::from_obj(service.as_ref()));
        let delay = backoff(attempt);
        warn!(
            ns = service.namespace().unwrap_or_default(),
            name = service.name_any(),
            %error,
            retry_in_s = delay.as_secs(),
            "reconcile failed; will retry"
        );
        Action::requeue(delay)
    } else {
        Action::await_change()
    }
}

async fn reconcile_service(
    service: &Service,
    ctx: &Context,
    key: &ServiceKey,
) -> Result<Action, Error> {
    if !ctx.state.is_leader() {
        return Err(Error::NotLeader);
    }
    let write_ip_mode = ctx.state.write_ip_mode();
    let plan = {
        let mut brain = ctx.state.brain();
        let brain = &mut *brain;
        let (Some(config), Some(allocator)) = (brain.config.as_deref(), brain.allocator.as_mut())
        else {
            return Err(Error::NotReady);
        };
        let inputs = PlanInputs {
            lb_class: &ctx.settings.lb_class,
            config,
            write_ip_mode,
        };
        let plan = plan(service, allocator, inputs)?;
        ctx.metrics.set_usage(&allocator.usage());
        plan
    };

    let wrote = match plan.write {
        Some(ingress) => {
            write_status(ctx, key, ingress).await?;
            true
        }
        None => false,
    };

    let regarding = service.object_ref(&());
    match plan.outcome {
        Outcome::Ignored | Outcome::Unchanged(_) => Ok(Action::await_change()),
        Outcome::Allocated {
            assignment,
            previous,
            proxy_bypassed,
        } => {
            let addresses = join(&assignment.addresses);
            info!(%addresses, pool = %assignment.pool, "allocated");
            // Before IPAllocated: once that Event is out, so is this one.
            if proxy_bypassed {
                warn!(%addresses, "proxied, but the API server has no ingress ipMode: kube-proxy intercepts the traffic");
                ctx.publish(
                    &regarding,
                    EventType::Warning,
                    reasons::PROXY_BYPASSED,
                    "Allocate",
                    format!(
                        "Herald's proxy should serve [{addresses}], but the API server has no \
                         status.loadBalancer.ingress[].ipMode (Kubernetes < 1.29): kube-proxy on \
                         every node intercepts traffic to the address and sends it to the \
                         endpoints directly (no TLS termination by Herald)"
                    ),
                )
                .await;
            }
            ctx.publish(
                &regarding,
                EventType::Normal,
                reasons::IP_ALLOCATED,
                "Allocate",
                format!("Assigned IP [{addresses}] from pool {}", assignment.pool),
            )
            .await;
            if previous.iter().any(|ip| !assignment.addresses.contains(ip)) {
                ctx.state.trigger(Trigger::RetryPending);
            }
            Ok(Action::await_change())
        }
        Outcome::Released { addresses } => {
            let addresses = join(&addresses);
            info!(%addresses, "released: no longer a LoadBalancer Service of ours");
            if wrote {
                ctx.publish(
                    &regarding,
                    EventType::Normal,
                    reasons::IP_RELEASED,
                    "Release",
                    format!("Released IP [{addresses}]"),
                )
                .await;
            }
            ctx.state.trigger(Trigger::RetryPending);
            Ok(Action::await_change())
        }
        Outcome::Failed(error) => {
            warn!(reason = error.label(), %error, "no address");
            ctx.publish(
                &regarding,
                EventType::Warning,
                reasons::ALLOCATION_FAILED,
                "Allocate",
                format!("Failed to allocate IP: {error}"),
            )
            .await;
            if error.may_clear_up() {
                ctx.state.retries.add_pending(ObjectRef::from_obj(service));
            }
            Err(Error::Plan(error))
        }
    }
}

/// Applies `ingress` to the Service's status. Falls back to writing without `ipMode` when
/// the server turns out not to have it (refuses it, or silently drops it).
async fn write_status(
    ctx: &Context,
    key: &ServiceKey,
    ingress: Vec<LoadBalancerIngress>,
) -> Result<(), Error> {
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let with_mode = ingress.iter().any(|i| i.ip_mode.is_some());
    // The leader check right before the write: a replica that lost the Lease while
    // planning must not write.
    if !ctx.state.is_leader() {
        return Err(Error::NotLeader);
    }
    match api
        .patch_status(
            &key.name,
            &params,
            &Patch::Apply(status::status_patch(key, ingress.clone())),
        )
        .await
    {
        Ok(written) => {
            if with_mode
                && status::current_ingress(&written)
                    .iter()
                    .all(|i| i.ip_mode.is_none())
            {
                warn!("the API server dropped ingress ipMode; no longer writing it");
                ctx.state.disable_ip_mode();
            }
            Ok(())
        }
        Err(kube::Error::Api(reply))
            if with_mode && status::is_unknown_ip_mode_error(&reply.message) =>
        {
            warn!(message = %reply.message, "the API server has no ingress ipMode; writing without it");
            ctx.state.disable_ip_mode();
            if !ctx.state.is_leader() {
                return Err(Error::NotLeader);
            }
            let ingress = status::without_ip_mode(ingress);
            api.patch_status(
                &key.name,
                &params,
                &Patch::Apply(status::status_patch(key, ingress)),
            )
            .await
            .map(drop)
            .map_err(Error::Kube)
        }
        Err(error) => Err(Error::Kube(error)),
    }
}

fn join(addresses: &[std::net::IpAddr]) -> String {
    addresses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
