//! An image's tag from what its build reads: the files of its context
//! that docker would send (tracked and untracked ones, not git-ignored,
//! `.dockerignore` honoured), its Dockerfile, build args, target and
//! platforms. Files are named by their git blob id, taken from git's index
//! where the stat data says the file is as indexed (so a tree of thousands
//! of files is not read), computed otherwise: the same inputs give the
//! same tag on every machine and in CI, and a commit that does not touch
//! an image leaves its tag, its build and its deploy alone.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result, anyhow};

use crate::gitindex::{self, Folder, Index};
use crate::sha::{Sha256, hex};
use stagecraft_core::config::{AppToml, Loaded};
use stagecraft_core::ignore_rules::Rules;
use stagecraft_core::stage::environment::StageEnv;

/// An image of an app, ready to build: where, how, and its tag.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub name: String,
    pub context: PathBuf,
    pub dockerfile: PathBuf,
    pub args: Vec<(String, String)>,
    pub target: Option<String>,
    pub platforms: Vec<String>,
    pub tag: String,
}

/// The app's `[[images]]`, each with its context, Dockerfile and build
/// args resolved (`${VAR}` from the app's stage environment); their tags
/// are [`fill`]'s (for many apps at once).
pub fn of_app(
    root: &Path,
    app_dir: &Path,
    file: &Loaded<AppToml>,
    env: &StageEnv,
) -> Result<Vec<ImagePlan>> {
    let mut out = Vec::new();
    for image in &file.value.images {
        // `context = "."` is the app folder itself, without a trailing `/.`.
        let context: PathBuf = crate::app::source::resolve_path(root, app_dir, &image.context)
            .components()
            .filter(|c| *c != Component::CurDir)
            .collect();
        let dockerfile = context.join(image.dockerfile.as_deref().unwrap_or("Dockerfile"));
        let mut args = Vec::new();
        for (key, value) in &image.args {
            let text = env.expand(value.get_ref()).map_err(|e| {
                file.error_at(
                    &value.span(),
                    format!("build arg {key} of image {}: {e}", image.name),
                )
            })?;
            if let Some(secret) = env
                .entries
                .iter()
                .find(|e| e.secret && !e.value.is_empty() && text.contains(&e.value))
            {
                return Err(file.error_at(
                    &value.span(),
                    format!(
                        "build arg {key} of image {} holds the secret `{}`: build args stay readable in the image's history\n  hint: pass it as a build secret in the Dockerfile (RUN --mount=type=secret), not as an arg",
                        image.name, secret.name
                    ),
                ));
            }
            args.push((key.clone(), text));
        }
        out.push(ImagePlan {
            name: image.name.clone(),
            context,
            dockerfile,
            args,
            target: image.target.clone(),
            platforms: image.platforms.clone(),
            tag: String::new(),
        });
    }
    Ok(out)
}

/// Each image's tag (computed once per process).
pub fn fill(root: &Path, images: &mut [ImagePlan]) -> Result<()> {
    let tags = Tree::of(root).tags(images)?;
    for (image, tag) in images.iter_mut().zip(tags) {
        image.tag = tag;
    }
    Ok(())
}

/// The work tree as git sees it: its index and its ignore files, each read
/// once (`.git/info/exclude`, then each folder's `.gitignore`, the deepest
/// last). Outside git, every file counts.
pub struct Tree {
    root: PathBuf,
    index: Option<Index>,
    git: bool,
    /// By folder from the root; `None` for `.git/info/exclude`.
    ignores: Mutex<HashMap<Option<String>, Option<Arc<Rules>>>>,
    /// The tags computed, by inputs.
    memo: Mutex<HashMap<String, String>>,
}

impl Tree {
    /// The tree at `root`, read once per process.
    fn of(root: &Path) -> Arc<Tree> {
        static TREES: OnceLock<Mutex<HashMap<PathBuf, Arc<Tree>>>> = OnceLock::new();
        let trees = TREES.get_or_init(Default::default);
        let mut trees = trees.lock().expect("trees");
        trees
            .entry(root.to_owned())
            .or_insert_with(|| Arc::new(Tree::new(root)))
            .clone()
    }

    /// The tree at `root` as it is now (its index read).
    pub fn new(root: &Path) -> Tree {
        let git_dir = gitindex::git_dir(root);
        Tree {
            root: root.to_owned(),
            index: git_dir.as_deref().and_then(gitindex::read),
            git: git_dir.is_some(),
            ignores: Mutex::default(),
            memo: Mutex::default(),
        }
    }

