//! The stage/env model: the layers of a stage's variables, built-ins,
//! interpolation, secrets, and the environment of a child process.
//!
//! Layers, later wins: envs/comm < envs/<stage> < cluster < cluster's
//! stage table < app < app's stage table. One entry point, [`resolve`].

mod builtins;
mod explain;
mod model;
mod overlay;
pub mod template;

use anyhow::{Result, anyhow};
use serde::Serialize;

pub use explain::Explanation;
pub use model::{Model, WithoutValue, var_name_problem};

use crate::cluster::kube::KubeTarget;
use crate::config::Loaded;
use crate::repo::{Repo, Scope, Stage};
use crate::suggest;
use crate::ui::{self, MASK};
use crate::user_env::user_env;

/// Whether secrets are resolved. Commands that never hand secrets to
/// anything (render, hostnames, cluster targets) skip them, so that
/// rendering prod needs no prod password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    Resolve,
    Skip,
}

/// A resolved variable, in output order.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    pub value: String,
    /// Secret, or computed from a secret.
    pub secret: bool,
}

impl Entry {
    /// The value as output shows it: `***` for a secret unless revealed.
    pub fn shown(&self, reveal: bool) -> &str {
        if self.secret && !reveal {
            MASK
        } else {
            &self.value
        }
    }
}

/// Everything a command needs to run in a stage.
pub struct StageEnv {
    /// Built-ins then variables, in order; values are real (mask on output).
    pub entries: Vec<Entry>,
    /// The folders put in front of the inherited PATH.
    pub path_prefix: Vec<String>,
    pub prompt: String,
    /// The cluster of the scope, as its tools reach it.
    pub kube: Option<KubeTarget>,
    /// Declared variables without a value here: optional ones whose source
    /// gave nothing, and the secrets a `Secrets::Skip` resolution skipped.
    pub without_value: Vec<model::WithoutValue>,
    model: Model,
}

impl StageEnv {
    /// Whether some layer defines `name` (its value may be a secret this
    /// resolution skipped).
    pub fn defines(&self, name: &str) -> bool {
        self.model.defines(name) || self.entries.iter().any(|e| e.name == name)
    }

    /// Why declared `name` has no value here, if it has none.
    pub fn without_value(&self, name: &str) -> Option<&WithoutValue> {
        self.without_value.iter().find(|w| w.name == name)
    }

