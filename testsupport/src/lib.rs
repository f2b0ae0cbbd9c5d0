//! `herald-testsupport`: what Herald's tests and benchmarks share, so no test crate copies
//! another's helpers or includes its files by path. A dev-dependency only: nothing here
//! is compiled into a binary.
//!
//! - [`fixtures`]: Kubernetes objects for unit and integration tests.

pub mod fixtures;
