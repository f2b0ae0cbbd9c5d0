//! Loading a certificate with its private key: a PEM bundle in HAProxy's format (the
//! certificate chain, leaf first, then the private key; the key may also come first) from
//! a file, or the `tls.crt` and `tls.key` of a `kubernetes.io/tls` Secret.
//!
//! A bundle is good when it holds at least one certificate, exactly one private key
//! (PKCS#8, PKCS#1 RSA or SEC1 EC), every certificate parses as X.509, the aws-lc-rs
//! provider can sign with the key, and the key is the leaf's (its public key equals the
//! first certificate's). Other PEM sections (`EC PARAMETERS`, `DH PARAMETERS`) are
//! skipped, as HAProxy does.
//!
//! Key material never leaves this module in a readable form: errors name the section and
//! the kind of problem, never its bytes, and [`LoadedCertificate`]'s `Debug` shows the
//! certificate's public facts only ([`CertificateInfo`]). The file's bytes and the key's
//! DER are zeroed once the key is loaded (aws-lc-rs zeroes its own copy when the key is
//! dropped); the PEM parser's scratch buffer and a Secret's bytes held by the caller are
//! not this module's to clear.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use rustls::SignatureAlgorithm;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::sign::CertifiedKey;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use zeroize::{Zeroize, Zeroizing};

use super::sni::DnsPattern;

/// The process's one crypto provider for TLS termination: aws-lc-rs, built once.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let mut provider = rustls::crypto::aws_lc_rs::default_provider();
            provider
                .cipher_suites
                .sort_by_key(|suite| preference(suite.suite()));
            Arc::new(provider)
        })
        .clone()
}

/// Where a cipher suite stands in the server's order (lower first; the terminator uses
/// the server's order, not the client's). AES-128-GCM comes first, as in Go's crypto/tls:
/// it is as safe as AES-256 for TLS, and its TLS 1.3 suite hashes with SHA-256, which CPUs
/// accelerate (SHA-NI) where SHA-384 runs in software, so full handshakes cost less. Suites
/// not listed keep the provider's order after these.
fn preference(suite: rustls::CipherSuite) -> usize {
    use rustls::CipherSuite as S;
    const ORDER: [S; 7] = [
        S::TLS13_AES_128_GCM_SHA256,
        S::TLS13_AES_256_GCM_SHA384,
        S::TLS13_CHACHA20_POLY1305_SHA256,
        S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ];
    ORDER
        .iter()
        .position(|listed| *listed == suite)
        .unwrap_or(ORDER.len())
}

/// Why a bundle was refused. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("PEM section {section} is malformed: {problem}")]
    Pem { section: usize, problem: PemProblem },
    #[error("the bundle holds no certificate")]
    NoCertificate,
    #[error("the bundle holds no private key")]
    NoKey,
    #[error("the bundle holds {count} private keys, expected exactly one")]
    SeveralKeys { count: usize },
    #[error("certificate {index} of the chain is not valid X.509: {reason}")]
    BadCertificate { index: usize, reason: String },
    #[error("the {kind} private key cannot be used by the aws-lc-rs provider")]
    UnusableKey { kind: KeyKind },
    #[error(
        "the private key belongs to certificate {index} of the chain ({subject}), not to the \
         leaf: the leaf must come first"
    )]
    LeafNotFirst { index: usize, subject: String },
    #[error("the private key does not match the leaf certificate ({subject})")]
    KeyMismatch { subject: String },
}

impl BundleError {
    /// A short stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Read { .. } => "read",
            Self::Pem { .. } => "pem",
            Self::NoCertificate => "no_certificate",
            Self::NoKey => "no_key",
            Self::SeveralKeys { .. } => "several_keys",
            Self::BadCertificate { .. } => "bad_certificate",
            Self::UnusableKey { .. } => "unusable_key",
            Self::LeafNotFirst { .. } => "leaf_not_first",
            Self::KeyMismatch { .. } => "key_mismatch",
        }
    }
}

/// What is wrong with a PEM section, without its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PemProblem {
    /// A `-----BEGIN` line is not well formed.
    BadBeginLine,
    /// The section has no `-----END` line.
    NoEndLine,
    /// The body is not base64.
    BadBase64,
    /// The section is larger than the PEM parser accepts.
    TooLarge,
    /// Any other parser complaint.
    Other,
}

impl fmt::Display for PemProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadBeginLine => "bad BEGIN line",
            Self::NoEndLine => "no END line",
            Self::BadBase64 => "body is not base64",
            Self::TooLarge => "section too large",
            Self::Other => "unreadable",
        })
    }
}

