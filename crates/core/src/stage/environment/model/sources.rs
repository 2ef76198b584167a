//! Where a variable's value comes from: `from_env`, `from_file` and
//! `from_cmd` (and whether a skipped secret's source is there at all).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, anyhow};

use super::{Failure, MAX_VALUE_BYTES, Missing, Model, Resolution, Stack, Value};
use crate::config::VarSource;
use crate::process::Cmd;
use crate::stage::environment::template::Piece;
use std::collections::{BTreeMap, HashMap};

/// How long a `from_cmd` may take unless its variable says otherwise.
const CMD_TIMEOUT: Duration = Duration::from_secs(10);

impl Model {
    /// A `from_env` whose variable is not set, a `from_file` (without
    /// `${...}`) whose file is not there: known to give nothing without
    /// reading anything.
    pub(super) fn known_absent(&self, source: &VarSource) -> bool {
        match source {
            VarSource::Env(name) => !self.base.contains_key(name),
            VarSource::File(template) if !template.contains('$') => self
                .source_path(template, template)
                .is_ok_and(|path| !path.exists()),
            _ => false,
        }
    }

    pub(super) fn source_value(
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
                        skipped: false,
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
}

pub(super) fn unavailable_reason(source: &VarSource) -> String {
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

fn trim_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}
