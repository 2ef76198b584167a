//! Tasks: the everyday commands of the repository (`[tasks.*]` of
//! shell.toml), of a cluster (cluster.toml) and of an app (app.toml), run
//! in a stage's environment.
//!
//! A task is named `name` where it is visible (its own scope and the scopes
//! below it: an app's folder sees the app's, its cluster's and the
//! repository's tasks, the nearest first), and `app:name`, `cluster:name`
//! (`cluster/app:name` when an app's name is not unique) from anywhere.
//! A task runs in the environment of the scope that defines it, in its
//! `dir`; its `depends` run first, each once; everything that can refuse
//! (an unknown name, a cycle, a stage it is not for, a missing
//! confirmation) refuses before the first line runs.

use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use crate::config::{AppToml, ClusterToml, Loaded, ShellToml, TaskToml};
use crate::environment::{self, Secrets, StageEnv};
use crate::process::Cmd;
use crate::repo::{Repo, Scope, Stage};
use crate::{confirm, suggest, ui};

/// Where a task is defined.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    Repo,
    Cluster(String),
    App { cluster: String, app: String },
}

impl Owner {
    /// The owner of the tasks a folder's scope sees first.
    pub fn of(scope: &Scope) -> Owner {
        match (&scope.cluster, &scope.app) {
            (Some(cluster), Some(app)) => Owner::App {
                cluster: cluster.clone(),
                app: app.clone(),
            },
            (Some(cluster), None) => Owner::Cluster(cluster.clone()),
            _ => Owner::Repo,
        }
    }

    /// This owner and its parents, the nearest first.
    fn chain(&self) -> Vec<Owner> {
        match self {
            Owner::Repo => vec![Owner::Repo],
            Owner::Cluster(_) => vec![self.clone(), Owner::Repo],
            Owner::App { cluster, .. } => {
                vec![self.clone(), Owner::Cluster(cluster.clone()), Owner::Repo]
            }
        }
    }

    /// `hmlet/photos`, `hmlet`, or empty: as the prompt shows a scope.
    pub fn label(&self) -> String {
        match self {
            Owner::Repo => String::new(),
            Owner::Cluster(c) => c.clone(),
            Owner::App { cluster, app } => format!("{cluster}/{app}"),
        }
    }

    /// The scope whose environment the owner's tasks run in. The
    /// repository's tasks run as `cargo xtask run` does at the root (a
    /// repository with one cluster scopes to it).
    fn scope(&self, repo: &Repo) -> Result<Scope> {
        Ok(match self {
            Owner::Repo => repo.stage_scope(&repo.root, None, None)?,
            Owner::Cluster(c) => Scope::cluster(c),
            Owner::App { cluster, app } => Scope::app(cluster, app),
        })
    }
}

/// The file that defines an owner's tasks.
#[derive(Clone)]
enum File<'r> {
    Repo(&'r Loaded<ShellToml>),
    Cluster(Arc<Loaded<ClusterToml>>),
    App(Arc<Loaded<AppToml>>),
}

impl File<'_> {
    fn tasks(&self) -> &crate::config::TaskTable {
        match self {
            File::Repo(f) => &f.value.tasks,
            File::Cluster(f) => &f.value.tasks,
            File::App(f) => &f.value.tasks,
        }
    }

    fn display(&self) -> &str {
        match self {
            File::Repo(f) => &f.display,
            File::Cluster(f) => &f.display,
            File::App(f) => &f.display,
        }
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        match self {
            File::Repo(f) => f.line_of(span),
            File::Cluster(f) => f.line_of(span),
            File::App(f) => f.line_of(span),
        }
    }

    fn error_at(&self, span: &Range<usize>, message: impl std::fmt::Display) -> anyhow::Error {
        match self {
            File::Repo(f) => f.error_at(span, message),
            File::Cluster(f) => f.error_at(span, message),
            File::App(f) => f.error_at(span, message),
        }
    }

    /// The task's `env` as the top layer of the stage's variables.
    fn add_env_layer(&self, model: &mut environment::Model, task: &TaskToml) -> Result<()> {
        match self {
            File::Repo(f) => model.add_layer(f, &task.env),
            File::Cluster(f) => model.add_layer(f, &task.env),
            File::App(f) => model.add_layer(f, &task.env),
        }
    }

    fn task(&self, name: &str) -> Option<(&toml::Spanned<String>, &TaskToml)> {
        self.tasks().iter().find(|(k, _)| k.get_ref() == name)
    }
}