impl PemProblem {
    fn of(error: &pem::Error) -> Self {
        match error {
            pem::Error::IllegalSectionStart { .. } => Self::BadBeginLine,
            pem::Error::MissingSectionEnd { .. } => Self::NoEndLine,
            pem::Error::Base64Decode(_) => Self::BadBase64,
            pem::Error::SectionTooLarge => Self::TooLarge,
            _ => Self::Other,
        }
    }
}

/// The PEM form of a private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `PRIVATE KEY`.
    Pkcs8,
    /// `RSA PRIVATE KEY`.
    Pkcs1,
    /// `EC PRIVATE KEY`.
    Sec1,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pkcs8 => "PKCS#8",
            Self::Pkcs1 => "PKCS#1 RSA",
            Self::Sec1 => "SEC1 EC",
        })
    }
}

/// The public facts of a loaded certificate, for `/status`, logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The leaf's subject, RFC 4514 style (`CN=www.example.com`).
    pub subject: String,
    /// The leaf's issuer.
    pub issuer: String,
    /// The leaf's serial number, hex bytes separated by `:`.
    pub serial: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// The names SNI selects the certificate by: subjectAltName DNS entries, else the
    /// subject's common name.
    pub names: Vec<DnsPattern>,
    /// Certificates in the chain, the leaf included.
    pub chain_len: usize,
    pub key_kind: KeyKind,
    pub algorithm: SignatureAlgorithm,
}

/// A certificate chain with its private key, checked and ready for handshakes.
#[derive(Clone)]
pub struct LoadedCertificate {
    key: Arc<CertifiedKey>,
    info: CertificateInfo,
}

impl LoadedCertificate {
    /// Loads the bundle in `pem` (HAProxy format).
    pub fn from_pem(pem: &[u8]) -> Result<Self, BundleError> {
        let mut sections = Sections::default();
        sections.read(pem)?;
        sections.load()
    }

    /// Loads the `tls.crt` and `tls.key` data of a `kubernetes.io/tls` Secret.
    pub fn from_secret(tls_crt: &[u8], tls_key: &[u8]) -> Result<Self, BundleError> {
        let mut sections = Sections::default();
        sections.read(tls_crt)?;
        sections.read(tls_key)?;
        sections.load()
    }

    /// Loads the bundle file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, BundleError> {
        let pem = std::fs::read(path)
            .map(Zeroizing::new)
            .map_err(|source| BundleError::Read {
                path: path.to_owned(),
                source,
            })?;
        Self::from_pem(&pem)
    }

    pub fn info(&self) -> &CertificateInfo {
        &self.info
    }

    /// What rustls presents in a handshake.
    pub fn certified_key(&self) -> &Arc<CertifiedKey> {
        &self.key
    }
}

impl fmt::Debug for LoadedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedCertificate")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// The certificates and keys of one bundle, in order.
#[derive(Default)]
struct Sections {
    certificates: Vec<CertificateDer<'static>>,
    keys: Vec<(KeyKind, PrivateKeyDer<'static>)>,
    /// PEM sections read so far (all kinds), to say which one is malformed.
    count: usize,
}

impl Sections {
    fn read(&mut self, pem: &[u8]) -> Result<(), BundleError> {
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
            self.count += 1;
            let (kind, der) = section.map_err(|error| BundleError::Pem {
                section: self.count,
                problem: PemProblem::of(&error),
            })?;
            match kind {
                SectionKind::Certificate => self.certificates.push(CertificateDer::from(der)),
                SectionKind::PrivateKey => self
                    .keys
                    .push((KeyKind::Pkcs8, PrivatePkcs8KeyDer::from(der).into())),
                SectionKind::RsaPrivateKey => self
                    .keys
                    .push((KeyKind::Pkcs1, PrivatePkcs1KeyDer::from(der).into())),
                SectionKind::EcPrivateKey => self
                    .keys
                    .push((KeyKind::Sec1, PrivateSec1KeyDer::from(der).into())),
                _ => {}
            }
        }
        Ok(())
    }

