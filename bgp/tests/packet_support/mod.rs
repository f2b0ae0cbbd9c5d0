//! Helpers shared by the packet tests: hex fixtures with comments, contexts.
#![allow(dead_code)]

use std::path::PathBuf;

use bgp::packet::CodecContext;

pub const FOUR: CodecContext = CodecContext {
    four_octet_as: true,
};
pub const TWO: CodecContext = CodecContext {
    four_octet_as: false,
};

/// Bytes from hex text; whitespace is ignored and `#` starts a comment to end of line.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in fixture"
    );
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
}

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
