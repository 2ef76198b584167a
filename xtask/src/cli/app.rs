use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::{Ctx, Exit};
use crate::apps::{self, Finished, Outcome, Plan, Release};
use crate::cluster::{self, Target};
use crate::complete;
use crate::process::{Cmd, Runner};
use crate::repo::Repo;
use crate::{suggest, tools, ui};

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
    /// helm template with the layered values.
    Render(OneApp),
    /// helm lint every release for every stage.
    Lint(LintArgs),
    /// The live manifests against the rendered ones (helm-diff when installed).
    Diff(OneApp),
    /// docker build the app's images, tagged with the git sha, and push them.
    Build(OneApp),
    /// skaffold dev on a kind stage.
    Dev(OneApp),
    /// helm status and rollout of each release.
    Status(StatusArgs),
    /// The logs of a release's pods.
    Logs(LogsArgs),
    /// A shell in a ready pod of a release.
    Terminal(ReleaseArgs),
    /// kubectl port-forward to a release's service.
    PortForward(PortForwardArgs),
    /// helm uninstall every release, in reverse dependency order.
    Delete(DeleteArgs),
}

#[derive(Args)]
pub struct StageArgs {
    /// The stage (default: project.default_stage).
    #[arg(long, add = ArgValueCandidates::new(complete::stages))]
    pub(super) stage: Option<String>,
}

#[derive(Args)]
pub struct DeployArgs {
    /// The apps (of the cluster of this folder, or found by name).
    #[arg(required = true, add = ArgValueCandidates::new(complete::apps))]
    apps: Vec<String>,
    #[command(flatten)]
    pub options: DeployOptions,
}

#[derive(Args)]
pub struct DeployOptions {
    #[command(flatten)]
    pub(super) stage: StageArgs,
    /// Releases deployed at once.
    #[arg(long, default_value_t = 4)]
    pub(super) jobs: usize,
    /// A value for one release: RELEASE.key=value.
    #[arg(long = "set", value_name = "RELEASE.KEY=VALUE")]
    pub(super) sets: Vec<String>,
    /// Print the exact commands, in order; run none.
    #[arg(long)]
    pub(super) dry_run: bool,
    /// Confirm a deploy to a protected stage.
    #[arg(long)]
    pub(super) yes: bool,
}

