//! Bidirectional Forwarding Detection: RFC 5880 asynchronous mode over UDP, single hop
//! (RFC 5881) and multihop (RFC 5883), for failure detection below the BGP hold time.
//!
//! - [`packet`]: the Control packet codec, pure;
//! - [`fsm`]: one session's state machine and timers, sans-IO;
//! - [`driver`]: one tokio task that runs every session of a speaker over shared sockets.
pub mod driver;
pub mod fsm;
pub mod packet;

pub use driver::{Bfd, BfdStatus, Ports, SessionHandle, SessionKey};
pub use fsm::{Negotiated, StateChange, Timers};
pub use packet::{Diag, State};
