//! Where a cluster is reached: the kubeconfig file and the context in it,
//! computed once per cluster and stage and used by the stage environment
//! and by every tool call alike.
//!
//! Two files per cluster and stage. The source, `deps/kube/<c>-<s>.yaml`,
//! is what kind writes or where the user puts a remote stage's
//! credentials; it may hold other contexts. The view,
//! `deps/kube/views/<c>-<s>.yaml`, holds only this stage's context, its
//! cluster and its user (`kubectl config view --minify --flatten`),
//! private to the user; it is what `KUBECONFIG` and every tool get, so
//! `kubectl config use-context` in a stage shell has nowhere else to go.
//! It is made again whenever the source, or the view itself, changed.
//!
//! With no source (a kind cluster not created yet, remote credentials not
//! written) the view is a guard: a kubeconfig whose only user is an exec
//! credential plugin that prints what is missing and fails. Without it,
//! kubectl and helm would fall back to `localhost:8080` and say "connection
//! refused"; with it they say what to do, and reach no cluster at all.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::fsx;
use crate::process::Cmd;

/// One cluster in one stage, as kubectl and helm reach it.
#[derive(Debug, Clone)]
pub struct KubeTarget {
    pub cluster: String,
    pub stage: String,
    /// `deps/kube/<cluster>-<stage>.yaml`: written by kind, or by the user
    /// for a remote stage; never `~/.kube/config`.
    pub source: PathBuf,
    /// `deps/kube/views/<cluster>-<stage>.yaml`: the one context of the
    /// stage; what KUBECONFIG and every tool get.
    pub kubeconfig: PathBuf,
    /// The context in it; a remote stage may name none (an error only for
    /// commands that reach the cluster).
    pub context: Option<String>,
    /// Stagecraft creates this cluster (kind); otherwise the user writes
    /// its credentials. Says how to fix a missing source.
    pub created_here: bool,
}

/// What [`KubeTarget::refresh_view`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum View {
    /// No source yet (a kind cluster not bootstrapped, remote credentials
    /// not written): the view is the guard.
    NoSource,
    Fresh,
    Refreshed,
}

impl KubeTarget {
    pub fn new(
        kube_dir: &Path,
        cluster: &str,
        stage: &str,
        context: Option<String>,
        created_here: bool,
    ) -> KubeTarget {
        let name = format!("{cluster}-{stage}.yaml");
        KubeTarget {
            cluster: cluster.to_owned(),
            stage: stage.to_owned(),
            source: kube_dir.join(&name),
            kubeconfig: kube_dir.join("views").join(name),
            context,
            created_here,
        }
    }

    /// The cluster has no credentials yet: what is missing and the fix.
    /// `None` when the source is there.
    pub fn missing(&self) -> Option<String> {
        if self.source.is_file() {
            return None;
        }
        Some(match self.created_here {
            true => format!(
                "cluster {name} does not exist yet: `cargo xtask up --stage {stage}` creates it",
                name = self.name(),
                stage = self.stage
            ),
            false => format!(
                "no credentials for cluster {cluster} in stage {stage}: put its kubeconfig in deps/kube/{cluster}-{stage}.yaml (docs/clusters.md)",
                cluster = self.cluster,
                stage = self.stage
            ),
        })
    }

    /// Writes the guard view (see the module's comment), unless it is there.
    pub fn write_guard(&self) -> Result<()> {
        let message = self
            .missing()
            .unwrap_or_else(|| format!("cluster {} is not reachable", self.name()));
        let context = self.context.as_deref().unwrap_or("stagecraft-missing");
        let script = format!(
            "echo {} >&2; exit 1",
            crate::quote::posix(&format!("stagecraft: {message}"))
        );
        const GUARD: &str = include_str!("missing-cluster.yaml");
        // `{message}` last: it is the only text that could hold braces.
        let guard = GUARD
            .replace("{name}", &self.name())
            .replace("{context}", &yaml_string(context))
            .replace("{script}", &yaml_string(&script))
            .replace("{message}", &message);
        let _ = fs::remove_file(self.stamp_path());
        if fs::read_to_string(&self.kubeconfig).ok().as_deref() == Some(guard.as_str()) {
            return Ok(());
        }
        let dir = self.kubeconfig.parent().expect("views/ has a parent");
        fsx::private_dir(dir)?;
        fsx::replace_private(&self.kubeconfig, guard.as_bytes())
    }

