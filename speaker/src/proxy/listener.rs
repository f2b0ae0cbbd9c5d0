//! One listener's data path: the listening socket on `address:port`, the accept loop with
//! its connection cap, each connection (TLS handshake through [`Terminate`], backend
//! connect with retries, PROXY header, forwarding), the active health checks and the
//! drain sweep. The decisions come from [`BackendSet`] (behind a mutex held only for a
//! pick or a count) and the pure modules; this is their I/O.
//!
//! ```text
//!  accept task ──(cap: close at once)──▶ connection task ×N: handshake? ─ pick/connect ─
//!     │ bind (retried until it works)        ─ PROXY header? ─ forward::forward ─ closed
//!  maintenance task: health checks every interval ─▶ BackendSet::record_check
//!                    sweep ─▶ expired drains ─▶ cancel that backend's connections
//!  every change of what serving::decide sees ─▶ `changed()` (the driver republishes)
//! ```

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use herald_config::ProxyProtocol;
use herald_core::ServiceKey;
use socket2::{Domain, Socket, Type};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, debug_span, warn};

use super::balance::BackendSet;
use super::forward::{self, Ended, Traffic};
use super::health::{CheckResult, DrainStep, HealthCheck, HealthState};
use super::proxy_protocol;
use super::select::Listener;
use super::serving::{CertificateState, PortState};
use super::terminate::Terminate;

/// Settings of the data path that are not per pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyOptions {
    /// Time to connect to a backend, retries included.
    pub connect_timeout: Duration,
    /// Time for a client's TLS handshake.
    pub handshake_timeout: Duration,
    /// How long a removed backend's (or listener's) connections may go on.
    pub drain_grace: Duration,
    /// Active TCP checks of the backends; `None`: passive health only.
    pub health_check: Option<HealthCheck>,
    /// Time between two attempts to bind a listener that failed to bind.
    pub bind_retry: Duration,
    /// Time between two drain sweeps.
    pub sweep_interval: Duration,
}

impl ProxyOptions {
    /// These options with `listener`'s own timers (its pool's settings), when it has any.
    /// A running listener takes new ones with each update.
    pub fn for_listener(&self, listener: &Listener) -> Self {
        match listener.timers {
            Some(timers) => Self {
                connect_timeout: timers.connect_timeout,
                handshake_timeout: timers.handshake_timeout,
                drain_grace: timers.drain_timeout,
                health_check: timers.health_check,
                ..*self
            },
            None => *self,
        }
    }
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            drain_grace: Duration::from_secs(30),
            health_check: None,
            bind_retry: Duration::from_secs(1),
            sweep_interval: Duration::from_millis(250),
        }
    }
}

/// The listen backlog.
const BACKLOG: i32 = 1024;

/// How long a listener on a socket handed over by the previous speaker waits, before it
/// accepts, for its port to be able to serve (certificate loaded, a backend): meanwhile
/// the previous speaker accepts from the same queue.
const INHERITED_WAIT: Duration = Duration::from_secs(10);

/// A listener's per-pool settings, replaced on every update.
#[derive(Debug, Clone)]
struct Settings {
    service: ServiceKey,
    pool: String,
    tls: bool,
    proxy_protocol: ProxyProtocol,
    idle_timeout: Option<Duration>,
    max_connections: Option<u32>,
    terminate: Option<Arc<dyn Terminate>>,
}

impl Settings {
    fn from(listener: &Listener, terminate: Option<Arc<dyn Terminate>>) -> Self {
        Self {
            service: listener.service.clone(),
            pool: listener.pool.clone(),
            tls: listener.tls.is_some(),
            proxy_protocol: listener.proxy_protocol,
            idle_timeout: Some(listener.idle_timeout).filter(|t| !t.is_zero()),
            max_connections: listener.max_connections,
            terminate,
        }
    }
}

/// Counters of one listener.
#[derive(Debug, Default)]
struct Counters {
    active: AtomicU64,
    total: AtomicU64,
    refused: AtomicU64,
    connect_failures: AtomicU64,
    no_backend: AtomicU64,
    handshake_failures: AtomicU64,
    idle_timeouts: AtomicU64,
    traffic: Traffic,
}

