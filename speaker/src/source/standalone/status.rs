//! `DIR/status/<namespace>_<name>.yaml`: each Service's allocation, for people to read.
//! A file is rewritten only when its content changes (so several speakers sharing the
//! directory do not fight), and files of Services that are gone are removed.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use herald_core::ServiceKey;
use herald_core::allocator::Assignment;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use super::AllocationFailure;

/// The status directory's name inside the standalone directory.
pub const STATUS_DIR: &str = "status";

const HEADER: &str =
    "# Written by herald-speaker (standalone mode) for people to read; edits are overwritten.\n";

/// What [`write_status`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusWrite {
    /// Files created or rewritten.
    pub written: Vec<PathBuf>,
    /// Files removed (their Service is gone).
    pub removed: Vec<PathBuf>,
}

/// A status-file problem: the directory is usable, only the report for people is not.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct StatusError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

#[derive(Serialize)]
struct StatusFile<'a> {
    service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What a status file records, read back: the addresses a Service was given. Only the
/// fields needed to keep an allocation stable across reloads and restarts.
#[derive(Deserialize)]
struct RecordedStatus {
    service: String,
    #[serde(default)]
    addresses: Vec<IpAddr>,
}

/// The addresses each Service holds according to `dir/status/`, so that a reload or a
/// restart registers them as holders before anything else is assigned (an address is never
/// taken from a Service that holds it). Unreadable or foreign files are ignored: the
/// status directory is a record, not a source of truth that can fail a load.
pub fn read_recorded(dir: &Path) -> BTreeMap<ServiceKey, Vec<IpAddr>> {
    let mut recorded = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir.join(STATUS_DIR)) else {
        return recorded;
    };
    for path in entries.flatten().map(|entry| entry.path()) {
        let is_status = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".yaml") && !n.starts_with('.'));
        let Some(status) = is_status
            .then(|| std::fs::read_to_string(&path).ok())
            .flatten()
            .and_then(|text| serde_yaml::from_str::<RecordedStatus>(&text).ok())
        else {
            continue;
        };
        let Some((namespace, name)) = status.service.split_once('/') else {
            continue;
        };
        if !status.addresses.is_empty() {
            recorded.insert(ServiceKey::new(namespace, name), status.addresses);
        }
    }
    recorded
}

/// The file name for a Service.
pub fn status_file_name(key: &ServiceKey) -> String {
    format!("{}_{}.yaml", key.namespace, key.name)
}

/// The text of a Service's status file.
pub fn status_text(key: &ServiceKey, allocation: &Result<Assignment, AllocationFailure>) -> String {
    let file = match allocation {
        Ok(assignment) => StatusFile {
            service: key.to_string(),
            pool: Some(&assignment.pool),
            addresses: assignment
                .addresses
                .iter()
                .map(ToString::to_string)
                .collect(),
            error: None,
        },
        Err(failure) => StatusFile {
            service: key.to_string(),
            pool: None,
            addresses: Vec::new(),
            error: Some(failure.to_string()),
        },
    };
    // A struct of strings always serializes.
    let body = serde_yaml::to_string(&file).unwrap_or_default();
    format!("{HEADER}{body}")
}

/// Brings `dir/status/` in line with `allocations`.
pub fn write_status(
    dir: &Path,
    allocations: &BTreeMap<ServiceKey, Result<Assignment, AllocationFailure>>,
) -> Result<StatusWrite, StatusError> {
    let status_dir = dir.join(STATUS_DIR);
    std::fs::create_dir_all(&status_dir).map_err(|source| StatusError {
        action: "create",
        path: status_dir.clone(),
        source,
    })?;

    let mut done = StatusWrite::default();
    let mut wanted = BTreeSet::new();
    for (key, allocation) in allocations {
        let name = status_file_name(key);
        let path = status_dir.join(&name);
        wanted.insert(name);
        let text = status_text(key, allocation);
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            continue;
        }
        write_atomically(&path, &text)?;
        done.written.push(path);
    }

    let entries = std::fs::read_dir(&status_dir).map_err(|source| StatusError {
        action: "read",
        path: status_dir.clone(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".yaml") && !name.starts_with('.') && !wanted.contains(name) {
            std::fs::remove_file(&path).map_err(|source| StatusError {
                action: "remove",
                path: path.clone(),
                source,
            })?;
            done.removed.push(path);
        }
    }
    done.removed.sort();
    Ok(done)
}

/// Writes a sibling temporary file and renames it over `path`, so a reader never sees half
/// a file (the process id keeps speakers that share the directory apart).
fn write_atomically(path: &Path, text: &str) -> Result<(), StatusError> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("status");
    let temporary = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, text).map_err(|source| StatusError {
        action: "write",
        path: temporary.clone(),
        source,
    })?;
    std::fs::rename(&temporary, path).map_err(|source| StatusError {
        action: "rename",
        path: path.to_owned(),
        source,
    })
}

/// Gives each Service whose manifest carries no `status.loadBalancer.ingress` the
/// addresses `recorded` says it holds, so the allocator restores them as holders.
pub fn adopt_recorded(
    services: &mut [k8s_openapi::api::core::v1::Service],
    recorded: &BTreeMap<ServiceKey, Vec<IpAddr>>,
) {
    use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, ServiceStatus};
    for service in services {
        if herald_core::service::has_ingress(service) {
            continue;
        }
        let Ok(key) = herald_core::service::service_key(service) else {
            continue;
        };
        let Some(addresses) = recorded.get(&key) else {
            continue;
        };
        let ingress = addresses
            .iter()
            .map(|ip| LoadBalancerIngress {
                ip: Some(ip.to_string()),
                ..LoadBalancerIngress::default()
            })
            .collect();
        service.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(ingress),
            }),
            ..ServiceStatus::default()
        });
    }
}
