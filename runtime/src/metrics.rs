//! Metrics both binaries export, and the Prometheus text encoding of a registry. Each
//! binary creates one registry in `main` and passes it down; nothing here is global.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// `herald_config_loaded` and `herald_config_stale`, which the controller and the speaker
/// both export.
#[derive(Debug, Clone, Default)]
pub struct ConfigGauges {
    /// 1 once a good config is in force.
    pub loaded: Gauge,
    /// 1 while the config source holds something that was refused (the ConfigMap a bad
    /// config; for the speaker also a bad standalone manifest) and older state is in force.
    pub stale: Gauge,
}

impl ConfigGauges {
    pub fn register(registry: &mut Registry) -> Self {
        let gauges = Self::default();
        registry.register(
            "herald_config_loaded",
            "1 when a valid config is in force",
            gauges.loaded.clone(),
        );
        registry.register(
            "herald_config_stale",
            "1 when a refused config (or other source problem) leaves an older one in force",
            gauges.stale.clone(),
        );
        gauges
    }

    pub fn set(&self, loaded: bool, stale: bool) {
        self.loaded.set(i64::from(loaded));
        self.stale.set(i64::from(stale));
    }
}

/// The registry in Prometheus text form.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_gauges_export_loaded_and_stale() {
        let mut registry = Registry::default();
        let gauges = ConfigGauges::register(&mut registry);
        gauges.set(true, true);
        let text = encode(&registry).expect("encodes");
        assert!(text.contains("herald_config_loaded 1"), "{text}");
        assert!(text.contains("herald_config_stale 1"), "{text}");
        gauges.set(true, false);
        assert!(
            encode(&registry)
                .expect("encodes")
                .contains("herald_config_stale 0")
        );
    }
}
