//! The proxy's driver: runs one [`listener`](super::listener) per `select::Listener`,
//! applies new selections (listeners started, updated, drained and stopped), publishes
//! per Service address whether it can be served, and shuts down gracefully.
//!
//! ```text
//!  run.rs ── apply(&Selection) ──▶ ProxyDriver ── start/update/stop ──▶ listeners
//!                                      ▲  changed() on bind, health, backend updates
//!  BGP driver ◀── watch::Receiver<ServingMap> (serving::decide per address)
//!  /status, metrics ◀── snapshot(), port_states()
//!  SIGTERM ── shutdown(grace): Withdraw all, stop accepting, drain, close
//!  start ── inherit(sockets): new listeners take the previous speaker's sockets
//!  successor Ready (handover::Offer) ── stop accepting, serving unchanged, no new listener
//!  SIGTERM (restart) ── finish(deadline): drain, close
//! ```
//!
//! Must be used inside a tokio runtime: listeners spawn their tasks on it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use herald_core::ServiceKey;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::handover::Offer;
use super::listener::{Changed, ListenerSnapshot, ProxyOptions, RunningListener};
use super::select::Selection;
use super::serving::{self, PortState, Serving};
use super::terminate::TerminateFor;

/// A listener's identity: the address and port it binds.
pub type ListenerKey = (IpAddr, u16);

/// Per proxied Service address, whether it may be announced from this node.
pub type ServingMap = BTreeMap<(ServiceKey, IpAddr), Serving>;

/// How often `shutdown` looks whether the live connections have finished.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// What a shutdown did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections still open at the end of the grace period, closed then.
    pub closed: u64,
    /// How long the drain took.
    pub took: Duration,
}

/// The listeners and the serving state published from them.
struct Registry {
    listeners: Mutex<BTreeMap<ListenerKey, Arc<RunningListener>>>,
    shutting_down: AtomicBool,
    serving: watch::Sender<ServingMap>,
    /// Cancelled when the next speaker accepts on our sockets: from then on this process
    /// starts no listener (it would steal connections it will drop at exit).
    handed_over: CancellationToken,
}

/// Reads a [`ProxyDriver`]'s listeners from elsewhere.
#[derive(Clone)]
pub struct ProxyReader {
    registry: Arc<Registry>,
}

impl std::fmt::Debug for ProxyReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyReader").finish_non_exhaustive()
    }
}

impl ProxyReader {
    /// Every listener, in address and port order, with its live counters.
    pub fn snapshot(&self) -> Vec<ListenerSnapshot> {
        let listeners = self
            .registry
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        listeners.values().map(|l| l.snapshot()).collect()
    }

    /// Whether each listener on `keys` that still runs accepts.
    pub fn accepting(&self, keys: &[ListenerKey]) -> bool {
        let listeners = self
            .registry
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        keys.iter()
            .filter_map(|key| listeners.get(key))
            .all(|listener| listener.accepting())
    }
}

/// What the driver offers the next speaker: its listening sockets.
struct Handover(Arc<Registry>);

impl Offer for Handover {
    fn sockets(&self) -> Vec<(SocketAddr, Arc<TcpListener>)> {
        let listeners = self
            .0
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        listeners
            .values()
            .filter_map(|listener| {
                let (address, port) = listener.key();
                Some((SocketAddr::new(address, port), listener.socket()?))
            })
            .collect()
    }

    fn ready(&self, _adopted: u32) {
        self.0.hand_over();
    }
}

impl Registry {
    /// The next speaker accepts on our sockets: every listener stops accepting.
    fn hand_over(&self) {
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for listener in listeners.values() {
            listener.hand_over();
        }
        self.handed_over.cancel();
    }

    fn port_states(&self) -> BTreeMap<(ServiceKey, IpAddr), Vec<PortState>> {
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut states: BTreeMap<(ServiceKey, IpAddr), Vec<PortState>> = BTreeMap::new();
        for listener in listeners.values() {
            states
                .entry((listener.service(), listener.address()))
                .or_default()
                .push(listener.port_state());
        }
        states
    }

