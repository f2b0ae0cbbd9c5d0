//! Path attribute encoding.
//!
//! Order: MP_REACH_NLRI and MP_UNREACH_NLRI first (RFC 7606 section 5.1), then the
//! others by type code, then the attributes kept raw in the order held. The Extended
//! Length bit is set exactly when a value exceeds 255 octets. To an OLD (2-octet AS)
//! peer, AS numbers above 65535 become AS_TRANS and travel in AS4_PATH / AS4_AGGREGATOR
//! as well (RFC 6793 section 4.2.2).

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use super::CodecContext;
use super::as_path::{PathEncoding, as_path_len, put_as_path};
use super::attribute::{
    Aggregator, AsPath, Community, ExtendedCommunity, LargeCommunity, MpReach, MpUnreach, Origin,
    PathAttributes, RawAttribute,
};
use super::iana::{AS_TRANS, attr_flag, attr_type};
use super::prefix::{put_v6, v6_wire_len};

/// One attribute as it goes on the wire.
enum Wire<'a> {
    MpReach(&'a MpReach),
    MpUnreach(&'a MpUnreach),
    Origin(Origin),
    AsPath(&'a AsPath, PathEncoding),
    NextHop(Ipv4Addr),
    Med(u32),
    LocalPref(u32),
    AtomicAggregate,
    /// The aggregator and whether its AS goes in 2 octets.
    Aggregator(Aggregator, bool),
    Communities(&'a [Community]),
    ExtendedCommunities(&'a [ExtendedCommunity]),
    As4Path(&'a AsPath),
    As4Aggregator(Aggregator),
    LargeCommunities(&'a [LargeCommunity]),
    Raw(&'a RawAttribute),
}

impl Wire<'_> {
    /// Flags without the Extended Length bit.
    fn flags(&self) -> u8 {
        const WELL_KNOWN: u8 = attr_flag::TRANSITIVE;
        const OPTIONAL_TRANSITIVE: u8 = attr_flag::OPTIONAL | attr_flag::TRANSITIVE;
        match self {
            Wire::Origin(_)
            | Wire::AsPath(..)
            | Wire::NextHop(_)
            | Wire::LocalPref(_)
            | Wire::AtomicAggregate => WELL_KNOWN,
            Wire::MpReach(_) | Wire::MpUnreach(_) | Wire::Med(_) => attr_flag::OPTIONAL,
            Wire::Aggregator(..)
            | Wire::Communities(_)
            | Wire::ExtendedCommunities(_)
            | Wire::As4Path(_)
            | Wire::As4Aggregator(_)
            | Wire::LargeCommunities(_) => OPTIONAL_TRANSITIVE,
            Wire::Raw(raw) => {
                let flags =
                    raw.flags & (attr_flag::OPTIONAL | attr_flag::TRANSITIVE | attr_flag::PARTIAL);
                // RFC 4271 section 5: an unrecognised optional transitive attribute we
                // pass on is marked Partial.
                if flags & OPTIONAL_TRANSITIVE == OPTIONAL_TRANSITIVE {
                    flags | attr_flag::PARTIAL
                } else {
                    flags
                }
            }
        }
    }

    fn type_code(&self) -> u8 {
        match self {
            Wire::MpReach(_) => attr_type::MP_REACH_NLRI,
            Wire::MpUnreach(_) => attr_type::MP_UNREACH_NLRI,
            Wire::Origin(_) => attr_type::ORIGIN,
            Wire::AsPath(..) => attr_type::AS_PATH,
            Wire::NextHop(_) => attr_type::NEXT_HOP,
            Wire::Med(_) => attr_type::MULTI_EXIT_DISC,
            Wire::LocalPref(_) => attr_type::LOCAL_PREF,
            Wire::AtomicAggregate => attr_type::ATOMIC_AGGREGATE,
            Wire::Aggregator(..) => attr_type::AGGREGATOR,
            Wire::Communities(_) => attr_type::COMMUNITIES,
            Wire::ExtendedCommunities(_) => attr_type::EXTENDED_COMMUNITIES,
            Wire::As4Path(_) => attr_type::AS4_PATH,
            Wire::As4Aggregator(_) => attr_type::AS4_AGGREGATOR,
            Wire::LargeCommunities(_) => attr_type::LARGE_COMMUNITIES,
            Wire::Raw(raw) => raw.type_code,
        }
    }

    fn value_len(&self) -> usize {
        match self {
            Wire::MpReach(reach) => {
                // AFI, SAFI, next hop length, next hop, reserved, NLRI.
                4 + next_hop_len(reach) + 1 + reach.nlri.iter().map(v6_wire_len).sum::<usize>()
            }
            Wire::MpUnreach(unreach) => {
                3 + unreach.withdrawn.iter().map(v6_wire_len).sum::<usize>()
            }
            Wire::Origin(_) => 1,
            Wire::AsPath(path, encoding) => as_path_len(path, *encoding),
            Wire::NextHop(_) | Wire::Med(_) | Wire::LocalPref(_) => 4,
            Wire::AtomicAggregate => 0,
            Wire::Aggregator(_, two_octet) => {
                if *two_octet {
                    6
                } else {
                    8
                }
            }
            Wire::Communities(communities) => 4 * communities.len(),
            Wire::ExtendedCommunities(communities) => 8 * communities.len(),
            Wire::As4Path(path) => as_path_len(path, PathEncoding::As4),
            Wire::As4Aggregator(_) => 8,
            Wire::LargeCommunities(large) => 12 * large.len(),
            Wire::Raw(raw) => raw.value.len(),
        }
    }

    fn put_value(&self, out: &mut BytesMut) {
        match self {
            Wire::MpReach(reach) => {
                out.put_u16(reach.family.afi.to_u16());
                out.put_u8(reach.family.safi.to_u8());
                out.put_u8(next_hop_len(reach) as u8);
                out.put_slice(&reach.next_hop.global.octets());
                if let Some(link_local) = reach.next_hop.link_local {
                    out.put_slice(&link_local.octets());
                }
                out.put_u8(0);
                for net in &reach.nlri {
                    put_v6(out, net);
                }
            }
            Wire::MpUnreach(unreach) => {
                out.put_u16(unreach.family.afi.to_u16());
                out.put_u8(unreach.family.safi.to_u8());
                for net in &unreach.withdrawn {
                    put_v6(out, net);
                }
            }
            Wire::Origin(origin) => out.put_u8(*origin as u8),
            Wire::AsPath(path, encoding) => put_as_path(out, path, *encoding),
            Wire::NextHop(address) => out.put_slice(&address.octets()),
            Wire::Med(value) | Wire::LocalPref(value) => out.put_u32(*value),
            Wire::AtomicAggregate => {}
            Wire::Aggregator(aggregator, two_octet) => {
                if *two_octet {
                    out.put_u16(u16::try_from(aggregator.asn).unwrap_or(AS_TRANS));
                } else {
                    out.put_u32(aggregator.asn);
                }
                out.put_slice(&aggregator.address.octets());
            }
            Wire::Communities(communities) => {
                for community in *communities {
                    out.put_u32(community.0);
                }
            }
            Wire::ExtendedCommunities(communities) => {
                for community in *communities {
                    out.put_slice(&community.0);
                }
            }
            Wire::As4Path(path) => put_as_path(out, path, PathEncoding::As4),
            Wire::As4Aggregator(aggregator) => {
                out.put_u32(aggregator.asn);
                out.put_slice(&aggregator.address.octets());
            }
            Wire::LargeCommunities(large) => {
                for community in *large {
                    out.put_u32(community.global_admin);
                    out.put_u32(community.local_data1);
                    out.put_u32(community.local_data2);
                }
            }
            Wire::Raw(raw) => out.put_slice(&raw.value),
        }
    }

    /// Octets of the whole attribute, header included.
    fn wire_len(&self) -> usize {
        let len = self.value_len();
        if len > 255 { 4 + len } else { 3 + len }
    }

    fn put(&self, out: &mut BytesMut) {
        let len = self.value_len();
        if len > 255 {
            out.put_u8(self.flags() | attr_flag::EXTENDED_LENGTH);
            out.put_u8(self.type_code());
            out.put_u16(u16::try_from(len).unwrap_or(u16::MAX));
        } else {
            out.put_u8(self.flags());
            out.put_u8(self.type_code());
            out.put_u8(len as u8);
        }
        self.put_value(out);
    }
}

fn next_hop_len(reach: &MpReach) -> usize {
    if reach.next_hop.link_local.is_some() {
        32
    } else {
        16
    }
}

/// Calls `f` with every attribute to send, in wire order.
fn for_each<'a>(attrs: &'a PathAttributes, cx: &CodecContext, mut f: impl FnMut(Wire<'a>)) {
    let two_octet = !cx.four_octet_as;
    if let Some(reach) = &attrs.mp_reach {
        f(Wire::MpReach(reach));
    }
    if let Some(unreach) = &attrs.mp_unreach {
        f(Wire::MpUnreach(unreach));
    }
    if let Some(origin) = attrs.origin {
        f(Wire::Origin(origin));
    }
    if let Some(path) = &attrs.as_path {
        f(Wire::AsPath(
            path,
            if two_octet {
                PathEncoding::Two
            } else {
                PathEncoding::Four
            },
        ));
    }
    if let Some(next_hop) = attrs.next_hop {
        f(Wire::NextHop(next_hop));
    }
    if let Some(med) = attrs.med {
        f(Wire::Med(med));
    }
    if let Some(local_pref) = attrs.local_pref {
        f(Wire::LocalPref(local_pref));
    }
    if attrs.atomic_aggregate {
        f(Wire::AtomicAggregate);
    }
    if let Some(aggregator) = attrs.aggregator {
        f(Wire::Aggregator(aggregator, two_octet));
    }
    if !attrs.communities.is_empty() {
        f(Wire::Communities(&attrs.communities));
    }
    if !attrs.extended_communities.is_empty() {
        f(Wire::ExtendedCommunities(&attrs.extended_communities));
    }
    if two_octet {
        if let Some(path) = attrs.as_path.as_ref().filter(|path| path.needs_as4_path()) {
            f(Wire::As4Path(path));
        }
        if let Some(aggregator) = attrs.aggregator.filter(|a| a.asn > u32::from(u16::MAX)) {
            f(Wire::As4Aggregator(aggregator));
        }
    }
    if !attrs.large_communities.is_empty() {
        f(Wire::LargeCommunities(&attrs.large_communities));
    }
    for raw in &attrs.unknown {
        f(Wire::Raw(raw));
    }
}

/// Octets the Path Attributes field takes for `attrs`.
pub(crate) fn attributes_len(attrs: &PathAttributes, cx: &CodecContext) -> usize {
    let mut total = 0;
    for_each(attrs, cx, |attribute| total += attribute.wire_len());
    total
}

/// Appends the Path Attributes field.
pub(crate) fn put_attributes(out: &mut BytesMut, attrs: &PathAttributes, cx: &CodecContext) {
    for_each(attrs, cx, |attribute| attribute.put(out));
}
