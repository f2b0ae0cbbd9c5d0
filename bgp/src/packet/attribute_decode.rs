//! Path attribute decoding with the revised error handling of RFC 7606.
//!
//! Every attribute problem is classified by the table of RFC 7606 section 7 (and RFC
//! 6793 section 6, RFC 8092 section 6 for the attributes they define). "Session reset"
//! problems end decoding with a [`DecodeError`]; the others are collected as
//! [`AttributeError`]s and applied by the caller (attribute discard happens here,
//! treat-as-withdraw in the UPDATE decoder, which knows the routes).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::CodecContext;
use super::as_path::{decode_as_path, merge_as4_path};
use super::attribute::{
    Aggregator, AsPath, Community, ExtendedCommunity, LargeCommunity, MpNextHop, MpReach,
    MpUnreach, Origin, PathAttributes, RawAttribute,
};
use super::error::{AttributeError, AttributeProblem, DecodeError, ErrorAction};
use super::iana::{AS_TRANS, Afi, AfiSafi, Safi, attr_flag, attr_type};
use super::prefix::read_v6_list;
use super::reader::Reader;

/// The Optional and Transitive bits each known attribute must carry (RFC 4271 section 5,
/// RFC 4760, RFC 6793, RFC 8092). `None` for types we do not interpret.
pub(crate) fn expected_flags(type_code: u8) -> Option<u8> {
    const WELL_KNOWN: u8 = attr_flag::TRANSITIVE;
    const OPTIONAL_TRANSITIVE: u8 = attr_flag::OPTIONAL | attr_flag::TRANSITIVE;
    const OPTIONAL: u8 = attr_flag::OPTIONAL;
    Some(match type_code {
        attr_type::ORIGIN
        | attr_type::AS_PATH
        | attr_type::NEXT_HOP
        | attr_type::LOCAL_PREF
        | attr_type::ATOMIC_AGGREGATE => WELL_KNOWN,
        attr_type::MULTI_EXIT_DISC | attr_type::MP_REACH_NLRI | attr_type::MP_UNREACH_NLRI => {
            OPTIONAL
        }
        attr_type::AGGREGATOR
        | attr_type::COMMUNITIES
        | attr_type::EXTENDED_COMMUNITIES
        | attr_type::AS4_PATH
        | attr_type::AS4_AGGREGATOR
        | attr_type::LARGE_COMMUNITIES => OPTIONAL_TRANSITIVE,
        _ => return None,
    })
}

/// The RFC 7606 action for a malformed attribute of this type (section 7; RFC 6793
/// section 6 for AS4_PATH and AS4_AGGREGATOR; RFC 8092 section 6 for LARGE_COMMUNITIES).
pub fn malformed_action(type_code: u8) -> ErrorAction {
    match type_code {
        attr_type::ATOMIC_AGGREGATE
        | attr_type::AGGREGATOR
        | attr_type::AS4_PATH
        | attr_type::AS4_AGGREGATOR => ErrorAction::Discard,
        attr_type::MP_REACH_NLRI | attr_type::MP_UNREACH_NLRI => ErrorAction::SessionReset,
        _ => ErrorAction::TreatAsWithdraw,
    }
}

/// Whether MP_REACH_NLRI / MP_UNREACH_NLRI of this family hold IPv6 prefixes we decode.
fn is_ipv6(family: AfiSafi) -> bool {
    family.afi == Afi::Ipv6 && matches!(family.safi, Safi::Unicast | Safi::Multicast)
}

/// The attributes of one UPDATE and the errors found in them.
#[derive(Debug)]
pub(crate) struct DecodedAttributes {
    pub(crate) attributes: PathAttributes,
    pub(crate) errors: Vec<AttributeError>,
}

