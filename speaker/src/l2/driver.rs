//! Carries an [`L2Plan`] out with `vrrp::driver::Instance`s: new instances started,
//! changed ones reconfigured, removed ones stopped gracefully (priority 0, so a backup
//! takes over at once). Interfaces are cleared of a previous run's leftovers
//! (`vrrp::driver::remove_stale`) before the first instance starts on them.
//!
//! Once started, an instance runs on its own task: it never waits on this driver or on
//! the cluster source, so failover goes on while the API server is away.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use futures::future::join_all;
use herald_config::IpFamily;
use tokio::sync::watch;
use tracing::{info, warn};
use vrrp::driver::{DriverError, Instance, Options, Status, primary_address, remove_stale};
use vrrp::fsm::Config;
use vrrp::packet::{Family, VirtualAddresses};

use super::plan::{InstanceKey, InstancePlan, L2Plan, changes};

/// A running instance as `/status` and the metrics read it.
#[derive(Debug, Clone)]
pub struct InstanceHandle {
    pub plan: InstancePlan,
    pub status: watch::Receiver<Status>,
}

/// An instance of the plan that could not be started, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartFailure {
    pub key: InstanceKey,
    pub error: String,
}

#[derive(Debug)]
struct Running {
    plan: InstancePlan,
    instance: Instance,
}

/// Owns this node's VRRP instances.
#[derive(Debug, Default)]
pub struct L2Driver {
    running: BTreeMap<InstanceKey, Running>,
    /// Interfaces already cleared of stale addresses.
    cleared: BTreeSet<String>,
    failures: Vec<StartFailure>,
}

impl L2Driver {
    pub fn new() -> Self {
        Self::default()
    }

    /// The running instances, by key.
    pub fn instances(&self) -> Vec<InstanceHandle> {
        self.running
            .values()
            .map(|running| InstanceHandle {
                plan: running.plan.clone(),
                status: running.instance.status(),
            })
            .collect()
    }

    /// Instances of the last plan that could not be started.
    pub fn failures(&self) -> &[StartFailure] {
        &self.failures
    }

    /// Makes the running instances those of `plan`, touching only what differs. An
    /// instance that failed to start is tried again on the next call.
    pub async fn apply(&mut self, plan: &L2Plan) {
        let planned: BTreeMap<InstanceKey, InstancePlan> = self
            .running
            .iter()
            .map(|(key, running)| (key.clone(), running.plan.clone()))
            .collect();
        let changes = changes(&planned, &plan.instances);
        let mut failures = Vec::new();
        for interface in &plan.interfaces {
            self.clear(interface);
        }

        let stopping: Vec<Running> = changes
            .stop
            .iter()
            .filter_map(|key| self.running.remove(key))
            .collect();
        join_all(
            stopping
                .into_iter()
                .map(|running| stop(running, "no longer planned")),
        )
        .await;

        for plan in changes.restart {
            // The advert interval or the unicast peers changed: a new instance.
            if let Some(running) = self.running.remove(&plan.key()) {
                stop(running, "settings changed").await;
            }
            self.start(plan, &mut failures);
        }
        for plan in changes.reconfigure {
            let key = plan.key();
            let Some(running) = self.running.remove(&key) else {
                continue;
            };
            match reconfigure(running, plan).await {
                Ok(running) => {
                    self.running.insert(key, running);
                }
                Err(failure) => failures.push(failure),
            }
        }
        for plan in changes.start {
            self.start(plan, &mut failures);
        }
        self.failures = failures;
    }

    /// Removes a previous run's addresses from `interface`, once, before any instance
    /// of ours runs there.
    fn clear(&mut self, interface: &str) {
        if !self.cleared.insert(interface.to_owned()) {
            return;
        }
        match remove_stale(interface) {
            Ok(removed) if !removed.is_empty() => {
                info!(ifname = %interface, removed = ?removed, "removed addresses a previous run left behind");
            }
            Ok(_) => {}
            Err(error) => {
                warn!(ifname = %interface, %error, "could not clear stale addresses");
            }
        }
    }

