//! The hosts file block of a cluster+stage:
//!
//! ```text
//! # BEGIN stagecraft hmlet-local
//! 127.0.0.1 photos.localtest.me
//! # END stagecraft hmlet-local
//! ```
//!
//! Written atomically and idempotently, with a backup, leaving every other
//! line byte-for-byte as it was.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::tools;

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

/// `text` with the block of `name` replaced by `new_block` (or removed when
/// None); appended when absent.
fn with_block(text: &str, name: &str, new_block: Option<&str>) -> String {
    let (begin, end) = (begin(name), end(name));
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = lines.iter().position(|l| l.trim_end() == begin);
    let stop = start.and_then(|s| {
        lines[s..]
            .iter()
            .position(|l| l.trim_end() == end)
            .map(|e| s + e)
    });
    match (start, stop) {
        (Some(s), Some(e)) => {
            let mut out: String = lines[..s].concat();
            out.push_str(new_block.unwrap_or(""));
            out.push_str(&lines[e + 1..].concat());
            out
        }
        _ => {
            let mut out = text.to_owned();
            if let Some(block) = new_block {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(block);
            }
            out
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

/// Puts the block in place. In a dry run, only says what it would write.
pub fn write_block(path: &Path, name: &str, block: &str, dry_run: bool) -> Result<Outcome> {
    let old = read(path)?;
    let new = with_block(&old, name, Some(block));
    if new == old {
        return Ok(Outcome::Unchanged);
    }
    if dry_run {
        println!("# write to {}:\n{}", path.display(), block.trim_end());
        return Ok(Outcome::Unchanged);
    }
    replace(path, &old, &new)
}

/// Removes the block; true when there was one.
pub fn remove_block(path: &Path, name: &str, dry_run: bool) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    let old = read(path)?;
    let new = with_block(&old, name, None);
    if new == old {
        return Ok(false);
    }
    if dry_run {
        println!("# remove the block {} from {}", begin(name), path.display());
        return Ok(true);
    }
    match replace(path, &old, &new)? {
        Outcome::NotWritable => anyhow::bail!(
            "{} is not writable: remove the lines from `{}` to `{}` by hand, or run the command with sudo",
            path.display(),
            begin(name),
            end(name)
        ),
        _ => Ok(true),
    }
}

fn read(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn replace(path: &Path, old: &str, new: &str) -> Result<Outcome> {
    if !writable(path) {
        return Ok(Outcome::NotWritable);
    }
    let backup = PathBuf::from(format!("{}.stagecraft.bak", path.display()));
    tools::write_atomic(&backup, old.as_bytes())?;
    if tools::write_atomic(path, new.as_bytes()).is_err() {
        // /etc/hosts is often a bind mount (containers): no rename onto it.
        fs::write(path, new).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(Outcome::Written { backup })
}

fn writable(path: &Path) -> bool {
    let target = if path.exists() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let Ok(c_path) = CString::new(target.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path; access() only reads it.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_is_inserted_replaced_and_removed_leaving_other_lines() {
        let original = "127.0.0.1 localhost\n# a comment\n::1 localhost";
        let b1 = block("c-local", "127.0.0.1", &["a.test".into()]);
        let once = with_block(original, "c-local", Some(&b1));
        assert_eq!(once, format!("{original}\n{b1}"));
        assert_eq!(with_block(&once, "c-local", Some(&b1)), once, "idempotent");
        let b2 = block("c-local", "127.0.0.1", &["a.test".into(), "b.test".into()]);
        let twice = with_block(&format!("{once}tail line\n"), "c-local", Some(&b2));
        assert_eq!(twice, format!("{original}\n{b2}tail line\n"));
        let other = block("c-test", "127.0.0.1", &["t.test".into()]);
        let both = with_block(&twice, "c-test", Some(&other));
        assert_eq!(
            with_block(&both, "c-local", None),
            format!("{original}\ntail line\n{other}")
        );
    }
}
