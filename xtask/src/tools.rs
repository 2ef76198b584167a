//! Pinned tools: the `deps/deps.toml` model, what is installed in
//! `deps/bin/`, verified and atomic installs, and finding a tool for every
//! other command (deps/bin first, then PATH).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::{self, Loaded};
use crate::download::{self, Client, Progress};
use crate::repo::Repo;
use crate::suggest;

pub const DEPS_FILE: &str = "deps/deps.toml";
pub const PLATFORMS: [&str; 4] = ["linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"];
const RECORD_FILE: &str = ".stagecraft-installed.json";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepsToml {
    #[serde(default)]
    pub tools: BTreeMap<Spanned<String>, ToolPin>,
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
        let file: Loaded<DepsToml> = config::load(&path, DEPS_FILE.to_owned())?;
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
        Ok(Pins { file })
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
}

pub fn bin_dir(repo: &Repo) -> PathBuf {
    repo.root.join("deps").join("bin")
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
        write_atomic(&path, &text)
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

pub fn status(repo: &Repo, record: &Record, name: &str, pin: &ToolPin, platform: &str) -> Status {
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
    if meta.len() != installed.size {
        return Status::Modified;
    }
    Status::UpToDate
}

/// The program to run for `name`: `deps/bin/<name>`, else the first on
/// PATH. A pinned tool found nowhere gets the fix in its error.
pub fn resolve(repo: &Repo, name: &str) -> Result<PathBuf> {
    let pinned = bin_dir(repo).join(name);
    if pinned.is_file() {
        return Ok(pinned);
    }
    if let Some(found) = find_on_path(name, &bin_dir(repo)) {
        return Ok(found);
    }
    bail!(
        "{name} is not installed (not in deps/bin/ nor on PATH)\n  hint: run `cargo xtask deps install {name}`"
    )
}

/// The tools a dry run has planned to install (`up --dry-run`): later steps
/// of the same run use them from deps/bin, as the real run will.
static PLANNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

pub fn plan_installs(names: &[String]) {
    PLANNED
        .lock()
        .expect("not poisoned")
        .extend(names.iter().cloned());
}

/// Like [`resolve`], but in a dry run a tool planned for install is where
/// `deps install` will put it.
pub fn resolve_planned(repo: &Repo, name: &str, dry_run: bool) -> Result<PathBuf> {
    if dry_run
        && PLANNED
            .lock()
            .expect("not poisoned")
            .iter()
            .any(|n| n == name)
    {
        return Ok(bin_dir(repo).join(name));
    }
    resolve(repo, name)
}

/// The first `name` on PATH outside `skip`.
pub fn find_on_path(name: &str, skip: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| dir != skip)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// One tool's work, reported as it goes.
pub trait Reporter: Sync {
    fn progress(&self, tool: &str, event: Progress);
    fn done(&self, tool: &str, message: &str);
}

pub struct Plan {
    pub name: String,
    pub version: String,
    pub url: String,
    pub sha256: String,
    pub archive: Archive,
    pub binary: Option<String>,
}

pub fn plan(pins: &Pins, name: &str, platform: &str) -> Result<Plan> {
    let pin = pins.get(name)?;
    let sha256 = pin.sha256_for(platform).with_context(|| {
        format!(
            "{DEPS_FILE}: tools.{name} has no sha256 for {platform}\n  hint: run `cargo xtask deps lock {name}` to pin the official checksums"
        )
    })?;
    Ok(Plan {
        name: name.to_owned(),
        version: pin.version.clone(),
        url: expand(&pin.url, &pin.version, platform),
        sha256: sha256.to_owned(),
        archive: pin.archive,
        binary: pin
            .binary
            .as_ref()
            .map(|b| expand(b.get_ref(), &pin.version, platform)),
    })
}

/// Downloads, verifies and installs each planned tool at once; records
/// every success even when another fails.
pub fn install_all(
    repo: &Repo,
    client: &Client,
    plans: &[Plan],
    platform: &str,
    reporter: &dyn Reporter,
) -> Result<()> {
    let bin = bin_dir(repo);
    let cache = repo.root.join("deps").join(".cache");
    for dir in [&bin, &cache] {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let results: Vec<Result<Installed>> = std::thread::scope(|scope| {
        let handles: Vec<_> = plans
            .iter()
            .map(|plan| scope.spawn(|| install_one(client, plan, platform, &bin, &cache, reporter)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an install thread panicked"))
            .collect()
    });
    let mut record = Record::load(repo);
    let mut failures = Vec::new();
    for (plan, result) in plans.iter().zip(results) {
        match result {
            Ok(installed) => {
                record.tools.insert(plan.name.clone(), installed);
            }
            Err(e) => failures.push(format!("{} {}: {e:#}", plan.name, plan.version)),
        }
    }
    if failures.len() < plans.len() {
        record.save(repo)?;
    }
    match failures.len() {
        0 => Ok(()),
        1 => Err(anyhow!(failures.remove(0))),
        n => Err(anyhow!(
            "{n} tools failed to install:\n{}",
            failures.join("\n")
        )),
    }
}

fn install_one(
    client: &Client,
    plan: &Plan,
    platform: &str,
    bin: &Path,
    cache: &Path,
    reporter: &dyn Reporter,
) -> Result<Installed> {
    let part = cache.join(format!("{}-{}-{platform}.part", plan.name, plan.version));
    let result = download_and_install(client, plan, bin, &part, reporter);
    let _ = fs::remove_file(&part);
    let (size, downloaded) = result?;
    reporter.done(
        &plan.name,
        &format!(
            "{} {} installed ({downloaded} bytes, sha256 verified)",
            plan.name, plan.version
        ),
    );
    Ok(Installed {
        version: plan.version.clone(),
        platform: platform.to_owned(),
        sha256: plan.sha256.clone(),
        size,
    })
}

/// Returns the size of the installed binary and of the download.
fn download_and_install(
    client: &Client,
    plan: &Plan,
    bin: &Path,
    part: &Path,
    reporter: &dyn Reporter,
) -> Result<(u64, u64)> {
    let fetched = client.fetch_to(&plan.url, part, &|event| {
        reporter.progress(&plan.name, event)
    })?;
    if fetched.sha256 != plan.sha256 {
        bail!(
            "checksum mismatch for {}\n  expected sha256 {}\n  actual   sha256 {}\n  \
             hint: nothing was installed. The download is not what {DEPS_FILE} pins: if the pin is out of date, \
             run `cargo xtask deps lock {}`; otherwise check the mirror or proxy",
            client.locate(&plan.url),
            plan.sha256,
            fetched.sha256,
            plan.name
        );
    }
    let dest = bin.join(&plan.name);
    let tmp = download::temp_beside(&dest);
    let written = extract(plan, part, &tmp);
    let finish = written.and_then(|()| {
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))
            .context("cannot make it executable")?;
        let size = fs::metadata(&tmp)?.len();
        fs::rename(&tmp, &dest)
            .with_context(|| format!("cannot move it into {}", dest.display()))?;
        Ok((size, fetched.bytes))
    });
    if finish.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    finish
}

/// Writes the tool's binary from the verified download to `out`. Any
/// archive entry that could escape (absolute, `..`, a link pointing out) is
/// refused, whichever entry it is.
fn extract(plan: &Plan, download: &Path, out: &Path) -> Result<()> {
    match (plan.archive, &plan.binary) {
        (Archive::Raw, _) => {
            fs::copy(download, out).with_context(|| format!("cannot write {}", out.display()))?;
            Ok(())
        }
        (Archive::TarGz, Some(binary)) => extract_tar_gz(download, binary, out),
        (Archive::Zip, Some(binary)) => extract_zip(download, binary, out),
        (_, None) => bail!("an archive needs `binary`"),
    }
    .with_context(|| format!("cannot unpack {}", plan.url))
}

fn extract_tar_gz(download: &Path, binary: &str, out: &Path) -> Result<()> {
    let file = File::open(download)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut found = false;
    let mut seen = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&name).into_owned();
        check_entry_path(&name)?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            check_link(&name, &target, kind.is_hard_link())?;
        }
        if same_path(&name, binary) {
            if !kind.is_file() {
                bail!("archive entry `{name}` is not a regular file");
            }
            let mut dest = File::create(out)?;
            io::copy(&mut entry, &mut dest)?;
            found = true;
        }
        seen.push(name);
    }
    if !found {
        bail!(
            "no `{binary}` in the archive; it holds: {}",
            seen.join(", ")
        );
    }
    Ok(())
}