#[derive(Args)]
struct OneApp {
    #[arg(add = ArgValueCandidates::new(complete::apps))]
    app: String,
    #[command(flatten)]
    stage: StageArgs,
    #[arg(long)]
    dry_run: bool,
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
    stage: StageArgs,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ReleaseArgs {
    #[arg(add = ArgValueCandidates::new(complete::apps))]
    app: String,
    #[command(flatten)]
    stage: StageArgs,
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

impl AppArgs {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let repo = ctx.repo()?;
        match self.command {
            AppCommand::Deploy(args) => {
                let cluster = cluster_of_apps(ctx, &repo, &args.apps)?;
                deploy(&repo, &cluster, &args.apps, &args.options)
            }
            AppCommand::Render(args) => render(ctx, &repo, args),
            AppCommand::Lint(args) => lint(ctx, &repo, &args.app),
            AppCommand::Diff(args) => diff(ctx, &repo, args),
            AppCommand::Build(args) => build(ctx, &repo, args),
            AppCommand::Dev(args) => dev(ctx, &repo, args),
            AppCommand::Status(args) => status(ctx, &repo, args),
            AppCommand::Logs(args) => {
                let (target, release) = one_release(ctx, &repo, &args.which)?;
                let tools = cluster::prerequisites(&repo, false, false)?;
                let mut cmd =
                    tools
                        .kubectl(&target)
                        .args(["logs", "--namespace", &release.namespace]);
                cmd = cmd.arg(format!(
                    "--selector=app.kubernetes.io/instance={}",
                    release.name
                ));
                cmd = cmd.args(["--all-containers", "--prefix", "--tail=200"]);
                if args.follow {
                    cmd = cmd.arg("--follow");
                }
                pass_through(cmd)
            }
            AppCommand::Terminal(args) => {
                let (target, release) = one_release(ctx, &repo, &args)?;
                let tools = cluster::prerequisites(&repo, false, false)?;
                let pods = tools.kubectl(&target).args([
                    "get",
                    "pods",
                    "--namespace",
                    &release.namespace,
                    &format!("--selector=app.kubernetes.io/instance={}", release.name),
                    "--field-selector=status.phase=Running",
                    "--output",
                    "jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].ready}{\"\\n\"}{end}",
                ]);
                let listing = pods.read()?;
                let pod = listing
                    .lines()
                    .find_map(|l| l.strip_suffix(" true"))
                    .with_context(|| {
                        format!(
                            "no ready pod of {} in namespace {}",
                            release.id(),
                            release.namespace
                        )
                    })?;
                let shell = "command -v bash >/dev/null 2>&1 && exec bash || exec sh";
                pass_through(tools.kubectl(&target).args([
                    "exec",
                    "-it",
                    pod,
                    "--namespace",
                    &release.namespace,
                    "--",
                    "sh",
                    "-c",
                    shell,
                ]))
            }
            AppCommand::PortForward(args) => {
                let (target, release) = one_release(ctx, &repo, &args.which)?;
                let tools = cluster::prerequisites(&repo, false, false)?;
                let ports = if args.port.contains(':') {
                    args.port.clone()
                } else {
                    format!("{}:http", args.port)
                };
                pass_through(tools.kubectl(&target).args([
                    "port-forward",
                    &format!("service/{}", release.name),
                    &ports,
                    "--namespace",
                    &release.namespace,
                ]))
            }
            AppCommand::Delete(args) => delete(ctx, &repo, args),
        }
    }
}

/// Runs an interactive tool with the terminal; its exit code passes through.
fn pass_through(cmd: Cmd) -> Result<()> {
    match cmd.status()? {
        0 => Ok(()),
        code => Err(Exit(u8::try_from(code).unwrap_or(255)).into()),
    }
}

/// The cluster the apps belong to: this folder's, else where they are found.
fn cluster_of_apps(ctx: &Ctx, repo: &Repo, apps: &[String]) -> Result<String> {
    let first = apps.first().context("name at least one app")?;
    let scope = repo.scope(&ctx.cwd, None, Some(first))?;
    let cluster = scope.cluster.expect("an app's scope has its cluster");
    for app in apps {
        repo.scope(&ctx.cwd, Some(&cluster), Some(app))?;
    }
    Ok(cluster)
}

fn target_for(ctx: &Ctx, repo: &Repo, app: &str, stage: &StageArgs) -> Result<Target> {
    let cluster = cluster_of_apps(ctx, repo, &[app.to_owned()])?;
    let stage = repo.stage_or_default(stage.stage.as_deref())?;
    Target::resolve(repo, &cluster, stage)
}

/// Protected stages need --yes, or the stage's name typed on a terminal.
fn confirm(target: &Target, yes: bool, what: &str) -> Result<()> {
    if !target.stage.protected() || yes {
        return Ok(());
    }
    let stage = &target.stage.name;
    if !std::io::stdin().is_terminal() {
        bail!(
            "stage {stage} is protected: {what} needs --yes when there is no terminal to confirm on; nothing was run"
        );
    }
    eprint!(
        "{} {what} on protected stage {stage} ({}). Type the stage name to confirm: ",
        target.stage.emoji(),
        target.name
    );
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != stage {
        bail!("not confirmed: nothing was run");
    }
    Ok(())
}

/// The flags that make helm roll back a failed upgrade: helm 4's
/// `--rollback-on-failure`, helm 3's `--atomic`.
fn rollback_flag(runner: &Runner, helm: &Cmd) -> Result<&'static str> {
    let version = runner.ask(&helm.clone().args(["version", "--short"]))?;
    Ok(
        match tools::version_in(&version)
            .as_deref()
            .and_then(|v| v.split('.').next())
        {
            Some("3") => "--atomic",
            _ => "--rollback-on-failure",
        },
    )
}

fn helm(repo: &Repo, target: &Target, dry_run: bool) -> Result<Cmd> {
    Ok(Cmd::new(tools::resolve_planned(repo, "helm", dry_run)?)
        .env("KUBECONFIG", &target.kubeconfig))
}

