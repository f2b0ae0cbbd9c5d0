//! Reading a standalone directory: `config.yaml`, and Kubernetes manifests (multi-document
//! YAML or JSON, `kind: List` too) of Services, EndpointSlices, Nodes and Secrets (the
//! `kubernetes.io/tls` ones that `herald.dev/tls-secret` names) in every other `*.yaml`,
//! `*.yml` and `*.json` file directly in the directory.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Deserialize;
use serde_yaml::Value;

use super::StandaloneError;

/// The config file's name inside the directory.
pub const CONFIG_FILE: &str = "config.yaml";

/// Extensions of manifest files.
const MANIFEST_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Namespace given to namespaced objects whose manifest names none (as `kubectl apply`).
const DEFAULT_NAMESPACE: &str = "default";

/// The objects found in the manifests, in file order then document order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Manifests {
    pub services: Vec<Service>,
    pub slices: Vec<EndpointSlice>,
    pub nodes: Vec<Node>,
    pub secrets: Secrets,
    /// Documents of other kinds, one line each.
    pub warnings: Vec<String>,
}

/// The Secrets of the manifests, `stringData` merged into `data` as the API server does.
/// `Debug` shows their names only.
#[derive(Default, Clone)]
pub(crate) struct Secrets(pub Vec<Secret>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|s| &s.metadata.name))
            .finish()
    }
}

/// The files in `dir` that hold manifests (not the config, not hidden), sorted by name.
pub(crate) fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>, StandaloneError> {
    let entries = std::fs::read_dir(dir).map_err(|source| StandaloneError::ReadDir {
        dir: dir.to_owned(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| StandaloneError::ReadDir {
            dir: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        if is_manifest_file(&path) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Whether a path names a manifest file by its name: a visible `*.yaml`/`*.yml`/`*.json`
/// other than the config.
pub(crate) fn is_manifest_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if name.starts_with('.') || name == CONFIG_FILE {
        return false;
    }
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|ext| MANIFEST_EXTENSIONS.contains(&ext))
}

/// Parsed manifest files, reused while a file's (mtime, size) stays the same: a change to
/// one file re-parses that file only, which matters when a directory holds thousands of
/// Services and one endpoint moves.
#[derive(Debug, Default)]
pub struct ManifestCache {
    files: HashMap<PathBuf, CachedFile>,
}

#[derive(Debug)]
struct CachedFile {
    modified: Option<SystemTime>,
    len: u64,
    objects: Manifests,
}

/// Reads every manifest file (from `cache` when unchanged); all problems are collected, not
/// only the first. Files that fail to parse are not cached, so they are read again.
pub(crate) fn read_manifests(
    files: &[PathBuf],
    cache: &mut ManifestCache,
) -> Result<Manifests, Vec<StandaloneError>> {
    let mut manifests = Manifests::default();
    let mut errors = Vec::new();
    cache.files.retain(|path, _| files.contains(path));
    for path in files {
        let stamp = std::fs::metadata(path)
            .ok()
            .map(|meta| (meta.modified().ok(), meta.len()));
        if let (Some(cached), Some((modified, len))) = (cache.files.get(path), stamp)
            && cached.modified == modified
            && cached.len == len
        {
            manifests.extend(cached.objects.clone());
            continue;
        }
        cache.files.remove(path);
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut objects = Manifests::default();
                let before = errors.len();
                parse_file(path, &text, &mut objects, &mut errors);
                if let (true, Some((modified, len))) = (errors.len() == before, stamp) {
                    let cached = CachedFile {
                        modified,
                        len,
                        objects: objects.clone(),
                    };
                    cache.files.insert(path.clone(), cached);
                }
                manifests.extend(objects);
            }
            Err(source) => errors.push(StandaloneError::ReadFile {
                path: path.clone(),
                source,
            }),
        }
    }
    check_unique(&manifests, &mut errors);
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(errors)
    }
}

impl Manifests {
    fn extend(&mut self, other: Manifests) {
        self.services.extend(other.services);
        self.slices.extend(other.slices);
        self.nodes.extend(other.nodes);
        self.secrets.0.extend(other.secrets.0);
        self.warnings.extend(other.warnings);
    }
}

