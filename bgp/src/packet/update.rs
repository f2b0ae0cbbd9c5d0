//! UPDATE on the wire (RFC 4271 section 4.3), End-of-RIB (RFC 4724 section 2) and the
//! treat-as-withdraw rewrite of RFC 7606.

use bytes::{BufMut, BytesMut};

use super::CodecContext;
use super::attribute::{MpUnreach, PathAttributes};
use super::attribute_decode::decode_attributes;
use super::attribute_encode::{attributes_len, put_attributes};
use super::error::{AttributeError, DecodeError, ErrorAction, NlriField};
use super::iana::AfiSafi;
use super::message::UpdateMsg;
use super::prefix::{put_v4, read_v4_list};
use super::reader::Reader;

impl UpdateMsg {
    /// The End-of-RIB marker for `family` (RFC 4724 section 2): an empty UPDATE for IPv4
    /// unicast, an MP_UNREACH_NLRI with no prefixes otherwise.
    pub fn end_of_rib(family: AfiSafi) -> UpdateMsg {
        let mut update = UpdateMsg::default();
        if family != AfiSafi::IPV4_UNICAST {
            update.attributes.mp_unreach = Some(MpUnreach {
                family,
                withdrawn: Vec::new(),
            });
        }
        update
    }

    /// The family this UPDATE is the End-of-RIB marker of, if it is one: an UPDATE with
    /// nothing at all (IPv4 unicast), or one whose only routes field is an empty
    /// MP_UNREACH_NLRI (other attributes next to it are tolerated).
    pub fn end_of_rib_family(&self) -> Option<AfiSafi> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() || self.attributes.mp_reach.is_some()
        {
            return None;
        }
        match &self.attributes.mp_unreach {
            None if self.attributes == PathAttributes::default() => Some(AfiSafi::IPV4_UNICAST),
            Some(unreach) if unreach.withdrawn.is_empty() => Some(unreach.family),
            _ => None,
        }
    }

    /// Prefixes announced and withdrawn, IPv4 and IPv6 together.
    pub fn prefix_counts(&self) -> (usize, usize) {
        let announced = self.nlri.len()
            + self
                .attributes
                .mp_reach
                .as_ref()
                .map_or(0, |r| r.nlri.len());
        let withdrawn = self.withdrawn.len()
            + self
                .attributes
                .mp_unreach
                .as_ref()
                .map_or(0, |u| u.withdrawn.len());
        (announced, withdrawn)
    }

    /// Applies RFC 7606 "treat-as-withdraw": every announced route becomes a withdrawal
    /// and every other attribute is dropped.
    pub fn treat_as_withdraw(&mut self) {
        let nlri = std::mem::take(&mut self.nlri);
        self.withdrawn.extend(nlri);
        let attrs = std::mem::take(&mut self.attributes);
        let mut unreach = attrs.mp_unreach;
        if let Some(reach) = attrs.mp_reach {
            match &mut unreach {
                Some(unreach) if unreach.family == reach.family => {
                    unreach.withdrawn.extend(reach.nlri)
                }
                // One MP_UNREACH_NLRI per UPDATE: routes of a second family cannot be
                // listed; they are dropped (Herald imports no routes).
                Some(_) => {}
                None => {
                    unreach = Some(MpUnreach {
                        family: reach.family,
                        withdrawn: reach.nlri,
                    })
                }
            }
        }
        self.attributes.mp_unreach = unreach;
    }
}

/// Decodes the UPDATE body. `length` is the message length, for errors.
pub(crate) fn decode_update(
    body: &[u8],
    cx: &CodecContext,
    length: u16,
) -> Result<(UpdateMsg, Vec<AttributeError>), DecodeError> {
    let mut r = Reader::new(body);
    let withdrawn_len = r.u16().ok_or(DecodeError::BadMessageLength { length })?;
    let withdrawn_field =
        r.take(usize::from(withdrawn_len))
            .ok_or(DecodeError::WithdrawnLengthOverrun {
                length: withdrawn_len,
            })?;
    let attributes_len = r.u16().ok_or(DecodeError::WithdrawnLengthOverrun {
        length: withdrawn_len,
    })?;
    let attributes_field =
        r.take(usize::from(attributes_len))
            .ok_or(DecodeError::AttributeLengthOverrun {
                length: attributes_len,
            })?;
    let nlri_field = r.take_rest();

    let mut update = UpdateMsg::default();
    read_v4_list(withdrawn_field, &mut update.withdrawn).map_err(|_| {
        DecodeError::InvalidNetworkField {
            field: NlriField::Withdrawn,
        }
    })?;
    read_v4_list(nlri_field, &mut update.nlri).map_err(|_| DecodeError::InvalidNetworkField {
        field: NlriField::Nlri,
    })?;
    let decoded = decode_attributes(attributes_field, cx, !update.nlri.is_empty())?;
    update.attributes = decoded.attributes;
    if decoded
        .errors
        .iter()
        .any(|e| e.action == ErrorAction::TreatAsWithdraw)
    {
        update.treat_as_withdraw();
    }
    Ok((update, decoded.errors))
}

/// Appends the UPDATE body.
pub(crate) fn put_update(out: &mut BytesMut, update: &UpdateMsg, cx: &CodecContext) {
    let withdrawn_at = out.len();
    out.put_u16(0);
    for net in &update.withdrawn {
        put_v4(out, net);
    }
    patch_u16(out, withdrawn_at);
    let attributes_at = out.len();
    out.reserve(2 + attributes_len(&update.attributes, cx) + 5 * update.nlri.len());
    out.put_u16(0);
    put_attributes(out, &update.attributes, cx);
    patch_u16(out, attributes_at);
    for net in &update.nlri {
        put_v4(out, net);
    }
}

/// Writes the number of octets after the 2-octet field at `at` into that field.
pub(crate) fn patch_u16(out: &mut BytesMut, at: usize) {
    let len = u16::try_from(out.len().saturating_sub(at + 2)).unwrap_or(u16::MAX);
    if let Some(field) = out.get_mut(at..at + 2) {
        field.copy_from_slice(&len.to_be_bytes());
    }
}
