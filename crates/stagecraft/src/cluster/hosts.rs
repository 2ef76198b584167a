//! The hosts file block of a cluster+stage:
//!
//! ```text
//! # BEGIN stagecraft hmlet-local
//! 127.0.0.1 photos.localtest.me
//! # END stagecraft hmlet-local
//! ```
//!
//! Written atomically (through a symlink, keeping the file's mode), under
//! a lock, idempotently, with a backup, leaving every other line
//! byte-for-byte as it was. A damaged block (no END line) is an error that
//! touches nothing.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use stagecraft_core::fsx;

pub fn hosts_file(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("XTASK_HOSTS_FILE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/etc/hosts"))
}

fn begin(name: &str) -> String {
    format!("# BEGIN stagecraft {name}")
}

fn end(name: &str) -> String {
    format!("# END stagecraft {name}")
}

pub fn block(name: &str, ip: &str, hosts: &[String]) -> String {
    let mut out = begin(name);
    out.push('\n');
    for host in hosts {
        out.push_str(&format!("{ip} {host}\n"));
    }
    out.push_str(&end(name));
    out.push('\n');
    out
}

/// The `hosts` that no line of `file` maps to `ip` (comments ignored).
pub fn missing_names(file: &Path, ip: &str, hosts: &[String]) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap_or_default();
    let mapped: std::collections::HashSet<&str> = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            (fields.next() == Some(ip)).then_some(fields)
        })
        .flatten()
        .collect();
    hosts
        .iter()
        .filter(|host| !mapped.contains(host.as_str()))
        .cloned()
        .collect()
}

/// `text` with the block of `name` replaced by `new_block` (or removed when
/// None); appended when absent. A BEGIN without its END (or the other way
/// round) is refused: guessing where it ends could delete the user's lines.
fn with_block(text: &str, file: &Path, name: &str, new_block: Option<&str>) -> Result<String> {
    let (begin, end) = (begin(name), end(name));
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let begins: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim_end() == begin)
        .collect();
    let ends: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim_end() == end)
        .collect();
    // Two BEGINs with no END between them: the first one's block never
    // ended, and where it should have is anyone's guess (the user's lines
    // may follow it). Refused, changing nothing.
    if let [first, second, ..] = begins[..]
        && !ends.iter().any(|e| (first..second).contains(e))
    {
        let shown: Vec<String> = lines[first..=second]
            .iter()
            .enumerate()
            .map(|(i, l)| format!("    {}: {}", first + i + 1, l.trim_end()))
            .collect();
        bail!(
            "{}:{}: two `{begin}` lines without an `{end}` between them; nothing was changed:\n{}\n  hint: delete line {} (the BEGIN whose block never ended) and keep the lines of your own after it, then run the command again",
            file.display(),
            first + 1,
            shown.join("\n"),
            first + 1
        );
    }
    let (start, stop) = (begins.first().copied(), ends.first().copied());
    match (start, stop) {
        (Some(s), Some(e)) if s < e => {
            let mut out: String = lines[..s].concat();
            out.push_str(new_block.unwrap_or(""));
            out.push_str(&lines[e + 1..].concat());
            Ok(out)
        }
        (None, None) => {
            let mut out = text.to_owned();
            if let Some(block) = new_block {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(block);
            }
            Ok(out)
        }
        (Some(s), _) | (None, Some(s)) => {
            let shown: Vec<String> = lines[s..]
                .iter()
                .take(8)
                .enumerate()
                .map(|(i, l)| format!("    {}: {}", s + i + 1, l.trim_end()))
                .collect();
            bail!(
                "{}: the stagecraft block of {name} is damaged (its `{begin}` or `{end}` line is missing); nothing was changed:\n{}\n  hint: fix or remove those lines by hand, then run the command again",
                file.display(),
                shown.join("\n")
            )
        }
    }
}

pub enum Outcome {
    Unchanged,
    Written {
        backup: PathBuf,
    },
    /// Not writable by this user: run again with sudo.
    NotWritable,
}

/// One edit of the hosts file, by `add-hosts` or `remove-hosts`.
pub struct Edit<'a> {
    pub path: &'a Path,
    /// Named on the command line (`--hosts-file`): no question asked.
    pub explicit: bool,
    /// `--yes`: the system hosts file is edited without asking.
    pub yes: bool,
    pub dry_run: bool,
}

