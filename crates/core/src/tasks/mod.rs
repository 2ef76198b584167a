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

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use crate::config::TaskToml;
use crate::repo::Repo;
use crate::stage::environment;
use crate::suggest;

mod owner;
mod run;

pub use owner::Owner;
use owner::{File, Id};
use run::Step;
pub use run::{Plan, RunOptions};

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

#[cfg(test)]
mod tests {
    use super::*;

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
