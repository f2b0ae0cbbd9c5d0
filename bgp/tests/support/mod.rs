//! Harness for the interop tests and lab benchmarks: real routers in network namespaces.
//!
//! Every test builds its own topology with names no other test (or anything else on the
//! machine) uses, and tears down exactly what it built, also when the test panics:
//!
//! ```text
//!   router namespace (hb<N>r)                  node namespace (hb<N>n)
//!   FRR zebra+bgpd | gobgpd | BIRD             Herald's Speaker on a thread that
//!   eth0 172.30.0.1/24  fd00:30::1/64 <-veth-> eth0 172.30.0.2/24  fd00:30::2/64
//!                                              entered the namespace (setns)
//! ```
//!
//! Drop order does the teardown: declare the [`Topology`] first, then the router and the
//! [`NsRuntime`]; locals drop in reverse, so daemons and the runtime go before the
//! namespaces they live in.
//!
//! Router configs come from the templates in `lab/` (shared with the shell runner in
//! `lab/netns/`), with `@NAME@` placeholders filled in here.
#![allow(dead_code, unused_imports)] // each test binary uses a different part of the harness

pub mod bird;
pub mod daemon;
pub mod fib;
pub mod frr;
pub mod gobgp;
pub mod herald;
pub mod netns;
pub mod wait;

pub use herald_testsupport::netns::{NsRuntime, require_program, require_root, run, try_run};
pub use netns::Topology;
pub use wait::{holds_for, wait_until};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// The router's address on the link.
pub const ROUTER4: Ipv4Addr = Ipv4Addr::new(172, 30, 0, 1);
pub const ROUTER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x30, 0, 0, 0, 0, 0, 1);
/// The node's address on the link: where Herald (or the stand-in speaker) runs.
pub const NODE4: Ipv4Addr = Ipv4Addr::new(172, 30, 0, 2);
pub const NODE6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x30, 0, 0, 0, 0, 0, 2);
/// Router AS and the default node AS.
pub const ROUTER_AS: u32 = 64501;
pub const NODE_AS: u32 = 64500;

/// The router's session address of the given family.
pub fn router_addr(v6: bool) -> IpAddr {
    if v6 { ROUTER6.into() } else { ROUTER4.into() }
}

/// The node's session address of the given family.
pub fn node_addr(v6: bool) -> IpAddr {
    if v6 { NODE6.into() } else { NODE4.into() }
}

/// Fills `@NAME@` placeholders; panics if one is left, so a template typo fails loudly.
pub fn render(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("@{name}@"), value);
    }
    if let Some(start) = out.find('@') {
        let rest = &out[start + 1..];
        if let Some(end) = rest.find('@') {
            let name = &rest[..end];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                panic!("template placeholder @{name}@ was not filled");
            }
        }
    }
    out
}

/// Reads a file of the `lab/` directory (router config templates).
pub fn lab_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lab")
        .join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read lab template {}: {e}", path.display()))
}

/// The last `lines` lines of a log file, for failure reports.
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
