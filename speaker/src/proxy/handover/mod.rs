//! Listening sockets handed from a speaker to the process that replaces it, so that a
//! restart refuses no connection (issue 11): the same socket, hence the same accept queue,
//! is served first by both processes, then by the new one alone.
//!
//! Every speaker serves a Unix stream socket at `--handover-socket`. A new speaker, before
//! it binds any listener, connects there:
//!
//! ```text
//!  successor (new)                               predecessor (old, still accepting)
//!  connect(--handover-socket) ─── Hello ───────▶
//!                              ◀── Listeners ─── its bound sockets, ≤ 64 a message,
//!                              ◀── ...           the descriptors attached (SCM_RIGHTS)
//!                              ◀── Done ──────── how many in all
//!  first plan: listeners start on the inherited sockets (no bind), the rest are closed;
//!  each accepts once it can serve (certificate, backend), both processes accept meanwhile
//!  bind temp path, rename over --handover-socket (the next restart asks the new process)
//!                               ─── Ready ─────▶ stops accepting (its descriptors close,
//!                                                the successor's keep the queues), closes
//!                                                its admin listener, lets live
//!                                                connections finish (--proxy-grace-period)
//! ```
//!
//! No predecessor (no file, a stale file: connection refused), a predecessor that does
//! not answer within [`OFFER_TIMEOUT`], or a protocol error: the successor logs it and
//! binds its listeners itself (SO_REUSEPORT lets it bind beside a live predecessor). A
//! predecessor of another node or network namespace refuses (a path shared by mistake):
//! the successor binds its own listeners and leaves that path alone. The socket file is
//! mode 0600: only the speaker's user (root) may ask for the sockets. A speaker removes
//! the path at exit only while it is still its own socket (same inode).
//!
//! The messages are in [`protocol`] (pure, unit-tested); this module is their I/O.

pub mod protocol;

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, IoSlice, IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::protocol::{DecodeError, Identity, MAX_SOCKETS_PER_MESSAGE, Message, RefuseReason};

/// How long a new speaker waits for its predecessor's sockets before binding its own.
pub const OFFER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a predecessor waits for a successor's Hello after it connected.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// What went wrong in a handover.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("handover socket: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("the peer closed the handover connection before it finished")]
    Closed,
    #[error("the peer did not answer within {0:?}")]
    Timeout(Duration),
    #[error("received {received} descriptors for {announced} sockets")]
    Descriptors { announced: usize, received: usize },
    #[error("unexpected handover message {0:?}")]
    Unexpected(Message),
    #[error("control data truncated: descriptors lost")]
    ControlTruncated,
    #[error(transparent)]
    Refused(RefuseReason),
}

/// This process as a handover peer: `node` and the calling thread's network namespace
/// (a namespace is per thread: tests run parts of themselves in other namespaces).
pub fn identity(node: &str) -> Identity {
    let netns = std::fs::metadata("/proc/thread-self/ns/net")
        .or_else(|_| std::fs::metadata("/proc/self/ns/net"))
        .map_or(0, |m| m.ino());
    Identity {
        netns,
        node: node.to_owned(),
    }
}

/// A predecessor's listening sockets, taken at start, and the connection to it.
#[derive(Debug, Default)]
pub struct Inherited {
    /// Per `address:port`, a listening socket (checked: bound there and listening).
    pub sockets: BTreeMap<SocketAddr, std::net::TcpListener>,
    predecessor: Option<StdUnixStream>,
    /// The path is served by a speaker of another node or namespace: not ours to take.
    pub foreign: bool,
}

impl Inherited {
    /// Whether a predecessor answered (it waits for [`Predecessor::ready`]).
    pub fn from_predecessor(&self) -> bool {
        self.predecessor.is_some()
    }

    /// Splits off the connection to the predecessor.
    pub fn predecessor(&mut self) -> Option<Predecessor> {
        self.predecessor.take().map(|stream| Predecessor { stream })
    }
}

/// The connection to the process whose sockets were taken.
#[derive(Debug)]
pub struct Predecessor {
    stream: StdUnixStream,
}

impl Predecessor {
    /// Tells the predecessor to stop accepting: this process accepts on `adopted` of its
    /// sockets.
    pub fn ready(mut self, adopted: usize) -> Result<(), HandoverError> {
        let adopted = u32::try_from(adopted).unwrap_or(u32::MAX);
        self.stream
            .write_all(&Message::Ready { adopted }.encode())?;
        Ok(())
    }
}

