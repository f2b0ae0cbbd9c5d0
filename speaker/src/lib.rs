//! Per-node speaker: cluster view -> announcement decisions -> BGP, VRRP, proxy drivers.

pub mod admin;
pub mod announce;
pub mod bgp_driver;
pub mod cli;
pub mod events;
pub mod kube_source;
pub mod metrics;
pub mod run;
pub mod standalone;
pub mod view;
