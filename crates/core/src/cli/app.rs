use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use super::{AffectedArgs, DeployFlags, DryRun, Json, StageArg};
use crate::complete;

/// Apps: releases (Helm charts, kustomizations, manifests) per stage.
///
/// A chart's values layer per release, later wins: the chart's own <
/// values/comm/<release>.yaml < values/<stage>/<release>.yaml < `set` <
/// --set. The app's built images replace images of the same name in every
/// release's manifests. Releases deploy as soon as what they `needs` (and
/// the apps they `depends_on`) are deployed.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask app deploy photos                  # the default stage
  cargo xtask app deploy photos frontend --stage test --jobs 8
  cargo xtask app deploy photos --stage prod --yes --set photos-api.replicaCount=4
  cargo xtask app deploy photos --dry-run        # the exact helm commands
  cargo xtask app render photos --stage prod     # helm template, real values
  cargo xtask app lint photos                    # helm lint, every stage
  cargo xtask app logs photos --release photos-api -f
  cargo xtask app status shop --cluster boutique  # an app of another cluster
  cargo xtask app deploy --affected --since origin/main --stage test   # only what changed
  cargo xtask app drift photos --stage prod      # live objects against the last deploy
  cargo xtask app promote photos --from test --to stage   # test's images, unchanged")]
pub struct AppArgs {
    #[command(subcommand)]
    pub command: AppCommand,
    /// The cluster of the apps (default: the one whose folder you are in,
    /// else the one that has an app of that name).
    #[arg(long, global = true, value_name = "CLUSTER", add = ArgValueCandidates::new(complete::clusters))]
    pub cluster: Option<String>,
}

#[derive(Subcommand)]
pub enum AppCommand {
    /// Deploy every release (helm upgrade --install, or a server-side apply
    /// with pruning), in dependency order, in parallel.
    Deploy(DeployArgs),
    /// The manifests as a deploy applies them (helm template, kustomize,
    /// manifests; images rewritten), and the Secret of the containers'
    /// secret variables (masked).
    Render(RenderArgs),
    /// A release's values, merged, and the file and line that set each key.
    Values(ValuesArgs),
    /// helm lint every chart of the repository for every stage (a
    /// kustomization or manifests: they render, every document an object).
    Lint(LintArgs),
    /// The live manifests against the rendered ones (helm-diff when
    /// installed; kubectl diff and what would be pruned).
    Diff(OneApp),
    /// docker build the app's images, each tagged with the hash of its
    /// inputs, and push them (a tag the registry has is skipped).
    Build(BuildArgs),
    /// skaffold dev on a kind stage.
    Dev(OneApp),
    /// The state of each release (helm's records, or the inventory).
    Status(StatusArgs),
    /// The logs of a release's pods.
    Logs(LogsArgs),
    /// A shell in a ready pod of a release.
    Terminal(TerminalArgs),
    /// kubectl port-forward to a release's service.
    PortForward(PortForwardArgs),
    /// Remove every release (helm uninstall, or everything its inventory
    /// lists), in reverse dependency order.
    Delete(DeleteArgs),
    /// The images of the apps, each with the tag of its inputs and its
    /// reference in the stage (what build pushes and deploy runs).
    Images(ImagesArgs),
    /// The live objects of each release against what its last deploy
    /// applied (the fields it set, as the cluster has them now); exit
    /// status 1 when something drifted.
    Drift(DriftArgs),
    /// Deploy to another stage the exact images (by digest) running in
    /// one stage: nothing is built.
    Promote(PromoteArgs),
    /// Run one service on your machine with the stage's traffic for it
    /// (telepresence): CMD gets the app's stage environment over the
    /// intercepted pod's; the intercept is left on every exit.
    Intercept(InterceptArgs),
}

#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask app intercept photos --stage local -- python3 src/server.py
  cargo xtask app intercept photos --stage test@pr-42 --port 8080 -- npm run dev
  cargo xtask app intercept photos --dry-run -- ./run.sh   # the exact telepresence commands")]
pub struct InterceptArgs {
    #[command(flatten)]
    pub which: ReleaseArgs,
    /// The local port the traffic goes to (default: the Service's port).
    #[arg(long)]
    pub port: Option<u16>,
    #[command(flatten)]
    pub dry_run: DryRun,
    /// Confirm an intercept on a protected stage.
    #[arg(long)]
    pub yes: bool,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

/// The apps named, or with --affected the ones whose inputs changed.
#[derive(Args)]
pub struct AppsArg {
    /// The apps (of the cluster of this folder, or found by name).
    #[arg(required_unless_present = "affected", add = ArgValueCandidates::new(complete::apps))]
    pub apps: Vec<String>,
    #[command(flatten)]
    pub affected: AffectedArgs,
}

#[derive(Args)]
pub struct ImagesArgs {
    /// The apps (default: every app on in the stage).
    #[arg(add = ArgValueCandidates::new(complete::apps))]
    pub apps: Vec<String>,
    #[command(flatten)]
    pub affected: AffectedArgs,
    #[command(flatten)]
    pub stage: StageArg,
    #[command(flatten)]
    pub json: Json,
}

/// One app in a stage, reported (as `status`).
pub type DriftArgs = StatusArgs;

#[derive(Args)]
pub struct PromoteArgs {
    #[arg(add = ArgValueCandidates::new(complete::apps))]
    pub app: String,
    /// The stage whose running images go.
    #[arg(long, value_name = "STAGE", add = ArgValueCandidates::new(complete::stages))]
    pub from: String,
    /// The stage they go to.
    #[arg(long, value_name = "STAGE", add = ArgValueCandidates::new(complete::stages))]
    pub to: String,
    #[command(flatten)]
    pub dry_run: DryRun,
    /// Confirm a promotion to a protected stage.
    #[arg(long)]
    pub yes: bool,
    /// helm's --wait per release, as for deploy.
    #[arg(long, default_value_t = crate::cli::DEFAULT_JOBS)]
    pub jobs: usize,
}

#[derive(Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub which: AppsArg,
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
    pub which: AppsArg,
    #[command(flatten)]
    pub stage: StageArg,
    #[command(flatten)]
    pub dry_run: DryRun,
    /// Show the secret values in the Secret instead of ***.
    #[arg(long)]
    pub reveal: bool,
}

#[derive(Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub which: AppsArg,
    #[command(flatten)]
    pub stage: StageArg,
    #[command(flatten)]
    pub dry_run: DryRun,
    /// Confirm a build for a protected stage (it pushes to its registry).
    #[arg(long)]
    pub yes: bool,
    /// On a protected stage, build a work tree with uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
    /// Build and push even when the stage's registry has the tag already.
    #[arg(long)]
    pub force: bool,
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
    /// With --affected: the apps affected in any stage.
    #[command(flatten)]
    pub which: AppsArg,
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
    /// The Deployment, StatefulSet or DaemonSet of the release (default:
    /// its only one, or the one named like the release).
    #[arg(long)]
    pub workload: Option<String>,
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
