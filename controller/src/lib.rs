//! IP allocation (pure `allocator` module) and the Kubernetes reconciler.

pub mod allocator;
