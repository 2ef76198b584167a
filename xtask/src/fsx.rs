//! Files written safely: atomic replacement that keeps the file's mode and
//! owner and writes through symlinks, edits locked against concurrent
//! edits, and private temporary files named so that a later run can remove
//! what a killed one left.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Every temporary file and folder Stagecraft makes starts with this and
/// the pid of its maker: `stagecraft-<pid>-...`.
const TEMP_PREFIX: &str = "stagecraft-";

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
    remove_stale(dir, &format!(".{name}."));
    let old = fs::metadata(&target).ok();
    let write = || -> Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.{TEMP_PREFIX}{}-", std::process::id()))
            .suffix(".tmp")
            .tempfile_in(dir)?;
        tmp.write_all(bytes)?;
        let file = tmp.as_file();
        match &old {
            Some(meta) => {
                file.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
                // Root editing a user's file gives it back; anyone else
                // cannot change owners, and keeps their own.
                let _ = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()));
            }
            None => file.set_permissions(fs::Permissions::from_mode(new_mode))?,
        }
        file.sync_all()?;
        tmp.persist(&target)?;
        Ok(())
    };
    write().with_context(|| format!("cannot write {}", target.display()))
}

/// Holds an exclusive lock on a folder: edits of files in it take turns.
pub struct DirLock {
    _file: File,
}

/// Locks the folder of `path` (the folder, so that the lock survives the
/// rename that replaces the file). `waiting` is called when another
/// process holds it.
pub fn lock_dir_of(path: &Path, waiting: impl FnOnce()) -> Result<DirLock> {
    let target = write_target(path);
    let dir = target.parent().unwrap_or(Path::new("."));
    let file = File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            waiting();
            file.lock()
                .with_context(|| format!("cannot lock {}", dir.display()))?;
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", dir.display()));
        }
    }
    Ok(DirLock { _file: file })
}

/// Reads `path`, hands its text to `change`, and writes what it returns,
/// all under the folder's lock, so that two edits at once both land. A
/// missing file reads as empty. Returns whether the file changed.
pub fn edit(
    path: &Path,
    new_mode: u32,
    change: impl FnOnce(&str) -> Result<Option<String>>,
) -> Result<bool> {
    let _lock = lock_dir_of(path, || {})?;
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

/// A new private folder (0700) in the temporary folder, removed when the
/// value is dropped; named `stagecraft-<pid>-<purpose>-...` so a later run
/// removes it if this process is killed first.
pub fn private_temp_dir(purpose: &str) -> Result<tempfile::TempDir> {
    let base = std::env::temp_dir();
    remove_stale(&base, TEMP_PREFIX);
    tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-{purpose}-", std::process::id()))
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir_in(&base)
        .with_context(|| format!("cannot create a temporary folder in {}", base.display()))
}

/// Removes `<prefix>stagecraft-<pid>-...` entries of `dir` whose process
/// is gone.
fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let marker = if prefix == TEMP_PREFIX {
        TEMP_PREFIX.to_owned()
    } else {
        format!("{prefix}{TEMP_PREFIX}")
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&marker)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pid != std::process::id() as i32 && !alive(pid) {
            let path = entry.path();
            // Only what this user owns: never another user's files.
            let mine =
                fs::symlink_metadata(&path).is_ok_and(|m| m.uid() == unsafe { libc::geteuid() });
            if mine {
                let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
            }
        }
    }
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_keep_mode_and_go_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
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
    }

    #[test]
    fn stale_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
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
}