    fn load(self) -> Result<LoadedCertificate, BundleError> {
        if self.certificates.is_empty() {
            return Err(BundleError::NoCertificate);
        }
        let (key_kind, key) = match self.keys.as_slice() {
            [] => return Err(BundleError::NoKey),
            [(kind, key)] => (*kind, key),
            keys => return Err(BundleError::SeveralKeys { count: keys.len() }),
        };
        let parsed = self
            .certificates
            .iter()
            .enumerate()
            .map(|(index, der)| {
                X509Certificate::from_der(der)
                    .map(|(_, certificate)| certificate)
                    .map_err(|error| BundleError::BadCertificate {
                        index,
                        reason: error.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // what the aws-lc-rs key provider does, with the DER borrowed so that it can be
        // zeroed afterwards
        let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(key)
            .map_err(|_| BundleError::UnusableKey { kind: key_kind })?;
        let algorithm = signing_key.algorithm();
        let public_key = signing_key.public_key().map(|spki| spki.into_owned());
        let leaf = &parsed[0];
        let info = CertificateInfo {
            subject: leaf.subject().to_string(),
            issuer: leaf.issuer().to_string(),
            serial: leaf.raw_serial_as_string(),
            not_before: system_time(leaf.validity().not_before.timestamp()),
            not_after: system_time(leaf.validity().not_after.timestamp()),
            names: names(leaf),
            chain_len: parsed.len(),
            key_kind,
            algorithm,
        };
        let key = CertifiedKey::new(self.certificates.clone(), signing_key);
        if key.keys_match().is_err() {
            let owner = public_key.as_ref().and_then(|spki| {
                parsed
                    .iter()
                    .position(|certificate| certificate.public_key().raw == spki.as_ref())
            });
            return Err(match owner {
                Some(index) => BundleError::LeafNotFirst {
                    index,
                    subject: parsed[index].subject().to_string(),
                },
                None => BundleError::KeyMismatch {
                    subject: info.subject,
                },
            });
        }
        Ok(LoadedCertificate {
            key: Arc::new(key),
            info,
        })
    }
}

impl Drop for Sections {
    fn drop(&mut self) {
        for (_, key) in &mut self.keys {
            key.zeroize();
        }
    }
}

/// The names SNI selects `certificate` by.
fn names(certificate: &X509Certificate<'_>) -> Vec<DnsPattern> {
    let alt_names: Vec<DnsPattern> = certificate
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|extension| {
            extension
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(name) => DnsPattern::new(name),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if !alt_names.is_empty() {
        return alt_names;
    }
    certificate
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .filter_map(DnsPattern::new)
        .collect()
}

fn system_time(unix_seconds: i64) -> SystemTime {
    match u64::try_from(unix_seconds) {
        Ok(seconds) => SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
        Err(_) => SystemTime::UNIX_EPOCH - Duration::from_secs(unix_seconds.unsigned_abs()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const EC_CRT: &[u8] = include_bytes!("testdata/ec.crt");
    pub(crate) const EC_KEY: &[u8] = include_bytes!("testdata/ec.key");
    const EC_SEC1_KEY: &[u8] = include_bytes!("testdata/ec-sec1.key");
    pub(crate) const RSA_CRT: &[u8] = include_bytes!("testdata/rsa.crt");
    pub(crate) const RSA_KEY: &[u8] = include_bytes!("testdata/rsa.key");
    const RSA_PKCS1_KEY: &[u8] = include_bytes!("testdata/rsa-pkcs1.key");
    const ED_CRT: &[u8] = include_bytes!("testdata/ed.crt");
    const ED_KEY: &[u8] = include_bytes!("testdata/ed.key");
    pub(crate) const LEAF_CRT: &[u8] = include_bytes!("testdata/leaf.crt");
    pub(crate) const LEAF_KEY: &[u8] = include_bytes!("testdata/leaf.key");
    const CA_CRT: &[u8] = include_bytes!("testdata/ca.crt");

    pub(crate) fn bundle(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn load(parts: &[&[u8]]) -> Result<LoadedCertificate, BundleError> {
        LoadedCertificate::from_pem(&bundle(parts))
    }

    fn names(certificate: &LoadedCertificate) -> Vec<&str> {
        certificate
            .info()
            .names
            .iter()
            .map(|n| n.as_str())
            .collect()
    }

    #[test]
    fn haproxy_bundle_chain_then_key_loads() {
        let certificate = load(&[LEAF_CRT, CA_CRT, LEAF_KEY]).expect("good bundle");
        let info = certificate.info();
        assert_eq!(info.subject, "CN=b.test");
        assert_eq!(info.issuer, "CN=Herald test CA");
        assert_eq!(info.chain_len, 2);
        assert_eq!(certificate.certified_key().cert.len(), 2);
        assert_eq!(names(&certificate), ["b.test", "www.b.test"]);
        assert_eq!(info.key_kind, KeyKind::Pkcs8);
        assert_eq!(info.algorithm, SignatureAlgorithm::ECDSA);
        assert!(info.not_after > SystemTime::now() + Duration::from_secs(50 * 365 * 86400));
        assert!(info.not_before < SystemTime::now());
        assert!(!info.serial.is_empty());
    }

    #[test]
    fn key_first_loads_too() {
        let certificate = load(&[LEAF_KEY, LEAF_CRT, CA_CRT]).expect("key first");
        assert_eq!(certificate.info().subject, "CN=b.test");
        assert_eq!(certificate.info().chain_len, 2);
    }

    #[test]
    fn every_key_form_and_algorithm_loads() {
        let cases: &[(&[u8], &[u8], KeyKind, SignatureAlgorithm)] = &[
            (EC_CRT, EC_KEY, KeyKind::Pkcs8, SignatureAlgorithm::ECDSA),
            (
                EC_CRT,
                EC_SEC1_KEY,
                KeyKind::Sec1,
                SignatureAlgorithm::ECDSA,
            ),
            (RSA_CRT, RSA_KEY, KeyKind::Pkcs8, SignatureAlgorithm::RSA),
            (
                RSA_CRT,
                RSA_PKCS1_KEY,
                KeyKind::Pkcs1,
                SignatureAlgorithm::RSA,
            ),
            (ED_CRT, ED_KEY, KeyKind::Pkcs8, SignatureAlgorithm::ED25519),
        ];
        for &(crt, key, kind, algorithm) in cases {
            let certificate = load(&[crt, key]).expect("loads");
            assert_eq!(certificate.info().key_kind, kind);
            assert_eq!(certificate.info().algorithm, algorithm);
        }
    }

    #[test]
    fn secret_fields_load() {
        let certificate =
            LoadedCertificate::from_secret(&bundle(&[LEAF_CRT, CA_CRT]), LEAF_KEY).expect("secret");
        assert_eq!(certificate.info().subject, "CN=b.test");
        assert_eq!(certificate.info().chain_len, 2);
        assert!(matches!(
            LoadedCertificate::from_secret(LEAF_CRT, b""),
            Err(BundleError::NoKey)
        ));
        assert!(matches!(
            LoadedCertificate::from_secret(b"", LEAF_KEY),
            Err(BundleError::NoCertificate)
        ));
    }

    #[test]
    fn san_names_and_wildcards_are_read() {
        let certificate = load(&[EC_CRT, EC_KEY]).expect("loads");
        assert_eq!(names(&certificate), ["a.test", "*.wild.test"]);
    }

    #[test]
    fn common_name_stands_in_when_there_is_no_san() {
        let certificate = load(&[RSA_CRT, RSA_KEY]).expect("loads");
        assert_eq!(names(&certificate), ["rsa.test"]);
    }

    #[test]
    fn other_pem_sections_are_skipped() {
        let params =
            b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
        let certificate = load(&[EC_CRT, params, EC_SEC1_KEY]).expect("loads");
        assert_eq!(certificate.info().subject, "CN=a.test");
    }

    #[test]
    fn key_of_another_certificate_is_a_mismatch() {
        let error = load(&[EC_CRT, LEAF_KEY]).expect_err("mismatch");
        assert!(matches!(&error, BundleError::KeyMismatch { subject } if subject == "CN=a.test"));
        assert_eq!(error.label(), "key_mismatch");
    }

    #[test]
    fn chain_in_the_wrong_order_says_so() {
        let error = load(&[CA_CRT, LEAF_CRT, LEAF_KEY]).expect_err("leaf not first");
        assert!(
            matches!(&error, BundleError::LeafNotFirst { index: 1, subject } if subject == "CN=b.test"),
            "{error:?}"
        );
    }

    #[test]
    fn missing_or_extra_parts_are_refused() {
        assert!(matches!(load(&[EC_CRT]), Err(BundleError::NoKey)));
        assert!(matches!(load(&[EC_KEY]), Err(BundleError::NoCertificate)));
        assert!(matches!(load(&[]), Err(BundleError::NoCertificate)));
        assert!(matches!(
            load(&[EC_CRT, EC_KEY, EC_SEC1_KEY]),
            Err(BundleError::SeveralKeys { count: 2 })
        ));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            load(&[b"hello, I am not a certificate\n"]),
            Err(BundleError::NoCertificate)
        ));
        let bad_base64 = b"-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            load(&[bad_base64, EC_KEY]),
            Err(BundleError::Pem {
                section: 1,
                problem: PemProblem::BadBase64
            })
        ));
        let unterminated = &EC_KEY[..EC_KEY.len() - 30];
        assert!(matches!(
            load(&[EC_CRT, unterminated]),
            Err(BundleError::Pem {
                section: 2,
                problem: PemProblem::NoEndLine
            })
        ));
        let not_x509 =
            b"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            load(&[not_x509, EC_KEY]),
            Err(BundleError::BadCertificate { index: 0, .. })
        ));
        let not_a_key =
            b"-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            load(&[EC_CRT, not_a_key]),
            Err(BundleError::UnusableKey {
                kind: KeyKind::Pkcs8
            })
        ));
    }

