//! OPEN on the wire (RFC 4271 section 4.2) with Capabilities optional parameters
//! (RFC 5492) and the extended optional parameters length of RFC 9072.

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use super::capability::{Capability, capability_len, decode_capability, put_capability};
use super::error::DecodeError;
use super::message::{BGP_VERSION, OpenMsg};
use super::reader::Reader;

/// Optional parameter type "Capabilities" (RFC 5492 section 4).
const PARAM_CAPABILITIES: u8 = 2;
/// Marks the extended optional parameters encoding (RFC 9072 section 2).
const PARAM_EXTENDED: u8 = 255;

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
            let capability =
                decode_capability(code, value).ok_or_else(|| DecodeError::MalformedCapability {
                    code,
                    value: value.to_vec(),
                })?;
            capabilities.push(capability);
        }
    }
    Ok(())
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
