//! The stage/env model: layering of variables, `${VAR}` interpolation,
//! required and secret variables, and provenance.
//!
//! Layers, later wins: envs/comm < envs/<stage> < cluster < cluster's stage
//! table < app < app's stage table. A reference `${X}` means the final value
//! of X, except inside X's own definition, where it means the value X had in
//! the layers below (so `PATH_EXTRA = "${PATH_EXTRA}:more"` extends).

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use crate::config::{Loaded, Target, VarDef, VarSource, VarTable};
use crate::process::Cmd;
use crate::repo::{Repo, Scope, Stage};
use crate::suggest;

/// Where the previous overlay's original values are kept, so that switching
/// stage or running another stage from inside a Stagecraft shell starts from
/// the user's own environment, not from the other stage's.
pub const RESTORE_VAR: &str = "XTASK_RESTORE";

pub const MASK: &str = "***";

/// One place that defines a variable.
#[derive(Debug, Clone)]
pub struct Definition {
    /// `envs/local.toml:7`
    pub origin: String,
    pub def: VarDef,
}

#[derive(Debug)]
struct Var {
    name: String,
    /// Lowest layer first.
    chain: Vec<Definition>,
}

/// A resolved variable, in output order.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    pub value: String,
    /// Secret, or computed from a secret.
    pub secret: bool,
}

pub struct Model {
    root: std::path::PathBuf,
    builtins: Vec<(String, String)>,
    vars: Vec<Var>,
    index: HashMap<String, usize>,
    base: BTreeMap<String, String>,
    /// Leave secrets (and what is built from them) out instead of resolving
    /// them: for commands that never hand them to anything.
    skip_secrets: bool,
}

#[derive(Clone)]
struct Value {
    text: String,
    secret: bool,
}

/// Why a variable has no value.
#[derive(Clone)]
struct Missing {
    name: String,
    reason: String,
}

enum Failure {
    Missing(Missing),
    Fatal(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Fatal(e)
    }
}

type Resolution = std::result::Result<Option<Value>, Failure>;

/// Everything a command needs to run in a stage.
pub struct StageEnv {
    /// Built-ins then variables, in order; values are real (mask on output).
    pub entries: Vec<Entry>,
    /// The folders put in front of the inherited PATH.
    pub path_prefix: Vec<String>,
    pub prompt: String,
}

impl Model {
    /// Collects the layers of `stage` at `scope`. `base` is the user's own
    /// environment (see [`base_env`]).
    pub fn build(
        repo: &Repo,
        stage: &Stage,
        scope: &Scope,
        base: BTreeMap<String, String>,
    ) -> Result<Model> {
        let stage_names = repo.stage_names()?;
        let mut model = Model {
            root: repo.root.clone(),
            builtins: Vec::new(),
            vars: Vec::new(),
            index: HashMap::new(),
            base,
            skip_secrets: false,
        };
        if let Some(comm) = repo.comm()? {
            model.add_layer(&comm, &comm.value.vars)?;
        }
        model.add_layer(&stage.file, &stage.file.value.vars)?;
        let mut context = stage
            .file
            .value
            .context
            .as_ref()
            .map(|c| c.get_ref().clone());
        if let Some(cluster) = &scope.cluster {
            let file = repo.cluster(cluster)?;
            model.add_layer(&file, &file.value.vars)?;
            check_stage_keys(&file, file.value.stages.keys(), &stage_names)?;
            if let Some(table) = for_stage(&file.value.stages, &stage.name) {
                model.add_layer(&file, &table.vars)?;
                if let Some(ctx) = &table.context {
                    if stage.target() == Target::Kind {
                        return Err(file.error_at(
                            &ctx.span(),
                            format!(
                                "`context` is only for remote stages, and `{}` is a kind stage\n  hint: remove it",
                                stage.name
                            ),
                        ));
                    }
                    context = Some(ctx.get_ref().clone());
                }
            }
            if let Some(app) = &scope.app {
                let file = repo.app(cluster, app)?;
                model.add_layer(&file, &file.value.vars)?;
                check_stage_keys(&file, file.value.stages.keys(), &stage_names)?;
                if let Some(table) = for_stage(&file.value.stages, &stage.name) {
                    model.add_layer(&file, &table.vars)?;
                }
            }
        }
        let kube_context = match (stage.target(), &scope.cluster) {
            (Target::Kind, Some(cluster)) => Some(format!("kind-{cluster}-{}", stage.name)),
            (Target::Kind, None) => None,
            (Target::Remote, _) => context,
        };
        let kubeconfig = repo.kubeconfig(scope.cluster.as_deref(), &stage.name);
        let root = repo.root.display().to_string();
        let mut builtins = vec![
            ("XTASK_ROOT".to_owned(), root),
            ("XTASK_STAGE".to_owned(), stage.name.clone()),
        ];
        if let Some(cluster) = &scope.cluster {
            builtins.push(("XTASK_CLUSTER".to_owned(), cluster.clone()));
        }
        if let Some(app) = &scope.app {
            builtins.push(("XTASK_APP".to_owned(), app.clone()));
        }
        builtins.push(("KUBECONFIG".to_owned(), kubeconfig.display().to_string()));
        if let Some(ctx) = kube_context {
            builtins.push(("XTASK_KUBE_CONTEXT".to_owned(), ctx));
        }
        model.builtins = builtins;
        Ok(model)
    }