fn extract_zip(download: &Path, binary: &str, out: &Path) -> Result<()> {
    let mut archive = zip::ZipArchive::new(File::open(download)?)?;
    let mut index = None;
    let mut seen = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let name = entry.name().to_owned();
        check_entry_path(&name)?;
        if entry.enclosed_name().is_none() {
            bail!("archive entry `{name}` points outside the archive");
        }
        if entry.is_symlink() {
            let mut target = String::new();
            io::Read::read_to_string(&mut entry, &mut target)?;
            check_link(&name, &target, false)?;
        }
        if same_path(&name, binary) {
            if entry.is_dir() || entry.is_symlink() {
                bail!("archive entry `{name}` is not a regular file");
            }
            index = Some(i);
        }
        seen.push(name);
    }
    let Some(i) = index else {
        bail!(
            "no `{binary}` in the archive; it holds: {}",
            seen.join(", ")
        );
    };
    let mut entry = archive.by_index(i)?;
    let mut dest = File::create(out)?;
    io::copy(&mut entry, &mut dest)?;
    Ok(())
}

fn same_path(entry: &str, wanted: &str) -> bool {
    entry.trim_start_matches("./") == wanted.trim_start_matches("./")
}

fn check_entry_path(name: &str) -> Result<()> {
    let path = Path::new(name);
    if path.is_absolute() || name.starts_with('\\') {
        bail!("archive entry `{name}` has an absolute path: refusing the archive");
    }
    if path.components().any(|c| c == Component::ParentDir)
        || name.split(['/', '\\']).any(|p| p == "..")
    {
        bail!("archive entry `{name}` climbs out with `..`: refusing the archive");
    }
    Ok(())
}

