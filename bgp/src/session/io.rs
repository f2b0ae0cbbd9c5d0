//! Sockets of a session: options (TTL, GTSM, DSCP, MD5, NODELAY), connecting from a
//! source address, listening, and the reader and writer task of each connection.
//!
//! The reader cuts the byte stream into messages with [`packet::frame_len`] and hands
//! whole frames to the peer task, which decodes them (it knows the negotiated codec
//! context). The writer owns the write half: the peer task encodes a batch of messages
//! into one buffer and queues it; the writer takes every queued buffer and writes them
//! back to back, so a burst becomes a few large writes. Queues are unbounded so the peer
//! task never blocks on a slow peer (which could otherwise stop it reading and deadlock).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{Instrument, Span, debug};

use crate::config::PeerConfig;
use crate::fsm::ConnId;
use crate::packet::{self, CodecContext, DecodeError};
use crate::sockopt;

/// DSCP CS6 ("network control", RFC 4594) in the TOS / traffic class octet.
const DSCP_CS6: u32 = 0xC0;
/// How long a closed connection keeps reading (and discarding) so that our last
/// NOTIFICATION is not lost to a reset caused by unread data.
const DRAIN_AFTER_CLOSE: Duration = Duration::from_secs(2);

/// Per-peer socket settings derived from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SocketOptions {
    /// TTL / hop limit of our packets; `None` = system default.
    pub(crate) ttl: Option<u8>,
    /// GTSM: drop packets below this TTL (RFC 5082 section 3).
    pub(crate) min_ttl: Option<u8>,
    pub(crate) md5_key: Option<Vec<u8>>,
}

impl SocketOptions {
    pub(crate) fn for_peer(config: &PeerConfig) -> Self {
        let hops = config.ebgp_multihop.unwrap_or(1).max(1);
        let (ttl, min_ttl) = if config.gtsm {
            // RFC 5082 section 3: send with 255, accept 255 - (hops - 1) and more.
            (Some(255), Some(255 - (hops - 1)))
        } else if let Some(hops) = config.ebgp_multihop {
            (Some(hops), None)
        } else if config.is_ebgp() {
            // Single-hop eBGP: our packets must not leave the link.
            (Some(1), None)
        } else {
            (None, None)
        };
        SocketOptions {
            ttl,
            min_ttl,
            md5_key: config.password.as_ref().map(|p| p.as_bytes().to_vec()),
        }
    }

    /// TTL, GTSM, DSCP and NODELAY on a connected or connecting socket. `ipv4_traffic` is
    /// whether packets on it are IPv4 (also for IPv4-mapped peers of an IPv6 socket, where
    /// the IPv4 options apply).
    fn apply(&self, socket: &SockRef<'_>, ipv4_traffic: bool) -> io::Result<()> {
        socket.set_tcp_nodelay(true)?;
        if ipv4_traffic {
            socket.set_tos_v4(DSCP_CS6)?;
            if let Some(ttl) = self.ttl {
                socket.set_ttl_v4(u32::from(ttl))?;
            }
        } else {
            socket.set_tclass_v6(DSCP_CS6)?;
            if let Some(ttl) = self.ttl {
                socket.set_unicast_hops_v6(u32::from(ttl))?;
            }
        }
        if let Some(min_ttl) = self.min_ttl {
            sockopt::set_min_ttl(&**socket, !ipv4_traffic, min_ttl)?;
        }
        Ok(())
    }
}

/// Connects to `remote` from `source` (port chosen by the kernel) with every option set
/// before the SYN leaves, MD5 included.
pub(crate) async fn connect(
    remote: SocketAddr,
    source: Option<IpAddr>,
    options: SocketOptions,
) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(remote),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    options.apply(&SockRef::from(&socket), remote.is_ipv4())?;
    if let Some(key) = &options.md5_key {
        sockopt::set_tcp_md5(&socket, remote.is_ipv6(), remote.ip(), Some(key))?;
    }
    if let Some(source) = source {
        socket.bind(&SocketAddr::new(source, 0).into())?;
    }
    let socket = TcpSocket::from_std_stream(socket.into());
    socket.connect(remote).await
}

/// Sets the options of an accepted connection (MD5 is inherited from the listener).
pub(crate) fn prepare_accepted(stream: &TcpStream, options: &SocketOptions) -> io::Result<()> {
    let remote = stream.peer_addr()?;
    options.apply(&SockRef::from(stream), remote.ip().to_canonical().is_ipv4())
}

