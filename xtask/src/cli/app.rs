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
    command: AppCommand,
}

#[derive(Subcommand)]
enum AppCommand {
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
struct DeployArgs {
    /// The apps (of the cluster of this folder, or found by name).
    #[arg(required = true, add = ArgValueCandidates::new(complete::apps))]
    apps: Vec<String>,
    #[command(flatten)]
    flags: DeployFlags,
    /// Deploy the apps these `depends_on` too (unchanged ones are skipped).
    #[arg(long)]
    with_needs: bool,
}

#[derive(Args)]
struct OneApp {
    #[arg(add = ArgValueCandidates::new(complete::apps))]
    app: String,
    #[command(flatten)]
    stage: StageArg,
    #[command(flatten)]
    dry_run: DryRun,
}

#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask app values photos --stage prod
  cargo xtask app values photos --stage prod --explain replicaCount
  cargo xtask app values photos --release postgresql --json")]
struct ValuesArgs {
    #[command(flatten)]
    of: ReleaseArgs,
    /// One key (or a key's subtree), e.g. `replicaCount` or `resources`:
    /// each layer that set it, latest first.
    #[arg(long, value_name = "KEY")]
    explain: Option<String>,
    #[command(flatten)]
    json: Json,
}

#[derive(Args)]
struct RenderArgs {
    #[command(flatten)]
    which: OneApp,
    /// Show the secret values in the Secret instead of ***.
    #[arg(long)]
    reveal: bool,
}

#[derive(Args)]
struct BuildArgs {
    #[command(flatten)]
    which: OneApp,
    /// Confirm a build for a protected stage (it pushes to its registry).
    #[arg(long)]
    yes: bool,
    /// On a protected stage, build a work tree with uncommitted changes.
    #[arg(long)]
    allow_dirty: bool,
}

#[derive(Args)]
struct TerminalArgs {
    #[command(flatten)]
    which: ReleaseArgs,
    /// Confirm a shell in a pod of a protected stage.
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
struct LintArgs {
    #[arg(add = ArgValueCandidates::new(complete::apps))]
    app: String,
}

#[derive(Args)]
struct StatusArgs {
    #[arg(add = ArgValueCandidates::new(complete::apps))]
    app: String,
    #[command(flatten)]
    stage: StageArg,
    #[command(flatten)]
    json: Json,
}

#[derive(Args)]
struct ReleaseArgs {
    #[arg(add = ArgValueCandidates::new(complete::apps))]
    app: String,
    #[command(flatten)]
    stage: StageArg,
    /// The release (default: the app's only or first release built from an image).
    #[arg(long)]
    release: Option<String>,
}

#[derive(Args)]
struct LogsArgs {
    #[command(flatten)]
    which: ReleaseArgs,
    /// Keep following.
    #[arg(long, short)]
    follow: bool,
}

#[derive(Args)]
struct PortForwardArgs {
    #[command(flatten)]
    which: ReleaseArgs,
    /// LOCAL or LOCAL:REMOTE (default remote: the service port).
    port: String,
}

#[derive(Args)]
struct DeleteArgs {
    #[command(flatten)]
    which: OneApp,
    /// Confirm a delete on a protected stage.
    #[arg(long)]
    yes: bool,
}

#[cfg(feature = "ops")]
mod output {
    use crate::cli::{Code, Ctx};
    use anyhow::{Context, Result};

    use super::*;
    use crate::cli::progress::{self, DeployDisplay};
    use crate::environment::Secrets;
    use crate::process::{Cmd, Runner};
    use crate::releases::{self, AppAt, Diff};
    use crate::repo::Repo;
    use crate::toolbox::Planned;
    use crate::ui;
    use crate::{confirm, deploy, images};

