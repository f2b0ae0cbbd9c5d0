//! The tokio driver of one peer: it feeds the [`Fsm`] with socket, timer and command
//! events and carries out its outputs.
//!
//! One task per peer (span `peer{addr,asn}`), plus a reader and a writer task per TCP
//! connection (see [`io`]). Timers are deadlines in a map; the select loop sleeps until
//! the earliest one. Routes come from the speaker's core task as a table snapshot when
//! the session is Established (sent whole, then End-of-RIB) and as deltas afterwards;
//! the session's [`AdjRibOut`] turns them into UPDATEs, this task only writes them.

pub(crate) mod io;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::bfd::{Bfd, SessionHandle, SessionKey, StateChange, Timers as BfdTimers};
use crate::config::PeerConfig;
use crate::fsm::{
    ConnId, Fsm, FsmConfig, Input, Negotiated, Output, Reason, SessionState, StopReason, Timer,
};
use crate::packet::{AfiSafi, Message, UpdateMsg};
use crate::rib::{AdjRibOut, Delta, Outbound, RouteTable};
use crate::status::{PeerEvent, PeerStats};
use io::{ConnEvent, Connection, SocketOptions, WireCounters};

/// Resolves when a peer task has ended.
pub(crate) type Finished = Shared<BoxFuture<'static, ()>>;

/// How long a stopping peer waits for its sockets to flush and close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Commands from the core task to a peer task.
#[derive(Debug)]
pub(crate) enum PeerCommand {
    Changes(Arc<Delta>),
    /// A snapshot of the table, answering a table request.
    Table(Arc<RouteTable>),
    /// A connection the listener accepted from this peer's address.
    Incoming(TcpStream),
    Stats(oneshot::Sender<PeerStats>),
    /// New BFD settings for the running session (the rest of the config unchanged): the
    /// driver and timers to run BFD with, or `None` to stop it. The BGP session stays.
    Bfd(Option<(Bfd, BfdTimers)>),
    Stop(StopReason),
}

/// Everything a peer task starts from.
#[derive(Debug)]
pub(crate) struct PeerTaskContext {
    pub(crate) config: PeerConfig,
    pub(crate) commands: mpsc::UnboundedReceiver<PeerCommand>,
    /// Asks the core for a [`PeerCommand::Table`].
    pub(crate) table_requests: mpsc::UnboundedSender<IpAddr>,
    pub(crate) events: broadcast::Sender<PeerEvent>,
    /// The task of a previous configuration of this peer, to let it close first.
    pub(crate) previous: Option<Finished>,
    /// The speaker's BFD driver, when this peer has `bfd` configured.
    pub(crate) bfd: Option<Bfd>,
}

/// Spawns a peer task in `span` (its `peer{addr,asn}` span).
pub(crate) fn spawn_peer(context: PeerTaskContext, span: tracing::Span) -> Finished {
    use tracing::Instrument;
    let handle = tokio::spawn(run_peer(context).instrument(span));
    handle.map(|_| ()).boxed().shared()
}

async fn run_peer(context: PeerTaskContext) {
    let PeerTaskContext {
        config,
        commands,
        table_requests,
        events,
        previous,
        bfd,
    } = context;
    if let Some(previous) = previous {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT * 2, previous).await;
    }
    let bfd = match (bfd, config.bfd) {
        (Some(driver), Some(timers)) => Some(bfd_session(&driver, &config, timers)),
        _ => None,
    };
    let mut peer = PeerTask::new(config, commands, table_requests, events);
    peer.bfd = bfd;
    peer.input(Input::ManualStart);
    peer.run().await;
    peer.finish().await;
}

/// A BFD session with the peer of `config`.
fn bfd_session(driver: &Bfd, config: &PeerConfig, timers: BfdTimers) -> SessionHandle {
    driver.add(
        SessionKey {
            peer: config.address,
            local: config.source_address,
            multihop: config.ebgp_multihop.is_some(),
        },
        timers,
    )
}

/// The session on the Established connection.
#[derive(Debug)]
struct Session {
    conn: ConnId,
    negotiated: Negotiated,
    /// What this session has sent of our routes.
    rib: AdjRibOut,
    since: std::time::Instant,
}

#[derive(Debug, Default)]
struct Timers {
    deadlines: BTreeMap<Timer, Instant>,
}

impl Timers {
    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.values().min().copied()
    }

    fn take_expired(&mut self, now: Instant) -> Vec<Timer> {
        let expired: Vec<Timer> = self
            .deadlines
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for timer in &expired {
            self.deadlines.remove(timer);
        }
        expired
    }
}