    /// The tags of `images`, computed side by side (walking contexts is
    /// mostly waiting on the file system), each set of inputs once. Each
    /// worker takes the next image left, so that a worker the machine
    /// holds back does not hold the others' results back.
    pub fn tags(&self, images: &[ImagePlan]) -> Result<Vec<String>> {
        // A thread is worth it for a few contexts each.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get().min(8))
            .min(images.len().div_ceil(4));
        if threads <= 1 {
            return images.iter().map(|i| self.memoized(i)).collect();
        }
        let next = AtomicUsize::new(0);
        let work = || {
            let mut done = Vec::new();
            loop {
                let at = next.fetch_add(1, Ordering::Relaxed);
                let Some(image) = images.get(at) else {
                    return done;
                };
                done.push((at, self.memoized(image)));
            }
        };
        let mut out = vec![String::new(); images.len()];
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
            for worker in workers {
                for (at, tag) in worker.join().expect("a tag worker does not panic") {
                    out[at] = tag?;
                }
            }
            Ok(out)
        })
    }

    fn memoized(&self, image: &ImagePlan) -> Result<String> {
        let key = format!(
            "{}\0{}\0{:?}\0{:?}\0{:?}",
            image.context.display(),
            image.dockerfile.display(),
            image.args,
            image.target,
            image.platforms
        );
        if let Some(tag) = self.memo.lock().expect("memo").get(&key) {
            return Ok(tag.clone());
        }
        let tag = self
            .tag(image)
            .with_context(|| format!("cannot compute the tag of image {}", image.name))?;
        self.memo.lock().expect("memo").insert(key, tag.clone());
        Ok(tag)
    }

    /// The tag of an image's inputs (16 hex digits of a SHA-256).
    pub fn tag(&self, image: &ImagePlan) -> Result<String> {
        let files = self.context_files(&image.context)?;
        let mut hasher = Sha256::new();
        hasher.update(b"stagecraft image inputs v1\n");
        for (path, mode, oid) in &files {
            hash_file(&mut hasher, *mode, oid, path);
        }
        // The Dockerfile: its blob from the context's files when it is one
        // of them, else read.
        let known = image
            .dockerfile
            .strip_prefix(&image.context)
            .ok()
            .and_then(|rel| files.iter().find(|(p, _, _)| Path::new(p) == rel))
            .map(|(_, _, oid)| *oid);
        let dockerfile = match known {
            Some(oid) => oid,
            None => gitindex::blob_id(
                &fs::read(&image.dockerfile)
                    .with_context(|| format!("cannot read {}", image.dockerfile.display()))?,
            ),
        };
        hasher.update(format!("dockerfile {}\n", hex(&dockerfile)).as_bytes());
        for (key, value) in &image.args {
            hasher.update(format!("arg {key}={value}\n").as_bytes());
        }
        if let Some(target) = &image.target {
            hasher.update(format!("target {target}\n").as_bytes());
        }
        for platform in &image.platforms {
            hasher.update(format!("platform {platform}\n").as_bytes());
        }
        Ok(hex(&hasher.finalize())[..16].to_owned())
    }

    /// The ignore rules of folder `rel` (its `.gitignore`), or with None
    /// `.git/info/exclude`; read once.
    fn ignores(&self, rel: Option<&str>) -> Option<Arc<Rules>> {
        if !self.git {
            return None;
        }
        let mut cache = self.ignores.lock().expect("ignores");
        cache
            .entry(rel.map(str::to_owned))
            .or_insert_with(|| {
                let (path, base) = match rel {
                    Some(rel) => (self.root.join(rel).join(".gitignore"), rel),
                    None => (gitindex::git_dir(&self.root)?.join("info/exclude"), ""),
                };
                let text = fs::read_to_string(path).ok()?;
                Some(Arc::new(Rules::gitignore(&text, base)))
            })
            .clone()
    }

    /// The git-ignore rules above folder `rel` (from the root): info/exclude
    /// and the `.gitignore` of each folder that holds it (its own is read
    /// by the walk).
    fn rules_above(&self, rel: &str) -> Vec<Arc<Rules>> {
        let mut stack: Vec<Arc<Rules>> = self.ignores(None).into_iter().collect();
        if !rel.is_empty() {
            let parts: Vec<&str> = rel.split('/').collect();
            for depth in 0..parts.len() {
                stack.extend(self.ignores(Some(&parts[..depth].join("/"))));
            }
        }
        stack
    }

    /// The files docker sends for `context`: (path in the context, mode,
    /// blob id), sorted by path.
    fn context_files(&self, context: &Path) -> Result<Vec<(String, u32, [u8; 20])>> {
        let rel = match context.strip_prefix(&self.root) {
            Ok(rel) => rel.to_string_lossy().into_owned(),
            // A context outside the repository: its files, read.
            Err(_) => return Tree::outside(context).context_files(context),
        };
        let entries = listing(context).map_err(|e| {
            anyhow!(
                "the build context {} is not a folder: {e}",
                context.display()
            )
        })?;
        // Read only when the listing has it: a missing file costs a
        // failed open, per folder of every context.
        let docker = match entries.iter().any(|(name, _)| name == ".dockerignore") {
            true => fs::read_to_string(context.join(".dockerignore"))
                .map(|t| Rules::dockerignore(&t))
                .unwrap_or_default(),
            false => Rules::default(),
        };
        let mut walk = Walk {
            tree: self,
            docker,
            stack: self.rules_above(&rel),
            out: Vec::new(),
        };
        let tracked = self.index.as_ref().map(|i| i.folder(&rel));
        walk.folder(entries, &mut rel.clone(), &mut String::new(), tracked)?;
        walk.out.sort();
        Ok(walk.out)
    }

    fn outside(context: &Path) -> Tree {
        Tree {
            root: context.to_owned(),
            index: None,
            git: false,
            ignores: Mutex::default(),
            memo: Mutex::default(),
        }
    }
}

