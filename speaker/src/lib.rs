//! Per-node speaker: cluster view -> announcement decisions -> BGP, VRRP, proxy drivers.
