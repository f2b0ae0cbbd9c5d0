//! A listener's certificates: one per [`CertificateSource`] (the pool bundle, Secrets),
//! chosen per handshake by SNI ([`super::sni`]), replaced while the listener runs.
//!
//! Handshakes read an immutable snapshot (the loaded certificates in source order) behind
//! an `Arc`; a reload builds the next snapshot and swaps the pointer, so a handshake sees
//! either the old or the new certificates, never a mix, and established connections,
//! which hold their own keys, never notice. A bundle that does not load leaves the
//! source's last good certificate in place; the failure is returned and kept in the
//! source's [`SourceStatus`] (for `/status`, metrics and Events) until a good load.
//!
//! Bundle files are reloaded by polling ([`CertificateStore::poll_files`], or the task of
//! [`spawn_file_poller`]): a file whose device, inode, size, mtime or ctime changed is read
//! again, which covers editors, `cp`, `mv` over it and the symlink swaps of mounted
//! volumes. Secrets arrive through [`CertificateStore::replace_secret`] from whoever watches
//! them.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::bundle::{BundleError, CertificateInfo, LoadedCertificate};
use super::sni::{self, Choice};
use crate::proxy::select::CertificateSource;
use crate::proxy::serving::CertificateState;

/// The certificates of one listener.
pub struct CertificateStore {
    /// What handshakes read: swapped whole on every change.
    snapshot: RwLock<Arc<Snapshot>>,
    /// Every source with its state; writers hold this while they swap the snapshot.
    slots: Mutex<Vec<Slot>>,
}

/// The loaded certificates, in source order; the first is the default.
#[derive(Debug, Default)]
struct Snapshot {
    certificates: Vec<Arc<LoadedCertificate>>,
}

#[derive(Debug)]
struct Slot {
    source: CertificateSource,
    certificate: Option<Arc<LoadedCertificate>>,
    loaded_at: Option<SystemTime>,
    last_failure: Option<LoadFailure>,
    loads: u64,
    failures: u64,
    /// The version of a bundle file last read (good or bad), `None` before the first.
    file: Option<FileStamp>,
}

/// A source's state, for `/status` and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStatus {
    pub source: CertificateSource,
    /// The certificate in use: the last good load.
    pub certificate: Option<CertificateInfo>,
    /// When the certificate in use was loaded.
    pub loaded_at: Option<SystemTime>,
    /// The last failed load after the last good one: set means the source's newest
    /// bundle was refused (and the previous certificate, if any, is still served).
    pub last_failure: Option<LoadFailure>,
    /// Good and failed loads since the store was made.
    pub loads: u64,
    pub failures: u64,
}

/// A refused bundle: the error's text (which never holds key material), label and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFailure {
    pub message: String,
    pub label: &'static str,
    pub at: SystemTime,
}

/// What [`CertificateStore::poll_files`] did for one bundle file.
#[derive(Debug)]
pub struct FileReload {
    pub source: CertificateSource,
    pub outcome: Result<CertificateInfo, BundleError>,
}

/// A file's identity and version as `stat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileStamp {
    Present {
        device: u64,
        inode: u64,
        len: u64,
        mtime: (i64, i64),
        ctime: (i64, i64),
    },
    /// The last look failed (no such file, no permission).
    Unreadable,
}

impl FileStamp {
    fn of(path: &Path) -> Self {
        match std::fs::metadata(path) {
            Ok(meta) => Self::Present {
                device: meta.dev(),
                inode: meta.ino(),
                len: meta.len(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
            },
            Err(_) => Self::Unreadable,
        }
    }
}

impl CertificateStore {
    /// A store for these sources, in order (the first one's certificate is the default),
    /// nothing loaded yet.
    pub fn new(sources: impl IntoIterator<Item = CertificateSource>) -> Self {
        let store = Self {
            snapshot: RwLock::default(),
            slots: Mutex::default(),
        };
        store.set_sources(sources);
        store
    }

