//! Carries an [`L2Plan`] out with `vrrp::driver::Instance`s: new instances started on
//! the [`Segment`] of their interface and family (one receive socket for all of them),
//! changed ones updated in place (`Instance::update`: priority and addresses, no
//! hand-over), removed ones stopped gracefully (priority 0, so a backup takes over at
//! once). Interfaces are cleared of a previous run's leftovers
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
use vrrp::driver::{
    DriverError, Instance, Options, Segment, SegmentStatus, Status, primary_address, remove_stale,
};
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

/// A segment's receive counters as `/status` and the metrics read them.
#[derive(Debug, Clone)]
pub struct SegmentHandle {
    pub interface: String,
    pub family: IpFamily,
    pub status: watch::Receiver<SegmentStatus>,
}

/// Owns this node's VRRP instances.
#[derive(Debug, Default)]
pub struct L2Driver {
    running: BTreeMap<InstanceKey, Running>,
    /// One per (interface, family) an instance ran on; kept open (one socket each).
    segments: BTreeMap<(String, IpFamily), Segment>,
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

    /// The segments' receive counters.
    pub fn segments(&self) -> Vec<SegmentHandle> {
        self.segments
            .iter()
            .map(|((interface, family), segment)| SegmentHandle {
                interface: interface.clone(),
                family: *family,
                status: segment.status(),
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
                Err((running, plan)) => {
                    // Refused in place (e.g. the address owner's priority 255 gained or
                    // lost): a new instance.
                    stop(running, "reconfigured").await;
                    self.start(plan, &mut failures);
                }
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
        match self.start_on_segment(plan) {
            Ok(running) => {
                self.running.insert(key, running);
            }
            Err(failure) => failures.push(failure),
        }
    }

    /// Starts `plan` on its segment, opening the segment (or opening it again when the
    /// interface's primary address changed) as needed.
    fn start_on_segment(&mut self, plan: InstancePlan) -> Result<Running, StartFailure> {
        let key = plan.key();
        let failure = |error: DriverError| {
            warn!(ifname = %plan.interface, vrid = plan.vrid, family = %plan.family, %error, "VRRP instance not started");
            StartFailure {
                key: key.clone(),
                error: error.to_string(),
            }
        };
        let primary = primary_address(&plan.interface, family(plan.family)).map_err(failure)?;
        let segment_key = (plan.interface.clone(), plan.family);
        if self
            .segments
            .get(&segment_key)
            .is_some_and(|segment| segment.primary() != primary)
        {
            // Instances still running on the old one keep it alive until they stop.
            self.segments.remove(&segment_key);
        }
        let segment = match self.segments.entry(segment_key) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                entry.insert(Segment::open(&plan.interface, primary).map_err(failure)?)
            }
        };
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
        let instance = segment.start_instance(config, options).map_err(failure)?;
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

/// The one place an instance's priority or address list changes: in place, on the
/// running instance (a master keeps its mastership, takes and announces added addresses
/// and drops removed ones). Refused changes give the instance back for a restart.
async fn reconfigure(
    running: Running,
    plan: InstancePlan,
) -> Result<Running, (Running, InstancePlan)> {
    info!(
        ifname = %plan.interface,
        vrid = plan.vrid,
        family = %plan.family,
        priority = plan.priority,
        addresses = plan.addresses.len(),
        "VRRP instance changed"
    );
    let addresses = virtual_addresses(plan.family, &plan.addresses);
    match running.instance.update(plan.priority, addresses).await {
        Ok(()) => Ok(Running {
            plan,
            instance: running.instance,
        }),
        Err(error) => {
            warn!(ifname = %plan.interface, vrid = plan.vrid, %error, "VRRP instance cannot change in place; restarting it");
            Err((running, plan))
        }
    }
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