/// Asks the speaker serving `path` for its listening sockets as `identity`, within
/// `timeout`. Any failure is logged and gives no socket: the caller binds its own.
pub async fn receive(path: &Path, identity: &Identity, timeout: Duration) -> Inherited {
    let owned = path.to_owned();
    let hello = Message::Hello {
        pid: std::process::id(),
        identity: identity.clone(),
    };
    let blocking = tokio::task::spawn_blocking(move || receive_blocking(&owned, &hello, timeout));
    // The blocking read has its own timeouts; this is the bound of a connect that hangs.
    let outcome = tokio::time::timeout(timeout + Duration::from_secs(1), blocking).await;
    let result = match outcome {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(HandoverError::Io(io::Error::other(join))),
        Err(_) => Err(HandoverError::Timeout(timeout)),
    };
    match result {
        Ok(Some(inherited)) => {
            info!(path = %path.display(), sockets = inherited.sockets.len(), "took the listening sockets of the previous speaker");
            inherited
        }
        Ok(None) => {
            debug!(path = %path.display(), "no previous speaker to take listening sockets from");
            Inherited::default()
        }
        Err(HandoverError::Refused(reason)) => {
            warn!(path = %path.display(), %reason, "the handover socket is another speaker's: binding the listeners anew and leaving the path alone (give each speaker its own --handover-socket)");
            Inherited {
                foreign: true,
                ..Inherited::default()
            }
        }
        Err(error) => {
            warn!(path = %path.display(), %error, "cannot take the previous speaker's listening sockets; binding them anew");
            Inherited::default()
        }
    }
}

fn receive_blocking(
    path: &Path,
    hello: &Message,
    timeout: Duration,
) -> Result<Option<Inherited>, HandoverError> {
    let stream = match StdUnixStream::connect(path) {
        Ok(stream) => stream,
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(error.into()),
    };
    let deadline = Instant::now() + timeout;
    stream.set_write_timeout(Some(timeout))?;
    (&stream).write_all(&hello.encode())?;
    let mut bytes: Vec<u8> = Vec::new();
    let mut descriptors: VecDeque<OwnedFd> = VecDeque::new();
    let mut sockets = BTreeMap::new();
    let mut received = 0usize;
    loop {
        while let Some((message, used)) = Message::decode(&bytes)? {
            bytes.drain(..used);
            match message {
                Message::Listeners { sockets: announced } => {
                    if descriptors.len() < announced.len() {
                        return Err(HandoverError::Descriptors {
                            announced: announced.len(),
                            received: descriptors.len(),
                        });
                    }
                    for address in announced {
                        received += 1;
                        let Some(fd) = descriptors.pop_front() else {
                            continue;
                        };
                        match listening_socket(fd, address) {
                            Ok(socket) => {
                                sockets.insert(address, socket);
                            }
                            Err(error) => {
                                warn!(%address, %error, "a handed-over socket is not a listener on its address; left out");
                            }
                        }
                    }
                }
                Message::Done { total } => {
                    if total as usize != received || !descriptors.is_empty() {
                        return Err(HandoverError::Descriptors {
                            announced: total as usize,
                            received: received + descriptors.len(),
                        });
                    }
                    return Ok(Some(Inherited {
                        sockets,
                        predecessor: Some(stream),
                        foreign: false,
                    }));
                }
                Message::Refuse { reason } => return Err(HandoverError::Refused(reason)),
                other => return Err(HandoverError::Unexpected(other)),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HandoverError::Timeout(timeout));
        }
        stream.set_read_timeout(Some(left))?;
        match receive_some(&stream, &mut bytes, &mut descriptors) {
            Ok(0) => return Err(HandoverError::Closed),
            Ok(_) => {}
            Err(HandoverError::Io(error))
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HandoverError::Timeout(timeout));
            }
            Err(error) => return Err(error),
        }
    }
}

/// One `recvmsg`: the bytes appended to `bytes`, the descriptors to `descriptors` (close
/// on exec).
fn receive_some(
    stream: &StdUnixStream,
    bytes: &mut Vec<u8>,
    descriptors: &mut VecDeque<OwnedFd>,
) -> Result<usize, HandoverError> {
    let mut space =
        [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_SOCKETS_PER_MESSAGE))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buffer = [0u8; 4096];
    let received = rustix::net::recvmsg(
        stream,
        &mut [IoSliceMut::new(&mut buffer)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            descriptors.extend(fds);
        }
    }
    if received.flags.contains(ReturnFlags::CTRUNC) {
        return Err(HandoverError::ControlTruncated);
    }
    bytes.extend_from_slice(&buffer[..received.bytes]);
    Ok(received.bytes)
}

/// `fd` as a listening TCP socket, if it is one bound on `address`.
fn listening_socket(fd: OwnedFd, address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::from(fd);
    if !socket.is_listener()? {
        return Err(io::Error::other("not listening"));
    }
    let bound = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an IP socket"))?;
    if bound != address {
        return Err(io::Error::other(format!("bound on {bound}")));
    }
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// What a speaker offers its successor, and what it does when the successor is ready.
pub trait Offer: Send + Sync + 'static {
    /// The listening sockets it accepts on now.
    fn sockets(&self) -> Vec<(SocketAddr, Arc<TcpListener>)>;
    /// A successor accepts on the sockets: stop accepting.
    fn ready(&self, adopted: u32);
}

/// The handover socket this speaker serves.
#[derive(Debug)]
pub struct HandoverServer {
    path: PathBuf,
    /// The inode of our socket file: the path is removed at exit only while it is ours.
    inode: u64,
    stop: CancellationToken,
}