    /// Changes the sources and their order; sources kept keep their certificate and state,
    /// new ones start empty, the others are dropped.
    pub fn set_sources(&self, sources: impl IntoIterator<Item = CertificateSource>) {
        let mut slots = self.lock_slots();
        let mut old = std::mem::take(&mut *slots);
        for source in sources {
            if slots.iter().any(|slot| slot.source == source) {
                continue;
            }
            let slot = match old.iter().position(|slot| slot.source == source) {
                Some(index) => old.swap_remove(index),
                None => Slot::new(source),
            };
            slots.push(slot);
        }
        self.publish(&slots);
    }

    /// The sources, in order.
    pub fn sources(&self) -> Vec<CertificateSource> {
        self.lock_slots()
            .iter()
            .map(|slot| slot.source.clone())
            .collect()
    }

    /// Replaces `source`'s certificate with the bundle `pem` (HAProxy format); a source the
    /// store does not have is added last. On error the previous certificate stays.
    pub fn replace(
        &self,
        source: &CertificateSource,
        pem: &[u8],
    ) -> Result<CertificateInfo, BundleError> {
        self.apply(source, LoadedCertificate::from_pem(pem), None)
    }

    /// Replaces `source`'s certificate with a `kubernetes.io/tls` Secret's data, as
    /// [`Self::replace`].
    pub fn replace_secret(
        &self,
        source: &CertificateSource,
        tls_crt: &[u8],
        tls_key: &[u8],
    ) -> Result<CertificateInfo, BundleError> {
        self.apply(
            source,
            LoadedCertificate::from_secret(tls_crt, tls_key),
            None,
        )
    }

    /// Reads the bundle file of a `Bundle` source now, whether it changed or not.
    pub fn reload_file(&self, source: &CertificateSource) -> Option<FileReload> {
        let CertificateSource::Bundle(path) = source else {
            return None;
        };
        let stamp = FileStamp::of(path);
        let outcome = self.apply(source, LoadedCertificate::from_file(path), Some(stamp));
        Some(FileReload {
            source: source.clone(),
            outcome,
        })
    }

    /// Reads every bundle file that changed since it was last read (all of them the first
    /// time). Blocking file I/O: call it from a blocking context.
    pub fn poll_files(&self) -> Vec<FileReload> {
        let due: Vec<CertificateSource> = self
            .lock_slots()
            .iter()
            .filter(|slot| match &slot.source {
                CertificateSource::Bundle(path) => slot.file != Some(FileStamp::of(path)),
                CertificateSource::Secret { .. } => false,
            })
            .map(|slot| slot.source.clone())
            .collect();
        due.iter()
            .filter_map(|source| self.reload_file(source))
            .collect()
    }

    /// Drops `source`'s certificate (its Secret was deleted, say); the source stays.
    pub fn forget(&self, source: &CertificateSource) {
        let mut slots = self.lock_slots();
        if let Some(slot) = slots.iter_mut().find(|slot| &slot.source == source) {
            slot.certificate = None;
            slot.loaded_at = None;
            slot.file = None;
        }
        self.publish(&slots);
    }

    /// The listener's certificate state for the serving decision: `Loaded` when some
    /// certificate can be presented.
    pub fn certificate_state(&self) -> CertificateState {
        if self.snapshot().certificates.is_empty() {
            CertificateState::Missing
        } else {
            CertificateState::Loaded
        }
    }

    /// Every source's state, in order.
    pub fn status(&self) -> Vec<SourceStatus> {
        self.lock_slots()
            .iter()
            .map(|slot| SourceStatus {
                source: slot.source.clone(),
                certificate: slot.certificate.as_ref().map(|c| c.info().clone()),
                loaded_at: slot.loaded_at,
                last_failure: slot.last_failure.clone(),
                loads: slot.loads,
                failures: slot.failures,
            })
            .collect()
    }

    /// The certificate a ClientHello naming `server_name` gets, and why.
    pub fn choose(&self, server_name: Option<&str>) -> (Choice, Option<Arc<LoadedCertificate>>) {
        let snapshot = self.snapshot();
        let choice = sni::choose(
            snapshot.certificates.iter().map(|c| &c.info().names),
            server_name,
        );
        let certificate = choice
            .index()
            .and_then(|index| snapshot.certificates.get(index))
            .cloned();
        (choice, certificate)
    }

