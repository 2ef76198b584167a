//! The layers of a stage's variables and their resolution: interpolation,
//! sources (`from_env`, `from_file`, `from_cmd`), required and secret
//! variables, and provenance.
//!
//! A reference `${X}` means the final value of X, except inside X's own
//! definition, where it means the value X had in the layers below (so
//! `PATH_EXTRA = "${PATH_EXTRA}:more"` extends).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use super::template::{Piece, pieces};
use super::{Entry, Secrets};
use crate::config::{Loaded, VarDef, VarSource, VarTable};
use crate::suggest;

mod sources;
use sources::unavailable_reason;

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
    /// A secret this resolution skipped (`Secrets::Skip`), not a source
    /// that gave nothing.
    skipped: bool,
}

/// A declared variable that came out of the resolution without a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithoutValue {
    pub name: String,
    /// A secret, or built from one.
    pub secret: bool,
    /// A secret skipped by `Secrets::Skip` (its value may well exist).
    pub skipped: bool,
    /// Why, as `from_env: $X is not set`.
    pub reason: String,
    /// Required: a deploy refuses rather than give it nothing.
    pub required: bool,
    /// file:line of its last definition.
    pub origin: String,
}

/// What a resolution gives: the values, and the variables without one.
pub struct Resolved {
    pub entries: Vec<Entry>,
    pub without_value: Vec<WithoutValue>,
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
    pub fn resolve(&self) -> Result<Resolved, MissingReport> {
        // References resolve depth first: a chain of thousands of variables
        // is that many frames deep, more than the main thread's stack. A
        // chain is never longer than the variables; a few hundred fit (and
        // a thread per resolution costs a deploy of 100 apps 20 ms).
        const ON_THIS_STACK: usize = 256;
        if self.vars.len() <= ON_THIS_STACK {
            return self.resolve_all();
        }
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(512 << 20)
                .spawn_scoped(scope, || self.resolve_all())
                .expect("a thread for the resolution")
                .join()
                .expect("the resolution does not panic")
        })
    }

    fn resolve_all(&self) -> Result<Resolved, MissingReport> {
        let mut memo = HashMap::new();
        let mut missing: Vec<Missing> = Vec::new();
        let mut without_value = Vec::new();
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
                Ok(None) => {
                    let last = var.chain.last().expect("a definition");
                    without_value.push(WithoutValue {
                        name: var.name.clone(),
                        secret: var.chain.iter().any(|d| d.def.secret),
                        skipped: false,
                        reason: unavailable_reason(&last.def.source),
                        required: false,
                        origin: last.origin.clone(),
                    });
                }
                Err(Failure::Missing(m)) => {
                    let last = var.chain.last().expect("a definition");
                    // Built from a variable without a value: unknown
                    // here, as a skipped secret is.
                    let skipped = m.skipped || m.name != var.name;
                    without_value.push(WithoutValue {
                        name: var.name.clone(),
                        secret: skipped || var.chain.iter().any(|d| d.def.secret),
                        skipped,
                        reason: m.reason.clone(),
                        required: var.chain.iter().any(|d| d.def.required),
                        origin: last.origin.clone(),
                    });
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
        Ok(Resolved {
            entries,
            without_value,
        })
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
        // A skipped secret is not read; whether its variable or file is
        // there at all is no secret, and a missing one is worth a warning.
        if self.secrets == Secrets::Skip
            && secret_chain
            && !self.known_absent(&definition.def.source)
        {
            return Err(Failure::Missing(Missing {
                name: var.name.clone(),
                reason: "a secret, not resolved here".to_owned(),
                skipped: true,
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
                    skipped: false,
                }))
            }
            other => other,
        }
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

fn clone_resolution(r: &Resolution) -> Resolution {
    match r {
        Ok(v) => Ok(v.clone()),
        Err(Failure::Missing(m)) => Err(Failure::Missing(m.clone())),
        Err(Failure::Fatal(e)) => Err(Failure::Fatal(anyhow!("{e:#}"))),
    }
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