    #[test]
    fn missing_file_is_a_read_error_naming_the_path() {
        let error =
            LoadedCertificate::from_file(Path::new("/nonexistent/pool.pem")).expect_err("no file");
        assert!(
            error.to_string().contains("/nonexistent/pool.pem"),
            "{error}"
        );
        assert_eq!(error.label(), "read");
    }

    /// Every way a key's bytes could show in text: its PEM body lines (and 16-character
    /// pieces of them), and hex and decimal renderings of 8-byte windows of its DER.
    pub(crate) fn key_fingerprints(key_pem: &[u8]) -> Vec<String> {
        let text = std::str::from_utf8(key_pem).expect("PEM is text");
        let mut marks = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with("-----")) {
            for start in (0..line.len().saturating_sub(16)).step_by(4) {
                marks.push(line[start..start + 16].to_owned());
            }
        }
        let (_, der) = <(SectionKind, Vec<u8>)>::from_pem_slice(key_pem).expect("a PEM key");
        // skip the first 16 bytes: a PKCS#8 header is the same for every key of a kind
        for window in der[16..].windows(8).step_by(3) {
            marks.push(window.iter().map(|b| format!("{b:02x}")).collect());
            marks.push(window.iter().map(|b| format!("{b:02X}")).collect());
            marks.push(format!("{window:?}").trim_matches(['[', ']']).to_owned());
        }
        marks
    }

    /// A piece of one of `keys` found in `text`.
    fn key_material_in(text: &str, keys: &[&[u8]]) -> Option<String> {
        keys.iter()
            .flat_map(|key| key_fingerprints(key))
            .find(|mark| text.contains(mark))
    }

    pub(crate) fn assert_no_key_material(text: &str, keys: &[&[u8]]) {
        if let Some(mark) = key_material_in(text, keys) {
            panic!("key material {mark:?} in {text}");
        }
    }

    #[test]
    fn errors_and_loaded_certificates_show_no_key_material() {
        let keys = [
            EC_KEY,
            EC_SEC1_KEY,
            LEAF_KEY,
            RSA_KEY,
            RSA_PKCS1_KEY,
            ED_KEY,
        ];
        let mut texts = Vec::new();
        let mut errors = Vec::new();
        for parts in [
            &[EC_CRT, LEAF_KEY][..],
            &[CA_CRT, LEAF_CRT, LEAF_KEY],
            &[EC_CRT, EC_KEY, EC_SEC1_KEY],
            &[EC_KEY],
            &[RSA_PKCS1_KEY],
            &[EC_CRT, &EC_KEY[..EC_KEY.len() - 30]],
            &[EC_CRT, &EC_KEY[..EC_KEY.len() / 2]],
            &[
                EC_CRT,
                &EC_KEY[..EC_KEY.len() / 2],
                b"\n-----END PRIVATE KEY-----\n",
            ],
            &[&RSA_KEY[..200], RSA_CRT],
            // four base64 characters less: still base64, no longer a key
            &[ED_CRT, &ED_KEY[..40], &ED_KEY[44..]],
        ] {
            errors.push(load(parts).expect_err("refused"));
        }
        errors.push(LoadedCertificate::from_secret(RSA_KEY, RSA_PKCS1_KEY).expect_err("two keys"));
        for error in &errors {
            texts.push(format!("{error}"));
            texts.push(format!("{error:?}"));
            texts.push(format!("{error:#?}"));
        }
        for parts in [
            &[EC_CRT, EC_KEY][..],
            &[RSA_CRT, RSA_PKCS1_KEY],
            &[ED_CRT, ED_KEY],
            &[LEAF_CRT, CA_CRT, LEAF_KEY],
        ] {
            let certificate = load(parts).expect("loads");
            texts.push(format!("{certificate:?}"));
            texts.push(format!("{certificate:#?}"));
        }
        for text in &texts {
            assert_no_key_material(text, &keys);
        }
        // the check itself finds a key where there is one
        let (_, der) = <(SectionKind, Vec<u8>)>::from_pem_slice(EC_KEY).expect("a PEM key");
        for leaky in [
            format!("{der:?}"),
            String::from_utf8_lossy(EC_KEY).into_owned(),
        ] {
            assert!(key_material_in(&leaky, &[EC_KEY]).is_some());
        }
    }
}
