//! Pinned tools: the `deps/deps.toml` model and what is installed in
//! `deps/bin/`. Installing is [`install`]; pinning checksums [`lock`].

pub mod addons;
pub mod helm_record;
pub mod install;
pub mod lock;
pub mod toolbox;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::download;
use stagecraft_core::config::{self, Loaded};
use stagecraft_core::repo::Repo;
use stagecraft_core::suggest;

pub const DEPS_FILE: &str = "deps/deps.toml";
pub const PLATFORMS: [&str; 4] = ["linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"];
const RECORD_FILE: &str = ".stagecraft-installed.json";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepsToml {
    #[serde(default)]
    pub tools: BTreeMap<Spanned<String>, ToolPin>,
    /// What `cluster bootstrap` installs into kind clusters.
    #[serde(default)]
    pub addons: BTreeMap<Spanned<String>, addons::AddonPin>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolPin {
    pub version: String,
    /// With `{version}`, `{os}` and `{arch}`.
    pub url: String,
    #[serde(default)]
    pub archive: Archive,
    /// The binary's path inside a tar.gz or zip archive (placeholders allowed).
    pub binary: Option<Spanned<String>>,
    /// The official checksum file, for `deps lock`.
    pub checksum_url: String,
    /// How to ask a copy of the tool for its version (default `--version`).
    pub version_args: Option<Vec<String>>,
    #[serde(default)]
    pub sha256: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Archive {
    #[default]
    #[serde(rename = "raw")]
    Raw,
    #[serde(rename = "tar.gz")]
    TarGz,
    #[serde(rename = "zip")]
    Zip,
}

/// The validated pins.
pub struct Pins {
    pub file: Loaded<DepsToml>,
}

impl Pins {
    pub fn load(repo: &Repo) -> Result<Pins> {
        let path = repo.root.join(DEPS_FILE);
        if !path.is_file() {
            bail!(
                "{DEPS_FILE} does not exist\n  hint: create it with a [tools.<name>] table per tool, as docs/deps.md shows"
            );
        }
        Pins::check(config::load(&path, DEPS_FILE.to_owned())?)
    }

    /// The pins in `text` (a new deps.toml, checked before it is written).
    pub fn parse(text: &str) -> Result<Pins> {
        Pins::check(config::parse(text, DEPS_FILE.to_owned())?)
    }

    fn check(file: Loaded<DepsToml>) -> Result<Pins> {
        for (name, pin) in &file.value.tools {
            for (platform, sum) in &pin.sha256 {
                if !PLATFORMS.contains(&platform.get_ref().as_str()) {
                    let hint = suggest::closest(platform.get_ref(), PLATFORMS).map_or_else(
                        || format!("the platforms are {}", PLATFORMS.join(", ")),
                        |p| format!("did you mean `{p}`?"),
                    );
                    return Err(file.error_at(
                        &platform.span(),
                        format!(
                            "tools.{}.sha256: unknown platform `{}`\n  hint: {hint}",
                            name.get_ref(),
                            platform.get_ref()
                        ),
                    ));
                }
                if download::parse_checksum(sum.get_ref()).as_deref()
                    != Some(sum.get_ref().as_str())
                {
                    return Err(file.error_at(
                        &sum.span(),
                        format!(
                            "tools.{}.sha256.{}: not a sha256 (64 lowercase hex digits)\n  hint: run `cargo xtask deps lock {}`",
                            name.get_ref(),
                            platform.get_ref(),
                            name.get_ref()
                        ),
                    ));
                }
            }
            if pin.archive != Archive::Raw && pin.binary.is_none() {
                return Err(anyhow!(
                    "{DEPS_FILE}: tools.{} is an archive but names no `binary`\n  hint: add `binary = \"<path of the binary inside the archive>\"`",
                    name.get_ref()
                ));
            }
        }
        for (name, pin) in &file.value.addons {
            if let Some(sum) = &pin.sha256
                && download::parse_checksum(sum.get_ref()).as_deref()
                    != Some(sum.get_ref().as_str())
            {
                return Err(file.error_at(
                    &sum.span(),
                    format!(
                        "addons.{}.sha256: not a sha256 (64 lowercase hex digits)\n  hint: remove the line: `cluster bootstrap` pins it again from the official source",
                        name.get_ref()
                    ),
                ));
            }
        }
        Ok(Pins { file })
    }

    /// The pin of a cluster addon.
    pub fn addon(&self, name: &str) -> Result<&addons::AddonPin> {
        self.file
            .value
            .addons
            .iter()
            .find(|(n, _)| n.get_ref() == name)
            .map(|(_, pin)| pin)
            .ok_or_else(|| {
                anyhow!(
                    "{DEPS_FILE} has no [addons.{name}]\n  hint: cluster bootstrap installs it into kind clusters; copy the table from the example repository's {DEPS_FILE} (docs/clusters.md)"
                )
            })
    }

    /// The `[addons.*]` names.
    pub fn addon_names(&self) -> Vec<String> {
        self.file
            .value
            .addons
            .keys()
            .map(|k| k.get_ref().clone())
            .collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.file
            .value
            .tools
            .keys()
            .map(|k| k.get_ref().clone())
            .collect()
    }

    pub fn get(&self, name: &str) -> Result<&ToolPin> {
        self.file
            .value
            .tools
            .iter()
            .find(|(k, _)| k.get_ref() == name)
            .map(|(_, pin)| pin)
            .ok_or_else(|| suggest::unknown("tool", name, &self.names()))
    }

    /// The named tools (checked), or all of them.
    pub fn select(&self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(self.names());
        }
        for name in names {
            self.get(name)?;
        }
        Ok(names.to_vec())
    }
}

impl ToolPin {
    pub fn sha256_for(&self, platform: &str) -> Option<&str> {
        self.sha256
            .iter()
            .find(|(k, _)| k.get_ref() == platform)
            .map(|(_, v)| v.get_ref().as_str())
    }
}

/// `{version}`, `{os}` and `{arch}` filled in for a platform like `linux-amd64`.
pub fn expand(template: &str, version: &str, platform: &str) -> String {
    let (os, arch) = platform.split_once('-').unwrap_or((platform, ""));
    template
        .replace("{version}", version)
        .replace("{os}", os)
        .replace("{arch}", arch)
}

/// This machine as deps.toml names platforms.
pub fn host_platform() -> Result<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Ok("linux-amd64"),
        ("linux", "aarch64") => Ok("linux-arm64"),
        ("macos", "x86_64") => Ok("darwin-amd64"),
        ("macos", "aarch64") => Ok("darwin-arm64"),
        (os, arch) => bail!(
            "no pinned tools for {os}/{arch}: the platforms are {}",
            PLATFORMS.join(", ")
        ),
    }
}

