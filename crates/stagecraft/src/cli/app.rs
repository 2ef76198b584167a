use anyhow::{Context, Result};
use stagecraft_core::cli::{Code, Ctx, StageArg};

use crate::app::releases::{self, AppAt, Diff};
use crate::app::{deploy, images, pods};
use crate::cli::progress::{self, DeployDisplay};
use crate::tools::toolbox::Planned;
use stagecraft_core::cli::app::*;
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::repo::Repo;
use stagecraft_core::stage::confirm;
use stagecraft_core::stage::environment::Secrets;
use stagecraft_core::ui;

/// The folder the command runs in, and `--cluster`.
struct Apps<'a> {
    ctx: &'a Ctx,
    cluster: Option<String>,
}

pub fn run(args: AppArgs, ctx: &Ctx) -> Result<Code> {
    let repo = ctx.repo()?;
    let ctx = &Apps {
        ctx,
        cluster: args.cluster.clone(),
    };
    match args.command {
        AppCommand::Deploy(args) => {
            let stage = args.flags.stage.stage.as_deref();
            let (cluster, chosen) = chosen_apps(ctx, &repo, &args.which, &[stage])?;
            if chosen.is_empty() {
                return Ok(Code::OK);
            }
            let apps = match args.with_needs {
                true => crate::app::model::with_needs(&repo, &cluster, &chosen)?,
                false => chosen,
            };
            let report = deploy::deploy(
                &repo,
                &cluster,
                &apps,
                &super::deploy_options(&args.flags)?,
                &DeployDisplay::new(),
                &Planned::default(),
            )?;
            progress::print_report(&report, args.flags.dry_run.dry_run, args.flags.json.json);
            report.result()?;
            Ok(Code::OK)
        }
        AppCommand::Render(RenderArgs {
            which,
            stage,
            dry_run,
            reveal,
        }) => {
            // Only the revealed values need the secret sources: a render
            // masks them anyway, and reviewing prod needs no prod password.
            let secrets = match reveal {
                true => Secrets::Resolve,
                false => Secrets::Skip,
            };
            let (cluster, apps) = chosen_apps(ctx, &repo, &which, &[stage.stage.as_deref()])?;
            for app in &apps {
                let at = AppAt::new(&repo, &cluster, app, stage.stage.as_deref(), secrets)?;
                let runner = Runner {
                    dry_run: dry_run.dry_run,
                };
                releases::render(&repo, &at, runner, reveal, |manifests| {
                    stagecraft_core::out!("{manifests}")
                })?;
            }
            Ok(Code::OK)
        }
        AppCommand::Values(args) => on_release(ctx, &repo, &args.of, |at, release| {
            let mut settings = crate::app::provenance::settings(&repo, release, &[])?;
            if let Some(key) = &args.explain {
                settings = crate::app::provenance::explain(settings, key, release)?;
            }
            if args.json.json {
                return stagecraft_core::cli::print_json(&settings);
            }
            stagecraft_core::outln!(
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
                    stagecraft_core::outln!(
                        "{} = {}",
                        setting.key,
                        ui::escape_controls(&shown(&setting.value))
                    );
                    for (i, origin) in setting.chain.iter().enumerate() {
                        let how = if i == 0 { "set" } else { "overridden" };
                        stagecraft_core::outln!(
                            "  {:<11} {:<10} {}  ({})",
                            origin.layer,
                            how,
                            origin.at,
                            ui::escape_controls(&shown(&origin.value))
                        );
                    }
                } else {
                    stagecraft_core::outln!(
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
            // Every stage is linted: affected in any of them.
            let stages: Vec<String> = repo.stage_names()?;
            let stages: Vec<Option<&str>> = stages.iter().map(|s| Some(s.as_str())).collect();
            let (cluster, apps) = chosen_apps(ctx, &repo, &args.which, &stages)?;
            for app in &apps {
                releases::lint(&repo, &cluster, app, |linted| match &linted.error {
                    None => stagecraft_core::outln!(
                        "- {} {}: a repository chart, not linted",
                        linted.stage,
                        linted.release
                    ),
                    Some(None) => stagecraft_core::outln!("✔ {} {}", linted.stage, linted.release),
                    Some(Some(_)) => stagecraft_core::outln!(
                        "{} {} {}",
                        ui::paint(ui::RED_BOLD, "✘"),
                        linted.stage,
                        linted.release
                    ),
                })?;
            }
            Ok(Code::OK)
        }
        AppCommand::Diff(args) => {
            // The live checksum is keyed over the secret values; a dry
            // run reads nothing live and needs none.
            let secrets = match args.dry_run.dry_run {
                true => Secrets::Skip,
                false => Secrets::Resolve,
            };
            let at = app_at(ctx, &repo, &args.app, &args.stage, secrets)?;
            let runner = Runner {
                dry_run: args.dry_run.dry_run,
            };
            for diff in releases::diff(&repo, &at, runner)? {
                match diff {
                    Diff::NoChanges(id) => stagecraft_core::outln!("= {id}: no changes"),
                    Diff::Changes(text) => stagecraft_core::out!("{text}"),
                }
            }
            Ok(Code::OK)
        }
        AppCommand::Build(BuildArgs {
            which,
            stage,
            dry_run,
            yes,
            allow_dirty,
            force,
        }) => {
            let (cluster, apps) = chosen_apps(ctx, &repo, &which, &[stage.stage.as_deref()])?;
            let target = crate::cluster::Target::new(&repo, &cluster, stage.resolve(&repo)?)?;
            let runner = Runner {
                dry_run: dry_run.dry_run,
            };
            if !runner.dry_run && !apps.is_empty() {
                let on = target.name();
                confirm::clean_tree(&repo.root, &target.stage, allow_dirty, "build")?;
                confirm::protected(&target.stage, yes, "build and push", Some(&on))?;
            }
            let planned = Planned::default();
            let built = std::cell::RefCell::new(images::Built::new());
            let answers = match force {
                true => None,
                false => Some(images::ask_registries(&repo, &target, &apps)?),
            };
            let options = images::Options {
                skip_present: !force,
                check_cluster: true,
                built: Some(&built),
                answers: answers.as_ref(),
            };
            for app in &apps {
                images::build(&repo, &target, app, &runner, &options, &planned)?;
            }
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
            let dev = crate::app::dev::dev(&repo, &at, &args.app, Runner { dry_run })?;
            if dry_run {
                stagecraft_core::outln!("{}", dev.cmd);
                return Ok(Code::OK);
            }
            pass_through(dev.cmd.clone())
        }
        AppCommand::Status(args) => {
            let at = app_at(ctx, &repo, &args.app, &args.stage, Secrets::Skip)?;
            let rows = releases::status(&repo, &at)?;
            if args.json.json {
                return stagecraft_core::cli::print_json(&rows);
            }
            for row in &rows {
                let drift = match row.drift {
                    Some(true) => "  drifted (app drift)",
                    _ => "",
                };
                stagecraft_core::outln!(
                    "{:<16} {:<12} {:<16} rev {:<4} {}{drift}",
                    row.release,
                    row.namespace,
                    row.status,
                    row.revision.map_or("-".to_owned(), |r| r.to_string()),
                    row.source
                );
            }
            Ok(Code::OK)
        }
        AppCommand::Logs(args) => on_release(ctx, &repo, &args.which, |at, release| {
            pass_through(pods::logs(
                &repo,
                at,
                release,
                args.which.workload.as_deref(),
                args.follow,
            )?)
        }),
        AppCommand::Terminal(TerminalArgs { which, yes }) => {
            on_release(ctx, &repo, &which, |at, release| {
                let on = at.target.name();
                confirm::protected(&at.target.stage, yes, "a shell in a pod", Some(&on))?;
                pass_through(pods::terminal(
                    &repo,
                    at,
                    release,
                    which.workload.as_deref(),
                )?)
            })
        }
        AppCommand::PortForward(args) => on_release(ctx, &repo, &args.which, |at, release| {
            pass_through(pods::port_forward(
                &repo,
                at,
                release,
                args.which.workload.as_deref(),
                &args.port,
            )?)
        }),
        AppCommand::Delete(DeleteArgs { which, yes }) => {
            let at = app_at(ctx, &repo, &which.app, &which.stage, Secrets::Skip)?;
            let runner = Runner {
                dry_run: which.dry_run.dry_run,
            };
            releases::delete(&repo, &at, runner, yes, |release| {
                if !runner.dry_run {
                    ui::say(&format!("- {} removed", release.id()));
                }
            })?;
            Ok(Code::OK)
        }
        AppCommand::Images(args) => {
            let which = AppsArg {
                apps: args.apps.clone(),
                affected: args.affected.clone(),
            };
            let stage = args.stage.resolve(&repo)?;
            let (cluster, mut apps) = chosen_apps(ctx, &repo, &which, &[Some(&stage.name)])?;
            if args.apps.is_empty() && !args.affected.affected {
                apps = crate::app::model::enabled_apps(&repo, &cluster, &stage.name)?;
            }
            let target = crate::cluster::Target::new(&repo, &cluster, stage)?;
            let listed = images::list(&repo, &target, &apps)?;
            if args.json.json {
                return stagecraft_core::cli::print_json(&listed);
            }
            let width = listed
                .iter()
                .map(|l| l.app.len() + l.image.len() + 1)
                .max()
                .unwrap_or(0);
            for image in &listed {
                let name = format!("{}/{}", image.app, image.image);
                stagecraft_core::outln!("{name:width$}  {}  ({})", image.reference, image.context);
            }
            Ok(Code::OK)
        }
        AppCommand::Drift(args) => {
            let at = app_at(ctx, &repo, &args.app, &args.stage, Secrets::Skip)?;
            let drifts = crate::app::drift::drift(&repo, &at.target, &at.releases)?;
            let drifted = drifts.iter().any(|d| d.drifted());
            if args.json.json {
                stagecraft_core::cli::print_json(&drifts)?;
            } else {
                for release in &drifts {
                    stagecraft_core::outln!("{}: {}", release.release, release.state);
                    for object in &release.objects {
                        if object.missing {
                            stagecraft_core::outln!(
                                "  {} (namespace {}): gone",
                                object.object,
                                object.namespace
                            );
                        }
                        for field in &object.fields {
                            stagecraft_core::outln!(
                                "  {} {}: applied {}, live {}",
                                object.object,
                                field.path,
                                ui::escape_controls(&field.applied.to_string()),
                                ui::escape_controls(&field.live.to_string())
                            );
                        }
                    }
                }
            }
            Ok(if drifted { Code::of(1) } else { Code::OK })
        }
        AppCommand::Promote(args) => {
            let cluster = cluster_of_apps(ctx, &repo, std::slice::from_ref(&args.app))?;
            let options = crate::app::promote::Options {
                from: args.from.clone(),
                to: args.to.clone(),
                dry_run: args.dry_run.dry_run,
                yes: args.yes,
                jobs: args.jobs,
            };
            let (promoted, report) = crate::app::promote::promote(
                &repo,
                &cluster,
                &args.app,
                &options,
                &DeployDisplay::new(),
            )?;
            for image in &promoted {
                ui::say(&format!(
                    "{}: {} from {} (running {}), not rebuilt",
                    image.image, image.reference, args.from, image.running
                ));
            }
            progress::print_summary(&report, args.dry_run.dry_run);
            report.result()?;
            Ok(Code::OK)
        }
        AppCommand::Intercept(args) => on_release(ctx, &repo, &args.which, |at, _| {
            let options = crate::app::intercept::Options {
                release: args.which.release.as_deref(),
                workload: args.which.workload.as_deref(),
                port: args.port,
                command: &args.command,
                dry_run: args.dry_run.dry_run,
                yes: args.yes,
            };
            let code = crate::app::intercept::intercept(&repo, at, &args.which.app, &options)?;
            Ok(Code::of(code))
        }),
    }
}

/// Runs an interactive tool with the terminal; its exit code passes
/// through.
fn pass_through(cmd: Cmd) -> Result<Code> {
    Ok(Code::of(cmd.status()?))
}

/// The cluster and the apps `which` names; with --affected, those of them
/// (or of the cluster: --cluster, this folder's, or the only one) whose
/// inputs changed in any of `stages`, each named with why on stderr.
fn chosen_apps(
    ctx: &Apps,
    repo: &Repo,
    which: &AppsArg,
    stages: &[Option<&str>],
) -> Result<(String, Vec<String>)> {
    let cluster = match which.apps.is_empty() {
        false => cluster_of_apps(ctx, repo, &which.apps)?,
        true => match repo
            .scope(&ctx.ctx.cwd, ctx.cluster.as_deref(), None)?
            .cluster
        {
            Some(cluster) => cluster,
            None => match repo.cluster_names()?.as_slice() {
                [only] => only.clone(),
                _ => anyhow::bail!(
                    "which cluster's affected apps? pass --cluster NAME, or run it in a cluster's folder"
                ),
            },
        },
    };
    if !which.affected.affected {
        return Ok((cluster, which.apps.clone()));
    }
    let mut chosen: Vec<String> = Vec::new();
    for stage in stages {
        let stage = repo.stage_or_default(*stage)?;
        let affected = which.affected.resolve(repo, &stage)?.expect("--affected");
        for app in affected.apps.iter().filter(|a| a.cluster == cluster) {
            let named = which.apps.is_empty() || which.apps.contains(&app.app);
            if named && !chosen.contains(&app.app) {
                if !ui::quiet() {
                    stagecraft_core::errln!(
                        "affected: {} (since {}: {})",
                        app.app,
                        app.since,
                        app.why.join(", ")
                    );
                }
                chosen.push(app.app.clone());
            }
        }
    }
    if chosen.is_empty() && !ui::quiet() {
        stagecraft_core::errln!("no app of {cluster} is affected: nothing to do");
    }
    Ok((cluster, chosen))
}

/// The cluster the apps belong to: this folder's, else where they are
/// found.
fn cluster_of_apps(ctx: &Apps, repo: &Repo, apps: &[String]) -> Result<String> {
    let first = apps.first().context("name at least one app")?;
    let scope = repo.scope(&ctx.ctx.cwd, ctx.cluster.as_deref(), Some(first))?;
    let cluster = scope.cluster.expect("an app's scope has its cluster");
    for app in apps {
        repo.scope(&ctx.ctx.cwd, Some(&cluster), Some(app))?;
    }
    Ok(cluster)
}

fn app_at(ctx: &Apps, repo: &Repo, app: &str, stage: &StageArg, secrets: Secrets) -> Result<AppAt> {
    let cluster = cluster_of_apps(ctx, repo, &[app.to_owned()])?;
    AppAt::new(repo, &cluster, app, stage.stage.as_deref(), secrets)
}

/// `f` with the app in its stage and the release `which` names (or
/// the app's main one); secrets are not needed to reach a release.
fn on_release<T>(
    ctx: &Apps,
    repo: &Repo,
    which: &ReleaseArgs,
    f: impl FnOnce(&AppAt, &crate::app::model::Release) -> Result<T>,
) -> Result<T> {
    let at = app_at(ctx, repo, &which.app, &which.stage, Secrets::Skip)?;
    let release = at.release(which.release.as_deref(), &which.app)?;
    f(&at, release)
}
