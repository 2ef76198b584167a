//! The cluster operations: one cluster in one stage as a [`Target`], and
//! the use cases `bootstrap`, `status` and `delete` that ask its provider.
//! Every kubectl and kind call names the kubeconfig file (and kubectl the
//! context): the user's current context is never relied on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use super::{Provider, provider, stage_table};
use crate::config::{ClusterStage, ClusterToml, Loaded, RoutingKind, Target as Kind};
use crate::kube::KubeTarget;
use crate::process::{Cmd, Runner};
use crate::repo::{Repo, Stage};
use crate::toolbox::{Planned, Tool, Toolbox};

/// One cluster in one stage: what every cluster command acts on.
pub struct Target {
    pub cluster: String,
    pub stage: Stage,
    pub kube: KubeTarget,
    /// The context (a remote stage without one is refused here).
    pub context: String,
    pub file: Arc<Loaded<ClusterToml>>,
    pub provider: &'static dyn Provider,
    /// kubectl, to make the stage's one-context kubeconfig view.
    kubectl: Option<PathBuf>,
}

impl Target {
    pub fn new(repo: &Repo, cluster: &str, stage: Stage) -> Result<Target> {
        let kube = super::kube_target(repo, &stage, cluster)?;
        let context = kube.context()?.to_owned();
        Ok(Target {
            cluster: cluster.to_owned(),
            provider: provider(stage.target()),
            file: repo.cluster(cluster)?,
            stage,
            kube,
            context,
            kubectl: repo.tool("kubectl").ok(),
        })
    }

    /// `<cluster>-<stage>`.
    pub fn name(&self) -> String {
        self.kube.name()
    }

    /// The one-context view every tool gets.
    pub fn kubeconfig(&self) -> &Path {
        &self.kube.kubeconfig
    }

    /// Where the credentials come from: kind writes it, users write a
    /// remote stage's.
    pub fn source(&self) -> &Path {
        &self.kube.source
    }

    /// Commands that talk to the cluster need its kubeconfig: say how to
    /// get it rather than let kubectl or helm fail on a missing file. Reads
    /// only: a protected stage is confirmed after this, before any write.
    pub fn require_kubeconfig(&self) -> Result<()> {
        if self.source().is_file() {
            return Ok(());
        }
        let file = self.source().display();
        if self.provider.creates_clusters() {
            bail!(
                "{file} does not exist: the kind cluster {} is not bootstrapped\n  hint: run `cargo xtask cluster bootstrap {} --stage {}` (or `cargo xtask up`)",
                self.name(),
                self.cluster,
                self.stage.name
            );
        }
        bail!(
            "{file} does not exist (context {})\n  hint: write the cluster's credentials there, e.g. `aws eks update-kubeconfig --name <cluster> --kubeconfig {file} --alias {}`",
            self.context,
            self.context
        )
    }

    /// Ready for tools that read the cluster: the kubeconfig is there and
    /// its one-context view current.
    pub fn connect(&self) -> Result<()> {
        self.require_kubeconfig()?;
        self.refresh_view()
    }

    /// The view made again from the source if either changed.
    pub fn refresh_view(&self) -> Result<()> {
        let kubectl = self.kubectl.as_deref().with_context(|| {
            format!(
                "kubectl is not installed, and it makes the kubeconfig of {} from {}\n  hint: run `cargo xtask deps install kubectl`",
                self.name(),
                self.source().display()
            )
        })?;
        self.kube.refresh_view(kubectl).map(drop)
    }

    pub fn stage_table(&self) -> Option<&ClusterStage> {
        stage_table(&self.file.value, &self.stage.name)
    }

    /// How this stage routes the apps' hosts.
    pub fn routing(&self) -> Result<Routing> {
        let table = self.stage_table();
        let kind = table
            .and_then(|t| t.routing.as_ref())
            .map_or(RoutingKind::Gateway, |r| *r.get_ref());
        if kind == RoutingKind::Ingress {
            if self.provider.creates_clusters() {
                let span = table.and_then(|t| t.routing.as_ref()).expect("set").span();
                return Err(self.file.error_at(
                    &span,
                    format!(
                        "[stages.{}] routing = \"ingress\": kind stages route with the Gateway API (bootstrap installs no Ingress controller)\n  hint: remove the line; `ingress` is for remote clusters that run their own Ingress controller",
                        self.stage.name
                    ),
                ));
            }
            return Ok(Routing::Ingress);
        }
        match table.and_then(|t| t.gateway.as_ref()) {
            None => Ok(Routing::Gateway {
                namespace: GATEWAY_NAMESPACE.to_owned(),
                name: self.name(),
            }),
            Some(gateway) => match gateway.get_ref().split_once('/') {
                Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() => {
                    Ok(Routing::Gateway {
                        namespace: namespace.to_owned(),
                        name: name.to_owned(),
                    })
                }
                _ => Err(self.file.error_at(
                    &gateway.span(),
                    format!(
                        "gateway = \"{}\": write the Gateway as `namespace/name`\n  hint: gateway = \"{GATEWAY_NAMESPACE}/{}\"",
                        gateway.get_ref(),
                        self.name()
                    ),
                )),
            },
        }
    }

