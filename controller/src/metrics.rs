//! The controller's Prometheus metrics. One [`Registry`] is created in `main` and passed
//! down; [`Metrics`] holds the handles the rest of the controller updates.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use herald_core::IpFamily;
use herald_core::allocator::PoolUsage;
use herald_runtime::metrics::ConfigGauges;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: String,
    pub family: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// Handles to every controller metric.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// `herald_addresses_in_use{pool,family}` (leader only; cleared when not leading).
    pub addresses_in_use: Family<PoolLabels, Gauge<f64, AtomicU64>>,
    /// `herald_addresses_total{pool,family}`: pool capacity.
    pub addresses_total: Family<PoolLabels, Gauge<f64, AtomicU64>>,
    /// `herald_config_loaded`, `herald_config_stale`.
    pub config: ConfigGauges,
    /// `herald_reconcile_total{result="ok|error"}`.
    pub reconcile: Family<ResultLabels, Counter>,
    /// `herald_reconcile_errors_total{reason}`.
    pub reconcile_errors: Family<ReasonLabels, Counter>,
    /// `herald_leader`: 1 while this replica holds the Lease.
    pub leader: Gauge,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            config: ConfigGauges::register(registry),
            ..Self::default()
        };
        registry.register(
            "herald_addresses_in_use",
            "Addresses handed out, per pool and family",
            metrics.addresses_in_use.clone(),
        );
        registry.register(
            "herald_addresses_total",
            "Addresses a pool can hand out, per pool and family",
            metrics.addresses_total.clone(),
        );
        registry.register(
            "herald_reconcile",
            "Service reconciles by result",
            metrics.reconcile.clone(),
        );
        registry.register(
            "herald_reconcile_errors",
            "Service reconcile errors by reason",
            metrics.reconcile_errors.clone(),
        );
        registry.register(
            "herald_leader",
            "1 while this replica holds the leader Lease",
            metrics.leader.clone(),
        );
        metrics
    }

    /// Publishes the allocator's usage, replacing what was there (pools may have gone).
    pub fn set_usage(&self, usage: &[PoolUsage]) {
        self.addresses_in_use.clear();
        self.addresses_total.clear();
        for pool in usage {
            let labels = PoolLabels {
                pool: pool.pool.clone(),
                family: family_label(pool.family).to_owned(),
            };
            // Capacities beyond 2^53 lose precision as f64, which a gauge can live with.
            #[allow(clippy::cast_precision_loss)]
            {
                self.addresses_in_use
                    .get_or_create(&labels)
                    .set(pool.in_use as f64);
                self.addresses_total
                    .get_or_create(&labels)
                    .set(pool.capacity as f64);
            }
        }
    }

    /// Forgets the usage (this replica no longer allocates).
    pub fn clear_usage(&self) {
        self.addresses_in_use.clear();
        self.addresses_total.clear();
    }

    pub fn reconciled(&self, error_reason: Option<&'static str>) {
        match error_reason {
            None => {
                self.reconcile
                    .get_or_create(&ResultLabels { result: "ok" })
                    .inc();
            }
            Some(reason) => {
                self.reconcile
                    .get_or_create(&ResultLabels { result: "error" })
                    .inc();
                self.reconcile_errors
                    .get_or_create(&ReasonLabels { reason })
                    .inc();
            }
        }
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub fn set_config(&self, loaded: bool, stale: bool) {
        self.config.set(loaded, stale);
    }
}

fn family_label(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "ipv4",
        IpFamily::V6 => "ipv6",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_runtime::metrics::encode;

    #[test]
    fn every_documented_metric_is_exported() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        metrics.set_usage(&[PoolUsage {
            pool: "default".into(),
            family: IpFamily::V4,
            in_use: 3,
            capacity: 256,
        }]);
        metrics.reconciled(None);
        metrics.reconciled(Some("pool_exhausted"));
        metrics.set_leader(true);
        metrics.set_config(true, true);
        let text = encode(&registry).expect("encodes");
        for line in [
            "herald_addresses_in_use{pool=\"default\",family=\"ipv4\"} 3.0",
            "herald_addresses_total{pool=\"default\",family=\"ipv4\"} 256.0",
            "herald_config_loaded 1",
            "herald_config_stale 1",
            "herald_reconcile_total{result=\"ok\"} 1",
            "herald_reconcile_total{result=\"error\"} 1",
            "herald_reconcile_errors_total{reason=\"pool_exhausted\"} 1",
            "herald_leader 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        metrics.clear_usage();
        let text = encode(&registry).expect("encodes");
        assert!(!text.contains("herald_addresses_in_use{"));
    }
}
