//! Per-node speaker: cluster view -> announcement decisions -> BGP, VRRP, proxy drivers.

pub mod announce;
pub mod standalone;
pub mod view;