/// A listening socket; an IPv6 wildcard also accepts IPv4 (as IPv4-mapped addresses).
pub(crate) fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    // A restarting speaker's successor binds the same port while the old one still runs
    // (the kernel allows it only to processes of the same user).
    socket.set_reuse_port(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    // The SYN-ACK of an accepted connection leaves with the listener's TTL / hop limit and
    // traffic class, before any per-peer option can be set on the accepted socket: a GTSM
    // peer (RFC 5082) drops it unless it carries 255. Nobody checks a minimum otherwise, so
    // 255 is harmless; accepted sockets get their per-peer values afterwards.
    if address.is_ipv6() {
        socket.set_unicast_hops_v6(255)?;
        socket.set_tclass_v6(DSCP_CS6)?;
    }
    // On a dual-stack socket this also covers IPv4-mapped connections.
    socket.set_ttl_v4(255)?;
    socket.set_tos_v4(DSCP_CS6)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Installs or removes a peer's MD5 key on the listening socket.
pub(crate) fn set_listener_md5(
    listener: &TcpListener,
    peer: IpAddr,
    key: Option<&[u8]>,
) -> io::Result<()> {
    let ipv6 = listener.local_addr()?.is_ipv6();
    sockopt::set_tcp_md5(listener, ipv6, peer, key)
}

/// What the reader of a connection reports to the peer task.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// Whole messages, header included, in arrival order.
    Frames(ConnId, Vec<Bytes>),
    /// The header of the next message is invalid; nothing more is read.
    Invalid(ConnId, DecodeError),
    Closed(ConnId),
}

/// Counters the writers update as bytes reach the socket.
#[derive(Debug, Default)]
pub(crate) struct WireCounters {
    pub(crate) messages_sent: AtomicU64,
    pub(crate) updates_sent: AtomicU64,
    pub(crate) pending_messages: AtomicU64,
}

#[derive(Debug)]
enum WriterCommand {
    Data {
        bytes: Bytes,
        messages: u64,
        updates: u64,
    },
    Close,
}

/// The peer task's side of one connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) codec: CodecContext,
    writer: mpsc::UnboundedSender<WriterCommand>,
    out: BytesMut,
    out_messages: u64,
    out_updates: u64,
    counters: Arc<WireCounters>,
    tasks: [JoinHandle<()>; 2],
}

impl Connection {
    /// Starts the reader and writer tasks of `stream`.
    pub(crate) fn spawn(
        id: ConnId,
        stream: TcpStream,
        events: mpsc::Sender<ConnEvent>,
        counters: Arc<WireCounters>,
    ) -> io::Result<Connection> {
        let local = canonical(stream.local_addr()?);
        let remote = canonical(stream.peer_addr()?);
        let (read_half, write_half) = stream.into_split();
        let (closing_tx, closing_rx) = oneshot::channel();
        let (writer_tx, writer_rx) = mpsc::unbounded_channel();
        let span = Span::current();
        let reader = tokio::spawn(
            read_loop(id, read_half, events.clone(), closing_rx).instrument(span.clone()),
        );
        let writer = tokio::spawn(
            write_loop(
                id,
                write_half,
                writer_rx,
                counters.clone(),
                events,
                closing_tx,
            )
            .instrument(span),
        );
        Ok(Connection {
            local,
            remote,
            codec: CodecContext::default(),
            writer: writer_tx,
            out: BytesMut::with_capacity(4096),
            out_messages: 0,
            out_updates: 0,
            counters,
            tasks: [reader, writer],
        })
    }

    /// Appends one message to the outgoing buffer.
    pub(crate) fn encode(&mut self, message: &packet::Message) {
        message.encode(&self.codec, &mut self.out);
        self.out_messages += 1;
        if matches!(message, packet::Message::Update(_)) {
            self.out_updates += 1;
        }
        self.counters
            .pending_messages
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Hands the buffered messages to the writer as one chunk.
    pub(crate) fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let bytes = self.out.split().freeze();
        let command = WriterCommand::Data {
            bytes,
            messages: self.out_messages,
            updates: self.out_updates,
        };
        self.out_messages = 0;
        self.out_updates = 0;
        // A writer that has stopped (socket error) has already reported the close.
        let _ = self.writer.send(command);
    }

    /// Flushes, then closes after the writer has written everything; returns the tasks
    /// to wait for when the peer shuts down.
    pub(crate) fn close(mut self) -> [JoinHandle<()>; 2] {
        self.flush();
        let _ = self.writer.send(WriterCommand::Close);
        self.tasks
    }
}

