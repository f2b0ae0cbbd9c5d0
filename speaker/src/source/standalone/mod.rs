//! Standalone mode (DESIGN.md section 9): one node's speaker without a Kubernetes API.
//!
//! `DIR/config.yaml` is the config (a ConfigMap manifest or its bare payload); every other
//! `DIR/*.yaml`, `*.yml` and `*.json` holds Kubernetes manifests of Services,
//! EndpointSlices and Nodes (multi-document, `kind: List` too; other kinds are ignored with
//! a warning). Addresses come from `herald-core`'s allocator (the controller's),
//! in-process and deterministically (see [`allocate`](self::allocate)), and are written to
//! `DIR/status/<namespace>_<name>.yaml` for people to read. The addresses recorded there
//! are read back as holders on the next load, so a reload or a restart never renumbers a
//! Service that holds an address.
//!
//! ```text
//!   DIR ──poll (name, mtime, size) every 500 ms──▶ Standalone::load ──▶ Snapshot
//!                                                        │ ok: new view, status files
//!                                                        │ error: last good view + errors
//!                                                        ▼
//!                                     watch::Sender<Arc<SourceState>> ──▶ speaker
//! ```
//!
//! A bad config or manifest never takes effect: the problems are logged and listed in
//! [`SourceState::errors`], and the last good view stays, so nothing is withdrawn because
//! a file was saved half-edited.

mod allocate;
mod manifests;
mod status;
mod watch;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use herald_config::{Config, ConfigErrors};
use herald_core::ServiceKey;
use herald_core::allocator::{Assignment, PoolError};

use crate::view::ClusterView;

pub use self::allocate::AllocationFailure;
pub use self::manifests::{CONFIG_FILE, ManifestCache};
pub use self::status::{STATUS_DIR, StatusError, StatusWrite, status_file_name, write_status};
pub use self::watch::POLL_INTERVAL;
pub use crate::source::SourceState;

/// The standalone directory source. See the module documentation.
#[derive(Debug)]
pub struct Standalone {
    dir: PathBuf,
    lb_class: String,
}

/// One load of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The view, Service addresses being the allocation.
    pub view: ClusterView,
    /// Every Service Herald handles: its addresses, or why it has none.
    pub allocations: BTreeMap<ServiceKey, Result<Assignment, AllocationFailure>>,
    /// Documents ignored (other kinds), one line each.
    pub warnings: Vec<String>,
}

/// One problem with the directory's contents.
#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    #[error("cannot read directory {}: {source}", dir.display())]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: invalid config:\n{errors}", path.display())]
    Config { path: PathBuf, errors: ConfigErrors },
    #[error("{} document {document}: not valid YAML: {source}", path.display())]
    Yaml {
        path: PathBuf,
        document: usize,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{} document {document}: no `kind`", path.display())]
    MissingKind { path: PathBuf, document: usize },
    #[error("{} document {document}: `items` of a list must be a sequence", path.display())]
    ListItems { path: PathBuf, document: usize },
    #[error("{} document {document}: invalid {kind}: {source}", path.display())]
    Manifest {
        path: PathBuf,
        document: usize,
        kind: String,
        #[source]
        source: serde_yaml::Error,
    },
    /// A Secret that does not parse. The parser's message is left out: it may quote the
    /// key.
    #[error("{} document {document}: invalid Secret (its content is not shown)", path.display())]
    Secret { path: PathBuf, document: usize },
    #[error("a {kind}{} has no metadata.name", in_namespace(namespace))]
    MissingName {
        kind: &'static str,
        namespace: Option<String>,
    },
    #[error("{kind} {name}{} is defined more than once", in_namespace(namespace))]
    Duplicate {
        kind: &'static str,
        namespace: Option<String>,
        name: String,
    },
    #[error("the config's pools cannot be used: {0}")]
    Pools(#[from] PoolError),
}

fn in_namespace(namespace: &Option<String>) -> String {
    namespace
        .as_deref()
        .map(|ns| format!(" in namespace {ns}"))
        .unwrap_or_default()
}

impl StandaloneError {
    /// The problem as one or more single-line messages (a bad config gives one per error).
    pub fn lines(&self) -> Vec<String> {
        match self {
            StandaloneError::Config { path, errors } => errors
                .iter()
                .map(|error| format!("{}: {error}", path.display()))
                .collect(),
            other => vec![other.to_string().replace('\n', " ")],
        }
    }

    /// A short stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            StandaloneError::ReadDir { .. } => "read_dir",
            StandaloneError::ReadFile { .. } => "read_file",
            StandaloneError::Config { .. } => "invalid_config",
            StandaloneError::Yaml { .. } => "invalid_yaml",
            StandaloneError::MissingKind { .. } => "missing_kind",
            StandaloneError::ListItems { .. } => "invalid_list",
            StandaloneError::Manifest { .. } => "invalid_manifest",
            StandaloneError::Secret { .. } => "invalid_secret",
            StandaloneError::MissingName { .. } => "missing_name",
            StandaloneError::Duplicate { .. } => "duplicate_object",
            StandaloneError::Pools(_) => "invalid_pools",
        }
    }
}