    /// The host ports of this stage (providers that need them).
    pub fn ports(&self) -> Result<(u16, u16)> {
        let table = self.stage_table();
        match (
            table.and_then(|t| t.http_port),
            table.and_then(|t| t.https_port),
        ) {
            (Some(http), Some(https)) => Ok((http, https)),
            _ => Err(anyhow!(
                "clusters/{}/cluster.toml: kind stage {} has no gateway host ports\n  \
                 hint: add\n    [stages.{}]\n    http_port = 8080\n    https_port = 8443\n  \
                 with ports no other kind stage of any cluster uses",
                self.cluster,
                self.stage.name,
                self.stage.name
            )),
        }
    }

    /// The port URLs of this stage use: the stage's http port on a local
    /// cluster, 80 elsewhere.
    pub fn http_port(&self) -> u16 {
        match self.provider.needs_ports() {
            true => self.ports().map(|(http, _)| http).unwrap_or(80),
            false => 80,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Bootstrap,
    Status,
    Delete,
}

/// What a provider's operations work with.
/// Where the Gateway bootstrap makes for a kind stage lives.
pub const GATEWAY_NAMESPACE: &str = "stagecraft-gateway";

/// How a stage's hosts reach the apps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routing {
    /// An HTTPRoute per release, attached to this Gateway.
    Gateway { namespace: String, name: String },
    /// An Ingress per release (a cluster with its own Ingress controller).
    Ingress,
}

pub struct Cx<'a> {
    pub repo: &'a Repo,
    pub target: &'a Target,
    pub tools: &'a Toolbox,
    pub runner: Runner,
    /// `delete` removes the cluster's block from it.
    pub hosts_file: Option<PathBuf>,
}

impl Cx<'_> {
    pub fn kubectl(&self) -> Cmd {
        self.tools.kubectl(&self.target.kube)
    }

    pub fn say(&self, text: &str) {
        self.runner.say(text);
    }
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub cluster: String,
    pub stage: String,
    pub target: Kind,
    pub exists: bool,
    pub nodes_ready: Option<String>,
    /// The stage's Gateway, when it routes with one and the cluster has it.
    pub gateway: Option<super::gateway::GatewayStatus>,
    /// None for providers without a local registry.
    pub registry_up: Option<bool>,
    /// The one-context kubeconfig tools get, and where it comes from.
    pub kubeconfig: String,
    pub source: String,
    pub context: String,
    /// The cluster on record and the one the kubeconfig reaches.
    pub identity: Option<super::identity::Report>,
}

/// `cluster bootstrap`: the provider's steps, tools found first (a missing
/// one stops everything before any change).
pub fn bootstrap(repo: &Repo, target: &Target, runner: Runner, planned: &Planned) -> Result<()> {
    let tools = Toolbox::find(repo, target.provider.tools(Operation::Bootstrap), planned)?;
    let cx = Cx {
        repo,
        target,
        tools: &tools,
        runner,
        hosts_file: None,
    };
    target.provider.bootstrap(&cx)
}

pub fn status(repo: &Repo, target: &Target) -> Result<Status> {
    let tools = Toolbox::find(
        repo,
        target.provider.tools(Operation::Status),
        &Planned::default(),
    )?;
    let cx = Cx {
        repo,
        target,
        tools: &tools,
        runner: Runner { dry_run: false },
        hosts_file: None,
    };
    let mut status = target.provider.status(&cx)?;
    if status.exists {
        status.identity = Some(super::identity::report(target, &tools));
    }
    Ok(status)
}

/// Deletes a cluster Stagecraft created, and its hosts block. Refuses
/// protected stages and providers that do not create clusters.
pub fn delete(repo: &Repo, target: &Target, runner: Runner, hosts_file: &Path) -> Result<()> {
    if target.stage.protected() {
        bail!(
            "stage {} is protected: Stagecraft never deletes its cluster\n  hint: protected clusters are managed outside Stagecraft",
            target.stage.name
        );
    }
    if !target.provider.creates_clusters() {
        bail!(
            "stage {} is remote: Stagecraft only deletes the kind clusters it creates",
            target.stage.name
        );
    }
    let tools = Toolbox::find(
        repo,
        target.provider.tools(Operation::Delete),
        &Planned::default(),
    )?;
    let cx = Cx {
        repo,
        target,
        tools: &tools,
        runner,
        hosts_file: Some(hosts_file.to_owned()),
    };
    target.provider.delete(&cx)
}

/// The namespaces of the cluster's apps: app.toml `namespace`, else the
/// app's name.
pub fn app_namespaces(repo: &Repo, cluster: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for app in repo.app_names(cluster)? {
        let file = repo.app(cluster, &app)?;
        out.push(file.value.namespace.clone().unwrap_or(app));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The apps' namespaces, created when absent.
pub(super) fn namespaces(cx: &Cx) -> Result<()> {
    let mut created = Vec::new();
    let wanted = app_namespaces(cx.repo, &cx.target.cluster)?;
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

/// `docker info`: is the daemon answering? Checked before anything else.
pub(super) fn check_docker_first(cx: &Cx) -> Result<()> {
    let info = cx
        .tools
        .docker()
        .args(["info", "--format", "{{.ServerVersion}}"]);
    cx.runner.ask(&info).map(drop).map_err(|e| {
        anyhow!(
            "the Docker daemon is not answering, nothing was changed\n  {e:#}\n  hint: start Docker (Docker Desktop, or `sudo systemctl start docker`) and run the command again"
        )
    })
}

/// `ready/total` nodes, when the API answers.
pub(super) fn gateway_status(cx: &Cx) -> Option<super::gateway::GatewayStatus> {
    super::gateway::status(cx)
}

pub(super) fn check_routing(cx: &Cx) -> Result<()> {
    super::gateway::check(cx)
}

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