/// What the driver shows of a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSnapshot {
    pub service: ServiceKey,
    pub pool: String,
    pub address: IpAddr,
    pub port: u16,
    pub tls: bool,
    /// The bound address, or why binding fails (retried).
    pub bound: Result<SocketAddr, String>,
    pub backends: Vec<BackendSnapshot>,
    /// Connections open now / accepted since start.
    pub active: u64,
    pub total: u64,
    /// Connections closed at once because the cap was reached.
    pub refused: u64,
    /// Backend connects that failed (each attempt).
    pub connect_failures: u64,
    /// Connections closed because no backend could be connected.
    pub no_backend: u64,
    pub handshake_failures: u64,
    pub idle_timeouts: u64,
    pub bytes_to_backend: u64,
    pub bytes_to_client: u64,
    /// What `serving::decide` sees of this port.
    pub state: PortState,
}

/// One backend as the snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSnapshot {
    pub address: SocketAddr,
    pub health: HealthState,
    pub draining: bool,
    /// Connections open or connecting.
    pub open: u32,
}

/// Called when something `serving::decide` sees may have changed.
pub(crate) type Changed = Arc<dyn Fn() + Send + Sync>;

/// The state a listener's tasks share.
pub(crate) struct Shared {
    address: IpAddr,
    port: u16,
    /// Timers and checks; an update may change them (bind retry and sweep interval are
    /// taken at start).
    options: Mutex<ProxyOptions>,
    /// Shared with the connections, which clone the `Arc` only.
    settings: Mutex<Arc<Settings>>,
    set: Mutex<BackendSet>,
    /// Per backend, cancels its connections when its drain expires.
    backend_connections: Mutex<HashMap<SocketAddr, CancellationToken>>,
    bound: Mutex<Result<SocketAddr, String>>,
    /// The listening socket while the accept loop serves it (offered to a successor).
    socket: Mutex<Option<Arc<TcpListener>>>,
    /// The accept loop accepts (after binding, or after an inherited socket can serve).
    accepting: AtomicBool,
    /// The socket went to the next speaker: stopping leaves `bound` as it is.
    handed_over: AtomicBool,
    counters: Counters,
    /// Stops the accept loop (shutdown, listener removed).
    stop_accepting: CancellationToken,
    /// Closes every connection and stops the maintenance task.
    close: CancellationToken,
    /// Wakes the maintenance task after an update (a drain may have started).
    updated: tokio::sync::Notify,
    changed: Changed,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("address", &self.address)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn options(&self) -> ProxyOptions {
        *lock(&self.options)
    }
}

/// A mutex's guard; a panic while it was held left plain data behind, used as is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running listener: its shared state and its tasks.
#[derive(Debug)]
pub(crate) struct RunningListener {
    shared: Arc<Shared>,
}

impl RunningListener {
    /// Starts the listener's tasks on the current runtime: binding (retried until it
    /// works) unless `inherited` gives the socket (a previous speaker's), accepting,
    /// checking and sweeping.
    pub(crate) fn start(
        listener: &Listener,
        terminate: Option<Arc<dyn Terminate>>,
        options: ProxyOptions,
        changed: Changed,
        inherited: Option<std::net::TcpListener>,
    ) -> Self {
        let mut set = BackendSet::new(listener.balance, options.health_check);
        set.update(
            &listener.backends,
            std::time::Instant::now(),
            options.drain_grace,
        );
        let shared = Arc::new(Shared {
            address: listener.address,
            port: listener.port,
            options: Mutex::new(options),
            settings: Mutex::new(Arc::new(Settings::from(listener, terminate))),
            set: Mutex::new(set),
            backend_connections: Mutex::new(HashMap::new()),
            bound: Mutex::new(Err("not bound yet".to_owned())),
            socket: Mutex::new(None),
            accepting: AtomicBool::new(false),
            handed_over: AtomicBool::new(false),
            counters: Counters::default(),
            stop_accepting: CancellationToken::new(),
            close: CancellationToken::new(),
            updated: tokio::sync::Notify::new(),
            changed,
        });
        let inherited = inherited.and_then(|socket| match TcpListener::from_std(socket) {
            Ok(socket) => Some(socket),
            Err(error) => {
                warn!(address = %listener.address, port = listener.port, %error, "cannot use the handed-over socket; binding anew");
                None
            }
        });
        tokio::spawn(accept_loop(shared.clone(), inherited));
        tokio::spawn(maintenance(shared.clone()));
        Self { shared }
    }

