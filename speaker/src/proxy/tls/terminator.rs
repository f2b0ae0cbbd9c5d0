//! The TLS side of a listener: the rustls `ServerConfig` and the handshake of each accepted
//! connection, with a timeout and counters.
//!
//! The config: TLS 1.3 and 1.2 with the aws-lc-rs provider (its default cipher suites, in
//! the server's order with AES-128-GCM first, and its key exchange groups), certificates from the listener's [`CertificateStore`] by SNI,
//! session resumption both ways (stateless tickets from rustls' aws-lc-rs ticketer, whose
//! key rotates every 6 hours while the previous key still decrypts, and a server-side
//! session cache for TLS 1.2 clients without tickets), no 0-RTT data, no client
//! certificates. ALPN: the configured protocols in preference order; none by default, so a
//! client's ALPN offer is ignored and the backend speaks what the client expects (passing a
//! Service's wishes through, e.g. `h2` from an `appProtocol`, is future work). With a list
//! configured, a client that offers ALPN but none of the list is refused (RFC 7301 section
//! 3.2).
//!
//! [`TlsTerminator::reconfigure`] swaps the config for new settings; certificate changes do
//! not need it (the store swaps them itself). The ticketer and session cache live as long
//! as the terminator, so resumption survives both.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};
use rustls::{HandshakeKind, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::bundle::provider;
use super::store::CertificateStore;

/// How a listener terminates TLS, beyond its certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// ALPN protocol names in preference order (`b"h2"`, `b"http/1.1"`); empty: no ALPN.
    pub alpn: Vec<Vec<u8>>,
    /// Sessions the server-side cache holds (TLS 1.2 session IDs), as HAProxy's
    /// `tune.ssl.cachesize` default.
    pub session_cache: usize,
    /// TLS 1.3 tickets sent after each full handshake.
    pub tls13_tickets: usize,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            alpn: Vec::new(),
            session_cache: 20_000,
            tls13_tickets: 2,
        }
    }
}

/// Why a TLS config cannot be built (the provider lacks what it needs).
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("the aws-lc-rs provider does not support TLS 1.2 and 1.3: {0}")]
    Versions(#[source] rustls::Error),
    #[error("no session ticket key can be made: {0}")]
    Ticketer(#[source] rustls::Error),
}

/// Handshake counts since the terminator was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandshakeStats {
    /// Handshakes completed, resumed ones included.
    pub completed: u64,
    /// Completed handshakes that resumed a session (ticket or session ID).
    pub resumed: u64,
    /// Handshakes that failed: TLS alert, bad ClientHello, no certificate, peer gone.
    pub failed: u64,
    /// Handshakes cut at the handshake timeout.
    pub timed_out: u64,
}

impl HandshakeStats {
    /// Failed and timed-out handshakes: the `tls_handshake_failures` metric.
    pub fn failures(&self) -> u64 {
        self.failed + self.timed_out
    }
}

/// Terminates TLS on a listener's accepted connections.
#[derive(Debug)]
pub struct TlsTerminator {
    config: RwLock<Arc<ServerConfig>>,
    store: Arc<CertificateStore>,
    ticketer: Arc<dyn ProducesTickets>,
    sessions: Arc<dyn StoresServerSessions>,
    completed: AtomicU64,
    resumed: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
}

impl TlsTerminator {
    /// A terminator presenting `store`'s certificates.
    pub fn new(
        store: Arc<CertificateStore>,
        settings: &TlsSettings,
    ) -> Result<Self, TlsConfigError> {
        let ticketer =
            rustls::crypto::aws_lc_rs::Ticketer::new().map_err(TlsConfigError::Ticketer)?;
        let sessions = ServerSessionMemoryCache::new(settings.session_cache);
        let config = server_config(&store, ticketer.clone(), sessions.clone(), settings)?;
        Ok(Self {
            config: RwLock::new(config),
            store,
            ticketer,
            sessions,
            completed: AtomicU64::new(0),
            resumed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        })
    }

    /// New settings for the handshakes to come; live connections keep theirs. The session
    /// cache keeps its size (it is made once).
    pub fn reconfigure(&self, settings: &TlsSettings) -> Result<(), TlsConfigError> {
        let config = server_config(
            &self.store,
            self.ticketer.clone(),
            self.sessions.clone(),
            settings,
        )?;
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = config;
        Ok(())
    }