/// What was installed, so that a second run needs no network at all.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Record {
    pub tools: BTreeMap<String, Installed>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Installed {
    pub version: String,
    pub platform: String,
    /// The sha256 of the download, as pinned.
    pub sha256: String,
    /// The size of the installed binary: a changed size means it was replaced.
    pub size: u64,
    /// The sha256 of the installed binary itself (what `deps check` verifies).
    #[serde(default)]
    pub file_sha256: String,
    /// Its modification time (ns since the epoch): the cheap check.
    #[serde(default)]
    pub mtime_ns: u128,
    /// Its inode and change time: a file swapped in (a rename: another
    /// inode) or overwritten with its old size and mtime put back (the
    /// change time moves with every write and with `touch`) is caught
    /// without reading it.
    #[serde(default)]
    pub inode: Option<u64>,
    #[serde(default)]
    pub ctime_ns: Option<i128>,
}

/// The inode and change time (ns since the epoch) of `meta`.
pub fn identity(meta: &fs::Metadata) -> (u64, i128) {
    use std::os::unix::fs::MetadataExt;
    (
        meta.ino(),
        i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
    )
}

/// How closely [`status`] looks at an installed binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Size and modification time, as installed: every command.
    Fast,
    /// The sha256 of the file too: `deps check`.
    Full,
}

