//! `bgp`: a BGP-4 speaker library for originating routes.
//!
//! Herald announces Service addresses; it never imports routes. This crate therefore
//! speaks full BGP-4 on the wire (RFC 4271 with 4-octet AS, MP-BGP, route refresh,
//! graceful restart, extended messages, communities, large communities, RFC 7606 error
//! handling) and decodes, counts and drops what peers send.
//!
//! Layers, from the wire up. Each uses only the layers listed before it, never one listed
//! after it (`tests/layers.rs` checks this):
//! - [`packet`]: the codec, pure. Inside it, `capability` (the capability TLVs) is used
//!   by both the OPEN codec and the error-to-NOTIFICATION mapping;
//! - [`fsm`]: the RFC 4271 session state machine, sans-IO; beside it [`bfd`] (RFC 5880:
//!   codec, sans-IO session state machine, and one driver task for every BFD session),
//!   which the peer tasks of `session` use to end a BGP session as soon as its path fails;
//! - [`rib`]: the routes we originate and what each session sends of them (route table,
//!   deltas, per-session Adj-RIB-Out, UPDATE packing), pure;
//! - `session`: the tokio driver of one peer: carries out the FSM's outputs on TCP
//!   sockets and writes the UPDATEs its `rib::AdjRibOut` makes;
//! - `speaker`: the [`Speaker`] handle applications use, and the core task behind it,
//!   which owns the `rib::RouteTable`.
//!
//! Beside them, at the crate root, the values applications exchange with the speaker:
//! `config` ([`SpeakerConfig`], [`PeerConfig`]), `route` ([`RouteAttributes`]) and
//! `status` ([`PeerEvent`], [`PeerStats`]). They use only `packet`, `fsm` and
//! [`sockopt`] (the two socket options that need `setsockopt` by hand: MD5, GTSM), and
//! `rib`, `session` and `speaker` use them.
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
//!  │ connect attempt,         │
//!  │ rib::AdjRibOut (UPDATEs) │
//!  └──┬────────────────────▲──┘
//!     │ mpsc unbounded     │ mpsc bounded (ConnEvent: frames, invalid, closed)
//!     │ (encoded chunks)   │
//!     ▼                    │
//!  writer task          reader task          one pair per TCP connection
//!  (write half)         (read half, frame_len)
//! ```
//!
//! Peers with `PeerConfig::bfd` also hold a BFD session: the core starts one BFD driver
//! task (see `bfd::driver`) with the first such peer; each peer task registers its
//! session there and receives its state changes (mpsc), and a BFD failure ends the BGP
//! session with Cease/BFD Down (`fsm::Input::BfdDown`).

pub mod bfd;
pub mod fsm;
pub mod packet;
pub mod rib;
mod session;
pub mod sockopt;
mod speaker;

mod config;
mod route;
mod status;

pub use bfd::Timers as BfdTimers;
pub use config::{BFD_MIN_INTERVAL, PeerConfig, PeerConfigProblem, SpeakerConfig};
pub use fsm::SessionState;
pub use ipnet::IpNet;
pub use packet::{Community, ExtendedCommunity, LargeCommunity, Origin};
pub use route::RouteAttributes;
pub use speaker::{Speaker, SpeakerError};
pub use status::{BfdStatus, PeerEvent, PeerStats};