    fn add_layer<T>(&mut self, file: &Loaded<T>, vars: &VarTable) -> Result<()> {
        // BTreeMap order is alphabetical; definitions keep file order.
        let mut defs: Vec<_> = vars.iter().collect();
        defs.sort_by_key(|(k, _)| k.span().start);
        for (key, def) in defs {
            let name = key.get_ref();
            check_var_name(file, key)?;
            let mut def = def.get_ref().clone();
            if def.source == VarSource::Env(String::new()) {
                def.source = VarSource::Env(name.clone());
            }
            let origin = format!("{}:{}", file.display, file.line_of(&key.span()));
            let definition = Definition { origin, def };
            match self.index.get(name) {
                Some(&i) => self.vars[i].chain.push(definition),
                None => {
                    self.index.insert(name.clone(), self.vars.len());
                    self.vars.push(Var {
                        name: name.clone(),
                        chain: vec![definition],
                    });
                }
            }
        }
        Ok(())
    }

    /// Resolves every variable. All missing required variables are reported
    /// together, with their descriptions.
    pub fn resolve(&self, repo: &Repo, stage: &Stage, scope: &Scope) -> Result<StageEnv> {
        let mut memo = HashMap::new();
        let mut missing: Vec<Missing> = Vec::new();
        let mut entries: Vec<Entry> = self
            .builtins
            .iter()
            .map(|(name, value)| Entry {
                name: name.clone(),
                value: value.clone(),
                secret: false,
            })
            .collect();
        for var in &self.vars {
            match self.final_value(&var.name, &mut memo, &mut Vec::new()) {
                Ok(Some(value)) => entries.push(Entry {
                    name: var.name.clone(),
                    value: value.text,
                    secret: value.secret,
                }),
                Ok(None) => {}
                Err(Failure::Missing(m)) => {
                    if !missing.iter().any(|seen| seen.name == m.name) {
                        missing.push(m);
                    }
                }
                Err(Failure::Fatal(e)) => return Err(e),
            }
        }
        if !missing.is_empty() && !self.skip_secrets {
            bail!(self.missing_report(&missing, stage, scope));
        }
        let path_prefix = path_prefix(repo, scope);
        let prompt = prompt(repo, stage, scope);
        entries.insert(
            self.builtins.len(),
            Entry {
                name: "XTASK_PROMPT".to_owned(),
                value: prompt.clone(),
                secret: false,
            },
        );
        let base_path = self.base.get("PATH").cloned().unwrap_or_default();
        let mut path = path_prefix.join(":");
        if !base_path.is_empty() {
            path.push(':');
            path.push_str(&base_path);
        }
        entries.insert(
            self.builtins.len() + 1,
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
        })
    }

    fn missing_report(&self, missing: &[Missing], stage: &Stage, scope: &Scope) -> String {
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
            let var = &self.vars[self.index[&m.name]];
            let description = var
                .chain
                .iter()
                .rev()
                .find_map(|d| d.def.description.as_deref())
                .unwrap_or("(no description)");
            let origin = &var.chain.last().expect("a var has a definition").origin;
            out.push_str(&format!(
                "\n  {:width$}  {description}\n  {:width$}  {}; declared at {origin}",
                m.name, "", m.reason
            ));
        }
        out.push_str("\n  hint: set them in your environment, or give them a `value`, `from_file` or `from_cmd` source");
        out
    }

    fn final_value(
        &self,
        name: &str,
        memo: &mut HashMap<String, Resolution>,
        stack: &mut Vec<(usize, usize)>,
    ) -> Resolution {
        if let Some((_, value)) = self.builtins.iter().find(|(n, _)| n == name) {
            return Ok(Some(Value {
                text: value.clone(),
                secret: false,
            }));
        }
        if let Some(done) = memo.get(name) {
            return clone_resolution(done);
        }
        let i = self.index[name];
        let result = self.definition_value(i, self.vars[i].chain.len() - 1, memo, stack);
        if !matches!(result, Err(Failure::Fatal(_))) {
            memo.insert(name.to_owned(), clone_resolution(&result));
        }
        result
    }

    /// The value of definition `level` of var `i`.
    fn definition_value(
        &self,
        i: usize,
        level: usize,
        memo: &mut HashMap<String, Resolution>,
        stack: &mut Vec<(usize, usize)>,
    ) -> Resolution {
        let var = &self.vars[i];
        let definition = &var.chain[level];
        if self.skip_secrets && var.chain[..=level].iter().any(|d| d.def.secret) {
            return Err(Failure::Missing(Missing {
                name: var.name.clone(),
                reason: "a secret, not resolved here".to_owned(),
            }));
        }
        if let Some(pos) = stack.iter().position(|&frame| frame == (i, level)) {
            let cycle: Vec<String> = stack[pos..]
                .iter()
                .chain(std::iter::once(&(i, level)))
                .map(|&(v, l)| format!("{} ({})", self.vars[v].name, self.vars[v].chain[l].origin))
                .collect();
            return Err(anyhow!(
                "{}: variable `{}` is part of a reference cycle: {}\n  hint: break the cycle by giving one of them a literal value",
                definition.origin,
                var.name,
                cycle.join(" -> ")
            )
            .into());
        }
        stack.push((i, level));
        let result = self.source_value(i, level, memo, stack);
        stack.pop();
        let secret_chain = var.chain[..=level].iter().any(|d| d.def.secret);
        match result {
            Ok(Some(mut value)) => {
                value.secret |= secret_chain;
                Ok(Some(value))
            }
            Ok(None) if var.chain[..=level].iter().any(|d| d.def.required) => {
                Err(Failure::Missing(Missing {
                    name: var.name.clone(),
                    reason: self.unavailable_reason(&definition.def.source),
                }))
            }
            other => other,
        }
    }

    fn source_value(
        &self,
        i: usize,
        level: usize,
        memo: &mut HashMap<String, Resolution>,
        stack: &mut Vec<(usize, usize)>,
    ) -> Resolution {
        let definition = &self.vars[i].chain[level];
        match &definition.def.source {
            VarSource::Value(text) => self.interpolate(text, i, level, memo, stack).map(Some),
            VarSource::Env(name) => Ok(self.base.get(name).map(|text| Value {
                text: text.clone(),
                secret: false,
            })),
            VarSource::File(path) => {
                let path = self.interpolate(path, i, level, memo, stack)?;
                match std::fs::read_to_string(self.root.join(&path.text)) {
                    Ok(text) => Ok(Some(Value {
                        text: trim_newline(text),
                        secret: path.secret,
                    })),
                    Err(_) => Ok(None),
                }
            }
            VarSource::Cmd(command) => {
                let command = self.interpolate(command, i, level, memo, stack)?;
                let env: Vec<(String, String)> = self
                    .base
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .chain(self.builtins.iter().cloned())
                    .collect();
                let cmd = Cmd::new("sh")
                    .arg("-c")
                    .arg(&command.text)
                    .dir(&self.root)
                    .full_env(env);
                match cmd.read() {
                    Ok(text) => Ok(Some(Value {
                        text: trim_newline(text),
                        secret: command.secret,
                    })),
                    Err(e) if definition.def.required => Err(Failure::Missing(Missing {
                        name: self.vars[i].name.clone(),
                        reason: format!("from_cmd failed: {e}"),
                    })),
                    Err(e) => Err(anyhow!(
                        "{}: `{}` from_cmd: {e}",
                        definition.origin,
                        self.vars[i].name
                    )
                    .into()),
                }
            }
        }
    }

    fn unavailable_reason(&self, source: &VarSource) -> String {
        match source {
            VarSource::Env(name) => format!("from_env: ${name} is not set"),
            VarSource::File(path) => format!("from_file: cannot read {path}"),
            VarSource::Cmd(cmd) => format!("from_cmd `{cmd}` gave nothing"),
            VarSource::Value(_) => "no value".to_owned(),
        }
    }

    fn interpolate(
        &self,
        text: &str,
        i: usize,
        level: usize,
        memo: &mut HashMap<String, Resolution>,
        stack: &mut Vec<(usize, usize)>,
    ) -> std::result::Result<Value, Failure> {
        let var = &self.vars[i];
        let origin = &var.chain[level].origin;
        let mut out = Value {
            text: String::with_capacity(text.len()),
            secret: false,
        };
        let pieces = pieces(text).map_err(|problem| {
            Failure::Fatal(anyhow!(
                "{origin}: `{}` has {problem}\n  hint: close it with `}}`, or write `$$` for a literal `$`",
                var.name
            ))
        })?;
        for piece in pieces {
            let name = match piece {
                Piece::Text(text) => {
                    out.text.push_str(text);
                    continue;
                }
                Piece::Ref(name) => name,
            };
            let value = if name == var.name {
                if level == 0 {
                    return Err(anyhow!(
                        "{origin}: `{}` refers to itself, but no earlier layer defines it\n  hint: define `{}` in a lower layer (envs/comm.toml), or remove the reference",
                        var.name,
                        var.name
                    )
                    .into());
                }
                self.definition_value(i, level - 1, memo, stack)?
            } else if self.index.contains_key(name) || self.builtins.iter().any(|(n, _)| n == name)
            {
                self.final_value(name, memo, stack)?
            } else {
                return Err(self.undefined(name, &var.name, origin).into());
            };
            let Some(value) = value else {
                return Err(anyhow!(
                    "{origin}: `{}` refers to `${{{name}}}`, which has no value here (its source gave nothing)\n  hint: make `{name}` required, or give it a value",
                    var.name
                )
                .into());
            };
            out.text.push_str(&value.text);
            out.secret |= value.secret;
        }
        Ok(out)
    }

    fn undefined(&self, name: &str, referrer: &str, origin: &str) -> anyhow::Error {
        let known: Vec<&str> = self
            .builtins
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(["XTASK_CLUSTER", "XTASK_APP"])
            .chain(self.vars.iter().map(|v| v.name.as_str()))
            .collect();
        let hint = if matches!(name, "XTASK_CLUSTER" | "XTASK_APP") {
            format!(
                "`{name}` is only set inside a cluster or app scope; move the variable to the cluster's or app's file"
            )
        } else {
            match suggest::closest(name, known) {
                Some(best) => format!("did you mean `${{{best}}}`?"),
                None => format!("define `{name}`, or write `$${{{name}}}` for a literal"),
            }
        };
        anyhow!("{origin}: `{referrer}` refers to undefined variable `${{{name}}}`\n  hint: {hint}")
    }

    /// `VAR=value` and the chain of file:line that set and overrode it.
    pub fn explain(&self, name: &str, env: &StageEnv, reveal: bool) -> Result<Explanation> {
        let entry = env.entries.iter().find(|e| e.name == name);
        let chain = match self.index.get(name) {
            Some(&i) => self.vars[i]
                .chain
                .iter()
                .enumerate()
                .map(|(level, d)| Step {
                    origin: d.origin.clone(),
                    action: if level == 0 { "set" } else { "overridden" },
                    source: describe_source(&d.def, reveal),
                })
                .collect(),
            None if entry.is_some() => vec![Step {
                origin: "stagecraft".to_owned(),
                action: "built-in",
                source: builtin_meaning(name).to_owned(),
            }],
            None => {
                let names: Vec<String> = env.entries.iter().map(|e| e.name.clone()).collect();
                return Err(suggest::unknown("variable", name, &names));
            }
        };
        let (value, secret) = match entry {
            Some(e) => (Some(mask(e, reveal).to_owned()), e.secret),
            None => (
                None,
                self.vars[self.index[name]]
                    .chain
                    .iter()
                    .any(|d| d.def.secret),
            ),
        };
        Ok(Explanation {
            name: name.to_owned(),
            value,
            secret,
            chain,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Explanation {
    pub name: String,
    /// None: an optional variable whose source gave nothing.
    pub value: Option<String>,
    pub secret: bool,
    pub chain: Vec<Step>,
}

#[derive(Debug, Serialize)]
pub struct Step {
    pub origin: String,
    pub action: &'static str,
    pub source: String,
}

pub fn mask(entry: &Entry, reveal: bool) -> &str {
    if entry.secret && !reveal {
        MASK
    } else {
        &entry.value
    }
}

fn describe_source(def: &VarDef, reveal: bool) -> String {
    let quoted = |s: &str| format!("{s:?}");
    let mut out = match &def.source {
        VarSource::Value(_) if def.secret && !reveal => MASK.to_owned(),
        VarSource::Value(v) => quoted(v),
        VarSource::Env(name) => format!("from_env {}", quoted(name)),
        VarSource::File(path) => format!("from_file {}", quoted(path)),
        VarSource::Cmd(cmd) => format!("from_cmd {}", quoted(cmd)),
    };
    if def.required {
        out.push_str(" (required)");
    }
    if def.secret {
        out.push_str(" (secret)");
    }
    out
}

fn builtin_meaning(name: &str) -> &'static str {
    match name {
        "XTASK_ROOT" => "the repository root",
        "XTASK_STAGE" => "the stage",
        "XTASK_CLUSTER" => "the cluster of the scope",
        "XTASK_APP" => "the app of the scope",
        "XTASK_PROMPT" => "the prompt prefix (shell.toml [prompt])",
        "XTASK_KUBE_CONTEXT" => "the kube context of the cluster and stage",
        "KUBECONFIG" => "the cluster+stage kubeconfig under deps/kube/",
        "PATH" => "deps/bin, the .bin folders of repo, cluster and app, then the inherited PATH",
        _ => "set by stagecraft",
    }
}

fn clone_resolution(r: &Resolution) -> Resolution {
    match r {
        Ok(v) => Ok(v.clone()),
        Err(Failure::Missing(m)) => Err(Failure::Missing(m.clone())),
        Err(Failure::Fatal(e)) => Err(Failure::Fatal(anyhow!("{e:#}"))),
    }
}

fn trim_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// Names Stagecraft owns: a config file may not set them.
fn reserved(name: &str) -> bool {
    matches!(name, "PATH" | "KUBECONFIG") || name.starts_with("XTASK_")
}

/// Why `name` cannot be a variable of a config file, if it cannot.
pub fn var_name_problem(name: &str) -> Option<String> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Some(format!(
            "`{name}` is not a valid variable name\n  hint: use letters, digits and '_', not starting with a digit"
        ));
    }
    if reserved(name) {
        return Some(format!(
            "`{name}` is set by Stagecraft and cannot be overridden (PATH, KUBECONFIG and XTASK_* are reserved)\n  \
             hint: put tools in a .bin/ folder instead of changing PATH; remove `{name}`"
        ));
    }
    None
}

