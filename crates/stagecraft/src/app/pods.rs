//! A release's pods for logs, a terminal and port-forwards, found through
//! the release's own workloads (their selectors and Services), so a chart
//! that never sets Stagecraft's labels works as well as ours. kubectl
//! only: a chart's manifests come from helm's record in the cluster.

use anyhow::{Context, Result};

use crate::app::applied;
use crate::app::model::Release;
use crate::app::objects::{self, Workload};
use crate::app::releases::AppAt;
use crate::tools::toolbox::{Planned, Tool, Toolbox};
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::repo::Repo;

/// The release's manifests as they run: helm's record of a chart (what
/// was installed, whatever the chart), a kustomization or manifests
/// rendered as their deploy applied them.
fn live_manifests(repo: &Repo, tools: &Toolbox, at: &AppAt, release: &Release) -> Result<String> {
    if !release.source.is_helm() {
        return applied::render(repo, tools, release, &Runner { dry_run: false });
    }
    crate::tools::helm_record::manifest(
        tools.kubectl(&at.target.kube),
        &release.namespace,
        &release.name,
    )
    .with_context(|| {
        format!(
            "cannot read the manifests of {} (is it deployed?)",
            release.id()
        )
    })
}

/// The workload `name` names (default: the release's only one, or the one
/// named like it), and the release's manifests.
fn workload(
    repo: &Repo,
    at: &AppAt,
    release: &Release,
    name: Option<&str>,
) -> Result<(Toolbox, Workload, String)> {
    at.target.connect()?;
    let tools = Toolbox::find(repo, &[Tool::Kubectl], &Planned::default())?;
    let manifests = live_manifests(repo, &tools, at, release)?;
    let workloads = objects::workloads(&manifests)?;
    let picked = objects::pick(&workloads, name, &release.name)?.clone();
    Ok((tools, picked, manifests))
}

/// `kubectl logs` of the workload's pods (by its selector).
pub fn logs(
    repo: &Repo,
    at: &AppAt,
    release: &Release,
    workload_name: Option<&str>,
    follow: bool,
) -> Result<Cmd> {
    let (tools, workload, _) = workload(repo, at, release, workload_name)?;
    let mut cmd = tools
        .kubectl(&at.target.kube)
        .args(["logs", "--namespace", &release.namespace]);
    cmd = match workload.selector.is_empty() {
        true => cmd.arg(workload.reference()),
        false => cmd.arg(format!("--selector={}", workload.selector)),
    };
    cmd = cmd.args(["--all-containers", "--prefix", "--tail=200"]);
    if follow {
        cmd = cmd.arg("--follow");
    }
    Ok(cmd)
}

/// A shell (bash, else sh) in a ready pod of the workload.
pub fn terminal(
    repo: &Repo,
    at: &AppAt,
    release: &Release,
    workload_name: Option<&str>,
) -> Result<Cmd> {
    let (tools, workload, _) = workload(repo, at, release, workload_name)?;
    let pods = tools.kubectl(&at.target.kube).args([
        "get",
        "pods",
        "--namespace",
        &release.namespace,
        &format!("--selector={}", workload.selector),
        "--field-selector=status.phase=Running",
        "--output",
        "jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].ready}{\"\\n\"}{end}",
    ]);
    let listing = pods.read()?;
    let pod = listing
        .lines()
        .find_map(|l| l.strip_suffix(" true"))
        .with_context(|| {
            format!(
                "no ready pod of {} ({}) in namespace {}",
                release.id(),
                workload.reference(),
                release.namespace
            )
        })?;
    let shell = "command -v bash >/dev/null 2>&1 && exec bash || exec sh";
    Ok(tools.kubectl(&at.target.kube).args([
        "exec",
        "-it",
        pod,
        "--namespace",
        &release.namespace,
        "--",
        "sh",
        "-c",
        shell,
    ]))
}

/// `kubectl port-forward` to the Service of the workload (else the
/// workload itself); PORT is LOCAL or LOCAL:REMOTE (default remote: the
/// Service's port named `http`, else its first).
pub fn port_forward(
    repo: &Repo,
    at: &AppAt,
    release: &Release,
    workload_name: Option<&str>,
    port: &str,
) -> Result<Cmd> {
    let (tools, workload, manifests) = workload(repo, at, release, workload_name)?;
    let services = objects::services(&manifests)?;
    let service = workload.service(&services);
    let ports = match (port.contains(':'), service) {
        (true, _) => port.to_owned(),
        (false, Some(service)) => {
            let named_http = service
                .ports
                .iter()
                .any(|(name, _)| name.as_deref() == Some("http"));
            let remote = match (named_http, service.ports.first()) {
                (false, Some((_, first))) => first.to_string(),
                _ => "http".to_owned(),
            };
            format!("{port}:{remote}")
        }
        (false, None) => format!("{port}:http"),
    };
    let target = match service {
        Some(service) => format!("service/{}", service.name),
        None => workload.reference(),
    };
    Ok(tools.kubectl(&at.target.kube).args([
        "port-forward",
        &target,
        &ports,
        "--namespace",
        &release.namespace,
    ]))
}

/// A container of a release's pods as it runs.
#[derive(Debug, Clone)]
pub struct Running {
    pub pod: String,
    pub ready: bool,
    /// The reference the pod asked for (`localhost:5001/web:3f2a...`).
    pub image: String,
    /// What runs: `<repository>@sha256:...` (the runtime's resolution).
    pub image_id: String,
}

/// Every container of the pods of every workload of the release.
pub fn running(repo: &Repo, at: &AppAt, release: &Release) -> Result<Vec<Running>> {
    at.target.connect()?;
    let tools = Toolbox::find(repo, &[Tool::Kubectl], &Planned::default())?;
    let manifests = live_manifests(repo, &tools, at, release)?;
    let mut out = Vec::new();
    for workload in objects::workloads(&manifests)? {
        let listing = tools
            .kubectl(&at.target.kube)
            .args(["get", "pods", "--namespace", &release.namespace])
            .arg(format!("--selector={}", workload.selector))
            .args(["--output", "json"])
            .no_stdin()
            .read()?;
        let pods: serde_json::Value = serde_json::from_str(&listing)
            .with_context(|| format!("kubectl listed the pods of {} as no JSON", release.id()))?;
        for pod in pods["items"].as_array().into_iter().flatten() {
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            for status in pod["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
            {
                out.push(Running {
                    pod: name.to_owned(),
                    ready: status["ready"].as_bool().unwrap_or(false),
                    image: status["image"].as_str().unwrap_or_default().to_owned(),
                    image_id: status["imageID"].as_str().unwrap_or_default().to_owned(),
                });
            }
        }
    }
    Ok(out)
}

/// What `app intercept` hands telepresence: the workload's name and its
/// Service's port (by name when it has one, and its number), read off the
/// release's live manifests.
pub fn intercepted(
    repo: &Repo,
    at: &AppAt,
    release: &Release,
    workload_name: Option<&str>,
) -> Result<(String, Option<(String, u64)>)> {
    let (_, workload, manifests) = workload(repo, at, release, workload_name)?;
    let services = objects::services(&manifests)?;
    let port = workload.service(&services).and_then(|service| {
        let named_http = service
            .ports
            .iter()
            .find(|(name, _)| name.as_deref() == Some("http"));
        named_http
            .or(service.ports.first())
            .map(|(name, number)| (name.clone().unwrap_or_else(|| number.to_string()), *number))
    });
    Ok((workload.name, port))
}
