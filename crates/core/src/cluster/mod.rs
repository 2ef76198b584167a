//! Stage providers: who makes a stage's clusters and how they are reached.
//! `kind` creates a local kind cluster per cluster and stage; `remote`
//! uses an existing cluster through a kubeconfig file and context.
//!
//! Adding a provider (k3d, a cloud's "fetch the kubeconfig" flow) is one
//! file implementing [`Provider`] plus one arm in [`provider`] (and the
//! name in `config::Target`). Everything else asks the provider what it
//! can do instead of testing which one it is.

mod kind;
pub mod kube;
mod remote;

use anyhow::Result;

use crate::cluster::kube::KubeTarget;
use crate::config::{ClusterStage, ClusterToml, Loaded, Target};
use crate::repo::{Repo, Stage};

pub use kind::Kind;
pub use remote::Remote;

/// What a provider can do, and how.
pub trait Provider: Sync {
    /// Stagecraft creates and deletes this stage's clusters.
    fn creates_clusters(&self) -> bool;
    /// Images go to a registry on this machine (localhost:5001).
    fn has_local_registry(&self) -> bool;
    /// The apps' hostnames resolve through the hosts file.
    fn uses_hosts_file(&self) -> bool;
    /// Each stage needs host ports of its own (`http_port`, `https_port`).
    fn needs_ports(&self) -> bool;
    /// The team shares the cluster: its identity is pinned in cluster.toml
    /// (a kind cluster is each machine's own, recorded under deps/kube).
    fn shares_clusters(&self) -> bool;
    /// The context of `cluster` in this stage's kubeconfig.
    fn kube_context(
        &self,
        cluster: &str,
        stage: &Stage,
        table: Option<&ClusterStage>,
        file: &Loaded<ClusterToml>,
    ) -> Result<Option<String>>;
}

/// The provider of a stage's target.
pub fn provider(kind: Target) -> &'static dyn Provider {
    match kind {
        Target::Kind => &kind::Kind,
        Target::Remote => &remote::Remote,
    }
}

/// How `cluster` is reached in `stage`.
pub fn kube_target(repo: &Repo, stage: &Stage, cluster: &str) -> Result<KubeTarget> {
    let file = repo.cluster(cluster)?;
    let table = stage_table(&file.value, &stage.name);
    let provider = provider(stage.target());
    let context = provider.kube_context(cluster, stage, table, &file)?;
    Ok(KubeTarget::new(
        &repo.kube_dir(),
        cluster,
        &stage.name,
        context,
        provider.creates_clusters(),
    ))
}

/// The `[stages.<stage>]` table of a cluster file.
pub fn stage_table<'a>(file: &'a ClusterToml, stage: &str) -> Option<&'a ClusterStage> {
    file.stages
        .iter()
        .find(|(k, _)| k.get_ref() == stage)
        .map(|(_, table)| table)
}