#[derive(Debug)]
struct PeerTask {
    config: PeerConfig,
    socket_options: SocketOptions,
    fsm: Fsm,
    state: SessionState,
    commands: mpsc::UnboundedReceiver<PeerCommand>,
    table_requests: mpsc::UnboundedSender<IpAddr>,
    events: broadcast::Sender<PeerEvent>,
    conn_events_tx: mpsc::Sender<ConnEvent>,
    conn_events: mpsc::Receiver<ConnEvent>,
    connections: HashMap<ConnId, Connection>,
    next_conn: u64,
    connecting: Option<ConnectAttempt>,
    timers: Timers,
    session: Option<Session>,
    counters: Arc<WireCounters>,
    messages_received: u64,
    updates_received: u64,
    /// The prefixes the peer currently announces to us (received routes are only counted:
    /// a set, so a re-announcement or a withdrawal of an unknown prefix counts right).
    received: std::collections::HashSet<ipnet::IpNet>,
    last_error: Option<String>,
    /// Reader and writer tasks of closed connections, still flushing.
    closing: Vec<JoinHandle<()>>,
    /// The BFD session with the peer; dropped (AdminDown) when the task ends.
    bfd: Option<SessionHandle>,
}

impl PeerTask {
    fn new(
        config: PeerConfig,
        commands: mpsc::UnboundedReceiver<PeerCommand>,
        table_requests: mpsc::UnboundedSender<IpAddr>,
        events: broadcast::Sender<PeerEvent>,
    ) -> Self {
        let families = if config.address.is_ipv4() {
            vec![AfiSafi::IPV4_UNICAST]
        } else {
            vec![AfiSafi::IPV6_UNICAST]
        };
        let fsm = Fsm::new(FsmConfig {
            local_as: config.local_as,
            remote_as: config.remote_as,
            router_id: config.router_id,
            hold_time: config.hold_time,
            keepalive: config.keepalive,
            connect_retry: config.connect_retry,
            passive: config.passive,
            families,
            graceful_restart: config.graceful_restart,
            jitter_seed: rand::random(),
        });
        let (conn_events_tx, conn_events) = mpsc::channel(256);
        PeerTask {
            socket_options: SocketOptions::for_peer(&config),
            config,
            fsm,
            state: SessionState::Idle,
            commands,
            table_requests,
            events,
            conn_events_tx,
            conn_events,
            connections: HashMap::new(),
            next_conn: 0,
            connecting: None,
            timers: Timers::default(),
            session: None,
            counters: Arc::new(WireCounters::default()),
            messages_received: 0,
            updates_received: 0,
            received: std::collections::HashSet::new(),
            last_error: None,
            closing: Vec::new(),
            bfd: None,
        }
    }

