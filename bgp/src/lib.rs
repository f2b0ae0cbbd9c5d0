//! `bgp`: a BGP-4 speaker library for originating routes.
//!
//! Herald announces Service addresses; it never imports routes. This crate therefore
//! speaks full BGP-4 on the wire (RFC 4271 with 4-octet AS, MP-BGP, route refresh,
//! graceful restart, communities, large communities, RFC 7606 error handling) and
//! decodes, counts and drops what peers send.
//!
//! Layers, from the wire up:
//! - [`packet`]: the codec, pure;
//! - `fsm`: the RFC 4271 session state machine, sans-IO;
//! - `session`: the tokio driver that carries out the FSM's outputs on a TCP socket;
//! - `speaker`: the [`Speaker`] handle applications use.

pub mod fsm;
pub mod packet;

pub use fsm::SessionState;
