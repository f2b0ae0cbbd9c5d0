//! Per-node speaker: cluster view -> announcement decisions -> BGP, VRRP, proxy drivers.

pub mod admin;
pub mod announce;
pub mod bgp_driver;
pub mod metrics;
pub mod standalone;
pub mod view;
