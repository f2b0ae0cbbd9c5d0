//! The tokio driver of every BFD session of a speaker: one task, shared receive sockets,
//! one connected transmit socket per session.
//!
//! ```text
//!  Bfd handle ── add(peer, timers) ──► SessionHandle (per BGP peer; dropping it ends
//!      │                                  │           the session with AdminDown)
//!      │ mpsc unbounded (Command)          ▲ mpsc unbounded (StateChange)
//!      ▼                                   │ watch (BfdStatus, on change only)
//!  ┌──────────────────────────────────────────┐
//!  │ engine task: fsm::Session per peer,       │◄── UDP 3784 / 4784, IPv4 and IPv6
//!  │ one sleep until the earliest deadline     │    (opened when first needed)
//!  └──────────────────────────────────────────┘──► per-session UDP socket, source port
//!                                                   49152-65535, TTL 255
//! ```
//!
//! One task for all sessions: each wake-up handles every session whose deadline has
//! passed, then sleeps until the next deadline, so 100 sessions at 20 ms cost about
//! 10,000 small syscalls a second and no busy loop (see `examples/bfd_load.rs`).
//!
//! Single hop (RFC 5881 section 5): packets are sent with TTL / hop limit 255 and
//! received ones with any other value are dropped. Multihop (RFC 5883 section 5): sent
//! with 255 too; received TTLs are not checked, as the RFC leaves it to configuration.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::Poll;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::fsm::{Negotiated, Output, Session, StateChange, Timers};
use super::packet::{ControlPacket, Diag, State};
use crate::sockopt;

/// RFC 5881 section 4.
pub const SINGLE_HOP_PORT: u16 = 3784;
/// RFC 5883 section 5.
pub const MULTIHOP_PORT: u16 = 4784;
/// RFC 5881 section 4: the source port range.
const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
const TTL: u32 = 255;

/// Where the driver listens and where it sends to. The RFCs fix both to 3784 (4784
/// multihop); tests that run two drivers on one host cross them over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub listen_single_hop: u16,
    pub listen_multihop: u16,
    pub peer_single_hop: u16,
    pub peer_multihop: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            listen_single_hop: SINGLE_HOP_PORT,
            listen_multihop: MULTIHOP_PORT,
            peer_single_hop: SINGLE_HOP_PORT,
            peer_multihop: MULTIHOP_PORT,
        }
    }
}

/// Which peer a session runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub peer: IpAddr,
    /// Send from this address; `None`: the kernel's choice for the route to the peer.
    pub local: Option<IpAddr>,
    pub multihop: bool,
}

/// What one session looks like now, for status pages and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdStatus {
    pub peer: IpAddr,
    /// Our end of the session, once its socket is open.
    pub local: Option<SocketAddr>,
    pub multihop: bool,
    pub state: State,
    pub remote_state: State,
    pub local_diag: Diag,
    pub remote_diag: Diag,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    /// What we asked for.
    pub configured: Timers,
    /// What was agreed with the peer.
    pub negotiated: Negotiated,
    /// Up -> Down transitions.
    pub flaps: u64,
    /// A socket the session needs could not be opened.
    pub error: Option<String>,
}

/// A handle on the BFD driver; cheap to clone. The task stops when every handle and
/// every [`SessionHandle`] is gone.
#[derive(Clone, Debug)]
pub struct Bfd {
    commands: mpsc::UnboundedSender<Command>,
    next_discriminator: Arc<AtomicU32>,
}

/// One session, held by its user (a BGP peer task). Dropping it stops the session.
#[derive(Debug)]
pub struct SessionHandle {
    discriminator: u32,
    commands: mpsc::UnboundedSender<Command>,
    /// Every state change, in order.
    pub changes: mpsc::UnboundedReceiver<StateChange>,
    status: watch::Receiver<BfdStatus>,
}

impl SessionHandle {
    pub fn status(&self) -> BfdStatus {
        self.status.borrow().clone()
    }

    /// New timers for the running session (a Poll Sequence confirms them).
    pub fn set_timers(&self, timers: Timers) {
        let _ = self
            .commands
            .send(Command::SetTimers(self.discriminator, timers));
    }
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Remove(self.discriminator));
    }
}