    /// The resolved entry of `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.value.as_str())
    }

    /// `VAR=value` and the chain of file:line that set and overrode it.
    pub fn explain(&self, name: &str, reveal: bool) -> Result<Explanation> {
        self.model
            .explain(name, &self.entries, reveal, builtins::meaning)
    }

    /// A values file `text` (`display`, for messages) with `${VAR}` from
    /// this environment: the engine and rules of the TOML files (`$$` is a
    /// `$`; comment lines stay as written); errors name the file and line.
    /// A secret may not go into values (helm keeps values in the release,
    /// readable by whoever reads the release).
    pub fn render_file(&self, text: &str, display: &str) -> Result<String> {
        let mut out = String::with_capacity(text.len());
        for (n, line) in text.split_inclusive('\n').enumerate() {
            // A comment line is left as written: `${VAR}` may explain itself.
            if !line.contains('$') || line.trim_start().starts_with('#') {
                out.push_str(line);
                continue;
            }
            let pieces = template::pieces(line).map_err(|e| {
                anyhow!(
                    "{display}:{}: {e}\n  hint: write `$$` for a literal `$`",
                    n + 1
                )
            })?;
            for piece in pieces {
                match piece {
                    template::Piece::Text(t) => out.push_str(t),
                    template::Piece::Ref(name) => match self.entry(name) {
                        Some(entry) if !entry.secret => out.push_str(&entry.value),
                        Some(_) => return Err(secret_in_values(display, n + 1, name)),
                        None if self.defines(name) => {
                            return Err(secret_in_values(display, n + 1, name));
                        }
                        None => {
                            let names: Vec<String> =
                                self.entries.iter().map(|e| e.name.clone()).collect();
                            return Err(anyhow!(
                                "{display}:{}: undefined variable `${{{name}}}`\n  hint: {}; write `$${{` for a literal `${{`",
                                n + 1,
                                suggest::hint("variable", name, &names)
                            ));
                        }
                    },
                }
            }
        }
        Ok(out)
    }

    /// Makes the scope's one-context kubeconfig (KUBECONFIG) current before
    /// a shell or a command gets it; says why when it cannot, and the
    /// command goes on (its kubectl then finds no cluster, never another).
    pub fn prepare_kubeconfig(&self, repo: &Repo) {
        let Some(kube) = &self.kube else { return };
        let prepared = match kube.source.is_file() {
            // No cluster yet: the guard, so kubectl says so.
            false => kube.write_guard(),
            true => repo
                .tool("kubectl")
                .and_then(|kubectl| kube.refresh_view(&kubectl))
                .map(drop),
        };
        if let Err(e) = prepared {
            ui::warn(&format!(
                "KUBECONFIG ({}) is not ready: {e:#}",
                kube.kubeconfig.display()
            ));
        }
    }

    /// What would trip a command in this stage, one line each: the cluster
    /// does not exist yet (or has no credentials), or a pinned tool is not
    /// in deps/bin while the user's PATH has another version of it.
    pub fn readiness_notes(&self, repo: &Repo) -> Vec<String> {
        let missing = self.kube.as_ref().and_then(|kube| kube.missing());
        let shadowed = crate::pins::shadowed(repo, &["kubectl", "helm"]);
        missing
            .into_iter()
            .chain(shadowed.iter().map(|s| s.describe()))
            .collect()
    }

    /// The complete environment of a child process in this stage: the
    /// user's own, the stage's on top, and the record to undo them.
    pub fn child_env(&self) -> Vec<(String, String)> {
        overlay::overlay(user_env(), &self.entries)
    }

    /// Adds variables Stagecraft computes for a command (reserved
    /// `XTASK_*` names, such as the references of the images a deploy
    /// builds), after the stage's own: values files, `set` and hostnames
    /// may use them; the stage's variables cannot, they resolved before.
    pub fn add_generated(&mut self, vars: Vec<(String, String)>) {
        for (name, value) in vars {
            self.entries.retain(|e| e.name != name);
            self.entries.push(Entry {
                name,
                value,
                secret: false,
            });
        }
    }

    /// `${NAME}` in `text` from this environment (hostnames, values files).
    pub fn expand(&self, text: &str) -> std::result::Result<String, String> {
        template::expand(text, |name| self.get(name))
    }
}

/// The stage's environment at `scope`.
pub fn resolve(repo: &Repo, stage: &Stage, scope: &Scope, secrets: Secrets) -> Result<StageEnv> {
    resolve_with(repo, stage, scope, secrets, |_| Ok(()))
}

/// [`resolve`] with layers of the caller's on top (a task's `env`).
pub fn resolve_with(
    repo: &Repo,
    stage: &Stage,
    scope: &Scope,
    secrets: Secrets,
    extra: impl FnOnce(&mut Model) -> Result<()>,
) -> Result<StageEnv> {
    let kube = match &scope.cluster {
        Some(cluster) => Some(crate::cluster::kube_target(repo, stage, cluster)?),
        None => None,
    };
    let builtins = builtins::values(repo, stage, scope, kube.as_ref());
    let mut model = Model::new(&repo.root, builtins, user_env().clone(), secrets);
    add_layers(repo, stage, scope, &mut model)?;
    extra(&mut model)?;
    let resolved = model.resolve().map_err(|report| match report {
        model::MissingReport::Fatal(e) => e,
        model::MissingReport::Missing(missing) => anyhow!(describe_missing(&missing, stage, scope)),
    })?;
    let mut entries = resolved.entries;
    for entry in entries.iter().filter(|e| e.secret) {
        ui::register_secret(&entry.value);
    }
    let path_prefix = builtins::path_prefix(repo, scope);
    let prompt = builtins::prompt(repo, stage, scope);
    let builtin_count = entries
        .iter()
        .take_while(|e| !model.defines(&e.name))
        .count();
    let base_path = user_env().get("PATH").cloned().unwrap_or_default();
    let mut path = path_prefix.join(":");
    if !base_path.is_empty() {
        path.push(':');
        path.push_str(&base_path);
    }
    entries.insert(
        builtin_count,
        Entry {
            name: "XTASK_PROMPT".to_owned(),
            value: prompt.clone(),
            secret: false,
        },
    );
    entries.insert(
        builtin_count + 1,
        Entry {
            name: "PATH".to_owned(),
            value: path,
            secret: false,
        },
    );
    Ok(StageEnv {
        entries,
        path_prefix,
        prompt,
        kube,
        without_value: resolved.without_value,
        model,
    })
}

