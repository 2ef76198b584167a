//! The repository model: where the root is, which stages, clusters and apps
//! exist, which scope a folder belongs to, and the parsed config files
//! (each read and parsed once per process).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};

use crate::config::{self, AppToml, ClusterToml, CommToml, Loaded, ShellToml, StageToml, Target};
use crate::suggest;

pub const MARKER: &str = "shell.toml";

pub struct Repo {
    pub root: PathBuf,
    pub shell: Loaded<ShellToml>,
    cache: Cache,
}

#[derive(Default)]
struct Cache {
    comm: Mutex<HashMap<String, Arc<Loaded<CommToml>>>>,
    stages: Mutex<HashMap<String, Arc<Loaded<StageToml>>>>,
    clusters: Mutex<HashMap<String, Arc<Loaded<ClusterToml>>>>,
    apps: Mutex<HashMap<String, Arc<Loaded<AppToml>>>>,
    /// Each cluster's apps: name and folder, found once per process.
    app_dirs: Mutex<HashMap<String, Arc<Vec<AppDir>>>>,
}

/// One app of a cluster: its name (its folder's) and its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDir {
    pub name: String,
    pub dir: PathBuf,
    /// The folder from the repository root, for messages.
    pub rel: String,
}

/// Where a cluster's apps are when its cluster.toml does not say.
pub fn default_apps_pattern(cluster: &str) -> String {
    format!("clusters/{cluster}/apps/*")
}

/// What a command acts on below the stage: nothing, a cluster, or one app of
/// a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub cluster: Option<String>,
    pub app: Option<String>,
}

impl Scope {
    pub fn cluster(cluster: &str) -> Scope {
        Scope {
            cluster: Some(cluster.to_owned()),
            app: None,
        }
    }

    pub fn app(cluster: &str, app: &str) -> Scope {
        Scope {
            cluster: Some(cluster.to_owned()),
            app: Some(app.to_owned()),
        }
    }

    /// `hmlet/photos`, `hmlet`, or empty.
    pub fn label(&self) -> String {
        match (&self.cluster, &self.app) {
            (Some(c), Some(a)) => format!("{c}/{a}"),
            (Some(c), None) => c.clone(),
            _ => String::new(),
        }
    }
}

#[derive(Clone)]
pub struct Stage {
    /// The stage's own name (its file's), also for an instance of it.
    pub name: String,
    pub file: Arc<Loaded<StageToml>>,
    /// `test@pr-42`: `pr-42` (instance.rs).
    pub instance: Option<String>,
}

impl Stage {
    pub fn target(&self) -> Target {
        *self.file.value.target.get_ref()
    }
    pub fn protected(&self) -> bool {
        self.file.value.protected
    }
    pub fn emoji(&self) -> &str {
        &self.file.value.emoji
    }
    /// `test`, or `test@pr-42`: what prompts and messages show.
    pub fn label(&self) -> String {
        crate::instance::label(&self.name, self.instance.as_deref())
    }
}