/// `--set photos-api.replicaCount=4`: the release's part of the command
/// line's values.
fn sets_for(release: &Release, sets: &[String]) -> Vec<String> {
    sets.iter()
        .filter_map(|s| {
            s.strip_prefix(&format!("{}.", release.name))
                .map(str::to_owned)
        })
        .collect()
}

fn check_sets(plan: &Plan, sets: &[String]) -> Result<()> {
    let names: Vec<String> = plan.releases.iter().map(|r| r.name.clone()).collect();
    for set in sets {
        let release = set.split_once('.').map_or(set.as_str(), |(r, _)| r);
        if !names.iter().any(|n| n == release) || !set.contains('=') {
            let hint = suggest::unknown("release", release, &names).to_string();
            bail!("--set {set}: write RELEASE.KEY=VALUE; {hint}");
        }
    }
    Ok(())
}

/// The deploy of `apps` (one cluster) to a stage, shared by `app deploy`
/// and `cluster deploy`.
pub fn deploy(repo: &Repo, cluster: &str, apps: &[String], options: &DeployOptions) -> Result<()> {
    let stage = repo.stage_or_default(options.stage.stage.as_deref())?;
    let target = Target::resolve(repo, cluster, stage)?;
    let plan = apps::plan(repo, &target, apps)?;
    check_sets(&plan, &options.sets)?;
    if !options.dry_run {
        target.require_kubeconfig()?;
        confirm(&target, options.yes, "deploy")?;
    }
    let runner = Runner {
        dry_run: options.dry_run,
    };
    let helm = helm(repo, &target, options.dry_run)?;
    let rollback = rollback_flag(&runner, &helm)?;
    let upgrade = |release: &Release| -> Cmd {
        helm.clone()
            .args([
                "upgrade",
                "--install",
                &release.name,
                &release.chart,
                "--namespace",
                &release.namespace,
            ])
            .arg("--create-namespace")
            .arg("--kubeconfig")
            .arg(&target.kubeconfig)
            .args(["--kube-context", &target.context])
            .args(apps::value_args(release, &sets_for(release, &options.sets)))
            .args(["--wait", "--timeout", &release.timeout, rollback])
    };
    let jobs = if options.dry_run { 1 } else { options.jobs };
    let display = DeployDisplay::new(&plan.releases, &target, options.dry_run);
    let notifier = Notifier::new(&target, &plan, options.dry_run);
    let finished = apps::execute(
        &plan.releases,
        jobs,
        &|release| runner.run(&upgrade(release)).map(drop),
        &|release| {
            notifier.started(release);
            display.started(release);
        },
        &|release, done: &Finished| {
            display.finished(release, done);
            notifier.finished(release, &done.outcome);
        },
    );
    display.close();
    notifier.send_the_rest();
    if !options.dry_run && !ui::quiet() {
        print!("{}", apps::summary(&plan.releases, &finished));
    }
    let failed: Vec<String> = plan
        .releases
        .iter()
        .zip(&finished)
        .filter(|(_, f)| matches!(f.outcome, Outcome::Failed { .. }))
        .map(|(r, _)| r.id())
        .collect();
    if !failed.is_empty() {
        bail!(
            "the deploy to {} failed: {}",
            target.name,
            failed.join(", ")
        );
    }
    Ok(())
}

/// What a deploy shows while it runs: on a terminal a live table, a row
/// per release (waiting, deploying with its time, deployed, failed, not
/// started); elsewhere a line as each release starts and ends.
// One per deploy: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum DeployDisplay {
    Off,
    Lines,
    Table {
        _multi: MultiProgress,
        rows: HashMap<String, ProgressBar>,
        running: ProgressStyle,
        done: ProgressStyle,
    },
}

