//! Helpers shared by the packet tests: hex with comments, the captured fixtures.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::PathBuf;

#[allow(unused_imports)] // each test binary uses a different part
pub use herald_testsupport::hex::{hex, hex_string};

use vrrp::packet::PseudoHeader;

/// The pseudo-header of a packet from `source` to `destination` (one family).
pub fn pseudo(source: &str, destination: &str) -> PseudoHeader {
    match (
        source.parse::<IpAddr>().expect("source"),
        destination.parse::<IpAddr>().expect("destination"),
    ) {
        (IpAddr::V4(source), IpAddr::V4(destination)) => PseudoHeader::V4 {
            source,
            destination,
        },
        (IpAddr::V6(source), IpAddr::V6(destination)) => PseudoHeader::V6 {
            source,
            destination,
        },
        _ => panic!("{source} and {destination} are of different families"),
    }
}

/// One advert of a capture file.
#[derive(Debug)]
pub struct Captured {
    /// The `#` line before it.
    pub comment: String,
    pub header: PseudoHeader,
    pub hop_limit: u8,
    pub payload: Vec<u8>,
}

/// The adverts of a capture file under tests/fixtures: lines of
/// `SOURCE DESTINATION TTL PAYLOAD_HEX`, each after a `#` comment.
pub fn captures(name: &str) -> Vec<Captured> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut comment = String::new();
    let mut adverts = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(c) = line.strip_prefix('#') {
            comment = c.trim().to_string();
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [source, destination, hop_limit, payload] = fields[..] else {
            panic!("{}: bad line {line:?}", path.display());
        };
        adverts.push(Captured {
            comment: comment.clone(),
            header: pseudo(source, destination),
            hop_limit: hop_limit.parse().expect("hop limit"),
            payload: hex(payload),
        });
    }
    assert!(!adverts.is_empty(), "{} holds no adverts", path.display());
    adverts
}
