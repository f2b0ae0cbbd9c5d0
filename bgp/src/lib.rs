//! `bgp`: a BGP-4 speaker library for originating routes.
//!
//! Herald announces Service addresses; it never imports routes. This crate therefore
//! speaks full BGP-4 on the wire (RFC 4271 with 4-octet AS, MP-BGP, route refresh,
//! graceful restart, communities, large communities, RFC 7606 error handling) and
//! decodes, counts and drops what peers send.
//!
//! Layers, from the wire up:
//! - [`packet`]: the codec, pure;
//! - [`fsm`]: the RFC 4271 session state machine, sans-IO;
//! - `session`: the tokio driver that carries out the FSM's outputs on TCP sockets;
//! - `speaker`: the [`Speaker`] handle applications use;
//! - [`sockopt`]: the two socket options that need `setsockopt` by hand (MD5, GTSM).
//!
//! Tasks and channels (all on the caller's tokio runtime):
//!
//! ```text
//!  Speaker handles (Clone) ── announce / withdraw / add_peer / update_peer /
//!        │                    remove_peer / stats / shutdown
//!        │  mpsc unbounded (CoreCommand)
//!        ▼
//!  ┌──────────────┐  mpsc unbounded (Incoming socket)  ┌───────────────┐
//!  │  core task   │◄───────────────────────────────────│ listener task │ (if listen)
//!  │ route table, │                                    └───────────────┘
//!  │ peer registry│◄─────── mpsc unbounded (table request: "send me the table")
//!  └──────┬───────┘                                                         ▲
//!         │ per peer: mpsc unbounded (PeerCommand: Changes(delta), Table,   │
//!         │           Incoming, Stats, Stop)                                │
//!         ▼                                                                 │
//!  ┌──────────────────────────┐ ────────────────────────────────────────────┘
//!  │ peer task  peer{addr,asn}│── broadcast (PeerEvent) ──► Speaker::events()
//!  │ fsm::Fsm, timers,        │
//!  │ connect attempt, UPDATE  │
//!  │ packing per session      │
//!  └──┬────────────────────▲──┘
//!     │ mpsc unbounded     │ mpsc bounded (ConnEvent: frames, invalid, closed)
//!     │ (encoded chunks)   │
//!     ▼                    │
//!  writer task          reader task          one pair per TCP connection
//!  (write half)         (read half, frame_len)
//! ```

pub mod fsm;
pub mod packet;
pub mod rib;
mod session;
pub mod sockopt;
mod speaker;

mod config;
mod route;
mod status;

pub use config::{PeerConfig, PeerConfigProblem, SpeakerConfig};
pub use fsm::SessionState;
pub use ipnet::IpNet;
pub use packet::{Community, LargeCommunity, Origin};
pub use route::RouteAttributes;
pub use speaker::{Speaker, SpeakerError};
pub use status::{PeerEvent, PeerStats};
