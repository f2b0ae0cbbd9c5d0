//! The [`Speaker`] handle and the core task behind it.
//!
//! The core task owns the route table and the peers. `announce`/`withdraw` are plain
//! sends on an unbounded channel; the core drains everything queued, applies it to the
//! table as one batch and sends the net change to every peer task, which packs it into
//! UPDATEs for its session. Peers that come up ask for a snapshot of the table.

mod error;

pub use error::SpeakerError;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, error, info_span, warn};

use crate::bfd::Bfd;
use crate::config::{PeerConfig, SpeakerConfig};
use crate::fsm::StopReason;
use crate::rib::{Batch, RouteTable};
use crate::route::RouteAttributes;
use crate::session::{self, Finished, PeerCommand, PeerTaskContext};
use crate::status::{PeerEvent, PeerStats};

/// How long `shutdown` and `remove_peer` wait for sessions to close.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const EVENT_CAPACITY: usize = 1024;

/// A handle on a running BGP speaker; cheap to clone. Its tasks run on the tokio runtime
/// that called [`Speaker::new`]. When the last handle is dropped the speaker shuts down
/// as if [`Speaker::shutdown`] had been called.
#[derive(Clone, Debug)]
pub struct Speaker {
    commands: mpsc::UnboundedSender<CoreCommand>,
    events: broadcast::Sender<PeerEvent>,
}

#[derive(Debug)]
enum CoreCommand {
    Announce(IpNet, RouteAttributes),
    Withdraw(IpNet),
    AddPeer(PeerConfig, oneshot::Sender<Result<(), SpeakerError>>),
    UpdatePeer(PeerConfig, oneshot::Sender<Result<(), SpeakerError>>),
    RemovePeer(IpAddr, oneshot::Sender<Result<(), SpeakerError>>),
    Stats(oneshot::Sender<Vec<PeerStats>>),
    Shutdown(StopReason, oneshot::Sender<()>),
}

impl Speaker {
    /// Starts the speaker (and its listener, if configured). Must be called within a
    /// tokio runtime. A listener that cannot be opened is logged and left out; use
    /// [`Speaker::try_new`] to get the error instead.
    pub fn new(config: SpeakerConfig) -> Speaker {
        match Speaker::try_new(config) {
            Ok(speaker) => speaker,
            Err(error) => {
                error!(%error, "starting without a listener");
                Speaker::spawn(None)
            }
        }
    }

    /// Starts the speaker, failing if the listening socket cannot be opened.
    pub fn try_new(config: SpeakerConfig) -> Result<Speaker, SpeakerError> {
        let listener = match config.listen {
            Some(address) => Some(Arc::new(
                session::io::listen(address)
                    .map_err(|source| SpeakerError::Listen { address, source })?,
            )),
            None => None,
        };
        Ok(Speaker::spawn(listener))
    }

    fn spawn(listener: Option<Arc<TcpListener>>) -> Speaker {
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let (table_requests, table_requests_rx) = mpsc::unbounded_channel();
        let listener_task = listener
            .clone()
            .map(|listener| tokio::spawn(accept_loop(listener, internal_tx)));
        let core = Core {
            table: Arc::new(RouteTable::default()),
            batch: Batch::default(),
            peers: BTreeMap::new(),
            retiring: HashMap::new(),
            listener,
            listener_task,
            events: events.clone(),
            table_requests,
            bfd: None,
        };
        tokio::spawn(core.run(commands_rx, internal_rx, table_requests_rx));
        Speaker { commands, events }
    }

    pub async fn add_peer(&self, peer: PeerConfig) -> Result<(), SpeakerError> {
        self.request(|reply| CoreCommand::AddPeer(peer, reply))
            .await
    }

    /// Applies a new configuration to an existing peer: nothing happens if it is equal to
    /// the current one; a change of `bfd` alone applies to the running session (timers by
    /// a Poll Sequence, BFD started or stopped); otherwise that peer's session is reset
    /// (Cease/Other Configuration Change) and started again with the new settings. Other
    /// peers are untouched.
    pub async fn update_peer(&self, peer: PeerConfig) -> Result<(), SpeakerError> {
        self.request(|reply| CoreCommand::UpdatePeer(peer, reply))
            .await
    }

