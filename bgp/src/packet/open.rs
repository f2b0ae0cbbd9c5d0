//! OPEN on the wire (RFC 4271 section 4.2) with Capabilities optional parameters
//! (RFC 5492) and the extended optional parameters length of RFC 9072.

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use super::error::DecodeError;
use super::iana::{Afi, AfiSafi, Safi, capability_code};
use super::message::{BGP_VERSION, Capability, GracefulRestart, OpenMsg};
use super::reader::Reader;

/// Optional parameter type "Capabilities" (RFC 5492 section 4).
const PARAM_CAPABILITIES: u8 = 2;
/// Marks the extended optional parameters encoding (RFC 9072 section 2).
const PARAM_EXTENDED: u8 = 255;
/// Graceful restart flag bits (RFC 4724 section 3, RFC 8538).
const GR_RESTART_STATE: u16 = 0x8000;
const GR_NOTIFICATION: u16 = 0x4000;
const GR_TIME_MASK: u16 = 0x0FFF;
const GR_FORWARDING_STATE: u8 = 0x80;

/// Decodes the OPEN body (after the 19-octet header). `length` is the message length,
/// reported when the body is too short for the fixed fields.
pub(crate) fn decode_open(body: &[u8], length: u16) -> Result<OpenMsg, DecodeError> {
    let mut r = Reader::new(body);
    let short = DecodeError::BadMessageLength { length };
    let version = r.u8().ok_or(short.clone())?;
    if version != BGP_VERSION {
        return Err(DecodeError::UnsupportedVersion { version });
    }
    let my_as = r.u16().ok_or(short.clone())?;
    let hold_time = r.u16().ok_or(short.clone())?;
    let bgp_id = Ipv4Addr::from(r.u32().ok_or(short.clone())?);
    let params_len = r.u8().ok_or(short)?;

    let mut capabilities = Vec::new();
    if params_len == 255 && r.peek() == Some(PARAM_EXTENDED) {
        // RFC 9072: 255, 255, then a 2-octet length; each parameter has a 2-octet length.
        r.u8();
        let extended_len = r.u16().ok_or(DecodeError::MalformedOptionalParameters)?;
        let params = take_exact(&mut r, usize::from(extended_len))?;
        decode_params(params, true, &mut capabilities)?;
    } else {
        let params = take_exact(&mut r, usize::from(params_len))?;
        decode_params(params, false, &mut capabilities)?;
    }
    Ok(OpenMsg {
        version,
        my_as,
        hold_time,
        bgp_id,
        capabilities,
    })
}

/// The optional parameters must fill the rest of the message exactly.
fn take_exact<'a>(r: &mut Reader<'a>, len: usize) -> Result<&'a [u8], DecodeError> {
    if r.remaining() != len {
        return Err(DecodeError::MalformedOptionalParameters);
    }
    Ok(r.take_rest())
}

fn decode_params(
    params: &[u8],
    extended: bool,
    capabilities: &mut Vec<Capability>,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(params);
    while !r.is_empty() {
        let param_type = r.u8().ok_or(DecodeError::MalformedOptionalParameters)?;
        let len = if extended {
            r.u16()
        } else {
            r.u8().map(u16::from)
        };
        let len = len.ok_or(DecodeError::MalformedOptionalParameters)?;
        let value = r
            .take(usize::from(len))
            .ok_or(DecodeError::MalformedOptionalParameters)?;
        if param_type != PARAM_CAPABILITIES {
            return Err(DecodeError::UnsupportedOptionalParameter { param_type });
        }
        let mut caps = Reader::new(value);
        while !caps.is_empty() {
            let code = caps.u8().ok_or(DecodeError::MalformedOptionalParameters)?;
            let len = caps.u8().ok_or(DecodeError::MalformedOptionalParameters)?;
            let value = caps
                .take(usize::from(len))
                .ok_or(DecodeError::MalformedOptionalParameters)?;
            capabilities.push(decode_capability(code, value)?);
        }
    }
    Ok(())
}

fn decode_capability(code: u8, value: &[u8]) -> Result<Capability, DecodeError> {
    let malformed = || DecodeError::MalformedCapability {
        code,
        value: value.to_vec(),
    };
    let mut r = Reader::new(value);
    let capability = match code {
        capability_code::MULTIPROTOCOL => {
            let afi = r.u16().ok_or_else(malformed)?;
            let _reserved = r.u8().ok_or_else(malformed)?;
            let safi = r.u8().ok_or_else(malformed)?;
            Capability::Multiprotocol(AfiSafi {
                afi: Afi::from_u16(afi),
                safi: Safi::from_u8(safi),
            })
        }
        capability_code::ROUTE_REFRESH => Capability::RouteRefresh,
        capability_code::FOUR_OCTET_AS => Capability::FourOctetAs(r.u32().ok_or_else(malformed)?),
        capability_code::GRACEFUL_RESTART => {
            let flags = r.u16().ok_or_else(malformed)?;
            if !r.remaining().is_multiple_of(4) {
                return Err(malformed());
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
            return Ok(Capability::Unknown {
                code,
                value: value.to_vec(),
            });
        }
    };
    if !r.is_empty() {
        return Err(malformed());
    }
    Ok(capability)
}

/// Appends the OPEN body. Capabilities go in one Capabilities parameter; when they do
/// not fit its 255 octets the RFC 9072 extended encoding is used.
pub(crate) fn put_open(out: &mut BytesMut, open: &OpenMsg) {
    out.put_u8(open.version);
    out.put_u16(open.my_as);
    out.put_u16(open.hold_time);
    out.put_u32(u32::from(open.bgp_id));
    let caps_len: usize = open.capabilities.iter().map(capability_len).sum();
    if open.capabilities.is_empty() {
        out.put_u8(0);
    } else if caps_len <= 253 {
        out.put_u8((caps_len + 2) as u8);
        out.put_u8(PARAM_CAPABILITIES);
        out.put_u8(caps_len as u8);
    } else {
        out.put_u8(255);
        out.put_u8(PARAM_EXTENDED);
        out.put_u16(saturating_u16(caps_len + 3));
        out.put_u8(PARAM_CAPABILITIES);
        out.put_u16(saturating_u16(caps_len));
    }
    for capability in &open.capabilities {
        put_capability(out, capability);
    }
}

fn saturating_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Octets of one capability TLV.
fn capability_len(capability: &Capability) -> usize {
    2 + capability_value_len(capability)
}

fn capability_value_len(capability: &Capability) -> usize {
    match capability {
        Capability::Multiprotocol(_) | Capability::FourOctetAs(_) => 4,
        Capability::RouteRefresh => 0,
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
