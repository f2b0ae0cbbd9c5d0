//! Test certificates made with the `openssl` CLI (the test command installs it): P-256
//! keys, valid for two days.

use std::path::Path;

use crate::netns::run;

/// A self-signed certificate for `name` (its CN and only DNS name) with a fresh P-256
/// key, written as PEM to `crt` and `key`; `serial` (hex) when given. `extra` adds
/// arguments to `openssl req` (e.g. `-addext basicConstraints=critical,CA:FALSE`).
pub fn self_signed(crt: &Path, key: &Path, name: &str, serial: Option<&str>, extra: &[&str]) {
    let subject = format!("/CN={name}");
    let san = format!("subjectAltName=DNS:{name}");
    let serial = serial.map(|s| format!("0x{s}"));
    let (crt, key) = (crt.display().to_string(), key.display().to_string());
    let mut args = vec!["req", "-x509"];
    args.extend(new_key_args());
    args.extend(["-days", "2", "-subj", &subject, "-addext", &san]);
    if let Some(serial) = &serial {
        args.extend(["-set_serial", serial]);
    }
    args.extend(extra);
    args.extend(["-keyout", &key, "-out", &crt]);
    run("openssl", &args);
}

/// The `openssl req` arguments for a fresh, unencrypted P-256 key.
pub fn new_key_args() -> [&'static str; 5] {
    [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ]
}