impl Repo {
    /// The nearest folder upwards from `cwd` that holds `shell.toml`.
    pub fn discover(cwd: &Path) -> Result<Repo> {
        let root = cwd
            .ancestors()
            .find(|dir| dir.join(MARKER).is_file())
            .with_context(|| {
                format!(
                    "not inside a Stagecraft repository: no {MARKER} in {} or any folder above it\n  \
                     hint: cd into your monorepo (the folder that holds {MARKER}) and run the command again",
                    cwd.display()
                )
            })?
            .to_owned();
        let shell: Loaded<ShellToml> = config::load(&root.join(MARKER), MARKER.to_owned())?;
        let format = &shell.value.prompt.format;
        let mut rest = format.get_ref().as_str();
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').map(|c| open + c);
            let name = close.map(|c| &rest[open + 1..c]);
            match (name, close) {
                (Some("emoji" | "stage" | "scope"), Some(close)) => rest = &rest[close + 1..],
                _ => {
                    return Err(shell.error_at(
                        &format.span(),
                        "prompt.format: unknown placeholder; use {emoji}, {stage} and {scope}",
                    ));
                }
            }
        }
        Ok(Repo {
            root,
            shell,
            cache: Cache::default(),
        })
    }

    fn cached<T: serde::de::DeserializeOwned>(
        &self,
        cache: &Mutex<HashMap<String, Arc<Loaded<T>>>>,
        rel: String,
    ) -> Result<Arc<Loaded<T>>> {
        if let Some(found) = cache.lock().expect("not poisoned").get(&rel) {
            return Ok(found.clone());
        }
        let loaded = Arc::new(config::load(&self.root.join(&rel), rel.clone())?);
        cache
            .lock()
            .expect("not poisoned")
            .insert(rel, loaded.clone());
        Ok(loaded)
    }

    pub fn stage_names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for file in list_dir(&self.root.join("envs"))? {
            let Some(name) = file.strip_suffix(".toml") else {
                continue;
            };
            if name == "comm" {
                continue;
            }
            check_name("stage", &format!("envs/{file}"), name)?;
            names.push(name.to_owned());
        }
        names.sort();
        Ok(names)
    }

    pub fn stage(&self, given: &str) -> Result<Stage> {
        let (name, asked) = crate::instance::split(given)?;
        let rel = format!("envs/{name}.toml");
        if name == "comm" || !is_dns_label(name) || !self.root.join(&rel).is_file() {
            return Err(suggest::unknown("stage", name, &self.stage_names()?));
        }
        let file = self.cached(&self.cache.stages, rel)?;
        let target = file.value.target.get_ref();
        if let (Target::Kind, Some(context)) = (target, &file.value.context) {
            return Err(file.error_at(
                &context.span(),
                "`context` is only for `target = \"remote\"`; a kind stage's context is kind-<cluster>-<stage>\n  \
                 hint: remove `context`, or set `target = \"remote\"`",
            ));
        }
        let instance = crate::instance::resolve(&file, name, asked)?;
        Ok(Stage {
            name: name.to_owned(),
            file,
            instance,
        })
    }

    /// The stage named on the command line; else, inside a Stagecraft
    /// shell of this repository, the shell's stage (what its prompt shows);
    /// else `project.default_stage`.
    pub fn stage_or_default(&self, name: Option<&str>) -> Result<Stage> {
        match name.map(str::to_owned).or_else(|| self.shell_stage()) {
            Some(name) => self.stage(&name),
            None => {
                let default = &self.shell.value.project.default_stage;
                self.stage(default.get_ref()).with_context(|| {
                    format!(
                        "{MARKER}:{}: project.default_stage names a stage that does not exist",
                        self.shell.line_of(&default.span())
                    )
                })
            }
        }
    }

    /// The stage (and instance) of this repository's shell we run in.
    pub fn shell_stage(&self) -> Option<String> {
        let in_shell = std::env::var("XTASK_DEPTH").is_ok_and(|d| d != "0")
            && std::env::var_os("XTASK_ROOT").is_some_and(|root| Path::new(&root) == self.root);
        let stage = in_shell
            .then(|| std::env::var("XTASK_STAGE").ok())
            .flatten()?;
        Some(match std::env::var("XTASK_INSTANCE") {
            Ok(instance) if !instance.is_empty() => format!("{stage}@{instance}"),
            _ => stage,
        })
    }

    pub fn comm(&self) -> Result<Option<Arc<Loaded<CommToml>>>> {
        let rel = "envs/comm.toml";
        let previewed = self
            .cache
            .comm
            .lock()
            .expect("not poisoned")
            .contains_key(rel);
        if !previewed && !self.root.join(rel).is_file() {
            return Ok(None);
        }
        self.cached(&self.cache.comm, rel.to_owned()).map(Some)
    }

    /// The clusters: folders of `clusters/` that hold a cluster.toml. A
    /// folder whose name is not a valid name is an error here, for every
    /// command alike.
    pub fn cluster_names(&self) -> Result<Vec<String>> {
        let dir = self.root.join("clusters");
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut names = Vec::new();
        for name in list_dir(&dir)? {
            if dir.join(&name).join("cluster.toml").is_file() {
                check_name("cluster", &format!("clusters/{name}"), &name)?;
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// A cluster's file (its name checked by `scope` or `cluster_names`).
    pub fn cluster(&self, name: &str) -> Result<Arc<Loaded<ClusterToml>>> {
        self.cached(
            &self.cache.clusters,
            format!("clusters/{name}/cluster.toml"),
        )
    }

    pub fn app_names(&self, cluster: &str) -> Result<Vec<String>> {
        Ok(self
            .app_dirs(cluster)?
            .iter()
            .map(|a| a.name.clone())
            .collect())
    }

    /// The apps of `cluster` that are on in `stage` (app.toml `enabled`,
    /// `[stages.<stage>] enabled`).
    pub fn enabled_app_names(&self, cluster: &str, stage: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for app in self.app_names(cluster)? {
            if self.app(cluster, &app)?.value.enabled_in(stage) {
                out.push(app);
            }
        }
        Ok(out)
    }

    /// The apps of `cluster`: the folders its `apps` patterns match (by
    /// default `clusters/<cluster>/apps/*`) that hold an app.toml, sorted
    /// by name. Two apps of one name, or a name that is not one, are
    /// errors at the pattern's line.
    pub fn app_dirs(&self, cluster: &str) -> Result<Arc<Vec<AppDir>>> {
        if let Some(found) = self
            .cache
            .app_dirs
            .lock()
            .expect("not poisoned")
            .get(cluster)
        {
            return Ok(found.clone());
        }
        let file = self.cluster(cluster)?;
        let patterns: Vec<(String, Option<std::ops::Range<usize>>)> = match &file.value.apps {
            Some(patterns) => patterns
                .iter()
                .map(|p| (p.get_ref().clone(), Some(p.span())))
                .collect(),
            None => vec![(default_apps_pattern(cluster), None)],
        };
        let mut apps: Vec<AppDir> = Vec::new();
        for (pattern, span) in &patterns {
            let at = |message: String| match span {
                Some(span) => file.error_at(span, message),
                None => anyhow::anyhow!(message),
            };
            for dir in crate::fsx::matching_dirs(&self.root, pattern)
                .map_err(|e| at(format!("apps: {e}")))?
            {
                if !dir.join("app.toml").is_file() {
                    continue;
                }
                let rel = dir
                    .strip_prefix(&self.root)
                    .unwrap_or(&dir)
                    .display()
                    .to_string();
                let name = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !is_dns_label(&name) {
                    return Err(at(format!(
                        "apps: the folder {rel} holds an app.toml, but `{name}` is not a valid app name\n  hint: an app is named after its folder: lowercase letters, digits and '-' (rename the folder, or leave it out of `apps`)"
                    )));
                }
                if let Some(other) = apps.iter().find(|a| a.name == name) {
                    if other.dir == dir {
                        continue;
                    }
                    return Err(at(format!(
                        "apps: two apps named `{name}` in cluster {cluster}: {} and {rel}\n  hint: an app is named after its folder; rename one",
                        other.rel
                    )));
                }
                apps.push(AppDir { name, dir, rel });
            }
        }
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        let apps = Arc::new(apps);
        self.cache
            .app_dirs
            .lock()
            .expect("not poisoned")
            .insert(cluster.to_owned(), apps.clone());
        Ok(apps)
    }

    /// The app.toml of an app, from the repository root.
    fn app_rel(&self, cluster: &str, app: &str) -> String {
        let dir = self.app_dir(cluster, app);
        let rel = dir.strip_prefix(&self.root).unwrap_or(&dir);
        format!("{}/app.toml", rel.display())
    }

    /// An app's file, read for a glance (`list`): not kept, so that reading
    /// every app of a large repository keeps no more than one in memory.
    pub fn app_once(&self, cluster: &str, app: &str) -> Result<Loaded<AppToml>> {
        let rel = self.app_rel(cluster, app);
        config::load(&self.root.join(&rel), rel)
    }

    pub fn app(&self, cluster: &str, app: &str) -> Result<Arc<Loaded<AppToml>>> {
        let rel = self.app_rel(cluster, app);
        self.cached(&self.cache.apps, rel)
    }

    /// The folder of an app of the cluster (where a new one of that name
    /// would go, when there is none).
    pub fn app_dir(&self, cluster: &str, app: &str) -> PathBuf {
        self.app_dirs(cluster)
            .ok()
            .and_then(|apps| apps.iter().find(|a| a.name == app).map(|a| a.dir.clone()))
            .unwrap_or_else(|| {
                self.root
                    .join("clusters")
                    .join(cluster)
                    .join("apps")
                    .join(app)
            })
    }

    /// The scope given by flags, else by the folder `cwd` is in
    /// (`clusters/hmlet/apps/photos/...` is hmlet/photos).
    pub fn scope(&self, cwd: &Path, cluster: Option<&str>, app: Option<&str>) -> Result<Scope> {
        let from_cwd = self.scope_of_folder(cwd);
        let cluster = match (cluster, app) {
            (Some(c), _) => Some(c.to_owned()),
            (None, Some(a)) => match from_cwd.cluster {
                Some(c) => Some(c),
                None => Some(self.cluster_of_app(a)?),
            },
            (None, None) => return self.check_scope(from_cwd),
        };
        self.check_scope(Scope {
            cluster,
            app: app.map(str::to_owned),
        })
    }

    /// The scope a stage runs in (`shell`, `env`, `run`): like
    /// [`Repo::scope`], and a repository with a single cluster scopes to it
    /// from anywhere, as the cluster commands do.
    pub fn stage_scope(
        &self,
        cwd: &Path,
        cluster: Option<&str>,
        app: Option<&str>,
    ) -> Result<Scope> {
        let scope = self.scope(cwd, cluster, app)?;
        if scope.cluster.is_some() {
            return Ok(scope);
        }
        match self.cluster_names()?.as_slice() {
            [only] => Ok(Scope::cluster(only)),
            _ => Ok(scope),
        }
    }

    /// The cluster named, else the one of the folder `cwd` is in, else the
    /// only one of the repository.
    pub fn cluster_or_only(&self, cwd: &Path, name: Option<&str>) -> Result<String> {
        let names = self.cluster_names()?;
        if let Some(name) = name {
            if !names.iter().any(|n| n == name) {
                return Err(suggest::unknown("cluster", name, &names));
            }
            return Ok(name.to_owned());
        }
        match self.scope_of_folder(cwd).cluster {
            Some(name) => Ok(name),
            None if names.len() == 1 => Ok(names[0].clone()),
            None => bail!(
                "which cluster? this repository has {}\n  hint: name one, or pass --cluster",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        }
    }

    fn check_scope(&self, scope: Scope) -> Result<Scope> {
        if let Some(cluster) = &scope.cluster {
            if !is_dns_label(cluster) || !self.cluster_file(cluster).is_file() {
                return Err(suggest::unknown("cluster", cluster, &self.cluster_names()?));
            }
            if let Some(app) = &scope.app
                && !self.app_names(cluster)?.iter().any(|a| a == app)
            {
                return Err(suggest::unknown_named(
                    &format!("app of cluster {cluster}:"),
                    "app",
                    app,
                    &self.app_names(cluster)?,
                ));
            }
        }
        Ok(scope)
    }

    fn cluster_file(&self, cluster: &str) -> PathBuf {
        self.root
            .join("clusters")
            .join(cluster)
            .join("cluster.toml")
    }

    /// The app whose folder holds `cwd` (the deepest, when folders nest),
    /// else the cluster whose folder does, else nothing.
    fn scope_of_folder(&self, cwd: &Path) -> Scope {
        if cwd.strip_prefix(&self.root).is_err() {
            return Scope::default();
        }
        let clusters = self.cluster_names().unwrap_or_default();
        let mut best: Option<(usize, Scope)> = None;
        for cluster in &clusters {
            let Ok(apps) = self.app_dirs(cluster) else {
                continue;
            };
            for app in apps.iter().filter(|a| cwd.starts_with(&a.dir)) {
                let depth = app.dir.components().count();
                if best.as_ref().is_none_or(|(d, _)| depth > *d) {
                    best = Some((depth, Scope::app(cluster, &app.name)));
                }
            }
        }
        if let Some((_, scope)) = best {
            return scope;
        }
        let rel = cwd.strip_prefix(&self.root).unwrap_or(cwd);
        let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
        match parts.as_slice() {
            ["clusters", cluster, ..] if self.cluster_file(cluster).is_file() => {
                Scope::cluster(cluster)
            }
            _ => Scope::default(),
        }
    }

    fn cluster_of_app(&self, app: &str) -> Result<String> {
        let mut owners = Vec::new();
        let mut all_apps = Vec::new();
        for cluster in self.cluster_names()? {
            for name in self.app_names(&cluster)? {
                if name == app {
                    owners.push(cluster.clone());
                }
                all_apps.push(name);
            }
        }
        match owners.len() {
            1 => Ok(owners.remove(0)),
            0 => Err(suggest::unknown("app", app, &all_apps)),
            _ => bail!(
                "app `{app}` exists in several clusters: {}\n  hint: pass --cluster",
                owners.join(", ")
            ),
        }
    }

    /// Makes this repository see `text` as the contents of the config file
    /// `rel` (an edit checked before it is written): the file is parsed and
    /// stands in for the one on disk.
    pub fn preview(&self, rel: &str, text: &str) -> Result<()> {
        fn put<T: serde::de::DeserializeOwned>(
            cache: &Mutex<HashMap<String, Arc<Loaded<T>>>>,
            rel: &str,
            text: &str,
        ) -> Result<()> {
            let loaded = Arc::new(config::parse(text, rel.to_owned())?);
            cache
                .lock()
                .expect("not poisoned")
                .insert(rel.to_owned(), loaded);
            Ok(())
        }
        match rel {
            "envs/comm.toml" => put(&self.cache.comm, rel, text),
            r if r.starts_with("envs/") => put(&self.cache.stages, rel, text),
            r if r.ends_with("/cluster.toml") => {
                self.cache.app_dirs.lock().expect("not poisoned").clear();
                put(&self.cache.clusters, rel, text)
            }
            r if r.ends_with("/app.toml") => put(&self.cache.apps, rel, text),
            _ => bail!("{rel} is not a config file of the stage model"),
        }
    }

    /// `deps/bin/`: the pinned tools.
    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("deps").join("bin")
    }

    /// The program to run for `name`: `deps/bin/<name>`, else the first on
    /// PATH. A tool found nowhere gets the fix in its error.
    pub fn tool(&self, name: &str) -> Result<PathBuf> {
        let pinned = self.bin_dir().join(name);
        if crate::process::is_executable(&pinned) {
            return Ok(pinned);
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        if let Some(found) = crate::process::find_on_path(name, &path, Some(&self.bin_dir())) {
            return Ok(found);
        }
        bail!(
            "{name} is not installed (not in deps/bin/ nor on PATH)\n  hint: run `cargo xtask deps install {name}`"
        )
    }

    /// `deps/kube/`: kubeconfigs per cluster and stage, never `~/.kube`.
    pub fn kube_dir(&self) -> PathBuf {
        self.root.join("deps").join("kube")
    }
}

/// DNS-1123 label: lowercase letters, digits and '-', starting and ending
/// with a letter or digit. Stage, cluster, app and release names follow it.
pub fn is_dns_label(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(ok_char)
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// The one rule for stage, cluster and app names, applied where they are
/// found.
fn check_name(kind: &str, place: &str, name: &str) -> Result<()> {
    if is_dns_label(name) {
        return Ok(());
    }
    bail!(
        "{place}: `{name}` is not a valid {kind} name\n  hint: rename it to lowercase letters, digits and '-' (at most 63, starting and ending with a letter or digit), e.g. `{}`",
        suggested_name(name)
    )
}

fn suggested_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').chars().take(63).collect()
}

fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if let Ok(name) = entry.file_name().into_string()
            && !name.starts_with('.')
        {
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("photos"));
        assert!(is_dns_label("a-1"));
        assert!(!is_dns_label("Photos"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a_b"));
        assert!(!is_dns_label(""));
    }

    #[test]
    fn scope_labels() {
        assert_eq!(Scope::app("hmlet", "photos").label(), "hmlet/photos");
        assert_eq!(Scope::default().label(), "");
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
    fn tools_come_from_deps_bin_then_path_and_must_be_executable() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, repo) = temp_repo();
        assert!(repo.tool("sh").unwrap().ends_with("bin/sh"), "from PATH");
        fs::create_dir_all(repo.bin_dir()).unwrap();
        let pinned = repo.bin_dir().join("sh");
        fs::write(&pinned, "").unwrap();
        assert_ne!(repo.tool("sh").unwrap(), pinned, "not executable: skipped");
        fs::set_permissions(&pinned, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(repo.tool("sh").unwrap(), pinned);
        let err = repo
            .tool("stagecraft-no-such-tool")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("run `cargo xtask deps install stagecraft-no-such-tool`"),
            "{err}"
        );
    }

    #[test]
    fn bad_names_get_a_suggestion() {
        assert_eq!(suggested_name("My Cluster"), "my-cluster");
        assert_eq!(suggested_name("_x__Y_"), "x-y");
    }
}
