//! The layers of a stage's variables and their resolution: interpolation,
//! sources (`from_env`, `from_file`, `from_cmd`), required and secret
//! variables, and provenance.
//!
//! A reference `${X}` means the final value of X, except inside X's own
//! definition, where it means the value X had in the layers below (so
//! `PATH_EXTRA = "${PATH_EXTRA}:more"` extends).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, anyhow};

use super::template::{Piece, pieces};
use super::{Entry, Secrets};
use crate::config::{Loaded, VarDef, VarSource, VarTable};
use crate::process::Cmd;
use crate::suggest;

/// How long a `from_cmd` may take unless its variable says otherwise.
const CMD_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest chain of references followed (each a few frames deep).
const MAX_DEPTH: usize = 100_000;
/// The most a `from_file` or `from_cmd` value may hold.
pub const MAX_VALUE_BYTES: u64 = 1 << 20;

/// One place that defines a variable.
#[derive(Debug, Clone)]
pub struct Definition {
    /// `envs/local.toml:7`
    pub origin: String,
    pub def: VarDef,
}

#[derive(Debug)]
pub(super) struct Var {
    pub(super) name: String,
    /// Lowest layer first.
    pub(super) chain: Vec<Definition>,
}

pub struct Model {
    root: PathBuf,
    /// Built-in values (XTASK_*, KUBECONFIG), in output order.
    builtins: Vec<(String, String)>,
    pub(super) vars: Vec<Var>,
    pub(super) index: HashMap<String, usize>,
    base: BTreeMap<String, String>,
    secrets: Secrets,
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

/// The definitions being resolved: the chain for a cycle's message, the
/// set for the check (constant time, however deep the chain).
#[derive(Default)]
struct Stack {
    frames: Vec<(usize, usize)>,
    open: HashSet<(usize, usize)>,
}

impl Model {
    pub fn new(
        root: &Path,
        builtins: Vec<(String, String)>,
        base: BTreeMap<String, String>,
        secrets: Secrets,
    ) -> Model {
        Model {
            root: root.to_owned(),
            builtins,
            vars: Vec::new(),
            index: HashMap::new(),
            base,
            secrets,
        }
    }

    /// Adds one layer: the variables of one table of one file.
    pub fn add_layer<T>(&mut self, file: &Loaded<T>, vars: &VarTable) -> Result<()> {
        // BTreeMap order is alphabetical; definitions keep file order.
        let mut defs: Vec<_> = vars.iter().collect();
        defs.sort_by_key(|(k, _)| k.span().start);
        for (key, def) in defs {
            let name = key.get_ref();
            if let Some(problem) = var_name_problem(name) {
                return Err(file.error_at(&key.span(), problem));
            }
            let mut def = def.get_ref().clone();
            if def.source == VarSource::Env(String::new()) {
                def.source = VarSource::Env(name.clone());
            }
            if let VarSource::Value(text) | VarSource::Cmd(text) | VarSource::File(text) =
                &def.source
                && text.contains('\0')
            {
                return Err(file.error_at(
                    &key.span(),
                    format!("`{name}` holds a NUL character, which no shell can hold\n  hint: remove it (write `\\u0000` nowhere in a value)"),
                ));
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

    /// Resolves every variable: built-ins first, then the variables in
    /// definition order. All missing required variables are reported
    /// together (see [`MissingReport`]).
    pub fn resolve(&self) -> Result<Vec<Entry>, MissingReport> {
        // References resolve depth first: a chain of thousands of variables
        // is that many frames deep, more than the main thread's stack.
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(512 << 20)
                .spawn_scoped(scope, || self.resolve_all())
                .expect("a thread for the resolution")
                .join()
                .expect("the resolution does not panic")
        })
    }

    fn resolve_all(&self) -> Result<Vec<Entry>, MissingReport> {
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
            match self.final_value(&var.name, &mut memo, &mut Stack::default()) {
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
                Err(Failure::Fatal(e)) => return Err(MissingReport::Fatal(e)),
            }
        }
        if !missing.is_empty() && self.secrets == Secrets::Resolve {
            return Err(MissingReport::Missing(self.describe_missing(&missing)));
        }
        Ok(entries)
    }

    fn describe_missing(&self, missing: &[Missing]) -> Vec<MissingVar> {
        missing
            .iter()
            .map(|m| {
                let var = &self.vars[self.index[&m.name]];
                MissingVar {
                    name: m.name.clone(),
                    description: var
                        .chain
                        .iter()
                        .rev()
                        .find_map(|d| d.def.description.clone()),
                    reason: m.reason.clone(),
                    origin: var.chain.last().expect("a definition").origin.clone(),
                }
            })
            .collect()
    }

