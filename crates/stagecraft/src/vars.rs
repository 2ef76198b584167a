//! `var set|unset|get`: a variable edited in the file and table the stage
//! and scope name, comments and layout kept. The edit is checked (the file
//! still loads, every stage it touches still resolves) before it is
//! written, atomically, under a lock, keeping the file's mode.

use anyhow::{Context, Result, bail};
use toml_edit::{DocumentMut, InlineTable, Item, Table, Value};

use crate::tomlx::{keep_attached_comment, set_keeping_decor};
use stagecraft_core::repo::{Repo, Scope};
use stagecraft_core::stage::environment::{self, Secrets, template};
use stagecraft_core::ui::{self, MASK};
use stagecraft_core::{fsx, suggest};

/// A config file and the table of it that holds the variables.
pub struct Place {
    pub rel: String,
    pub table: Vec<String>,
    scope: Scope,
    stage: Option<String>,
}

impl Place {
    /// `--stage S` alone is envs/S.toml; a cluster or app scope is its
    /// file, `[vars]` or `[stages.S.vars]`; the root is envs/comm.toml.
    pub fn new(repo: &Repo, scope: Scope, stage: Option<&str>) -> Result<Place> {
        if let Some(stage) = stage {
            repo.stage(stage)?;
        }
        let scoped = |stage: Option<&str>| match stage {
            Some(stage) => vec!["stages".to_owned(), stage.to_owned(), "vars".to_owned()],
            None => vec!["vars".to_owned()],
        };
        let (rel, table) = match (&scope.cluster, &scope.app, stage) {
            (Some(c), Some(a), stage) => (format!("clusters/{c}/apps/{a}/app.toml"), scoped(stage)),
            (Some(c), None, stage) => (format!("clusters/{c}/cluster.toml"), scoped(stage)),
            (None, _, Some(stage)) => (format!("envs/{stage}.toml"), vec!["vars".to_owned()]),
            (None, _, None) => ("envs/comm.toml".to_owned(), vec!["vars".to_owned()]),
        };
        Ok(Place {
            rel,
            table,
            scope,
            stage: stage.map(str::to_owned),
        })
    }

    pub fn label(&self) -> String {
        format!("{} [{}]", self.rel, self.table.join("."))
    }
}

/// Where a secret's value comes from, when it is not a literal.
#[derive(Clone, Copy)]
pub enum Source {
    Env,
    File,
    Cmd,
}

pub struct SetOptions<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub source: Option<Source>,
    /// A literal that is secret.
    pub secret: bool,
    /// A variable that was secret becomes plain (else it stays secret).
    pub no_secret: bool,
    /// `required = true`.
    pub required: bool,
    /// Keep `${...}` live; by default the value is stored as literal text.
    pub template: bool,
    pub dry_run: bool,
}

/// What an edit did, or in a dry run would do: the changed lines, secrets
/// masked.
pub struct Edited {
    pub changed: bool,
    pub diff: String,
}