    /// Takes a new selection of the same `address:port`: settings, algorithm and
    /// backends (removed ones drain). The caller republishes the serving state.
    pub(crate) fn update(
        &self,
        listener: &Listener,
        terminate: Option<Arc<dyn Terminate>>,
        options: ProxyOptions,
    ) {
        *lock(&self.shared.settings) = Arc::new(Settings::from(listener, terminate));
        *lock(&self.shared.options) = options;
        {
            let mut set = lock(&self.shared.set);
            set.set_algorithm(listener.balance);
            set.set_check(options.health_check);
            set.update(
                &listener.backends,
                std::time::Instant::now(),
                options.drain_grace,
            );
        }
        self.shared.updated.notify_one();
    }

    pub(crate) fn service(&self) -> ServiceKey {
        lock(&self.shared.settings).service.clone()
    }

    pub(crate) fn address(&self) -> IpAddr {
        self.shared.address
    }

    /// Closes the listening socket; live connections go on.
    pub(crate) fn stop_accepting(&self) {
        self.shared.stop_accepting.cancel();
    }

    /// Stops accepting because the next speaker accepts on the same socket: this
    /// process's descriptor closes, the socket and its queue live on in the successor, and
    /// the port still counts as bound (nothing is withdrawn for it).
    pub(crate) fn hand_over(&self) {
        self.shared.handed_over.store(true, Ordering::Relaxed);
        self.shared.stop_accepting.cancel();
    }

    /// The listening socket while this listener accepts on it and has not handed it over.
    pub(crate) fn socket(&self) -> Option<Arc<TcpListener>> {
        if self.shared.handed_over.load(Ordering::Relaxed) {
            return None;
        }
        lock(&self.shared.socket).clone()
    }

    /// Whether the accept loop accepts.
    pub(crate) fn accepting(&self) -> bool {
        self.shared.accepting.load(Ordering::Relaxed)
    }

    /// The `address:port` it listens on.
    pub(crate) fn key(&self) -> (IpAddr, u16) {
        (self.shared.address, self.shared.port)
    }

    /// Closes every connection and stops every task.
    pub(crate) fn close(&self) {
        self.shared.stop_accepting.cancel();
        self.shared.close.cancel();
    }

    /// How long the listener's connections may outlive it.
    pub(crate) fn drain_grace(&self) -> Duration {
        self.shared.options().drain_grace
    }

    pub(crate) fn active(&self) -> u64 {
        self.shared.counters.active.load(Ordering::Relaxed)
    }

    /// The port's state for `serving::decide`.
    pub(crate) fn port_state(&self) -> PortState {
        let shared = &self.shared;
        let bound = lock(&shared.bound).is_ok();
        let certificate = certificate_state(&lock(&shared.settings).clone());
        let set = lock(&shared.set);
        PortState::new(shared.port, bound, certificate, &set)
    }

    pub(crate) fn snapshot(&self) -> ListenerSnapshot {
        let shared = &self.shared;
        let settings = lock(&shared.settings).clone();
        let backends = lock(&shared.set)
            .backends()
            .iter()
            .map(|b| BackendSnapshot {
                address: b.address(),
                health: b.health().state(),
                draining: b.drain().is_some(),
                open: b.open(),
            })
            .collect();
        // Each lock in its own statement: a guard in the struct expression below would
        // live to its end, and `port_state` takes the same locks.
        let bound = lock(&shared.bound).clone();
        let state = self.port_state();
        let counters = &shared.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ListenerSnapshot {
            service: settings.service.clone(),
            pool: settings.pool.clone(),
            address: shared.address,
            port: shared.port,
            tls: settings.tls,
            bound,
            backends,
            active: load(&counters.active),
            total: load(&counters.total),
            refused: load(&counters.refused),
            connect_failures: load(&counters.connect_failures),
            no_backend: load(&counters.no_backend),
            handshake_failures: load(&counters.handshake_failures),
            idle_timeouts: load(&counters.idle_timeouts),
            bytes_to_backend: load(&counters.traffic.to_backend),
            bytes_to_client: load(&counters.traffic.to_client),
            state,
        }
    }
}

