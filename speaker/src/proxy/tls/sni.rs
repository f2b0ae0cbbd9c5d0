//! Which certificate answers a ClientHello's server name (SNI). Pure: the names each
//! certificate is valid for, in the store's order, and the name the client sent in; the
//! index of the certificate to present out.
//!
//! A certificate's names are its subjectAltName DNS entries (its subject CN only when it
//! has none, as HAProxy does). A name is either exact (`www.example.com`) or a wildcard
//! whose whole leftmost label is `*` (`*.example.com`), which stands for exactly one label:
//! it matches `a.example.com`, not `example.com` nor `a.b.example.com` (RFC 6125 section
//! 6.4.3). Partial-label wildcards (`w*.example.com`) match nothing. Comparison ignores
//! ASCII case and one trailing dot.
//!
//! Choice: the first certificate with an exact match, else the first with a wildcard
//! match, else the default, the first certificate (the listener's own source, the pool
//! bundle or its Secret). Without SNI (clients that connect by address), the default.

use std::fmt;

/// One name a certificate is valid for, normalised (lower case, no trailing dot).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsPattern(String);

impl DnsPattern {
    /// The pattern for `name` as written in a certificate; `None` when empty.
    pub fn new(name: &str) -> Option<Self> {
        let name = normalise(name);
        (!name.is_empty()).then_some(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern is a wildcard (`*.` then at least one label).
    pub fn is_wildcard(&self) -> bool {
        self.wildcard_suffix().is_some()
    }

    /// `example.com` for `*.example.com`.
    fn wildcard_suffix(&self) -> Option<&str> {
        self.0
            .strip_prefix("*.")
            .filter(|suffix| !suffix.is_empty())
    }

    /// How the pattern matches `server_name` (already normalised).
    fn matches(&self, server_name: &str) -> Option<Match> {
        match self.wildcard_suffix() {
            Some(suffix) => {
                let (label, rest) = server_name.split_once('.')?;
                (!label.is_empty() && !label.contains('*') && rest == suffix)
                    .then_some(Match::Wildcard)
            }
            None => (!self.0.contains('*') && self.0 == server_name).then_some(Match::Exact),
        }
    }
}

impl fmt::Debug for DnsPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for DnsPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a certificate answers a server name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    Exact,
    Wildcard,
}

/// Why a certificate was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Choice {
    /// A name of the certificate equals the server name.
    Exact(usize),
    /// A wildcard name of the certificate covers the server name.
    Wildcard(usize),
    /// No server name, or no certificate names it: the first certificate.
    Default,
    /// There is no certificate at all.
    None,
}

impl Choice {
    /// The index of the certificate to present, if any.
    pub fn index(self) -> Option<usize> {
        match self {
            Self::Exact(index) | Self::Wildcard(index) => Some(index),
            Self::Default => Some(0),
            Self::None => None,
        }
    }
}

/// The certificate for `server_name` among certificates with these names, in order.
pub fn choose<'a, I, N>(certificates: I, server_name: Option<&str>) -> Choice
where
    I: IntoIterator<Item = N>,
    N: IntoIterator<Item = &'a DnsPattern>,
{
    let server_name = server_name.map(normalise);
    let mut any = false;
    let mut wildcard = None;
    for (index, names) in certificates.into_iter().enumerate() {
        any = true;
        let Some(server_name) = server_name.as_deref().filter(|n| !n.is_empty()) else {
            break;
        };
        match names
            .into_iter()
            .filter_map(|name| name.matches(server_name))
            .min()
        {
            Some(Match::Exact) => return Choice::Exact(index),
            Some(Match::Wildcard) => {
                wildcard.get_or_insert(index);
            }
            None => {}
        }
    }
    match (wildcard, any) {
        (Some(index), _) => Choice::Wildcard(index),
        (None, true) => Choice::Default,
        (None, false) => Choice::None,
    }
}