    /// Sends Cease/Peer De-configured and forgets the peer; returns once its session closed.
    pub async fn remove_peer(&self, address: IpAddr) -> Result<(), SpeakerError> {
        self.request(|reply| CoreCommand::RemovePeer(address, reply))
            .await
    }

    /// Originates `prefix` (or changes its attributes). IPv4 prefixes go to IPv4 sessions,
    /// IPv6 prefixes to IPv6 sessions, incrementally and batched with other calls.
    pub fn announce(&self, prefix: IpNet, attributes: RouteAttributes) {
        let _ = self
            .commands
            .send(CoreCommand::Announce(prefix, attributes));
    }

    pub fn withdraw(&self, prefix: IpNet) {
        let _ = self.commands.send(CoreCommand::Withdraw(prefix));
    }

    /// State changes of every peer from now on.
    pub fn events(&self) -> broadcast::Receiver<PeerEvent> {
        self.events.subscribe()
    }

    /// One entry per configured peer, ordered by address.
    pub async fn stats(&self) -> Vec<PeerStats> {
        let (reply, response) = oneshot::channel();
        if self.commands.send(CoreCommand::Stats(reply)).is_err() {
            return Vec::new();
        }
        response.await.unwrap_or_default()
    }

    /// Sends Cease/Administrative Shutdown to every peer, waits (up to 5 s) for the
    /// sockets to flush and close, and stops the speaker. Later calls do nothing.
    pub async fn shutdown(&self) {
        self.stop(StopReason::AdministrativeShutdown).await;
    }

    /// Stops like [`Speaker::shutdown`] but closes the sessions without a NOTIFICATION:
    /// peers that negotiated graceful restart (see `PeerConfig::graceful_restart`) keep our
    /// routes, marked stale, until we are back or the restart time runs out (RFC 4724
    /// section 4.2). Peers without it drop the routes when the connection closes.
    pub async fn shutdown_for_restart(&self) {
        self.stop(StopReason::GracefulRestart).await;
    }

    async fn stop(&self, reason: StopReason) {
        let (reply, response) = oneshot::channel();
        if self
            .commands
            .send(CoreCommand::Shutdown(reason, reply))
            .is_ok()
        {
            let _ = response.await;
        }
    }

    async fn request(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<(), SpeakerError>>) -> CoreCommand,
    ) -> Result<(), SpeakerError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(command(reply))
            .map_err(|_| SpeakerError::ShutDown)?;
        response.await.unwrap_or(Err(SpeakerError::ShutDown))
    }
}

/// Messages to the core from its own tasks (listener, peers).
#[derive(Debug)]
enum Internal {
    Incoming(TcpStream, SocketAddr),
}

#[derive(Debug)]
struct PeerHandle {
    config: PeerConfig,
    commands: mpsc::UnboundedSender<PeerCommand>,
    finished: Finished,
}

#[derive(Debug)]
struct Core {
    table: Arc<RouteTable>,
    batch: Batch,
    peers: BTreeMap<IpAddr, PeerHandle>,
    /// Removed peers whose task may still be closing; a re-added peer waits for it.
    retiring: HashMap<IpAddr, Finished>,
    listener: Option<Arc<TcpListener>>,
    listener_task: Option<JoinHandle<()>>,
    events: broadcast::Sender<PeerEvent>,
    /// Cloned into every peer task: "send me the table".
    table_requests: mpsc::UnboundedSender<IpAddr>,
    /// The BFD driver, started with the first peer that wants BFD.
    bfd: Option<Bfd>,
}