    /// The certificates this terminator presents.
    pub fn store(&self) -> &Arc<CertificateStore> {
        &self.store
    }

    /// The config new handshakes use.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs the TLS handshake on an accepted connection, for at most `handshake_timeout`
    /// (then the connection is dropped, which closes it, and the error is `TimedOut`).
    pub async fn accept<IO>(&self, io: IO, handshake_timeout: Duration) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = TlsAcceptor::from(self.server_config());
        match tokio::time::timeout(handshake_timeout, acceptor.accept(io)).await {
            Ok(Ok(stream)) => {
                self.completed.fetch_add(1, Ordering::Relaxed);
                if stream.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed) {
                    self.resumed.fetch_add(1, Ordering::Relaxed);
                }
                Ok(stream)
            }
            Ok(Err(error)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                Err(error)
            }
            Err(_) => {
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ))
            }
        }
    }

    pub fn stats(&self) -> HandshakeStats {
        HandshakeStats {
            completed: self.completed.load(Ordering::Relaxed),
            resumed: self.resumed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
        }
    }
}

fn server_config(
    store: &Arc<CertificateStore>,
    ticketer: Arc<dyn ProducesTickets>,
    sessions: Arc<dyn StoresServerSessions>,
    settings: &TlsSettings,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsConfigError::Versions)?
        .with_no_client_auth()
        .with_cert_resolver(store.clone());
    config.ticketer = ticketer;
    config.session_storage = sessions;
    config.send_tls13_tickets = settings.tls13_tickets;
    // The server's cipher suite order ([`provider`]): AES-128-GCM first.
    config.ignore_client_order = true;
    config.alpn_protocols = settings.alpn.clone();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::select::CertificateSource;
    use crate::proxy::tls::bundle::tests::{EC_CRT, EC_KEY, bundle};

    fn terminator() -> TlsTerminator {
        let source = CertificateSource::Secret {
            namespace: "shop".into(),
            name: "web".into(),
        };
        let store = Arc::new(CertificateStore::new([source.clone()]));
        store
            .replace(&source, &bundle(&[EC_CRT, EC_KEY]))
            .expect("good bundle");
        TlsTerminator::new(store, &TlsSettings::default()).expect("config")
    }

    #[test]
    fn config_has_resumption_both_ways_and_no_alpn() {
        // the versions are checked with real clients in tests/proxy_tls.rs
        let config = terminator().server_config();
        assert!(config.ticketer.enabled());
        assert!(config.session_storage.can_cache());
        assert!(config.alpn_protocols.is_empty());
        assert_eq!(config.max_early_data_size, 0);
    }

    #[test]
    fn reconfigure_swaps_the_config_and_keeps_the_ticket_keys() {
        let terminator = terminator();
        let before = terminator.server_config();
        terminator
            .reconfigure(&TlsSettings {
                alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
                ..TlsSettings::default()
            })
            .expect("reconfigure");
        let after = terminator.server_config();
        assert!(before.alpn_protocols.is_empty());
        assert_eq!(after.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert!(Arc::ptr_eq(&before.ticketer, &after.ticketer));
        assert!(Arc::ptr_eq(&before.session_storage, &after.session_storage));
    }

    #[tokio::test]
    async fn silent_client_is_cut_at_the_handshake_timeout() {
        let terminator = terminator();
        let (server, _client) = tokio::io::duplex(4096);
        let error = terminator
            .accept(server, Duration::from_millis(50))
            .await
            .expect_err("no ClientHello");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            terminator.stats(),
            HandshakeStats {
                timed_out: 1,
                ..HandshakeStats::default()
            }
        );
        assert_eq!(terminator.stats().failures(), 1);
    }

    #[tokio::test]
    async fn garbage_instead_of_a_client_hello_is_a_failed_handshake() {
        use tokio::io::AsyncWriteExt;
        let terminator = terminator();
        let (server, mut client) = tokio::io::duplex(4096);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let error = terminator
            .accept(server, Duration::from_secs(5))
            .await
            .expect_err("not TLS");
        assert_ne!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(terminator.stats().failed, 1);
    }
}
