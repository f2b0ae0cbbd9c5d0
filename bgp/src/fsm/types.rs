//! The vocabulary of the state machine: states, inputs, outputs, timers, settings, and
//! the parameters a session negotiated.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::packet::iana::cease_subcode;
use crate::packet::{
    AfiSafi, CodecContext, DecodeError, GracefulRestart, Message, NotificationMsg, UpdateMsg,
};

/// The hold time used until the peer's OPEN arrives (RFC 4271 section 8.2.2 suggests 4 minutes).
pub const LARGE_HOLD_TIME: Duration = Duration::from_secs(240);

/// Session states (RFC 4271 section 8.2.2), ordered from least to most advanced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            SessionState::Idle => "Idle",
            SessionState::Connect => "Connect",
            SessionState::Active => "Active",
            SessionState::OpenSent => "OpenSent",
            SessionState::OpenConfirm => "OpenConfirm",
            SessionState::Established => "Established",
        };
        f.write_str(name)
    }
}

/// A TCP connection, named by the driver. Ids are never reused within one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Who opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We connected to the peer.
    Outgoing,
    /// The peer connected to us.
    Incoming,
}

/// The timers of RFC 4271 section 10. Hold and keepalive timers run per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    ConnectRetry,
    Hold(ConnId),
    Keepalive(ConnId),
}

/// Why we stop a session by hand; each but `GracefulRestart` is a Cease subcode (RFC 4486).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopReason {
    AdministrativeShutdown,
    PeerDeconfigured,
    AdministrativeReset,
    OtherConfigurationChange,
    /// We are about to restart: close without a NOTIFICATION, so that a peer that
    /// negotiated graceful restart keeps our routes for the restart time (RFC 4724 section 4.2).
    GracefulRestart,
}

impl StopReason {
    /// The NOTIFICATION that announces the stop, if any.
    pub fn notification(self) -> Option<NotificationMsg> {
        let subcode = match self {
            StopReason::AdministrativeShutdown => cease_subcode::ADMINISTRATIVE_SHUTDOWN,
            StopReason::PeerDeconfigured => cease_subcode::PEER_DECONFIGURED,
            StopReason::AdministrativeReset => cease_subcode::ADMINISTRATIVE_RESET,
            StopReason::OtherConfigurationChange => cease_subcode::OTHER_CONFIGURATION_CHANGE,
            StopReason::GracefulRestart => return None,
        };
        Some(NotificationMsg::cease(subcode))
    }
}

/// The settings of one peer that the state machine needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsmConfig {
    pub local_as: u32,
    pub remote_as: u32,
    pub router_id: Ipv4Addr,
    /// Proposed hold time in seconds: 0, or 3 and more.
    pub hold_time: u16,
    /// Keepalive interval in seconds; `None` = a third of the negotiated hold time.
    pub keepalive: Option<u16>,
    /// Base of the connect-retry backoff.
    pub connect_retry: Duration,
    /// Never connect; wait for the peer to connect to us.
    pub passive: bool,
    /// Families we announce in OPEN (RFC 4760).
    pub families: Vec<AfiSafi>,
    /// Restart time to advertise in the graceful restart capability (RFC 4724).
    pub graceful_restart: Option<u16>,
    /// Seed of the connect-retry jitter.
    pub jitter_seed: u64,
}

/// One event for the state machine.
// An input lives for one call to `handle`; boxing the message would only add an
// allocation per received message.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// RFC 4271 event 1 (or 5 for a passive peer).
    ManualStart,
    /// RFC 4271 event 2.
    ManualStop(StopReason),
    /// Our connection attempt succeeded (events 16/17).
    TcpConnected {
        conn: ConnId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Our connection attempt failed (event 18 before a connection existed).
    TcpConnectFailed,
    /// The peer connected to us (event 14/15/17).
    TcpAccepted {
        conn: ConnId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// A connection was closed or reset by the peer (event 18).
    TcpClosed {
        conn: ConnId,
    },
    MessageReceived {
        conn: ConnId,
        message: Message,
    },
    /// The bytes on `conn` did not decode (events 21, 22, 28).
    DecodeFailed {
        conn: ConnId,
        error: DecodeError,
    },
    TimerExpired(Timer),
    /// The BFD session with the peer went from Up to Down (RFC 5882 section 10.2).
    BfdDown,
}

/// One thing for the driver to do or to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Start a TCP connection to the peer, replacing any attempt in progress.
    Connect,
    /// Give up the attempt in progress.
    AbortConnect,
    Send {
        conn: ConnId,
        message: Message,
    },
    /// Flush what was sent on `conn`, then close it.
    Close {
        conn: ConnId,
    },
    StartTimer {
        timer: Timer,
        after: Duration,
    },
    StopTimer(Timer),
    StateChanged {
        from: SessionState,
        to: SessionState,
        reason: Option<Reason>,
    },
    Established {
        conn: ConnId,
        session: Negotiated,
    },
    UpdateReceived {
        conn: ConnId,
        update: UpdateMsg,
    },
    /// The peer asked for our routes again (RFC 2918).
    RouteRefreshRequested {
        conn: ConnId,
        family: AfiSafi,
    },
}

/// Why a session left the state it was in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    ManualStop(StopReason),
    ConnectFailed,
    ConnectionClosed,
    NotificationReceived(NotificationMsg),
    NotificationSent(NotificationMsg),
    /// The peer opened a new session while the old one was Established and both sides
    /// support graceful restart (RFC 4724 section 4.2).
    PeerRestarted,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ManualStop(reason) => match reason.notification() {
                Some(cease) => write!(f, "stopped: {cease}"),
                None => f.write_str("stopped for a graceful restart"),
            },
            Reason::ConnectFailed => f.write_str("connection attempt failed"),
            Reason::ConnectionClosed => f.write_str("connection closed by peer"),
            Reason::NotificationReceived(n) => write!(f, "received NOTIFICATION {n}"),
            Reason::NotificationSent(n) => write!(f, "sent NOTIFICATION {n}"),
            Reason::PeerRestarted => f.write_str("peer restarted (graceful restart)"),
        }
    }
}

/// What both sides agreed on, known once the peer's OPEN has been accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Who opened the TCP connection.
    pub direction: Direction,
    pub peer_as: u32,
    pub peer_id: Ipv4Addr,
    /// Hold time in seconds, the smaller of both proposals; 0 = no hold timer, no keepalives.
    pub hold_time: u16,
    /// Seconds between our KEEPALIVEs; 0 when the hold time is 0.
    pub keepalive: u16,
    /// Families both sides announced (IPv4 unicast when the peer sent no multiprotocol
    /// capability, RFC 4760 section 8).
    pub families: Vec<AfiSafi>,
    /// Both sides sent the 4-octet AS capability (RFC 6793).
    pub four_octet_as: bool,
    /// The peer accepts ROUTE-REFRESH (RFC 2918).
    pub route_refresh: bool,
    /// Both sides sent the Extended Message capability (RFC 8654): messages other than
    /// OPEN and KEEPALIVE may be up to 65535 octets, both ways.
    pub extended_message: bool,
    /// The peer's graceful restart capability (RFC 4724), if it sent one.
    pub peer_graceful_restart: Option<GracefulRestart>,
}

impl Negotiated {
    pub fn codec_context(&self) -> CodecContext {
        CodecContext {
            four_octet_as: self.four_octet_as,
            extended_message: self.extended_message,
        }
    }
}
