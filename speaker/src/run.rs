//! `herald-speaker`'s main loop: source -> decision -> drivers, until shutdown.
//!
//! ```text
//!   Standalone::watch (DIR)  ─┐
//!   KubeSource::watch (API)  ─┴─▶ watch<Arc<SourceState>> ──▶ loop:
//!                                     decide(view, node) ──▶ BgpDriver::apply ──▶ bgp::Speaker
//!                                     l2::plan(view, node, host) ──▶ L2Driver::apply ──▶ VRRP instances
//!                                                        ──▶ plan_events ──▶ EventPublisher (kube)
//!                                                        ──▶ Metrics, AdminState (/status)
//!   admin HTTP ── /metrics /livez /readyz /status (reads AdminState and Speaker::stats)
//!   shutdown token (SIGTERM/SIGINT) ──▶ drain::stop_kind chooses:
//!       drain    routes re-announced with GRACEFUL_SHUTDOWN for --drain-delay (the loop
//!                goes on deciding meanwhile), then as withdraw;
//!       withdraw withdraw all, Cease to every peer; VRRP priority 0 and addresses
//!                removed; the proxy stops accepting; Withdrawn Events
//!       restart  sessions closed without NOTIFICATION (routers keep the routes as
//!                stale), local addresses kept, the proxy's listeners handed over
//! ```
//!
//! A node that is cordoned or labelled to be excluded while the speaker runs drains the
//! same way (drain::Drain) and announces again when the cause is lifted.
//!
//! The VRRP instances run on tasks of their own: while the source has nothing new (the
//! API server unreachable, say) they go on electing masters with the last plan.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bgp::{Speaker, SpeakerConfig, SpeakerError};
use herald_core::ServiceKey;
use herald_runtime::kube_client::{self, ClientError};
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::admin::{self, AdminState, DrainReport, Published};
use crate::announce::{Decision, decide_draining, decide_serving, node_stopping};
use crate::bgp_driver::BgpDriver;
use crate::cli::{Cli, ShutdownMode};
use crate::drain::{Drain, Phase, StopInputs, StopKind, stop_kind};
use crate::events::{
    EventPublisher, annotation_events, certificate_events, l2_problem_events, plan_events,
};
use crate::host::HostInterfaces;
use crate::l2::{self, L2Driver, L2Problem, L2State};
use crate::metrics::Metrics;
use crate::proxy::listener::ProxyOptions;
use crate::proxy::runtime::{CertificateProblem, ProxyRuntime};
use crate::source::SourceState;
use crate::source::kube::KubeSource;
use crate::source::standalone::Standalone;

/// How long a starting speaker keeps its BGP sessions closed while its proxy cannot yet
/// serve an address it should (certificate loading, listener binding).
const STARTUP_HOLD: Duration = Duration::from_secs(10);

/// How long queued Events may take to go out at shutdown.
const EVENT_GRACE: Duration = Duration::from_secs(3);
/// The reason the Withdrawn Events of a shutdown give.
const STOPPING: &str = "the speaker is stopping";
/// How often TLS listeners look again at certificates that load in the background.
const CERTIFICATE_RECHECK: Duration = Duration::from_secs(2);

/// How often the L2 plan is made again while an instance could not start or an
/// interface was not found (the host may change without the cluster changing).
const L2_RETRY: Duration = Duration::from_secs(5);

