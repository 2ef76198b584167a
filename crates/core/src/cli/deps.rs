use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use super::{DryRun, Json};
use crate::complete;

/// Pinned tools (kubectl, helm, skaffold, kind) in deps/bin/.
///
/// deps/deps.toml pins each tool's version, download URL and sha256 per
/// platform. Downloads are verified before anything lands in deps/bin/.
/// XTASK_DEPS_MIRROR (or [deps] mirror in shell.toml) rewrites
/// https://HOST/PATH to <mirror>/HOST/PATH; file:// mirrors read from disk.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask deps install                 # everything missing or stale, in parallel
  cargo xtask deps install helm --dry-run  # what would be downloaded
  cargo xtask deps list --json
  cargo xtask deps check                   # non-zero when anything is missing (CI)
  cargo xtask deps lock kubectl --version 1.35.3
  XTASK_DEPS_MIRROR=file:///srv/mirror cargo xtask deps install")]
pub struct DepsArgs {
    #[command(subcommand)]
    pub command: DepsCommand,
}

#[derive(Subcommand)]
pub enum DepsCommand {
    /// Download what is missing or at another version into deps/bin/.
    Install(InstallArgs),
    /// Pinned, installed and on-PATH versions side by side.
    List(Json),
    /// Exit non-zero when any tool is missing, stale or modified.
    Check(Json),
    /// Pin the official checksums of all four platforms in deps/deps.toml.
    Lock(LockArgs),
}

#[derive(Args)]
pub struct InstallArgs {
    /// Only these tools (default: all).
    #[arg(add = ArgValueCandidates::new(complete::tools))]
    pub tools: Vec<String>,
    /// Reinstall even what is up to date.
    #[arg(long)]
    pub force: bool,
    /// Install only what deps.toml pins: a tool without a sha256 is an
    /// error instead of being pinned on first use (always so when CI is set).
    #[arg(long)]
    pub locked: bool,
    #[command(flatten)]
    pub dry_run: DryRun,
}

#[derive(Args)]
pub struct LockArgs {
    /// Only these tools (default: all).
    #[arg(add = ArgValueCandidates::new(complete::tools))]
    pub tools: Vec<String>,
    /// Move the tool to this version (one tool).
    #[arg(long, requires = "tools")]
    pub version: Option<String>,
    #[command(flatten)]
    pub dry_run: DryRun,
}