fn parse_file(path: &Path, text: &str, out: &mut Manifests, errors: &mut Vec<StandaloneError>) {
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = match Value::deserialize(document) {
            Ok(value) => value,
            Err(source) => {
                // The stream cannot be read past a syntax error.
                errors.push(StandaloneError::Yaml {
                    path: path.to_owned(),
                    document: index + 1,
                    source,
                });
                return;
            }
        };
        let location = Location {
            path,
            document: index + 1,
        };
        add_object(&location, value, out, errors);
    }
}

/// Where a document is: file and 1-based document number.
struct Location<'a> {
    path: &'a Path,
    document: usize,
}

impl Location<'_> {
    fn error(&self, kind: &str, source: serde_yaml::Error) -> StandaloneError {
        StandaloneError::Manifest {
            path: self.path.to_owned(),
            document: self.document,
            kind: kind.to_owned(),
            source,
        }
    }
}

fn add_object(
    location: &Location<'_>,
    value: Value,
    out: &mut Manifests,
    errors: &mut Vec<StandaloneError>,
) {
    if value.is_null() {
        return; // an empty document, e.g. after a trailing `---`
    }
    let Some(kind) = value.get("kind").and_then(Value::as_str).map(str::to_owned) else {
        errors.push(StandaloneError::MissingKind {
            path: location.path.to_owned(),
            document: location.document,
        });
        return;
    };
    match kind.as_str() {
        "Service" => match serde_yaml::from_value::<Service>(value) {
            Ok(mut service) => {
                default_namespace(&mut service.metadata);
                out.services.push(service);
            }
            Err(source) => errors.push(location.error(&kind, source)),
        },
        "EndpointSlice" => match serde_yaml::from_value::<EndpointSlice>(value) {
            Ok(mut slice) => {
                default_namespace(&mut slice.metadata);
                out.slices.push(slice);
            }
            Err(source) => errors.push(location.error(&kind, source)),
        },
        "Node" => match serde_yaml::from_value::<Node>(value) {
            Ok(node) => out.nodes.push(node),
            Err(source) => errors.push(location.error(&kind, source)),
        },
        "Secret" => match serde_yaml::from_value::<Secret>(value) {
            Ok(mut secret) => {
                default_namespace(&mut secret.metadata);
                let data = secret.data.get_or_insert_with(Default::default);
                for (key, text) in secret.string_data.take().into_iter().flatten() {
                    data.insert(key, ByteString(text.into_bytes()));
                }
                out.secrets.0.push(secret);
            }
            Err(_) => errors.push(StandaloneError::Secret {
                path: location.path.to_owned(),
                document: location.document,
            }),
        },
        // `kind: List` (what `kubectl get -o yaml` prints) and typed lists such as
        // `ServiceList`: every item is a document of its own.
        list if list.ends_with("List") => match value.get("items") {
            Some(Value::Sequence(items)) => {
                for item in items.clone() {
                    add_object(location, item, out, errors);
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => errors.push(StandaloneError::ListItems {
                path: location.path.to_owned(),
                document: location.document,
            }),
        },
        other => out.warnings.push(format!(
            "{} document {}: kind {other} ignored (only Service, EndpointSlice, Node and Secret are read)",
            location.path.display(),
            location.document
        )),
    }
}

fn default_namespace(meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) {
    if meta.namespace.as_deref().is_none_or(str::is_empty) {
        meta.namespace = Some(DEFAULT_NAMESPACE.to_owned());
    }
}

/// Every object needs a name, and a name may appear once per kind (and namespace).
fn check_unique(manifests: &Manifests, errors: &mut Vec<StandaloneError>) {
    let metas = manifests
        .services
        .iter()
        .map(|s| ("Service", &s.metadata))
        .chain(
            manifests
                .slices
                .iter()
                .map(|s| ("EndpointSlice", &s.metadata)),
        )
        .chain(manifests.nodes.iter().map(|n| ("Node", &n.metadata)))
        .chain(manifests.secrets.0.iter().map(|s| ("Secret", &s.metadata)));
    let mut seen = BTreeSet::new();
    for (kind, meta) in metas {
        let namespace = meta.namespace.clone().unwrap_or_default();
        match meta.name.as_deref() {
            None | Some("") => errors.push(StandaloneError::MissingName {
                kind,
                namespace: meta.namespace.clone(),
            }),
            Some(name) => {
                if !seen.insert((kind, namespace.clone(), name.to_owned())) {
                    errors.push(StandaloneError::Duplicate {
                        kind,
                        namespace: meta.namespace.clone(),
                        name: name.to_owned(),
                    });
                }
            }
        }
    }
}
