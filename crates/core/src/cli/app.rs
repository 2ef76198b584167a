use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use super::{DeployFlags, DryRun, Json, StageArg};
use crate::complete;

/// Apps: helm releases with values layered per stage.
///
/// Values layer per release, later wins: the chart's own < values/comm/<release>.yaml
/// < values/<stage>/<release>.yaml < --set. Releases deploy as soon as what
/// they `needs` (and the apps they `depends_on`) are deployed.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask app deploy photos                  # the default stage
  cargo xtask app deploy photos frontend --stage test --jobs 8
  cargo xtask app deploy photos --stage prod --yes --set photos-api.replicaCount=4
  cargo xtask app deploy photos --dry-run        # the exact helm commands
  cargo xtask app render photos --stage prod     # helm template, real values
  cargo xtask app lint photos                    # helm lint, every stage
  cargo xtask app logs photos --release photos-api -f")]
pub struct AppArgs {
    #[command(subcommand)]
    pub command: AppCommand,
}

#[derive(Subcommand)]
pub enum AppCommand {
    /// helm upgrade --install every release, in dependency order, in parallel.
    Deploy(DeployArgs),
    /// helm template with the layered values, and the Secret of the
    /// containers' secret variables (masked).
    Render(RenderArgs),
    /// A release's values, merged, and the file and line that set each key.
    Values(ValuesArgs),
    /// helm lint every release for every stage.
    Lint(LintArgs),
    /// The live manifests against the rendered ones (helm-diff when installed).
    Diff(OneApp),
    /// docker build the app's images, tagged with the git sha, and push them.
    Build(BuildArgs),
    /// skaffold dev on a kind stage.
    Dev(OneApp),
    /// The state of each release (from helm's records in the cluster).
    Status(StatusArgs),
    /// The logs of a release's pods.
    Logs(LogsArgs),
    /// A shell in a ready pod of a release.
    Terminal(TerminalArgs),
    /// kubectl port-forward to a release's service.
    PortForward(PortForwardArgs),
    /// helm uninstall every release, in reverse dependency order.
    Delete(DeleteArgs),
}

#[derive(Args)]
pub struct DeployArgs {
    /// The apps (of the cluster of this folder, or found by name).
    #[arg(required = true, add = ArgValueCandidates::new(complete::apps))]
    pub apps: Vec<String>,
    #[command(flatten)]
    pub flags: DeployFlags,
    /// Deploy the apps these `depends_on` too (unchanged ones are skipped).
    #[arg(long)]
    pub with_needs: bool,
}

#[derive(Args)]
pub struct OneApp {
    #[arg(add = ArgValueCandidates::new(complete::apps))]
    pub app: String,
    #[command(flatten)]
    pub stage: StageArg,
    #[command(flatten)]
    pub dry_run: DryRun,
}

#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask app values photos --stage prod
  cargo xtask app values photos --stage prod --explain replicaCount
  cargo xtask app values photos --release postgresql --json")]
pub struct ValuesArgs {
    #[command(flatten)]
    pub of: ReleaseArgs,
    /// One key (or a key's subtree), e.g. `replicaCount` or `resources`:
    /// each layer that set it, latest first.
    #[arg(long, value_name = "KEY")]
    pub explain: Option<String>,
    #[command(flatten)]
    pub json: Json,
}

#[derive(Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub which: OneApp,
    /// Show the secret values in the Secret instead of ***.
    #[arg(long)]
    pub reveal: bool,
}

#[derive(Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub which: OneApp,
    /// Confirm a build for a protected stage (it pushes to its registry).
    #[arg(long)]
    pub yes: bool,
    /// On a protected stage, build a work tree with uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
}

#[derive(Args)]
pub struct TerminalArgs {
    #[command(flatten)]
    pub which: ReleaseArgs,
    /// Confirm a shell in a pod of a protected stage.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Args)]
pub struct LintArgs {
    #[arg(add = ArgValueCandidates::new(complete::apps))]
    pub app: String,
}

#[derive(Args)]
pub struct StatusArgs {
    #[arg(add = ArgValueCandidates::new(complete::apps))]
    pub app: String,
    #[command(flatten)]
    pub stage: StageArg,
    #[command(flatten)]
    pub json: Json,
}

#[derive(Args)]
pub struct ReleaseArgs {
    #[arg(add = ArgValueCandidates::new(complete::apps))]
    pub app: String,
    #[command(flatten)]
    pub stage: StageArg,
    /// The release (default: the app's only or first release built from an image).
    #[arg(long)]
    pub release: Option<String>,
}

#[derive(Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub which: ReleaseArgs,
    /// Keep following.
    #[arg(long, short)]
    pub follow: bool,
}

#[derive(Args)]
pub struct PortForwardArgs {
    #[command(flatten)]
    pub which: ReleaseArgs,
    /// LOCAL or LOCAL:REMOTE (default remote: the service port).
    pub port: String,
}

#[derive(Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub which: OneApp,
    /// Confirm a delete on a protected stage.
    #[arg(long)]
    pub yes: bool,
}
