//! Files written safely: atomic replacement that keeps the file's mode and
//! owner and writes through symlinks, edits locked against concurrent
//! edits, and private temporary files and folders, removed on every exit
//! path and named so that a later run removes what a killed one left.
//!
//! Written with std alone: the `tempfile` crate (and its six dependencies)
//! costs every `cargo xtask` call a measurable share of its no-op build
//! check (docs/benchmarks.md), and these few functions are all it did here.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

/// Every temporary file and folder Stagecraft makes is named
/// `...stagecraft-<pid>-<n>...`: the pid tells a later run whether its
/// maker is gone.
const TEMP_MARK: &str = "stagecraft-";

/// A name no other process or thread uses: `<prefix>stagecraft-<pid>-<n><suffix>`.
fn unique_name(prefix: &str, suffix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}{TEMP_MARK}{}-{n}{nanos:x}{suffix}",
        std::process::id()
    )
}

/// A private (0600) file, removed when dropped unless persisted.
pub struct TempFile {
    path: PathBuf,
    file: File,
    keep: bool,
}

impl TempFile {
    /// A new file in `dir` named `<prefix>stagecraft-<pid>-...tmp`.
    pub fn new_in(dir: &Path, prefix: &str) -> Result<TempFile> {
        remove_stale(dir, prefix);
        loop {
            let path = dir.join(unique_name(prefix, ".tmp"));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        keep: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot create a temporary file in {}", dir.display())
                    });
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Renames it to `dest`: readers see the old file or this one.
    pub fn persist(mut self, dest: &Path) -> Result<()> {
        fs::rename(&self.path, dest)
            .with_context(|| format!("cannot move it into {}", dest.display()))?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A folder, removed with everything in it when dropped unless kept.
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// A new folder in `dir` (mode `mode`) named `<prefix>stagecraft-<pid>-...`.
    pub fn new_in(dir: &Path, prefix: &str, mode: u32) -> Result<TempDir> {
        remove_stale(dir, prefix);
        loop {
            let path = dir.join(unique_name(prefix, ""));
            match fs::DirBuilder::new().mode(mode).create(&path) {
                Ok(()) => {
                    // The umask may have taken bits away; a 0700 stays 0700.
                    fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
                    return Ok(TempDir { path, keep: false });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot create a temporary folder in {}", dir.display())
                    });
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames it to `dest` (which must not exist) and keeps it.
    pub fn persist(mut self, dest: &Path) -> std::io::Result<()> {
        fs::rename(&self.path, dest)?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Writes a new file only its owner can read (0600); refuses to follow a
/// symlink or reuse a file someone planted.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Replaces `path` itself (not a symlink's target) with a private file
/// (0600) holding `bytes`, atomically: for files Stagecraft derives and
/// owns, such as a stage's kubeconfig view.
pub fn replace_private(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_file(path, bytes, 0o600)
}

/// Replaces `path` itself with a new file of mode `mode` holding `bytes`:
/// made exclusively (a name someone planted is never opened) and renamed
/// over `path`, so a symlink there is replaced, never followed.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let write = || -> Result<()> {
        let mut tmp = TempFile::new_in(dir, &format!(".{name}."))?;
        tmp.file().write_all(bytes)?;
        tmp.file()
            .set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
        tmp.file().sync_all()?;
        tmp.persist(path)
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

/// Makes `dir` (and its parents) and leaves it private (0700).
pub fn private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))
}

/// A new private folder (0700) in the temporary folder, removed when the
/// value is dropped.
pub fn private_temp_dir(purpose: &str) -> Result<TempDir> {
    TempDir::new_in(&std::env::temp_dir(), &format!("{purpose}-"), 0o700)
}

/// The file a write to `path` should replace: a symlink's final target.
pub fn write_target(path: &Path) -> PathBuf {
    match fs::canonicalize(path) {
        Ok(real) => real,
        // A dangling link still names where the file should be.
        Err(_) => match fs::read_link(path) {
            Ok(target) if target.is_absolute() => target,
            Ok(target) => path.parent().unwrap_or(Path::new(".")).join(target),
            Err(_) => path.to_owned(),
        },
    }
}

/// Replaces the file `path` (through symlinks) with `bytes`: readers see
/// the old file or the new one, never half of one. The new file keeps the
/// old one's mode and owner; a new file gets `new_mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], new_mode: u32) -> Result<()> {
    let target = write_target(path);
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file");
    let old = fs::metadata(&target).ok();
    let write = || -> Result<()> {
        let mut tmp = TempFile::new_in(dir, &format!(".{name}."))?;
        tmp.file().write_all(bytes)?;
        let file = tmp.file();
        match &old {
            Some(meta) => {
                file.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
                // Root editing a user's file gives it back; anyone else
                // cannot change owners, and keeps their own.
                let _ = std::os::unix::fs::fchown(&*file, Some(meta.uid()), Some(meta.gid()));
            }
            None => file.set_permissions(fs::Permissions::from_mode(new_mode))?,
        }
        file.sync_all()?;
        tmp.persist(&target)
    };
    write().with_context(|| format!("cannot write {}", target.display()))
}

/// Holds an exclusive lock on a folder: edits of files in it take turns.
pub struct DirLock {
    _file: File,
}

/// Locks the folder of `path` (the folder, so that the lock survives the
/// rename that replaces the file). When another process still holds it
/// after a second, says which one, then waits.
pub fn lock_dir_of(path: &Path) -> Result<DirLock> {
    let target = write_target(path);
    let dir = target.parent().unwrap_or(Path::new("."));
    let file = File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let patience = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(DirLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < patience => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => break,
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", dir.display()));
            }
        }
    }
    let holder = match lock_holder(&file) {
        Some(pid) => {
            let command = fs::read(format!("/proc/{pid}/cmdline"))
                .map(|bytes| {
                    String::from_utf8_lossy(&bytes)
                        .split('\0')
                        .filter(|w| !w.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            format!(
                "held by PID {pid} ({})",
                crate::ui::escape_controls(&command)
            )
        }
        None => "held by another process".to_owned(),
    };
    crate::ui::info(&format!(
        "waiting for the lock {holder} on {}...",
        dir.display()
    ));
    file.lock()
        .with_context(|| format!("cannot lock {}", dir.display()))?;
    Ok(DirLock { _file: file })
}

/// The process that holds a lock on `file`'s inode, from /proc/locks
/// (Linux; elsewhere none is named).
fn lock_holder(file: &File) -> Option<u32> {
    let meta = file.metadata().ok()?;
    // Linux's encoding of a device number (what /proc/locks shows).
    let dev = meta.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let id = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let locks = fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // `1: FLOCK  ADVISORY  WRITE 1234 fd:00:5678 0 EOF` (`->` marks a waiter).
        let fields: Vec<&str> = fields.into_iter().filter(|f| *f != "->").collect();
        (fields.get(5) == Some(&id.as_str())).then(|| fields.get(4)?.parse().ok())?
    })
}