/// Lower case, without one trailing dot.
fn normalise(name: &str) -> String {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(names: &[&str]) -> Vec<DnsPattern> {
        names.iter().filter_map(|n| DnsPattern::new(n)).collect()
    }

    fn choose_among(certificates: &[&[&str]], server_name: Option<&str>) -> Choice {
        let certificates: Vec<Vec<DnsPattern>> =
            certificates.iter().map(|names| patterns(names)).collect();
        choose(&certificates, server_name)
    }

    #[test]
    fn exact_name_picks_its_certificate() {
        let certificates: &[&[&str]] = &[&["pool.example"], &["a.example"], &["b.example"]];
        assert_eq!(
            choose_among(certificates, Some("b.example")),
            Choice::Exact(2)
        );
        assert_eq!(
            choose_among(certificates, Some("a.example")),
            Choice::Exact(1)
        );
    }

    #[test]
    fn no_server_name_or_unknown_name_gets_the_first_certificate() {
        let certificates: &[&[&str]] = &[&["pool.example"], &["a.example"]];
        assert_eq!(choose_among(certificates, None), Choice::Default);
        assert_eq!(choose_among(certificates, Some("")), Choice::Default);
        assert_eq!(
            choose_among(certificates, Some("other.example")),
            Choice::Default
        );
        assert_eq!(Choice::Default.index(), Some(0));
    }

    #[test]
    fn no_certificate_answers_nothing() {
        assert_eq!(choose_among(&[], Some("a.example")), Choice::None);
        assert_eq!(choose_among(&[], None), Choice::None);
        assert_eq!(Choice::None.index(), None);
    }

    #[test]
    fn wildcard_covers_exactly_one_label() {
        let certificates: &[&[&str]] = &[&["pool.example"], &["*.example.com"]];
        assert_eq!(
            choose_among(certificates, Some("www.example.com")),
            Choice::Wildcard(1)
        );
        assert_eq!(
            choose_among(certificates, Some("example.com")),
            Choice::Default
        );
        assert_eq!(
            choose_among(certificates, Some("a.b.example.com")),
            Choice::Default
        );
        assert_eq!(
            choose_among(certificates, Some(".example.com")),
            Choice::Default
        );
    }

    #[test]
    fn exact_match_wins_over_an_earlier_wildcard() {
        let certificates: &[&[&str]] =
            &[&["pool.example"], &["*.example.com"], &["www.example.com"]];
        assert_eq!(
            choose_among(certificates, Some("www.example.com")),
            Choice::Exact(2)
        );
        assert_eq!(
            choose_among(certificates, Some("api.example.com")),
            Choice::Wildcard(1)
        );
    }

    #[test]
    fn first_certificate_wins_among_equal_matches() {
        let certificates: &[&[&str]] = &[&["x.example"], &["a.example"], &["a.example"]];
        assert_eq!(
            choose_among(certificates, Some("a.example")),
            Choice::Exact(1)
        );
        let wildcards: &[&[&str]] = &[&["x.example"], &["*.w.example"], &["*.w.example"]];
        assert_eq!(
            choose_among(wildcards, Some("a.w.example")),
            Choice::Wildcard(1)
        );
    }

    #[test]
    fn case_and_trailing_dot_are_ignored() {
        let certificates: &[&[&str]] = &[&["pool.example"], &["WWW.Example.COM."]];
        assert_eq!(
            choose_among(certificates, Some("www.example.com")),
            Choice::Exact(1)
        );
        assert_eq!(
            choose_among(certificates, Some("Www.EXAMPLE.com.")),
            Choice::Exact(1)
        );
        assert_eq!(
            DnsPattern::new("Www.Example.COM.").map(|p| p.to_string()),
            Some("www.example.com".to_owned())
        );
    }

    #[test]
    fn partial_and_bare_wildcards_match_nothing() {
        let certificates: &[&[&str]] = &[&["pool.example"], &["w*.example.com", "*", "*."]];
        for name in [
            "www.example.com",
            "w.example.com",
            "x",
            "*",
            "*.example.com",
        ] {
            assert_eq!(
                choose_among(certificates, Some(name)),
                Choice::Default,
                "{name}"
            );
        }
        assert!(!DnsPattern::new("*").is_some_and(|p| p.is_wildcard()));
        assert!(DnsPattern::new("*.a").is_some_and(|p| p.is_wildcard()));
    }

    #[test]
    fn empty_names_are_not_patterns() {
        assert_eq!(DnsPattern::new(""), None);
        assert_eq!(DnsPattern::new("."), None);
    }
}