/// Puts the block of `name` in place (`Some`) or removes it (`None`).
/// The system hosts file is only edited after a yes on the terminal (or
/// `--yes`); a dry run says what it would change.
pub fn edit(edit: &Edit, name: &str, block: Option<&str>, command: &str) -> Result<Outcome> {
    let path = edit.path;
    if edit.dry_run {
        return match block {
            Some(block) => write_block(path, name, block, true),
            None => remove_block(path, name, true).map(|_| Outcome::Unchanged),
        };
    }
    if !writable(path) {
        return Ok(Outcome::NotWritable);
    }
    let old = read(path)?;
    if with_block(&old, path, name, block)? == old {
        return Ok(Outcome::Unchanged);
    }
    if !edit.explicit {
        let question = match block {
            Some(block) => format!(
                "{}\nWrite these lines to {}?",
                block.trim_end(),
                path.display()
            ),
            None => format!(
                "Remove the lines from `{}` to `{}` from {}?",
                begin(name),
                end(name),
                path.display()
            ),
        };
        stagecraft_core::stage::confirm::yes_no(
            &question,
            edit.yes,
            &format!(
                "{command} edits {}, the system hosts file: pass --yes to confirm when there is no terminal to ask on (or --hosts-file FILE for another file); nothing was changed",
                path.display()
            ),
        )?;
    }
    replace(path, |old| with_block(old, path, name, block))
}

/// Puts the block in place. In a dry run, only says what it would write.
pub fn write_block(path: &Path, name: &str, block: &str, dry_run: bool) -> Result<Outcome> {
    if dry_run {
        let old = read(path)?;
        if with_block(&old, path, name, Some(block))? != old {
            stagecraft_core::outln!("# write to {}:\n{}", path.display(), block.trim_end());
        }
        return Ok(Outcome::Unchanged);
    }
    replace(path, |old| with_block(old, path, name, Some(block)))
}

/// Removes the block; true when there was one.
pub fn remove_block(path: &Path, name: &str, dry_run: bool) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    if dry_run {
        let old = read(path)?;
        let changed = with_block(&old, path, name, None)? != old;
        if changed {
            stagecraft_core::outln!("# remove the block {} from {}", begin(name), path.display());
        }
        return Ok(changed);
    }
    match replace(path, |old| with_block(old, path, name, None))? {
        Outcome::NotWritable => bail!(
            "{} is not writable: remove the lines from `{}` to `{}` by hand, or run the command with sudo",
            path.display(),
            begin(name),
            end(name)
        ),
        Outcome::Unchanged => Ok(false),
        Outcome::Written { .. } => Ok(true),
    }
}

fn read(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Reads, changes and writes the file under its folder's lock, so that
/// two edits at once (two stages' blocks) both land.
fn replace(path: &Path, change: impl FnOnce(&str) -> Result<String>) -> Result<Outcome> {
    if !writable(path) {
        return Ok(Outcome::NotWritable);
    }
    let _lock = fsx::lock_dir_of(path)?;
    let old = read(path)?;
    let new = change(&old)?;
    if new == old {
        return Ok(Outcome::Unchanged);
    }
    let target = fsx::write_target(path);
    let backup = PathBuf::from(format!("{}.stagecraft.bak", target.display()));
    // The backup is as private as the file: made exclusively with its
    // mode, renamed over whatever was planted at its name.
    let mode = fs::metadata(&target).map_or(0o644, |m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode()
    });
    fsx::replace_file(&backup, old.as_bytes(), mode)?;
    if fsx::write_atomic(path, new.as_bytes(), 0o644).is_err() {
        // /etc/hosts is often a bind mount (containers): no rename onto it.
        fs::write(&target, &new).with_context(|| format!("cannot write {}", target.display()))?;
    }
    Ok(Outcome::Written { backup })
}

fn writable(path: &Path) -> bool {
    let target = fsx::write_target(path);
    let probe = if target.exists() {
        target
    } else {
        target.parent().unwrap_or(Path::new(".")).to_owned()
    };
    let Ok(c_path) = CString::new(probe.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path; access() only reads it.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(text: &str, name: &str, block: Option<&str>) -> Result<String> {
        with_block(text, Path::new("hosts"), name, block)
    }

    #[test]
    fn block_is_inserted_replaced_and_removed_leaving_other_lines() {
        let original = "127.0.0.1 localhost\n# a comment\n::1 localhost";
        let b1 = block("c-local", "127.0.0.1", &["a.test".into()]);
        let once = with(original, "c-local", Some(&b1)).unwrap();
        assert_eq!(once, format!("{original}\n{b1}"));
        assert_eq!(
            with(&once, "c-local", Some(&b1)).unwrap(),
            once,
            "idempotent"
        );
        let b2 = block("c-local", "127.0.0.1", &["a.test".into(), "b.test".into()]);
        let twice = with(&format!("{once}tail line\n"), "c-local", Some(&b2)).unwrap();
        assert_eq!(twice, format!("{original}\n{b2}tail line\n"));
        let other = block("c-test", "127.0.0.1", &["t.test".into()]);
        let both = with(&twice, "c-test", Some(&other)).unwrap();
        assert_eq!(
            with(&both, "c-local", None).unwrap(),
            format!("{original}\ntail line\n{other}")
        );
    }

    #[test]
    fn a_block_without_its_end_is_refused() {
        let text = "127.0.0.1 localhost\n# BEGIN stagecraft c-local\n127.0.0.1 a.test\n10.0.0.5 nas.home\n";
        let err = with(text, "c-local", Some("x")).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        assert!(err.contains("4: 10.0.0.5 nas.home"), "{err}");
    }
}
