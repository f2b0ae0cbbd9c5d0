//! The layer order that `lib.rs` describes holds in the sources: `centiseconds` <-
//! `packet` <- `fsm` <- `driver`. A module never names one of a later layer.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

use std::path::{Path, PathBuf};

/// Top-level modules in layer order; each may use the modules of earlier ranks.
const LAYERS: &[(&str, u8)] = &[
    ("centiseconds", 0),
    ("packet", 1),
    ("fsm", 2),
    ("driver", 3),
];

fn rank(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, rank)| *rank)
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file without comments and without its `#[cfg(test)]` module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let production = text.split("#[cfg(test)]").next().unwrap_or_default();
    production
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn no_module_uses_a_later_layer() {
    let src = src();
    let mut checked = 0;
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = rank(&top) else {
            assert_eq!(top, "lib", "{} is not in LAYERS", relative.display());
            continue;
        };
        let code = code(&file);
        for (module, other) in LAYERS {
            // `crate::Centiseconds` is the root re-export of layer 0.
            let named = code.contains(&format!("crate::{module}"))
                || (*module == "centiseconds" && code.contains("crate::Centiseconds"));
            assert!(
                !named || *other <= own,
                "{} ({top}) uses the later layer {module}",
                relative.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} files found");
}

#[test]
fn no_file_is_too_long_to_read_in_one_sitting() {
    for file in rust_files(&src()) {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        assert!(lines < 800, "{} has {lines} lines", file.display());
    }
}
