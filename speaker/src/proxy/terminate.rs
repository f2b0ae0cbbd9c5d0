//! The hook through which a listener terminates TLS (or anything else that wraps the
//! accepted TCP stream): the data path is generic over the client stream, so plain TCP is
//! forwarded on the `TcpStream` itself and a TLS listener on whatever its [`Terminate`]
//! returns, e.g. `tokio_rustls::server::TlsStream<TcpStream>` from a `TlsAcceptor`.
//!
//! The TLS module implements [`Terminate`] per certificate source and hands it to the
//! driver through a [`TerminateFor`] callback; the driver asks again on every
//! `apply`, so a changed certificate source takes effect for new connections.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::select::Listener;
use super::serving::CertificateState;

/// A client stream after termination: readable, writable, movable between threads.
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> ClientStream for T {}

/// What [`Terminate::accept`] returns.
pub type Accepting = Pin<Box<dyn Future<Output = io::Result<Box<dyn ClientStream>>> + Send>>;

/// Terminates a protocol on accepted connections (TLS). The listener bounds
/// [`Terminate::accept`] with its handshake timeout and counts its failures.
pub trait Terminate: Send + Sync + std::fmt::Debug {
    /// Runs the handshake on `tcp`; the stream to forward from.
    fn accept(&self, tcp: TcpStream) -> Accepting;

    /// Whether a good certificate is loaded (for the "announce only when serving"
    /// decision).
    fn certificate(&self) -> CertificateState;
}

/// Gives the driver the terminator of a TLS listener; `None` when none can be built (no
/// good certificate yet): the listener then stays bound, refuses its connections, and the
/// address is withdrawn with [`super::serving::WithdrawReason::NoCertificate`].
pub type TerminateFor = Arc<dyn Fn(&Listener) -> Option<Arc<dyn Terminate>> + Send + Sync>;