/// Decodes the Path Attributes field. `has_nlri`: the UPDATE's NLRI field is not empty
/// (NEXT_HOP is then mandatory).
pub(crate) fn decode_attributes(
    bytes: &[u8],
    cx: &CodecContext,
    has_nlri: bool,
) -> Result<DecodedAttributes, DecodeError> {
    let mut decoder = Decoder {
        four_octet_as: cx.four_octet_as,
        attributes: PathAttributes::default(),
        errors: Vec::new(),
        seen: [0; 4],
        as4_path: None,
        as4_aggregator: None,
        raw_reach: false,
        overrun: false,
    };
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let start = r.rest();
        let Some((flags, type_code, value)) = read_attribute(&mut r) else {
            // RFC 7606 section 4: an attribute that does not fit the remaining length.
            decoder.errors.push(AttributeError {
                type_code: start.get(1).copied().unwrap_or(0),
                problem: AttributeProblem::Overrun,
                action: ErrorAction::TreatAsWithdraw,
                attribute: start.to_vec(),
            });
            decoder.overrun = true;
            break;
        };
        let tlv = start.get(..start.len() - r.remaining()).unwrap_or(start);
        decoder.attribute(flags, type_code, value, tlv)?;
    }
    Ok(decoder.finish(has_nlri))
}

/// Flags, type and value of the next attribute; `None` if it runs past the field.
fn read_attribute<'a>(r: &mut Reader<'a>) -> Option<(u8, u8, &'a [u8])> {
    let flags = r.u8()?;
    let type_code = r.u8()?;
    let len = if flags & attr_flag::EXTENDED_LENGTH != 0 {
        r.u16()?
    } else {
        u16::from(r.u8()?)
    };
    let value = r.take(usize::from(len))?;
    Some((flags, type_code, value))
}

struct Decoder {
    four_octet_as: bool,
    attributes: PathAttributes,
    errors: Vec<AttributeError>,
    /// Type codes seen so far, one bit each.
    seen: [u64; 4],
    as4_path: Option<AsPath>,
    as4_aggregator: Option<Aggregator>,
    /// An MP_REACH_NLRI of a family kept as a raw attribute.
    raw_reach: bool,
    /// The attribute list ended inside an attribute (RFC 7606 section 4).
    overrun: bool,
}

