//! Polling helpers. Timeouts are safety nets for a broken setup, not timing assertions.

use std::time::{Duration, Instant};

/// How often the helpers poll unless told otherwise.
pub const POLL: Duration = Duration::from_millis(25);

/// Polls `probe` every `interval` until it returns `Some`, or `timeout` passes (`None`).
pub fn poll_every<T>(
    timeout: Duration,
    interval: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(interval);
    }
}

/// Polls `probe` every [`POLL`] until it returns `Some`, or `timeout` passes (`None`).
pub fn poll_until<T>(timeout: Duration, probe: impl FnMut() -> Option<T>) -> Option<T> {
    poll_every(timeout, POLL, probe)
}

/// Like [`poll_until`], but a timeout fails the test with `what` in the message.
pub fn wait_until<T>(timeout: Duration, what: &str, probe: impl FnMut() -> Option<T>) -> T {
    poll_until(timeout, probe)
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting until {what}"))
}

/// Checks that `probe` keeps returning `Ok` for the whole of `duration`; the first `Err`
/// fails the test with `what` and the probe's message.
pub fn holds_for(duration: Duration, what: &str, mut probe: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        if let Err(why) = probe() {
            panic!("expected {what} for {duration:?}, but: {why}");
        }
        std::thread::sleep(POLL);
    }
}
