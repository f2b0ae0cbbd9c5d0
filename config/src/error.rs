//! Validation errors: one [`ConfigError`] per problem, each naming the key path it is about,
//! collected into [`ConfigErrors`] so that a bad config reports everything at once.

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::duration::format_duration;

/// One problem in a config: where it is (`path`, e.g. `address-pools[1].addresses[0]`) and
/// what is wrong (`kind`). Displays as `path: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Key path inside the config payload. Keys are joined with `.`, list items are `[i]`,
    /// keys that are not plain words are quoted: `match-labels["kubernetes.io/hostname"]`.
    /// Empty for the document as a whole.
    pub path: String,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "(document): {}", self.kind)
        } else {
            write!(f, "{}: {}", self.path, self.kind)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every reason a config can be refused. The `Display` text is the reason shown after the
/// path; [`ConfigErrorKind::code`] is a stable identifier for metrics and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The text is not YAML (or JSON).
    #[error("not valid YAML: {message}")]
    Syntax { message: String },
    /// A manifest was given whose `kind` is not `ConfigMap`.
    #[error("expected kind ConfigMap, found {found}")]
    NotAConfigMap { found: String },
    /// A key the schema does not know.
    #[error("unknown key{}", suggestion_text(*.suggestion))]
    UnknownKey { suggestion: Option<&'static str> },
    /// A mapping key that is not a string.
    #[error("mapping keys must be strings, found {found}")]
    NonStringKey { found: &'static str },
    /// A value of the wrong YAML type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    /// A required key is absent (the path names the missing key).
    #[error("required key is missing")]
    MissingKey,
    /// Two keys that exclude each other are both present.
    #[error("cannot be combined with `{other}`")]
    ConflictingKeys { other: &'static str },
    /// A key that only makes sense together with another one.
    #[error("needs `{required}` to be set as well")]
    RequiresKey { required: &'static str },
    /// An integer outside its allowed range.
    #[error("{value} is out of range {min}-{max}")]
    OutOfRange { value: i128, min: u64, max: u64 },
    /// A string that is not one of the allowed words.
    #[error("unknown value \"{value}\": expected {}", one_of(.expected))]
    UnknownVariant {
        value: String,
        expected: &'static [&'static str],
    },
    /// A string that must not be empty.
    #[error("must not be empty")]
    Empty,
    /// Not an IP address.
    #[error("invalid IP address \"{value}\"")]
    InvalidIp { value: String },
    /// An address-pool entry that is neither a CIDR, an address, nor a start-end range.
    #[error(
        "invalid address \"{value}\": expected a CIDR (10.0.0.0/24), an address, or a range (10.0.0.10-10.0.0.20)"
    )]
    InvalidAddresses { value: String },
    /// A k8slb `network` that is not a CIDR.
    #[error("invalid network \"{value}\": expected a CIDR such as 192.168.1.0/24")]
    InvalidNetwork { value: String },
    /// A CIDR whose prefix length is too long for its family, or is not a number.
    #[error("invalid CIDR \"{value}\": bad prefix length")]
    InvalidPrefixLength { value: String },
    /// A range whose start is after its end.
    #[error("range start {start} is after end {end}")]
    RangeStartAfterEnd { start: IpAddr, end: IpAddr },
    /// A range with one IPv4 and one IPv6 end.
    #[error("range {start}-{end} mixes IPv4 and IPv6")]
    MixedFamilyRange { start: IpAddr, end: IpAddr },
    /// A pool without any address.
    #[error("pool has no addresses")]
    EmptyPool,
    /// A k8slb `range` that is not inside its `network`.
    #[error("range {range} is not inside network {network}")]
    RangeOutsideNetwork { range: String, network: String },
    /// Two pools claim the same address (or one pool claims it twice).
    #[error("{block} overlaps {other} at {other_path}")]
    Overlap {
        block: String,
        other: String,
        other_path: String,
    },
    /// A pool name that cannot serve as a file name and annotation value.
    #[error("invalid pool name \"{value}\": no '/', whitespace or control characters")]
    InvalidPoolName { value: String },
    /// A pool name used twice.
    #[error("pool name \"{name}\" is already used at {first}")]
    DuplicatePoolName { name: String, first: String },
    /// A BFD profile name used twice.
    #[error("BFD profile name \"{name}\" is already used at {first}")]
    DuplicateBfdProfile { name: String, first: String },
    /// Two peers that would open the same session from the same nodes.
    #[error(
        "duplicate of {first}: same peer-address, peer-port, source-address and node-selectors"
    )]
    DuplicatePeer { first: String },
    /// AS number 0 (reserved, RFC 7607).
    #[error("AS number 0 is reserved (RFC 7607)")]
    ZeroAsn,
    /// A router-id that is not an IPv4 address.
    #[error("router-id must be an IPv4 address, found \"{value}\"")]
    RouterIdNotIpv4 { value: String },
    /// router-id 0.0.0.0 (RFC 6286 requires a non-zero BGP Identifier).
    #[error("router-id 0.0.0.0 is not allowed (RFC 6286)")]
    RouterIdZero,
    /// source-address of the other family than peer-address.
    #[error("source-address {local} and peer-address {peer} are of different families")]
    SourceFamilyMismatch { local: IpAddr, peer: IpAddr },
    /// TCP MD5 keys are at most 80 bytes (Linux TCP_MD5SIG_MAXKEYLEN).
    #[error("password is {len} bytes long, TCP MD5 allows at most 80")]
    PasswordTooLong { len: usize },
    /// Hold time of 1 or 2 seconds (RFC 4271 4.2: 0 or at least 3 s).
    #[error("hold time {} is invalid: must be 0 or at least 3s", format_duration(*.value))]
    HoldTimeTooShort { value: Duration },
    /// Keepalive longer than the hold time.
    #[error("keepalive time {} is longer than hold time {}", format_duration(*.keepalive), format_duration(*.hold))]
    KeepaliveExceedsHoldTime { keepalive: Duration, hold: Duration },
    /// A duration that BGP carries in whole seconds is not whole.
    #[error("{} is not a whole number of seconds", format_duration(*.value))]
    NotWholeSeconds { value: Duration },
    /// A duration that is not a whole number of milliseconds.
    #[error("{} is not a whole number of milliseconds", format_duration(*.value))]
    NotWholeMilliseconds { value: Duration },
    /// A duration outside its allowed range.
    #[error("{} is out of range {}-{}", format_duration(*.value), format_duration(*.min), format_duration(*.max))]
    DurationOutOfRange {
        value: Duration,
        min: Duration,
        max: Duration,
    },
    /// Not a duration like `90s`, `1m30s`, `300ms`.
    #[error("invalid duration \"{value}\": {reason}")]
    InvalidDuration {
        value: String,
        reason: DurationFault,
    },
    /// ttl-security and multihop exclude each other (RFC 5082 is for adjacent peers).
    #[error("gtsm cannot be combined with ebgp-multihop: RFC 5082 expects an adjacent peer")]
    GtsmWithMultihop,
    /// A BFD profile name not defined in `bfd-profiles`.
    #[error("unknown BFD profile \"{name}\": not defined in bfd-profiles")]
    UnknownBfdProfile { name: String },
    /// A community name that is neither an alias, a well-known name, nor a literal.
    #[error("unknown community \"{name}\": not an alias in bgp-communities nor a well-known name")]
    UnknownCommunity { name: String },
    /// A community literal that does not parse.
    #[error("malformed community \"{value}\": {reason}")]
    MalformedCommunity {
        value: String,
        reason: CommunityFault,
    },
    /// An alias name that looks like a literal.
    #[error("community alias names must not contain ':'")]
    AliasNameHasColon,
    /// aggregation-length beyond the address width.
    #[error("aggregation length {length} is longer than {max} bits")]
    AggregationLengthTooLong { length: u32, max: u8 },
    /// aggregation-length shorter than a prefix of the pool: the aggregate would cover
    /// addresses that are not in the pool.
    #[error(
        "aggregation length {length} is shorter than prefix length {prefix_len} of {block} in this pool"
    )]
    AggregationLengthTooShort {
        length: u8,
        prefix_len: u8,
        block: String,
    },
    /// bgp-advertisements on a layer2 pool.
    #[error("bgp-advertisements are only allowed on pools with protocol bgp")]
    AdvertisementsOnLayer2Pool,
    /// A VRID outside 1-255 (RFC 5798 5.2.3).
    #[error("VRID {value} is out of range 1-255")]
    VridOutOfRange { value: i128 },
    /// A VRID range that is not `N` or `A-B` with A <= B.
    #[error("invalid VRID range \"{value}\": expected N or A-B with A <= B")]
    InvalidVridRange { value: String },
    /// A VRRP advertisement interval that is not whole centiseconds (RFC 5798 5.2.7).
    #[error("{} is not a whole number of centiseconds (VRRPv3 counts in 10ms)", format_duration(*.value))]
    NotWholeCentiseconds { value: Duration },
    /// A network interface name Linux would not accept.
    #[error("invalid interface name \"{value}\": 1-15 bytes, no '/', no whitespace")]
    InvalidInterfaceName { value: String },
    /// A path that must be absolute.
    #[error("\"{value}\" is not an absolute path")]
    NotAbsolutePath { value: String },
    /// An ALPN protocol id that is empty or longer than 255 bytes (RFC 7301).
    #[error("invalid ALPN protocol \"{value}\": 1-255 bytes")]
    InvalidAlpn { value: String },
    /// A duration shorter than its minimum.
    #[error("{} is too short: at least {}", format_duration(*.value), format_duration(*.min))]
    DurationTooShort { value: Duration, min: Duration },
    /// A Kubernetes label key that is not a qualified name.
    #[error("invalid label key \"{value}\"")]
    InvalidLabelKey { value: String },
    /// A Kubernetes label value that is not valid.
    #[error("invalid label value \"{value}\"")]
    InvalidLabelValue { value: String },
    /// In / NotIn without values.
    #[error("operator {operator} needs at least one value")]
    SelectorValuesRequired { operator: &'static str },
    /// Exists / DoesNotExist with values.
    #[error("operator {operator} takes no values")]
    SelectorValuesForbidden { operator: &'static str },
    /// A new config would take an address away from the Service that holds it.
    #[error("{ip} is held by {holder} but no pool contains it any more")]
    AddressStillHeld { ip: IpAddr, holder: String },
    /// RFC 4724 restart time is a 12-bit number of seconds.
    #[error("restart time {} exceeds the 4095s maximum of RFC 4724", format_duration(*.value))]
    RestartTimeTooLong { value: Duration },
}

impl ConfigErrorKind {
    /// A stable snake_case identifier, for metric labels and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Syntax { .. } => "syntax",
            Self::NotAConfigMap { .. } => "not_a_config_map",
            Self::UnknownKey { .. } => "unknown_key",
            Self::NonStringKey { .. } => "non_string_key",
            Self::WrongType { .. } => "wrong_type",
            Self::MissingKey => "missing_key",
            Self::ConflictingKeys { .. } => "conflicting_keys",
            Self::RequiresKey { .. } => "requires_key",
            Self::OutOfRange { .. } => "out_of_range",
            Self::UnknownVariant { .. } => "unknown_variant",
            Self::Empty => "empty",
            Self::InvalidIp { .. } => "invalid_ip",
            Self::InvalidAddresses { .. } => "invalid_addresses",
            Self::InvalidNetwork { .. } => "invalid_network",
            Self::InvalidPrefixLength { .. } => "invalid_prefix_length",
            Self::RangeStartAfterEnd { .. } => "range_start_after_end",
            Self::MixedFamilyRange { .. } => "mixed_family_range",
            Self::EmptyPool => "empty_pool",
            Self::RangeOutsideNetwork { .. } => "range_outside_network",
            Self::Overlap { .. } => "overlap",
            Self::InvalidPoolName { .. } => "invalid_pool_name",
            Self::DuplicatePoolName { .. } => "duplicate_pool_name",
            Self::DuplicateBfdProfile { .. } => "duplicate_bfd_profile",
            Self::DuplicatePeer { .. } => "duplicate_peer",
            Self::ZeroAsn => "zero_asn",
            Self::RouterIdNotIpv4 { .. } => "router_id_not_ipv4",
            Self::RouterIdZero => "router_id_zero",
            Self::SourceFamilyMismatch { .. } => "source_family_mismatch",
            Self::PasswordTooLong { .. } => "password_too_long",
            Self::HoldTimeTooShort { .. } => "hold_time_too_short",
            Self::KeepaliveExceedsHoldTime { .. } => "keepalive_exceeds_hold_time",
            Self::NotWholeSeconds { .. } => "not_whole_seconds",
            Self::NotWholeMilliseconds { .. } => "not_whole_milliseconds",
            Self::DurationOutOfRange { .. } => "duration_out_of_range",
            Self::InvalidDuration { .. } => "invalid_duration",
            Self::GtsmWithMultihop => "gtsm_with_multihop",
            Self::UnknownBfdProfile { .. } => "unknown_bfd_profile",
            Self::UnknownCommunity { .. } => "unknown_community",
            Self::MalformedCommunity { .. } => "malformed_community",
            Self::AliasNameHasColon => "alias_name_has_colon",
            Self::AggregationLengthTooLong { .. } => "aggregation_length_too_long",
            Self::AggregationLengthTooShort { .. } => "aggregation_length_too_short",
            Self::AdvertisementsOnLayer2Pool => "advertisements_on_layer2_pool",
            Self::VridOutOfRange { .. } => "vrid_out_of_range",
            Self::InvalidVridRange { .. } => "invalid_vrid_range",
            Self::NotWholeCentiseconds { .. } => "not_whole_centiseconds",
            Self::InvalidInterfaceName { .. } => "invalid_interface_name",
            Self::NotAbsolutePath { .. } => "not_absolute_path",
            Self::InvalidAlpn { .. } => "invalid_alpn",
            Self::DurationTooShort { .. } => "duration_too_short",
            Self::InvalidLabelKey { .. } => "invalid_label_key",
            Self::InvalidLabelValue { .. } => "invalid_label_value",
            Self::SelectorValuesRequired { .. } => "selector_values_required",
            Self::SelectorValuesForbidden { .. } => "selector_values_forbidden",
            Self::RestartTimeTooLong { .. } => "restart_time_too_long",
            Self::AddressStillHeld { .. } => "address_still_held",
        }
    }
}

