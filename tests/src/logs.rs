//! Timestamps in the logs the benchmarks read: the speaker's text log
//! (`2026-11-23T06:30:16.182145Z  INFO ...`, UTC) and tcpdump's `-tt` epoch seconds.
//! Everything becomes microseconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in microseconds since the epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's civil algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `2026-11-23T06:30:16.182145Z` (fraction optional, any precision) -> epoch µs.
pub fn parse_rfc3339_utc(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    let mut micros = 0i64;
    for (k, digit) in fraction.chars().take(6).enumerate() {
        let exponent = u32::try_from(5 - k).ok()?;
        micros += i64::from(digit.to_digit(10)?) * 10i64.pow(exponent);
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds * 1_000_000 + micros)
}

/// The timestamps (epoch µs) of the speaker log lines that contain `needle`.
pub fn speaker_log_times(log: &str, needle: &str) -> Vec<i64> {
    log.lines()
        .filter(|line| line.contains(needle))
        .filter_map(|line| parse_rfc3339_utc(line.split_whitespace().next()?))
        .collect()
}

/// `1795415395.123456` (tcpdump -tt) -> epoch µs.
pub fn parse_epoch_seconds(text: &str) -> Option<i64> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut micros = seconds.parse::<i64>().ok()? * 1_000_000;
    for (k, digit) in fraction.chars().take(6).enumerate() {
        let exponent = u32::try_from(5 - k).ok()?;
        micros += i64::from(digit.to_digit(10)?) * 10i64.pow(exponent);
    }
    Some(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_timestamps_become_epoch_microseconds() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_utc("2000-03-01T00:00:01.5Z"),
            Some(951_868_801_500_000)
        );
        assert_eq!(
            parse_rfc3339_utc("2026-11-23T06:30:16.182145Z"),
            Some(1_795_415_416_182_145)
        );
        assert_eq!(parse_rfc3339_utc("2026-11-23 06:30:16"), None);
    }

    #[test]
    fn speaker_lines_are_picked_by_their_text() {
        let log = "2026-11-23T06:30:16.000001Z  INFO herald_speaker::standalone::watch: standalone directory loaded services=1\n\
                   2026-11-23T06:30:17.000002Z  INFO herald_speaker::run: stopped\n";
        let times = speaker_log_times(log, "directory loaded");
        assert_eq!(times, vec![1_795_415_416_000_001]);
    }

    #[test]
    fn tcpdump_epoch_seconds_become_microseconds() {
        assert_eq!(parse_epoch_seconds("12.000034"), Some(12_000_034));
        assert_eq!(parse_epoch_seconds("12"), Some(12_000_000));
        assert_eq!(parse_epoch_seconds("x.1"), None);
    }
}
