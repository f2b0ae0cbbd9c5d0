//! Time in hundredths of a second, the unit of VRRPv3 intervals (RFC 5798 section 5.2.7).

use std::fmt;
use std::time::Duration;

/// A span of time in centiseconds. Every interval and timer of the state machine uses
/// it, so 10 ms adverts are exact and no float ever enters the arithmetic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Centiseconds(pub u32);

impl Centiseconds {
    pub const ZERO: Centiseconds = Centiseconds(0);

    /// Whole seconds.
    pub const fn from_secs(secs: u32) -> Self {
        Centiseconds(secs.saturating_mul(100))
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The same span as a [`Duration`], for the driver's timers.
    pub const fn as_duration(self) -> Duration {
        Duration::from_millis(self.0 as u64 * 10)
    }
}

impl fmt::Display for Centiseconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}s", self.0 / 100, self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::Centiseconds;
    use std::time::Duration;

    #[test]
    fn converts_to_a_duration_and_prints_as_seconds() {
        assert_eq!(Centiseconds(5).as_duration(), Duration::from_millis(50));
        assert_eq!(Centiseconds::from_secs(3), Centiseconds(300));
        assert_eq!(Centiseconds(305).to_string(), "3.05s");
    }
}