    /// `<cluster>-<stage>`: the kind cluster's name, and the hosts block's.
    pub fn name(&self) -> String {
        format!("{}-{}", self.cluster, self.stage)
    }

    /// The context, or why there is none and how to name it.
    pub fn context(&self) -> Result<&str> {
        match &self.context {
            Some(context) => Ok(context),
            None => bail!(
                "stage {stage} is remote but names no context for cluster {cluster}\n  hint: set `context = \"...\"` in envs/{stage}.toml, or under [stages.{stage}] in clusters/{cluster}/cluster.toml",
                stage = self.stage,
                cluster = self.cluster
            ),
        }
    }

    fn stamp_path(&self) -> PathBuf {
        self.kubeconfig.with_extension("stamp")
    }

    /// What the view was made from: the source's and the view's size,
    /// change time and inode, and the context.
    fn stamp(&self) -> Option<String> {
        let of = |path: &Path| {
            fs::metadata(path)
                .ok()
                .map(|m| format!("{} {} {} {}", m.len(), m.mtime(), m.mtime_nsec(), m.ino()))
        };
        Some(format!(
            "source {}\nview {}\ncontext {}\n",
            of(&self.source)?,
            of(&self.kubeconfig)?,
            self.context.as_deref().unwrap_or("")
        ))
    }

    /// Removes the view (its cluster is gone).
    pub fn remove_view(&self) {
        let _ = fs::remove_file(&self.kubeconfig);
        let _ = fs::remove_file(self.stamp_path());
    }

    /// Makes the view current, with `kubectl config view` (offline): a
    /// no-op when neither file changed since it was made.
    pub fn refresh_view(&self, kubectl: &Path) -> Result<View> {
        if !self.source.is_file() {
            // No cluster yet, or a deleted one: the guard says so.
            self.write_guard()?;
            return Ok(View::NoSource);
        }
        let stamp = self.stamp();
        if stamp.is_some() && fs::read_to_string(self.stamp_path()).ok() == stamp {
            return Ok(View::Fresh);
        }
        let context = self.context()?;
        let minified = Cmd::new(kubectl)
            .args(["config", "view", "--minify", "--flatten", "--raw"])
            .args(["--context", context, "--kubeconfig"])
            .arg(&self.source)
            .env("KUBECONFIG", &self.source)
            .no_stdin()
            .read()
            .with_context(|| {
                format!(
                    "cannot take context {context} out of {}\n  hint: check that the file holds the context (kubectl config get-contexts --kubeconfig {})",
                    self.source.display(),
                    self.source.display()
                )
            })?;
        let dir = self.kubeconfig.parent().expect("views/ has a parent");
        fsx::private_dir(dir)?;
        fsx::replace_private(&self.kubeconfig, minified.as_bytes())?;
        let stamp = self.stamp().context("the view was just written")?;
        fsx::replace_private(&self.stamp_path(), stamp.as_bytes())?;
        Ok(View::Refreshed)
    }
}

/// A YAML double-quoted scalar: JSON's string is one.
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_lives_beside_the_source_in_a_folder_of_its_own() {
        let kube = KubeTarget::new(Path::new("/r/deps/kube"), "hmlet", "prod", None, false);
        assert_eq!(kube.source, Path::new("/r/deps/kube/hmlet-prod.yaml"));
        assert_eq!(
            kube.kubeconfig,
            Path::new("/r/deps/kube/views/hmlet-prod.yaml")
        );
        assert_eq!(
            kube.stamp_path(),
            Path::new("/r/deps/kube/views/hmlet-prod.stamp")
        );
        assert!(kube.context().is_err());
    }
}
