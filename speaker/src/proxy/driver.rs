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
//! ```
//!
//! Must be used inside a tokio runtime: listeners spawn their tasks on it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use herald_core::ServiceKey;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

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
}

impl Registry {
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
            }),
        }
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
                    None => {
                        let running = RunningListener::start(
                            listener,
                            terminate,
                            self.options.for_listener(listener),
                            changed.clone(),
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
        let start = Instant::now();
        self.registry.shutting_down.store(true, Ordering::Relaxed);
        self.registry.publish();
        let listeners: Vec<Arc<RunningListener>> = self
            .registry
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for listener in &listeners {
            listener.stop_accepting();
        }
        let active = || listeners.iter().map(|l| l.active()).sum::<u64>();
        while active() > 0 && start.elapsed() < grace {
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
