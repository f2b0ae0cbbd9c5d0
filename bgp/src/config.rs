//! The settings of a speaker and of each of its peers, and the checks a peer's settings
//! must pass before a session starts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::bfd::Timers as BfdTimers;
use crate::sockopt::MD5_MAX_KEY_LEN;

/// The shortest BFD interval a peer may ask for: the driver's timers are not meant for
/// less (RFC 5880 leaves the floor to implementations).
pub const BFD_MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Speaker-wide settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpeakerConfig {
    /// Accept connections from peers on this address (e.g. `[::]:179`, which also takes
    /// IPv4). `None`: only connect out.
    pub listen: Option<SocketAddr>,
}

/// One BGP neighbour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    pub address: IpAddr,
    /// TCP port of the peer (179).
    pub port: u16,
    pub local_as: u32,
    pub remote_as: u32,
    pub router_id: Ipv4Addr,
    /// Bind outgoing connections to this address (it also becomes the next hop).
    pub source_address: Option<IpAddr>,
    /// Proposed hold time in seconds (90); 0 or at least 3.
    pub hold_time: u16,
    /// Keepalive interval in seconds; `None` = a third of the negotiated hold time.
    pub keepalive: Option<u16>,
    /// Base of the jittered exponential connect-retry backoff (5 s).
    pub connect_retry: Duration,
    /// TCP MD5 signature key (RFC 2385), at most 80 bytes.
    pub password: Option<String>,
    /// TTL of our packets for eBGP beyond one hop; `None` = 1 for eBGP (iBGP: system default).
    pub ebgp_multihop: Option<u8>,
    /// GTSM (RFC 5082): send with TTL 255 and drop packets that crossed more hops than
    /// `ebgp_multihop` (default 1).
    pub gtsm: bool,
    /// Never connect; wait for the peer (needs `SpeakerConfig::listen`).
    pub passive: bool,
    /// Advertise graceful restart (RFC 4724) with this restart time in seconds.
    pub graceful_restart: Option<u16>,
    /// Run a BFD session with the peer (RFC 5880; multihop, RFC 5883, when
    /// `ebgp_multihop` is set): when it goes from Up to Down the BGP session ends at once
    /// with Cease/BFD Down (RFC 9384). As in FRR, BGP does not wait for BFD: a session
    /// may come up while BFD is Down (a peer whose BFD is broken still gets our routes);
    /// only the Up -> Down change of BFD ends it.
    pub bfd: Option<BfdTimers>,
}

impl PeerConfig {
    /// A peer with the defaults: port 179, hold 90 s, keepalive hold/3, connect-retry 5 s,
    /// no password, TTL 1 for eBGP, active, no graceful restart.
    pub fn new(address: IpAddr, local_as: u32, remote_as: u32, router_id: Ipv4Addr) -> Self {
        PeerConfig {
            address,
            port: 179,
            local_as,
            remote_as,
            router_id,
            source_address: None,
            hold_time: 90,
            keepalive: None,
            connect_retry: Duration::from_secs(5),
            password: None,
            ebgp_multihop: None,
            gtsm: false,
            passive: false,
            graceful_restart: None,
            bfd: None,
        }
    }

    pub fn is_ebgp(&self) -> bool {
        self.local_as != self.remote_as
    }

    /// Checks what the wire or the kernel would refuse later.
    pub(crate) fn validate(&self) -> Result<(), PeerConfigProblem> {
        if self.address.is_unspecified() {
            return Err(PeerConfigProblem::UnspecifiedAddress);
        }
        if self.local_as == 0 || self.remote_as == 0 {
            return Err(PeerConfigProblem::ZeroAsn);
        }
        if self.router_id.is_unspecified() {
            return Err(PeerConfigProblem::ZeroRouterId);
        }
        if matches!(self.hold_time, 1 | 2) {
            return Err(PeerConfigProblem::HoldTime {
                seconds: self.hold_time,
            });
        }
        if self.keepalive == Some(0) {
            return Err(PeerConfigProblem::ZeroKeepalive);
        }
        if self
            .password
            .as_ref()
            .is_some_and(|p| p.len() > MD5_MAX_KEY_LEN || p.is_empty())
        {
            return Err(PeerConfigProblem::PasswordLength);
        }
        if self.ebgp_multihop == Some(0) {
            return Err(PeerConfigProblem::ZeroMultihop);
        }
        if let Some(bfd) = &self.bfd
            && (bfd.detect_mult == 0
                || bfd.desired_min_tx < BFD_MIN_INTERVAL
                || bfd.required_min_rx < BFD_MIN_INTERVAL)
        {
            return Err(PeerConfigProblem::BfdTimers);
        }
        if let Some(source) = self.source_address
            && source.is_ipv4() != self.address.is_ipv4()
        {
            return Err(PeerConfigProblem::SourceFamily {
                source_address: source,
            });
        }
        Ok(())
    }
}

/// Why a [`PeerConfig`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerConfigProblem {
    #[error("the peer address is unspecified")]
    UnspecifiedAddress,
    #[error("AS number 0")]
    ZeroAsn,
    #[error("router id 0.0.0.0")]
    ZeroRouterId,
    #[error("hold time {seconds} s: must be 0 or at least 3")]
    HoldTime { seconds: u16 },
    #[error("keepalive of 0 s")]
    ZeroKeepalive,
    #[error("TCP MD5 password must be 1 to 80 bytes")]
    PasswordLength,
    #[error("ebgp-multihop of 0 hops")]
    ZeroMultihop,
    #[error("BFD: intervals must be at least 10 ms and the multiplier at least 1")]
    BfdTimers,
    #[error("source address {source_address} is not of the peer's address family")]
    SourceFamily { source_address: IpAddr },
}
