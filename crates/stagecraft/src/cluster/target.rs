//! One cluster in one stage as every cluster command acts on it: its
//! kubeconfig (the source and the one-context view), its context, its
//! `[stages.<stage>]` table, how it routes the apps' hosts, its ports.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use stagecraft_core::cluster::kube::KubeTarget;
use stagecraft_core::cluster::{Provider, kube_target, provider, stage_table};
use stagecraft_core::config::{ClusterStage, ClusterToml, Loaded, RoutingKind};
use stagecraft_core::repo::{Repo, Stage};

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
        let kube = kube_target(repo, &stage, cluster)?;
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
            table.and_then(|t| t.http_port.as_ref()),
            table.and_then(|t| t.https_port.as_ref()),
        ) {
            (Some(http), Some(https)) => Ok((*http.get_ref(), *https.get_ref())),
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

    /// [`Target::ports`], checked against every kind stage of every
    /// cluster: each host port is one stage's, once (kind maps them all on
    /// 127.0.0.1, side by side). Refused at the line that repeats one.
    pub fn checked_ports(&self, repo: &Repo) -> Result<(u16, u16)> {
        let (http, https) = self.ports()?;
        let table = self.stage_table().expect("ports() found it");
        let at = |key: &str| match key {
            "http_port" => table.http_port.as_ref().expect("set").span(),
            _ => table.https_port.as_ref().expect("set").span(),
        };
        if http == https {
            return Err(self.file.error_at(
                &at("https_port"),
                format!(
                    "[stages.{}] https_port = {https} is its http_port too\n  hint: give the stage two ports of its own",
                    self.stage.name
                ),
            ));
        }
        for cluster in repo.cluster_names()? {
            let file = repo.cluster(&cluster)?;
            for (stage, other) in &file.value.stages {
                let same = cluster == self.cluster && stage.get_ref() == &self.stage.name;
                let kind = repo
                    .stage(stage.get_ref())
                    .is_ok_and(|s| s.target() == stagecraft_core::config::Target::Kind);
                if same || !kind {
                    continue;
                }
                let theirs = [other.http_port.as_ref(), other.https_port.as_ref()];
                for (key, port) in [("http_port", http), ("https_port", https)] {
                    if theirs.iter().flatten().any(|p| *p.get_ref() == port) {
                        return Err(self.file.error_at(
                            &at(key),
                            format!(
                                "[stages.{}] {key} = {port} is also a port of {cluster}-{} ({})\n  hint: give each kind stage ports no other kind stage of any cluster uses",
                                self.stage.name,
                                stage.get_ref(),
                                file.display
                            ),
                        ));
                    }
                }
            }
        }
        Ok((http, https))
    }

    /// The port URLs of this stage use: the stage's http port on a local
    /// cluster, 80 elsewhere.
    pub fn http_port(&self) -> u16 {
        match self.provider.needs_ports() {
            true => self.ports().map(|(http, _)| http).unwrap_or(80),
            false => 80,
        }
    }

    /// The HTTPS port: the stage's https port on a local cluster, 443
    /// elsewhere.
    pub fn https_port(&self) -> u16 {
        match self.provider.needs_ports() {
            true => self.ports().map(|(_, https)| https).unwrap_or(443),
            false => 443,
        }
    }

    /// `https://HOST/`, with the stage's port when it is not 443.
    pub fn url(&self, host: &str) -> String {
        match self.https_port() {
            443 => format!("https://{host}/"),
            port => format!("https://{host}:{port}/"),
        }
    }
}

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