/// Reads `path`, hands its text to `change`, and writes what it returns,
/// all under the folder's lock, so that two edits at once both land. A
/// missing file reads as empty. Returns whether the file changed.
pub fn edit(
    path: &Path,
    new_mode: u32,
    change: impl FnOnce(&str) -> Result<Option<String>>,
) -> Result<bool> {
    let _lock = lock_dir_of(path)?;
    let old = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    match change(&old)? {
        Some(new) if new != old => {
            write_atomic(path, new.as_bytes(), new_mode)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Removes `<prefix>stagecraft-<pid>-...` entries of `dir` whose process
/// is gone (and only this user's).
fn remove_stale(dir: &Path, prefix: &str) {
    sweep_stale(dir, prefix);
}

/// Removes every entry of `dir` whose name holds `<marker>stagecraft-<pid>-`
/// and whose process is gone (and only this user's): what killed runs
/// left, whatever they were making (`.cart.init-stagecraft-...`).
pub fn sweep_stale(dir: &Path, marker: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let marker = format!("{marker}{TEMP_MARK}");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.find(&marker).map(|at| &n[at + marker.len()..]))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pid == std::process::id() as i32 || alive(pid) {
            continue;
        }
        let path = entry.path();
        // SAFETY: geteuid() only reads this process's user id.
        let me = unsafe { libc::geteuid() };
        if fs::symlink_metadata(&path).is_ok_and(|m| m.uid() == me) {
            let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
        }
    }
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The folders under `root` that `pattern` (a path from `root`, with `*`,
/// `?`, `[...]` and `**`) matches, in sorted order. A pattern that is
/// absolute or leaves `root` is refused.
pub fn matching_dirs(root: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let relative = Path::new(pattern);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        anyhow::bail!(
            "`{pattern}` leaves the repository\n  hint: write folders from the repository root, such as `services/*`"
        );
    }
    let full = format!(
        "{}/{}",
        glob::Pattern::escape(&root.display().to_string()),
        pattern.trim_end_matches('/')
    );
    let paths = glob::glob(&full).map_err(|e| {
        anyhow::anyhow!(
            "`{pattern}` is not a valid pattern: {}\n  hint: use `*`, `?` and `**` in folder names",
            e.msg
        )
    })?;
    let mut dirs: Vec<PathBuf> = paths
        .filter_map(|p| p.ok())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> TempDir {
        private_temp_dir("fsx-test").unwrap()
    }

    #[test]
    fn writes_keep_mode_and_go_through_symlinks() {
        let dir = scratch();
        let real = dir.path().join("real.toml");
        fs::write(&real, "old").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink("real.toml", &link).unwrap();
        write_atomic(&link, b"new", 0o644).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        assert_eq!(fs::metadata(&real).unwrap().mode() & 0o777, 0o600);
        let fresh = dir.path().join("fresh");
        write_atomic(&fresh, b"x", 0o640).unwrap();
        assert_eq!(fs::metadata(&fresh).unwrap().mode() & 0o777, 0o640);
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.contains(TEMP_MARK))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn stale_temporary_files_are_removed() {
        let dir = scratch();
        // pid 2^22+1 is above Linux's pid_max default: nobody runs as it.
        let stale = dir.path().join(".a.toml.stagecraft-4194305-x.tmp");
        fs::write(&stale, "").unwrap();
        let mine = dir
            .path()
            .join(format!(".a.toml.stagecraft-{}-y.tmp", std::process::id()));
        fs::write(&mine, "").unwrap();
        write_atomic(&dir.path().join("a.toml"), b"x", 0o644).unwrap();
        assert!(!stale.exists());
        assert!(mine.exists());
    }

    #[test]
    fn private_folders_are_private_and_go_away() {
        let dir = private_temp_dir("fsx-private").unwrap();
        let path = dir.path().to_owned();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o700);
        let file = TempFile::new_in(&path, "x-").unwrap();
        assert_eq!(fs::metadata(file.path()).unwrap().mode() & 0o777, 0o600);
        drop(file);
        drop(dir);
        assert!(!path.exists());
    }
}
