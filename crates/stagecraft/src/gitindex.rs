//! git's index (`.git/index`), read directly: each tracked file's blob id
//! and the stat data git itself compares to tell an unchanged file without
//! reading it. Image tags hash blob ids, so a tree of thousands of files
//! costs about what `git ls-files -s` costs, and the same content has the
//! same id on every machine. Index versions 2 to 4; a split or sparse index
//! or a SHA-256 repository is `None` (the caller hashes the files instead).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One tracked file as the index records it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub mode: u32,
    pub oid: [u8; 20],
    mtime: (u32, u32),
    size: u32,
    ino: u32,
}

/// The index: tracked paths (from the work tree's root, `/`-separated).
#[derive(Debug, Default)]
pub struct Index {
    /// By path, sorted (as git keeps them): found by binary search, no
    /// hashing of thousands of paths.
    entries: Vec<(String, Entry)>,
    /// When the index was written: a file changed in the same instant may
    /// look unchanged by its stat data ("racy git"), so it is read.
    pub written: (i64, i64),
}

impl Index {
    /// The tracked files under folder `dir` (`a/b`, or `""` for the root).
    pub fn folder(&self, dir: &str) -> Folder<'_> {
        if dir.is_empty() {
            return Folder {
                entries: &self.entries,
                prefix: 0,
            };
        }
        Folder {
            entries: &self.entries,
            prefix: 0,
        }
        .sub(dir)
    }
}

/// The index's entries under one folder, found by their names in it.
#[derive(Clone, Copy)]
pub struct Folder<'a> {
    entries: &'a [(String, Entry)],
    /// The length of `dir/`, cut from each path.
    prefix: usize,
}

impl<'a> Folder<'a> {
    /// The entry of the file `name` in this folder.
    pub fn file(&self, name: &str) -> Option<&'a Entry> {
        let prefix = self.prefix;
        self.entries
            .binary_search_by(|(p, _)| p[prefix..].cmp(name))
            .ok()
            .map(|at| &self.entries[at].1)
    }

    /// The tracked files under the subfolder `name`.
    pub fn sub(&self, name: &str) -> Folder<'a> {
        let prefix = self.prefix;
        // The paths under `name/` are one run of the sorted entries: the
        // first not before `name/`, up to the first not under it.
        let start = self
            .entries
            .partition_point(|(p, _)| cmp_dir(&p[prefix..], name).is_lt());
        let len =
            self.entries[start..].partition_point(|(p, _)| starts_with_dir(&p[prefix..], name));
        Folder {
            entries: &self.entries[start..start + len],
            prefix: prefix + name.len() + 1,
        }
    }

    /// Whether any file is tracked here.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Whether `path` is under folder `dir` (starts with `dir/`).
fn starts_with_dir(path: &str, dir: &str) -> bool {
    path.len() > dir.len() && path.as_bytes()[dir.len()] == b'/' && path.starts_with(dir)
}

/// `path` against `dir/`, byte by byte, without building `dir/`.
fn cmp_dir(path: &str, dir: &str) -> std::cmp::Ordering {
    path.bytes().cmp(dir.bytes().chain(std::iter::once(b'/')))
}

impl Entry {
    /// Itself when the file's stat data says it is as indexed (and it
    /// was not changed in the instant the index was written).
    pub fn unchanged(&self, meta: &fs::Metadata, written: (i64, i64)) -> Option<&Entry> {
        let entry = self;
        let racy = (meta.mtime(), meta.mtime_nsec()) >= written;
        let mtime = (meta.mtime() as u32, meta.mtime_nsec() as u32);
        let same = entry.mtime == mtime
            && entry.size == meta.size() as u32
            && entry.ino == meta.ino() as u32
            && !racy;
        same.then_some(entry)
    }
}

/// The git folder of the work tree at `root` (`.git`, or where a `.git`
/// file of a worktree or submodule points).
pub fn git_dir(root: &Path) -> Option<PathBuf> {
    let dot = root.join(".git");
    if dot.is_dir() {
        return Some(dot);
    }
    let text = fs::read_to_string(&dot).ok()?;
    let target = text.strip_prefix("gitdir:")?.trim();
    Some(root.join(target))
}

/// The index of the repository at `git_dir`; None when it is absent or of
/// a kind this reader leaves to git (split, sparse, SHA-256).
pub fn read(git_dir: &Path) -> Option<Index> {
    if sha256_objects(git_dir) {
        return None;
    }
    let path = git_dir.join("index");
    let bytes = fs::read(&path).ok()?;
    let meta = fs::metadata(&path).ok()?;
    let mut index = parse(&bytes)?;
    index.written = (meta.mtime(), meta.mtime_nsec());
    Some(index)
}