fn certificate_state(settings: &Settings) -> CertificateState {
    match (&settings.tls, &settings.terminate) {
        (false, _) => CertificateState::NotNeeded,
        (true, Some(terminate)) => terminate.certificate(),
        (true, None) => CertificateState::Missing,
    }
}

/// A listening socket on `address:port`: SO_REUSEADDR (rebinding at once after a restart),
/// SO_REUSEPORT (a new process can bind beside the old one), IP(V6)_FREEBIND (the address
/// need not be local yet: it becomes local when `local_addr` adds its route, and IPv6
/// binds an AnyIP address only this way), IPv6 only on IPv6 sockets.
pub fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    match address {
        SocketAddr::V4(_) => socket.set_freebind_v4(true)?,
        SocketAddr::V6(_) => {
            socket.set_only_v6(true)?;
            socket.set_freebind_v6(true)?;
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Whether the port can serve a connection now: a certificate if it terminates TLS, and a
/// backend that takes new connections.
fn can_serve(shared: &Shared) -> bool {
    let certificate = certificate_state(&lock(&shared.settings).clone());
    certificate != CertificateState::Missing && lock(&shared.set).healthy() > 0
}

/// An inherited socket: bound at once; accepting waits (within [`INHERITED_WAIT`]) until
/// the port can serve, the previous speaker accepting meanwhile.
async fn adopt(shared: &Arc<Shared>, socket: TcpListener) -> Option<TcpListener> {
    let address = SocketAddr::new(shared.address, shared.port);
    *lock(&shared.bound) = Ok(socket.local_addr().unwrap_or(address));
    (shared.changed)();
    let deadline = Instant::now() + INHERITED_WAIT;
    while !can_serve(shared) {
        if Instant::now() >= deadline {
            warn!(%address, "the handed-over socket's port cannot serve yet; accepting anyway");
            break;
        }
        tokio::select! {
            () = shared.stop_accepting.cancelled() => return None,
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
    debug!(%address, "accepting on the handed-over socket");
    Some(socket)
}

async fn accept_loop(shared: Arc<Shared>, inherited: Option<TcpListener>) {
    let address = SocketAddr::new(shared.address, shared.port);
    let inherited = match inherited {
        Some(socket) => match adopt(&shared, socket).await {
            Some(socket) => Some(socket),
            None => {
                *lock(&shared.bound) = Err("stopped".to_owned());
                return;
            }
        },
        None => None,
    };
    let listener = if let Some(socket) = inherited {
        socket
    } else {
        loop {
            match bind(address) {
                Ok(listener) => {
                    let local = listener.local_addr().unwrap_or(address);
                    *lock(&shared.bound) = Ok(local);
                    (shared.changed)();
                    break listener;
                }
                Err(e) => {
                    let error = e.to_string();
                    let first = {
                        let mut bound = lock(&shared.bound);
                        let first = bound.as_ref().err() != Some(&error);
                        *bound = Err(error);
                        first
                    };
                    if first {
                        warn!(%address, error = %e, "proxy listener cannot bind, retrying");
                        (shared.changed)();
                    }
                    tokio::select! {
                        () = shared.stop_accepting.cancelled() => return,
                        () = tokio::time::sleep(shared.options().bind_retry) => {}
                    }
                }
            }
        }
    };
    let listener = Arc::new(listener);
    *lock(&shared.socket) = Some(listener.clone());
    shared.accepting.store(true, Ordering::Relaxed);
    loop {
        let accepted = tokio::select! {
            () = shared.stop_accepting.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, client) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and the like: back off a little instead of spinning.
                debug!(%address, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let counters = &shared.counters;
        counters.total.fetch_add(1, Ordering::Relaxed);
        let cap = lock(&shared.settings).max_connections;
        if cap.is_some_and(|cap| counters.active.load(Ordering::Relaxed) >= u64::from(cap)) {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            // Reset, not a FIN: the client learns at once, nothing lingers.
            let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
            drop(tcp);
            continue;
        }
        // Only this task increments, so the cap holds.
        counters.active.fetch_add(1, Ordering::Relaxed);
        let guard = Active(shared.clone());
        let span = debug_span!("conn", %client, vip = %address, backend = tracing::field::Empty);
        tokio::spawn(connection(guard, tcp, client).instrument(span));
    }
    shared.accepting.store(false, Ordering::Relaxed);
    *lock(&shared.socket) = None;
    if !shared.handed_over.load(Ordering::Relaxed) {
        *lock(&shared.bound) = Err("stopped".to_owned());
    }
}

/// Counts a connection as active until dropped.
struct Active(Arc<Shared>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.counters.active.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection(active: Active, tcp: TcpStream, client: SocketAddr) {
    let shared = &active.0;
    let settings = lock(&shared.settings).clone();
    let _ = tcp.set_nodelay(true);
    let local = tcp
        .local_addr()
        .unwrap_or(SocketAddr::new(shared.address, shared.port));
    let closing = shared.close.clone();
    match (settings.tls, settings.terminate.clone()) {
        (false, _) => serve(shared, &settings, tcp, client, local).await,
        (true, None) => debug!("no certificate: connection closed"),
        (true, Some(terminate)) => {
            let handshake =
                tokio::time::timeout(shared.options().handshake_timeout, terminate.accept(tcp));
            let stream = tokio::select! {
                () = closing.cancelled() => return,
                stream = handshake => stream,
            };
            match stream {
                Ok(Ok(stream)) => serve(shared, &settings, stream, client, local).await,
                Ok(Err(e)) => {
                    shared
                        .counters
                        .handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    debug!(error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    shared
                        .counters
                        .handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    debug!("TLS handshake timed out");
                }
            }
        }
    }
}

/// Connects a backend, sends the PROXY header and forwards until the end, or until the
/// backend's drain expires or the listener closes (the backend's token is a child of the
/// listener's: one cancellation future to poll per wake-up while forwarding).
async fn serve<C>(
    shared: &Arc<Shared>,
    settings: &Settings,
    mut stream: C,
    client: SocketAddr,
    local: SocketAddr,
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let connected = tokio::select! {
        () = shared.close.cancelled() => return,
        connected = connect_backend(shared) => connected,
    };
    let Some((backend_address, mut backend)) = connected else {
        shared.counters.no_backend.fetch_add(1, Ordering::Relaxed);
        debug!("no backend could be connected: connection closed");
        return;
    };
    let _open = Open {
        shared: shared.clone(),
        backend: backend_address,
    };
    tracing::Span::current().record("backend", tracing::field::display(backend_address));
    let drained = lock(&shared.backend_connections)
        .entry(backend_address)
        .or_insert_with(|| shared.close.child_token())
        .clone();
    let _ = backend.set_nodelay(true);
    // a few dozen bytes into a fresh socket's empty send buffer: this write does not wait
    if let Some(header) = proxy_protocol::header(settings.proxy_protocol, client, local)
        && let Err(e) = backend.write_all(&header).await
    {
        debug!(error = %e, "cannot send the PROXY header: connection closed");
        return;
    }
    let forwarding = forward::forward(
        &mut stream,
        &mut backend,
        settings.idle_timeout,
        &shared.counters.traffic,
    );
    tokio::select! {
        biased;
        ended = forwarding => match ended {
            Ended::Closed => debug!("connection closed"),
            Ended::IdleTimeout => {
                shared.counters.idle_timeouts.fetch_add(1, Ordering::Relaxed);
                debug!("idle timeout: connection closed");
            }
            Ended::Failed(e) => debug!(error = %e, "connection failed"),
        },
        () = drained.cancelled() => debug!("backend drained or listener closed: connection closed"),
    }
}

/// A backend connection counted open in the set until dropped.
struct Open {
    shared: Arc<Shared>,
    backend: SocketAddr,
}

impl Drop for Open {
    fn drop(&mut self) {
        lock(&self.shared.set).closed(self.backend);
    }
}

/// Picks and connects a backend, trying the next one after a failure, all within the
/// connect timeout. The connection is counted open from its connect.
async fn connect_backend(shared: &Arc<Shared>) -> Option<(SocketAddr, TcpStream)> {
    let deadline = Instant::now() + shared.options().connect_timeout;
    let mut tried = Vec::new();
    loop {
        let candidate = {
            let mut set = lock(&shared.set);
            let candidate = set.next_candidate(&tried);
            if let Some(candidate) = candidate {
                set.opened(candidate);
            }
            candidate
        }?;
        let attempt = tokio::time::timeout_at(deadline, TcpStream::connect(candidate)).await;
        match attempt {
            Ok(Ok(stream)) => return Some((candidate, stream)),
            Ok(Err(e)) => {
                debug!(backend = %candidate, error = %e, "backend connect failed, trying the next");
            }
            Err(_) => debug!(backend = %candidate, "backend connect timed out"),
        }
        shared
            .counters
            .connect_failures
            .fetch_add(1, Ordering::Relaxed);
        lock(&shared.set).closed(candidate);
        if Instant::now() >= deadline {
            return None;
        }
        tried.push(candidate);
    }
}

/// Active health checks and drain sweeps (every `sweep_interval` while a backend drains)
/// until the listener closes.
async fn maintenance(shared: Arc<Shared>) {
    let mut check = shared.options().health_check;
    let mut checks = check_timer(check, true);
    let mut sweeps = tokio::time::interval(shared.options().sweep_interval);
    sweeps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // An update may have retuned the checks: the next one follows the new interval.
        let now = shared.options().health_check;
        if now.map(|c| c.interval) != check.map(|c| c.interval) {
            checks = check_timer(now, false);
        }
        check = now;
        // Sweeps only while something drains: an idle listener without checks sleeps.
        let draining = lock(&shared.set)
            .backends()
            .iter()
            .any(|b| b.drain().is_some());
        tokio::select! {
            () = shared.close.cancelled() => return,
            _ = checks.tick(), if check.is_some() => {
                if let Some(check) = check {
                    run_checks(&shared, &check).await;
                }
            }
            _ = sweeps.tick(), if draining => sweep(&shared),
            () = shared.updated.notified(), if !draining => {}
        }
    }
}

/// The timer of the active checks: the first tick at once (`now`) or one interval on.
fn check_timer(check: Option<HealthCheck>, now: bool) -> tokio::time::Interval {
    let period = check.map_or(Duration::from_secs(3600), |c| {
        c.interval.max(Duration::from_millis(10))
    });
    let start = if now {
        tokio::time::Instant::now()
    } else {
        tokio::time::Instant::now() + period
    };
    let mut timer = tokio::time::interval_at(start, period);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    timer
}

/// One connect-only check of every backend that is not draining, at once.
async fn run_checks(shared: &Arc<Shared>, check: &HealthCheck) {
    let backends: Vec<SocketAddr> = lock(&shared.set)
        .backends()
        .iter()
        .filter(|b| b.drain().is_none())
        .map(|b| b.address())
        .collect();
    let timeout = check.interval.min(shared.options().connect_timeout);
    let results = futures::future::join_all(backends.into_iter().map(|backend| async move {
        let result = match tokio::time::timeout(timeout, TcpStream::connect(backend)).await {
            Ok(Ok(_)) => CheckResult::Passed,
            _ => CheckResult::Failed,
        };
        (backend, result)
    }))
    .await;
    let mut changed = false;
    {
        let mut set = lock(&shared.set);
        for (backend, result) in results {
            if let Some(transition) = set.record_check(backend, result) {
                debug!(address = %shared.address, port = shared.port, %backend, ?transition, "backend health changed");
                changed = true;
            }
        }
    }
    if changed {
        (shared.changed)();
    }
}

/// Forgets drained backends and closes the connections of expired drains.
fn sweep(shared: &Shared) {
    let done = lock(&shared.set).sweep(std::time::Instant::now());
    if done.is_empty() {
        return;
    }
    let mut connections = lock(&shared.backend_connections);
    for (backend, step) in done {
        let token = connections.remove(&backend);
        if let (DrainStep::Expired { open }, Some(token)) = (step, token) {
            debug!(%backend, open, "drain deadline passed: closing its connections");
            token.cancel();
        }
    }
}
