//! The routes the speaker originates and the UPDATEs each session sends of them. Pure:
//! routes in, messages out; no sockets, no tokio.
//!
//! - `table`: the one `RouteTable` the speaker owns, and the `Delta` a batch of
//!   announce/withdraw calls makes of it;
//! - `outbound`: per-session attributes (AS_PATH, NEXT_HOP, LOCAL_PREF) and the grouping
//!   of prefixes that share them;
//! - `adj_rib_out`: what one Established session has sent (first table with End-of-RIB,
//!   then deltas, and the count of advertised prefixes);
//! - `pack`: UPDATEs of at most the session's message limit (4096 octets, 65535 with
//!   extended messages) from many prefixes that share attributes.

mod adj_rib_out;
mod outbound;
mod pack;
mod table;

pub(crate) use adj_rib_out::AdjRibOut;
pub(crate) use outbound::Outbound;
pub use pack::{pack_announce_v4, pack_announce_v6, pack_withdraw_v4, pack_withdraw_v6};
pub(crate) use table::{Batch, Delta, RouteTable};