/// A worktree's config is its common folder's.
fn sha256_objects(git_dir: &Path) -> bool {
    let common = fs::read_to_string(git_dir.join("commondir"))
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|_| git_dir.to_owned());
    fs::read_to_string(common.join("config")).is_ok_and(|config| {
        config.lines().any(|l| {
            l.replace(' ', "")
                .eq_ignore_ascii_case("objectformat=sha256")
        })
    })
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn parse(bytes: &[u8]) -> Option<Index> {
    if bytes.get(..4)? != b"DIRC" {
        return None;
    }
    let version = be32(bytes, 4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let count = be32(bytes, 8)? as usize;
    let mut at = 12;
    let mut index = Index::default();
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = at;
        let field = |n: usize| be32(bytes, start + 4 * n);
        let mtime = (field(2)?, field(3)?);
        let ino = field(5)?;
        let mode = field(6)?;
        let size = field(9)?;
        let oid: [u8; 20] = bytes.get(start + 40..start + 60)?.try_into().ok()?;
        let flags = u16::from_be_bytes(bytes.get(start + 60..start + 62)?.try_into().ok()?);
        at = start + 62;
        let mut skip_worktree = false;
        if flags & 0x4000 != 0 && version >= 3 {
            let extended = u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?);
            skip_worktree = extended & 0x4000 != 0;
            at += 2;
        }
        let path = if version == 4 {
            // The length of the previous path's end to drop, as an
            // offset varint, then the rest of this path up to a NUL.
            let (strip, used) = varint(bytes.get(at..)?)?;
            at += used;
            let end = at + bytes.get(at..)?.iter().position(|&b| b == 0)?;
            let keep = previous.len().checked_sub(strip)?;
            let mut path = previous[..keep].to_vec();
            path.extend_from_slice(&bytes[at..end]);
            at = end + 1;
            path
        } else {
            let end = at + bytes.get(at..)?.iter().position(|&b| b == 0)?;
            let path = bytes[at..end].to_vec();
            // Entries are padded with NULs to a multiple of eight bytes.
            at = start + ((end - start + 8) & !7);
            path
        };
        previous.clone_from(&path);
        let stage = (flags >> 12) & 3;
        // A sparse directory entry: leave the index to git.
        if mode == 0o040000 {
            return None;
        }
        if stage != 0 || skip_worktree {
            // Conflicts and files outside a sparse checkout: read from the
            // work tree when there, as docker would.
            continue;
        }
        let path = String::from_utf8(path).ok()?;
        index.entries.push((
            path,
            Entry {
                mode,
                oid,
                mtime,
                size,
                ino,
            },
        ));
    }
    // A split index keeps its entries in another file.
    let mut ext = at;
    while ext + 8 <= bytes.len().saturating_sub(20) {
        let signature = &bytes[ext..ext + 4];
        if signature == b"link" || signature == b"sdir" {
            return None;
        }
        ext += 8 + be32(bytes, ext + 4)? as usize;
    }
    // git keeps them sorted by path bytes; make sure of it.
    if !index.entries.is_sorted_by(|a, b| a.0 <= b.0) {
        index.entries.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Some(index)
}

/// git's offset varint (index v4): 7 bits a byte, each continuation adds one.
fn varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            value = (value + 1).checked_shl(7)?;
        }
        value |= (b & 0x7f) as usize;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The id git gives `content` as a blob: SHA-1 of `blob <len>\0<content>`.
pub fn blob_id(content: &[u8]) -> [u8; 20] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    context.update(format!("blob {}\0", content.len()).as_bytes());
    context.update(content);
    context
        .finish()
        .as_ref()
        .try_into()
        .expect("SHA-1 is 20 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.email=a@b", "-c", "user.name=a"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every version git writes gives the ids `git ls-files -s` prints.
    #[test]
    fn reads_what_git_writes_in_each_index_version() {
        for version in ["2", "3", "4"] {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            git(root, &["init", "-q"]);
            fs::create_dir_all(root.join("src/deep/er")).unwrap();
            fs::write(root.join("src/a.py"), "print(1)\n").unwrap();
            fs::write(root.join("src/deep/er/b.txt"), "b").unwrap();
            fs::write(root.join("src/deep/c.txt"), "").unwrap();
            fs::write(root.join("Dockerfile"), "FROM scratch\n").unwrap();
            // Sorted between `src` and `src/...`: not under `src/`.
            fs::write(root.join("src.txt"), "").unwrap();
            fs::create_dir_all(root.join("src-b")).unwrap();
            fs::write(root.join("src-b/x"), "").unwrap();
            git(root, &["add", "-A"]);
            git(root, &["update-index", "--index-version", version]);
            if version == "3" {
                // An extended flag makes git write a version 3 entry.
                git(root, &["update-index", "--skip-worktree", "src/deep/c.txt"]);
            }
            let index = read(&git_dir(root).unwrap()).expect("readable");
            let listed = git(root, &["ls-files", "-s"]);
            for line in listed.lines() {
                let (meta, path) = line.split_once('\t').unwrap();
                let oid = meta.split_whitespace().nth(1).unwrap();
                if version == "3" && path == "src/deep/c.txt" {
                    assert!(index.folder("").file(path).is_none());
                    continue;
                }
                let entry = index.folder("").file(path).unwrap();
                let hex: String = entry.oid.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(hex, oid, "v{version} {path}");
            }
            assert!(!index.folder("src/deep").is_empty());
            assert!(index.folder("src/dee").is_empty());
            assert!(index.folder("src").sub("deep").file("c.txt").is_some() == (version != "3"));
            assert!(index.folder("src/deep").file("er").is_none());
            assert!(index.folder("src-b").file("x").is_some());
            assert!(index.folder("src").file("x").is_none());
            assert!(index.folder("").file("src.txt").is_some());
            let blob = blob_id(b"print(1)\n");
            assert_eq!(blob, index.folder("src").file("a.py").unwrap().oid);
        }
    }
}