impl Decoder {
    fn seen(&self, type_code: u8) -> bool {
        let (word, bit) = (usize::from(type_code / 64), type_code % 64);
        self.seen.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    fn mark_seen(&mut self, type_code: u8) {
        let (word, bit) = (usize::from(type_code / 64), type_code % 64);
        if let Some(w) = self.seen.get_mut(word) {
            *w |= 1 << bit;
        }
    }

    /// Records an error with the action RFC 7606 gives `type_code`; a session reset ends
    /// decoding.
    fn malformed(
        &mut self,
        type_code: u8,
        problem: AttributeProblem,
        tlv: &[u8],
    ) -> Result<(), DecodeError> {
        self.report(type_code, problem, malformed_action(type_code), tlv)
    }

    fn report(
        &mut self,
        type_code: u8,
        problem: AttributeProblem,
        action: ErrorAction,
        tlv: &[u8],
    ) -> Result<(), DecodeError> {
        let error = AttributeError {
            type_code,
            problem,
            action,
            attribute: tlv.to_vec(),
        };
        if action == ErrorAction::SessionReset {
            return Err(DecodeError::Attribute(error));
        }
        self.errors.push(error);
        Ok(())
    }

    fn attribute(
        &mut self,
        flags: u8,
        type_code: u8,
        value: &[u8],
        tlv: &[u8],
    ) -> Result<(), DecodeError> {
        use AttributeProblem as P;
        // RFC 7606 section 3 g: MP attributes more than once reset the session; other
        // attributes keep their first occurrence.
        if self.seen(type_code) {
            let action = match type_code {
                attr_type::MP_REACH_NLRI | attr_type::MP_UNREACH_NLRI => ErrorAction::SessionReset,
                _ => ErrorAction::Discard,
            };
            return self.report(type_code, P::Duplicate, action, tlv);
        }
        self.mark_seen(type_code);

        let Some(expected) = expected_flags(type_code) else {
            return self.unknown(flags, type_code, value, tlv);
        };
        if self.four_octet_as
            && matches!(type_code, attr_type::AS4_PATH | attr_type::AS4_AGGREGATOR)
        {
            // RFC 6793 section 6: NEW speakers do not exchange these; discard and log.
            return self.report(type_code, P::Malformed, ErrorAction::Discard, tlv);
        }
        if flags & (attr_flag::OPTIONAL | attr_flag::TRANSITIVE) != expected {
            // RFC 7606 section 3 c: a flags conflict makes the attribute malformed.
            return self.malformed(type_code, P::Flags, tlv);
        }
        let attrs = &mut self.attributes;
        match type_code {
            attr_type::ORIGIN => match value {
                [0] => attrs.origin = Some(Origin::Igp),
                [1] => attrs.origin = Some(Origin::Egp),
                [2] => attrs.origin = Some(Origin::Incomplete),
                [_] => return self.malformed(type_code, P::InvalidOrigin, tlv),
                _ => return self.malformed(type_code, P::Length, tlv),
            },
            attr_type::AS_PATH => match decode_as_path(value, self.four_octet_as) {
                Some(path) => attrs.as_path = Some(path),
                None => return self.malformed(type_code, P::MalformedAsPath, tlv),
            },
            attr_type::NEXT_HOP => match <[u8; 4]>::try_from(value) {
                Ok(octets) => {
                    let address = Ipv4Addr::from(octets);
                    // RFC 4271 section 6.3: the next hop must be a valid host address.
                    if address.is_unspecified() || address.is_broadcast() || address.is_multicast()
                    {
                        return self.malformed(type_code, P::InvalidNextHop, tlv);
                    }
                    attrs.next_hop = Some(address);
                }
                Err(_) => return self.malformed(type_code, P::Length, tlv),
            },
            attr_type::MULTI_EXIT_DISC => match <[u8; 4]>::try_from(value) {
                Ok(octets) => attrs.med = Some(u32::from_be_bytes(octets)),
                Err(_) => return self.malformed(type_code, P::Length, tlv),
            },
            attr_type::LOCAL_PREF => match <[u8; 4]>::try_from(value) {
                Ok(octets) => attrs.local_pref = Some(u32::from_be_bytes(octets)),
                Err(_) => return self.malformed(type_code, P::Length, tlv),
            },
            attr_type::ATOMIC_AGGREGATE => {
                if !value.is_empty() {
                    return self.malformed(type_code, P::Length, tlv);
                }
                attrs.atomic_aggregate = true;
            }
            attr_type::AGGREGATOR => match decode_aggregator(value, self.four_octet_as) {
                // RFC 7607: AS 0 is malformed.
                Some(aggregator) if aggregator.asn == 0 => {
                    return self.malformed(type_code, P::Malformed, tlv);
                }
                Some(aggregator) => attrs.aggregator = Some(aggregator),
                None => return self.malformed(type_code, P::Length, tlv),
            },
            attr_type::COMMUNITIES => {
                if value.is_empty() || !value.len().is_multiple_of(4) {
                    return self.malformed(type_code, P::Length, tlv);
                }
                attrs.communities = value
                    .chunks_exact(4)
                    .filter_map(|c| <[u8; 4]>::try_from(c).ok())
                    .map(|c| Community(u32::from_be_bytes(c)))
                    .collect();
            }
            attr_type::EXTENDED_COMMUNITIES => {
                // RFC 7606 section 7.14: empty or not a multiple of 8 is treat-as-withdraw.
                if value.is_empty() || !value.len().is_multiple_of(8) {
                    return self.malformed(type_code, P::Length, tlv);
                }
                attrs.extended_communities = value
                    .chunks_exact(8)
                    .filter_map(|c| <[u8; 8]>::try_from(c).ok())
                    .map(ExtendedCommunity)
                    .collect();
            }
            attr_type::LARGE_COMMUNITIES => {
                if value.is_empty() || !value.len().is_multiple_of(12) {
                    return self.malformed(type_code, P::Length, tlv);
                }
                attrs.large_communities = value
                    .chunks_exact(12)
                    .filter_map(decode_large_community)
                    .collect();
            }
            attr_type::AS4_PATH => match decode_as_path(value, true) {
                Some(path) if !path.segments.is_empty() => self.as4_path = Some(path),
                _ => return self.malformed(type_code, P::MalformedAsPath, tlv),
            },
            attr_type::AS4_AGGREGATOR => match decode_aggregator(value, true) {
                Some(aggregator) if aggregator.asn == 0 => {
                    return self.malformed(type_code, P::Malformed, tlv);
                }
                Some(aggregator) => self.as4_aggregator = Some(aggregator),
                None => return self.malformed(type_code, P::Length, tlv),
            },
            attr_type::MP_REACH_NLRI => return self.mp_reach(flags, value, tlv),
            attr_type::MP_UNREACH_NLRI => return self.mp_unreach(flags, value, tlv),
            _ => return self.unknown(flags, type_code, value, tlv),
        }
        Ok(())
    }

    /// An attribute we do not interpret: optional ones are kept, an unknown well-known
    /// one resets the session (RFC 4271 section 6.3).
    fn unknown(
        &mut self,
        flags: u8,
        type_code: u8,
        value: &[u8],
        tlv: &[u8],
    ) -> Result<(), DecodeError> {
        if flags & attr_flag::OPTIONAL == 0 {
            return Err(DecodeError::UnrecognizedWellKnownAttribute {
                type_code,
                attribute: tlv.to_vec(),
            });
        }
        self.attributes.unknown.push(RawAttribute {
            flags: flags & (attr_flag::OPTIONAL | attr_flag::TRANSITIVE | attr_flag::PARTIAL),
            type_code,
            value: value.to_vec(),
        });
        Ok(())
    }

    /// MP_REACH_NLRI (RFC 4760 section 3, RFC 2545 section 3). Any error resets the
    /// session (RFC 7606 section 7.11): the NLRI cannot be located reliably.
    fn mp_reach(&mut self, flags: u8, value: &[u8], tlv: &[u8]) -> Result<(), DecodeError> {
        use AttributeProblem as P;
        let code = attr_type::MP_REACH_NLRI;
        let mut r = Reader::new(value);
        let (Some(afi), Some(safi)) = (r.u16(), r.u8()) else {
            return self.malformed(code, P::Length, tlv);
        };
        let family = AfiSafi {
            afi: Afi::from_u16(afi),
            safi: Safi::from_u8(safi),
        };
        if !is_ipv6(family) {
            self.raw_reach = true;
            return self.unknown(flags, code, value, tlv);
        }
        let Some(next_hop) = r.u8().and_then(|len| r.take(usize::from(len))) else {
            return self.malformed(code, P::Length, tlv);
        };
        let next_hop = match next_hop.len() {
            16 | 32 => {
                let mut hop = Reader::new(next_hop);
                let global = hop.array::<16>().map(Ipv6Addr::from);
                let link_local = hop.array::<16>().map(Ipv6Addr::from);
                match global {
                    Some(global) => MpNextHop { global, link_local },
                    None => return self.malformed(code, P::Malformed, tlv),
                }
            }
            _ => return self.malformed(code, P::Malformed, tlv),
        };
        if r.u8().is_none() {
            return self.malformed(code, P::Length, tlv);
        }
        let mut nlri = Vec::new();
        if read_v6_list(r.rest(), &mut nlri).is_err() {
            return self.malformed(code, P::InvalidNetwork, tlv);
        }
        self.attributes.mp_reach = Some(MpReach {
            family,
            next_hop,
            nlri,
        });
        Ok(())
    }

    /// MP_UNREACH_NLRI (RFC 4760 section 4). Any family with no prefixes is kept (that is
    /// its End-of-RIB); other families with prefixes are kept raw.
    fn mp_unreach(&mut self, flags: u8, value: &[u8], tlv: &[u8]) -> Result<(), DecodeError> {
        let code = attr_type::MP_UNREACH_NLRI;
        let mut r = Reader::new(value);
        let (Some(afi), Some(safi)) = (r.u16(), r.u8()) else {
            return self.malformed(code, AttributeProblem::Length, tlv);
        };
        let family = AfiSafi {
            afi: Afi::from_u16(afi),
            safi: Safi::from_u8(safi),
        };
        if !is_ipv6(family) && !r.is_empty() {
            return self.unknown(flags, code, value, tlv);
        }
        let mut withdrawn = Vec::new();
        if read_v6_list(r.rest(), &mut withdrawn).is_err() {
            return self.malformed(code, AttributeProblem::InvalidNetwork, tlv);
        }
        self.attributes.mp_unreach = Some(MpUnreach { family, withdrawn });
        Ok(())
    }

    fn finish(mut self, has_nlri: bool) -> DecodedAttributes {
        if !self.four_octet_as {
            self.reconstruct_as4();
        }
        // RFC 7606 section 3 d: missing well-known mandatory attributes, when there are
        // routes to apply them to (NEXT_HOP only for the NLRI field, RFC 4760 section 3).
        // After an overrun the rest of the list is unknown: nothing more is reported.
        let reachable = has_nlri || self.attributes.mp_reach.is_some() || self.raw_reach;
        if reachable && !self.overrun {
            let mandatory = [attr_type::ORIGIN, attr_type::AS_PATH, attr_type::NEXT_HOP];
            for type_code in mandatory
                .into_iter()
                .filter(|&t| has_nlri || t != attr_type::NEXT_HOP)
            {
                if !self.seen(type_code) {
                    self.errors.push(AttributeError {
                        type_code,
                        problem: AttributeProblem::Missing,
                        action: ErrorAction::TreatAsWithdraw,
                        attribute: Vec::new(),
                    });
                }
            }
        }
        DecodedAttributes {
            attributes: self.attributes,
            errors: self.errors,
        }
    }

    /// RFC 6793 section 4.2.3: the real AGGREGATOR and AS path of an OLD speaker's route.
    fn reconstruct_as4(&mut self) {
        let mut as4_path = self.as4_path.take();
        match (self.attributes.aggregator, self.as4_aggregator.take()) {
            // Aggregated by an OLD speaker: AS4_AGGREGATOR and AS4_PATH are stale.
            (Some(aggregator), _) if aggregator.asn != u32::from(AS_TRANS) => as4_path = None,
            (Some(_), Some(as4_aggregator)) => self.attributes.aggregator = Some(as4_aggregator),
            _ => {}
        }
        if let Some(as4_path) = as4_path
            && let Some(as_path) = self.attributes.as_path.take()
        {
            self.attributes.as_path = Some(merge_as4_path(as_path, as4_path));
        }
    }
}

fn decode_aggregator(value: &[u8], four_octet: bool) -> Option<Aggregator> {
    let mut r = Reader::new(value);
    let asn = if four_octet {
        r.u32()?
    } else {
        u32::from(r.u16()?)
    };
    let address = Ipv4Addr::from(r.u32()?);
    r.is_empty().then_some(Aggregator { asn, address })
}

fn decode_large_community(chunk: &[u8]) -> Option<LargeCommunity> {
    let mut r = Reader::new(chunk);
    Some(LargeCommunity {
        global_admin: r.u32()?,
        local_data1: r.u32()?,
        local_data2: r.u32()?,
    })
}