/// IPv4-mapped IPv6 addresses (from an IPv6 listener) as plain IPv4.
pub(crate) fn canonical(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip().to_canonical(), address.port())
}

/// How the reader cuts frames: up to 65535 octets (OPEN up to 4096), since our OPEN
/// always offers extended messages (RFC 8654) and the reader does not know whether the
/// peer's did. The peer task decodes each frame with the negotiated context, which
/// refuses a message above 4096 octets when extended messages were not negotiated.
const RECEIVE_FRAMING: CodecContext = CodecContext {
    four_octet_as: true,
    extended_message: true,
};

async fn read_loop(
    id: ConnId,
    mut half: OwnedReadHalf,
    events: mpsc::Sender<ConnEvent>,
    mut closing: oneshot::Receiver<()>,
) {
    let mut buffer = BytesMut::with_capacity(64 * 1024);
    loop {
        let read = tokio::select! {
            biased;
            _ = &mut closing => {
                drain(&mut half).await;
                return;
            }
            read = half.read_buf(&mut buffer) => read,
        };
        match read {
            Ok(0) | Err(_) => {
                if let Err(error) = &read {
                    debug!(%error, "read failed");
                }
                let _ = events.send(ConnEvent::Closed(id)).await;
                return;
            }
            Ok(_) => {}
        }
        let mut frames = Vec::new();
        let mut invalid = None;
        loop {
            match packet::frame_len(&buffer, &RECEIVE_FRAMING) {
                Ok(Some(length)) if buffer.len() >= length => {
                    frames.push(buffer.split_to(length).freeze())
                }
                Ok(_) => break,
                Err(error) => {
                    invalid = Some(error);
                    break;
                }
            }
        }
        if !frames.is_empty() && events.send(ConnEvent::Frames(id, frames)).await.is_err() {
            return;
        }
        if let Some(error) = invalid {
            let _ = events.send(ConnEvent::Invalid(id, error)).await;
            // The peer task sends a NOTIFICATION and closes; wait for that, then drain.
            let _ = closing.await;
            drain(&mut half).await;
            return;
        }
        if buffer.capacity() - buffer.len() < 4096 {
            buffer.reserve(64 * 1024);
        }
    }
}

/// Reads and discards until the peer closes, for at most [`DRAIN_AFTER_CLOSE`].
async fn drain(half: &mut OwnedReadHalf) {
    let mut scratch = vec![0u8; 16 * 1024];
    let _ = tokio::time::timeout(DRAIN_AFTER_CLOSE, async {
        while let Ok(n) = half.read(&mut scratch).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

async fn write_loop(
    id: ConnId,
    mut half: OwnedWriteHalf,
    mut commands: mpsc::UnboundedReceiver<WriterCommand>,
    counters: Arc<WireCounters>,
    events: mpsc::Sender<ConnEvent>,
    closing: oneshot::Sender<()>,
) {
    let mut close = false;
    let mut failed = false;
    let mut chunks = Vec::new();
    while !close {
        let Some(first) = commands.recv().await else {
            break;
        };
        chunks.push(first);
        while let Ok(next) = commands.try_recv() {
            chunks.push(next);
        }
        for command in chunks.drain(..) {
            match command {
                WriterCommand::Data {
                    bytes,
                    messages,
                    updates,
                } => {
                    if !failed {
                        match half.write_all(&bytes).await {
                            Ok(()) => {
                                counters
                                    .messages_sent
                                    .fetch_add(messages, Ordering::Relaxed);
                                counters.updates_sent.fetch_add(updates, Ordering::Relaxed);
                            }
                            Err(error) => {
                                debug!(%error, "write failed");
                                failed = true;
                                let _ = events.send(ConnEvent::Closed(id)).await;
                            }
                        }
                    }
                    counters
                        .pending_messages
                        .fetch_sub(messages, Ordering::Relaxed);
                }
                WriterCommand::Close => close = true,
            }
        }
    }
    if !failed {
        // FIN after the last byte; the reader drains until the peer closes too.
        let _ = half.shutdown().await;
    }
    let _ = closing.send(());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_listener_binds_the_port_of_a_running_one() {
        // A restarting speaker's successor listens while the old one still does.
        let first = listen("127.0.0.1:0".parse().expect("address")).expect("first listener");
        let address = first.local_addr().expect("bound");
        let second = listen(address).expect("second listener on the same port");
        assert_eq!(second.local_addr().expect("bound"), address);
    }
}