fn check_var_name<T>(file: &Loaded<T>, key: &toml::Spanned<String>) -> Result<()> {
    match var_name_problem(key.get_ref()) {
        Some(problem) => Err(file.error_at(&key.span(), problem)),
        None => Ok(()),
    }
}

fn check_stage_keys<'a, T>(
    file: &Loaded<T>,
    keys: impl Iterator<Item = &'a toml::Spanned<String>>,
    stage_names: &[String],
) -> Result<()> {
    for key in keys {
        if !stage_names.iter().any(|s| s == key.get_ref()) {
            let hint = suggest::unknown("stage", key.get_ref(), stage_names).to_string();
            let hint = hint.split_once('\n').map_or("", |(_, h)| h);
            return Err(file.error_at(
                &key.span(),
                format!(
                    "[stages.{}] names a stage that does not exist\n{hint}",
                    key.get_ref()
                ),
            ));
        }
    }
    Ok(())
}

/// A template cut at its `${NAME}` references; `$$` is a literal `$`.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Ref(&'a str),
}

fn pieces(text: &str) -> std::result::Result<Vec<Piece<'_>>, &'static str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push(Piece::Text(&rest[..dollar]));
        let after = &rest[dollar + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push(Piece::Text("$"));
            rest = after;
        } else if let Some(body) = after.strip_prefix('{') {
            let close = body.find('}').ok_or("an unterminated `${`")?;
            out.push(Piece::Ref(&body[..close]));
            rest = &body[close + 1..];
        } else {
            out.push(Piece::Text("$"));
            rest = after;
        }
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// Fills `${NAME}` from resolved entries: for templates outside the
/// variables (an app's `hosts`). The error names what is missing.
pub fn expand(text: &str, entries: &[Entry]) -> std::result::Result<String, String> {
    let mut out = String::new();
    for piece in pieces(text).map_err(str::to_owned)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Ref(name) => match entries.iter().find(|e| e.name == name) {
                Some(entry) => out.push_str(&entry.value),
                None => return Err(format!("undefined variable `${{{name}}}`")),
            },
        }
    }
    Ok(out)
}

