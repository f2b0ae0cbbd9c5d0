//! What the benchmarks (`tests/benches`, `harness = false`) share: their arguments and
//! the summary they print. Under `cargo bench` (which passes `--bench`) they run in full
//! against the release build of the speaker; under `cargo test --all-targets` they run
//! once, small, against the debug build, as a smoke test.

use std::time::Duration;

use crate::speaker_binary::Profile;

/// Parsed benchmark arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchArgs {
    /// `--bench` was given: the full run.
    pub full: bool,
    /// `--rounds N`.
    pub rounds: Option<usize>,
    /// `--count N`.
    pub count: Option<usize>,
}

impl BenchArgs {
    /// From the process arguments; unknown ones (cargo's filters) are ignored.
    pub fn from_env() -> BenchArgs {
        Self::parse(std::env::args().skip(1))
    }

    pub fn parse(args: impl IntoIterator<Item = String>) -> BenchArgs {
        let mut parsed = BenchArgs {
            full: false,
            rounds: None,
            count: None,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bench" => parsed.full = true,
                "--rounds" => parsed.rounds = args.next().and_then(|v| v.parse().ok()),
                "--count" => parsed.count = args.next().and_then(|v| v.parse().ok()),
                _ => {}
            }
        }
        parsed
    }

    /// Release build for the full run, debug for the smoke test.
    pub fn profile(&self) -> Profile {
        if self.full {
            Profile::Release
        } else {
            Profile::Debug
        }
    }
}

/// Median, p90, min and max of some samples, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub samples: usize,
    pub median: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// `None` without samples.
    pub fn of_ms(samples: &[f64]) -> Option<Summary> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            // nearest rank
            let rank = (q * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        };
        Some(Summary {
            samples: sorted.len(),
            median: at(0.5),
            p90: at(0.9),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }

    pub fn of_durations(samples: &[Duration]) -> Option<Summary> {
        let ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        Self::of_ms(&ms)
    }
}

/// One line of the figures table: label, then median / p90 / min / max.
pub fn print_row(label: &str, summary: Option<Summary>) {
    match summary {
        Some(s) => println!(
            "{label:<58} {:>8.1} {:>8.1} {:>8.1} {:>8.1}  (n={})",
            s.median, s.p90, s.min, s.max, s.samples
        ),
        None => println!("{label:<58} {:>8}", "no samples"),
    }
}

/// The header [`print_row`] lines go under.
pub fn print_header(title: &str) {
    println!("\n{title}");
    println!(
        "{:<58} {:>8} {:>8} {:>8} {:>8}",
        "ms", "median", "p90", "min", "max"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_choose_the_full_run_and_its_sizes() {
        let args = |list: &[&str]| BenchArgs::parse(list.iter().map(|s| (*s).to_owned()));
        assert_eq!(
            args(&["--bench", "--rounds", "5", "filter"]),
            BenchArgs {
                full: true,
                rounds: Some(5),
                count: None
            }
        );
        let smoke = args(&[]);
        assert!(!smoke.full);
        assert_eq!(smoke.profile(), Profile::Debug);
        assert_eq!(args(&["--count", "10000"]).count, Some(10000));
    }

    #[test]
    fn summary_uses_nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = Summary::of_ms(&samples).expect("samples");
        assert_eq!((s.median, s.p90, s.min, s.max), (5.0, 9.0, 1.0, 10.0));
        assert_eq!(Summary::of_ms(&[]), None);
        assert_eq!(Summary::of_ms(&[3.0]).map(|s| s.p90), Some(3.0));
    }
}
