//! Capabilities advertised in OPEN (RFC 5492): the values, and the TLV that carries each
//! of them. Shared by the OPEN codec and by the NOTIFICATION of an unsupported
//! capability (RFC 5492 section 5), which carries the capability TLV as its data.

use bytes::{BufMut, BytesMut};

use super::iana::{Afi, AfiSafi, Safi, capability_code};
use super::reader::Reader;

/// Graceful restart flag bits (RFC 4724 section 3, RFC 8538).
const GR_RESTART_STATE: u16 = 0x8000;
const GR_NOTIFICATION: u16 = 0x4000;
const GR_TIME_MASK: u16 = 0x0FFF;
const GR_FORWARDING_STATE: u8 = 0x80;

/// A capability advertised in OPEN (RFC 5492).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    /// RFC 4760 section 8.
    Multiprotocol(AfiSafi),
    /// RFC 2918.
    RouteRefresh,
    /// RFC 6793.
    FourOctetAs(u32),
    /// RFC 8654: messages other than OPEN and KEEPALIVE may be up to 65535 octets.
    ExtendedMessage,
    /// RFC 4724 section 3.
    GracefulRestart(GracefulRestart),
    /// Any other capability, kept as received.
    Unknown { code: u8, value: Vec<u8> },
}

/// The graceful restart capability (RFC 4724 section 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GracefulRestart {
    /// The "Restart State" (R) bit.
    pub restarting: bool,
    /// The "Graceful Notification" (N) bit (RFC 8538).
    pub notification: bool,
    /// Seconds, 12 bits.
    pub restart_time: u16,
    /// Families with their "Forwarding State" (F) bit.
    pub families: Vec<(AfiSafi, bool)>,
}

/// Decodes the value of one capability TLV. `None`: a capability we know whose value
/// has the wrong size (the caller reports it as an OPEN error); unknown codes are kept
/// as received.
pub(crate) fn decode_capability(code: u8, value: &[u8]) -> Option<Capability> {
    let mut r = Reader::new(value);
    let capability = match code {
        capability_code::MULTIPROTOCOL => {
            let afi = r.u16()?;
            let _reserved = r.u8()?;
            let safi = r.u8()?;
            Capability::Multiprotocol(AfiSafi {
                afi: Afi::from_u16(afi),
                safi: Safi::from_u8(safi),
            })
        }
        capability_code::ROUTE_REFRESH => Capability::RouteRefresh,
        capability_code::EXTENDED_MESSAGE => Capability::ExtendedMessage,
        capability_code::FOUR_OCTET_AS => Capability::FourOctetAs(r.u32()?),
        capability_code::GRACEFUL_RESTART => {
            let flags = r.u16()?;
            if !r.remaining().is_multiple_of(4) {
                return None;
            }
            let mut families = Vec::with_capacity(r.remaining() / 4);
            while let (Some(afi), Some(safi), Some(flags)) = (r.u16(), r.u8(), r.u8()) {
                let family = AfiSafi {
                    afi: Afi::from_u16(afi),
                    safi: Safi::from_u8(safi),
                };
                families.push((family, flags & GR_FORWARDING_STATE != 0));
            }
            Capability::GracefulRestart(GracefulRestart {
                restarting: flags & GR_RESTART_STATE != 0,
                notification: flags & GR_NOTIFICATION != 0,
                restart_time: flags & GR_TIME_MASK,
                families,
            })
        }
        _ => {
            return Some(Capability::Unknown {
                code,
                value: value.to_vec(),
            });
        }
    };
    r.is_empty().then_some(capability)
}

/// Octets of one capability TLV.
pub(crate) fn capability_len(capability: &Capability) -> usize {
    2 + capability_value_len(capability)
}

fn capability_value_len(capability: &Capability) -> usize {
    match capability {
        Capability::Multiprotocol(_) | Capability::FourOctetAs(_) => 4,
        Capability::RouteRefresh | Capability::ExtendedMessage => 0,
        Capability::GracefulRestart(gr) => (2 + 4 * gr.families.len()).min(255),
        Capability::Unknown { value, .. } => value.len().min(255),
    }
}

/// Appends one capability TLV (code, length, value). Values longer than 255 octets
/// cannot be encoded and are cut.
pub(crate) fn put_capability(out: &mut BytesMut, capability: &Capability) {
    let len = capability_value_len(capability) as u8;
    match capability {
        Capability::Multiprotocol(family) => {
            out.put_u8(capability_code::MULTIPROTOCOL);
            out.put_u8(len);
            out.put_u16(family.afi.to_u16());
            out.put_u8(0);
            out.put_u8(family.safi.to_u8());
        }
        Capability::RouteRefresh => {
            out.put_u8(capability_code::ROUTE_REFRESH);
            out.put_u8(len);
        }
        Capability::ExtendedMessage => {
            out.put_u8(capability_code::EXTENDED_MESSAGE);
            out.put_u8(len);
        }
        Capability::FourOctetAs(asn) => {
            out.put_u8(capability_code::FOUR_OCTET_AS);
            out.put_u8(len);
            out.put_u32(*asn);
        }
        Capability::GracefulRestart(gr) => {
            out.put_u8(capability_code::GRACEFUL_RESTART);
            out.put_u8(len);
            let mut flags = gr.restart_time & GR_TIME_MASK;
            if gr.restarting {
                flags |= GR_RESTART_STATE;
            }
            if gr.notification {
                flags |= GR_NOTIFICATION;
            }
            out.put_u16(flags);
            for (family, forwarding) in gr.families.iter().take((usize::from(len) - 2) / 4) {
                out.put_u16(family.afi.to_u16());
                out.put_u8(family.safi.to_u8());
                out.put_u8(if *forwarding { GR_FORWARDING_STATE } else { 0 });
            }
        }
        Capability::Unknown { code, value } => {
            out.put_u8(*code);
            out.put_u8(len);
            out.put_slice(value.get(..usize::from(len)).unwrap_or(value));
        }
    }
}