/// One task, as `cargo xtask task` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// What to type from anywhere: `check`, `hmlet:smoke`, `photos:e2e`.
    pub name: String,
    /// Its name in its file.
    pub task: String,
    /// `hmlet/photos`, `hmlet`, or empty for the repository's.
    pub scope: String,
    pub description: String,
    /// `file:line` of its table.
    pub defined_at: String,
    pub run: Vec<String>,
    pub depends: Vec<String>,
    /// The stages it may run on; none: every stage.
    pub stages: Option<Vec<String>>,
    pub confirm: bool,
}

/// The tasks of a repository, for one command.
pub struct Tasks<'r> {
    repo: &'r Repo,
    /// The clusters, read once (qualified names ask for them).
    clusters: Vec<String>,
    /// Per app name: whether `app:` alone is ambiguous (an app of that name
    /// in several clusters, or a cluster of that name).
    ambiguous: RefCell<HashMap<String, bool>>,
    /// The stage names, listed once (every `stages` is checked against them).
    stage_names: OnceCell<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Id {
    owner: Owner,
    name: String,
}

/// What `run` runs: the tasks in order, the one asked for last.
pub struct Plan<'r> {
    steps: Vec<Step<'r>>,
}

struct Step<'r> {
    id: Id,
    qualified: String,
    file: File<'r>,
    key_span: Range<usize>,
}

impl Step<'_> {
    fn task(&self) -> &TaskToml {
        self.file
            .task(&self.id.name)
            .expect("planned from its file")
            .1
    }

    fn defined_at(&self) -> String {
        format!(
            "{}:{}",
            self.file.display(),
            self.file.line_of(&self.key_span)
        )
    }
}

/// How `run` runs a plan.
pub struct RunOptions<'a> {
    pub stage: &'a Stage,
    /// For the task asked for (not its dependencies).
    pub args: &'a [OsString],
    pub yes: bool,
    pub dry_run: bool,
}

impl<'r> Tasks<'r> {
    pub fn new(repo: &'r Repo) -> Result<Tasks<'r>> {
        Ok(Tasks {
            repo,
            clusters: repo.cluster_names()?,
            ambiguous: RefCell::default(),
            stage_names: OnceCell::new(),
        })
    }

    /// The clusters that have an app named `app`: a look per cluster, not
    /// a listing of every app (a task's start stays as cheap as `run`'s).
    fn clusters_with_app(&self, app: &str) -> Vec<&str> {
        if !crate::repo::is_dns_label(app) {
            return Vec::new();
        }
        self.clusters
            .iter()
            .filter(|c| self.repo.app_dir(c, app).join("app.toml").is_file())
            .map(String::as_str)
            .collect()
    }

    /// Every (cluster, app): listings and suggestions only.
    fn all_apps(&self) -> Result<Vec<(String, String)>> {
        let mut apps = Vec::new();
        for cluster in &self.clusters {
            for app in self.repo.app_names(cluster)? {
                apps.push((cluster.clone(), app));
            }
        }
        Ok(apps)
    }

    fn file(&self, owner: &Owner) -> Result<File<'r>> {
        Ok(match owner {
            Owner::Repo => File::Repo(&self.repo.shell),
            Owner::Cluster(c) => File::Cluster(self.repo.cluster(c)?),
            Owner::App { cluster, app } => File::App(self.repo.app(cluster, app)?),
        })
    }

