use std::ffi::OsString;

use anyhow::Result;
use clap::Args;
use clap_complete::engine::ArgValueCompleter;

use super::{AffectedArgs, Code, Ctx, DryRun, Json, ScopeArgs, StageArg};
use crate::complete;
use crate::tasks::{Listed, Owner, RunOptions, Tasks};
use crate::ui::escape_controls;

/// List the tasks of this folder's scope, or run one in a stage.
///
/// Tasks are the `[tasks.<name>]` tables of shell.toml (the repository's),
/// cluster.toml and app.toml. In an app's folder you see the app's, its
/// cluster's and the repository's; `name` runs the nearest one, and
/// `app:name` or `cluster:name` names one from anywhere. A task runs in the
/// stage's environment of the scope that defines it (the clean environment
/// of `cargo xtask run`), in its `dir`; its `depends` run first, each once.
/// The first failing line stops the rest, and its exit code is the
/// command's. Protected stages and `confirm = true` ask first.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask task                                  # the tasks you can run here
  cargo xtask task --json | jq -r '.[].name'
  cargo xtask task photos:db-shell                  # psql into local's database
  cargo xtask task photos:e2e --stage test -- -v    # extra arguments after --
  cargo xtask task hmlet:smoke --stage prod --yes
  cargo xtask task photos:e2e --dry-run             # the exact commands
  cargo xtask task e2e --affected --since origin/main --stage test   # each affected app's own e2e