    async fn run(&mut self) {
        loop {
            let deadline = self.timers.next_deadline();
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(PeerCommand::Stop(reason)) => {
                        self.input(Input::ManualStop(reason));
                        break;
                    }
                    Some(command) => self.command(command),
                    // The core is gone without a word: stop as for a shutdown.
                    None => {
                        self.input(Input::ManualStop(StopReason::AdministrativeShutdown));
                        break;
                    }
                },
                Some(event) = self.conn_events.recv() => self.connection_event(event),
                Some(change) = bfd_change(&mut self.bfd) => self.bfd_changed(change),
                result = poll_connect(&mut self.connecting) => {
                    self.connecting = None;
                    self.connect_finished(result);
                }
                () = sleep_until(deadline) => {
                    for timer in self.timers.take_expired(Instant::now()) {
                        self.input(Input::TimerExpired(timer));
                    }
                }
            }
            self.flush();
        }
        self.flush();
    }

    /// Waits (bounded) for closed connections to write their last bytes.
    async fn finish(&mut self) {
        let ids: Vec<ConnId> = self.connections.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
        let tasks = std::mem::take(&mut self.closing);
        if tokio::time::timeout(CLOSE_TIMEOUT, futures::future::join_all(tasks))
            .await
            .is_err()
        {
            warn!("sockets did not close within {CLOSE_TIMEOUT:?}");
        }
    }

    fn command(&mut self, command: PeerCommand) {
        match command {
            PeerCommand::Changes(delta) => self.send_changes(&delta),
            PeerCommand::Table(table) => self.send_table(&table),
            PeerCommand::Incoming(stream) => self.accept(stream),
            PeerCommand::Stats(reply) => {
                let _ = reply.send(self.stats());
            }
            PeerCommand::Bfd(bfd) => self.set_bfd(bfd),
            PeerCommand::Stop(_) => {}
        }
    }

    /// BFD started, retimed (a Poll Sequence, RFC 5880 section 6.8.3) or stopped (the
    /// peer sees AdminDown, which ends nothing, RFC 5882 section 3.2) under a running BGP
    /// session.
    fn set_bfd(&mut self, bfd: Option<(Bfd, BfdTimers)>) {
        match (bfd, &self.bfd) {
            (Some((_, timers)), Some(session)) => {
                info!(?timers, "BFD timers changed");
                session.set_timers(timers);
                self.config.bfd = Some(timers);
            }
            (Some((driver, timers)), None) => {
                info!(?timers, "BFD started");
                self.bfd = Some(bfd_session(&driver, &self.config, timers));
                self.config.bfd = Some(timers);
            }
            (None, Some(_)) => {
                info!("BFD stopped");
                self.bfd = None;
                self.config.bfd = None;
            }
            (None, None) => {}
        }
    }

    fn input(&mut self, input: Input) {
        for output in self.fsm.handle(input) {
            self.apply(output);
        }
    }

    fn apply(&mut self, output: Output) {
        match output {
            Output::Connect => {
                let remote = SocketAddr::new(self.config.address, self.config.port);
                debug!(%remote, "connecting");
                let attempt = io::connect(
                    remote,
                    self.config.source_address,
                    self.socket_options.clone(),
                );
                self.connecting = Some(ConnectAttempt(attempt.boxed()));
            }
            Output::AbortConnect => self.connecting = None,
            Output::Send { conn, message } => {
                if let Some(connection) = self.connections.get_mut(&conn) {
                    connection.encode(&message);
                }
            }
            Output::Close { conn } => self.close(conn),
            Output::StartTimer { timer, after } => {
                self.timers.deadlines.insert(timer, Instant::now() + after);
            }
            Output::StopTimer(timer) => {
                self.timers.deadlines.remove(&timer);
            }
            Output::StateChanged { from, to, reason } => self.state_changed(from, to, reason),
            Output::Established { conn, session } => self.established(conn, session),
            Output::UpdateReceived { update, .. } => self.update_received(&update),
            Output::RouteRefreshRequested { family, .. } => {
                debug!(?family, "route refresh requested");
                let _ = self.table_requests.send(self.config.address);
            }
        }
    }

    /// Only a failure (Up -> Down, not the peer's AdminDown, RFC 5882 section 3.2) ends
    /// the BGP session; BFD coming Up changes nothing, the session reconnects on its own.
    fn bfd_changed(&mut self, change: StateChange) {
        if change.is_failure() {
            info!(diag = %change.diag, "BFD session down: closing the BGP session");
            self.input(Input::BfdDown);
        }
    }

    fn state_changed(&mut self, from: SessionState, to: SessionState, reason: Option<Reason>) {
        self.state = to;
        let reason_text = reason.as_ref().map(ToString::to_string);
        match &reason {
            Some(Reason::ManualStop(_)) | None => {}
            Some(_) => self.last_error.clone_from(&reason_text),
        }
        if to == SessionState::Established || from == SessionState::Established {
            info!(%from, %to, reason = reason_text.as_deref().unwrap_or(""), "session state changed");
        } else {
            debug!(%from, %to, reason = reason_text.as_deref().unwrap_or(""), "session state changed");
        }
        let _ = self.events.send(PeerEvent {
            peer: self.config.address,
            state: to,
            previous: from,
            reason: reason_text,
        });
    }

    fn established(&mut self, conn: ConnId, negotiated: Negotiated) {
        let Some(connection) = self.connections.get_mut(&conn) else {
            return;
        };
        connection.codec = negotiated.codec_context();
        let outbound = Outbound {
            local_as: self.config.local_as,
            ibgp: !self.config.is_ebgp(),
            next_hop: connection.local.ip(),
            families: negotiated.families.clone(),
            codec: connection.codec,
        };
        info!(
            hold_time = negotiated.hold_time,
            peer_id = %negotiated.peer_id,
            local = %connection.local,
            "established"
        );
        self.session = Some(Session {
            conn,
            negotiated,
            rib: AdjRibOut::new(outbound),
            since: std::time::Instant::now(),
        });
        self.received.clear();
        let _ = self.table_requests.send(self.config.address);
    }

    fn send_table(&mut self, table: &RouteTable) {
        let Some(session) = &mut self.session else {
            return;
        };
        let messages = session.rib.table(table);
        let conn = session.conn;
        debug!(
            prefixes = session.rib.prefixes_sent(),
            updates = messages.len(),
            "sending the table"
        );
        self.send_updates(conn, messages);
    }

    fn send_changes(&mut self, delta: &Delta) {
        let Some(session) = &mut self.session else {
            return;
        };
        let messages = session.rib.changes(delta);
        let conn = session.conn;
        self.send_updates(conn, messages);
    }

    fn send_updates(&mut self, conn: ConnId, updates: Vec<UpdateMsg>) {
        let Some(connection) = self.connections.get_mut(&conn) else {
            return;
        };
        for update in updates {
            connection.encode(&Message::Update(update));
        }
    }

    fn update_received(&mut self, update: &UpdateMsg) {
        self.updates_received += 1;
        let attributes = &update.attributes;
        let withdrawn = update.withdrawn.iter().map(|p| ipnet::IpNet::V4(*p)).chain(
            attributes
                .mp_unreach
                .iter()
                .flat_map(|u| u.withdrawn.iter().map(|p| ipnet::IpNet::V6(*p))),
        );
        for prefix in withdrawn {
            self.received.remove(&prefix);
        }
        let announced = update.nlri.iter().map(|p| ipnet::IpNet::V4(*p)).chain(
            attributes
                .mp_reach
                .iter()
                .flat_map(|r| r.nlri.iter().map(|p| ipnet::IpNet::V6(*p))),
        );
        self.received.extend(announced);
    }

    fn connection_event(&mut self, event: ConnEvent) {
        match event {
            ConnEvent::Frames(conn, frames) => {
                for frame in frames {
                    let Some(connection) = self.connections.get(&conn) else {
                        return;
                    };
                    self.messages_received += 1;
                    match Message::decode(&frame, &connection.codec) {
                        Ok(message) => self.input(Input::MessageReceived { conn, message }),
                        Err(error) => {
                            debug!(%error, "undecodable message");
                            self.input(Input::DecodeFailed { conn, error });
                            return;
                        }
                    }
                }
            }
            ConnEvent::Invalid(conn, error) => {
                if self.connections.contains_key(&conn) {
                    debug!(%error, "invalid message header");
                    self.input(Input::DecodeFailed { conn, error });
                }
            }
            ConnEvent::Closed(conn) => {
                if self.connections.contains_key(&conn) {
                    self.input(Input::TcpClosed { conn });
                }
            }
        }
    }

    fn connect_finished(&mut self, result: std::io::Result<TcpStream>) {
        match result.and_then(|stream| self.register(stream)) {
            Ok((conn, local, remote)) => self.input(Input::TcpConnected {
                conn,
                local,
                remote,
            }),
            Err(error) => {
                debug!(%error, "connection attempt failed");
                self.input(Input::TcpConnectFailed);
            }
        }
    }

    fn accept(&mut self, stream: TcpStream) {
        if let Err(error) = io::prepare_accepted(&stream, &self.socket_options) {
            warn!(%error, "cannot set socket options on an accepted connection");
        }
        match self.register(stream) {
            Ok((conn, local, remote)) => {
                debug!(%remote, "accepted");
                self.input(Input::TcpAccepted {
                    conn,
                    local,
                    remote,
                });
            }
            Err(error) => debug!(%error, "accepted connection is already gone"),
        }
    }

    fn register(&mut self, stream: TcpStream) -> std::io::Result<(ConnId, SocketAddr, SocketAddr)> {
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        let connection = Connection::spawn(
            conn,
            stream,
            self.conn_events_tx.clone(),
            self.counters.clone(),
        )?;
        let addresses = (conn, connection.local, connection.remote);
        self.connections.insert(conn, connection);
        Ok(addresses)
    }

    fn close(&mut self, conn: ConnId) {
        let Some(connection) = self.connections.remove(&conn) else {
            return;
        };
        if self.session.as_ref().is_some_and(|s| s.conn == conn) {
            self.session = None;
        }
        self.closing.retain(|task| !task.is_finished());
        self.closing.extend(connection.close());
    }

    fn flush(&mut self) {
        for connection in self.connections.values_mut() {
            connection.flush();
        }
    }

    fn stats(&self) -> PeerStats {
        PeerStats {
            address: self.config.address,
            remote_as: self.config.remote_as,
            state: self.state,
            established_since: self.session.as_ref().map(|s| s.since),
            messages_sent: self.counters.messages_sent.load(Ordering::Relaxed),
            messages_received: self.messages_received,
            updates_sent: self.counters.updates_sent.load(Ordering::Relaxed),
            updates_received: self.updates_received,
            prefixes_sent: self.session.as_ref().map_or(0, |s| s.rib.prefixes_sent()),
            prefixes_received: self.received.len() as u64,
            last_error: self.last_error.clone(),
            hold_time: self.session.as_ref().map(|s| s.negotiated.hold_time),
            pending_messages: self.counters.pending_messages.load(Ordering::Relaxed),
            bfd: self.bfd.as_ref().map(SessionHandle::status),
        }
    }
}

/// An outgoing connection in progress.
struct ConnectAttempt(BoxFuture<'static, std::io::Result<TcpStream>>);

impl std::fmt::Debug for ConnectAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectAttempt")
    }
}

async fn poll_connect(connecting: &mut Option<ConnectAttempt>) -> std::io::Result<TcpStream> {
    match connecting {
        Some(attempt) => (&mut attempt.0).await,
        None => std::future::pending().await,
    }
}

async fn bfd_change(bfd: &mut Option<SessionHandle>) -> Option<StateChange> {
    match bfd {
        Some(handle) => handle.changes.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
