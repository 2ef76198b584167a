//! `stage instances` and `stage gc`: the instances (`STAGE@NAME`) that
//! live in a stage's clusters. Arguments only; the output is the
//! `stagecraft` crate's.

use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use super::{DryRun, Json};
use crate::complete;

/// A stage's instances (`STAGE@NAME`: previews, one per branch or
/// developer): list them, delete the expired ones.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask stage instances test             # owner, age, expiry, apps, URLs
  cargo xtask stage instances --json
  cargo xtask stage gc --dry-run               # what would go
  cargo xtask down test@pr-42                  # one instance, now")]
pub struct StageArgs {
    #[command(subcommand)]
    pub command: StageCommand,
}

#[derive(Subcommand)]
pub enum StageCommand {
    /// The live instances of a stage (default: every stage with
    /// `instances = true`) in each of its clusters.
    Instances(InstancesArgs),
    /// Delete the namespaces of expired instances (their
    /// `stagecraft.dev/expires-at` passed), and nothing else: never a
    /// namespace without both of Stagecraft's labels.
    Gc(GcArgs),
}

#[derive(Args)]
pub struct InstancesArgs {
    /// The stage (default: every stage with instances).
    #[arg(add = ArgValueCandidates::new(complete::stages))]
    pub stage: Option<String>,
    #[command(flatten)]
    pub json: Json,
}

#[derive(Args)]
pub struct GcArgs {
    /// The stage (default: every stage with instances).
    #[arg(add = ArgValueCandidates::new(complete::stages))]
    pub stage: Option<String>,
    #[command(flatten)]
    pub dry_run: DryRun,
}
