use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use super::DryRun;
use crate::complete;

/// Scaffold a cluster or an app the way this repository lays them out.
///
/// Nothing is ever overwritten: an existing cluster or app is refused and
/// left as it was. Names follow DNS-1123 (lowercase letters, digits, '-').
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask init cluster shop                 # clusters/shop: cluster.toml, kind.yaml
  cargo xtask init app checkout --cluster shop  # an app on the shared chart, values for every stage
  cargo xtask init app web --dry-run            # the files it would write")]
pub struct InitArgs {
    #[command(subcommand)]
    pub command: InitCommand,
}

#[derive(Subcommand)]
pub enum InitCommand {
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
