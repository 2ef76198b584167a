//! `--affected`: the apps whose inputs changed between a revision and the
//! work tree, in one stage. An app's inputs are its folder (without other
//! stages' values, without the folders of apps nested in it), its images'
//! contexts and Dockerfiles, every chart, kustomization or folder of
//! manifests its releases deploy (a shared chart reaches every app that
//! uses it), the files that make its stage environment (`shell.toml`,
//! `envs/comm.toml`, `envs/<stage>.toml`, the files of its cluster's
//! folder); an app that `depends_on` an affected app is affected too.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use crate::config::resolve_app_path;
use crate::config::{AppToml, Loaded};
use crate::ignore_rules::Rules;
use crate::process::Cmd;
use crate::repo::{AppDir, Repo, Stage};

/// Where each app's last deploy to a stage from this machine is recorded
/// (the default `--since`): `<dir>/<stage>/<cluster>/<app>`.
pub const DEPLOYED_DIR: &str = "deps/.cache/deployed";

/// An affected app and why: the changed paths that reach it, or the app
/// it depends on; and the revision it was compared with.
#[derive(Debug, Clone, Serialize)]
pub struct AffectedApp {
    pub cluster: String,
    pub app: String,
    pub why: Vec<String>,
    pub since: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Affected {
    /// The apps, by cluster and name.
    pub apps: Vec<AffectedApp>,
}

impl Affected {
    pub fn of(&self, cluster: &str, app: &str) -> Option<&AffectedApp> {
        self.apps
            .iter()
            .find(|a| a.cluster == cluster && a.app == app)
    }

