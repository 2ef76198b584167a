//! One toolbox per command: it asks for exactly the tools it runs, finds
//! them all before anything runs (deps/bin first, then PATH), and builds
//! their command lines. kubectl and helm get the cluster's kubeconfig and
//! context here, in one place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use stagecraft_core::cluster::kube::KubeTarget;
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::repo::Repo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tool {
    Docker,
    Kind,
    Kubectl,
    Helm,
    Skaffold,
    Telepresence,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Docker => "docker",
            Tool::Kind => "kind",
            Tool::Kubectl => "kubectl",
            Tool::Helm => "helm",
            Tool::Skaffold => "skaffold",
            Tool::Telepresence => "telepresence",
        }
    }
}

/// The tools a dry run of `up` plans to install: later steps of the same
/// run name them in deps/bin, where the real run will have put them.
#[derive(Default, Clone)]
pub struct Planned(pub Vec<String>);

pub struct Toolbox {
    paths: BTreeMap<Tool, PathBuf>,
}

impl Toolbox {
    /// Finds every tool of `needs`, or says how to get each missing one;
    /// nothing has run yet.
    pub fn find(repo: &Repo, needs: &[Tool], planned: &Planned) -> Result<Toolbox> {
        let mut paths = BTreeMap::new();
        let mut missing = Vec::new();
        for &tool in needs {
            if planned.0.iter().any(|p| p == tool.name()) {
                paths.insert(tool, repo.bin_dir().join(tool.name()));
                continue;
            }
            match repo.tool(tool.name()) {
                Ok(path) => {
                    paths.insert(tool, path);
                }
                Err(_) if tool == Tool::Docker => missing.push(
                    "docker is not installed\n  hint: install Docker (https://docs.docker.com/engine/install/) and start it"
                        .to_owned(),
                ),
                Err(e) => missing.push(e.to_string()),
            }
        }
        if !missing.is_empty() {
            bail!(
                "missing prerequisites, nothing was changed:\n{}",
                missing.join("\n")
            );
        }
        Ok(Toolbox { paths })
    }

    pub fn path(&self, tool: Tool) -> &Path {
        self.paths
            .get(&tool)
            .unwrap_or_else(|| panic!("{} was not asked for", tool.name()))
    }

    /// The tool with no arguments yet.
    pub fn cmd(&self, tool: Tool) -> Cmd {
        Cmd::new(self.path(tool))
    }

    pub fn docker(&self) -> Cmd {
        self.cmd(Tool::Docker)
    }

    pub fn kind(&self) -> Cmd {
        self.cmd(Tool::Kind)
    }

    /// kubectl with the target's kubeconfig and context, always explicit.
    pub fn kubectl(&self, kube: &KubeTarget) -> Cmd {
        let mut cmd = self
            .cmd(Tool::Kubectl)
            .arg("--kubeconfig")
            .arg(&kube.kubeconfig);
        if let Some(context) = &kube.context {
            cmd = cmd.arg("--context").arg(context);
        }
        cmd.env("KUBECONFIG", &kube.kubeconfig)
    }

    /// helm `head...` (a subcommand and its release, chart and namespace),
    /// then the target's kubeconfig and context, always explicit.
    pub fn helm(&self, kube: &KubeTarget, head: &[&str]) -> Cmd {
        let mut cmd = self
            .cmd(Tool::Helm)
            .args(head)
            .arg("--kubeconfig")
            .arg(&kube.kubeconfig);
        if let Some(context) = &kube.context {
            cmd = cmd.args(["--kube-context", context]);
        }
        cmd.env("KUBECONFIG", &kube.kubeconfig)
    }

    /// telepresence with the target's kubeconfig (KUBECONFIG, for every
    /// call); `connect` also names it and the context on its command line.
    pub fn telepresence(&self, kube: &KubeTarget, head: &[&str]) -> Cmd {
        let mut cmd = self.cmd(Tool::Telepresence).args(head);
        if head.first() == Some(&"connect") {
            cmd = cmd.arg("--kubeconfig").arg(&kube.kubeconfig);
            if let Some(context) = &kube.context {
                cmd = cmd.args(["--context", context]);
            }
        }
        cmd.env("KUBECONFIG", &kube.kubeconfig)
    }

    /// helm for what never reaches a cluster (template, lint, version), but
    /// still with the stage's kubeconfig, so no plugin reads ~/.kube.
    pub fn helm_offline(&self, kube: &KubeTarget) -> Cmd {
        self.cmd(Tool::Helm).env("KUBECONFIG", &kube.kubeconfig)
    }
}

/// A ConfigMap Stagecraft keeps beside a release (its inventory, its
/// inputs record) as JSON; None when it is not there. Read for real in a
/// dry run too (`Runner::look`).
pub fn config_map(
    runner: &Runner,
    kubectl: Cmd,
    namespace: &str,
    name: &str,
) -> Result<Option<serde_json::Value>> {
    let get = kubectl
        .args(["get", "configmap", name])
        .args(["--namespace", namespace, "--ignore-not-found"])
        .args(["--output", "json"])
        .no_stdin();
    let text = runner.look(&get)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&text)
        .map(Some)
        .with_context(|| format!("kubectl gave ConfigMap {name} in {namespace} as no JSON"))
}

/// `kubectl apply` of `manifest` from stdin, server-side, owned by
/// Stagecraft's field manager (what it applies, it owns: a later apply
/// takes over fields someone edited by hand).
pub fn server_side_apply(kubectl: Cmd, manifest: &serde_json::Value) -> Cmd {
    kubectl
        .args([
            "apply",
            "--server-side",
            "--field-manager=stagecraft",
            "--force-conflicts",
            "--filename=-",
        ])
        .stdin_bytes(serde_json::to_string_pretty(manifest).expect("JSON"))
}
