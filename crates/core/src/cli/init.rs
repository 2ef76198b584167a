use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use super::DryRun;
use crate::complete;

/// Adopt an existing repository, or scaffold a cluster or an app.
///
/// Nothing is ever overwritten: an existing file, cluster or app is refused
/// and left as it was. Names follow DNS-1123 (lowercase letters, digits, '-').
#[derive(Args)]
#[command(after_long_help = "Examples:
  stagecraft init repo --dry-run                # in your repository: what it would add
  stagecraft init repo --cluster shop           # adopt it: stages, a cluster, an app per chart/kustomization/manifests
  cargo xtask init cluster shop                 # clusters/shop: cluster.toml, kind.yaml
  cargo xtask init app checkout --cluster shop  # an app on the shared chart, values for every stage
  cargo xtask init app web --dry-run            # the files it would write")]
pub struct InitArgs {
    #[command(subcommand)]
    pub command: InitCommand,
}

#[derive(Subcommand)]
pub enum InitCommand {
    /// Adopt the git repository this folder is in: shell.toml, envs/ (local
    /// and test on kind, stage and prod remote, prod protected), a cluster,
    /// an app per Helm chart, kustomization or folder of manifests found
    /// (with the images skaffold.yaml and the Dockerfiles build), and
    /// deps/. No existing file is changed.
    Repo {
        /// The cluster's name (default: the repository folder's).
        #[arg(long)]
        cluster: Option<String>,
        #[command(flatten)]
        dry_run: DryRun,
        #[command(flatten)]
        json: super::Json,
    },
    /// clusters/NAME with cluster.toml (its own gateway ports) and kind.yaml.
    Cluster {
        name: String,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// clusters/CLUSTER/apps/NAME: app.toml, a Dockerfile, values for every stage.
    App {
        name: String,
        /// The cluster (default: the one of this folder, or the only one).
        #[arg(long, add = ArgValueCandidates::new(complete::clusters))]
        cluster: Option<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
}