    fn builtin(&self, name: &str) -> Option<&str> {
        self.builtins
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn final_value(
        &self,
        name: &str,
        memo: &mut HashMap<String, Resolution>,
        stack: &mut Stack,
    ) -> Resolution {
        if let Some(value) = self.builtin(name) {
            return Ok(Some(Value {
                text: value.to_owned(),
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
        stack: &mut Stack,
    ) -> Resolution {
        let var = &self.vars[i];
        let definition = &var.chain[level];
        let secret_chain = var.chain[..=level].iter().any(|d| d.def.secret);
        if self.secrets == Secrets::Skip && secret_chain {
            return Err(Failure::Missing(Missing {
                name: var.name.clone(),
                reason: "a secret, not resolved here".to_owned(),
            }));
        }
        if stack.frames.len() > MAX_DEPTH {
            return Err(anyhow!(
                "{}: `{}` refers through a chain of more than {MAX_DEPTH} variables\n  hint: shorten the chain of `${{...}}` references",
                definition.origin,
                var.name
            )
            .into());
        }
        if stack.open.contains(&(i, level)) {
            let pos = stack
                .frames
                .iter()
                .position(|&frame| frame == (i, level))
                .expect("open frames are on the stack");
            let cycle: Vec<String> = stack.frames[pos..]
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
        stack.frames.push((i, level));
        stack.open.insert((i, level));
        let result = self.source_value(i, level, memo, stack);
        stack.frames.pop();
        stack.open.remove(&(i, level));
        match result {
            Ok(Some(mut value)) => {
                value.secret |= secret_chain;
                if value.secret {
                    // Masked in every line from now on, errors of the
                    // rest of this resolution included.
                    crate::ui::register_secret(&value.text);
                }
                if value.text.contains('\0') {
                    return Err(anyhow!(
                        "{}: the value of `{}` holds a NUL character, which no shell can hold\n  hint: fix its source",
                        definition.origin,
                        var.name
                    )
                    .into());
                }
                Ok(Some(value))
            }
            Ok(None) if var.chain[..=level].iter().any(|d| d.def.required) => {
                Err(Failure::Missing(Missing {
                    name: var.name.clone(),
                    reason: unavailable_reason(&definition.def.source),
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
        stack: &mut Stack,
    ) -> Resolution {
        let definition = &self.vars[i].chain[level];
        let name = &self.vars[i].name;
        match &definition.def.source {
            VarSource::Value(text) => self.interpolate(text, i, level, memo, stack).map(Some),
            VarSource::Env(env_name) => Ok(self.base.get(env_name).map(|text| Value {
                text: text.clone(),
                secret: false,
            })),
            VarSource::File(template) => {
                let path = self.interpolate(template, i, level, memo, stack)?;
                let file = self
                    .source_path(template, &path.text)
                    .map_err(|e| anyhow!("{}: `{name}` from_file: {e}", definition.origin))?;
                match read_value_file(&file) {
                    Ok(Some(text)) => Ok(Some(Value {
                        text: trim_newline(text),
                        secret: path.secret,
                    })),
                    Ok(None) => Ok(None),
                    Err(e) => Err(anyhow!(
                        "{}: `{name}` from_file {}: {e}\n  hint: point it at a readable regular file of at most {} KiB",
                        definition.origin,
                        file.display(),
                        MAX_VALUE_BYTES / 1024
                    )
                    .into()),
                }
            }
            VarSource::Cmd(command) => {
                let (script, env) = self.command_script(command, i, level, memo, stack)?;
                let timeout = definition
                    .def
                    .timeout
                    .map_or(CMD_TIMEOUT, Duration::from_secs);
                let cmd = Cmd::new("sh")
                    .arg("-c")
                    .arg(&script.text)
                    .dir(&self.root)
                    .full_env(env)
                    .timeout(timeout)
                    .max_output(MAX_VALUE_BYTES as usize);
                match cmd.read() {
                    Ok(text) => Ok(Some(Value {
                        text: trim_newline(text),
                        secret: script.secret,
                    })),
                    Err(e) if definition.def.required => Err(Failure::Missing(Missing {
                        name: name.clone(),
                        reason: format!("from_cmd failed: {e}"),
                    })),
                    Err(e) => Err(anyhow!("{}: `{name}` from_cmd: {e}", definition.origin).into()),
                }
            }
        }
    }

    /// A `from_cmd` as sh runs it: every `${NAME}` stays a reference that
    /// sh fills from the child's environment, where the value is; so no
    /// value, secret or not, is ever on argv. `$$` becomes `$`.
    fn command_script(
        &self,
        command: &str,
        i: usize,
        level: usize,
        memo: &mut HashMap<String, Resolution>,
        stack: &mut Stack,
    ) -> std::result::Result<(Value, Vec<(String, String)>), Failure> {
        let var = &self.vars[i];
        let mut env: BTreeMap<String, String> = self.base.clone();
        env.extend(self.builtins.iter().cloned());
        let mut script = Value {
            text: String::with_capacity(command.len()),
            secret: false,
        };
        for piece in self.pieces_of(command, i, level)? {
            match piece {
                Piece::Text(text) => script.text.push_str(text),
                Piece::Ref(name) => {
                    let value = self.reference(name, i, level, memo, stack)?;
                    script.secret |= value.secret;
                    env.insert(name.to_owned(), value.text);
                    script.text.push_str(&format!("${{{name}}}"));
                }
            }
        }
        let _ = var;
        Ok((script, env.into_iter().collect()))
    }

    /// Where a `from_file` reads: relative to the root and inside it, or
    /// an absolute or `~/` path when the template itself is written so.
    fn source_path(&self, template: &str, path: &str) -> Result<PathBuf> {
        if template.starts_with('/') {
            return Ok(PathBuf::from(path));
        }
        if let Some(rest) = template.strip_prefix("~/") {
            let home = self
                .base
                .get("HOME")
                .ok_or_else(|| anyhow!("`~/` needs $HOME, which is not set"))?;
            let rest = path.strip_prefix("~/").unwrap_or(rest);
            return Ok(Path::new(home).join(rest));
        }
        let relative = Path::new(path);
        if relative.is_absolute()
            || relative
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        {
            anyhow::bail!(
                "`{path}` leaves the repository\n  hint: a path outside the repository must be written as an absolute path or with `~/`"
            );
        }
        let full = self.root.join(relative);
        if let (Ok(real), Ok(root)) = (full.canonicalize(), self.root.canonicalize())
            && !real.starts_with(&root)
        {
            anyhow::bail!(
                "`{path}` is a link that leads out of the repository ({})\n  hint: write the real path, absolute or with `~/`",
                real.display()
            );
        }
        Ok(full)
    }

    fn pieces_of<'t>(
        &self,
        text: &'t str,
        i: usize,
        level: usize,
    ) -> std::result::Result<Vec<Piece<'t>>, Failure> {
        let var = &self.vars[i];
        pieces(text).map_err(|problem| {
            Failure::Fatal(anyhow!(
                "{}: `{}` has {problem}\n  hint: close it with `}}`, or write `$$` for a literal `$`",
                var.chain[level].origin,
                var.name
            ))
        })
    }

    /// The value `${name}` stands for inside definition `level` of var `i`.
    fn reference(
        &self,
        name: &str,
        i: usize,
        level: usize,
        memo: &mut HashMap<String, Resolution>,
        stack: &mut Stack,
    ) -> std::result::Result<Value, Failure> {
        let var = &self.vars[i];
        let origin = &var.chain[level].origin;
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
        } else if self.index.contains_key(name) || self.builtin(name).is_some() {
            self.final_value(name, memo, stack)?
        } else {
            return Err(self.undefined(name, &var.name, origin).into());
        };
        value.ok_or_else(|| {
            anyhow!(
                "{origin}: `{}` refers to `${{{name}}}`, which has no value here (its source gave nothing)\n  hint: make `{name}` required, or give it a value",
                var.name
            )
            .into()
        })
    }

    fn interpolate(
        &self,
        text: &str,
        i: usize,
        level: usize,
        memo: &mut HashMap<String, Resolution>,
        stack: &mut Stack,
    ) -> std::result::Result<Value, Failure> {
        let mut out = Value {
            text: String::with_capacity(text.len()),
            secret: false,
        };
        for piece in self.pieces_of(text, i, level)? {
            match piece {
                Piece::Text(text) => out.text.push_str(text),
                Piece::Ref(name) => {
                    let value = self.reference(name, i, level, memo, stack)?;
                    out.text.push_str(&value.text);
                    out.secret |= value.secret;
                }
            }
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

    /// Whether `name` is a variable of the layers (not a built-in).
    pub fn defines(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }
}

/// Why resolution stopped.
pub enum MissingReport {
    /// Required variables without a value.
    Missing(Vec<MissingVar>),
    Fatal(anyhow::Error),
}

pub struct MissingVar {
    pub name: String,
    pub description: Option<String>,
    pub reason: String,
    pub origin: String,
}

fn unavailable_reason(source: &VarSource) -> String {
    match source {
        VarSource::Env(name) => format!("from_env: ${name} is not set"),
        VarSource::File(path) => format!("from_file: cannot read {path}"),
        VarSource::Cmd(cmd) => format!("from_cmd `{cmd}` gave nothing"),
        VarSource::Value(_) => "no value".to_owned(),
    }
}

/// A value file: None when it does not exist; an error for anything that
/// is not a readable regular file of a sane size.
fn read_value_file(path: &Path) -> Result<Option<String>> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if !meta.is_file() {
        anyhow::bail!("not a regular file (a device, a FIFO or a folder)");
    }
    if meta.len() > MAX_VALUE_BYTES {
        anyhow::bail!("{} bytes, over the limit", meta.len());
    }
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_VALUE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_VALUE_BYTES {
        anyhow::bail!("grew past the limit while reading");
    }
    Ok(Some(text))
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