Inside a stage shell: xtask task NAME (the shell's stage).")]
pub struct TaskArgs {
    /// The task: `name`, `app:name`, `cluster:name`. None: list them.
    #[arg(value_name = "TASK", add = ArgValueCompleter::new(complete::tasks))]
    name: Option<String>,
    #[command(flatten)]
    stage: StageArg,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Confirm a task on a protected stage, or one with `confirm = true`.
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    dry_run: DryRun,
    #[command(flatten)]
    json: Json,
    /// With --affected, run the task NAME of each affected app that has one.
    #[command(flatten)]
    affected: AffectedArgs,
    /// Arguments for the task, after `--`: its lines get them as "$@", or
    /// appended to the last line when no line reads them.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<OsString>,
}

impl TaskArgs {
    pub fn run(self, ctx: &Ctx) -> Result<Code> {
        let repo = ctx.repo()?;
        let from = Owner::of(&self.scope.resolve_as_given(ctx, &repo)?);
        let tasks = Tasks::new(&repo)?;
        let Some(name) = &self.name else {
            let listed = tasks.list(&from)?;
            if self.json.json {
                return super::print_json(&listed);
            }
            crate::out!("{}", render(&from, &listed));
            return Ok(Code::OK);
        };
        if self.json.json {
            anyhow::bail!(
                "--json lists the tasks: leave out the task's name (`cargo xtask task --json`)"
            );
        }
        // Several stages: the task in each, side by side, as `run` does.
        if let Some(spec) = &self.stage.stage
            && crate::stage::fanout::names_several(spec)
        {
            if self.affected.affected {
                anyhow::bail!("--affected runs in one stage: name one with --stage");
            }
            tasks.plan(&from, name)?;
            return self.fan_out(&repo, spec, name);
        }
        let stage = self.stage.resolve(&repo)?;
        let options = RunOptions {
            stage: &stage,
            args: &self.args,
            yes: self.yes,
            dry_run: self.dry_run.dry_run,
        };
        if let Some(affected) = self.affected.resolve(&repo, &stage)? {
            return run_affected(&repo, &tasks, name, &affected, options);
        }
        let plan = tasks.plan(&from, name)?;
        Ok(Code::of(plan.run(&repo, options)?))
    }
}

/// The task `name` of each affected app that defines one, in turn; the
/// worst exit code. An affected app without it is named and skipped.
fn run_affected(
    repo: &crate::repo::Repo,
    tasks: &Tasks,
    name: &str,
    affected: &crate::affected::Affected,
    options: RunOptions,
) -> Result<Code> {
    if name.contains(':') {
        anyhow::bail!(
            "--affected runs a task of each affected app: name it without an app or cluster (`{}`)",
            name.rsplit(':').next().unwrap_or(name)
        );
    }
    let mut worst = 0;
    let mut ran = 0;
    for app in &affected.apps {
        let owner = Owner::App {
            cluster: app.cluster.clone(),
            app: app.app.clone(),
        };
        let scope = format!("{}/{}", app.cluster, app.app);
        let own = tasks
            .list(&owner)?
            .into_iter()
            .find(|t| t.task == name && t.scope == scope);
        let Some(own) = own else {
            crate::errln!("- {}: affected, has no task {name}", app.app);
            continue;
        };
        crate::errln!("── {} ({})", own.name, app.why.join(", "));
        let code = tasks.plan(&owner, &own.name)?.run(repo, options)?;
        ran += 1;
        if worst == 0 || (code != 0 && code > worst) {
            worst = code;
        }
    }
    if ran == 0 && !crate::ui::quiet() {
        crate::errln!("no affected app has a task {name}: nothing to run");
    }
    Ok(Code::of(worst))
}

impl TaskArgs {
    /// `task NAME --stage a,b`: this program's `task NAME --stage S` in
    /// each stage (protected ones confirmed first, once for all), lines
    /// prefixed with the stage, the worst exit code.
    fn fan_out(&self, repo: &crate::repo::Repo, spec: &str, name: &str) -> Result<Code> {
        let program = std::env::current_exe()?;
        let scope: Vec<OsString> = [
            ("--cluster", &self.scope.cluster),
            ("--app", &self.scope.app),
        ]
        .into_iter()
        .filter_map(|(flag, value)| value.as_ref().map(|v| [flag.into(), v.into()]))
        .flatten()
        .collect();
        let dry_run = self.dry_run.dry_run;
        let command_of = |stage: &crate::repo::Stage| -> Vec<OsString> {
            let mut command: Vec<OsString> = vec![
                program.clone().into(),
                "task".into(),
                name.into(),
                "--stage".into(),
                stage.label().into(),
            ];
            // A protected stage was confirmed by this process before any
            // started; a task's own `confirm = true` still needs --yes.
            if self.yes || stage.protected() {
                command.push("--yes".into());
            }
            command.extend(scope.iter().cloned());
            if dry_run {
                command.push("--dry-run".into());
            }
            if !self.args.is_empty() {
                command.push("--".into());
                command.extend(self.args.iter().cloned());
            }
            command
        };
        let code = crate::stage::fanout::run(
            repo,
            crate::stage::fanout::Options {
                stages: crate::stage::fanout::select(repo, spec)?,
                scope: &crate::repo::Scope::default(),
                command: &[],
                fail_fast: false,
                yes: self.yes,
                per_stage: Some(&command_of),
            },
        )?;
        Ok(Code::of(code))
    }
}

fn render(from: &Owner, listed: &[Listed]) -> String {
    let place = match from.label() {
        l if l.is_empty() => "the repository".to_owned(),
        l => l,
    };
    let root_hint = "Clusters and apps have tasks of their own: run `cargo xtask task` in their folder, or pass --cluster/--app\n";
    if listed.is_empty() {
        let mut out = format!(
            "No tasks in {place} yet: add a [tasks.<name>] table with `run` and `description` to shell.toml, cluster.toml or app.toml (docs/tasks.md)\n"
        );
        if *from == Owner::Repo {
            out.push_str(root_hint);
        }
        return out;
    }
    let mut out = format!("Tasks of {place}\n");
    let width = listed.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for task in listed {
        let mut notes = Vec::new();
        if let Some(stages) = &task.stages {
            notes.push(format!("only {}", stages.join(", ")));
        }
        if task.confirm {
            notes.push("asks first".to_owned());
        }
        if !task.depends.is_empty() {
            notes.push(format!("after {}", task.depends.join(", ")));
        }
        let notes = match notes.is_empty() {
            true => String::new(),
            false => format!("  [{}]", notes.join("; ")),
        };
        let line = format!(
            "  {:width$}  {}{notes}",
            task.name,
            escape_controls(&task.description)
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if *from == Owner::Repo {
        out.push_str(root_hint);
    }
    out.push_str("Run one: cargo xtask task NAME [--stage STAGE] [-- ARGS]\n");
    out
}
