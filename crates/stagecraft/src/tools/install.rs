//! `deps install`: downloads verified while they stream, extracted with
//! every archive entry checked, installed atomically, all tools at once,
//! under the repository's deps lock.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use anyhow::{Context, Result, anyhow, bail};

use super::{
    Archive, DEPS_FILE, Installed, Pins, Record, Status, Verify, bin_dir, expand, mtime_ns, status,
};
use crate::download::{Client, Progress};
use stagecraft_core::repo::Repo;

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
            Err(e) => failures.push((plan, e)),
        }
    }
    if failures.len() < plans.len() {
        record.save(repo)?;
    }
    // Nothing could be reached: say it once, with the way round it.
    let unreachable: Vec<String> = failures
        .iter()
        .filter_map(|(_, e)| crate::download::unreachable_in(e).map(|u| u.to_string()))
        .collect();
    if !unreachable.is_empty() && unreachable.len() == failures.len() {
        let mut hosts = unreachable;
        hosts.sort();
        hosts.dedup();
        bail!(
            "{}; {} not installed\n  {}",
            hosts.join("; "),
            if failures.len() == 1 {
                "1 tool"
            } else {
                "the tools were"
            },
            crate::download::OFFLINE_HINT
        );
    }
    if failures.is_empty() {
        return Ok(());
    }
    // The first line names what failed and what did not; then each why.
    let failed: Vec<&str> = failures
        .iter()
        .map(|(plan, _)| plan.name.as_str())
        .collect();
    let installed: Vec<&str> = plans
        .iter()
        .map(|p| p.name.as_str())
        .filter(|name| !failed.contains(name))
        .collect();
    let mut message = format!(
        "not installed: {}{}",
        failed.join(", "),
        match installed.len() {
            0 => String::new(),
            _ => format!(" (installed: {})", installed.join(", ")),
        }
    );
    for (plan, e) in &failures {
        message.push_str(&format!("\n  {} {}: {e:#}", plan.name, plan.version));
    }
    for name in failed
        .iter()
        .filter(|name| super::optional_use(name).is_some())
    {
        message.push_str(&format!(
            "\n  hint: only {} needs {name}; `cargo xtask up` installs what it needs without it",
            super::optional_use(name).unwrap_or_default()
        ));
    }
    Err(anyhow!(message))
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
    let downloaded = result?;
    let dest = bin.join(&plan.name);
    let meta = fs::metadata(&dest)?;
    let file_sha256 = crate::sha::sha256_hex(&fs::read(&dest)?);
    reporter.done(
        &plan.name,
        &format!(
            "{} {} installed ({downloaded} bytes, sha256 verified)",
            plan.name, plan.version
        ),
    );
    let (inode, ctime_ns) = super::identity(&meta);
    Ok(Installed {
        version: plan.version.clone(),
        platform: platform.to_owned(),
        sha256: plan.sha256.clone(),
        size: meta.len(),
        file_sha256,
        mtime_ns: mtime_ns(&meta),
        inode: Some(inode),
        ctime_ns: Some(ctime_ns),
    })
}

/// Downloads, verifies and installs one tool; returns the download's size.
fn download_and_install(
    client: &Client,
    plan: &Plan,
    bin: &Path,
    part: &Path,
    reporter: &dyn Reporter,
) -> Result<u64> {
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
    // A private temporary file beside the destination, renamed into place:
    // removed on every error path (and, if killed, by the next install).
    let tmp = stagecraft_core::fsx::TempFile::new_in(bin, &format!(".{}.", plan.name))?;
    extract(plan, part, tmp.path(), max_binary_size(fetched.bytes))?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
        .context("cannot make it executable")?;
    tmp.persist(&dest)?;
    Ok(fetched.bytes)
}

/// The most an archive may unpack to: a generous multiple of its own size
/// (real tools compress 2-4x), never less than 64 MiB. A small archive that
/// expands to gigabytes is refused before it fills the disk.
fn max_binary_size(download: u64) -> u64 {
    (download.saturating_mul(25)).max(64 << 20)
}

/// Copies at most `limit` bytes: more is an error.
fn copy_capped(from: &mut impl io::Read, to: &mut File, limit: u64) -> Result<()> {
    let copied = io::copy(&mut io::Read::take(from, limit + 1), to)?;
    if copied > limit {
        bail!(
            "the binary unpacks to more than {} MiB, far more than its archive holds: refusing the archive",
            limit >> 20
        );
    }
    Ok(())
}

/// Writes the tool's binary from the verified download to `out`. Any
/// archive entry that could escape (absolute, `..`, a link pointing out) is
/// refused, whichever entry it is.
fn extract(plan: &Plan, download: &Path, out: &Path, limit: u64) -> Result<()> {
    match (plan.archive, &plan.binary) {
        (Archive::Raw, _) => {
            fs::copy(download, out).with_context(|| format!("cannot write {}", out.display()))?;
            Ok(())
        }
        (Archive::TarGz, Some(binary)) => extract_tar_gz(download, binary, out, limit),
        (Archive::Zip, Some(binary)) => extract_zip(download, binary, out, limit),
        (_, None) => bail!("an archive needs `binary`"),
    }
    .with_context(|| format!("cannot unpack {}", plan.url))
}