impl Core {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<CoreCommand>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
        mut table_requests: mpsc::UnboundedReceiver<IpAddr>,
    ) {
        loop {
            tokio::select! {
                command = commands.recv() => {
                    let Some(mut command) = command else { break };
                    // Drain everything queued: route changes become one batch.
                    loop {
                        match command {
                            CoreCommand::Announce(prefix, attributes) => {
                                self.batch.announce(&mut self.table, prefix, attributes);
                            }
                            CoreCommand::Withdraw(prefix) => self.batch.withdraw(&mut self.table, prefix),
                            CoreCommand::Shutdown(reason, reply) => {
                                self.shutdown(reason).await;
                                let _ = reply.send(());
                                return;
                            }
                            other => {
                                self.publish();
                                self.command(other);
                            }
                        }
                        match commands.try_recv() {
                            Ok(next) => command = next,
                            Err(_) => break,
                        }
                    }
                    self.publish();
                }
                Some(message) = internal.recv() => {
                    self.publish();
                    self.internal(message);
                }
                Some(address) = table_requests.recv() => {
                    // The snapshot includes every change published so far, and the peer
                    // ignores deltas until it arrives: publish first.
                    self.publish();
                    self.send_table(address);
                }
            }
        }
        // Every handle is gone.
        self.shutdown(StopReason::AdministrativeShutdown).await;
    }

    /// Sends the pending batch to every peer.
    fn publish(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let delta = self.batch.finish(&self.table);
        if delta.is_empty() {
            return;
        }
        debug!(v4 = delta.v4.len(), v6 = delta.v6.len(), "routes changed");
        let delta = Arc::new(delta);
        for peer in self.peers.values() {
            let _ = peer.commands.send(PeerCommand::Changes(delta.clone()));
        }
    }

    fn command(&mut self, command: CoreCommand) {
        match command {
            CoreCommand::AddPeer(config, reply) => {
                let _ = reply.send(self.add_peer(config));
            }
            CoreCommand::UpdatePeer(config, reply) => {
                let _ = reply.send(self.update_peer(config));
            }
            CoreCommand::RemovePeer(address, reply) => match self.peers.remove(&address) {
                None => {
                    let _ = reply.send(Err(SpeakerError::UnknownPeer { address }));
                }
                Some(peer) => {
                    let _ = peer
                        .commands
                        .send(PeerCommand::Stop(StopReason::PeerDeconfigured));
                    if peer.config.password.is_some() {
                        self.set_listener_md5(address, None);
                    }
                    self.retiring.insert(address, peer.finished.clone());
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(STOP_TIMEOUT, peer.finished).await;
                        let _ = reply.send(Ok(()));
                    });
                }
            },
            CoreCommand::Stats(reply) => {
                let mut responses = Vec::with_capacity(self.peers.len());
                for peer in self.peers.values() {
                    let (tx, rx) = oneshot::channel();
                    if peer.commands.send(PeerCommand::Stats(tx)).is_ok() {
                        responses.push(rx);
                    }
                }
                tokio::spawn(async move {
                    let stats = futures::future::join_all(responses).await;
                    let _ = reply.send(stats.into_iter().filter_map(Result::ok).collect());
                });
            }
            // Handled in `run`.
            CoreCommand::Announce(..) | CoreCommand::Withdraw(_) | CoreCommand::Shutdown(..) => {}
        }
    }

    fn add_peer(&mut self, config: PeerConfig) -> Result<(), SpeakerError> {
        let address = config.address;
        config
            .validate()
            .map_err(|problem| SpeakerError::InvalidPeer { address, problem })?;
        if self.peers.contains_key(&address) {
            return Err(SpeakerError::PeerExists { address });
        }
        if let (Some(listener), Some(password)) = (&self.listener, &config.password) {
            session::io::set_listener_md5(listener, address, Some(password.as_bytes()))
                .map_err(|source| SpeakerError::ListenerMd5 { address, source })?;
        }
        if config.passive && self.listener.is_none() {
            warn!(%address, "passive peer without a listening socket: it can never connect");
        }
        let previous = self.retiring.remove(&address);
        self.start_peer(config, previous);
        Ok(())
    }

    fn update_peer(&mut self, config: PeerConfig) -> Result<(), SpeakerError> {
        let address = config.address;
        config
            .validate()
            .map_err(|problem| SpeakerError::InvalidPeer { address, problem })?;
        let Some(current) = self.peers.get(&address) else {
            return Err(SpeakerError::UnknownPeer { address });
        };
        if current.config == config {
            return Ok(());
        }
        // Only BFD changed: retimed, started or stopped under the running session.
        let without_bfd = |config: &PeerConfig| PeerConfig {
            bfd: None,
            ..config.clone()
        };
        if without_bfd(&current.config) == without_bfd(&config) {
            let bfd = config
                .bfd
                .map(|timers| (self.bfd.get_or_insert_with(Bfd::spawn).clone(), timers));
            let _ = current.commands.send(PeerCommand::Bfd(bfd));
            if let Some(current) = self.peers.get_mut(&address) {
                current.config = config;
            }
            return Ok(());
        }
        if let Some(listener) = &self.listener
            && current.config.password != config.password
        {
            let key = config.password.as_ref().map(String::as_bytes);
            session::io::set_listener_md5(listener, address, key)
                .map_err(|source| SpeakerError::ListenerMd5 { address, source })?;
        }
        let _ = current
            .commands
            .send(PeerCommand::Stop(StopReason::OtherConfigurationChange));
        let previous = Some(current.finished.clone());
        self.start_peer(config, previous);
        Ok(())
    }

    fn start_peer(&mut self, config: PeerConfig, previous: Option<Finished>) {
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let span = info_span!("peer", addr = %config.address, asn = config.remote_as);
        let table_requests = self.table_requests.clone();
        let bfd = config
            .bfd
            .is_some()
            .then(|| self.bfd.get_or_insert_with(Bfd::spawn).clone());
        let finished = session::spawn_peer(
            PeerTaskContext {
                config: config.clone(),
                commands: commands_rx,
                table_requests,
                events: self.events.clone(),
                previous,
                bfd,
            },
            span,
        );
        self.peers.insert(
            config.address,
            PeerHandle {
                config,
                commands,
                finished,
            },
        );
    }

    fn internal(&mut self, message: Internal) {
        match message {
            Internal::Incoming(stream, remote) => {
                let address = remote.ip().to_canonical();
                match self.peers.get(&address) {
                    Some(peer) => {
                        let _ = peer.commands.send(PeerCommand::Incoming(stream));
                    }
                    None => debug!(%remote, "connection from an address that is not a peer"),
                }
            }
        }
    }

    fn send_table(&self, address: IpAddr) {
        if let Some(peer) = self.peers.get(&address) {
            let _ = peer.commands.send(PeerCommand::Table(self.table.clone()));
        }
    }

    fn set_listener_md5(&self, address: IpAddr, key: Option<&[u8]>) {
        if let Some(listener) = &self.listener
            && let Err(error) = session::io::set_listener_md5(listener, address, key)
        {
            warn!(%address, %error, "cannot change the TCP MD5 key on the listener");
        }
    }

    async fn shutdown(&mut self, reason: StopReason) {
        self.publish();
        if let Some(task) = self.listener_task.take() {
            task.abort();
        }
        let mut waiting: Vec<Finished> = self
            .retiring
            .drain()
            .map(|(_, finished)| finished)
            .collect();
        for (_, peer) in std::mem::take(&mut self.peers) {
            let _ = peer.commands.send(PeerCommand::Stop(reason));
            waiting.push(peer.finished);
        }
        let all = futures::future::join_all(waiting).map(|_| ());
        if tokio::time::timeout(STOP_TIMEOUT, all).await.is_err() {
            warn!("peers did not close within {STOP_TIMEOUT:?}");
        }
    }
}

async fn accept_loop(listener: Arc<TcpListener>, core: mpsc::UnboundedSender<Internal>) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                if core.send(Internal::Incoming(stream, remote)).is_err() {
                    return;
                }
            }
            Err(error) => {
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
