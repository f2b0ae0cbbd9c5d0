//! The layer order that `lib.rs` describes holds in the sources: `packet` <- `fsm` <-
//! `rib` <- `session` <- `speaker`, with the shared types (`config`, `route`, `status`)
//! between `fsm` and `rib`. A module never names one of a later layer, and the files of
//! one module do not import each other in a cycle.
#![allow(clippy::unwrap_used)] // a panic in a test or benchmark is the failure report

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use herald_testsupport::source::{production_code, rust_files};

/// Top-level modules in layer order; each may use the modules of its own and earlier ranks.
const LAYERS: &[(&str, u8)] = &[
    ("sockopt", 0),
    ("packet", 0),
    ("fsm", 1),
    ("bfd", 1),
    ("config", 2),
    ("route", 2),
    ("status", 2),
    ("rib", 3),
    ("session", 4),
    ("speaker", 5),
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

/// Every identifier that follows `prefix` in `code` (`crate::fsm::Fsm` gives `fsm`).
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    code.match_indices(prefix)
        .map(|(at, _)| {
            code[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// The top-level module a source file belongs to (`fsm/open.rs` -> `fsm`).
fn top_module(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap();
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

#[test]
fn no_module_uses_a_module_of_a_later_layer() {
    let src = src();
    let mut violations = Vec::new();
    for file in rust_files(&src) {
        let module = top_module(&src, &file);
        if module == "lib" {
            continue;
        }
        let own = rank(&module)
            .unwrap_or_else(|| panic!("{module} is not in LAYERS: give it a place in the order"));
        for used in names_after(&production_code(&file), "crate::") {
            match rank(&used) {
                Some(theirs) if theirs > own => {
                    violations.push(format!("{} uses crate::{used}", file.display()));
                }
                _ => {}
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn files_of_one_module_do_not_import_each_other_in_a_cycle() {
    for module in ["packet", "fsm", "bfd", "rib", "session", "speaker"] {
        let dir = src().join(module);
        let siblings: BTreeSet<String> = rust_files(&dir)
            .iter()
            .filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().to_string()))
            .filter(|name| name != "mod")
            .collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for name in &siblings {
            let code = production_code(&dir.join(format!("{name}.rs")));
            let mut used = names_after(&code, "super::");
            used.extend(names_after(&code, &format!("crate::{module}::")));
            used.retain(|other| other != name && siblings.contains(other));
            edges.insert(name.clone(), used);
        }
        for (from, targets) in &edges {
            for to in targets {
                assert!(
                    !reaches(&edges, to, from),
                    "{module}: {from} uses {to}, which leads back to {from}"
                );
            }
        }
    }
}

fn reaches(edges: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(next) = stack.pop() {
        if next == to {
            return true;
        }
        if seen.insert(next.clone()) {
            stack.extend(edges.get(&next).into_iter().flatten().cloned());
        }
    }
    false
}