#[derive(Debug)]
enum Command {
    Add {
        discriminator: u32,
        key: SessionKey,
        timers: Timers,
        changes: mpsc::UnboundedSender<StateChange>,
        status: watch::Sender<BfdStatus>,
    },
    SetTimers(u32, Timers),
    Remove(u32),
}

impl Bfd {
    /// Starts the driver on the current tokio runtime with the RFC ports.
    pub fn spawn() -> Bfd {
        Bfd::spawn_with_ports(Ports::default())
    }

    pub fn spawn_with_ports(ports: Ports) -> Bfd {
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let engine = Engine {
            ports,
            sessions: HashMap::new(),
            by_peer: HashMap::new(),
            receivers: Receivers::default(),
        };
        tokio::spawn(engine.run(commands_rx));
        Bfd {
            commands,
            // Random start: a restarted speaker does not reuse its predecessor's numbers.
            next_discriminator: Arc::new(AtomicU32::new(rand::random::<u32>() >> 8 | 1)),
        }
    }

    /// Starts a session with `key.peer`; it sends its first packet at once.
    pub fn add(&self, key: SessionKey, timers: Timers) -> SessionHandle {
        let discriminator = loop {
            let d = self.next_discriminator.fetch_add(1, Ordering::Relaxed);
            if d != 0 {
                break d;
            }
        };
        let (changes_tx, changes) = mpsc::unbounded_channel();
        let initial = Session::new(timers, discriminator, 0, Instant::now());
        let (status_tx, status) = watch::channel(status_of(&key, None, &initial, None));
        let _ = self.commands.send(Command::Add {
            discriminator,
            key,
            timers,
            changes: changes_tx,
            status: status_tx,
        });
        SessionHandle {
            discriminator,
            commands: self.commands.clone(),
            changes,
            status,
        }
    }
}

fn status_of(
    key: &SessionKey,
    local: Option<SocketAddr>,
    session: &Session,
    error: Option<String>,
) -> BfdStatus {
    BfdStatus {
        peer: key.peer,
        local,
        multihop: key.multihop,
        state: session.state(),
        remote_state: session.remote_state(),
        local_diag: session.local_diag(),
        remote_diag: session.remote_diag(),
        local_discriminator: session.local_discriminator(),
        remote_discriminator: session.remote_discriminator(),
        configured: session.timers(),
        negotiated: session.negotiated(),
        flaps: session.flaps(),
        error,
    }
}

#[derive(Debug)]
struct Entry {
    key: SessionKey,
    session: Session,
    socket: Option<std::net::UdpSocket>,
    local: Option<SocketAddr>,
    changes: mpsc::UnboundedSender<StateChange>,
    status: watch::Sender<BfdStatus>,
    /// What `status` holds, to compare against without taking the watch's lock.
    published: Option<BfdStatus>,
    error: Option<String>,
}

impl Entry {
    fn apply(&mut self, output: Output) {
        if let Some(packet) = output.send
            && let Some(socket) = &self.socket
            && let Err(error) = socket.send(&packet.encode())
        {
            // A full send buffer or an ICMP error from an earlier packet: the next
            // periodic packet tries again.
            debug!(peer = %self.key.peer, %error, "BFD packet not sent");
        }
        if let Some(change) = output.changed {
            if change.to == State::Up || change.from == State::Up {
                info!(peer = %self.key.peer, from = %change.from, to = %change.to, diag = %change.diag, "BFD session state changed");
            } else {
                debug!(peer = %self.key.peer, from = %change.from, to = %change.to, diag = %change.diag, "BFD session state changed");
            }
            let _ = self.changes.send(change);
        }
        self.publish();
    }

    /// Updates the watched status if something a reader sees has changed (state,
    /// intervals, flaps): not on every packet.
    fn publish(&mut self) {
        let now = status_of(&self.key, self.local, &self.session, self.error.clone());
        if self.published.as_ref() != Some(&now) {
            self.published = Some(now.clone());
            self.status.send_replace(now);
        }
    }
}

