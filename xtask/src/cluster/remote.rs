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

    #[cfg(feature = "ops")]
    fn bootstrap(&self, cx: &super::ops::Cx) -> Result<()> {
        super::ops::check_reachable(cx)?;
        super::identity::verify(cx.repo, cx.target, cx.tools, cx.runner)?;
        cx.say(&format!(
            "✔ cluster {}: the API server answers (context {})",
            cx.target.name(),
            cx.target.context
        ));
        super::ops::check_routing(cx)?;
        super::ops::namespaces(cx)
    }

    #[cfg(feature = "ops")]
    fn status(&self, cx: &super::ops::Cx) -> Result<super::ops::Status> {
        let target = cx.target;
        let exists = super::ops::check_reachable(cx).is_ok();
        let nodes_ready = if exists {
            super::ops::nodes_ready(cx)
        } else {
            None
        };
        Ok(super::ops::Status {
            cluster: target.cluster.clone(),
            stage: target.stage.name.clone(),
            target: target.stage.target(),
            exists,
            gateway: if exists {
                super::ops::gateway_status(cx)
            } else {
                None
            },
            nodes_ready,
            registry_up: None,
            kubeconfig: target.kubeconfig().display().to_string(),
            source: target.source().display().to_string(),
            context: target.context.clone(),
            identity: None,
        })
    }

    #[cfg(feature = "ops")]
    fn delete(&self, _cx: &super::ops::Cx) -> Result<()> {
        anyhow::bail!("a remote stage's cluster is never deleted by Stagecraft")
    }

    #[cfg(feature = "ops")]
    fn registry(&self, target: &super::ops::Target, registry_var: Option<&str>) -> Result<String> {
        use anyhow::Context;
        registry_var
            .map(|r| r.trim_end_matches('/').to_owned())
            .with_context(|| {
                format!(
                    "stage {} is remote and names no REGISTRY for images\n  hint: set REGISTRY under [vars] in envs/{}.toml",
                    target.stage.name, target.stage.name
                )
            })
    }

    #[cfg(feature = "ops")]
    fn tools(&self, operation: super::ops::Operation) -> &'static [crate::toolbox::Tool] {
        use super::ops::Operation;
        use crate::toolbox::Tool;
        match operation {
            Operation::Bootstrap | Operation::Status => &[Tool::Kubectl],
            Operation::Delete => &[],
        }
    }
}