/// A link must resolve inside the archive.
fn check_link(name: &str, target: &str, hard: bool) -> Result<()> {
    if target.starts_with('/') {
        bail!("archive entry `{name}` links to the absolute path `{target}`: refusing the archive");
    }
    // A symlink resolves from its own folder, a hard link from the root.
    let mut depth: i64 = if hard {
        0
    } else {
        Path::new(name).components().count() as i64 - 1
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            bail!(
                "archive entry `{name}` links to `{target}`, outside the archive: refusing the archive"
            );
        }
    }
    Ok(())
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into
/// place: readers see the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = download::temp_beside(path);
    let result = (|| -> Result<()> {
        let mut file = File::create(&tmp)?;
        io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// Leftovers of an install that was killed: partial downloads and
/// half-written binaries. Called under the deps lock, so none is in use.
pub fn clean_leftovers(repo: &Repo) {
    let dirs = [bin_dir(repo), repo.root.join("deps").join(".cache")];
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name.starts_with('.') && name.contains(".tmp-")) || name.ends_with(".part") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// The per-repository lock: two installs at once (two terminals) take turns.
pub fn lock(repo: &Repo, waiting: impl FnOnce()) -> Result<File> {
    let deps = repo.root.join("deps");
    fs::create_dir_all(&deps).with_context(|| format!("cannot create {}", deps.display()))?;
    let path = deps.join(".lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            waiting();
            file.lock()
                .with_context(|| format!("cannot lock {}", path.display()))?;
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    Ok(file)
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

    #[test]
    fn entry_paths() {
        assert!(check_entry_path("linux-amd64/helm").is_ok());
        assert!(check_entry_path("./helm").is_ok());
        assert!(check_entry_path("/etc/passwd").is_err());
        assert!(check_entry_path("a/../../x").is_err());
        assert!(check_entry_path("..").is_err());
    }

    #[test]
    fn links() {
        assert!(check_link("dir/link", "helm", false).is_ok());
        assert!(check_link("dir/link", "../helm", false).is_ok());
        assert!(check_link("dir/link", "../../etc/passwd", false).is_err());
        assert!(check_link("link", "/etc/passwd", false).is_err());
        assert!(check_link("link", "../x", true).is_err());
    }

    fn temp_repo() -> (tempfile::TempDir, Repo) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("shell.toml"),
            "[project]\nname = \"t\"\ndefault_stage = \"local\"\n",
        )
        .unwrap();
        let repo = Repo::discover(dir.path()).unwrap();
        (dir, repo)
    }

    #[test]
    fn resolve_prefers_deps_bin_then_path() {
        let (_dir, repo) = temp_repo();
        assert!(
            resolve(&repo, "sh").unwrap().ends_with("bin/sh"),
            "from PATH"
        );
        fs::create_dir_all(bin_dir(&repo)).unwrap();
        fs::write(bin_dir(&repo).join("sh"), "").unwrap();
        assert_eq!(resolve(&repo, "sh").unwrap(), bin_dir(&repo).join("sh"));
    }

    #[test]
    fn a_missing_tool_says_how_to_install_it() {
        let (_dir, repo) = temp_repo();
        let err = resolve(&repo, "stagecraft-no-such-tool")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("run `cargo xtask deps install stagecraft-no-such-tool`"),
            "{err}"
        );
    }

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