/// The `[stages.<stage>]` table of a cluster or app file.
pub fn for_stage<'a, T>(
    stages: &'a BTreeMap<toml::Spanned<String>, T>,
    stage: &str,
) -> Option<&'a T> {
    stages
        .iter()
        .find(|(k, _)| k.get_ref() == stage)
        .map(|(_, table)| table)
}

fn path_prefix(repo: &Repo, scope: &Scope) -> Vec<String> {
    let mut dirs = vec![repo.root.join("deps").join("bin"), repo.root.join(".bin")];
    if let Some(cluster) = &scope.cluster {
        let cluster_dir = repo.root.join("clusters").join(cluster);
        dirs.push(cluster_dir.join(".bin"));
        if let Some(app) = &scope.app {
            dirs.push(cluster_dir.join("apps").join(app).join(".bin"));
        }
    }
    dirs.iter().map(|d| d.display().to_string()).collect()
}

/// `🐣 local hmlet/photos`: the `[prompt] format` of shell.toml.
fn prompt(repo: &Repo, stage: &Stage, scope: &Scope) -> String {
    let format = repo.shell.value.prompt.format.get_ref();
    let text = format
        .replace("{emoji}", stage.emoji())
        .replace("{stage}", &stage.name)
        .replace("{scope}", &scope.label());
    text.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The user's own environment: the process environment with any Stagecraft
/// overlay (recorded in `XTASK_RESTORE`) undone.
fn base_env() -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    if let Some(restore) = env.remove(RESTORE_VAR)
        && let Ok(originals) = serde_json::from_str::<BTreeMap<String, Option<String>>>(&restore)
    {
        for (name, original) in originals {
            match original {
                Some(value) => env.insert(name, value),
                None => env.remove(&name),
            };
        }
    }
    env
}