fn add_layers(repo: &Repo, stage: &Stage, scope: &Scope, model: &mut Model) -> Result<()> {
    let stage_names = repo.stage_names()?;
    if let Some(comm) = repo.comm()? {
        model.add_layer(&comm, &comm.value.vars)?;
    }
    model.add_layer(&stage.file, &stage.file.value.vars)?;
    let Some(cluster) = &scope.cluster else {
        return Ok(());
    };
    let file = repo.cluster(cluster)?;
    model.add_layer(&file, &file.value.vars)?;
    check_stage_keys(&file, file.value.stages.keys(), &stage_names)?;
    if let Some(table) = crate::cluster::stage_table(&file.value, &stage.name) {
        model.add_layer(&file, &table.vars)?;
    }
    let Some(app) = &scope.app else {
        return Ok(());
    };
    let file = repo.app(cluster, app)?;
    model.add_layer(&file, &file.value.vars)?;
    check_stage_keys(&file, file.value.stages.keys(), &stage_names)?;
    if let Some((_, table)) = file
        .value
        .stages
        .iter()
        .find(|(k, _)| k.get_ref() == &stage.name)
    {
        model.add_layer(&file, &table.vars)?;
    }
    Ok(())
}

fn describe_missing(missing: &[model::MissingVar], stage: &Stage, scope: &Scope) -> String {
    let scope = match scope.label() {
        s if s.is_empty() => String::new(),
        s => format!(" ({s})"),
    };
    let count = match missing.len() {
        1 => "1 required variable is".to_owned(),
        n => format!("{n} required variables are"),
    };
    let mut out = format!("{count} missing for stage {}{scope}:", stage.name);
    let width = missing.iter().map(|m| m.name.len()).max().unwrap_or(0);
    for m in missing {
        out.push_str(&format!(
            "\n  {:width$}  {}\n  {:width$}  declared at {}: {}",
            m.name,
            m.description.as_deref().unwrap_or("(no description)"),
            "",
            m.origin,
            m.reason
        ));
    }
    out.push_str("\n  hint: set them in your environment, or give them a `value`, `from_file` or `from_cmd` source");
    out
}

fn check_stage_keys<'a, T>(
    file: &Loaded<T>,
    keys: impl Iterator<Item = &'a toml::Spanned<String>>,
    stage_names: &[String],
) -> Result<()> {
    for key in keys {
        if !stage_names.iter().any(|s| s == key.get_ref()) {
            return Err(file.error_at(
                &key.span(),
                format!(
                    "[stages.{}] names a stage that does not exist\n  hint: {}",
                    key.get_ref(),
                    suggest::hint("stage", key.get_ref(), stage_names)
                ),
            ));
        }
    }
    Ok(())
}

fn secret_in_values(display: &str, line: usize, name: &str) -> anyhow::Error {
    anyhow!(
        "{display}:{line}: `${{{name}}}` is a secret (or built from one), and helm keeps values in the release where anyone who reads it sees them\n  hint: list it in the release's `env = [\"{name}\"]` in app.toml: its containers then get it from a Secret"
    )
}
