//! Connect-retry backoff: exponential from the configured base, capped, with the
//! 0.75-1.0 jitter of RFC 4271 section 10.

use std::time::Duration;

/// The longest wait between connection attempts, unless the configured base is longer.
pub const MAX_CONNECT_RETRY: Duration = Duration::from_secs(120);

/// Backoff state of one peer. The random factor comes from a small deterministic
/// generator seeded by the caller, so tests can predict every delay.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    base: Duration,
    failures: u32,
    rng: SplitMix64,
}

impl Backoff {
    pub(crate) fn new(base: Duration, seed: u64) -> Self {
        // A zero base would make a peer spin on connect(); one second is the floor.
        let base = if base.is_zero() {
            Duration::from_secs(1)
        } else {
            base
        };
        Backoff {
            base,
            failures: 0,
            rng: SplitMix64(seed),
        }
    }

    /// Forget past failures (after a session reached Established, or a manual start).
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    /// Count one failure and return the delay before the next attempt:
    /// `base * 2^(failures - 1)`, capped, times a factor in [0.75, 1.0].
    pub(crate) fn next_after_failure(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.current()
    }

    /// The delay for the current failure count without counting a new failure
    /// (used as the timeout of the first attempt).
    pub(crate) fn current(&mut self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(20);
        let cap = MAX_CONNECT_RETRY.max(self.base);
        let raw = self.base.saturating_mul(1u32 << doublings).min(cap);
        raw.mul_f64(self.rng.jitter())
    }
}

/// SplitMix64: tiny, good enough to spread reconnects, and deterministic per seed.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A factor in [0.75, 1.0] (RFC 4271 section 10).
    fn jitter(&mut self) -> f64 {
        // 53 random bits -> [0, 1).
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        0.75 + 0.25 * unit
    }
}
