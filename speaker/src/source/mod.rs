//! Where the speaker's picture of the cluster comes from: the Kubernetes API ([`kube`]) or
//! a standalone directory of manifests ([`standalone`]). Both feed the same channel with
//! the same [`SourceState`]; everything after it (decisions, drivers) does not know which
//! one runs.
//!
//! ```text
//!   kube::KubeSource::watch (API)       ─┐
//!   standalone::Standalone::watch (DIR) ─┴─▶ watch<Arc<SourceState>> ──▶ the main loop
//! ```

pub mod kube;
pub mod standalone;

use std::sync::Arc;

use crate::view::ClusterView;

/// What a source of cluster state (the API server, or a standalone directory) currently
/// offers the speaker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceState {
    /// The last good view; `None` until one was built.
    pub view: Option<Arc<ClusterView>>,
    /// Current problems (e.g. a bad config), each one line; empty when all is well.
    pub errors: Vec<String>,
}
