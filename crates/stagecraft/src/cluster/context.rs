//! What a provider's operations work with ([`Cx`]), and the steps they
//! share: the apps' namespaces, a remote cluster that answers, a Docker
//! daemon that answers, ready nodes.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::repo::Repo;

use super::target::Target;
use crate::tools::toolbox::{Tool, Toolbox};

/// The operations of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Bootstrap,
    Status,
    Delete,
}

/// What a provider's operations work with.
pub struct Cx<'a> {
    pub repo: &'a Repo,
    pub target: &'a Target,
    pub tools: &'a Toolbox,
    pub runner: Runner,
    /// `delete` removes the cluster's block from it.
    pub hosts_file: Option<PathBuf>,
    /// Fetch only addons with a committed sha256 (`--locked`, CI).
    pub locked: bool,
}

impl Cx<'_> {
    pub fn kubectl(&self) -> Cmd {
        self.tools.kubectl(&self.target.kube)
    }

    pub fn say(&self, text: &str) {
        self.runner.say(text);
    }
}

/// The apps' namespaces, created when absent.
pub(super) fn namespaces(cx: &Cx) -> Result<()> {
    let mut created = Vec::new();
    let wanted = stagecraft_core::stage::namespaces::app_namespaces(
        cx.repo,
        &cx.target.cluster,
        &cx.target.stage,
    )?;
    for ns in &wanted {
        let exists =
            cx.runner.probe(
                &cx.kubectl()
                    .args(["get", "namespace", ns, "--output", "name"]),
            );
        if exists.is_none() {
            cx.runner
                .run(&cx.kubectl().args(["create", "namespace", ns]))?;
            created.push(ns.clone());
        }
    }
    cx.say(&if created.is_empty() {
        format!("✔ namespaces: already there ({})", wanted.join(", "))
    } else {
        format!("+ namespaces: created {}", created.join(", "))
    });
    Ok(())
}

/// The stage's kubeconfig file exists, holds its context, and the API
/// server answers.
pub(super) fn check_reachable(cx: &Cx) -> Result<()> {
    let target = cx.target;
    let file = target.source().display();
    if !target.source().is_file() {
        bail!(
            "the kubeconfig of stage {} does not exist: {file} (context {})\n  \
             hint: write the cluster's credentials there, e.g. `aws eks update-kubeconfig --name <cluster> --kubeconfig {file} --alias {}`",
            target.stage.name,
            target.context,
            target.context
        );
    }
    let list = cx
        .tools
        .cmd(Tool::Kubectl)
        .args(["config", "get-contexts", "--output", "name", "--kubeconfig"])
        .arg(target.source());
    let contexts = cx.runner.ask(&list)?;
    if !cx.runner.dry_run && !contexts.lines().any(|c| c.trim() == target.context) {
        bail!(
            "context {} is not in {file} (it has: {})\n  hint: fix `context` for stage {} (envs/{}.toml or clusters/{}/cluster.toml), or add the context to the file",
            target.context,
            if contexts.trim().is_empty() {
                "none".to_owned()
            } else {
                contexts.split_whitespace().collect::<Vec<_>>().join(", ")
            },
            target.stage.name,
            target.stage.name,
            target.cluster
        );
    }
    if !cx.runner.dry_run {
        target.refresh_view()?;
    }
    cx.runner
        .ask(&cx.kubectl().args(["version", "--request-timeout=10s"]))
        .map_err(|e| {
            e.context(format!(
                "the API server of {} (context {}) does not answer",
                target.name(),
                target.context
            ))
        })?;
    Ok(())
}

/// `docker info`: is the daemon answering? A read-only question, asked
/// for real in a dry run too, so that the plan says what the real run will
/// find. The error says what that means (`outcome`: "nothing was
/// changed") and how to fix it.
///
/// Asked once per process: `up` asks before its downloads and the
/// bootstrap it runs would ask again seconds later.
pub fn docker_answers(tools: &Toolbox, outcome: &str) -> Result<()> {
    static ANSWER: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let answer = ANSWER.get_or_init(|| {
        tools
            .docker()
            .args(["info", "--format", "{{.ServerVersion}}"])
            .no_stdin()
            .timeout(std::time::Duration::from_secs(30))
            .read()
            .map(drop)
            .map_err(|e| format!("{e:#}"))
    });
    answer.clone().map_err(|e| {
        anyhow!(
            "the Docker daemon is not answering, {outcome}\n  {e}\n  hint: start Docker (Docker Desktop, or `sudo systemctl start docker`) and run the command again; `cargo xtask doctor` checks it"
        )
    })
}

/// Docker answering, checked before anything else, with the line that
/// says so. A real run stops when it does not; a dry run marks the step
/// that would stop (✘) and goes on with the plan.
pub(super) fn check_docker_first(cx: &Cx, found: &str) -> Result<()> {
    let info = cx
        .tools
        .docker()
        .args(["info", "--format", "{{.ServerVersion}}"]);
    if !cx.runner.dry_run {
        docker_answers(cx.tools, "nothing was changed")?;
        cx.say(&format!("✔ prerequisites: docker answers; {found} found"));
        return Ok(());
    }
    stagecraft_core::outln!("{}", info.script());
    match docker_answers(cx.tools, "so a real run stops here, before any change") {
        Ok(()) => cx.say(&format!("✔ prerequisites: docker answers; {found} found")),
        Err(e) => {
            for (i, line) in format!("{e:#}").lines().enumerate() {
                cx.say(&if i == 0 {
                    format!("✘ prerequisites: {line}")
                } else {
                    line.trim_start().to_owned()
                });
            }
        }
    }
    Ok(())
}

/// `ready/total` nodes, when the API answers.
pub(super) fn nodes_ready(cx: &Cx) -> Option<String> {
    let conditions = cx.runner.probe(&cx.kubectl().args([
        "get",
        "nodes",
        "--output",
        "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
    ]))?;
    let total = conditions.lines().filter(|l| !l.trim().is_empty()).count();
    let ready = conditions.lines().filter(|l| l.trim() == "True").count();
    Some(format!("{ready}/{total}"))
}
