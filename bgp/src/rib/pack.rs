//! Packing many prefixes that share attributes into as few UPDATEs as fit in the
//! session's message limit each: 4096 octets, or 65535 with extended messages (RFC
//! 8654). All prefixes of one call share the attributes, so greedy filling in order gives
//! the fewest messages.

use ipnet::{Ipv4Net, Ipv6Net};

use crate::packet::{
    AfiSafi, CodecContext, HEADER_LEN, MpNextHop, MpReach, MpUnreach, PathAttributes, UpdateMsg,
    attributes_len, v4_wire_len, v6_wire_len,
};

/// Withdrawn Routes Length + Total Path Attribute Length.
const UPDATE_LENGTH_FIELDS: usize = 4;
/// An attribute header with a 2-octet length.
const EXTENDED_ATTRIBUTE_HEADER: usize = 4;
/// AFI + SAFI of MP_UNREACH_NLRI.
const MP_UNREACH_FIXED: usize = 3;
/// AFI + SAFI + next hop length + reserved of MP_REACH_NLRI.
const MP_REACH_FIXED: usize = 5;

/// Splits `items` into runs whose wire sizes add up to at most `budget` octets each
/// (at least one item per run, so an over-long attribute set still makes progress).
fn chunks<T>(items: &[T], budget: usize, size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut runs = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let mut used = 0;
        let mut count = 0;
        for item in rest {
            let item_len = size(item);
            if count > 0 && used + item_len > budget {
                break;
            }
            used += item_len;
            count += 1;
        }
        let (run, tail) = rest.split_at(count);
        runs.push(run);
        rest = tail;
    }
    runs
}

/// UPDATEs announcing IPv4 `prefixes` in the NLRI field with `attrs` (which should
/// carry ORIGIN, AS_PATH and NEXT_HOP). No prefixes, no UPDATEs.
pub fn pack_announce_v4(
    attrs: &PathAttributes,
    prefixes: &[Ipv4Net],
    cx: &CodecContext,
) -> Vec<UpdateMsg> {
    let fixed = HEADER_LEN + UPDATE_LENGTH_FIELDS + attributes_len(attrs, cx);
    let budget = cx.max_message_len().saturating_sub(fixed);
    chunks(prefixes, budget, v4_wire_len)
        .into_iter()
        .map(|run| UpdateMsg {
            withdrawn: Vec::new(),
            attributes: attrs.clone(),
            nlri: run.to_vec(),
        })
        .collect()
}

/// UPDATEs announcing IPv6 unicast `prefixes` in MP_REACH_NLRI with `next_hop`. The
/// other attributes come from `attrs`; its NEXT_HOP and MP attributes are ignored.
pub fn pack_announce_v6(
    attrs: &PathAttributes,
    next_hop: MpNextHop,
    prefixes: &[Ipv6Net],
    cx: &CodecContext,
) -> Vec<UpdateMsg> {
    let base = PathAttributes {
        next_hop: None,
        mp_reach: None,
        mp_unreach: None,
        ..attrs.clone()
    };
    let next_hop_len = if next_hop.link_local.is_some() {
        32
    } else {
        16
    };
    let fixed = HEADER_LEN
        + UPDATE_LENGTH_FIELDS
        + attributes_len(&base, cx)
        + EXTENDED_ATTRIBUTE_HEADER
        + MP_REACH_FIXED
        + next_hop_len;
    let budget = cx.max_message_len().saturating_sub(fixed);
    chunks(prefixes, budget, v6_wire_len)
        .into_iter()
        .map(|run| {
            let mut attributes = base.clone();
            attributes.mp_reach = Some(MpReach {
                family: AfiSafi::IPV6_UNICAST,
                next_hop,
                nlri: run.to_vec(),
            });
            UpdateMsg {
                withdrawn: Vec::new(),
                attributes,
                nlri: Vec::new(),
            }
        })
        .collect()
}

/// UPDATEs withdrawing IPv4 `prefixes` in the Withdrawn Routes field.
pub fn pack_withdraw_v4(prefixes: &[Ipv4Net], cx: &CodecContext) -> Vec<UpdateMsg> {
    let budget = cx.max_message_len() - HEADER_LEN - UPDATE_LENGTH_FIELDS;
    chunks(prefixes, budget, v4_wire_len)
        .into_iter()
        .map(|run| UpdateMsg {
            withdrawn: run.to_vec(),
            ..UpdateMsg::default()
        })
        .collect()
}

/// UPDATEs withdrawing IPv6 unicast `prefixes` in MP_UNREACH_NLRI.
pub fn pack_withdraw_v6(prefixes: &[Ipv6Net], cx: &CodecContext) -> Vec<UpdateMsg> {
    let budget = cx.max_message_len()
        - HEADER_LEN
        - UPDATE_LENGTH_FIELDS
        - EXTENDED_ATTRIBUTE_HEADER
        - MP_UNREACH_FIXED;
    chunks(prefixes, budget, v6_wire_len)
        .into_iter()
        .map(|run| {
            let mut update = UpdateMsg::default();
            update.attributes.mp_unreach = Some(MpUnreach {
                family: AfiSafi::IPV6_UNICAST,
                withdrawn: run.to_vec(),
            });
            update
        })
        .collect()
}