/// Every problem found in one load (never empty when returned).
#[derive(Debug)]
pub struct StandaloneErrors(pub Vec<StandaloneError>);

impl StandaloneErrors {
    /// One line per problem (a bad config gives one per config error).
    pub fn lines(&self) -> Vec<String> {
        self.0.iter().flat_map(StandaloneError::lines).collect()
    }
}

impl fmt::Display for StandaloneErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = self.lines();
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(line)?;
        }
        Ok(())
    }
}

impl std::error::Error for StandaloneErrors {}

impl From<StandaloneError> for StandaloneErrors {
    fn from(error: StandaloneError) -> Self {
        Self(vec![error])
    }
}

impl Standalone {
    /// The source for `dir`, handling Services of `lb_class`; start it with
    /// [`Standalone::watch_every`] (or use [`Standalone::watch`]).
    pub fn new(dir: PathBuf, lb_class: String) -> Self {
        Self { dir, lb_class }
    }

    /// Reads `dir` once: the config, the manifests, the allocation. Every problem is
    /// reported at once. Writes nothing (see [`write_status`]).
    pub fn load(dir: &Path, lb_class: &str) -> Result<Snapshot, StandaloneErrors> {
        Self::load_cached(dir, lb_class, &mut ManifestCache::default())
    }

    /// [`Standalone::load`], re-parsing only the manifest files that changed since they
    /// were put in `cache`.
    pub fn load_cached(
        dir: &Path,
        lb_class: &str,
        cache: &mut ManifestCache,
    ) -> Result<Snapshot, StandaloneErrors> {
        let mut errors = Vec::new();
        let config = read_config(dir).map_err(|e| errors.push(e)).ok();
        let manifests = manifests::manifest_files(dir)
            .map_err(|e| vec![e])
            .and_then(|files| manifests::read_manifests(&files, cache))
            .map_err(|e| errors.extend(e))
            .ok();
        let (Some(config), Some(manifests), true) = (config, manifests, errors.is_empty()) else {
            return Err(StandaloneErrors(errors));
        };

        let mut services = manifests.services;
        status::adopt_recorded(&mut services, &status::read_recorded(dir));
        let allocations = allocate::allocate(&config, &services, lb_class)
            .map_err(|e| StandaloneErrors::from(StandaloneError::from(e)))?;
        let mut view = ClusterView::build(
            Arc::new(config),
            &services,
            &manifests.slices,
            &manifests.nodes,
            lb_class,
        )
        .with_secrets(&manifests.secrets.0);
        for (key, service) in &mut view.services {
            service.addresses = match allocations.get(key) {
                Some(Ok(assignment)) => assignment.addresses.clone(),
                _ => Vec::new(),
            };
        }
        Ok(Snapshot {
            view,
            allocations,
            warnings: manifests.warnings,
        })
    }

    /// Loads `dir` now, then polls it every [`POLL_INTERVAL`] on a thread of its own and
    /// reloads when a file's name, mtime or size changed. Each good load writes the status
    /// files. The thread ends when every receiver is dropped.
    pub fn watch(dir: PathBuf, lb_class: String) -> tokio::sync::watch::Receiver<Arc<SourceState>> {
        Standalone::new(dir, lb_class).watch_every(POLL_INTERVAL)
    }
}

fn read_config(dir: &Path) -> Result<Config, StandaloneError> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| StandaloneError::ReadFile {
        path: path.clone(),
        source,
    })?;
    Config::from_yaml(&text).map_err(|errors| StandaloneError::Config { path, errors })
}
