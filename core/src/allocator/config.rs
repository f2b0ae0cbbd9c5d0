//! From the validated `herald-config` model to the allocator's pool specs.

use super::pool::{AddressRange, PoolSpec};

impl From<&herald_config::AddressBlock> for AddressRange {
    fn from(block: &herald_config::AddressBlock) -> Self {
        // A block's ends are of one family and in order; `herald-config` checked that.
        AddressRange::from_bounds(block.first(), block.last())
    }
}

impl From<&herald_config::Pool> for PoolSpec {
    fn from(pool: &herald_config::Pool) -> Self {
        PoolSpec {
            name: pool.name.clone(),
            addresses: pool.addresses.iter().map(AddressRange::from).collect(),
            auto_assign: pool.auto_assign,
            avoid_buggy_ips: pool.avoid_buggy_ips,
        }
    }
}

/// The allocator's pools for a config, in config order.
pub fn pools_from_config(config: &herald_config::Config) -> Vec<PoolSpec> {
    config.pools.iter().map(PoolSpec::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceKey;
    use crate::allocator::{Allocator, ServiceRequest};

    #[test]
    fn config_pools_become_allocator_pools_in_order() {
        let config = herald_config::Config::from_yaml(
            "address-pools:\n\
             - name: extra\n  protocol: bgp\n  addresses: [10.0.1.0/24]\n  auto-assign: false\n\
             - name: default\n  protocol: layer2\n  \
               addresses: [192.168.197.0/24, '10.0.0.10-10.0.0.20', '2001:db8:197::/120']\n  \
               avoid-buggy-ips: true\n",
        )
        .expect("config is valid");
        let pools = pools_from_config(&config);
        let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["extra", "default"]);
        assert!(!pools[0].auto_assign);
        assert!(pools[1].auto_assign && pools[1].avoid_buggy_ips);
        let ranges: Vec<String> = pools[1].addresses.iter().map(ToString::to_string).collect();
        assert_eq!(
            ranges,
            [
                "192.168.197.0-192.168.197.255",
                "10.0.0.10-10.0.0.20",
                "2001:db8:197::-2001:db8:197::ff"
            ]
        );

        let mut allocator = Allocator::new(pools).expect("config pools are valid");
        let got = allocator
            .assign(&ServiceRequest::new(ServiceKey::new("ns", "web")))
            .expect("an address is free");
        assert_eq!(got.pool, "default");
        assert_eq!(
            got.addresses,
            ["10.0.0.10".parse::<std::net::IpAddr>().expect("ip")]
        );
    }
}