impl DeployDisplay {
    fn new(releases: &[Release], target: &Target, dry_run: bool) -> DeployDisplay {
        if dry_run || ui::quiet() {
            return DeployDisplay::Off;
        }
        if !std::io::stderr().is_terminal() {
            return DeployDisplay::Lines;
        }
        let multi = MultiProgress::new();
        let width = releases.iter().map(|r| r.id().len()).max().unwrap_or(10);
        let style = |template: &str| {
            ProgressStyle::with_template(
                &template.replace("PREFIX", &format!("{{prefix:<{width}}}")),
            )
            .expect("a valid template")
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
        };
        let (waiting, running, done) = (
            style("  PREFIX  {msg}"),
            style("{spinner} PREFIX  deploying {elapsed}"),
            style("  PREFIX  {msg}"),
        );
        let _ = multi.println(format!(
            "deploying to {} (context {})",
            target.name, target.context
        ));
        let rows = apps::deploy_order(releases)
            .into_iter()
            .map(|i| {
                let row = multi.add(ProgressBar::new_spinner().with_style(waiting.clone()));
                row.set_prefix(releases[i].id());
                row.set_message("waiting");
                (releases[i].id(), row)
            })
            .collect();
        DeployDisplay::Table {
            _multi: multi,
            rows,
            running,
            done,
        }
    }

    fn started(&self, release: &Release) {
        match self {
            DeployDisplay::Off => {}
            DeployDisplay::Lines => {
                eprintln!("▶ {} deploying ({})", release.id(), release.namespace)
            }
            DeployDisplay::Table { rows, running, .. } => {
                let row = &rows[&release.id()];
                row.set_style(running.clone());
                row.reset_elapsed();
                row.enable_steady_tick(Duration::from_millis(100));
            }
        }
    }

    fn finished(&self, release: &Release, done: &Finished) {
        let secs = done.duration.as_secs_f64();
        let text = match &done.outcome {
            Outcome::Deployed => format!("✔ deployed in {secs:.1}s"),
            _ => format!("{} failed after {secs:.1}s", ui::red_bold("✘")),
        };
        match self {
            DeployDisplay::Off => {}
            DeployDisplay::Lines => eprintln!("{} {text}", release.id()),
            DeployDisplay::Table {
                rows, done: style, ..
            } => {
                let row = &rows[&release.id()];
                row.set_style(style.clone());
                row.finish_with_message(text);
            }
        }
    }

    fn close(&self) {
        if let DeployDisplay::Table { rows, done, .. } = self {
            for row in rows.values().filter(|r| !r.is_finished()) {
                row.set_style(done.clone());
                row.finish_with_message("not started");
            }
        }
    }
}

/// The stage's `[notify] webhook` gets a JSON POST as soon as each app's
/// releases are all done (at the end for an app a failure cut short). A
/// failure to notify is a warning, never a failed deploy.
struct Notifier<'a> {
    target: &'a Target,
    plan: &'a Plan,
    dry_run: bool,
    state: Mutex<NotifyState>,
}

#[derive(Default)]
struct NotifyState {
    outcomes: HashMap<String, Outcome>,
    started: HashMap<String, Instant>,
    sent: Vec<String>,
}

impl<'a> Notifier<'a> {
    fn new(target: &'a Target, plan: &'a Plan, dry_run: bool) -> Notifier<'a> {
        Notifier {
            target,
            plan,
            dry_run,
            state: Mutex::new(NotifyState::default()),
        }
    }

    fn started(&self, release: &Release) {
        let mut state = self.state.lock().expect("not poisoned");
        state
            .started
            .entry(release.app.clone())
            .or_insert_with(Instant::now);
    }

    fn finished(&self, release: &Release, outcome: &Outcome) {
        let mut state = self.state.lock().expect("not poisoned");
        state.outcomes.insert(release.id(), outcome.clone());
        let all_done = self
            .plan
            .releases
            .iter()
            .filter(|r| r.app == release.app)
            .all(|r| state.outcomes.contains_key(&r.id()));
        if all_done {
            self.send(&release.app, &mut state);
        }
    }

    fn send_the_rest(&self) {
        let mut state = self.state.lock().expect("not poisoned");
        let mut apps: Vec<String> = self.plan.releases.iter().map(|r| r.app.clone()).collect();
        apps.dedup();
        for app in apps {
            if !state.sent.contains(&app) {
                self.send(&app, &mut state);
            }
        }
    }

    fn send(&self, app: &str, state: &mut NotifyState) {
        state.sent.push(app.to_owned());
        let Some(notify) = &self.target.stage.file.value.notify else {
            return;
        };
        let releases: Vec<(&Release, Outcome)> = self
            .plan
            .releases
            .iter()
            .filter(|r| r.app == app)
            .map(|r| {
                (
                    r,
                    state
                        .outcomes
                        .get(&r.id())
                        .cloned()
                        .unwrap_or(Outcome::NotStarted),
                )
            })
            .collect();
        let ok = releases.iter().all(|(_, o)| *o == Outcome::Deployed);
        let listed: Vec<serde_json::Value> = releases
            .iter()
            .map(|(r, o)| serde_json::json!({ "name": r.name, "namespace": r.namespace, "outcome": o }))
            .collect();
        let duration = state
            .started
            .get(app)
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        let body = serde_json::json!({
            "app": app,
            "cluster": self.target.cluster,
            "stage": self.target.stage.name,
            "image_tag": self.plan.tag,
            "releases": listed,
            "result": if ok { "deployed" } else { "failed" },
            "duration_seconds": duration,
        });
        if self.dry_run {
            println!("# POST {} (deploy notification of {app})", notify.webhook);
        } else if let Err(e) = crate::download::post_json(&notify.webhook, &body) {
            eprintln!(
                "{} the deploy notification of {app} was not delivered: {e:#}",
                ui::red_bold("warning:")
            );
        }
    }
}

