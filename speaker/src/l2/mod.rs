//! L2 mode (DESIGN.md section 7): Service addresses of `layer2` pools, and of `bgp`
//! pools on a node no peer selects, held on the local segment with VRRPv3 among the
//! speakers (and any keepalived routers configured alike).
//!
//! ```text
//!   view + node + host interfaces ──plan (pure)──▶ L2Plan { instances, problems }
//!        │                                               │
//!        │                             driver::L2Driver::apply (start / reconfigure / stop)
//!        ▼                                               ▼
//!   /status, metrics ◀── InstanceHandle (watch<Status>) ◀── vrrp::driver::Instance (own task)
//! ```
//!
//! # Which VRID holds which address
//!
//! (a) **Agreement without shared state.** An address's VRID is a function of the config
//! alone: its offset among the pool's addresses of its family (counted across the
//! pool's blocks in config order, [`plan::family_offset`]) modulo the size of the pool's
//! `vrrp.vrids` range `A-B` (default 1-255), plus `A` ([`plan::vrid`]). VRIDs are per
//! family: IPv4 VRID 7 and IPv6 VRID 7 are two virtual routers. Every node computes the
//! same VRID for an address whatever its view of the Services; an instance's address list
//! is the allocated Service addresses that map to its VRID, so nodes whose views differ
//! for a moment differ only in the list, which the state machine tolerates
//! (`strict_addresses` off: the mismatch is counted, the advert obeyed).
//!
//! (b) **Local policy.** A node runs the instance of a VRID only when it has a serving
//! endpoint of every `Local` Service with an address in it; `Cluster` addresses need only
//! that the node may announce at all (not excluded, network available:
//! [`crate::announce`]'s node rules), and that something serves them. A node that stops
//! being eligible stops the instance gracefully: priority 0, a backup takes over at once.
//! When one VRID holds `Local` Services whose endpoints share no node, nobody may hold
//! it: that is reported (`/status`, a warning) with the advice to widen `vrrp.vrids`.
//!
//! (c) **Spread.** A node's priority in a VRID is `1 + FNV-1a("<node>/<family>/<vrid>")
//! mod 254` ([`plan::priority`]): stable across restarts, within 1-254, and different
//! nodes win different VRIDs, so with `Cluster` policy the masters spread over the nodes.
//! Preemption is on (RFC 5798's default); equal priorities go to the higher primary
//! address, as the RFC says.
//!
//! (d) **Scale.** A pool gives at most `B-A+1` instances per interface and family, so the
//! advert rate is bounded by the VRID count over the advert interval (255 adverts/s
//! at the 1 s default, whatever the number of addresses). Addresses are handed out
//! lowest first, so they spread evenly: 1,000 addresses take 255 instances of 3 or 4
//! addresses each, well under the 255 one advert carries.
//!
//! (e) **keepalived.** Since the mapping depends on the config only, an operator can write
//! a `keepalived.conf` with the same VRID, addresses and advert interval for a router
//! that shares the segment; `/status` lists each instance's interface, family, VRID,
//! priority, state, master and addresses, which is what that file needs.
//!
//! # Interface
//!
//! The pool's `interface`, else the NIC with a subnet holding the address. When there is
//! none, nothing is guessed: the address is not held from this node and the problem is
//! reported (`/status`, a Warning Event on the Service, `herald_l2_problems`).

pub mod driver;
pub mod plan;

pub use driver::{InstanceHandle, L2Driver, SegmentHandle, StartFailure};
pub use plan::{InstanceKey, InstancePlan, L2Plan, L2Problem, plan};

use crate::announce::Reason;

/// What the main loop publishes about L2 mode for `/status` and the metrics.
#[derive(Debug, Clone, Default)]
pub struct L2State {
    /// The running instances.
    pub instances: Vec<InstanceHandle>,
    /// The interfaces' receive sockets (one per interface and family).
    pub segments: Vec<SegmentHandle>,
    pub problems: Vec<L2Problem>,
    pub start_failures: Vec<StartFailure>,
    /// Why the node holds nothing (unknown, excluded, network unavailable).
    pub node_reason: Option<Reason>,
}
