//! Where a cluster is reached: the kubeconfig file and the context in it,
//! computed once per cluster and stage and used by the stage environment
//! and by every tool call alike.

use std::path::PathBuf;

use anyhow::{Result, bail};

/// One cluster in one stage, as kubectl and helm reach it.
#[derive(Debug, Clone)]
pub struct KubeTarget {
    pub cluster: String,
    pub stage: String,
    /// `deps/kube/<cluster>-<stage>.yaml`: written by kind, or by the user
    /// for a remote stage; never `~/.kube/config`.
    pub kubeconfig: PathBuf,
    /// The context in it; a remote stage may name none (an error only for
    /// commands that reach the cluster).
    pub context: Option<String>,
}

impl KubeTarget {
    /// `<cluster>-<stage>`: the kind cluster's name, and the hosts block's.
    pub fn name(&self) -> String {
        format!("{}-{}", self.cluster, self.stage)
    }

    /// The context, or why there is none and how to name it.
    pub fn context(&self) -> Result<&str> {
        match &self.context {
            Some(context) => Ok(context),
            None => bail!(
                "stage {stage} is remote but names no context for cluster {cluster}\n  hint: set `context = \"...\"` in envs/{stage}.toml, or under [stages.{stage}] in clusters/{cluster}/cluster.toml",
                stage = self.stage,
                cluster = self.cluster
            ),
        }
    }
}