/// `helm template` of a release with its layered values.
fn template(helm: &Cmd, release: &Release) -> Cmd {
    helm.clone()
        .args([
            "template",
            &release.name,
            &release.chart,
            "--namespace",
            &release.namespace,
        ])
        .args(apps::value_args(release, &[]))
}

fn render(ctx: &Ctx, repo: &Repo, args: OneApp) -> Result<()> {
    let target = target_for(ctx, repo, &args.app, &args.stage)?;
    let plan = apps::plan(repo, &target, std::slice::from_ref(&args.app))?;
    let runner = Runner {
        dry_run: args.dry_run,
    };
    let helm = helm(repo, &target, args.dry_run)?;
    for release in &plan.releases {
        let out = runner.run(&template(&helm, release))?;
        print!("{out}");
    }
    Ok(())
}

fn lint(ctx: &Ctx, repo: &Repo, app: &str) -> Result<()> {
    let mut failures = Vec::new();
    for stage_name in repo.stage_names()? {
        let target = target_for(
            ctx,
            repo,
            app,
            &StageArgs {
                stage: Some(stage_name.clone()),
            },
        )?;
        let plan = apps::plan(repo, &target, &[app.to_owned()])?;
        let helm = helm(repo, &target, false)?;
        for release in &plan.releases {
            let Some(chart) = apps::local_chart(release) else {
                println!(
                    "- {stage_name} {}: a repository chart, not linted",
                    release.id()
                );
                continue;
            };
            let cmd = helm.clone().arg("lint").arg(chart).args([
                "--strict",
                "--namespace",
                &release.namespace,
            ]);
            match cmd.args(apps::value_args(release, &[])).read() {
                Ok(_) => println!("✔ {stage_name} {}", release.id()),
                Err(e) => {
                    println!("✘ {stage_name} {}", release.id());
                    failures.push(format!("{stage_name} {}: {e:#}", release.id()));
                }
            }
        }
    }
    if !failures.is_empty() {
        bail!("helm lint failed:\n{}", failures.join("\n"));
    }
    Ok(())
}

