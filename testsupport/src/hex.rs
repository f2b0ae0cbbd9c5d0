//! Hex fixtures: byte vectors written as commented hex text, and bytes printed back as
//! hex for readable assertion failures.

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

/// `bytes` as lower-case hex, two digits each, no separators.
pub fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_whitespace_are_ignored_and_bytes_print_back() {
        let bytes = hex("ff 00 # marker\n  0a1b\n");
        assert_eq!(bytes, [0xff, 0x00, 0x0a, 0x1b]);
        assert_eq!(hex_string(&bytes), "ff000a1b");
    }
}
