//! The reasons of the Events the controller publishes (`IPReleased` and the others): the
//! names users filter on, so each is written once. The ConfigMap's refusals
//! (`InvalidConfig`, `ConfigWouldOrphan`) come from [`herald_core::reload::Rejection`].

pub const IP_ALLOCATED: &str = "IPAllocated";
pub const ALLOCATION_FAILED: &str = "AllocationFailed";
pub const IP_RELEASED: &str = "IPReleased";
/// Warning: a proxied Service on an API server without `ingress[].ipMode`, where kube-proxy
/// intercepts traffic to the address before Herald's proxy sees it.
pub const PROXY_BYPASSED: &str = "ProxyBypassed";
pub const CONFIG_LOADED: &str = "ConfigLoaded";