/// The shared receive sockets, opened on first use.
#[derive(Debug, Default)]
struct Receivers {
    /// Index: [v4 single hop, v6 single hop, v4 multihop, v6 multihop].
    sockets: [Option<UdpSocket>; 4],
    /// Why a socket could not be opened (so later sessions do not retry in a loop).
    errors: [Option<String>; 4],
}

fn receiver_index(ipv6: bool, multihop: bool) -> usize {
    usize::from(ipv6) + 2 * usize::from(multihop)
}

#[derive(Debug)]
struct Engine {
    ports: Ports,
    sessions: HashMap<u32, Entry>,
    /// Sessions by (peer address, multihop), for packets with Your Discriminator 0.
    by_peer: HashMap<(IpAddr, bool), u32>,
    receivers: Receivers,
}

impl Engine {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut buf = [0u8; 128];
        loop {
            let deadline = self
                .sessions
                .values()
                .map(|e| e.session.next_deadline())
                .min();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                index = readable(&self.receivers.sockets) => self.receive(index, &mut buf),
                () = sleep_until(deadline) => {}
            }
            self.timers();
        }
        for (_, mut entry) in self.sessions.drain() {
            let output = entry.session.admin_down(now());
            entry.apply(output);
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Add {
                discriminator,
                key,
                timers,
                changes,
                status,
            } => {
                let now = now();
                let mut entry = Entry {
                    key,
                    session: Session::new(timers, discriminator, rand::random(), now),
                    socket: None,
                    local: None,
                    changes,
                    status,
                    published: None,
                    error: None,
                };
                let port = if key.multihop {
                    self.ports.peer_multihop
                } else {
                    self.ports.peer_single_hop
                };
                match transmit_socket(key, port) {
                    Ok(socket) => {
                        entry.local = socket.local_addr().ok();
                        entry.socket = Some(socket);
                    }
                    Err(error) => {
                        warn!(peer = %key.peer, %error, "cannot open the BFD transmit socket");
                        entry.error = Some(format!("transmit socket: {error}"));
                    }
                }
                if let Err(error) = self.open_receiver(key.peer.is_ipv6(), key.multihop) {
                    entry.error = Some(error);
                }
                entry.publish();
                debug!(peer = %key.peer, discriminator, "BFD session added");
                if let Some(previous) = self.by_peer.insert((key.peer, key.multihop), discriminator)
                {
                    warn!(peer = %key.peer, "a second BFD session with one peer replaces the first");
                    self.sessions.remove(&previous);
                }
                self.sessions.insert(discriminator, entry);
            }
            Command::SetTimers(discriminator, timers) => {
                if let Some(entry) = self.sessions.get_mut(&discriminator) {
                    entry.session.set_timers(timers, now());
                    entry.publish();
                }
            }
            Command::Remove(discriminator) => {
                if let Some(mut entry) = self.sessions.remove(&discriminator) {
                    // Section 6.8.16: tell the peer this is administrative, not a failure.
                    let output = entry.session.admin_down(now());
                    entry.apply(output);
                    let peer = (entry.key.peer, entry.key.multihop);
                    if self.by_peer.get(&peer) == Some(&discriminator) {
                        self.by_peer.remove(&peer);
                    }
                    debug!(peer = %entry.key.peer, "BFD session removed");
                }
            }
        }
    }

    fn open_receiver(&mut self, ipv6: bool, multihop: bool) -> Result<(), String> {
        let index = receiver_index(ipv6, multihop);
        if self.receivers.sockets[index].is_some() {
            return Ok(());
        }
        if let Some(error) = &self.receivers.errors[index] {
            return Err(error.clone());
        }
        let port = if multihop {
            self.ports.listen_multihop
        } else {
            self.ports.listen_single_hop
        };
        match receive_socket(ipv6, port) {
            Ok(socket) => {
                self.receivers.sockets[index] = Some(socket);
                Ok(())
            }
            Err(error) => {
                let text = format!("cannot listen on UDP port {port}: {error}");
                warn!(error = %text, "BFD cannot receive");
                self.receivers.errors[index] = Some(text.clone());
                Err(text)
            }
        }
    }

    /// Reads everything queued on receiver `index`.
    fn receive(&mut self, index: usize, buf: &mut [u8]) {
        let multihop = index >= 2;
        loop {
            let Some(socket) = &self.receivers.sockets[index] else {
                return;
            };
            let result = socket.try_io(Interest::READABLE, || sockopt::recv_with_ttl(socket, buf));
            let (len, source, ttl) = match result {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    debug!(%error, "BFD receive failed");
                    return;
                }
            };
            // RFC 5881 section 5: a single-hop packet must not have crossed a router.
            if !multihop && ttl != Some(255) {
                debug!(%source, ?ttl, "BFD packet with a TTL other than 255 dropped");
                continue;
            }
            let packet = match ControlPacket::decode(&buf[..len]) {
                Ok(packet) => packet,
                Err(error) => {
                    debug!(%source, %error, "BFD packet discarded");
                    continue;
                }
            };
            self.deliver(source.ip().to_canonical(), multihop, &packet);
        }
    }

    /// Section 6.8.6: demultiplex by Your Discriminator, or by the source address while
    /// the peer does not know ours yet.
    fn deliver(&mut self, source: IpAddr, multihop: bool, packet: &ControlPacket) {
        let discriminator = if packet.your_discriminator != 0 {
            packet.your_discriminator
        } else {
            match self.by_peer.get(&(source, multihop)) {
                Some(d) => *d,
                None => {
                    debug!(%source, "BFD packet from an unknown peer");
                    return;
                }
            }
        };
        let Some(entry) = self.sessions.get_mut(&discriminator) else {
            debug!(%source, discriminator, "BFD packet for no session");
            return;
        };
        if entry.key.peer != source || entry.key.multihop != multihop {
            debug!(%source, discriminator, "BFD packet from the wrong address for its session");
            return;
        }
        match entry.session.receive(packet, now()) {
            Ok(output) => entry.apply(output),
            Err(discard) => debug!(%source, %discard, "BFD packet discarded"),
        }
    }

    /// Runs every session whose deadline has passed.
    fn timers(&mut self) {
        let now = now();
        for entry in self.sessions.values_mut() {
            if entry.session.next_deadline() <= now {
                let output = entry.session.on_timer(now);
                entry.apply(output);
            }
        }
    }
}

