//! TLS termination for the proxy's listeners (DESIGN.md section 8), with rustls and the
//! aws-lc-rs provider, the only crypto provider in the binaries (kube's client uses it
//! too).
//!
//! - [`bundle`] loads and checks a certificate chain with its key: a HAProxy-format PEM
//!   bundle file or a `kubernetes.io/tls` Secret's data. Errors never carry key material.
//! - [`sni`] decides, purely, which certificate answers a ClientHello's server name.
//! - [`store`] holds a listener's certificates, one per [`CertificateSource`], resolves
//!   them for rustls by SNI, swaps in reloads atomically, keeps the last good certificate
//!   when a new bundle is refused, and polls bundle files for changes.
//! - [`terminator`] builds the rustls config (TLS 1.2 and 1.3, tickets with rotating keys,
//!   a session cache, ALPN when configured) and runs each connection's handshake with a
//!   timeout, counting failures.
//!
//! ```text
//!  select::Listener.tls ─▶ CertificateSource (pool bundle file | Secret)
//!        │ CertificateStore::new(sources)
//!        ▼
//!  CertificateStore ◀── poll_files() every N s (spawn_file_poller)   file changed
//!        ▲        ◀── replace_secret(source, tls.crt, tls.key)       Secret watched
//!        │ resolve(ClientHello) by SNI       status() / certificate_state() ─▶ /status,
//!        │                                   serving::PortState, metrics, Events
//!  TlsTerminator { Arc<ServerConfig> } ◀── reconfigure(settings)
//!        │ accept(tcp, handshake_timeout) ─▶ TlsStream<TcpStream> ─▶ data path
//!        ▼
//!  stats(): completed, resumed, failed, timed_out
//! ```
//!
//! [`CertificateSource`]: crate::proxy::select::CertificateSource

pub mod bundle;
pub mod sni;
pub mod store;
pub mod terminator;

pub use bundle::{BundleError, CertificateInfo, LoadedCertificate};
pub use store::{CertificateStore, SourceStatus, spawn_file_poller};
pub use terminator::{HandshakeStats, TlsSettings, TlsTerminator};

#[cfg(test)]
mod tests {
    use rustls::crypto::CryptoProvider;

    /// kube's client builds its rustls config with the process default provider, which
    /// rustls picks from its crate features only when exactly one provider is compiled in:
    /// a second one (ring coming back through a dependency's features) makes this panic.
    #[test]
    fn the_process_default_provider_is_found_without_installing_one() {
        let _config = rustls::ClientConfig::builder();
        let provider = CryptoProvider::get_default().expect("a default provider");
        assert_eq!(format!("{:?}", provider.key_provider), "AwsLcRs");
        assert_eq!(
            format!("{:?}", super::bundle::provider().key_provider),
            "AwsLcRs"
        );
    }
}
