use std::path::PathBuf;

use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use super::{DryRun, Json, StageArg};
use crate::complete;

/// Clusters: kind clusters for kind stages, existing clusters for remote ones.
///
/// The kind cluster of CLUSTER in stage S is named <cluster>-<stage>, its
/// kubeconfig is deps/kube/<cluster>-<stage>.yaml (tools get a copy with
/// only its context, deps/kube/views/), and its gateway host ports come from
/// [stages.S] in clusters/<cluster>/cluster.toml, so local and test run side
/// by side.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask cluster bootstrap                    # the cluster of this folder, default stage
  cargo xtask cluster bootstrap hmlet --stage test --dry-run
  cargo xtask cluster status hmlet --json
  cargo xtask cluster add-hosts hmlet --stage local
  cargo xtask cluster remove-hosts hmlet --stage local   # the undo, with or without the cluster
  cargo xtask cluster pin hmlet --stage prod        # then commit cluster.toml
  cargo xtask cluster trust                         # trust the local CA: https:// on kind stages
  cargo xtask cluster delete hmlet --stage test")]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Make the cluster ready, step by step; each step is skipped when done.
    Bootstrap(BootstrapArgs),
    /// Exists, nodes ready, the Gateway and its listeners, registry up, kubeconfig and context.
    Status(StatusArgs),
    /// Delete a kind stage's cluster (never a remote or protected one).
    Delete(HostsArgs),
    /// Write the apps' hostnames into the hosts file (a block of its own).
    ///
    /// Asks before it edits the system hosts file ($XTASK_HOSTS_FILE, else
    /// /etc/hosts); --yes, or an explicit --hosts-file, does not ask.
    AddHosts(HostsEditArgs),
    /// Remove the block add-hosts wrote; needs no cluster.
    RemoveHosts(HostsEditArgs),
    /// Deploy every app of the cluster, in depends_on order.
    Deploy(DeployArgs),
    /// Record which cluster the stage's kubeconfig reaches (kube-system's
    /// UID and the API server); every change checks it first.
    ///
    /// For a remote stage it goes into clusters/<cluster>/cluster.toml
    /// (commit it: the team shares the check); a kind cluster is each
    /// machine's own, recorded under deps/kube/ (bootstrap does it when it
    /// creates the cluster). Pin again after recreating a cluster on purpose.
    Pin(PinArgs),
    /// How to trust the repository's local CA, which signs the HTTPS
    /// certificates of kind stages (made in deps/ca/ when missing).
    Trust(Json),
}

#[derive(Args)]
pub struct PinArgs {
    #[command(flatten)]
    pub which: Which,
    #[command(flatten)]
    pub json: Json,
}

#[derive(Args)]
pub struct DeployArgs {
    /// The cluster (default: the one of this folder, or the only one).
    #[arg(add = ArgValueCandidates::new(complete::clusters))]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub options: super::DeployFlags,
}

#[derive(Args)]
pub struct Which {
    /// The cluster (default: the one of this folder, or the only one).
    #[arg(add = ArgValueCandidates::new(complete::clusters))]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub stage: StageArg,
    #[command(flatten)]
    pub dry_run: DryRun,
}

#[derive(Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub which: Which,
    /// Confirm a bootstrap of a protected stage's cluster.
    #[arg(long)]
    pub yes: bool,
    /// Fetch only addons whose sha256 deps/deps.toml pins (always so when
    /// CI is set).
    #[arg(long)]
    pub locked: bool,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The cluster (default: the one of this folder, or the only one).
    #[arg(add = ArgValueCandidates::new(complete::clusters))]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub stage: StageArg,
    #[command(flatten)]
    pub json: Json,
}

#[derive(Args)]
pub struct HostsEditArgs {
    #[command(flatten)]
    pub hosts: HostsArgs,
    /// Edit the system hosts file without asking.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Args)]
pub struct HostsArgs {
    #[command(flatten)]
    pub which: Which,
    /// The hosts file (default: $XTASK_HOSTS_FILE, else /etc/hosts).
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Option<PathBuf>,
}