    /// Recomputes the decision per address and tells the watchers if it changed.
    fn publish(&self) {
        let shutting_down = self.shutting_down.load(Ordering::Relaxed);
        let map: ServingMap = self
            .port_states()
            .into_iter()
            .map(|(key, ports)| (key, serving::decide(&ports, shutting_down)))
            .collect();
        self.serving.send_if_modified(|current| {
            if *current == map {
                return false;
            }
            for (key, decision) in &map {
                if current.get(key) != Some(decision) {
                    info!(service = %key.0, address = %key.1, ?decision, "proxy serving state");
                }
            }
            *current = map;
            true
        });
    }
}

/// Runs the proxy's listeners.
pub struct ProxyDriver {
    options: ProxyOptions,
    terminate_for: Option<TerminateFor>,
    registry: Arc<Registry>,
    /// The previous speaker's sockets not yet taken by a listener.
    inherited: BTreeMap<ListenerKey, std::net::TcpListener>,
    /// The listeners started on inherited sockets.
    adopted: Vec<ListenerKey>,
}

impl std::fmt::Debug for ProxyDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyDriver")
            .field("options", &self.options)
            .field("tls", &self.terminate_for.is_some())
            .finish_non_exhaustive()
    }
}

impl ProxyDriver {
    /// A driver with no listener. `terminate_for` builds TLS listeners' terminators;
    /// without it TLS listeners have no certificate (and are withdrawn).
    pub fn new(options: ProxyOptions, terminate_for: Option<TerminateFor>) -> Self {
        let (serving, _) = watch::channel(ServingMap::new());
        Self {
            options,
            terminate_for,
            registry: Arc::new(Registry {
                listeners: Mutex::new(BTreeMap::new()),
                shutting_down: AtomicBool::new(false),
                serving,
                handed_over: CancellationToken::new(),
            }),
            inherited: BTreeMap::new(),
            adopted: Vec::new(),
        }
    }

    /// Listening sockets of the previous speaker: a listener the next [`apply`] starts on
    /// one of these addresses takes it instead of binding.
    ///
    /// [`apply`]: ProxyDriver::apply
    pub fn inherit(&mut self, sockets: BTreeMap<SocketAddr, std::net::TcpListener>) {
        self.inherited = sockets
            .into_iter()
            .map(|(address, socket)| ((address.ip(), address.port()), socket))
            .collect();
    }

    /// Closes the inherited sockets no listener took; returns how many.
    pub fn drop_inherited(&mut self) -> usize {
        let left = self.inherited.len();
        for (address, port) in self.inherited.keys() {
            debug!(%address, port, "handed-over socket not needed: closed");
        }
        self.inherited.clear();
        left
    }

    /// The listeners started on inherited sockets.
    pub fn adopted(&self) -> &[ListenerKey] {
        &self.adopted
    }

    /// What the handover socket offers the next speaker; its Ready makes this driver
    /// stop accepting.
    pub fn offer(&self) -> Arc<dyn Offer> {
        Arc::new(Handover(self.registry.clone()))
    }

    /// Cancelled when the next speaker accepts on this driver's sockets.
    pub fn handed_over(&self) -> CancellationToken {
        self.registry.handed_over.clone()
    }