/// Why a community literal does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommunityFault {
    /// Not two or three `:`-separated parts.
    #[error("expected A:B (standard) or A:B:C (large)")]
    PartCount,
    /// A part that is not a decimal number.
    #[error("parts must be decimal numbers")]
    NotANumber,
    /// A standard community part above 65535.
    #[error("standard community parts are 0-65535 (use A:B:C for a large community)")]
    StandardPartTooLarge,
    /// A large community part above 4294967295.
    #[error("large community parts are 0-4294967295")]
    LargePartTooLarge,
}

/// Why a duration string does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DurationFault {
    /// A number without a unit (only `0` may omit it).
    #[error("missing unit (write e.g. \"90s\")")]
    MissingUnit,
    /// A unit other than h, m, s, ms, us, ns.
    #[error("unknown unit: expected h, m, s, ms, us or ns")]
    UnknownUnit,
    /// Something that is not a number where a number belongs.
    #[error("expected a number followed by a unit")]
    NotANumber,
    /// Negative durations make no sense here.
    #[error("must not be negative")]
    Negative,
    /// Larger than this crate represents.
    #[error("too large")]
    Overflow,
}

fn suggestion_text(suggestion: Option<&'static str>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

fn one_of(expected: &[&str]) -> String {
    match expected {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// All errors of one config, sorted by path (list indices compared as numbers). `Display`
/// prints one error per line followed by a count line such as `3 errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    /// Sorts the errors by path and wraps them.
    pub(crate) fn new(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by(|a, b| compare_paths(&a.path, &b.path));
        errors.dedup();
        Self(errors)
    }

    /// The errors, sorted by path.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// Iterates the errors in path order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// How many errors there are (never zero when returned by this crate).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors, sorted by path.
    pub fn into_vec(self) -> Vec<ConfigError> {
        self.0
    }
}

impl From<Vec<ConfigError>> for ConfigErrors {
    /// Sorts the errors by path (for callers that add their own checks).
    fn from(errors: Vec<ConfigError>) -> Self {
        Self::new(errors)
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for error in &self.0 {
            writeln!(f, "{error}")?;
        }
        let n = self.0.len();
        write!(f, "{n} error{}", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for ConfigErrors {}

/// One step of a path, for ordering: keys compare as text, list indices as numbers.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Segment<'a> {
    Index(usize),
    Key(&'a str),
}

fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            rest = after;
        } else if let Some(after) = rest.strip_prefix("[\"") {
            let end = after.find("\"]").unwrap_or(after.len());
            out.push(Segment::Key(&after[..end]));
            rest = after.get(end + 2..).unwrap_or("");
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').unwrap_or(after.len());
            match after[..end].parse() {
                Ok(i) => out.push(Segment::Index(i)),
                Err(_) => out.push(Segment::Key(&after[..end])),
            }
            rest = after.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Segment::Key(&rest[..end]));
            rest = &rest[end..];
        }
    }
    out
}

/// Orders paths so that `address-pools[2]` comes before `address-pools[10]`.
pub(crate) fn compare_paths(a: &str, b: &str) -> Ordering {
    segments(a).cmp(&segments(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_sort_with_numeric_indices() {
        let mut paths = vec![
            "address-pools[10].name",
            "address-pools[2].addresses[1]",
            "",
            "address-pools[2].addresses[0]",
            "address-pools[2]",
            "peers[0].node-selectors[0].match-labels[\"a.b/c\"]",
            "bgp-communities.x",
        ];
        paths.sort_by(|a, b| compare_paths(a, b));
        assert_eq!(
            paths,
            vec![
                "",
                "address-pools[2]",
                "address-pools[2].addresses[0]",
                "address-pools[2].addresses[1]",
                "address-pools[10].name",
                "bgp-communities.x",
                "peers[0].node-selectors[0].match-labels[\"a.b/c\"]",
            ]
        );
    }

    #[test]
    fn errors_display_one_per_line_with_count() {
        let errors = ConfigErrors::new(vec![
            ConfigError {
                path: "peers[0].peer-asn".into(),
                kind: ConfigErrorKind::ZeroAsn,
            },
            ConfigError {
                path: "address-pools[0]".into(),
                kind: ConfigErrorKind::EmptyPool,
            },
        ]);
        assert_eq!(
            errors.to_string(),
            "address-pools[0]: pool has no addresses\n\
             peers[0].peer-asn: AS number 0 is reserved (RFC 7607)\n\
             2 errors"
        );
    }

    #[test]
    fn one_error_counts_in_singular() {
        let errors = ConfigErrors::new(vec![ConfigError {
            path: String::new(),
            kind: ConfigErrorKind::MissingKey,
        }]);
        assert_eq!(
            errors.to_string(),
            "(document): required key is missing\n1 error"
        );
    }
}
