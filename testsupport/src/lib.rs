//! `herald-testsupport`: what Herald's tests and benchmarks share, so no test crate copies
//! another's helpers or includes its files by path. A dev-dependency only (and a
//! dependency of the end-to-end harness `herald-e2e`): nothing here is compiled into a
//! binary.
//!
//! - [`fixtures`]: Kubernetes objects for unit and integration tests.
//! - [`wait`]: waiting until a condition holds, with a deadline and a clear message
//!   (blocking and async).
//! - [`ports`]: free TCP ports on loopback.
//! - [`http`]: a bare HTTP GET for the admin servers under test.
//! - [`child`]: our binaries as child processes (log to a file, admin address, SIGTERM,
//!   killed on drop).
//! - [`apiserver`]: a real kube-apiserver shared by the test binaries, and a namespace per
//!   test.
//! - [`hex`]: byte-vector fixtures written as commented hex.
//! - [`source`]: a crate's own source files, for the tests that check its layers.
//! - [`pki`]: test certificates made with the `openssl` CLI.
//! - [`netns`]: a tokio runtime inside a network namespace, commands, and the root and
//!   program checks of tests that run daemons in namespaces (bgp, vrrp).

pub mod apiserver;
pub mod child;
pub mod fixtures;
pub mod hex;
pub mod http;
pub mod netns;
pub mod pki;
pub mod ports;
pub mod source;
pub mod wait;