/// Why the speaker could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Kubernetes(#[from] ClientError),
    #[error("cannot start BGP: {0}")]
    Bgp(#[source] SpeakerError),
    #[error("cannot bind the admin server to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the speaker until `shutdown` is cancelled, then withdraws everything and closes the
/// sessions.
pub async fn run(cli: Cli, shutdown: CancellationToken) -> Result<(), RunError> {
    let node = cli.node_name.clone();
    let lb_class = cli.common.lb_class.clone();
    // Whether kube-proxy leaves proxied addresses to Herald: only API servers with
    // `ingress[].ipMode` let the controller say so (`None`: standalone, no kube-proxy).
    let mut ip_mode: Option<(String, bool)> = None;
    let (source, events) = match &cli.standalone {
        Some(dir) => {
            // A directory that does not load yet is the user's to fix, not a reason to
            // exit: a node restarted in the middle of an edit must come back by itself.
            // Until it loads, nothing is announced, /readyz says not ready and /status
            // lists the errors (the watch logs them); the fix is picked up like any edit.
            info!(dir = %dir.display(), node = %node, "standalone mode");
            (Standalone::watch(dir.clone(), lb_class), None)
        }
        None => {
            let client = kube_client::client(cli.common.kubeconfig.as_deref()).await?;
            match client.apiserver_version().await {
                Ok(version) => {
                    let has =
                        herald_core::service::server_has_ip_mode(&version.major, &version.minor);
                    ip_mode = Some((version.git_version, has));
                }
                Err(error) => warn!(%error, "cannot read the API server version"),
            }
            let source = KubeSource {
                namespace: cli.common.namespace.clone(),
                config_namespace: cli.common.config_namespace.clone(),
                config_name: cli.common.config_name.clone(),
                config_key: cli.common.config_key.clone(),
                lb_class,
                tls_secrets: cli.tls_secrets,
            };
            info!(node = %node, namespace = source.namespace.as_deref().unwrap_or("<all>"), "Kubernetes mode");
            let events = EventPublisher::spawn(client.clone(), &node);
            (source.watch(client, shutdown.clone()), Some(events))
        }
    };

    let speaker = Speaker::try_new(SpeakerConfig {
        listen: cli.bgp_listen,
    })
    .map_err(RunError::Bgp)?;
    if let Some(listen) = cli.bgp_listen {
        info!(%listen, "accepting BGP connections");
    }
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let state = AdminState::new(&node, speaker.clone(), metrics.clone(), registry);
    let addr = cli.common.admin_addr;
    let listener = admin::bind(addr).map_err(|source| RunError::Bind { addr, source })?;
    info!(addr = %listener.local_addr().unwrap_or(addr), "admin server listening");
    // The admin server outlives the signal: /status shows the drain while it runs. It
    // closes early once the next speaker has taken the proxy's sockets (both bind the
    // admin port during a restart; scrapes go to the new one after).
    let admin_stop = CancellationToken::new();
    let admin = tokio::spawn(admin::serve(listener, state.clone(), admin_stop.clone()));

    let mut driver = BgpDriver::new(&node, cli.router_id(), speaker);
    let mut l2 = L2Driver::new();
    let mut proxy = ProxyRuntime::new(ProxyOptions::default()).await;
    // Before any listener binds: the previous speaker's listening sockets, if one runs.
    proxy.take_over(&cli.handover_socket, &node).await;
    let (handed_over, admin_handed_over) = (proxy.handed_over(), admin_stop.clone());
    tokio::spawn(async move {
        handed_over.cancelled().await;
        info!("the next speaker serves: closing the admin server");
        admin_handed_over.cancel();
    });
    if let Some((server, false)) = ip_mode {
        proxy.bypassed_by(server);
    }
    let (announced, kind) = drive(
        &node,
        source,
        Drivers {
            bgp: &mut driver,
            l2: &mut l2,
            proxy: &mut proxy,
        },
        &metrics,
        &state,
        events.as_ref(),
        Stopping {
            signal: &shutdown,
            mode: cli.shutdown_mode,
            drain: Drain::new(cli.drain_delay),
        },
    )
    .await;

    let bgp_stop = async {
        if kind == StopKind::Restart {
            info!(
                routes = driver.routes().len(),
                "graceful restart: closing BGP sessions without withdrawing (peers with graceful-restart keep the routes until the next speaker sends them again)"
            );
            driver.shutdown_for_restart().await;
        } else {
            info!(
                routes = driver.routes().len(),
                "withdrawing every route and closing BGP sessions"
            );
            driver.shutdown().await;
        }
    };
    // Routes go first (the routers move new flows away), VRRP masters hand over, then the
    // proxy stops accepting and lets live connections finish within the grace period.
    let ((), (), report) = tokio::join!(bgp_stop, l2.shutdown(), async {
        let listeners = proxy.listeners().len();
        if listeners > 0 && kind != StopKind::Restart {
            info!(
                listeners,
                grace_ms = cli.proxy_grace_period.as_millis() as u64,
                "proxy stops accepting; live connections may finish"
            );
        }
        // A restart hands the listening sockets to the next speaker and keeps the local
        // routes; a drain or withdraw stops accepting and removes them.
        if kind == StopKind::Restart {
            proxy.hand_over(cli.proxy_grace_period).await
        } else {
            proxy.shutdown(cli.proxy_grace_period).await
        }
    });
    if report.closed > 0 || report.took > Duration::from_millis(100) {
        info!(
            closed = report.closed,
            took_ms = report.took.as_millis() as u64,
            "proxy stopped"
        );
    }
    if let Some(events) = events {
        // After a graceful restart the routers keep the routes: nothing was withdrawn.
        if kind != StopKind::Restart {
            events.send(plan_events(
                &announced,
                &Decision::default(),
                Some(STOPPING),
            ));
        }
        events.finish(EVENT_GRACE).await;
    }
    admin_stop.cancel();
    let _ = admin.await;
    info!("stopped");
    Ok(())
}

/// What the main loop drives.
struct Drivers<'a> {
    bgp: &'a mut BgpDriver,
    l2: &'a mut L2Driver,
    proxy: &'a mut ProxyRuntime,
}

