//! The layer order that `lib.rs` describes holds in the sources: `centiseconds` <-
//! `packet` <- `fsm` <- `driver`. A module never names one of a later layer.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

use std::path::{Path, PathBuf};

use herald_testsupport::source::{production_code, rust_files};

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
        let code = production_code(&file);
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
