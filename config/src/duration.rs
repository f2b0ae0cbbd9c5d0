//! Durations in the Go syntax MetalLB users write: `90s`, `1m30s`, `1.5h`, `300ms`.

use std::time::Duration;

use crate::error::DurationFault;

/// Parses a Go-style duration: one or more `<number><unit>` terms, units `h`, `m`, `s`,
/// `ms`, `us` (or `µs`), `ns`; decimal fractions allowed (`1.5s`); a bare `0` is zero.
pub fn parse_duration(text: &str) -> Result<Duration, DurationFault> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.starts_with('-') {
        return Err(DurationFault::Negative);
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    if text.is_empty() {
        return Err(DurationFault::NotANumber);
    }
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        rest = &rest[number_len..];
        if number.is_empty() || number == "." {
            return Err(DurationFault::NotANumber);
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos_per_unit: u128 = match unit {
            "" => return Err(DurationFault::MissingUnit),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(DurationFault::UnknownUnit),
        };
        total = total
            .checked_add(scaled(number, nanos_per_unit)?)
            .ok_or(DurationFault::Overflow)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationFault::Overflow)?;
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| DurationFault::Overflow)?;
    Ok(Duration::new(secs, nanos))
}

/// `number` (decimal, maybe with a fraction) times `unit` nanoseconds, truncated.
fn scaled(number: &str, unit: u128) -> Result<u128, DurationFault> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
        return Err(DurationFault::NotANumber);
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| DurationFault::Overflow)?
    };
    let mut value = whole.checked_mul(unit).ok_or(DurationFault::Overflow)?;
    let mut scale = unit;
    for digit in fraction.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        value += u128::from(digit - b'0') * scale;
    }
    Ok(value)
}

/// Formats a duration so that [`parse_duration`] reads it back exactly: whole seconds as
/// `90s`, otherwise the largest of `ms`, `us`, `ns` that is exact.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        "0s".to_string()
    } else if nanos.is_multiple_of(1_000_000_000) {
        format!("{}s", nanos / 1_000_000_000)
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("1h2m3s"), Ok(Duration::from_secs(3723)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("20us"), Ok(Duration::from_micros(20)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_say_why() {
        assert_eq!(parse_duration("90"), Err(DurationFault::MissingUnit));
        assert_eq!(parse_duration("90x"), Err(DurationFault::UnknownUnit));
        assert_eq!(parse_duration("s"), Err(DurationFault::NotANumber));
        assert_eq!(parse_duration(""), Err(DurationFault::NotANumber));
        assert_eq!(parse_duration("-1s"), Err(DurationFault::Negative));
        assert_eq!(parse_duration("1..5s"), Err(DurationFault::NotANumber));
        assert_eq!(
            parse_duration("99999999999999999999999999999999h"),
            Err(DurationFault::Overflow)
        );
    }

    #[test]
    fn formatted_durations_parse_back() {
        for d in [
            Duration::ZERO,
            Duration::from_secs(90),
            Duration::from_millis(1500),
            Duration::from_micros(20),
            Duration::from_nanos(123_456_789_012),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
    }
}
