//! Errors of the [`Speaker`](super::Speaker) API.

use std::net::{IpAddr, SocketAddr};

use crate::config::PeerConfigProblem;

/// Errors of the [`Speaker`](super::Speaker) API.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    #[error("peer {address} is already configured")]
    PeerExists { address: IpAddr },
    #[error("peer {address} is not configured")]
    UnknownPeer { address: IpAddr },
    #[error("peer {address}: {problem}")]
    InvalidPeer {
        address: IpAddr,
        problem: PeerConfigProblem,
    },
    #[error("cannot listen on {address}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install the TCP MD5 key of peer {address} on the listening socket")]
    ListenerMd5 {
        address: IpAddr,
        source: std::io::Error,
    },
    #[error("the speaker has shut down")]
    ShutDown,
}