impl HandoverServer {
    /// Binds a fresh socket beside `path` and renames it over `path` (a predecessor's or a
    /// stale file is replaced in one step), then serves it to successors like `identity`.
    pub fn start(path: &Path, identity: Identity, offer: Arc<dyn Offer>) -> io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut fresh = path.as_os_str().to_owned();
        fresh.push(format!(".{}.new", std::process::id()));
        let fresh = PathBuf::from(fresh);
        match std::fs::remove_file(&fresh) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let listener = UnixListener::bind(&fresh)?;
        let renamed = std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::fs::rename(&fresh, path));
        if let Err(error) = renamed {
            let _ = std::fs::remove_file(&fresh);
            return Err(error);
        }
        let inode = std::fs::metadata(path)?.ino();
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, Arc::new(identity), offer, stop.clone()));
        info!(path = %path.display(), "serving the handover socket");
        Ok(Self {
            path: path.to_owned(),
            inode,
            stop,
        })
    }

    /// Stops serving and removes the path if it is still this server's socket.
    pub fn close(&self) {
        self.stop.cancel();
        match std::fs::metadata(&self.path) {
            Ok(metadata) if metadata.ino() == self.inode => {
                if let Err(error) = std::fs::remove_file(&self.path) {
                    warn!(path = %self.path.display(), %error, "cannot remove the handover socket");
                }
            }
            _ => {
                debug!(path = %self.path.display(), "the handover socket is another process's now; left alone")
            }
        }
    }
}

impl Drop for HandoverServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(
    listener: UnixListener,
    identity: Arc<Identity>,
    offer: Arc<dyn Offer>,
    stop: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    debug!(%error, "handover accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (offer, identity, stop) = (offer.clone(), identity.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                outcome = hand_over(stream, &identity, offer.as_ref()) => match outcome {
                    Ok(adopted) => {
                        info!(adopted, "the next speaker accepts on the listening sockets: this one stops accepting");
                        // The path is the successor's now.
                        stop.cancel();
                    }
                    Err(error) => warn!(%error, "handover to a new speaker failed; still serving"),
                },
            }
        });
    }
}

/// One successor: Hello, the sockets, Done, then its Ready (or Refuse after its Hello).
async fn hand_over(
    mut stream: UnixStream,
    identity: &Identity,
    offer: &dyn Offer,
) -> Result<u32, HandoverError> {
    let mut bytes = Vec::new();
    let hello = tokio::time::timeout(HELLO_TIMEOUT, read_message(&mut stream, &mut bytes))
        .await
        .map_err(|_| HandoverError::Timeout(HELLO_TIMEOUT))??;
    let Message::Hello {
        pid,
        identity: theirs,
    } = hello
    else {
        return Err(HandoverError::Unexpected(hello));
    };
    if let Some(reason) = protocol::refusal(identity, &theirs) {
        stream
            .write_all(&Message::Refuse { reason }.encode())
            .await?;
        return Err(HandoverError::Refused(reason));
    }
    let sockets = offer.sockets();
    info!(
        successor = pid,
        sockets = sockets.len(),
        "a new speaker asks for the listening sockets"
    );
    for chunk in sockets.chunks(MAX_SOCKETS_PER_MESSAGE) {
        let message = Message::Listeners {
            sockets: chunk.iter().map(|(address, _)| *address).collect(),
        };
        let fds: Vec<BorrowedFd<'_>> = chunk.iter().map(|(_, socket)| socket.as_fd()).collect();
        send_with_descriptors(&mut stream, &message.encode(), &fds).await?;
    }
    let total = u32::try_from(sockets.len()).unwrap_or(u32::MAX);
    stream.write_all(&Message::Done { total }.encode()).await?;
    drop(sockets);
    // The successor may take a while: its first plan comes first. No timeout: this
    // process keeps accepting meanwhile, and a successor that dies closes the connection.
    match read_message(&mut stream, &mut bytes).await? {
        Message::Ready { adopted } => {
            offer.ready(adopted);
            Ok(adopted)
        }
        other => Err(HandoverError::Unexpected(other)),
    }
}

async fn read_message(
    stream: &mut UnixStream,
    bytes: &mut Vec<u8>,
) -> Result<Message, HandoverError> {
    loop {
        if let Some((message, used)) = Message::decode(bytes)? {
            bytes.drain(..used);
            return Ok(message);
        }
        let mut buffer = [0u8; 512];
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Err(HandoverError::Closed);
        }
        bytes.extend_from_slice(&buffer[..n]);
    }
}

/// Writes `bytes` with `fds` attached to their first octet.
async fn send_with_descriptors(
    stream: &mut UnixStream,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    let sent = stream
        .async_io(Interest::WRITABLE, || {
            let mut space = [MaybeUninit::<u8>::uninit();
                rustix::cmsg_space!(ScmRights(MAX_SOCKETS_PER_MESSAGE))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            if !control.push(SendAncillaryMessage::ScmRights(fds)) {
                return Err(io::Error::other("too many descriptors for one message"));
            }
            rustix::net::sendmsg(
                &*stream,
                &[IoSlice::new(bytes)],
                &mut control,
                SendFlags::NOSIGNAL,
            )
            .map_err(io::Error::from)
        })
        .await?;
    stream.write_all(&bytes[sent..]).await
}

#[cfg(test)]
mod tests;
