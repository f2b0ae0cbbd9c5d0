//! The proxy as the speaker's main loop drives it: per view, the selection
//! ([`super::select::select`]), the certificates its TLS listeners need, the Service
//! addresses made local ([`crate::local_addr`]) and the listeners ([`ProxyDriver`]); at
//! shutdown, listeners drained and the local routes removed. Across a restart the
//! listening sockets pass from the old process to the new one ([`super::handover`]) and
//! the local routes stay (the new process adopts them).
//!
//! ```text
//!   start: take_over(--handover-socket) ──▶ the previous speaker's sockets
//!   view ──select──▶ Selection ──▶ certificates: one TlsTerminator per source
//!                        │            (pool bundle file, polled; Secret from the view)
//!                        ├──▶ LocalAddresses: adopt (first time) / ensure / remove
//!                        └──▶ ProxyDriver::apply ──▶ serving watch ──▶ main loop
//!                             (first time: inherited sockets used, the rest closed;
//!                              serve --handover-socket; Ready to the previous speaker
//!                              once the listeners on inherited sockets accept)
//!   SIGTERM: shutdown (drain, withdraw: routes removed)
//!            hand_over (restart: accept until the next speaker is Ready, drain, routes kept)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::driver::{ProxyDriver, ProxyReader, ServingMap, ShutdownReport};
use super::handover::protocol::Identity;
use super::handover::{self, HandoverServer, Predecessor};
use super::listener::lock;
use super::listener::{ListenerSnapshot, ProxyOptions};
use super::select::{CertificateSource, Selection, select};
use super::service::{SecretKey, TlsSecret};
use super::serving::CertificateState;
use super::terminate::{Accepting, ClientStream, Terminate, TerminateFor};
use super::tls::store::SourceName;
use super::tls::{CertificateStore, SourceStatus, TlsSettings, TlsTerminator, spawn_file_poller};
use crate::local_addr::LocalAddresses;
use crate::view::ClusterView;

/// How often bundle files are checked for changes.
const BUNDLE_POLL: Duration = Duration::from_secs(2);
/// The handshake bound inside the terminator; the listener applies the pool's own
/// `handshake-timeout` around it.
const HANDSHAKE_CEILING: Duration = Duration::from_secs(3600);
/// How long the Ready to the previous speaker waits for the listeners on its sockets to
/// accept (each waits for its port to be able to serve, within a bound of its own).
const READY_WAIT: Duration = Duration::from_secs(15);

/// A TLS listener's terminator for one certificate source.
#[derive(Debug)]
struct TlsTerminate {
    terminator: Arc<TlsTerminator>,
}

impl Terminate for TlsTerminate {
    fn accept(&self, tcp: TcpStream) -> Accepting {
        let terminator = self.terminator.clone();
        Box::pin(async move {
            let stream = terminator.accept(tcp, HANDSHAKE_CEILING).await?;
            Ok(Box::new(stream) as Box<dyn ClientStream>)
        })
    }

    fn certificate(&self) -> CertificateState {
        self.terminator.store().certificate_state()
    }
}

/// One certificate source in use: its terminator, what was last loaded from a Secret,
/// and the bundle poller.
#[derive(Debug)]
struct Certificate {
    terminate: Arc<TlsTerminate>,
    settings: TlsSettings,
    /// The Secret's data last given to the store (to reload only on change).
    secret: Option<TlsSecret>,
    poller: Option<CancellationToken>,
}

type Certificates = Arc<Mutex<BTreeMap<CertificateSource, Certificate>>>;

/// A TLS listener's certificate that cannot be used as given: its newest bundle was
/// refused (the last good certificate, if any, is still served) or its Secret is missing.
/// Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateProblem {
    pub service: herald_core::ServiceKey,
    pub address: IpAddr,
    pub source: String,
    pub message: String,
}

/// What `/status` shows of a certificate source.
#[derive(Debug, Clone)]
pub struct CertificateReport {
    pub source: String,
    pub state: CertificateState,
    pub status: Vec<SourceStatus>,
    pub handshakes_completed: u64,
    pub handshakes_resumed: u64,
    pub handshake_failures: u64,
}

/// The listening sockets' handover across restarts, as `/status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HandoverReport {
    /// The handover socket this speaker serves for the next one (`null`: none, so a
    /// restart binds its listeners anew).
    pub serving: Option<PathBuf>,
    /// Listening sockets received from the previous speaker at start.
    pub inherited: usize,
    /// Of those, the ones a listener here accepts on (the others were closed).
    pub adopted: usize,
    /// The previous speaker was told to stop accepting: it only finishes its connections.
    pub predecessor_stopped: bool,
}