fn extract_tar_gz(download: &Path, binary: &str, out: &Path, limit: u64) -> Result<()> {
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
            copy_capped(&mut entry, &mut dest, limit)?;
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

fn extract_zip(download: &Path, binary: &str, out: &Path, limit: u64) -> Result<()> {
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
    copy_capped(&mut entry, &mut dest, limit)
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
            let half_written = name.starts_with('.') && name.ends_with(".tmp");
            if half_written || name.ends_with(".part") {
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

/// What `deps install` was asked for.
pub struct Options<'a> {
    /// Only these tools (all when empty).
    pub tools: &'a [String],
    /// Reinstall what is up to date.
    pub force: bool,
    /// Never pin a tool on first use: an unpinned tool is an error
    /// (`--locked`, and always when `CI` is set).
    pub locked: bool,
}

impl Options<'_> {
    /// `--locked`, or a CI run (`CI=true`): only what is committed.
    pub fn locked(flag: bool) -> bool {
        flag || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
    }
}

/// The installs `options` need now: tools missing, stale or modified.
pub fn todo(repo: &Repo, pins: &Pins, options: &Options, platform: &str) -> Result<Vec<Plan>> {
    let names = pins.select(options.tools)?;
    let record = Record::load(repo);
    let mut plans = Vec::new();
    for name in &names {
        let pin = pins.get(name)?;
        if options.force
            || status(repo, &record, name, pin, platform, Verify::Fast) != Status::UpToDate
        {
            plans.push(plan(pins, name, platform)?);
        }
    }
    Ok(plans)
}

/// One download of a dry run.
pub struct Download {
    pub name: String,
    pub url: String,
    /// None: pinned on first use, before the download.
    pub sha256: Option<String>,
}

/// What `deps install` would do, without doing it.
#[derive(Default)]
pub struct Preview {
    /// The tools it would pin first, and the checksum file of each.
    pub pinning: Vec<(String, String)>,
    pub downloads: Vec<Download>,
}

/// What `deps install` would do: the pins, then the downloads.
pub fn preview(repo: &Repo, pins: &Pins, client: &Client, options: &Options) -> Result<Preview> {
    let platform = super::host_platform()?;
    let names = pins.select(options.tools)?;
    let unpinned = super::lock::unpinned(pins, &names, platform);
    if options.locked && !unpinned.is_empty() {
        return Err(super::lock::locked_error(&unpinned, platform));
    }
    let record = Record::load(repo);
    let mut pinning = Vec::new();
    let mut downloads = Vec::new();
    for name in &names {
        let pin = pins.get(name)?;
        let url = client.locate(&expand(&pin.url, &pin.version, platform));
        if unpinned.contains(name) {
            let sums = client.locate(&expand(&pin.checksum_url, &pin.version, platform));
            pinning.push((name.clone(), sums));
            downloads.push(Download {
                name: name.clone(),
                url,
                sha256: None,
            });
        } else if options.force
            || status(repo, &record, name, pin, platform, Verify::Fast) != Status::UpToDate
        {
            downloads.push(Download {
                name: name.clone(),
                url,
                sha256: pin.sha256_for(platform).map(str::to_owned),
            });
        }
    }
    Ok(Preview { pinning, downloads })
}

/// What an install did.
pub enum Outcome {
    /// Nothing to do: this many tools are up to date.
    UpToDate(usize),
    Installed,
}

/// Installs what `options` needs, under the repository's deps lock (a
/// second install at once waits, then finds the work done). A tool with
/// no sha256 is pinned first (`pinned` hears of each), unless locked.
/// `reporter` is chosen once the plans are known.
pub fn run(
    repo: &Repo,
    client: &Client,
    options: &Options,
    waiting: impl FnOnce(),
    pinned: impl Fn(&super::lock::Pin, &str),
    reporter: impl FnOnce(&[Plan]) -> Box<dyn Reporter>,
) -> Result<Outcome> {
    let platform = super::host_platform()?;
    let _lock = lock(repo, waiting)?;
    let mut pins = Pins::load(repo)?;
    let names = pins.select(options.tools)?;
    let unpinned = super::lock::unpinned(&pins, &names, platform);
    if !unpinned.is_empty() {
        if options.locked {
            return Err(super::lock::locked_error(&unpinned, platform));
        }
        super::lock::pin_first_use(repo, &pins, client, &unpinned, platform, &pinned)?;
        pins = Pins::load(repo)?;
    }
    // Decided under the lock: a concurrent install may have done the work.
    let plans = todo(repo, &pins, options, platform)?;
    if plans.is_empty() {
        return Ok(Outcome::UpToDate(names.len()));
    }
    clean_leftovers(repo);
    let reporter = reporter(&plans);
    install_all(repo, client, &plans, platform, reporter.as_ref())?;
    Ok(Outcome::Installed)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
