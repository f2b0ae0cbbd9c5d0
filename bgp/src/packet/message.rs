//! BGP-4 messages (RFC 4271 section 4) as typed values.
//!
//! These types are the contract between the codec (`encode`/`decode` in this module tree),
//! the FSM and the driver. Encoding is infallible for values built through the public
//! constructors; decoding returns a [`DecodeError`](super::DecodeError) that converts into
//! the NOTIFICATION to send.

use std::net::Ipv4Addr;

use super::attribute::PathAttributes;
pub use super::capability::{Capability, GracefulRestart};
use super::iana::{AS_TRANS, AfiSafi};
use ipnet::Ipv4Net;

/// The largest BGP message (RFC 4271 section 4.1), and the largest OPEN in any case
/// (RFC 8654 section 4).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The largest message once both sides sent the Extended Message capability (RFC 8654).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// Marker (16) + length (2) + type (1).
pub const HEADER_LEN: usize = 19;
/// The BGP version we speak.
pub const BGP_VERSION: u8 = 4;

/// One BGP message.
///
/// UPDATE, the message that matters for speed, is held inline: boxing it would cost an
/// allocation per message to shrink the rare ones.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Open(OpenMsg),
    Update(UpdateMsg),
    Notification(NotificationMsg),
    Keepalive,
    RouteRefresh(RouteRefreshMsg),
}

/// OPEN (RFC 4271 section 4.2) with its capabilities (RFC 5492).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenMsg {
    pub version: u8,
    /// The 2-octet "My Autonomous System" field: `AS_TRANS` when the real AS needs 4 octets.
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    /// Capabilities in the order they appeared (or will be sent).
    pub capabilities: Vec<Capability>,
}

impl OpenMsg {
    /// An OPEN for `asn` that carries the 4-octet AS capability, with `my_as` set to the
    /// AS itself when it fits in 2 octets and to `AS_TRANS` otherwise (RFC 6793 section 4.1).
    pub fn new(
        asn: u32,
        hold_time: u16,
        bgp_id: Ipv4Addr,
        mut capabilities: Vec<Capability>,
    ) -> Self {
        if !capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
        {
            capabilities.push(Capability::FourOctetAs(asn));
        }
        let my_as = u16::try_from(asn).unwrap_or(AS_TRANS);
        OpenMsg {
            version: BGP_VERSION,
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        }
    }

    /// The sender's AS: from the 4-octet AS capability when present, else `my_as`.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(asn) => Some(*asn),
            _ => None,
        })
    }

    /// Address families announced with the multiprotocol capability (RFC 4760 section 8).
    pub fn families(&self) -> impl Iterator<Item = AfiSafi> + '_ {
        self.capabilities.iter().filter_map(|c| match c {
            Capability::Multiprotocol(family) => Some(*family),
            _ => None,
        })
    }

    pub fn has_route_refresh(&self) -> bool {
        self.capabilities
            .iter()
            .any(|c| matches!(c, Capability::RouteRefresh))
    }

    /// The sender accepts messages up to 65535 octets (RFC 8654).
    pub fn has_extended_message(&self) -> bool {
        self.capabilities
            .iter()
            .any(|c| matches!(c, Capability::ExtendedMessage))
    }

    pub fn graceful_restart(&self) -> Option<&GracefulRestart> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart(gr) => Some(gr),
            _ => None,
        })
    }
}

/// UPDATE (RFC 4271 section 4.3). IPv4 unicast routes travel in `withdrawn` and `nlri`;
/// other families travel in the MP_REACH_NLRI / MP_UNREACH_NLRI attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateMsg {
    pub withdrawn: Vec<Ipv4Net>,
    pub attributes: PathAttributes,
    pub nlri: Vec<Ipv4Net>,
}

/// NOTIFICATION (RFC 4271 section 4.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationMsg {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

/// ROUTE-REFRESH (RFC 2918 section 3; RFC 7313 subtype in the reserved octet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRefreshMsg {
    pub family: AfiSafi,
    pub subtype: u8,
}