/// Reads the proxy's live state from `/status` and the metrics.
#[derive(Debug, Clone)]
pub struct ProxyStatus {
    listeners: ProxyReader,
    certificates: Certificates,
    handover: Arc<Mutex<HandoverReport>>,
}

impl ProxyStatus {
    pub fn listeners(&self) -> Vec<ListenerSnapshot> {
        self.listeners.snapshot()
    }

    pub fn handover(&self) -> HandoverReport {
        lock(&self.handover).clone()
    }

    pub fn certificates(&self) -> Vec<CertificateReport> {
        certificate_reports(&self.certificates)
    }
}

fn certificate_reports(certificates: &Certificates) -> Vec<CertificateReport> {
    let certificates = certificates.lock().unwrap_or_else(PoisonError::into_inner);
    certificates
        .iter()
        .map(|(source, certificate)| {
            let terminator = &certificate.terminate.terminator;
            let stats = terminator.stats();
            CertificateReport {
                source: SourceName(source).to_string(),
                state: terminator.store().certificate_state(),
                status: terminator.store().status(),
                handshakes_completed: stats.completed,
                handshakes_resumed: stats.resumed,
                handshake_failures: stats.failures(),
            }
        })
        .collect()
}

/// The proxy's state for the main loop.
#[derive(Debug)]
pub struct ProxyRuntime {
    driver: ProxyDriver,
    local: Result<LocalAddresses, String>,
    /// Addresses whose local route Herald added (or adopted).
    made_local: BTreeSet<IpAddr>,
    adopted: bool,
    certificates: Certificates,
    selection: Selection,
    problems: Vec<String>,
    certificate_problems: Vec<CertificateProblem>,
    /// Loads (good and refused) of all certificate sources, as last seen.
    certificate_loads: u64,
    /// The API server's version when it lacks `ingress[].ipMode`: kube-proxy then takes
    /// the proxied addresses' traffic before the proxy sees it.
    bypassed_by: Option<String>,
    /// `--handover-socket` and who serves it, once [`ProxyRuntime::take_over`] was called
    /// (none if another speaker's process serves that path).
    handover_path: Option<(PathBuf, Identity)>,
    /// The previous speaker, waiting for Ready.
    predecessor: Option<Predecessor>,
    /// The handover socket this process serves (from its first plan on).
    handover: Option<HandoverServer>,
    handover_report: Arc<Mutex<HandoverReport>>,
}

impl ProxyRuntime {
    /// A runtime with no listener; opens the netlink socket for local routes (a failure is
    /// reported in [`ProxyRuntime::problems`], and listeners still bind with freebind).
    pub async fn new(options: ProxyOptions) -> Self {
        let certificates: Certificates = Arc::default();
        let lookup = certificates.clone();
        let terminate_for: TerminateFor = Arc::new(move |listener| {
            let source = &listener.tls.as_ref()?.certificate;
            let certificates = lookup.lock().unwrap_or_else(PoisonError::into_inner);
            let terminate: Arc<dyn Terminate> = certificates.get(source)?.terminate.clone();
            Some(terminate)
        });
        let local = LocalAddresses::connect().await.map_err(|error| {
            warn!(%error, "cannot manage local routes for proxied addresses");
            error.to_string()
        });
        Self {
            driver: ProxyDriver::new(options, Some(terminate_for)),
            local,
            made_local: BTreeSet::new(),
            adopted: false,
            certificates,
            selection: Selection::default(),
            problems: Vec::new(),
            certificate_problems: Vec::new(),
            certificate_loads: 0,
            bypassed_by: None,
            handover_path: None,
            predecessor: None,
            handover: None,
            handover_report: Arc::default(),
        }
    }

    /// At start, before the first [`ProxyRuntime::apply`]: takes the listening sockets of
    /// the speaker of `node` serving `path` (the process this one replaces), if any answers
    /// within [`handover::OFFER_TIMEOUT`]; returns how many. The first apply starts its
    /// listeners on them, closes the others, serves `path` for the next restart and tells
    /// the previous speaker to stop accepting once those listeners accept.
    pub async fn take_over(&mut self, path: &Path, node: &str) -> usize {
        let identity = handover::identity(node);
        let mut inherited = handover::receive(path, &identity, handover::OFFER_TIMEOUT).await;
        self.predecessor = inherited.predecessor();
        let count = inherited.sockets.len();
        lock(&self.handover_report).inherited = count;
        self.driver.inherit(inherited.sockets);
        if !inherited.foreign {
            self.handover_path = Some((path.to_owned(), identity));
        }
        count
    }