/// `<mode in octal> <blob id in hex> <path>\n`, without allocating: this
/// runs for every file of every context.
fn hash_file(hasher: &mut Sha256, mode: u32, oid: &[u8; 20], path: &str) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut line = [0u8; 6 + 1 + 40 + 1];
    for (i, shift) in [15, 12, 9, 6, 3, 0].iter().enumerate() {
        line[i] = DIGITS[((mode >> shift) & 7) as usize];
    }
    line[6] = b' ';
    for (i, byte) in oid.iter().enumerate() {
        line[7 + 2 * i] = DIGITS[(byte >> 4) as usize];
        line[8 + 2 * i] = DIGITS[(byte & 15) as usize];
    }
    line[47] = b' ';
    hasher.update(line);
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
}

struct Walk<'a> {
    tree: &'a Tree,
    docker: Rules,
    stack: Vec<Arc<Rules>>,
    out: Vec<(String, u32, [u8; 20])>,
}

impl Walk<'_> {
    fn ignored(&self, rel: &str, is_dir: bool) -> bool {
        let mut ignored = false;
        for rules in &self.stack {
            if let Some(verdict) = rules.verdict(rel, is_dir) {
                ignored = verdict;
            }
        }
        ignored
    }

    /// A folder's `entries`; `rel` its path from the root, `in_context`
    /// from the context (both grow and shrink back as the walk goes: this
    /// runs for every file of every context), `tracked` the index's files
    /// under it.
    fn folder(
        &mut self,
        entries: Vec<(String, fs::DirEntry)>,
        rel: &mut String,
        in_context: &mut String,
        tracked: Option<Folder<'_>>,
    ) -> Result<()> {
        let own = match entries.iter().any(|(name, _)| name == ".gitignore") {
            true => self.tree.ignores(Some(rel)),
            false => None,
        };
        let pushed = own.is_some();
        self.stack.extend(own);
        let (rel_len, ctx_len) = (rel.len(), in_context.len());
        for (name, entry) in entries {
            if name == ".git" {
                continue;
            }
            for (path, len) in [(&mut *rel, rel_len), (&mut *in_context, ctx_len)] {
                path.truncate(len);
                if len > 0 {
                    path.push('/');
                }
                path.push_str(&name);
            }
            let kind = entry.file_type()?;
            let excluded = self.docker.docker_excludes(in_context);

            if kind.is_dir() {
                if excluded && !self.docker.has_exceptions() {
                    continue;
                }
                let below_tracked = tracked.map(|t| t.sub(&name));
                let has_tracked = below_tracked.is_some_and(|t| !t.is_empty());
                if self.ignored(rel, true) && !has_tracked {
                    continue;
                }
                let path = entry.path();
                let below =
                    listing(&path).with_context(|| format!("cannot read {}", path.display()))?;
                self.folder(below, rel, in_context, below_tracked)?;
                continue;
            }
            if excluded {
                continue;
            }
            let indexed = tracked.and_then(|t| t.file(&name));
            if indexed.is_none() && self.ignored(rel, false) {
                continue;
            }
            let meta = entry.metadata()?;
            let written = self.tree.index.as_ref().map_or((0, 0), |i| i.written);
            if let Some(known) = indexed.and_then(|e| e.unchanged(&meta, written)) {
                self.out.push((in_context.clone(), known.mode, known.oid));
                continue;
            }
            let (mode, content) = if kind.is_symlink() {
                let target = fs::read_link(entry.path())?;
                (0o120000, target.to_string_lossy().into_owned().into_bytes())
            } else {
                let executable = meta.permissions().mode() & 0o111 != 0;
                let mode = if executable { 0o100755 } else { 0o100644 };
                let content = fs::read(entry.path())
                    .with_context(|| format!("cannot read {}", entry.path().display()))?;
                (mode, content)
            };
            self.out
                .push((in_context.clone(), mode, gitindex::blob_id(&content)));
        }
        rel.truncate(rel_len);
        in_context.truncate(ctx_len);
        if pushed {
            self.stack.pop();
        }
        Ok(())
    }
}

/// A folder's entries, with their names.
fn listing(dir: &Path) -> std::io::Result<Vec<(String, fs::DirEntry)>> {
    fs::read_dir(dir)?
        .map(|entry| {
            entry.map(|e| {
                let name = e
                    .file_name()
                    .into_string()
                    .unwrap_or_else(|name| name.to_string_lossy().into_owned());
                (name, e)
            })
        })
        .collect()
}
