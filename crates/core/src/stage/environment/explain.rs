//! `env --explain VAR`: the value and the chain of file:line that set
//! and overrode it.

use anyhow::Result;
use serde::Serialize;

use super::Entry;
use super::model::Model;
use crate::config::{VarDef, VarSource};
use crate::suggest;
use crate::ui::MASK;

impl Model {
    /// `VAR=value` and the chain of file:line that set and overrode it.
    pub fn explain(
        &self,
        name: &str,
        entries: &[Entry],
        reveal: bool,
        builtin_meaning: impl Fn(&str) -> &'static str,
    ) -> Result<Explanation> {
        let entry = entries.iter().find(|e| e.name == name);
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
                let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
                return Err(suggest::unknown("variable", name, &names));
            }
        };
        let (value, secret) = match entry {
            Some(e) => (Some(e.shown(reveal).to_owned()), e.secret),
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