fn diff(ctx: &Ctx, repo: &Repo, args: OneApp) -> Result<()> {
    let target = target_for(ctx, repo, &args.app, &args.stage)?;
    let plan = apps::plan(repo, &target, std::slice::from_ref(&args.app))?;
    let helm = helm(repo, &target, args.dry_run)?;
    let runner = Runner {
        dry_run: args.dry_run,
    };
    let has_plugin = !args.dry_run
        && helm
            .clone()
            .args(["plugin", "list"])
            .read()
            .is_ok_and(|l| l.lines().any(|p| p.starts_with("diff")));
    let flags = |cmd: Cmd| {
        cmd.arg("--kubeconfig")
            .arg(&target.kubeconfig)
            .args(["--kube-context", &target.context])
    };
    for release in &plan.releases {
        if has_plugin {
            let cmd = flags(helm.clone().args([
                "diff",
                "upgrade",
                &release.name,
                &release.chart,
                "--namespace",
                &release.namespace,
            ]));
            print!("{}", runner.run(&cmd.args(apps::value_args(release, &[])))?);
            continue;
        }
        let live = runner
            .probe(&flags(helm.clone().args([
                "get",
                "manifest",
                &release.name,
                "--namespace",
                &release.namespace,
            ])))
            .unwrap_or_default();
        let rendered = runner.run(&template(&helm, release))?;
        if args.dry_run {
            continue;
        }
        let dir = std::env::temp_dir().join(format!("stagecraft-diff-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let (a, b) = (dir.join("live.yaml"), dir.join("rendered.yaml"));
        std::fs::write(&a, live)?;
        std::fs::write(&b, rendered)?;
        let labels = [
            format!("{} (live)", release.id()),
            format!("{} (rendered)", release.id()),
        ];
        let compare = Cmd::new("diff")
            .args(["-u", "--label", &labels[0], "--label", &labels[1]])
            .arg(&a)
            .arg(&b);
        let (code, text) = compare.read_any()?;
        let _ = std::fs::remove_dir_all(&dir);
        match code {
            0 => println!("= {}: no changes", release.id()),
            1 => print!("{text}"),
            _ => bail!("`{compare}` failed with exit code {code}"),
        }
    }
    Ok(())
}

fn build(ctx: &Ctx, repo: &Repo, args: OneApp) -> Result<()> {
    let target = target_for(ctx, repo, &args.app, &args.stage)?;
    let runner = Runner {
        dry_run: args.dry_run,
    };
    build_images(repo, &target, &args.app, &runner, false)
}

/// Builds and pushes an app's images as `<registry>/<image>:<git sha>`.
/// With `skip_unchanged`, an image of a clean tree's sha that docker
/// already has is left alone (a `-dirty` tag always rebuilds).
pub(super) fn build_images(
    repo: &Repo,
    target: &Target,
    app_name: &str,
    runner: &Runner,
    skip_unchanged: bool,
) -> Result<()> {
    let app = apps::App::load(repo, &target.cluster, app_name)?;
    let scope = crate::repo::Scope {
        cluster: Some(target.cluster.clone()),
        app: Some(app_name.to_owned()),
    };
    let env = crate::environment::resolve_public(repo, &target.stage, &scope)?;
    let registry = apps::registry(target, &env.entries)?;
    let tag = apps::image_tag(repo);
    let docker = tools::resolve(repo, "docker")?;
    if app.file.value.images.is_empty() && !runner.dry_run {
        println!("{app_name} has no [[images]]: nothing to build");
    }
    for image in &app.file.value.images {
        let reference = format!("{registry}/{}:{tag}", image.name);
        let clean = !tag.ends_with("-dirty") && tag != "dev";
        if skip_unchanged
            && clean
            && runner
                .probe(
                    &Cmd::new(&docker)
                        .args(["image", "inspect", "--format", "{{.Id}}", &reference]),
                )
                .is_some()
        {
            if !runner.dry_run && !ui::quiet() {
                println!("✔ {reference}: unchanged");
            }
            continue;
        }
        // `context = "."` is the app folder itself, without a trailing `/.`.
        let context: std::path::PathBuf = app
            .dir
            .join(&image.context)
            .components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect();
        let dockerfile = context.join(image.dockerfile.as_deref().unwrap_or("Dockerfile"));
        runner.run(
            &Cmd::new(&docker)
                .args(["build", "--tag", &reference, "--file"])
                .arg(&dockerfile)
                .arg(&context),
        )?;
        runner.run(&Cmd::new(&docker).args(["push", &reference]))?;
        if !runner.dry_run && !ui::quiet() {
            println!("+ {reference}: built and pushed");
        }
    }
    Ok(())
}

fn dev(ctx: &Ctx, repo: &Repo, args: OneApp) -> Result<()> {
    let target = target_for(ctx, repo, &args.app, &args.stage)?;
    if target.stage.protected() {
        bail!(
            "stage {} is protected: `app dev` never runs there",
            target.stage.name
        );
    }
    if !target.is_kind() {
        bail!(
            "stage {} is remote: `app dev` runs on kind stages (local, test)",
            target.stage.name
        );
    }
    let app = apps::App::load(repo, &target.cluster, &args.app)?;
    if !app.dir.join("skaffold.yaml").is_file() {
        bail!(
            "{}/skaffold.yaml does not exist\n  hint: add a skaffold.yaml with a profile named {}",
            app.file.display.trim_end_matches("/app.toml"),
            target.stage.name
        );
    }
    let cmd = Cmd::new(tools::resolve(repo, "skaffold")?)
        .args([
            "dev",
            "--profile",
            &target.stage.name,
            "--kube-context",
            &target.context,
            "--kubeconfig",
        ])
        .arg(&target.kubeconfig)
        .args([
            "--default-repo",
            &format!("localhost:{}", cluster::REGISTRY_PORT),
        ])
        .dir(&app.dir)
        .env("KUBECONFIG", &target.kubeconfig);
    if args.dry_run {
        println!("{cmd}");
        return Ok(());
    }
    pass_through(cmd)
}

fn status(ctx: &Ctx, repo: &Repo, args: StatusArgs) -> Result<()> {
    let target = target_for(ctx, repo, &args.app, &args.stage)?;
    target.require_kubeconfig()?;
    let plan = apps::plan(repo, &target, std::slice::from_ref(&args.app))?;
    let helm = helm(repo, &target, false)?;
    let mut rows = Vec::new();
    for release in &plan.releases {
        let status = helm
            .clone()
            .args([
                "status",
                &release.name,
                "--namespace",
                &release.namespace,
                "--output",
                "json",
                "--kubeconfig",
            ])
            .arg(&target.kubeconfig)
            .args(["--kube-context", &target.context])
            .read()
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
        let state = status
            .as_ref()
            .and_then(|s| s["info"]["status"].as_str())
            .unwrap_or("not installed")
            .to_owned();
        let revision = status.as_ref().and_then(|s| s["version"].as_u64());
        rows.push(serde_json::json!({ "release": release.name, "namespace": release.namespace, "status": state, "revision": revision }));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for row in &rows {
            println!(
                "{:<16} {:<12} {:<16} rev {}",
                row["release"].as_str().unwrap_or(""),
                row["namespace"].as_str().unwrap_or(""),
                row["status"].as_str().unwrap_or(""),
                row["revision"]
            );
        }
    }
    Ok(())
}

fn one_release(ctx: &Ctx, repo: &Repo, args: &ReleaseArgs) -> Result<(Target, Release)> {
    let target = target_for(ctx, repo, &args.app, &args.stage)?;
    target.require_kubeconfig()?;
    let plan = apps::plan(repo, &target, std::slice::from_ref(&args.app))?;
    let names: Vec<String> = plan.releases.iter().map(|r| r.name.clone()).collect();
    let release = match &args.release {
        Some(name) => plan
            .releases
            .iter()
            .find(|r| &r.name == name)
            .ok_or_else(|| suggest::unknown("release", name, &names))?,
        None => plan
            .releases
            .iter()
            .find(|r| r.image.is_some())
            .or(plan.releases.first())
            .with_context(|| format!("{} has no releases", args.app))?,
    };
    Ok((target, release.clone()))
}

fn delete(ctx: &Ctx, repo: &Repo, DeleteArgs { which: args, yes }: DeleteArgs) -> Result<()> {
    let target = target_for(ctx, repo, &args.app, &args.stage)?;
    let plan = apps::plan(repo, &target, std::slice::from_ref(&args.app))?;
    if !args.dry_run {
        target.require_kubeconfig()?;
        confirm(&target, yes, "delete")?;
    }
    let runner = Runner {
        dry_run: args.dry_run,
    };
    let helm = helm(repo, &target, args.dry_run)?;
    // Dependents first: the reverse of a deploy order.
    for release in apps::deploy_order(&plan.releases)
        .into_iter()
        .rev()
        .map(|i| &plan.releases[i])
    {
        runner.run(
            &helm
                .clone()
                .args([
                    "uninstall",
                    &release.name,
                    "--namespace",
                    &release.namespace,
                    "--kubeconfig",
                ])
                .arg(&target.kubeconfig)
                .args(["--kube-context", &target.context, "--wait"]),
        )?;
        if !args.dry_run {
            println!("- {} uninstalled", release.id());
        }
    }
    Ok(())
}
