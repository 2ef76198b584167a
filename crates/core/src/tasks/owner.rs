//! Who defines a task (the repository, a cluster, an app), the file that
//! holds its table, and a task's identity.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;

use crate::config::{AppToml, ClusterToml, Loaded, ShellToml, TaskToml};
use crate::repo::{Repo, Scope};
use crate::stage::environment;

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
    pub(super) fn chain(&self) -> Vec<Owner> {
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
    pub(super) fn scope(&self, repo: &Repo) -> Result<Scope> {
        Ok(match self {
            Owner::Repo => repo.stage_scope(&repo.root, None, None)?,
            Owner::Cluster(c) => Scope::cluster(c),
            Owner::App { cluster, app } => Scope::app(cluster, app),
        })
    }
}

/// The file that defines an owner's tasks.
#[derive(Clone)]
pub(super) enum File<'r> {
    Repo(&'r Loaded<ShellToml>),
    Cluster(Arc<Loaded<ClusterToml>>),
    App(Arc<Loaded<AppToml>>),
}

impl File<'_> {
    pub(super) fn tasks(&self) -> &crate::config::TaskTable {
        match self {
            File::Repo(f) => &f.value.tasks,
            File::Cluster(f) => &f.value.tasks,
            File::App(f) => &f.value.tasks,
        }
    }

    pub(super) fn display(&self) -> &str {
        match self {
            File::Repo(f) => &f.display,
            File::Cluster(f) => &f.display,
            File::App(f) => &f.display,
        }
    }

    pub(super) fn line_of(&self, span: &Range<usize>) -> usize {
        match self {
            File::Repo(f) => f.line_of(span),
            File::Cluster(f) => f.line_of(span),
            File::App(f) => f.line_of(span),
        }
    }

    pub(super) fn error_at(
        &self,
        span: &Range<usize>,
        message: impl std::fmt::Display,
    ) -> anyhow::Error {
        match self {
            File::Repo(f) => f.error_at(span, message),
            File::Cluster(f) => f.error_at(span, message),
            File::App(f) => f.error_at(span, message),
        }
    }

    /// The task's `env` as the top layer of the stage's variables.
    pub(super) fn add_env_layer(
        &self,
        model: &mut environment::Model,
        task: &TaskToml,
    ) -> Result<()> {
        match self {
            File::Repo(f) => model.add_layer(f, &task.env),
            File::Cluster(f) => model.add_layer(f, &task.env),
            File::App(f) => model.add_layer(f, &task.env),
        }
    }

    pub(super) fn task(&self, name: &str) -> Option<(&toml::Spanned<String>, &TaskToml)> {
        self.tasks().iter().find(|(k, _)| k.get_ref() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Id {
    pub(super) owner: Owner,
    pub(super) name: String,
}

/// The folder of the file that defines an owner's tasks.
pub(super) fn owner_dir(repo: &Repo, owner: &Owner) -> PathBuf {
    match owner {
        Owner::Repo => repo.root.clone(),
        Owner::Cluster(c) => repo.root.join("clusters").join(c),
        Owner::App { cluster, app } => repo.app_dir(cluster, app),
    }
}