    /// `name` of a repository task, `cluster:name`, `app:name`, or
    /// `cluster/app:name` when the app's name alone is ambiguous.
    fn qualified(&self, id: &Id) -> String {
        match &id.owner {
            Owner::Repo => id.name.clone(),
            Owner::Cluster(c) => format!("{c}:{}", id.name),
            Owner::App { cluster, app } => {
                let ambiguous = *self
                    .ambiguous
                    .borrow_mut()
                    .entry(app.clone())
                    .or_insert_with(|| {
                        self.clusters_with_app(app).len() > 1 || self.clusters.contains(app)
                    });
                if ambiguous {
                    format!("{cluster}/{app}:{}", id.name)
                } else {
                    format!("{app}:{}", id.name)
                }
            }
        }
    }

    /// The tasks `from` sees, the nearest scope first, each checked (names,
    /// stages, depends, cycles): a broken task is an error here already.
    pub fn list(&self, from: &Owner) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        for owner in from.chain() {
            out.extend(self.owned(&owner)?);
        }
        Ok(out)
    }

    /// Every task of every scope (completion of a qualified name).
    pub fn list_all(&self) -> Result<Vec<Listed>> {
        let mut out = self.owned(&Owner::Repo)?;
        for cluster in &self.clusters {
            out.extend(self.owned(&Owner::Cluster(cluster.clone()))?);
        }
        for (cluster, app) in self.all_apps()? {
            out.extend(self.owned(&Owner::App { cluster, app })?);
        }
        Ok(out)
    }

    fn owned(&self, owner: &Owner) -> Result<Vec<Listed>> {
        let file = self.file(owner)?;
        let mut out = Vec::new();
        for (key, task) in file.tasks() {
            let id = Id {
                owner: owner.clone(),
                name: key.get_ref().clone(),
            };
            self.check(&file, key, task)?;
            // Unknown names and cycles, as a run would find them.
            self.plan_of(id.clone())?;
            out.push(Listed {
                name: self.qualified(&id),
                task: id.name,
                scope: owner.label(),
                description: task.description.clone(),
                defined_at: format!("{}:{}", file.display(), file.line_of(&key.span())),
                run: task.run.get_ref().0.clone(),
                depends: task.depends.iter().map(|d| d.get_ref().clone()).collect(),
                stages: task
                    .stages
                    .as_ref()
                    .map(|s| s.iter().map(|n| n.get_ref().clone()).collect()),
                confirm: task.confirm,
            });
        }
        Ok(out)
    }

    /// What a task's table must hold, checked where it is written.
    fn check(&self, file: &File, key: &toml::Spanned<String>, task: &TaskToml) -> Result<()> {
        let name = key.get_ref();
        if let Some(problem) = task_name_problem(name) {
            return Err(file.error_at(&key.span(), format!("task `{name}`: {problem}")));
        }
        let lines = &task.run.get_ref().0;
        if lines.is_empty() && task.depends.is_empty() {
            return Err(file.error_at(
                &key.span(),
                format!(
                    "task `{name}` has nothing to run\n  hint: give it `run = \"a command line\"` (or `depends` on other tasks)"
                ),
            ));
        }
        if lines.iter().any(|l| l.trim().is_empty()) {
            return Err(file.error_at(
                &task.run.span(),
                format!(
                    "task `{name}`: `run` holds an empty line\n  hint: remove it, or write the command"
                ),
            ));
        }
        for key in task.env.keys() {
            if let Some(problem) = environment::var_name_problem(key.get_ref()) {
                return Err(file.error_at(&key.span(), format!("task `{name}`: env: {problem}")));
            }
        }
        if let Some(stages) = &task.stages {
            if stages.is_empty() {
                return Err(file.error_at(
                    &key.span(),
                    format!(
                        "task `{name}`: `stages = []` lets it run on no stage\n  hint: name the stages it is for, or remove `stages` to allow every stage"
                    ),
                ));
            }
            if self.stage_names.get().is_none() {
                let _ = self.stage_names.set(self.repo.stage_names()?);
            }
            let known = self.stage_names.get().expect("listed above");
            for stage in stages {
                if !known.contains(stage.get_ref()) {
                    return Err(file.error_at(
                        &stage.span(),
                        format!(
                            "task `{name}`: `stages` names a stage that does not exist: `{}`\n  hint: {}",
                            stage.get_ref(),
                            suggest::hint("stage", stage.get_ref(), known)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The task `text` names, seen from `from`: `name` (the nearest scope
    /// that has it), `:name` (the repository's), `scope:name`.
    fn lookup(&self, from: &Owner, text: &str) -> Result<Id> {
        if let Some((scope, name)) = text.split_once(':') {
            let owner = self.owner_named(scope)?;
            let file = self.file(&owner)?;
            if file.task(name).is_none() {
                let names: Vec<String> = file.tasks().keys().map(|k| k.get_ref().clone()).collect();
                let place = match owner.label() {
                    l if l.is_empty() => "of the repository (shell.toml)".to_owned(),
                    l => format!("of {l} ({})", file.display()),
                };
                return Err(suggest::unknown_named(
                    &format!("task {place}:"),
                    "task",
                    name,
                    &names,
                ));
            }
            return Ok(Id {
                owner,
                name: name.to_owned(),
            });
        }
        let mut visible = Vec::new();
        for owner in from.chain() {
            let file = self.file(&owner)?;
            if file.task(text).is_some() {
                return Ok(Id {
                    owner,
                    name: text.to_owned(),
                });
            }
            for key in file.tasks().keys() {
                visible.push(key.get_ref().clone());
            }
        }
        let place = match from.label() {
            l if l.is_empty() => "at the repository root".to_owned(),
            l => format!("in {l}"),
        };
        Err(anyhow!(
            "unknown task `{text}` {place}\n  hint: {}; `cargo xtask task` lists them, and `app:task` or `cluster:task` names one from anywhere",
            suggest::hint("task", text, &visible)
        ))
    }

    /// The owner `scope` of `scope:name` names: `cluster/app`, an app, a
    /// cluster, or the repository (empty).
    fn owner_named(&self, scope: &str) -> Result<Owner> {
        if scope.is_empty() {
            return Ok(Owner::Repo);
        }
        if let Some((cluster, app)) = scope.split_once('/') {
            if self.clusters_with_app(app).contains(&cluster) {
                return Ok(Owner::App {
                    cluster: cluster.to_owned(),
                    app: app.to_owned(),
                });
            }
            let names: Vec<String> = self
                .all_apps()?
                .iter()
                .map(|(c, a)| format!("{c}/{a}"))
                .collect();
            return Err(suggest::unknown("app", scope, &names));
        }
        let mut found: Vec<Owner> = self
            .clusters_with_app(scope)
            .into_iter()
            .map(|c| Owner::App {
                cluster: c.to_owned(),
                app: scope.to_owned(),
            })
            .collect();
        if self.clusters.iter().any(|c| c == scope) {
            found.push(Owner::Cluster(scope.to_owned()));
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => {
                let mut names = self.clusters.clone();
                names.extend(self.all_apps()?.into_iter().map(|(_, a)| a));
                Err(anyhow!(
                    "no app or cluster is named `{scope}`\n  hint: {}",
                    suggest::hint("app or cluster", scope, &names)
                ))
            }
            _ => {
                let forms: Vec<String> = found
                    .iter()
                    .map(|o| match o {
                        Owner::Cluster(c) => format!("`{c}:` (the cluster)"),
                        other => format!("`{}:` (the app)", other.label()),
                    })
                    .collect();
                bail!(
                    "`{scope}` names several scopes\n  hint: write one of {}",
                    forms.join(", ")
                )
            }
        }
    }

    /// The task `name` seen from `from`, after its dependencies in the
    /// order they run (each once).
    pub fn plan(&self, from: &Owner, name: &str) -> Result<Plan<'r>> {
        let id = self.lookup(from, name)?;
        let file = self.file(&id.owner)?;
        let (key, task) = file.task(&id.name).expect("looked up");
        self.check(&file, key, task)?;
        self.plan_of(id)
    }

    fn plan_of(&self, id: Id) -> Result<Plan<'r>> {
        let mut plan = Plan { steps: Vec::new() };
        let mut done = HashSet::new();
        self.visit(id, &mut Vec::new(), &mut done, &mut plan)?;
        Ok(plan)
    }

    fn visit(
        &self,
        id: Id,
        path: &mut Vec<Id>,
        done: &mut HashSet<Id>,
        plan: &mut Plan<'r>,
    ) -> Result<()> {
        if done.contains(&id) {
            return Ok(());
        }
        let file = self.file(&id.owner)?;
        let (key, task) = file.task(&id.name).expect("looked up");
        let key_span = key.span();
        path.push(id.clone());
        for dep in &task.depends {
            let dep_id = self.lookup(&id.owner, dep.get_ref()).map_err(|e| {
                file.error_at(
                    &dep.span(),
                    format!(
                        "task `{}` depends on `{}`: {e:#}",
                        self.qualified(&id),
                        dep.get_ref()
                    ),
                )
            })?;
            if let Some(start) = path.iter().position(|p| *p == dep_id) {
                let mut cycle: Vec<String> =
                    path[start..].iter().map(|p| self.qualified(p)).collect();
                cycle.push(self.qualified(&dep_id));
                return Err(file.error_at(
                    &dep.span(),
                    format!(
                        "task `{}` depends on itself: {}; nothing was run\n  hint: remove one of these `depends`",
                        self.qualified(&dep_id),
                        cycle.join(" → ")
                    ),
                ));
            }
            let dep_file = self.file(&dep_id.owner)?;
            let (dep_key, dep_task) = dep_file.task(&dep_id.name).expect("looked up");
            self.check(&dep_file, dep_key, dep_task)?;
            self.visit(dep_id, path, done, plan)?;
        }
        path.pop();
        done.insert(id.clone());
        plan.steps.push(Step {
            qualified: self.qualified(&id),
            id,
            file,
            key_span,
        });
        Ok(())
    }
}

/// Why `name` cannot name a task, if it cannot.
fn task_name_problem(name: &str) -> Option<String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.is_empty() || !name.chars().all(ok) || name.starts_with(['-', '.']) {
        return Some(
            "a task's name is letters, digits, '-', '_' and '.', starting with a letter or digit (':' joins a scope and a task: `photos:db-shell`)\n  hint: rename it in its [tasks.<name>] header"
                .to_owned(),
        );
    }
    None
}

impl Plan<'_> {
    /// The task asked for.
    pub fn target(&self) -> &str {
        &self
            .steps
            .last()
            .expect("a plan ends with its task")
            .qualified
    }

    /// Runs the plan in `stage`: refusals first (stages, confirmation, the
    /// environments, the folders), then each task's lines in order; the
    /// first failure stops the rest and its exit code is returned.
    pub fn run(&self, repo: &Repo, options: RunOptions) -> Result<i32> {
        let stage = options.stage;
        let target = self.target();
        for step in &self.steps {
            let task = step.task();
            let Some(stages) = &task.stages else { continue };
            if stages.iter().any(|s| s.get_ref() == &stage.name) {
                continue;
            }
            let allowed: Vec<&str> = stages.iter().map(|s| s.get_ref().as_str()).collect();
            let which = if step.qualified == target {
                format!("task `{target}`")
            } else {
                format!("task `{}` (which `{target}` depends on)", step.qualified)
            };
            bail!(
                "{which} runs only on {} ({}), not on {}; nothing was run\n  hint: pass --stage {}",
                allowed.join(", "),
                step.defined_at(),
                stage.name,
                allowed[0]
            );
        }
        if !options.dry_run {
            let asks = self.steps.iter().find(|s| s.task().confirm);
            let what = format!("task {target}");
            match asks {
                Some(step) if !stage.protected() => confirm::asked(
                    stage,
                    options.yes,
                    &what,
                    &format!("`{}` has confirm = true", step.qualified),
                )?,
                _ => confirm::protected(stage, options.yes, &what, None)?,
            }
        }
        let secrets = match options.dry_run {
            true => Secrets::Skip,
            false => Secrets::Resolve,
        };
        let mut prepared = Vec::new();
        for step in &self.steps {
            prepared.push(self.prepare(repo, step, stage, secrets)?);
        }
        for (index, (step, ready)) in self.steps.iter().zip(&prepared).enumerate() {
            let task = step.task();
            let args: &[OsString] = match step.qualified == target {
                true => options.args,
                false => &[],
            };
            let lines = &task.run.get_ref().0;
            if options.dry_run {
                crate::outln!(
                    "# {} ({}), stage {}",
                    step.qualified,
                    step.defined_at(),
                    stage.name
                );
            } else {
                ready.env.prepare_kubeconfig(repo);
            }
            for (n, (line, line_args)) in with_args(lines, args).into_iter().enumerate() {
                let cmd = Cmd::new("sh")
                    .arg("-c")
                    .arg(&line)
                    .arg(&step.qualified)
                    .args(line_args)
                    .dir(&ready.dir)
                    .full_env(ready.child.clone());
                if options.dry_run {
                    crate::outln!("{cmd}");
                    continue;
                }
                let code = cmd.status()?;
                if code != 0 {
                    let which = match lines.len() {
                        1 => String::new(),
                        _ => format!("line {} of its `run`, ", n + 1),
                    };
                    let not_run: Vec<&str> = self.steps[index + 1..]
                        .iter()
                        .map(|s| s.qualified.as_str())
                        .collect();
                    let not_run = match not_run.is_empty() {
                        true => String::new(),
                        false => format!("; not run: {}", not_run.join(", ")),
                    };
                    ui::print_error(&anyhow!(
                        "task `{}` failed: `{}` {} ({which}{}){not_run}",
                        step.qualified,
                        ui::escape_controls(&line),
                        describe_code(code),
                        step.defined_at()
                    ));
                    return Ok(code);
                }
            }
        }
        Ok(0)
    }

    /// A step's environment and folder, found before anything runs.
    fn prepare(
        &self,
        repo: &Repo,
        step: &Step,
        stage: &Stage,
        secrets: Secrets,
    ) -> Result<Prepared> {
        let task = step.task();
        let scope = step.id.owner.scope(repo)?;
        let env = environment::resolve_with(repo, stage, &scope, secrets, |model| {
            step.file.add_env_layer(model, task)
        })
        .map_err(|e| {
            e.context(format!(
                "cannot resolve the environment of task `{}` in stage {}",
                step.qualified, stage.name
            ))
        })?;
        let home = owner_dir(repo, &step.id.owner);
        let dir = match &task.dir {
            None => home,
            Some(dir) => {
                let path = home.join(dir.get_ref());
                if !path.is_dir() {
                    return Err(step.file.error_at(
                        &dir.span(),
                        format!(
                            "task `{}`: dir `{}` is not a folder ({})\n  hint: `dir` is relative to the file's folder",
                            step.qualified,
                            dir.get_ref(),
                            path.display()
                        ),
                    ));
                }
                path
            }
        };
        // A cluster's or an app's hostnames in this stage (`hmlet:smoke`
        // curls them); the repository's tasks get none.
        let mut child = env.child_env();
        let hosts = match &step.id.owner {
            Owner::Repo => None,
            Owner::Cluster(cluster) => Some(crate::routes::hostnames(repo, stage, cluster, None)?),
            // Without an `env` of its own, the task's environment is the
            // app's: no second resolution.
            Owner::App { cluster, app } if task.env.is_empty() => {
                Some(match crate::routes::AppHosts::of(repo, cluster, app)? {
                    Some(hosts) => hosts.expand(&env)?,
                    None => Vec::new(),
                })
            }
            Owner::App { cluster, app } => {
                Some(crate::routes::hostnames(repo, stage, cluster, Some(app))?)
            }
        };
        if let Some(hosts) = hosts {
            child.push(("XTASK_HOSTS".to_owned(), hosts.join(" ")));
        }
        Ok(Prepared { child, env, dir })
    }
}

/// A step, ready to run: found before the first line of any step runs.
struct Prepared {
    /// The child's complete environment.
    child: Vec<(String, String)>,
    /// The stage environment it came from (its kubeconfig).
    env: StageEnv,
    dir: PathBuf,
}

/// The folder of the file that defines an owner's tasks.
fn owner_dir(repo: &Repo, owner: &Owner) -> PathBuf {
    match owner {
        Owner::Repo => repo.root.clone(),
        Owner::Cluster(c) => repo.root.join("clusters").join(c),
        Owner::App { cluster, app } => repo.app_dir(cluster, app),
    }
}

/// Each line with the positional parameters it gets: every line gets the
/// extra arguments as `$1`, `"$@"`...; when no line refers to them, they
/// are appended to the last line too, as `npm run` and `mise run` do.
fn with_args(lines: &[String], args: &[OsString]) -> Vec<(String, Vec<OsString>)> {
    let uses_args = lines.iter().any(|l| refers_to_args(l));
    let last = lines.len().saturating_sub(1);
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let mut line = line.clone();
            if !uses_args && i == last && !args.is_empty() {
                line.push_str(" \"$@\"");
            }
            (line, args.to_vec())
        })
        .collect()
}

/// Whether a command line reads its positional parameters.
fn refers_to_args(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.windows(2).enumerate().any(|(i, w)| {
        let escaped = i > 0 && bytes[i - 1] == b'\\';
        !escaped
            && w[0] == b'$'
            && (w[1] == b'@'
                || w[1] == b'*'
                || w[1] == b'#'
                || w[1].is_ascii_digit() && w[1] != b'0'
                || (w[1] == b'{'
                    && bytes.get(i + 2).is_some_and(|c| {
                        matches!(c, b'@' | b'*' | b'#') || (c.is_ascii_digit() && *c != b'0')
                    })))
    })
}

fn describe_code(code: i32) -> String {
    if code > 128 && code < 160 {
        format!("was killed by signal {} (exit code {code})", code - 128)
    } else {
        format!("exited with code {code}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn args_go_to_the_last_line_unless_a_line_reads_them() {
        let lines = vec!["make build".to_owned(), "pytest".to_owned()];
        let got = with_args(&lines, &os(&["-k", "smoke"]));
        assert_eq!(got[0].0, "make build");
        assert_eq!(got[1].0, "pytest \"$@\"");
        let lines = vec!["echo \"$1\"".to_owned(), "true".to_owned()];
        let got = with_args(&lines, &os(&["x"]));
        assert_eq!(got[1].0, "true", "a line reads them: nothing appended");
        assert_eq!(got[0].1, os(&["x"]));
        let got = with_args(&["true".to_owned()], &[]);
        assert_eq!(got[0].0, "true", "no args: nothing appended");
    }

    #[test]
    fn positional_parameters_are_recognised() {
        for line in [
            "echo $1",
            "f \"$@\"",
            "echo $*",
            "echo ${1:-x}",
            "echo ${@}",
            "[ $# -gt 0 ]",
        ] {
            assert!(refers_to_args(line), "{line}");
        }
        for line in [
            "echo $0",
            "echo $HOME",
            "echo \\$1",
            "echo ${HOME}",
            "price 5$",
        ] {
            assert!(!refers_to_args(line), "{line}");
        }
    }

    #[test]
    fn task_names() {
        assert_eq!(task_name_problem("db-shell"), None);
        assert_eq!(task_name_problem("e2e"), None);
        assert_eq!(task_name_problem("lint.all"), None);
        for bad in ["", "a:b", "a/b", "-x", "a b", ".x"] {
            assert!(task_name_problem(bad).is_some(), "{bad}");
        }
    }
}
