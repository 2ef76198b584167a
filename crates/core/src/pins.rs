//! The pinned tools as the light binary sees them: names, versions and how
//! to ask a copy for its version, read from deps/deps.toml as plain TOML
//! (the full schema, downloads and checksums are the ops binary's), and
//! the copy on PATH that runs when deps/bin lacks one.

use std::path::Path;
use std::time::Duration;

use crate::process::{Cmd, find_on_path, is_executable};
use crate::repo::Repo;

/// One `[tools.<name>]` of deps/deps.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub name: String,
    pub version: String,
    /// How to ask a copy for its version (default `--version`).
    pub version_args: Vec<String>,
}

/// The pins, in file order; none when the file is missing or unreadable
/// (the commands that need it say so).
pub fn read(repo: &Repo) -> Vec<Pin> {
    let Some(doc) = std::fs::read_to_string(repo.root.join("deps/deps.toml"))
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
    else {
        return Vec::new();
    };
    let Some(tools) = doc.get("tools").and_then(|t| t.as_table()) else {
        return Vec::new();
    };
    tools
        .iter()
        .filter_map(|(name, table)| {
            let version = table.get("version")?.as_str()?.to_owned();
            let version_args = table
                .get("version_args")
                .and_then(|a| a.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_else(|| vec!["--version".to_owned()]);
            Some(Pin {
                name: name.clone(),
                version,
                version_args,
            })
        })
        .collect()
}

/// A copy of a tool found on PATH, and the version it says it is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OnPath {
    pub path: String,
    pub version: Option<String>,
}

/// The first copy of `name` on `path` outside `bin` (deps/bin), asked for
/// its version (a copy that hangs is given five seconds).
pub fn on_path(
    name: &str,
    version_args: &[String],
    path: &std::ffi::OsStr,
    bin: &Path,
) -> Option<OnPath> {
    let found = find_on_path(name, path, Some(bin))?;
    let version = Cmd::new(&found)
        .args(version_args)
        .no_stdin()
        .timeout(Duration::from_secs(5))
        .read()
        .ok()
        .and_then(|text| version_in(&text));
    Some(OnPath {
        path: found.display().to_string(),
        version,
    })
}

/// A pinned tool missing from deps/bin while the user's PATH has a copy of
/// another version, which is what would run.
#[derive(Debug, Clone)]
pub struct Shadowed {
    pub pin: Pin,
    pub found: OnPath,
}

impl Shadowed {
    /// One line naming both versions and the fix.
    pub fn describe(&self) -> String {
        format!(
            "{name} {pinned} is pinned but not in deps/bin; `{name}` runs {path} ({found}) instead: `cargo xtask deps install {name}`",
            name = self.pin.name,
            pinned = self.pin.version,
            path = self.found.path,
            found = self
                .found
                .version
                .as_deref()
                .map_or("an unknown version".to_owned(), |v| format!("version {v}")),
        )
    }
}

/// The pinned tools among `names` that deps/bin lacks while the user's
/// PATH has another version. Runs nothing when deps/bin has them all.
pub fn shadowed(repo: &Repo, names: &[&str]) -> Vec<Shadowed> {
    let bin = repo.bin_dir();
    let missing: Vec<Pin> = read(repo)
        .into_iter()
        .filter(|pin| names.contains(&pin.name.as_str()) && !is_executable(&bin.join(&pin.name)))
        .collect();
    if missing.is_empty() {
        return Vec::new();
    }
    // The user's own PATH: what runs when deps/bin has no copy.
    let path = crate::user_env::user_env()
        .get("PATH")
        .cloned()
        .unwrap_or_default();
    missing
        .into_iter()
        .filter_map(|pin| {
            let found = on_path(&pin.name, &pin.version_args, path.as_ref(), &bin)?;
            (found.version.as_deref() != Some(pin.version.as_str()))
                .then_some(Shadowed { pin, found })
        })
        .collect()
}

/// The first x.y.z in a tool's version output.
pub fn version_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|start| {
        if start > 0 && bytes[start - 1].is_ascii_digit() {
            return None;
        }
        let rest = &text[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let candidate = rest[..end].trim_end_matches('.');
        (candidate.split('.').count() >= 3 && candidate.split('.').all(|p| !p.is_empty()))
            .then(|| candidate.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_in_output() {
        assert_eq!(
            version_in("Client Version: v1.35.2\nKustomize Version: v5.7.1").as_deref(),
            Some("1.35.2")
        );
        assert_eq!(version_in("v4.1.4+g05fa379").as_deref(), Some("4.1.4"));
        assert_eq!(
            version_in("kind v0.30.0 go1.24.6 linux/amd64").as_deref(),
            Some("0.30.0")
        );
        assert_eq!(version_in("no version"), None);
    }
}