pub fn set(repo: &Repo, place: &Place, options: &SetOptions) -> Result<Edited> {
    if let Some(problem) = environment::var_name_problem(options.key) {
        bail!(problem);
    }
    let stored = match (options.source, options.template) {
        // An environment variable's name is never a template.
        (Some(Source::Env), _) | (_, true) => options.value.to_owned(),
        _ => template::literal(options.value),
    };
    edit(repo, place, options.dry_run, |doc| {
        let existed = table_exists(doc, &place.table);
        let known = keys(doc, &place.table);
        // What the entry said besides its value stays: a secret stays
        // secret (a plain `s2` must never replace a masked `s1`), and so
        // do `required`, `description` and `timeout`.
        let previous = table_mut(doc, &place.table)?
            .get(options.key)
            .and_then(|item| item.as_inline_table())
            .cloned();
        let kept = |name: &str| previous.as_ref().and_then(|t| t.get(name)).cloned();
        let was_secret = kept("secret").and_then(|v| v.as_bool()) == Some(true);
        let secret =
            options.source.is_some() || options.secret || (was_secret && !options.no_secret);
        if was_secret && secret && !options.secret && options.source.is_none() && !options.dry_run {
            ui::info(&format!(
                "{} stays secret (it was); pass --no-secret to make it plain",
                options.key
            ));
        }
        let required = options.required || kept("required").and_then(|v| v.as_bool()) == Some(true);
        if options.source.is_some() && !required && !options.dry_run {
            // Optional is the default, and what it means is easy to miss.
            ui::note(&format!(
                "{} is optional: where its source gives nothing, deploys give it an empty value (and warn); pass --required to make that an error",
                options.key
            ));
        }
        let mut extras: Vec<(&str, Value)> = Vec::new();
        if secret {
            extras.push(("secret", true.into()));
        }
        if required {
            extras.push(("required", true.into()));
        }
        for name in ["description", "timeout"] {
            if let Some(value) = kept(name) {
                extras.push((name, value));
            }
        }
        let value = if extras.is_empty() {
            Value::from(stored.as_str())
        } else {
            let source = match options.source {
                Some(Source::Env) => "from_env",
                Some(Source::File) => "from_file",
                Some(Source::Cmd) => "from_cmd",
                None => "value",
            };
            let mut table = InlineTable::new();
            table.insert(source, stored.as_str().into());
            for (name, value) in extras {
                table.insert(name, value);
            }
            Value::InlineTable(table)
        };
        set_keeping_decor(table_mut(doc, &place.table)?, options.key, value);
        match (existed, known.is_empty()) {
            (false, _) => keep_attached_comment(doc, &place.table, None),
            (true, true) => keep_attached_comment(doc, &place.table, Some(options.key)),
            (true, false) => {}
        }
        Ok(())
    })
}

/// Whether the table `path` is in the document.
fn table_exists(doc: &DocumentMut, path: &[String]) -> bool {
    let mut item = doc.as_item();
    for segment in path {
        match item.get(segment) {
            Some(next) => item = next,
            None => return false,
        }
    }
    item.is_table()
}

pub fn unset(repo: &Repo, place: &Place, key: &str, dry_run: bool) -> Result<Edited> {
    edit(repo, place, dry_run, |doc| {
        if !keys(doc, &place.table).iter().any(|k| k == key) {
            return Err(missing(key, place, doc));
        }
        table_mut(doc, &place.table)?.remove(key);
        Ok(())
    })
}

/// The variable as the file defines it: its text, `***` for a literal
/// secret.
pub fn get(repo: &Repo, place: &Place, key: &str) -> Result<String> {
    let text = read(repo, place)?;
    let mut doc = parse(place, &text)?;
    if !keys(&doc, &place.table).iter().any(|k| k == key) {
        return Err(missing(key, place, &doc));
    }
    let value = table_mut(&mut doc, &place.table)?
        .get(key)
        .expect("checked")
        .clone();
    let table = value.as_inline_table();
    let secret = table.and_then(|t| t.get("secret")).and_then(Value::as_bool) == Some(true);
    Ok(match value.as_str() {
        _ if secret && table.is_some_and(|t| t.contains_key("value")) => MASK.to_owned(),
        Some(text) => text.to_owned(),
        None => value.to_string().trim().to_owned(),
    })
}

/// Reads, edits and checks the file under its folder's lock; writes it
/// unless `dry_run`.
fn edit(
    repo: &Repo,
    place: &Place,
    dry_run: bool,
    change: impl FnOnce(&mut DocumentMut) -> Result<()>,
) -> Result<Edited> {
    let path = repo.root.join(&place.rel);
    let mut result = None;
    fsx::edit(&path, 0o644, |old| {
        let mut doc = parse(place, old)?;
        change(&mut doc)?;
        let mut new = doc.to_string();
        // A key added at the end of the file ends its line.
        if !new.is_empty() && !new.ends_with('\n') {
            new.push('\n');
        }
        check(repo, place, &new)?;
        result = Some(Edited {
            changed: new != old,
            diff: masked_diff(old, &new),
        });
        Ok((!dry_run).then_some(new))
    })?;
    Ok(result.expect("the edit ran"))
}

