//! Helpers shared by the integration tests.

#![allow(dead_code)]

use herald_config::Config;

/// The messages of every error a config produces (panics if it is accepted).
pub fn messages(yaml: &str) -> Vec<String> {
    match Config::from_yaml(yaml) {
        Ok(config) => panic!("config was accepted: {config:#?}\n---\n{yaml}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// Runs a table of (case, yaml, expected single message); reports every mismatch at once.
pub fn check_table(table: &[(&str, &str, &str)]) {
    let mut failures = Vec::new();
    for (case, yaml, expected) in table {
        match Config::from_yaml(yaml) {
            Ok(_) => failures.push(format!("{case}: accepted, expected `{expected}`")),
            Err(errors) => {
                let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
                if got != [expected.to_string()] {
                    failures.push(format!(
                        "{case}:\n  expected `{expected}`\n  got      {got:#?}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

/// Parses a config that must be valid.
pub fn valid(yaml: &str) -> Config {
    match Config::from_yaml(yaml) {
        Ok(config) => config,
        Err(errors) => panic!("config was refused:\n{errors}\n---\n{yaml}"),
    }
}

/// Reads a file of config/testdata.
pub fn testdata(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