    /// The affected apps of `cluster`, by name.
    pub fn apps_of(&self, cluster: &str) -> Vec<String> {
        self.apps
            .iter()
            .filter(|a| a.cluster == cluster)
            .map(|a| a.app.clone())
            .collect()
    }
}

fn git(repo: &Repo, args: &[&str]) -> Cmd {
    Cmd::new("git").arg("-C").arg(&repo.root).args(args)
}

/// The record of an app's last deploy to a stage from this machine: the
/// commit it was deployed from.
pub fn deployed_record(repo: &Repo, stage: &str, cluster: &str, app: &str) -> std::path::PathBuf {
    repo.root
        .join(DEPLOYED_DIR)
        .join(stage)
        .join(cluster)
        .join(app)
}

/// The apps of every cluster (on in `stage`) that changes since `since`
/// reach. `since` None: for each app, the commit of its last deploy to
/// the stage from this machine when known, else the merge-base of HEAD
/// with the default branch.
pub fn affected(repo: &Repo, stage: &Stage, since: Option<&str>) -> Result<Affected> {
    let given = match since {
        Some(rev) => Some((rev.to_owned(), commit_of(repo, rev)?)),
        None => None,
    };
    let mut fallback: Option<(String, String)> = None;
    let mut changes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let stages = repo.stage_names()?;
    let mut apps = Vec::new();
    for cluster in repo.cluster_names()? {
        let dirs = repo.app_dirs(&cluster)?;
        let enabled = repo.enabled_app_names(&cluster, &stage.name)?;
        let mut why: BTreeMap<String, (Vec<String>, String)> = BTreeMap::new();
        // The apps whose images, charts or manifests changed (or that
        // depend on one): their dependents are affected.
        let mut runs_changed: Vec<String> = Vec::new();
        for dir in dirs.iter().filter(|d| enabled.contains(&d.name)) {
            let (label, commit) = match &given {
                Some(given) => given.clone(),
                None => {
                    let record = deployed_record(repo, &stage.label(), &cluster, &dir.name);
                    match fs::read_to_string(&record)
                        .ok()
                        .and_then(|t| commit_of(repo, t.trim()).ok())
                    {
                        Some(commit) => (format!("the last deploy to {}", stage.name), commit),
                        None => match &fallback {
                            Some(found) => found.clone(),
                            None => fallback.insert(default_branch_base(repo, stage)?).clone(),
                        },
                    }
                }
            };
            if !changes.contains_key(&commit) {
                changes.insert(commit.clone(), changed_paths(repo, &commit)?);
            }
            let file = repo.app(&cluster, &dir.name)?;
            let inputs = inputs(repo, &cluster, stage, dir, &dirs, &file, &stages);
            let reached: Vec<String> = changes[&commit]
                .iter()
                .filter(|path| inputs.iter().any(|input| input.reaches(path)))
                .cloned()
                .collect();
            if changes[&commit]
                .iter()
                .any(|path| inputs.iter().any(|input| input.code && input.reaches(path)))
            {
                runs_changed.push(dir.name.clone());
            }
            if !reached.is_empty() {
                why.insert(dir.name.clone(), (reached, label));
            }
        }
        // Apps that depend on one whose images, charts or manifests
        // changed, until nothing more is added.
        loop {
            let mut added = false;
            for name in &enabled {
                if runs_changed.contains(name) {
                    continue;
                }
                let file = repo.app(&cluster, name)?;
                if let Some(dep) = file
                    .value
                    .depends_on
                    .iter()
                    .find(|d| runs_changed.contains(d.get_ref()))
                {
                    let since = why[dep.get_ref()].1.clone();
                    let reason = format!(
                        "depends on {}, whose images or charts changed",
                        dep.get_ref()
                    );
                    why.entry(name.clone())
                        .or_insert_with(|| (Vec::new(), since))
                        .0
                        .push(reason);
                    runs_changed.push(name.clone());
                    added = true;
                }
            }
            if !added {
                break;
            }
        }
        for (app, (why, since)) in why {
            apps.push(AffectedApp {
                cluster: cluster.clone(),
                app,
                why,
                since,
            });
        }
    }
    Ok(Affected { apps })
}

/// The commit `rev` names, or an error that says what was given.
fn commit_of(repo: &Repo, rev: &str) -> Result<String> {
    if rev.starts_with('-') {
        bail!(
            "--since {rev}: not a revision\n  hint: a branch, tag or commit, e.g. --since HEAD~1 or --since origin/main"
        );
    }
    git(repo, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
        .read()
        .map(|s| s.trim().to_owned())
        .map_err(|_| {
            anyhow!(
                "unknown revision `{rev}` for --since\n  hint: a branch, tag or commit of this repository (git log --oneline); fetch it first if it is a remote's"
            )
        })
}

/// The merge-base of HEAD with the default branch (origin's HEAD, else
/// main or master).
fn default_branch_base(repo: &Repo, stage: &Stage) -> Result<(String, String)> {
    let remote_head = git(
        repo,
        &[
            "symbolic-ref",
            "--quiet",
            "--short",
            "refs/remotes/origin/HEAD",
        ],
    )
    .read()
    .ok()
    .map(|s| s.trim().to_owned());
    let candidates = remote_head
        .into_iter()
        .chain(["origin/main", "origin/master", "main", "master"].map(str::to_owned));
    for branch in candidates {
        if commit_of(repo, &branch).is_err() {
            continue;
        }
        if let Ok(base) = git(repo, &["merge-base", "HEAD", &branch]).read() {
            return Ok((
                format!("the merge-base with {branch}"),
                base.trim().to_owned(),
            ));
        }
    }
    bail!(
        "no revision to compare with: no deploy to stage {} is recorded here and there is no default branch (origin/HEAD, main, master)\n  hint: pass --since REF (a branch, tag or commit)",
        stage.name
    )
}

/// Every path that differs between `commit` and the work tree (staged or
/// not, deleted, renamed: both names) and every untracked file that is
/// not ignored, from the repository root.
fn changed_paths(repo: &Repo, commit: &str) -> Result<Vec<String>> {
    let diff = git(
        repo,
        &[
            "diff",
            "--name-only",
            "-z",
            "--no-renames",
            "--relative",
            commit,
            "--",
        ],
    )
    .read()?;
    let untracked = git(repo, &["ls-files", "-z", "--others", "--exclude-standard"]).read()?;
    let mut paths: Vec<String> = diff
        .split('\0')
        .chain(untracked.split('\0'))
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// One input of an app: a file, or a folder and everything in it but what
/// is excluded (other stages' values, nested apps, what a build context's
/// `.dockerignore` leaves out).
#[derive(Debug)]
struct Input {
    path: String,
    except: Vec<String>,
    docker: Option<Rules>,
    /// What the app runs (images, charts, manifests), as against how it is
    /// configured (its folder's files, the env files): only a change to
    /// what it runs reaches the apps that depend on it.
    code: bool,
}

impl Input {
    fn config(path: String) -> Input {
        Input {
            path,
            except: Vec::new(),
            docker: None,
            code: false,
        }
    }

    fn code(path: String) -> Input {
        Input {
            code: true,
            ..Input::config(path)
        }
    }

    fn reaches(&self, changed: &str) -> bool {
        let under = |base: &str| {
            base.is_empty()
                || changed == base
                || changed
                    .strip_prefix(base)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        if !under(&self.path) || self.except.iter().any(|e| under(e)) {
            return false;
        }
        let in_context = match self.path.as_str() {
            "" => changed,
            base => changed
                .strip_prefix(base)
                .unwrap_or(changed)
                .trim_start_matches('/'),
        };
        !self
            .docker
            .as_ref()
            .is_some_and(|rules| !in_context.is_empty() && rules.docker_excludes(in_context))
    }
}

fn inputs(
    repo: &Repo,
    cluster: &str,
    stage: &Stage,
    dir: &AppDir,
    all: &[AppDir],
    file: &Loaded<AppToml>,
    stages: &[String],
) -> Vec<Input> {
    let rel = |path: &Path| -> Option<String> {
        let path = normalize(path);
        path.strip_prefix(&repo.root)
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    };
    let mut inputs = Vec::new();
    // The app's folder: not other stages' values, not apps nested in it.
    let mut own = Input::config(dir.rel.clone());
    for other in stages.iter().filter(|s| **s != stage.name) {
        own.except.push(format!("{}/values/{other}", dir.rel));
    }
    for nested in all {
        if nested.rel != dir.rel && nested.rel.starts_with(&format!("{}/", dir.rel)) {
            own.except.push(nested.rel.clone());
        }
    }
    inputs.push(own);
    // The files of the stage environment.
    for path in [
        "shell.toml",
        "envs/comm.toml",
        &format!("envs/{}.toml", stage.name),
    ] {
        inputs.push(Input::config(path.to_owned()));
    }
    if let Some(cluster_dir) = rel(&repo.root.join("clusters").join(cluster))
        && let Ok(entries) = fs::read_dir(repo.root.join(&cluster_dir))
    {
        for entry in entries.flatten().filter(|e| e.path().is_file()) {
            inputs.push(Input::config(format!(
                "{cluster_dir}/{}",
                entry.file_name().to_string_lossy()
            )));
        }
    }
    // What its images are built from.
    for image in &file.value.images {
        let context = resolve_app_path(&repo.root, &dir.dir, &fill(&image.context, stage));
        let dockerfile = context.join(image.dockerfile.as_deref().unwrap_or("Dockerfile"));
        let docker = fs::read_to_string(context.join(".dockerignore"))
            .ok()
            .map(|text| Rules::dockerignore(&text));
        inputs.extend(rel(&context).map(|path| Input {
            docker,
            ..Input::code(path)
        }));
        inputs.extend(rel(&dockerfile).map(Input::code));
    }
    // What its releases deploy.
    for release in &file.value.releases {
        let paths = [
            release.chart.as_ref().filter(|_| release.repo.is_none()),
            release.kustomize.as_ref(),
            release.manifests.as_ref(),
        ];
        for path in paths.into_iter().flatten() {
            let text = fill(path.get_ref(), stage);
            if text.starts_with("oci://") {
                continue;
            }
            let resolved = resolve_app_path(&repo.root, &dir.dir, &text);
            // A glob: its folder.
            let folder = match text.contains(['*', '?', '[']) {
                true => resolved
                    .ancestors()
                    .find(|a| !a.to_string_lossy().contains(['*', '?', '[']))
                    .map(Path::to_path_buf)
                    .unwrap_or(resolved),
                false => resolved,
            };
            if release.kustomize.as_ref() == Some(path) {
                for extra in kustomize_folders(&folder) {
                    inputs.extend(rel(&extra).map(Input::code));
                }
            }
            inputs.extend(rel(&folder).map(Input::code));
        }
    }
    inputs
}

/// `${XTASK_STAGE}` filled in; a path with other variables counts from
/// the folder before the first of them.
fn fill(path: &str, stage: &Stage) -> String {
    let filled = path.replace("${XTASK_STAGE}", &stage.name);
    match filled.find("${") {
        Some(at) => filled[..at]
            .rsplit_once('/')
            .map_or(String::new(), |(dir, _)| dir.to_owned()),
        None => filled,
    }
}

/// The folders a kustomization reaches outside its own (its `resources`,
/// `bases` and `components` that are folders), followed through theirs.
fn kustomize_folders(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut seen = vec![dir.to_path_buf()];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        let text = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
            .iter()
            .find_map(|name| fs::read_to_string(folder.join(name)).ok())
            .unwrap_or_default();
        let mut in_list = false;
        for line in text.lines() {
            let trimmed = line.trim();
            if !line.starts_with([' ', '-']) {
                in_list = ["resources:", "bases:", "components:"].contains(&trimmed);
                continue;
            }
            let Some(item) = trimmed.strip_prefix("- ").filter(|_| in_list) else {
                continue;
            };
            let item = item.trim().trim_matches(['"', '\'']);
            let path = normalize(&folder.join(item));
            if path.is_dir() && !seen.contains(&path) {
                seen.push(path.clone());
                if !path.starts_with(dir) {
                    out.push(path.clone());
                }
                todo.push(path);
            }
        }
    }
    out
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalize(path: &Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
