//! AS_PATH and AS4_PATH on the wire (RFC 4271 section 4.3, RFC 6793, RFC 5065), and
//! the RFC 6793 section 4.2.3 reconstruction of a 4-octet path from AS_PATH + AS4_PATH.

use bytes::{BufMut, BytesMut};

use super::attribute::{AsPath, AsSegment, AsSegmentKind};
use super::iana::AS_TRANS;
use super::reader::Reader;

/// The most AS numbers one segment can hold (its length field is one octet).
const MAX_SEGMENT_ASNS: usize = 255;

impl AsSegmentKind {
    pub fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            1 => AsSegmentKind::Set,
            2 => AsSegmentKind::Sequence,
            3 => AsSegmentKind::ConfedSequence,
            4 => AsSegmentKind::ConfedSet,
            _ => return None,
        })
    }

    pub fn is_confed(self) -> bool {
        matches!(
            self,
            AsSegmentKind::ConfedSequence | AsSegmentKind::ConfedSet
        )
    }
}

impl AsPath {
    /// The path length used for route selection (RFC 4271 section 9.1.2.2, RFC 5065
    /// section 5.3): an AS_SET counts as one, confederation segments count as zero.
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|segment| match segment.kind {
                AsSegmentKind::Sequence => segment.asns.len(),
                AsSegmentKind::Set => 1,
                AsSegmentKind::ConfedSequence | AsSegmentKind::ConfedSet => 0,
            })
            .sum()
    }

    /// Whether an OLD (2-octet) peer needs AS4_PATH to see this path (RFC 6793 4.2.2).
    pub(crate) fn needs_as4_path(&self) -> bool {
        self.segments
            .iter()
            .filter(|segment| !segment.kind.is_confed())
            .any(|segment| segment.asns.iter().any(|&asn| asn > u32::from(u16::MAX)))
    }
}

/// Decodes AS_PATH (or AS4_PATH with `four_octet`). `None` means malformed in the sense
/// of RFC 7606 section 7.2 (unknown segment type, zero-length segment, a segment running
/// past the attribute) or of RFC 7607 (AS 0).
pub(crate) fn decode_as_path(value: &[u8], four_octet: bool) -> Option<AsPath> {
    let width = if four_octet { 4 } else { 2 };
    let mut r = Reader::new(value);
    let mut segments = Vec::new();
    while !r.is_empty() {
        let kind = AsSegmentKind::from_u8(r.u8()?)?;
        let count = usize::from(r.u8()?);
        if count == 0 {
            return None;
        }
        let mut asns = Reader::new(r.take(count * width)?);
        let mut segment = AsSegment {
            kind,
            asns: Vec::with_capacity(count),
        };
        while !asns.is_empty() {
            let asn = if four_octet {
                asns.u32()?
            } else {
                u32::from(asns.u16()?)
            };
            // RFC 7607: AS 0 makes the path malformed.
            if asn == 0 {
                return None;
            }
            segment.asns.push(asn);
        }
        segments.push(segment);
    }
    Some(AsPath { segments })
}

/// Which segments to write and how wide the AS numbers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathEncoding {
    /// AS_PATH between NEW speakers: everything, 4 octets.
    Four,
    /// AS_PATH to an OLD speaker: everything, 2 octets, AS_TRANS for larger numbers.
    Two,
    /// AS4_PATH to an OLD speaker: no confederation segments, 4 octets.
    As4,
}

impl PathEncoding {
    fn width(self) -> usize {
        match self {
            PathEncoding::Two => 2,
            PathEncoding::Four | PathEncoding::As4 => 4,
        }
    }

    fn includes(self, segment: &AsSegment) -> bool {
        self != PathEncoding::As4 || !segment.kind.is_confed()
    }
}

/// Octets the path takes on the wire; segments longer than 255 AS numbers are split.
pub(crate) fn as_path_len(path: &AsPath, encoding: PathEncoding) -> usize {
    path.segments
        .iter()
        .filter(|segment| encoding.includes(segment))
        .map(|segment| {
            let chunks = segment.asns.len().div_ceil(MAX_SEGMENT_ASNS).max(1);
            2 * chunks + encoding.width() * segment.asns.len()
        })
        .sum()
}

pub(crate) fn put_as_path(out: &mut BytesMut, path: &AsPath, encoding: PathEncoding) {
    for segment in path
        .segments
        .iter()
        .filter(|segment| encoding.includes(segment))
    {
        if segment.asns.is_empty() {
            // Not a valid segment; written so the length computed above stays true.
            out.put_u8(segment.kind as u8);
            out.put_u8(0);
        }
        for chunk in segment.asns.chunks(MAX_SEGMENT_ASNS) {
            out.put_u8(segment.kind as u8);
            out.put_u8(chunk.len() as u8);
            for &asn in chunk {
                match encoding {
                    PathEncoding::Two => out.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS)),
                    PathEncoding::Four | PathEncoding::As4 => out.put_u32(asn),
                }
            }
        }
    }
}