    fn start(&mut self, plan: InstancePlan, failures: &mut Vec<StartFailure>) {
        self.clear(&plan.interface);
        let key = plan.key();
        match start(plan) {
            Ok(running) => {
                self.running.insert(key, running);
            }
            Err(failure) => failures.push(failure),
        }
    }

    /// Stops every instance gracefully, all at once: masters send priority 0 and remove
    /// their addresses.
    pub async fn shutdown(&mut self) {
        let running = std::mem::take(&mut self.running);
        if !running.is_empty() {
            info!(
                instances = running.len(),
                "stopping VRRP instances (priority 0)"
            );
        }
        join_all(
            running
                .into_values()
                .map(|running| stop(running, "the speaker is stopping")),
        )
        .await;
    }
}

/// THE one place an instance's priority or address list changes. Today: a graceful stop
/// and a new instance (a master hands over for a moment, then preempts back if it
/// still wins). With `vrrp::driver::Instance::update(priority, addresses)` this becomes
/// a call on the running instance, without the hand-over.
async fn reconfigure(running: Running, plan: InstancePlan) -> Result<Running, StartFailure> {
    info!(
        ifname = %plan.interface,
        vrid = plan.vrid,
        family = %plan.family,
        priority = plan.priority,
        addresses = plan.addresses.len(),
        "VRRP instance changed"
    );
    stop(running, "reconfigured").await;
    start(plan)
}

fn start(plan: InstancePlan) -> Result<Running, StartFailure> {
    let key = plan.key();
    let failure = |error: DriverError| {
        warn!(ifname = %plan.interface, vrid = plan.vrid, family = %plan.family, %error, "VRRP instance not started");
        StartFailure {
            key: key.clone(),
            error: error.to_string(),
        }
    };
    let primary = primary_address(&plan.interface, family(plan.family)).map_err(failure)?;
    let mut config = Config::new(
        plan.vrid,
        plan.priority,
        primary,
        virtual_addresses(plan.family, &plan.addresses),
    );
    config.advert_interval = plan.advert_interval;
    let options = Options {
        unicast_peers: plan.unicast_peers.clone(),
        ..Options::default()
    };
    let instance = Instance::start(&plan.interface, config, options).map_err(failure)?;
    info!(
        ifname = %plan.interface,
        vrid = plan.vrid,
        family = %plan.family,
        priority = plan.priority,
        %primary,
        addresses = plan.addresses.len(),
        "VRRP instance started"
    );
    Ok(Running { plan, instance })
}

async fn stop(running: Running, why: &'static str) {
    let plan = running.plan;
    match running.instance.shutdown().await {
        Ok(()) => {
            info!(ifname = %plan.interface, vrid = plan.vrid, family = %plan.family, why, "VRRP instance stopped");
        }
        Err(error) => {
            warn!(ifname = %plan.interface, vrid = plan.vrid, family = %plan.family, why, %error, "VRRP instance did not stop cleanly");
        }
    }
}

fn family(family: IpFamily) -> Family {
    match family {
        IpFamily::V4 => Family::Ipv4,
        IpFamily::V6 => Family::Ipv6,
    }
}

fn virtual_addresses(family: IpFamily, addresses: &[IpAddr]) -> VirtualAddresses {
    match family {
        IpFamily::V4 => VirtualAddresses::V4(
            addresses
                .iter()
                .filter_map(|a| match a {
                    IpAddr::V4(v4) => Some(*v4),
                    IpAddr::V6(_) => None,
                })
                .collect(),
        ),
        IpFamily::V6 => VirtualAddresses::V6(
            addresses
                .iter()
                .filter_map(|a| match a {
                    IpAddr::V6(v6) => Some(*v6),
                    IpAddr::V4(_) => None,
                })
                .collect(),
        ),
    }
}
