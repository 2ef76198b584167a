//! The kind provider: a local kind cluster `<cluster>-<stage>` per cluster
//! and kind stage, with its own host ports, the shared local registry and
//! the hosts file for the apps' names.

use anyhow::Result;

use super::Provider;
use crate::config::{ClusterStage, ClusterToml, Loaded};
use crate::repo::Stage;

pub struct Kind;

impl Provider for Kind {
    fn creates_clusters(&self) -> bool {
        true
    }
    fn has_local_registry(&self) -> bool {
        true
    }
    fn uses_hosts_file(&self) -> bool {
        true
    }
    fn shares_clusters(&self) -> bool {
        false
    }
    fn needs_ports(&self) -> bool {
        true
    }

    fn kube_context(
        &self,
        cluster: &str,
        stage: &Stage,
        table: Option<&ClusterStage>,
        file: &Loaded<ClusterToml>,
    ) -> Result<Option<String>> {
        if let Some(context) = table.and_then(|t| t.context.as_ref()) {
            return Err(file.error_at(
                &context.span(),
                format!(
                    "`context` is only for remote stages, and `{}` is a kind stage\n  hint: remove it",
                    stage.name
                ),
            ));
        }
        if let Some(identity) = table.and_then(|t| t.identity.as_ref()) {
            return Err(file.error_at(
                &identity.span(),
                format!(
                    "`identity` is for remote stages: each machine has its own kind cluster for `{}`, recorded under deps/kube/\n  hint: remove it",
                    stage.name
                ),
            ));
        }
        Ok(Some(format!("kind-{cluster}-{}", stage.name)))
    }
}
