//! The `herald-speaker` binary the lab runs. Another package's binary is not built for a
//! test of this one, so the harness runs `cargo build -p herald-speaker` itself (cargo
//! does not hold its build lock while tests run; when the binary is fresh this takes a
//! fraction of a second). `HERALD_SPEAKER_BIN` names a binary to use instead.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Which build of the speaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `target/debug` (tests).
    Debug,
    /// `target/release` (benchmarks).
    Release,
}

/// The workspace root (the parent of this package).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The speaker binary of `profile`, built (once per process) if needed.
pub fn speaker_binary(profile: Profile) -> PathBuf {
    static DEBUG: OnceLock<PathBuf> = OnceLock::new();
    static RELEASE: OnceLock<PathBuf> = OnceLock::new();
    if let Some(path) = std::env::var_os("HERALD_SPEAKER_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "HERALD_SPEAKER_BIN={} is not a file",
            path.display()
        );
        return path;
    }
    let cell = match profile {
        Profile::Debug => &DEBUG,
        Profile::Release => &RELEASE,
    };
    cell.get_or_init(|| build(profile)).clone()
}

fn build(profile: Profile) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.current_dir(repo_root()).args([
        "build",
        "-p",
        "herald-speaker",
        "--bin",
        "herald-speaker",
    ]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    let status = command.status().expect("run cargo build -p herald-speaker");
    assert!(status.success(), "cargo build -p herald-speaker failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let dir = match profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
    };
    let path = target.join(dir).join("herald-speaker");
    assert!(path.is_file(), "{} missing after the build", path.display());
    path
}
