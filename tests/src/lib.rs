//! Herald's end-to-end harness: builds the lab of `lab/e2e` (an FRR router, N node
//! namespaces each running `herald-speaker --standalone`, backend pods, a client) with the
//! same scripts people run by hand, drives it by rewriting files in the standalone
//! directory and signalling speakers, and reads the results where they matter: FRR's RIB
//! (`vtysh ... json`), the router's kernel FIB (`ip -j route`), HTTP answers through the
//! router (`curl` in the client namespace) and each speaker's `/status`.
//!
//! ```text
//!   test ──▶ lab/e2e/up.sh, ctl.sh, down.sh (HE_PREFIX unique per test)
//!     │          │
//!     │          ├─▶ router ns: zebra + bgpd ◀── eBGP v4+v6 ── node ns ×N: herald-speaker
//!     │          └─▶ client ns ── curl ──▶ router ── ECMP ──▶ node (backend.py)
//!     ├─ write_manifest / service ──▶ $HE_STATE/standalone/*.yaml (every speaker polls it)
//!     └─ fib / rib / curl / status ◀── what the tests assert on
//! ```
//!
//! Needs root, iproute2, FRR (`/usr/lib/frr/{zebra,bgpd}`, `vtysh`), curl and python3.
//! The speaker binary is built with `cargo build -p herald-speaker` when a test starts
//! (a no-op when it is up to date), or taken from `HERALD_SPEAKER_BIN`.

pub mod bench;
pub mod capture;
pub mod frr;
pub mod lab;
pub mod logs;
pub mod speaker_binary;
pub mod steady;

pub use lab::{Family, Lab, LabOptions, Policy};