/// The environment of a child: the base with the stage's entries on top,
/// and the record to undo them.
fn overlay(base: &BTreeMap<String, String>, entries: &[Entry]) -> Vec<(String, String)> {
    let mut env = base.clone();
    let mut originals: BTreeMap<&str, Option<&String>> = BTreeMap::new();
    for entry in entries {
        originals.insert(&entry.name, base.get(&entry.name));
    }
    let restore = serde_json::to_string(&originals).expect("strings serialize");
    for entry in entries {
        env.insert(entry.name.clone(), entry.value.clone());
    }
    env.insert(RESTORE_VAR.to_owned(), restore);
    env.into_iter().collect()
}

/// The environment without its secrets, nor anything built from them, nor
/// the required variables that are missing: for commands (helm) that use
/// only the stage's plain settings, so that rendering prod needs no prod
/// password.
pub fn resolve_public(repo: &Repo, stage: &Stage, scope: &Scope) -> Result<StageEnv> {
    let mut model = Model::build(repo, stage, scope, base_env())?;
    model.skip_secrets = true;
    model.resolve(repo, stage, scope)
}

/// The stage's environment and the complete environment of a child
/// process that runs in it (the user's own, the stage's on top): for
/// `shell` and `run`.
pub fn for_child(
    repo: &Repo,
    stage: &Stage,
    scope: &Scope,
) -> Result<(StageEnv, Vec<(String, String)>)> {
    let base = base_env();
    let env = Model::build(repo, stage, scope, base.clone())?.resolve(repo, stage, scope)?;
    let child = overlay(&base, &env.entries);
    Ok((env, child))
}

/// Loads and resolves in one go, for commands that only need the result.
pub fn resolve(repo: &Repo, stage: &Stage, scope: &Scope) -> Result<(Model, StageEnv)> {
    let model = Model::build(repo, stage, scope, base_env())?;
    let env = model.resolve(repo, stage, scope)?;
    Ok((model, env))
}
