//! Waiting until a condition holds, with a deadline and a message saying what never
//! happened. The deadlines are safety nets for a loaded CI machine, not timing assertions;
//! tests that care how long something took print it ([`ms`]).
//!
//! An absence ("nothing was announced") is not something to wait for: check it after a
//! positive event that proves the change was processed.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long [`eventually`] waits.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// How often [`wait_until`] polls (cheap probes: files, `/status` on loopback).
pub const POLL: Duration = Duration::from_millis(5);

/// How often [`eventually`] polls (probes that may call an API server).
pub const ASYNC_POLL: Duration = Duration::from_millis(50);

/// Calls `probe` every [`POLL`] until it returns `Some`, and returns that value with the
/// time it took. Panics with `what` and the last `describe()` after `timeout`.
pub fn wait_until<T>(
    timeout: Duration,
    what: &str,
    probe: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> (T, Duration) {
    wait_until_every(POLL, timeout, what, probe, describe)
}

/// [`wait_until`], probing every `interval` (for probes that cost a process each, such as
/// `kubectl`).
pub fn wait_until_every<T>(
    interval: Duration,
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
        std::thread::sleep(interval);
    }
}

/// Awaits `check` every [`ASYNC_POLL`] until it returns `Some`, for at most [`TIMEOUT`];
/// panics with `what`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(TIMEOUT, what, check).await
}

/// [`eventually`] with its own deadline (for a wait that is heavy work, not a reaction).
pub async fn eventually_within<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_showing_within(timeout, what, || {
        let checked = check();
        async move { checked.await.ok_or("no value yet") }
    })
    .await
}

/// Like [`eventually`], with `check` returning `Err(what it saw)` until the condition
/// holds; the panic after [`TIMEOUT`] shows the last thing it saw.
pub async fn eventually_showing<T, S, F, Fut>(what: &str, check: F) -> T
where
    S: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S>>,
{
    eventually_showing_within(TIMEOUT, what, check).await
}

async fn eventually_showing_within<T, S, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    S: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let seen = match check().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {:.0} s waiting until: {what}; last seen: {seen:?}",
            timeout.as_secs_f64()
        );
        tokio::time::sleep(ASYNC_POLL).await;
    }
}

/// Milliseconds with one decimal, for printed figures.
pub fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_until_returns_the_first_value_the_probe_gives() {
        let mut calls = 0;
        let (value, _) = wait_until(
            Duration::from_secs(5),
            "the third call",
            || {
                calls += 1;
                (calls == 3).then_some("third")
            },
            String::new,
        );
        assert_eq!((value, calls), ("third", 3));
    }

    #[test]
    #[should_panic(expected = "waiting for never; last seen: nothing")]
    fn wait_until_panics_with_what_and_the_last_state_after_the_timeout() {
        wait_until(
            Duration::from_millis(20),
            "never",
            || None::<()>,
            || "nothing".into(),
        );
    }

    #[tokio::test]
    async fn eventually_polls_until_the_check_gives_a_value() {
        let mut calls = 0;
        let value = eventually("the second call", || {
            calls += 1;
            let done = calls == 2;
            async move { done.then_some(7) }
        })
        .await;
        assert_eq!((value, calls), (7, 2));
    }

    #[test]
    fn ms_has_one_decimal() {
        assert_eq!(ms(Duration::from_micros(1_500)), "1.5 ms");
    }
}
