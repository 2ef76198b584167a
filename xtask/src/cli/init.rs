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
    command: InitCommand,
}

#[derive(Subcommand)]
enum InitCommand {
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

#[cfg(feature = "ops")]
mod output {
    use crate::cli::{Code, Ctx};
    use anyhow::Result;

    use super::*;
    use crate::init;

    impl InitArgs {
        pub fn run(self, ctx: &Ctx) -> Result<Code> {
            let repo = ctx.repo()?;
            match self.command {
                InitCommand::Cluster { name, dry_run } => {
                    init::check_name("cluster", &name)?;
                    let dest = repo.root.join("clusters").join(&name);
                    let files = init::cluster_files(&repo, &name)?;
                    init::create(&repo, &dest, &files, dry_run.dry_run)?;
                }
                InitCommand::App {
                    name,
                    cluster,
                    dry_run,
                } => {
                    init::check_name("app", &name)?;
                    let cluster = repo.cluster_or_only(&ctx.cwd, cluster.as_deref())?;
                    let dest = repo.app_dir(&cluster, &name);
                    let files = init::app_files(&repo, &name)?;
                    init::create(&repo, &dest, &files, dry_run.dry_run)?;
                }
            }
            Ok(Code::OK)
        }
    }
}
