//! The repository model: where the root is, which stages, clusters and apps
//! exist, and which scope a folder belongs to.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::config::{self, AppToml, ClusterToml, CommToml, Loaded, ShellToml, StageToml, Target};
use crate::suggest;

pub const MARKER: &str = "shell.toml";

pub struct Repo {
    pub root: PathBuf,
    pub shell: Loaded<ShellToml>,
}

/// What a command acts on below the stage: nothing, a cluster, or one app of
/// a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub cluster: Option<String>,
    pub app: Option<String>,
}

impl Scope {
    /// `hmlet/photos`, `hmlet`, or empty.
    pub fn label(&self) -> String {
        match (&self.cluster, &self.app) {
            (Some(c), Some(a)) => format!("{c}/{a}"),
            (Some(c), None) => c.clone(),
            _ => String::new(),
        }
    }
}

pub struct Stage {
    pub name: String,
    pub file: Loaded<StageToml>,
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
            match name {
                Some("emoji" | "stage" | "scope") => rest = &rest[close.unwrap() + 1..],
                _ => {
                    return Err(shell.error_at(
                        &format.span(),
                        "prompt.format: unknown placeholder; use {emoji}, {stage} and {scope}",
                    ));
                }
            }
        }
        Ok(Repo { root, shell })
    }

    fn load<T: serde::de::DeserializeOwned>(&self, rel: &str) -> Result<Loaded<T>> {
        config::load(&self.root.join(rel), rel.to_owned())
    }

    pub fn stage_names(&self) -> Result<Vec<String>> {
        let dir = self.root.join("envs");
        let mut names: Vec<String> = list_dir(&dir)?
            .into_iter()
            .filter_map(|name| name.strip_suffix(".toml").map(str::to_owned))
            .filter(|name| name != "comm")
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn stage(&self, name: &str) -> Result<Stage> {
        let rel = format!("envs/{name}.toml");
        if name == "comm" || !is_dns_label(name) || !self.root.join(&rel).is_file() {
            return Err(suggest::unknown("stage", name, &self.stage_names()?));
        }
        let file: Loaded<StageToml> = self.load(&rel)?;
        let stage = file.value.target.get_ref();
        if let (Target::Kind, Some(context)) = (stage, &file.value.context) {
            return Err(file.error_at(
                &context.span(),
                "`context` is only for `target = \"remote\"`; a kind stage's context is kind-<cluster>-<stage>\n  \
                 hint: remove `context`, or set `target = \"remote\"`",
            ));
        }
        Ok(Stage {
            name: name.to_owned(),
            file,
        })
    }

    /// The stage named on the command line, else `project.default_stage`.
    /// The stage named on the command line; else, inside a Stagecraft
    /// shell of this repository, the shell's stage (what its prompt shows);
    /// else `project.default_stage`.
    pub fn stage_or_default(&self, name: Option<&str>) -> Result<Stage> {
        let in_shell = std::env::var("XTASK_DEPTH").is_ok_and(|d| d != "0")
            && std::env::var_os("XTASK_ROOT").is_some_and(|root| Path::new(&root) == self.root);
        let shell_stage = in_shell
            .then(|| std::env::var("XTASK_STAGE").ok())
            .flatten();
        match name.or(shell_stage.as_deref()) {
            Some(name) => self.stage(name),
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

    pub fn comm(&self) -> Result<Option<Loaded<CommToml>>> {
        let rel = "envs/comm.toml";
        if !self.root.join(rel).is_file() {
            return Ok(None);
        }
        self.load(rel).map(Some)
    }

    pub fn cluster_names(&self) -> Result<Vec<String>> {
        let dir = self.root.join("clusters");
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut names: Vec<String> = list_dir(&dir)?
            .into_iter()
            .filter(|name| dir.join(name).join("cluster.toml").is_file())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Loads a cluster's file; the name was checked by [`Repo::scope`] or
    /// listed by [`Repo::cluster_names`].
    pub fn cluster(&self, name: &str) -> Result<Loaded<ClusterToml>> {
        self.load(&format!("clusters/{name}/cluster.toml"))
    }

    pub fn app_names(&self, cluster: &str) -> Result<Vec<String>> {
        let dir = self.root.join("clusters").join(cluster).join("apps");
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut names: Vec<String> = list_dir(&dir)?
            .into_iter()
            .filter(|name| dir.join(name).join("app.toml").is_file())
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn app(&self, cluster: &str, app: &str) -> Result<Loaded<AppToml>> {
        self.load(&format!("clusters/{cluster}/apps/{app}/app.toml"))
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

    fn check_scope(&self, scope: Scope) -> Result<Scope> {
        if let Some(cluster) = &scope.cluster {
            if !is_dns_label(cluster) || !self.cluster_file(cluster).is_file() {
                return Err(suggest::unknown("cluster", cluster, &self.cluster_names()?));
            }
            if let Some(app) = &scope.app
                && (!is_dns_label(app) || !self.app_file(cluster, app).is_file())
            {
                return Err(suggest::unknown(
                    &format!("app of cluster {cluster}:"),
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

    fn app_file(&self, cluster: &str, app: &str) -> PathBuf {
        self.root
            .join("clusters")
            .join(cluster)
            .join("apps")
            .join(app)
            .join("app.toml")
    }

    fn scope_of_folder(&self, cwd: &Path) -> Scope {
        let Ok(rel) = cwd.strip_prefix(&self.root) else {
            return Scope::default();
        };
        let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
        match parts.as_slice() {
            ["clusters", cluster, "apps", app, ..] if self.app_file(cluster, app).is_file() => {
                Scope {
                    cluster: Some((*cluster).to_owned()),
                    app: Some((*app).to_owned()),
                }
            }
            ["clusters", cluster, ..] if self.cluster_file(cluster).is_file() => Scope {
                cluster: Some((*cluster).to_owned()),
                app: None,
            },
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

    /// The kubeconfig file of a cluster and stage: always under `deps/kube/`,
    /// never the user's `~/.kube/config`.
    pub fn kubeconfig(&self, cluster: Option<&str>, stage: &str) -> PathBuf {
        let file = match cluster {
            Some(cluster) => format!("{cluster}-{stage}.yaml"),
            None => format!("{stage}.yaml"),
        };
        self.root.join("deps").join("kube").join(file)
    }
}

/// DNS-1123 label: lowercase letters, digits and '-', starting and ending
/// with a letter or digit. Stage, cluster and app names follow it.
pub fn is_dns_label(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(ok_char)
        && !name.starts_with('-')
        && !name.ends_with('-')
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
        let s = Scope {
            cluster: Some("hmlet".into()),
            app: Some("photos".into()),
        };
        assert_eq!(s.label(), "hmlet/photos");
        assert_eq!(Scope::default().label(), "");
    }
}