    fn apply(
        &self,
        source: &CertificateSource,
        loaded: Result<LoadedCertificate, BundleError>,
        file: Option<FileStamp>,
    ) -> Result<CertificateInfo, BundleError> {
        let now = SystemTime::now();
        let mut slots = self.lock_slots();
        let index = match slots.iter().position(|slot| &slot.source == source) {
            Some(index) => index,
            None => {
                slots.push(Slot::new(source.clone()));
                slots.len() - 1
            }
        };
        let slot = &mut slots[index];
        if file.is_some() {
            slot.file = file;
        }
        let outcome = match loaded {
            Ok(certificate) => {
                let info = certificate.info().clone();
                slot.certificate = Some(Arc::new(certificate));
                slot.loaded_at = Some(now);
                slot.last_failure = None;
                slot.loads += 1;
                Ok(info)
            }
            Err(error) => {
                slot.last_failure = Some(LoadFailure {
                    message: error.to_string(),
                    label: error.label(),
                    at: now,
                });
                slot.failures += 1;
                Err(error)
            }
        };
        self.publish(&slots);
        outcome
    }

    /// Swaps in the snapshot of `slots`.
    fn publish(&self, slots: &[Slot]) {
        let next = Arc::new(Snapshot {
            certificates: slots
                .iter()
                .filter_map(|slot| slot.certificate.clone())
                .collect(),
        });
        *self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = next;
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Slot {
    fn new(source: CertificateSource) -> Self {
        Self {
            source,
            certificate: None,
            loaded_at: None,
            last_failure: None,
            loads: 0,
            failures: 0,
            file: None,
        }
    }
}

impl fmt::Debug for CertificateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateStore")
            .field("sources", &self.status())
            .finish()
    }
}

impl ResolvesServerCert for CertificateStore {
    /// The certificate for the ClientHello's SNI; `None` (the handshake fails) only when
    /// no certificate is loaded at all.
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let (_, certificate) = self.choose(client_hello.server_name());
        certificate.map(|c| c.certified_key().clone())
    }
}

/// How a source reads in logs: `file /etc/certs/web.pem`, `secret shop/web-cert`.
#[derive(Debug, Clone, Copy)]
pub struct SourceName<'a>(pub &'a CertificateSource);

impl fmt::Display for SourceName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            CertificateSource::Bundle(path) => write!(f, "file {}", path.display()),
            CertificateSource::Secret { namespace, name } => {
                write!(f, "secret {namespace}/{name}")
            }
        }
    }
}

/// Polls `store`'s bundle files every `every` until `stop`, logging each reload (public
/// facts only); the first poll runs at once.
pub fn spawn_file_poller(
    store: Arc<CertificateStore>,
    every: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let polled = Arc::clone(&store);
            let Ok(reloads) = tokio::task::spawn_blocking(move || polled.poll_files()).await else {
                continue;
            };
            for reload in reloads {
                log_reload(&reload);
            }
        }
    })
}