/// How the loop ends: the signal, what SIGTERM does, the node's drain clock.
struct Stopping<'a> {
    signal: &'a CancellationToken,
    mode: ShutdownMode,
    drain: Drain,
}

/// The loop: one decision per new source state, until the signal (and, when the speaker
/// drains, until the drain is over). Returns what was announced last and how to stop.
async fn drive(
    node: &str,
    mut source: watch::Receiver<Arc<SourceState>>,
    drivers: Drivers<'_>,
    metrics: &Metrics,
    admin: &AdminState,
    events: Option<&EventPublisher>,
    stopping: Stopping<'_>,
) -> (Vec<(ServiceKey, std::net::IpAddr)>, StopKind) {
    let Stopping {
        signal,
        mode,
        mut drain,
    } = stopping;
    // Set at the signal when the speaker drains before it stops.
    let mut draining_to_stop = false;
    let mut node_stop = None;
    let (mut source_open, mut serving_open) = (true, true);
    let mut announced: Vec<(ServiceKey, std::net::IpAddr)> = Vec::new();
    let mut reported: Vec<String> = Vec::new();
    let mut l2_problems: Vec<L2Problem> = Vec::new();
    let mut certificate_problems: Vec<CertificateProblem> = Vec::new();
    let mut annotation_problems: Vec<(ServiceKey, String)> = Vec::new();
    let Drivers {
        bgp: driver,
        l2,
        proxy,
    } = drivers;
    let mut serving = proxy.serving();
    let mut drain_phase = Phase::Serving;
    driver.hold_sessions_until(tokio::time::Instant::now() + STARTUP_HOLD);
    loop {
        let state = source.borrow_and_update().clone();
        serving.borrow_and_update();
        metrics.set_config(state.view.is_some(), !state.errors.is_empty());
        match &state.view {
            Some(view) => {
                let service_problems = view.service_problems();
                if service_problems != reported {
                    for problem in service_problems.iter().filter(|p| !reported.contains(p)) {
                        warn!(problem = %problem, "Service cannot be read in full");
                    }
                    reported.clone_from(&service_problems);
                }
                proxy.apply(view, node).await;
                node_stop = node_stopping(view, node);
                let now = tokio::time::Instant::now();
                let phase = drain.phase(node_stop.is_some() || draining_to_stop, now.into_std());
                if draining_to_stop && phase == Phase::Drained {
                    return (announced, StopKind::Drain);
                }
                let decision = match phase {
                    Phase::Draining { .. } => decide_draining(view, node, &proxy.serving_now()),
                    Phase::Serving | Phase::Drained => {
                        decide_serving(view, node, &proxy.serving_now())
                    }
                };
                if phase != drain_phase {
                    match (phase, node_stop) {
                        (Phase::Draining { .. }, cause) => info!(
                            cause = cause.map_or("shutdown", |c| c.label()),
                            routes = decision.routes.len(),
                            "draining: routes announced with GRACEFUL_SHUTDOWN until the drain delay ends"
                        ),
                        (Phase::Drained, _) => info!("drain over: this node announces nothing"),
                        (Phase::Serving, _) => info!("serving: routes announced as usual"),
                    }
                    drain_phase = phase;
                }
                for withheld in &decision.withheld {
                    debug!(service = %withheld.service, address = %withheld.address, reason = withheld.reason.label(), "proxied address withheld");
                }
                driver.apply(&decision).await;
                metrics.observe_decision(&decision);
                metrics.set_draining(matches!(phase, Phase::Draining { .. }));
                let l2_plan = l2::plan(view, node, &HostInterfaces::read());
                for problem in l2_plan.problems.iter().filter(|p| !l2_problems.contains(p)) {
                    warn!(problem = problem.label(), "{problem}");
                }
                l2.apply(&l2_plan).await;
                metrics.observe_l2_problems(&l2_plan.problems, l2.failures().len());
                if let Some(events) = events {
                    events.send(plan_events(&announced, &decision, None));
                    events.send(l2_problem_events(&l2_problems, &l2_plan.problems));
                    events.send(certificate_events(
                        &certificate_problems,
                        proxy.certificate_problems(),
                    ));
                }
                let annotations_now = view.annotation_problems();
                if let Some(events) = events {
                    events.send(annotation_events(&annotation_problems, &annotations_now));
                }
                annotation_problems = annotations_now;
                for problem in proxy
                    .certificate_problems()
                    .iter()
                    .filter(|p| !certificate_problems.contains(p))
                {
                    warn!(service = %problem.service, address = %problem.address, source = %problem.source, "certificate problem: {}", problem.message);
                }
                certificate_problems = proxy.certificate_problems().to_vec();
                announced.clone_from(&decision.announced);
                l2_problems.clone_from(&l2_plan.problems);
                admin.publish(Published {
                    source_ready: true,
                    source_errors: state.errors.clone(),
                    service_problems,
                    peer_problems: driver.problems().to_vec(),
                    speaker_id: driver.speaker_id(),
                    decision,
                    drain: drain_report(phase, node_stop, now.into_std()),
                    proxy: Some(proxy.status()),
                    proxy_problems: proxy.problems().to_vec(),
                    l2: L2State {
                        instances: l2.instances(),
                        segments: l2.segments(),
                        problems: l2_plan.problems,
                        start_failures: l2.failures().to_vec(),
                        node_reason: l2_plan.node_reason,
                    },
                });
            }
            None => {
                if draining_to_stop {
                    // Nothing was ever announced: nothing to drain.
                    return (announced, StopKind::Drain);
                }
                if !state.errors.is_empty() {
                    warn!(errors = state.errors.len(), "no usable config or view yet");
                }
                admin.publish(Published {
                    source_errors: state.errors.clone(),
                    l2: L2State {
                        instances: l2.instances(),
                        ..L2State::default()
                    },
                    ..Published::default()
                });
            }
        }
        let retry_l2 = !l2.failures().is_empty()
            || l2_problems
                .iter()
                .any(|p| matches!(p, L2Problem::InterfaceNotFound { .. }));
        let tls_waits = proxy.has_tls();
        let view = state.view.clone();
        let drain_ends = match drain_phase {
            Phase::Draining { until } => Some(tokio::time::Instant::from_std(until)),
            _ => None,
        };
        // The earliest moment to decide again without an event: the drain's end, a retry
        // of what L2 could not start, the end of the startup hold.
        let retry_l2_at = tokio::time::Instant::now() + L2_RETRY;
        let wake_at = [
            drain_ends,
            retry_l2.then_some(retry_l2_at),
            driver.startup_hold().filter(|_| view.is_some()),
        ]
        .into_iter()
        .flatten()
        .min();
        loop {
            tokio::select! {
                () = signal.cancelled(), if !draining_to_stop => {
                    let kind = stop_kind(StopInputs {
                        mode,
                        drain_delay: drain.delay(),
                        node_stopping: node_stop,
                        all_peers_restart_gracefully: driver.all_peers_restart_gracefully(),
                        announcing: !driver.routes().is_empty(),
                    });
                    info!(how = kind.label(), "stopping");
                    if kind != StopKind::Drain {
                        return (announced, kind);
                    }
                    draining_to_stop = true;
                    break;
                },
                () = tokio::time::sleep_until(wake_at.unwrap_or(retry_l2_at)), if wake_at.is_some() => break,
                // A proxied address's serving state changed (listener bound, backend up
                // or down, certificate loaded): decide again, so BGP follows at once.
                changed = serving.changed(), if serving_open => if changed.is_err() {
                    serving_open = false;
                } else {
                    break;
                },
                // Certificate files load in the background: look again now and then, and
                // decide again only when a certificate was loaded or refused since.
                () = tokio::time::sleep(CERTIFICATE_RECHECK), if tls_waits => {
                    if let Some(view) = &view
                        && proxy.refresh(view)
                    {
                        break;
                    }
                },
                changed = source.changed(), if source_open => if changed.is_err() {
                    // Failover must not depend on the source: the VRRP instances (and the
                    // BGP sessions) go on with the last plan until the speaker is stopped.
                    // (The Kubernetes source also ends at the signal, while a drain runs.)
                    if !draining_to_stop {
                        warn!("the source stopped; keeping the last plan until shutdown");
                    }
                    source_open = false;
                } else {
                    break;
                },
            }
        }
    }
}

/// `/status` `drain`: the phase of a drain that runs or ran, its cause and what is left.
fn drain_report(
    phase: Phase,
    cause: Option<crate::announce::Reason>,
    now: std::time::Instant,
) -> Option<DrainReport> {
    let cause = cause.map_or("shutdown", |c| c.label());
    match phase {
        Phase::Serving => None,
        Phase::Draining { until } => Some(DrainReport {
            phase: "draining",
            cause,
            remaining_ms: until.saturating_duration_since(now).as_millis() as u64,
        }),
        Phase::Drained => Some(DrainReport {
            phase: "drained",
            cause,
            remaining_ms: 0,
        }),
    }
}
