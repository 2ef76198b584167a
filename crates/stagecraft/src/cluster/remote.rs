//! The remote provider's operations: an existing cluster, reached through
//! `deps/kube/<cluster>-<stage>.yaml` and a context in it. Stagecraft never
//! creates or deletes it; bootstrap checks it and creates the namespaces.

use anyhow::{Context, Result};
use stagecraft_core::cluster::Remote;

use super::context::{Cx, Operation, check_reachable, namespaces, nodes_ready};
use super::provider::Operations;
use super::status::Status;
use super::target::Target;
use super::{gateway, identity};
use crate::tools::toolbox::Tool;

impl Operations for Remote {
    fn bootstrap(&self, cx: &Cx) -> Result<()> {
        check_reachable(cx)?;
        identity::verify(cx.repo, cx.target, cx.tools, cx.runner)?;
        cx.say(&format!(
            "✔ cluster {}: the API server answers (context {})",
            cx.target.name(),
            cx.target.context
        ));
        gateway::check(cx)?;
        namespaces(cx)
    }

    fn status(&self, cx: &Cx) -> Result<Status> {
        let target = cx.target;
        let exists = check_reachable(cx).is_ok();
        let nodes_ready = if exists { nodes_ready(cx) } else { None };
        Ok(Status {
            cluster: target.cluster.clone(),
            stage: target.stage.name.clone(),
            target: target.stage.target(),
            exists,
            gateway: if exists { gateway::status(cx) } else { None },
            nodes_ready,
            registry_up: None,
            kubeconfig: target.kubeconfig().display().to_string(),
            source: target.source().display().to_string(),
            context: target.context.clone(),
            identity: None,
        })
    }

    fn delete(&self, _cx: &Cx) -> Result<()> {
        anyhow::bail!("a remote stage's cluster is never deleted by Stagecraft")
    }

    fn registry(&self, target: &Target, registry_var: Option<&str>) -> Result<String> {
        registry_var
            .map(|r| r.trim_end_matches('/').to_owned())
            .with_context(|| {
                format!(
                    "stage {} is remote and names no REGISTRY for images\n  hint: set REGISTRY under [vars] in envs/{}.toml",
                    target.stage.name, target.stage.name
                )
            })
    }

    fn tools(&self, operation: Operation) -> &'static [Tool] {
        match operation {
            Operation::Bootstrap | Operation::Status => &[Tool::Kubectl],
            Operation::Delete => &[],
        }
    }
}
