//! Per-node speaker: cluster view -> announcement decisions -> BGP, VRRP, proxy drivers.

pub mod admin;
pub mod announce;
pub mod bgp_driver;
pub mod bgp_plan;
pub mod cli;
pub mod events;
pub mod metrics;
pub mod run;
pub mod source;
pub mod view;