    impl AppArgs {
        pub fn run(self, ctx: &Ctx) -> Result<Code> {
            let repo = ctx.repo()?;
            match self.command {
                AppCommand::Deploy(args) => {
                    let cluster = cluster_of_apps(ctx, &repo, &args.apps)?;
                    let apps = match args.with_needs {
                        true => crate::apps::with_needs(&repo, &cluster, &args.apps)?,
                        false => args.apps.clone(),
                    };
                    let report = deploy::deploy(
                        &repo,
                        &cluster,
                        &apps,
                        &args.flags.options(),
                        &DeployDisplay::new(),
                        &Planned::default(),
                    )?;
                    progress::print_summary(&report, args.flags.dry_run.dry_run);
                    report.result()?;
                    Ok(Code::OK)
                }
                AppCommand::Render(RenderArgs { which, reveal }) => {
                    let at = app_at(ctx, &repo, &which.app, &which.stage, Secrets::Resolve)?;
                    let runner = Runner {
                        dry_run: which.dry_run.dry_run,
                    };
                    releases::render(&repo, &at, runner, reveal, |manifests| {
                        crate::out!("{manifests}")
                    })?;
                    Ok(Code::OK)
                }
                AppCommand::Values(args) => on_release(ctx, &repo, &args.of, |at, release| {
                    let mut settings = crate::provenance::settings(&repo, release, &[])?;
                    if let Some(key) = &args.explain {
                        settings = crate::provenance::explain(settings, key, release)?;
                    }
                    if args.json.json {
                        return crate::cli::print_json(&settings);
                    }
                    crate::outln!(
                        "# {} in stage {} (namespace {})",
                        release.id(),
                        at.target.stage.name,
                        release.namespace
                    );
                    for setting in &settings {
                        let shown = |v: &serde_json::Value| match v {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        if args.explain.is_some() {
                            crate::outln!(
                                "{} = {}",
                                setting.key,
                                ui::escape_controls(&shown(&setting.value))
                            );
                            for (i, origin) in setting.chain.iter().enumerate() {
                                let how = if i == 0 { "set" } else { "overridden" };
                                crate::outln!(
                                    "  {:<11} {:<10} {}  ({})",
                                    origin.layer,
                                    how,
                                    origin.at,
                                    ui::escape_controls(&shown(&origin.value))
                                );
                            }
                        } else {
                            crate::outln!(
                                "{} = {}    # {}",
                                setting.key,
                                ui::escape_controls(&shown(&setting.value)),
                                setting.chain[0].at
                            );
                        }
                    }
                    Ok(Code::OK)
                }),
                AppCommand::Lint(args) => {
                    let cluster = cluster_of_apps(ctx, &repo, std::slice::from_ref(&args.app))?;
                    releases::lint(&repo, &cluster, &args.app, |linted| match &linted.error {
                        None => crate::outln!(
                            "- {} {}: a repository chart, not linted",
                            linted.stage,
                            linted.release
                        ),
                        Some(None) => crate::outln!("✔ {} {}", linted.stage, linted.release),
                        Some(Some(_)) => crate::outln!(
                            "{} {} {}",
                            ui::paint(ui::RED_BOLD, "✘"),
                            linted.stage,
                            linted.release
                        ),
                    })?;
                    Ok(Code::OK)
                }
                AppCommand::Diff(args) => {
                    let at = app_at(ctx, &repo, &args.app, &args.stage, Secrets::Resolve)?;
                    let runner = Runner {
                        dry_run: args.dry_run.dry_run,
                    };
                    for diff in releases::diff(&repo, &at, runner)? {
                        match diff {
                            Diff::NoChanges(id) => crate::outln!("= {id}: no changes"),
                            Diff::Changes(text) => crate::out!("{text}"),
                        }
                    }
                    Ok(Code::OK)
                }
                AppCommand::Build(BuildArgs {
                    which,
                    yes,
                    allow_dirty,
                }) => {
                    let at = app_at(ctx, &repo, &which.app, &which.stage, Secrets::Skip)?;
                    let runner = Runner {
                        dry_run: which.dry_run.dry_run,
                    };
                    if !runner.dry_run {
                        let stage = &at.target.stage;
                        let on = at.target.name();
                        confirm::clean_tree(&repo.root, stage, allow_dirty, "build")?;
                        confirm::protected(stage, yes, "build and push", Some(&on))?;
                    }
                    let planned = Planned::default();
                    let options = images::Options {
                        skip_unchanged: false,
                        check_cluster: true,
                    };
                    images::build(&repo, &at.target, &which.app, &runner, &options, &planned)?;
                    Ok(Code::OK)
                }
                AppCommand::Dev(args) => {
                    let dry_run = args.dry_run.dry_run;
                    let secrets = if dry_run {
                        Secrets::Skip
                    } else {
                        Secrets::Resolve
                    };
                    let at = app_at(ctx, &repo, &args.app, &args.stage, secrets)?;
                    let dev = releases::dev(&repo, &at, &args.app, Runner { dry_run })?;
                    if dry_run {
                        crate::outln!("{}", dev.cmd);
                        return Ok(Code::OK);
                    }
                    pass_through(dev.cmd.clone())
                }
                AppCommand::Status(args) => {
                    let at = app_at(ctx, &repo, &args.app, &args.stage, Secrets::Skip)?;
                    let rows = releases::status(&repo, &at)?;
                    if args.json.json {
                        return crate::cli::print_json(&rows);
                    }
                    for row in &rows {
                        crate::outln!(
                            "{:<16} {:<12} {:<16} rev {}",
                            row.release,
                            row.namespace,
                            row.status,
                            row.revision.map_or("-".to_owned(), |r| r.to_string())
                        );
                    }
                    Ok(Code::OK)
                }
                AppCommand::Logs(args) => on_release(ctx, &repo, &args.which, |at, release| {
                    pass_through(releases::logs(&repo, at, release, args.follow)?)
                }),
                AppCommand::Terminal(TerminalArgs { which, yes }) => {
                    on_release(ctx, &repo, &which, |at, release| {
                        let on = at.target.name();
                        confirm::protected(&at.target.stage, yes, "a shell in a pod", Some(&on))?;
                        pass_through(releases::terminal(&repo, at, release)?)
                    })
                }
                AppCommand::PortForward(args) => {
                    on_release(ctx, &repo, &args.which, |at, release| {
                        pass_through(releases::port_forward(&repo, at, release, &args.port)?)
                    })
                }
                AppCommand::Delete(DeleteArgs { which, yes }) => {
                    let at = app_at(ctx, &repo, &which.app, &which.stage, Secrets::Skip)?;
                    let runner = Runner {
                        dry_run: which.dry_run.dry_run,
                    };
                    releases::delete(&repo, &at, runner, yes, |release| {
                        if !runner.dry_run {
                            ui::say(&format!("- {} uninstalled", release.id()));
                        }
                    })?;
                    Ok(Code::OK)
                }
            }
        }
    }

