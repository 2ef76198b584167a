use clap::Args;
use clap_complete::engine::ArgValueCandidates;

use super::DryRun;
use crate::complete;

/// Everything, in one command: pinned tools, every cluster, images,
/// every app, then the apps' URLs. Each step is skipped when already done.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask up                 # the default stage (local)
  cargo xtask up test --dry-run  # the whole plan, in order
  cargo xtask down               # delete the local kind clusters")]
pub struct UpArgs {
    /// The stage (default: project.default_stage).
    #[arg(add = ArgValueCandidates::new(complete::stages))]
    pub stage: Option<String>,
    /// Releases deployed at once.
    #[arg(long, default_value_t = crate::cli::DEFAULT_JOBS)]
    pub jobs: usize,
    #[command(flatten)]
    pub dry_run: DryRun,
    /// Confirm a protected stage.
    #[arg(long)]
    pub yes: bool,
    /// Install only pinned tools: a tool without a sha256 is an error
    /// instead of being pinned on first use (always so when CI is set).
    #[arg(long)]
    pub locked: bool,
    /// On a protected stage, ship a work tree with uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
    #[command(flatten)]
    pub affected: crate::cli::AffectedArgs,
    /// An instance's time to live, 1h to 30d (see `app deploy --ttl`).
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
}

/// Delete the kind clusters of a stage (never remote or protected ones).
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask down
  cargo xtask down test --dry-run")]
pub struct DownArgs {
    #[arg(add = ArgValueCandidates::new(complete::stages))]
    pub stage: Option<String>,
    #[command(flatten)]
    pub dry_run: DryRun,
}