/// Logs a reload's outcome: the certificate's public facts or the refusal.
pub fn log_reload(reload: &FileReload) {
    let source = SourceName(&reload.source);
    match &reload.outcome {
        Ok(info) => tracing::info!(
            %source,
            subject = %info.subject,
            serial = %info.serial,
            names = ?info.names,
            "certificate loaded"
        ),
        Err(error) => tracing::warn!(
            %source,
            reason = error.label(),
            "certificate refused, the last good one stays: {error}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::tls::bundle::tests::{
        EC_CRT, EC_KEY, LEAF_CRT, LEAF_KEY, RSA_CRT, RSA_KEY, assert_no_key_material, bundle,
    };

    fn secret(name: &str) -> CertificateSource {
        CertificateSource::Secret {
            namespace: "shop".into(),
            name: name.into(),
        }
    }

    fn subject(store: &CertificateStore, server_name: Option<&str>) -> Option<String> {
        store
            .choose(server_name)
            .1
            .map(|certificate| certificate.info().subject.clone())
    }

    #[test]
    fn empty_store_has_no_certificate_and_says_missing() {
        let store = CertificateStore::new([secret("web")]);
        assert_eq!(store.certificate_state(), CertificateState::Missing);
        let (choice, certificate) = store.choose(Some("a.test"));
        assert_eq!(choice, Choice::None);
        assert!(certificate.is_none());
    }

    #[test]
    fn sni_picks_among_sources_and_the_first_is_the_default() {
        let pool = CertificateSource::Bundle("/etc/certs/pool.pem".into());
        let store = CertificateStore::new([pool.clone(), secret("b")]);
        store
            .replace(&pool, &bundle(&[RSA_CRT, RSA_KEY]))
            .expect("pool bundle");
        store
            .replace_secret(&secret("b"), LEAF_CRT, LEAF_KEY)
            .expect("secret");
        store
            .replace(&secret("wild"), &bundle(&[EC_CRT, EC_KEY]))
            .expect("added last");
        assert_eq!(store.certificate_state(), CertificateState::Loaded);
        assert_eq!(
            subject(&store, Some("www.b.test")).as_deref(),
            Some("CN=b.test")
        );
        assert_eq!(
            subject(&store, Some("x.wild.test")).as_deref(),
            Some("CN=a.test")
        );
        assert_eq!(
            subject(&store, Some("rsa.test")).as_deref(),
            Some("CN=rsa.test")
        );
        assert_eq!(subject(&store, None).as_deref(), Some("CN=rsa.test"));
        assert_eq!(
            subject(&store, Some("nowhere.test")).as_deref(),
            Some("CN=rsa.test")
        );
        assert_eq!(store.sources().len(), 3);
    }

    #[test]
    fn default_falls_to_the_next_loaded_source_while_the_first_has_none() {
        let pool = CertificateSource::Bundle("/etc/certs/pool.pem".into());
        let store = CertificateStore::new([pool.clone(), secret("b")]);
        store
            .replace_secret(&secret("b"), LEAF_CRT, LEAF_KEY)
            .expect("secret");
        assert_eq!(subject(&store, None).as_deref(), Some("CN=b.test"));
        store
            .replace(&pool, &bundle(&[RSA_CRT, RSA_KEY]))
            .expect("pool bundle");
        assert_eq!(subject(&store, None).as_deref(), Some("CN=rsa.test"));
    }

    #[test]
    fn bad_bundle_keeps_the_last_good_certificate_and_reports() {
        let source = secret("web");
        let store = CertificateStore::new([source.clone()]);
        store
            .replace(&source, &bundle(&[EC_CRT, EC_KEY]))
            .expect("good");
        let error = store
            .replace(&source, &bundle(&[EC_CRT, LEAF_KEY]))
            .expect_err("mismatch");
        assert_eq!(error.label(), "key_mismatch");
        assert_eq!(subject(&store, None).as_deref(), Some("CN=a.test"));
        assert_eq!(store.certificate_state(), CertificateState::Loaded);
        let status = &store.status()[0];
        assert_eq!(status.loads, 1);
        assert_eq!(status.failures, 1);
        let failure = status.last_failure.as_ref().expect("failure kept");
        assert_eq!(failure.label, "key_mismatch");
        assert_eq!(
            status.certificate.as_ref().map(|c| c.subject.as_str()),
            Some("CN=a.test")
        );
        assert_no_key_material(&format!("{store:?} {status:?}"), &[EC_KEY, LEAF_KEY]);
        // a good load clears the failure
        store
            .replace(&source, &bundle(&[LEAF_CRT, LEAF_KEY]))
            .expect("good again");
        let status = &store.status()[0];
        assert_eq!(status.last_failure, None);
        assert_eq!(subject(&store, None).as_deref(), Some("CN=b.test"));
    }

    #[test]
    fn bad_first_bundle_leaves_the_listener_without_certificate() {
        let source = secret("web");
        let store = CertificateStore::new([source.clone()]);
        store.replace(&source, b"garbage").expect_err("garbage");
        assert_eq!(store.certificate_state(), CertificateState::Missing);
        assert_eq!(store.status()[0].failures, 1);
    }

    #[test]
    fn snapshot_taken_before_a_replace_is_untouched_by_it() {
        let source = secret("web");
        let store = CertificateStore::new([source.clone()]);
        store
            .replace(&source, &bundle(&[EC_CRT, EC_KEY]))
            .expect("good");
        let (_, before) = store.choose(None);
        store
            .replace(&source, &bundle(&[LEAF_CRT, LEAF_KEY]))
            .expect("good");
        let (_, after) = store.choose(None);
        assert_eq!(
            before.map(|c| c.info().subject.clone()).as_deref(),
            Some("CN=a.test")
        );
        assert_eq!(
            after.map(|c| c.info().subject.clone()).as_deref(),
            Some("CN=b.test")
        );
    }

    #[test]
    fn set_sources_keeps_loaded_certificates_and_reorders() {
        let store = CertificateStore::new([secret("a"), secret("b")]);
        store
            .replace(&secret("a"), &bundle(&[EC_CRT, EC_KEY]))
            .expect("a");
        store
            .replace(&secret("b"), &bundle(&[LEAF_CRT, LEAF_KEY]))
            .expect("b");
        store.set_sources([secret("b"), secret("a"), secret("c")]);
        assert_eq!(subject(&store, None).as_deref(), Some("CN=b.test"));
        store.set_sources([secret("c")]);
        assert_eq!(store.certificate_state(), CertificateState::Missing);
        store.set_sources([secret("c"), secret("b")]);
        assert_eq!(
            subject(&store, None),
            None,
            "a dropped source forgets its certificate"
        );
    }

    #[test]
    fn forget_drops_a_certificate() {
        let store = CertificateStore::new([secret("a")]);
        store
            .replace(&secret("a"), &bundle(&[EC_CRT, EC_KEY]))
            .expect("a");
        store.forget(&secret("a"));
        assert_eq!(store.certificate_state(), CertificateState::Missing);
    }

    #[test]
    fn files_are_read_again_only_when_they_change() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pool.pem");
        let source = CertificateSource::Bundle(path.clone());
        let store = CertificateStore::new([source.clone()]);

        let first = store.poll_files();
        assert_eq!(first.len(), 1);
        assert!(matches!(first[0].outcome, Err(BundleError::Read { .. })));
        assert!(
            store.poll_files().is_empty(),
            "a missing file is reported once"
        );

        std::fs::write(&path, bundle(&[EC_CRT, EC_KEY])).expect("write");
        let loaded = store.poll_files();
        assert_eq!(loaded.len(), 1);
        assert_eq!(
            loaded[0].outcome.as_ref().map(|i| i.subject.as_str()).ok(),
            Some("CN=a.test")
        );
        assert!(store.poll_files().is_empty(), "unchanged");

        std::fs::write(&path, bundle(&[LEAF_CRT, EC_KEY])).expect("write");
        let refused = store.poll_files();
        assert!(matches!(
            refused[0].outcome,
            Err(BundleError::KeyMismatch { .. })
        ));
        assert!(store.poll_files().is_empty(), "a bad file is reported once");
        assert_eq!(subject(&store, None).as_deref(), Some("CN=a.test"));

        // replaced by rename, as tools and mounted volumes do
        let next = dir.path().join("next.pem");
        std::fs::write(&next, bundle(&[LEAF_CRT, LEAF_KEY])).expect("write");
        std::fs::rename(&next, &path).expect("rename");
        let renamed = store.poll_files();
        assert_eq!(
            renamed[0].outcome.as_ref().map(|i| i.subject.as_str()).ok(),
            Some("CN=b.test")
        );
        assert_eq!(subject(&store, None).as_deref(), Some("CN=b.test"));
    }

    #[test]
    fn source_names_read_well() {
        assert_eq!(
            SourceName(&CertificateSource::Bundle("/etc/certs/p.pem".into())).to_string(),
            "file /etc/certs/p.pem"
        );
        assert_eq!(SourceName(&secret("web")).to_string(), "secret shop/web");
    }

    #[tokio::test]
    async fn poller_loads_a_file_and_stops_when_told() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pool.pem");
        std::fs::write(&path, bundle(&[EC_CRT, EC_KEY])).expect("write");
        let store = Arc::new(CertificateStore::new([CertificateSource::Bundle(path)]));
        let stop = CancellationToken::new();
        let poller = spawn_file_poller(store.clone(), Duration::from_millis(20), stop.clone());
        herald_testsupport::wait::eventually("the poller loads the bundle", || {
            let loaded = store.certificate_state() == CertificateState::Loaded;
            async move { loaded.then_some(()) }
        })
        .await;
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), poller)
            .await
            .expect("poller stops")
            .expect("poller did not panic");
    }
}