    /// Cancelled when the next speaker accepts on this process's listening sockets (it
    /// said Ready): this process stops accepting; the admin server may close too.
    pub fn handed_over(&self) -> CancellationToken {
        self.driver.handed_over()
    }

    /// The first plan is carried out: closes the inherited sockets it does not use, serves
    /// the handover socket, and tells the previous speaker to stop accepting once the
    /// listeners on its sockets accept.
    fn start_handover(&mut self) {
        let unused = self.driver.drop_inherited();
        if unused > 0 {
            info!(
                unused,
                "closed the handed-over sockets no Service here uses"
            );
        }
        let Some((path, identity)) = self.handover_path.take() else {
            return;
        };
        lock(&self.handover_report).adopted = self.driver.adopted().len();
        match HandoverServer::start(&path, identity, self.driver.offer()) {
            Ok(server) => {
                self.handover = Some(server);
                lock(&self.handover_report).serving = Some(path.clone());
            }
            Err(error) => {
                warn!(path = %path.display(), %error, "cannot serve the handover socket: the next restart binds its listeners anew");
            }
        }
        let Some(predecessor) = self.predecessor.take() else {
            return;
        };
        let adopted = self.driver.adopted().to_vec();
        let reader = self.driver.reader();
        let report = self.handover_report.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + READY_WAIT;
            while !reader.accepting(&adopted) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            match predecessor.ready(adopted.len()) {
                Ok(()) => {
                    lock(&report).predecessor_stopped = true;
                    info!(
                        adopted = adopted.len(),
                        "accepting on the previous speaker's sockets; it stops accepting"
                    );
                }
                Err(error) => warn!(%error, "cannot tell the previous speaker to stop accepting"),
            }
        });
    }

    /// Records that the API server (`version`) has no `ingress[].ipMode`: while this node
    /// proxies anything, [`ProxyRuntime::problems`] says kube-proxy intercepts it.
    pub fn bypassed_by(&mut self, version: String) {
        self.bypassed_by = Some(version);
    }

    /// Carries out the proxy's part of `view` on `node`; returns the selection.
    pub async fn apply(&mut self, view: &ClusterView, node: &str) -> &Selection {
        let selection = select(view, &view.proxy.specs, &view.proxy.slices, node);
        let mut problems = Vec::new();
        self.sync_certificates(view, &selection, &mut problems);
        // Once handed over, the local routes are the next speaker's to manage.
        if !self.handed_over().is_cancelled() {
            self.sync_local(&selection, &mut problems).await;
        }
        self.driver.apply(&selection);
        self.start_handover();
        self.certificate_problems = self.certificate_problems_of(view, &selection);
        self.certificate_loads = self.certificate_loads();
        if let Some(server) = &self.bypassed_by
            && !selection.listeners.is_empty()
        {
            problems.push(format!(
                "the API server ({server}) has no status.loadBalancer.ingress[].ipMode \
                 (Kubernetes < 1.29): kube-proxy intercepts traffic to the proxied addresses \
                 before this proxy sees it (see the ProxyBypassed Events)"
            ));
        }
        self.selection = selection;
        self.problems = problems;
        &self.selection
    }

    /// Per TLS listener address, what is wrong with its certificate source.
    fn certificate_problems_of(
        &self,
        view: &ClusterView,
        selection: &Selection,
    ) -> Vec<CertificateProblem> {
        let certificates = self
            .certificates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut problems: Vec<CertificateProblem> = Vec::new();
        for listener in &selection.listeners {
            let Some(tls) = &listener.tls else { continue };
            let source = &tls.certificate;
            let message = match source {
                CertificateSource::Secret { namespace, name } => {
                    match view
                        .proxy
                        .secrets
                        .get(&SecretKey::new(namespace.clone(), name.clone()))
                    {
                        Some(Err(problem)) => Some(problem.to_string()),
                        _ => None,
                    }
                }
                CertificateSource::Bundle(_) => None,
            }
            .or_else(|| {
                let certificate = certificates.get(source)?;
                certificate
                    .terminate
                    .terminator
                    .store()
                    .status()
                    .into_iter()
                    .find_map(|status| status.last_failure.map(|f| f.message))
            });
            if let Some(message) = message {
                let problem = CertificateProblem {
                    service: listener.service.clone(),
                    address: listener.address,
                    source: SourceName(source).to_string(),
                    message,
                };
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
        }
        problems
    }

    /// Certificates that cannot be used as given, per TLS listener address.
    pub fn certificate_problems(&self) -> &[CertificateProblem] {
        &self.certificate_problems
    }

    /// Looks again at the certificates of the current selection (a file that loaded in
    /// the background, say): republishes the serving state, which wakes whoever watches
    /// it if it changed, and returns whether a certificate was loaded or refused since
    /// (the status and the problems to report changed). Cheap: no selection, no netlink.
    pub fn refresh(&mut self, view: &ClusterView) -> bool {
        self.driver.apply(&self.selection);
        let loads = self.certificate_loads();
        let problems = self.certificate_problems_of(view, &self.selection);
        let changed = loads != self.certificate_loads || problems != self.certificate_problems;
        self.certificate_loads = loads;
        self.certificate_problems = problems;
        changed
    }

    fn certificate_loads(&self) -> u64 {
        let certificates = self
            .certificates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        certificates
            .values()
            .flat_map(|certificate| certificate.terminate.terminator.store().status())
            .map(|status| status.loads + status.failures)
            .sum()
    }

    /// Whether some listener terminates TLS (its certificate may load later).
    pub fn has_tls(&self) -> bool {
        self.selection.listeners.iter().any(|l| l.tls.is_some())
    }

    /// The serving decision per proxied address, as it changes.
    pub fn serving(&self) -> watch::Receiver<ServingMap> {
        self.driver.serving()
    }

    pub fn serving_now(&self) -> ServingMap {
        self.driver.serving_now()
    }

    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    pub fn listeners(&self) -> Vec<ListenerSnapshot> {
        self.driver.snapshot()
    }

    /// Problems of the last apply (local routes, certificates), one line each.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    pub fn certificates(&self) -> Vec<CertificateReport> {
        certificate_reports(&self.certificates)
    }

    /// A reader of the live state for `/status` and the metrics.
    pub fn status(&self) -> ProxyStatus {
        ProxyStatus {
            listeners: self.driver.reader(),
            certificates: self.certificates.clone(),
            handover: self.handover_report.clone(),
        }
    }

    /// Stops accepting, lets live connections finish within `grace`, closes the rest and
    /// removes the local routes Herald added.
    pub async fn shutdown(&mut self, grace: Duration) -> ShutdownReport {
        self.close_handover();
        let report = self.driver.shutdown(grace).await;
        if let Ok(local) = &self.local {
            let ours: Vec<IpAddr> = self.made_local.iter().copied().collect();
            match local.remove(&ours).await {
                Ok(removed) if !removed.is_empty() => {
                    info!(
                        removed = removed.len(),
                        "local routes of proxied addresses removed"
                    );
                }
                Ok(_) => {}
                Err(error) => warn!(%error, "cannot remove the local routes of proxied addresses"),
            }
        }
        self.made_local.clear();
        self.stop_certificates();
        report
    }

    /// Stops for a restart: keeps accepting until the next speaker accepts on the same
    /// sockets (it said Ready) or `grace` ends, then stops accepting and lets live
    /// connections finish until `grace` ends. The serving state stays (nothing is
    /// withdrawn for the proxy) and the local routes stay for the next speaker to adopt.
    pub async fn hand_over(&mut self, grace: Duration) -> ShutdownReport {
        let deadline = tokio::time::Instant::now() + grace;
        let handed_over = self.handed_over();
        if !handed_over.is_cancelled() && self.handover.is_some() && !self.listeners().is_empty() {
            info!(
                grace_ms = grace.as_millis() as u64,
                "waiting for the next speaker to take the listening sockets"
            );
        }
        // Without a handover socket no next speaker can ask.
        if self.handover.is_some() && !self.listeners().is_empty() {
            tokio::select! {
                () = handed_over.cancelled() => {}
                () = tokio::time::sleep_until(deadline) => {
                    warn!("no next speaker took the listening sockets within the grace period");
                }
            }
        }
        self.close_handover();
        let report = self.driver.finish(deadline).await;
        self.stop_certificates();
        report
    }

    /// Stops serving the handover socket (removing it if it is still ours).
    fn close_handover(&mut self) {
        if let Some(server) = self.handover.take() {
            server.close();
        }
    }

    fn stop_certificates(&mut self) {
        let certificates = std::mem::take(
            &mut *self
                .certificates
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for certificate in certificates.into_values() {
            if let Some(poller) = certificate.poller {
                poller.cancel();
            }
        }
    }

    /// One terminator per certificate source the selection names; Secrets loaded from the
    /// view when they changed, bundle files polled; sources no longer named dropped.
    fn sync_certificates(
        &mut self,
        view: &ClusterView,
        selection: &Selection,
        problems: &mut Vec<String>,
    ) {
        let mut wanted: BTreeMap<CertificateSource, TlsSettings> = BTreeMap::new();
        for listener in &selection.listeners {
            let Some(tls) = &listener.tls else { continue };
            let alpn = view
                .config
                .pools
                .iter()
                .find(|p| p.name == listener.pool)
                .map(|p| p.tls.alpn.iter().map(|a| a.as_bytes().to_vec()).collect())
                .unwrap_or_default();
            wanted
                .entry(tls.certificate.clone())
                .or_insert(TlsSettings {
                    alpn,
                    ..TlsSettings::default()
                });
        }
        let mut certificates = self
            .certificates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        certificates.retain(|source, certificate| {
            let keep = wanted.contains_key(source);
            if !keep && let Some(poller) = &certificate.poller {
                poller.cancel();
            }
            keep
        });
        for (source, settings) in wanted {
            let name = SourceName(&source).to_string();
            if !certificates.contains_key(&source) {
                let store = Arc::new(CertificateStore::new([source.clone()]));
                let terminator = match TlsTerminator::new(store.clone(), &settings) {
                    Ok(terminator) => Arc::new(terminator),
                    Err(error) => {
                        problems.push(format!("{name}: {error}"));
                        continue;
                    }
                };
                let poller = matches!(source, CertificateSource::Bundle(_)).then(|| {
                    let stop = CancellationToken::new();
                    spawn_file_poller(store, BUNDLE_POLL, stop.clone());
                    stop
                });
                certificates.insert(
                    source.clone(),
                    Certificate {
                        terminate: Arc::new(TlsTerminate { terminator }),
                        settings: settings.clone(),
                        secret: None,
                        poller,
                    },
                );
            }
            let Some(certificate) = certificates.get_mut(&source) else {
                continue;
            };
            if certificate.settings != settings {
                match certificate.terminate.terminator.reconfigure(&settings) {
                    Ok(()) => certificate.settings = settings,
                    Err(error) => problems.push(format!("{name}: {error}")),
                }
            }
            if let CertificateSource::Secret {
                namespace,
                name: secret,
            } = &source
            {
                let key = SecretKey::new(namespace.clone(), secret.clone());
                let store = certificate.terminate.terminator.store();
                match view.proxy.secrets.get(&key) {
                    Some(Ok(data)) if certificate.secret.as_ref() != Some(data) => {
                        match store.replace_secret(&source, &data.chain_pem, &data.key_pem) {
                            Ok(info) => {
                                info!(source = %name, subject = %info.subject, serial = %info.serial, "certificate loaded");
                            }
                            Err(error) => {
                                warn!(source = %name, reason = error.label(), "certificate refused, the last good one stays: {error}");
                            }
                        }
                        certificate.secret = Some(data.clone());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(problem)) => problems.push(problem.to_string()),
                    None => problems.push(format!("{name}: not read")),
                }
            }
            for status in certificate.terminate.terminator.store().status() {
                if let Some(failure) = &status.last_failure {
                    problems.push(format!("{name}: {}", failure.message));
                }
            }
        }
    }

    /// Makes the selection's addresses local: the first time adopting a previous run's
    /// routes (and removing those no longer wanted), then adding and removing the
    /// difference.
    async fn sync_local(&mut self, selection: &Selection, problems: &mut Vec<String>) {
        let Ok(local) = &self.local else {
            if let Err(error) = &self.local {
                problems.push(format!("local routes: {error}"));
            }
            return;
        };
        let wanted: BTreeSet<IpAddr> = selection.listeners.iter().map(|l| l.address).collect();
        let list: Vec<IpAddr> = wanted.iter().copied().collect();
        if !self.adopted {
            match local.adopt(&list).await {
                Ok(plan) => {
                    if !plan.remove.is_empty() {
                        info!(removed = ?plan.remove, "removed local routes a previous run left behind");
                    }
                    self.adopted = true;
                }
                Err(error) => {
                    problems.push(format!("local routes: {error}"));
                    return;
                }
            }
        }
        match local.ensure(&list).await {
            Ok(ensured) => {
                for address in ensured.foreign {
                    problems.push(format!(
                        "{address} is already local by a route that is not Herald's; left alone"
                    ));
                }
            }
            Err(error) => problems.push(format!("local routes: {error}")),
        }
        let stale: Vec<IpAddr> = self.made_local.difference(&wanted).copied().collect();
        if !stale.is_empty()
            && let Err(error) = local.remove(&stale).await
        {
            problems.push(format!("local routes: {error}"));
        }
        self.made_local = wanted;
    }
}