/// The runtime's clock (paused in tests), as the FSM's `Instant`.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// The index of the first receive socket that is readable (never, with none open).
/// Polls all four in place: no allocation per wake-up.
async fn readable(sockets: &[Option<UdpSocket>; 4]) -> usize {
    std::future::poll_fn(|cx| {
        for (index, socket) in sockets.iter().enumerate() {
            if let Some(socket) = socket
                && socket.poll_recv_ready(cx).is_ready()
            {
                return Poll::Ready(index);
            }
        }
        Poll::Pending
    })
    .await
}

fn receive_socket(ipv6: bool, port: u16) -> io::Result<UdpSocket> {
    let (domain, any) = if ipv6 {
        (Domain::IPV6, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
    } else {
        (Domain::IPV4, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if ipv6 {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    sockopt::set_recv_ttl(&socket, ipv6)?;
    socket.bind(&SocketAddr::new(any, port).into())?;
    UdpSocket::from_std(socket.into())
}

/// A socket bound to a source port of 49152-65535 (RFC 5881 section 4), connected to the
/// peer, sending with TTL / hop limit 255.
fn transmit_socket(key: SessionKey, port: u16) -> io::Result<std::net::UdpSocket> {
    let ipv6 = key.peer.is_ipv6();
    let domain = if ipv6 { Domain::IPV6 } else { Domain::IPV4 };
    let local = key.local.unwrap_or(if ipv6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    let mut last_error = io::Error::new(io::ErrorKind::AddrInUse, "no free source port");
    for _ in 0..64 {
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_nonblocking(true)?;
        if ipv6 {
            socket.set_only_v6(true)?;
            socket.set_unicast_hops_v6(TTL)?;
        } else {
            socket.set_ttl_v4(TTL)?;
        }
        let source_port = rand::random_range(SOURCE_PORTS);
        match socket.bind(&SocketAddr::new(local, source_port).into()) {
            Ok(()) => {
                socket.connect(&SocketAddr::new(key.peer, port).into())?;
                return Ok(socket.into());
            }
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => last_error = error,
            Err(error) => return Err(error),
        }
    }
    Err(last_error)
}