/// The modification time of `meta` in ns since the epoch.
pub fn mtime_ns(meta: &fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

pub fn bin_dir(repo: &Repo) -> PathBuf {
    repo.bin_dir()
}

impl Record {
    pub fn load(repo: &Repo) -> Record {
        fs::read(bin_dir(repo).join(RECORD_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save(&self, repo: &Repo) -> Result<()> {
        let path = bin_dir(repo).join(RECORD_FILE);
        let text = serde_json::to_vec_pretty(self)?;
        stagecraft_core::fsx::write_atomic(&path, &text, 0o644)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Status {
    UpToDate,
    Missing,
    Stale {
        installed: String,
    },
    /// The file in deps/bin is not the one Stagecraft installed.
    Modified,
    /// deps.toml has no sha256 for this platform.
    Unpinned,
}

impl Status {
    pub fn describe(&self) -> String {
        match self {
            Status::UpToDate => "up to date".into(),
            Status::Missing => "missing".into(),
            Status::Stale { installed } => format!("stale (installed {installed})"),
            Status::Modified => "modified since it was installed".into(),
            Status::Unpinned => "no sha256 pinned".into(),
        }
    }
}

pub fn status(
    repo: &Repo,
    record: &Record,
    name: &str,
    pin: &ToolPin,
    platform: &str,
    verify: Verify,
) -> Status {
    let Some(sha) = pin.sha256_for(platform) else {
        return Status::Unpinned;
    };
    let path = bin_dir(repo).join(name);
    let (Some(installed), Ok(meta)) = (record.tools.get(name), fs::metadata(&path)) else {
        return Status::Missing;
    };
    if installed.version != pin.version || installed.sha256 != sha || installed.platform != platform
    {
        return Status::Stale {
            installed: installed.version.clone(),
        };
    }
    // A binary replaced by hand (even by one of the same size) is not the
    // one that was verified.
    let (inode, ctime_ns) = identity(&meta);
    if meta.len() != installed.size
        || mtime_ns(&meta) != installed.mtime_ns
        || installed.inode.is_some_and(|i| i != inode)
        || installed.ctime_ns.is_some_and(|c| c != ctime_ns)
    {
        return Status::Modified;
    }
    if verify == Verify::Full
        && fs::read(&path)
            .map(|bytes| crate::sha::sha256_hex(&bytes))
            .ok()
            != Some(installed.file_sha256.clone())
    {
        return Status::Modified;
    }
    Status::UpToDate
}

pub use stagecraft_core::pins::version_in;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(
            expand(
                "https://x/v{version}/bin/{os}/{arch}/kubectl",
                "1.35.2",
                "darwin-arm64"
            ),
            "https://x/v1.35.2/bin/darwin/arm64/kubectl"
        );
    }
}

/// The command that alone needs an optional tool (skaffold: `app dev`,
/// off the everyday path); None for the tools `up` needs.
pub fn optional_use(name: &str) -> Option<&'static str> {
    match name {
        "skaffold" => Some("`cargo xtask app dev`"),
        "telepresence" => Some("`cargo xtask app intercept`"),
        _ => None,
    }
}

/// One tool as `deps list` shows it.
#[derive(Serialize)]
pub struct ToolReport {
    pub name: String,
    pub pinned: String,
    pub installed: Option<String>,
    #[serde(flatten)]
    pub status: Status,
    /// What other commands run: deps/bin first, then PATH.
    pub resolved: Option<String>,
    pub on_path: Option<OnPath>,
}

pub use stagecraft_core::pins::OnPath;

/// Pinned, installed and on-PATH versions of every tool.
pub fn reports(repo: &Repo, pins: &Pins) -> Result<Vec<ToolReport>> {
    let platform = host_platform()?;
    let record = Record::load(repo);
    let bin = bin_dir(repo);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut out = Vec::new();
    for name in pins.names() {
        let pin = pins.get(&name)?;
        let status = status(repo, &record, &name, pin, platform, Verify::Fast);
        let version_args = pin
            .version_args
            .clone()
            .unwrap_or_else(|| vec!["--version".to_owned()]);
        let on_path = stagecraft_core::pins::on_path(&name, &version_args, &path, &bin);
        out.push(ToolReport {
            installed: record
                .tools
                .get(&name)
                .filter(|_| status != Status::Missing)
                .map(|i| i.version.clone()),
            pinned: pin.version.clone(),
            resolved: repo.tool(&name).ok().map(|p| p.display().to_string()),
            status,
            on_path,
            name,
        });
    }
    Ok(out)
}
