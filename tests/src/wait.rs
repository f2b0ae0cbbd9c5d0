//! Polling with a deadline. The deadlines are safety nets for a loaded CI machine, not
//! timing assertions: the tests print how long things took.

use std::time::{Duration, Instant};

/// How often [`wait_until`] polls.
pub const POLL: Duration = Duration::from_millis(5);

/// Calls `probe` every [`POLL`] until it returns `Some`, and returns that value with the
/// time it took. Panics with `what` and the last `describe()` after `timeout`.
pub fn wait_until<T>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> (T, Duration) {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return (value, start.elapsed());
        }
        if start.elapsed() > timeout {
            panic!(
                "timed out after {:.1} s waiting for {what}; last seen: {}",
                timeout.as_secs_f64(),
                describe()
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Milliseconds with one decimal, for printed figures.
pub fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
