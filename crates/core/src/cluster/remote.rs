//! The remote provider: an existing cluster, reached through
//! `deps/kube/<cluster>-<stage>.yaml` and a context in it. Stagecraft never
//! creates or deletes it; bootstrap checks it and creates the namespaces.

use anyhow::Result;

use super::Provider;
use crate::config::{ClusterStage, ClusterToml, Loaded};
use crate::repo::Stage;

pub struct Remote;

impl Provider for Remote {
    fn creates_clusters(&self) -> bool {
        false
    }
    fn has_local_registry(&self) -> bool {
        false
    }
    fn uses_hosts_file(&self) -> bool {
        false
    }
    fn shares_clusters(&self) -> bool {
        true
    }
    fn needs_ports(&self) -> bool {
        false
    }

    /// The cluster's own context for the stage, else the stage's.
    fn kube_context(
        &self,
        _cluster: &str,
        stage: &Stage,
        table: Option<&ClusterStage>,
        _file: &Loaded<ClusterToml>,
    ) -> Result<Option<String>> {
        Ok(table
            .and_then(|t| t.context.as_ref())
            .or(stage.file.value.context.as_ref())
            .map(|c| c.get_ref().clone()))
    }
}
