//! Live reload: poll the directory's file names, mtimes and sizes, reload on change.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tracing::{info, warn};

use super::manifests::{CONFIG_FILE, ManifestCache, is_manifest_file};
use super::{Standalone, write_status};
use crate::source::SourceState;
use crate::view::ClusterView;

/// How often the directory is checked for changes.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// What identifies the directory's contents cheaply: (name, mtime, size) of the config and
/// every manifest file, sorted; or the error listing the directory gave.
type Fingerprint = Result<Vec<(String, Option<SystemTime>, u64)>, String>;

fn fingerprint(dir: &Path) -> Fingerprint {
    let entries = std::fs::read_dir(dir).map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name != CONFIG_FILE && !is_manifest_file(&path) {
            continue;
        }
        // Follow symlinks (ConfigMap volumes are symlinks to a timestamped directory).
        match std::fs::metadata(&path) {
            Ok(meta) => files.push((name.to_owned(), meta.modified().ok(), meta.len())),
            Err(e) => files.push((format!("{name}: {e}"), None, 0)),
        }
    }
    files.sort();
    Ok(files)
}

/// The polling loop's state.
struct Poller {
    source: Standalone,
    last_good: Option<Arc<ClusterView>>,
    cache: ManifestCache,
}

impl Poller {
    /// Loads the directory; on success writes the status files and keeps the view.
    fn reload(&mut self) -> SourceState {
        let dir = &self.source.dir;
        match Standalone::load_cached(dir, &self.source.lb_class, &mut self.cache) {
            Ok(snapshot) => {
                for warning in &snapshot.warnings {
                    warn!(dir = %dir.display(), "{warning}");
                }
                match write_status(dir, &snapshot.allocations) {
                    Ok(done) => {
                        for path in &done.written {
                            info!(file = %path.display(), "status file written");
                        }
                        for path in &done.removed {
                            info!(file = %path.display(), "status file removed");
                        }
                    }
                    Err(error) => warn!(dir = %dir.display(), %error, "cannot write status files"),
                }
                info!(
                    dir = %dir.display(),
                    services = snapshot.view.services.len(),
                    nodes = snapshot.view.nodes.len(),
                    "standalone directory loaded"
                );
                let view = Arc::new(snapshot.view);
                self.last_good = Some(view.clone());
                SourceState {
                    view: Some(view),
                    errors: Vec::new(),
                }
            }
            Err(errors) => {
                let lines = errors.lines();
                for line in &lines {
                    warn!(
                        dir = %dir.display(),
                        error = %line,
                        kept_last_good = self.last_good.is_some(),
                        "standalone directory has a problem; it does not take effect"
                    );
                }
                SourceState {
                    view: self.last_good.clone(),
                    errors: lines,
                }
            }
        }
    }
}

impl Standalone {
    /// [`Standalone::watch`] with another polling interval.
    pub fn watch_every(self, interval: Duration) -> watch::Receiver<Arc<SourceState>> {
        let mut seen = fingerprint(&self.dir);
        let mut poller = Poller {
            source: self,
            last_good: None,
            cache: ManifestCache::default(),
        };
        let (sender, receiver) = watch::channel(Arc::new(poller.reload()));
        let spawned = std::thread::Builder::new()
            .name("standalone-watch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(interval);
                    if sender.is_closed() {
                        return;
                    }
                    let now = fingerprint(&poller.source.dir);
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    let state = poller.reload();
                    sender.send_if_modified(|current| {
                        if **current == state {
                            return false;
                        }
                        *current = Arc::new(state);
                        true
                    });
                }
            });
        if let Err(error) = spawned {
            warn!(%error, "cannot start the standalone directory watcher; changes will not be picked up");
        }
        receiver
    }
}