    /// Runs an interactive tool with the terminal; its exit code passes
    /// through.
    fn pass_through(cmd: Cmd) -> Result<Code> {
        Ok(Code::of(cmd.status()?))
    }

    /// The cluster the apps belong to: this folder's, else where they are
    /// found.
    fn cluster_of_apps(ctx: &Ctx, repo: &Repo, apps: &[String]) -> Result<String> {
        let first = apps.first().context("name at least one app")?;
        let scope = repo.scope(&ctx.cwd, None, Some(first))?;
        let cluster = scope.cluster.expect("an app's scope has its cluster");
        for app in apps {
            repo.scope(&ctx.cwd, Some(&cluster), Some(app))?;
        }
        Ok(cluster)
    }

    fn app_at(
        ctx: &Ctx,
        repo: &Repo,
        app: &str,
        stage: &StageArg,
        secrets: Secrets,
    ) -> Result<AppAt> {
        let cluster = cluster_of_apps(ctx, repo, &[app.to_owned()])?;
        AppAt::new(repo, &cluster, app, stage.stage.as_deref(), secrets)
    }

    /// `f` with the app in its stage and the release `which` names (or
    /// the app's main one); secrets are not needed to reach a release.
    fn on_release<T>(
        ctx: &Ctx,
        repo: &Repo,
        which: &ReleaseArgs,
        f: impl FnOnce(&AppAt, &crate::apps::Release) -> Result<T>,
    ) -> Result<T> {
        let at = app_at(ctx, repo, &which.app, &which.stage, Secrets::Skip)?;
        let release = at.release(which.release.as_deref(), &which.app)?;
        f(&at, release)
    }
}