/// Rebuilds the real AS path from an OLD speaker's AS_PATH and AS4_PATH (RFC 6793
/// section 4.2.3): when AS_PATH holds fewer AS numbers than AS4_PATH, AS4_PATH is ignored;
/// otherwise the leading AS numbers of AS_PATH that AS4_PATH lacks (plus confederation
/// segments leading or next to them) are put in front of AS4_PATH.
pub(crate) fn merge_as4_path(as_path: AsPath, as4_path: AsPath) -> AsPath {
    let mut as4_segments: Vec<AsSegment> = as4_path
        .segments
        .into_iter()
        .filter(|segment| !segment.kind.is_confed())
        .collect();
    let as4_len: usize = as4_segments
        .iter()
        .map(|segment| {
            if segment.kind == AsSegmentKind::Set {
                1
            } else {
                segment.asns.len()
            }
        })
        .sum();
    let as_len = as_path.path_len();
    if as_len < as4_len {
        return as_path;
    }
    let mut wanted = as_len - as4_len;
    let mut merged: Vec<AsSegment> =
        Vec::with_capacity(as_path.segments.len() + as4_segments.len());
    for segment in as_path.segments {
        if segment.kind.is_confed() {
            merged.push(segment);
            continue;
        }
        if wanted == 0 {
            break;
        }
        match segment.kind {
            AsSegmentKind::Set => {
                wanted -= 1;
                merged.push(segment);
            }
            _ => {
                let take = wanted.min(segment.asns.len());
                wanted -= take;
                let whole = take == segment.asns.len();
                let mut segment = segment;
                segment.asns.truncate(take);
                merged.push(segment);
                if !whole {
                    break;
                }
            }
        }
    }
    // Join a trailing AS_SEQUENCE with a leading one of AS4_PATH: one sequence, as sent.
    let mut rest = as4_segments.drain(..);
    if let (Some(last), Some(first)) = (merged.last_mut(), rest.as_slice().first())
        && last.kind == AsSegmentKind::Sequence
        && first.kind == AsSegmentKind::Sequence
        && let Some(first) = rest.next()
    {
        last.asns.extend(first.asns);
    }
    merged.extend(rest);
    AsPath { segments: merged }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(asns: &[u32]) -> AsSegment {
        AsSegment {
            kind: AsSegmentKind::Sequence,
            asns: asns.to_vec(),
        }
    }

    fn path(segments: Vec<AsSegment>) -> AsPath {
        AsPath { segments }
    }

    #[test]
    fn merge_puts_leading_as_path_numbers_in_front_of_as4_path() {
        // An OLD speaker (65001) prepended itself to a path a NEW speaker sent it.
        let as_path = path(vec![seq(&[65001, 23456, 65002])]);
        let as4 = path(vec![seq(&[4_200_000_000, 65002])]);
        assert_eq!(
            merge_as4_path(as_path, as4),
            path(vec![seq(&[65001, 4_200_000_000, 65002])])
        );
    }

    #[test]
    fn merge_ignores_as4_path_longer_than_as_path() {
        let as_path = path(vec![seq(&[65001])]);
        let as4 = path(vec![seq(&[4_200_000_000, 65002])]);
        assert_eq!(merge_as4_path(as_path.clone(), as4), as_path);
    }

    #[test]
    fn merge_keeps_leading_confederation_segments_and_drops_them_from_as4_path() {
        let confed = AsSegment {
            kind: AsSegmentKind::ConfedSequence,
            asns: vec![65100],
        };
        let as_path = path(vec![confed.clone(), seq(&[23456, 65002])]);
        let as4 = path(vec![
            AsSegment {
                kind: AsSegmentKind::ConfedSet,
                asns: vec![1],
            },
            seq(&[4_200_000_000, 65002]),
        ]);
        assert_eq!(
            merge_as4_path(as_path, as4),
            path(vec![confed, seq(&[4_200_000_000, 65002])])
        );
    }

    #[test]
    fn merge_counts_an_as_set_as_one() {
        let set = AsSegment {
            kind: AsSegmentKind::Set,
            asns: vec![1, 2, 3],
        };
        let as_path = path(vec![set.clone(), seq(&[23456])]);
        let as4 = path(vec![seq(&[4_200_000_000])]);
        assert_eq!(
            merge_as4_path(as_path, as4),
            path(vec![set, seq(&[4_200_000_000])])
        );
    }

    #[test]
    fn long_segments_are_split_at_255() {
        let long = AsPath::sequence(1..=300);
        let mut out = BytesMut::new();
        put_as_path(&mut out, &long, PathEncoding::Four);
        assert_eq!(out.len(), as_path_len(&long, PathEncoding::Four));
        let decoded = decode_as_path(&out, true).unwrap();
        assert_eq!(decoded.segments.len(), 2);
        assert_eq!(decoded.segments[0].asns.len(), 255);
        assert_eq!(decoded.path_len(), 300);
    }

    #[test]
    fn two_octet_encoding_substitutes_as_trans() {
        let mut out = BytesMut::new();
        put_as_path(
            &mut out,
            &AsPath::sequence([65001, 4_200_000_000]),
            PathEncoding::Two,
        );
        assert_eq!(&out[..], &[2, 2, 0xFD, 0xE9, 0x5B, 0xA0]);
    }

    #[test]
    fn malformed_segments_are_rejected() {
        assert_eq!(
            decode_as_path(&[5, 1, 0, 1], false),
            None,
            "unknown segment type"
        );
        assert_eq!(decode_as_path(&[2, 0], false), None, "empty segment");
        assert_eq!(decode_as_path(&[2, 2, 0, 1], false), None, "overrun");
        assert_eq!(
            decode_as_path(&[2, 1, 0, 1, 2], false),
            None,
            "one octet left over"
        );
        assert_eq!(decode_as_path(&[2, 1, 0, 0], false), None, "AS 0");
        assert_eq!(decode_as_path(&[], false), Some(AsPath::default()));
    }
}
