//! What a peer reports to applications: its state changes and its counters.

use std::net::IpAddr;
use std::time::Instant;

pub use crate::bfd::BfdStatus;
use crate::fsm::SessionState;

/// A peer changed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerEvent {
    pub peer: IpAddr,
    pub state: SessionState,
    pub previous: SessionState,
    pub reason: Option<String>,
}

/// Counters and state of one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStats {
    pub address: IpAddr,
    pub remote_as: u32,
    pub state: SessionState,
    pub established_since: Option<Instant>,
    /// Messages written to the socket.
    pub messages_sent: u64,
    pub messages_received: u64,
    /// UPDATEs written to the socket.
    pub updates_sent: u64,
    pub updates_received: u64,
    /// Prefixes currently advertised on the Established session.
    pub prefixes_sent: u64,
    /// Distinct prefixes the peer currently announces on this session.
    pub prefixes_received: u64,
    pub last_error: Option<String>,
    /// Negotiated hold time of the Established session.
    pub hold_time: Option<u16>,
    /// Messages encoded but not yet written to the socket (0 once everything is out).
    pub pending_messages: u64,
    /// The BFD session with the peer, if configured: state, agreed intervals, flaps.
    pub bfd: Option<BfdStatus>,
}