/// The new text must load, and every stage it touches must still resolve
/// (without secrets): a typo in `${...}` never reaches the file.
fn check(repo: &Repo, place: &Place, text: &str) -> Result<()> {
    let preview = Repo::discover(&repo.root)?;
    preview
        .preview(&place.rel, text)
        .with_context(|| format!("the edit would break {}", place.rel))?;
    let stages = match &place.stage {
        Some(stage) => vec![stage.clone()],
        None => preview.stage_names()?,
    };
    for stage in stages {
        let stage = preview.stage(&stage)?;
        environment::resolve(&preview, &stage, &place.scope, Secrets::Skip).with_context(|| {
            format!(
                "the edit would break stage {} of {}; nothing was written",
                stage.name, place.rel
            )
        })?;
    }
    Ok(())
}

fn read(repo: &Repo, place: &Place) -> Result<String> {
    match std::fs::read_to_string(repo.root.join(&place.rel)) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && place.rel == "envs/comm.toml" => {
            Ok(String::new())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", place.rel)),
    }
}

fn parse(place: &Place, text: &str) -> Result<DocumentMut> {
    text.parse::<DocumentMut>()
        .map_err(|e| anyhow::anyhow!("{}: {e}", place.rel))
}

/// The variables table, created (as `[stages.local.vars]`, not three
/// headers) when absent.
fn table_mut<'d>(doc: &'d mut DocumentMut, path: &[String]) -> Result<&'d mut Table> {
    let mut table = doc.as_table_mut();
    for (i, segment) in path.iter().enumerate() {
        let item = table.entry(segment).or_insert_with(|| {
            let mut new = Table::new();
            new.set_implicit(i + 1 < path.len());
            Item::Table(new)
        });
        table = item
            .as_table_mut()
            .with_context(|| format!("[{}] is not a table", path[..=i].join(".")))?;
    }
    Ok(table)
}

fn keys(doc: &DocumentMut, path: &[String]) -> Vec<String> {
    let mut item = doc.as_item();
    for segment in path {
        match item.get(segment) {
            Some(next) => item = next,
            None => return Vec::new(),
        }
    }
    item.as_table_like()
        .map(|t| t.iter().map(|(k, _)| k.to_owned()).collect())
        .unwrap_or_default()
}

fn missing(key: &str, place: &Place, doc: &DocumentMut) -> anyhow::Error {
    let names = keys(doc, &place.table);
    anyhow::anyhow!(
        "{} has no `{key}`\n  hint: {}",
        place.label(),
        suggest::hint("variable", key, &names)
    )
}

/// The lines that differ (common head and tail left out), a literal
/// secret's value shown as `***`.
fn masked_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut out = String::new();
    for line in &a[head..a.len() - tail] {
        out.push_str(&format!("-{}\n", mask_line(line)));
    }
    for line in &b[head..b.len() - tail] {
        out.push_str(&format!("+{}\n", mask_line(line)));
    }
    out
}

/// `K = { value = "s3cret", secret = true }` as `K = { value = "***", ... }`.
fn mask_line(line: &str) -> String {
    if !line.contains("secret = true") {
        return line.to_owned();
    }
    let Some(at) = line.find("value = ") else {
        return line.to_owned();
    };
    let rest = &line[at + 8..];
    let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return line.to_owned();
    };
    let mut end = None;
    let mut escaped = false;
    for (i, c) in rest.char_indices().skip(1) {
        match c {
            '\\' if quote == '"' && !escaped => escaped = true,
            c if c == quote && !escaped => {
                end = Some(i);
                break;
            }
            _ => escaped = false,
        }
    }
    match end {
        Some(end) => format!("{}value = \"{MASK}\"{}", &line[..at], &rest[end + 1..]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_diffs_mask_literal_secrets() {
        let old = "[vars]\nA = \"1\"\nB = \"2\"\n";
        let new =
            "[vars]\nA = \"1\"\nPW = { value = \"hunter2\\\"x\", secret = true }\nB = \"2\"\n";
        assert_eq!(
            masked_diff(old, new),
            "+PW = { value = \"***\", secret = true }\n"
        );
    }
}