    /// Makes the running listeners those of `selection`: new ones bind and accept,
    /// existing ones take their new settings and backends (removed backends drain), and
    /// listeners no longer selected stop accepting at once and close their connections
    /// after the drain grace.
    pub fn apply(&mut self, selection: &Selection) {
        let weak = Arc::downgrade(&self.registry);
        let changed: Changed = Arc::new(move || {
            if let Some(registry) = weak.upgrade() {
                registry.publish();
            }
        });
        let mut removed = Vec::new();
        {
            let mut listeners = self
                .registry
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let wanted: BTreeMap<ListenerKey, _> = selection
                .listeners
                .iter()
                .map(|l| ((l.address, l.port), l))
                .collect();
            listeners.retain(|key, running| {
                let keep = wanted.contains_key(key);
                if !keep {
                    removed.push(running.clone());
                }
                keep
            });
            for (key, listener) in wanted {
                let terminate = match (&listener.tls, &self.terminate_for) {
                    (Some(_), Some(terminate_for)) => terminate_for(listener),
                    _ => None,
                };
                match listeners.get(&key) {
                    Some(running) => {
                        running.update(listener, terminate, self.options.for_listener(listener));
                    }
                    None if self.registry.handed_over.is_cancelled() => {
                        debug!(address = %key.0, port = key.1, "handed over: no new listener");
                    }
                    None => {
                        let inherited = self.inherited.remove(&key);
                        if inherited.is_some() {
                            self.adopted.push(key);
                        }
                        let running = RunningListener::start(
                            listener,
                            terminate,
                            self.options.for_listener(listener),
                            changed.clone(),
                            inherited,
                        );
                        listeners.insert(key, Arc::new(running));
                    }
                }
            }
        }
        for listener in removed {
            listener.stop_accepting();
            let grace = listener.drain_grace();
            tokio::spawn(async move {
                let deadline = Instant::now() + grace;
                while listener.active() > 0 && Instant::now() < deadline {
                    tokio::time::sleep(DRAIN_POLL).await;
                }
                listener.close();
            });
        }
        self.registry.publish();
    }

    /// The serving decision per proxied Service address, updated as listeners bind,
    /// backends go up or down and selections change.
    pub fn serving(&self) -> watch::Receiver<ServingMap> {
        self.registry.serving.subscribe()
    }

    /// The current serving decision per proxied Service address.
    pub fn serving_now(&self) -> ServingMap {
        self.registry.serving.borrow().clone()
    }

    /// The ports' states per proxied Service address.
    pub fn port_states(&self) -> BTreeMap<(ServiceKey, IpAddr), Vec<PortState>> {
        self.registry.port_states()
    }

    /// Every listener, in address and port order.
    pub fn snapshot(&self) -> Vec<ListenerSnapshot> {
        self.reader().snapshot()
    }

    /// A handle that reads the listeners' live state from elsewhere (`/status`, metrics).
    pub fn reader(&self) -> ProxyReader {
        ProxyReader {
            registry: self.registry.clone(),
        }
    }

    /// Stops gracefully: every address turns Withdraw (so routes go first), listeners stop
    /// accepting, live connections may finish within `grace`, then the rest are closed.
    pub async fn shutdown(&mut self, grace: Duration) -> ShutdownReport {
        self.registry.shutting_down.store(true, Ordering::Relaxed);
        self.registry.publish();
        self.drain(Instant::now() + grace, false).await
    }

    /// Stops after a handover (or at a restart that found no successor): the serving
    /// state stays as it is (a restart withdraws nothing), listeners stop accepting as
    /// handed over, live connections may finish until `deadline`, then the rest are
    /// closed.
    pub async fn finish(&mut self, deadline: Instant) -> ShutdownReport {
        self.drain(deadline, true).await
    }

    async fn drain(&mut self, deadline: Instant, handed_over: bool) -> ShutdownReport {
        let start = Instant::now();
        let grace = deadline.saturating_duration_since(start);
        let listeners: Vec<Arc<RunningListener>> = self
            .registry
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for listener in &listeners {
            if handed_over {
                listener.hand_over();
            } else {
                listener.stop_accepting();
            }
        }
        let active = || listeners.iter().map(|l| l.active()).sum::<u64>();
        while active() > 0 && Instant::now() < deadline {
            tokio::time::sleep(DRAIN_POLL).await;
        }
        let closed = active();
        if closed > 0 {
            warn!(
                closed,
                grace_ms = grace.as_millis() as u64,
                "grace period over: closing live proxy connections"
            );
        }
        for listener in &listeners {
            listener.close();
        }
        ShutdownReport {
            closed,
            took: start.elapsed(),
        }
    }
}

impl Drop for ProxyDriver {
    fn drop(&mut self) {
        let listeners = self
            .registry
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for listener in listeners.values() {
            listener.close();
        }
    }
}
