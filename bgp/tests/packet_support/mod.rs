//! Helpers shared by the packet tests: hex fixtures with comments, contexts.
#![allow(dead_code)]

use std::path::PathBuf;

#[allow(unused_imports)] // each test binary uses a different part
pub use herald_testsupport::hex::{hex, hex_string};

use bgp::packet::CodecContext;

pub const FOUR: CodecContext = CodecContext {
    four_octet_as: true,
    extended_message: false,
};
pub const TWO: CodecContext = CodecContext {
    four_octet_as: false,
    extended_message: false,
};
/// A session that negotiated extended messages (RFC 8654).
pub const EXTENDED: CodecContext = CodecContext {
    four_octet_as: true,
    extended_message: true,
};

/// The messages of a capture file under tests/fixtures: one hex message per line,
/// `#` lines are comments.
pub fn capture(name: &str) -> Vec<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(hex)
        .collect()
}

/// The 16-octet marker, as hex.
pub const MARKER: &str = "ffffffffffffffffffffffffffffffff";
