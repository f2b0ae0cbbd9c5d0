//! `herald-controller validate FILE`: the offline config check.

use herald_runtime::flags::EXIT_FAILURE;

/// The report for a config file's text, and the exit code: every error prefixed with the
/// file name (one per line, sorted by key path, then the count), exit 1; or
/// `ok: N pools, M peers`, exit 0.
pub fn report(file: &str, text: &str) -> (String, i32) {
    match herald_config::validate_file_contents(text) {
        Ok(config) => (
            format!(
                "ok: {} pool{}, {} peer{}",
                config.pools.len(),
                plural(config.pools.len()),
                config.peers.len(),
                plural(config.peers.len()),
            ),
            0,
        ),
        Err(errors) => {
            let lines: Vec<String> = errors
                .to_string()
                .lines()
                .map(|line| format!("{file}: {line}"))
                .collect();
            (lines.join("\n"), EXIT_FAILURE)
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_config_reports_its_size() {
        let (out, code) = report(
            "c.yaml",
            "peers:\n- {peer-address: 172.30.0.1, peer-asn: 64501, my-asn: 64500}\n\
             address-pools:\n- {name: a, protocol: bgp, addresses: [10.0.0.0/24]}\n\
             - {name: b, protocol: bgp, addresses: [10.0.1.0/24]}\n",
        );
        assert_eq!((out.as_str(), code), ("ok: 2 pools, 1 peer", 0));
    }

    #[test]
    fn bad_config_lists_every_error_with_the_file_name() {
        let (out, code) = report(
            "c.yaml",
            "address-pools:\n- {name: a, protocol: bgp, addresses: [bogus]}\nsurprise: 1\n",
        );
        assert_eq!(code, 1);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() >= 3, "{out}");
        assert!(lines.iter().all(|l| l.starts_with("c.yaml: ")), "{out}");
        assert!(out.contains("address-pools[0].addresses[0]"), "{out}");
        assert!(out.contains("surprise"), "{out}");
        assert!(lines.last().is_some_and(|l| l.ends_with("errors")), "{out}");
    }
}
