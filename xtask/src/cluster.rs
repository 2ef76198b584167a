//! Clusters: a kind cluster per cluster and kind stage, existing clusters for
//! remote stages, and the steps that make either ready. Every kubectl and
//! kind call names the kubeconfig file (and kubectl the context): the
//! user's current context is never relied on.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::config::{ClusterToml, Loaded, Target as TargetKind};
use crate::environment::{self, Entry};
use crate::process::{Cmd, Runner};
use crate::repo::{Repo, Scope, Stage};
use crate::tools;

pub const REGISTRY_NAME: &str = "kind-registry";
pub const REGISTRY_PORT: u16 = 5001;
const REGISTRY_IMAGE: &str = "registry:2";
pub const INGRESS_MANIFEST: &str = "comm/ingress/ingress-nginx.yaml";
const INGRESS_NAMESPACE: &str = "ingress-nginx";
const INGRESS_DEPLOYMENT: &str = "deployment/ingress-nginx-controller";
const MANIFEST_ANNOTATION: &str = "stagecraft.dev/manifest-sha256";

/// One cluster in one stage: what every command here acts on.
pub struct Target {
    pub cluster: String,
    pub stage: Stage,
    /// `<cluster>-<stage>`: the kind cluster's name.
    pub name: String,
    pub kubeconfig: PathBuf,
    pub context: String,
    pub file: Loaded<ClusterToml>,
}

impl Target {
    pub fn resolve(repo: &Repo, cluster: &str, stage: Stage) -> Result<Target> {
        let scope = Scope {
            cluster: Some(cluster.to_owned()),
            app: None,
        };
        // Only KUBECONFIG and the context are needed: no secret is resolved.
        let env = environment::resolve_public(repo, &stage, &scope)?;
        let get = |name: &str| {
            env.entries
                .iter()
                .find(|e| e.name == name)
                .map(|e| e.value.clone())
        };
        let kubeconfig = PathBuf::from(get("KUBECONFIG").expect("KUBECONFIG is a built-in"));
        let context = get("XTASK_KUBE_CONTEXT").with_context(|| {
            format!(
                "stage {} is remote but names no context for cluster {cluster}\n  hint: set `context = \"...\"` in envs/{}.toml, or under [stages.{}] in clusters/{cluster}/cluster.toml",
                stage.name, stage.name, stage.name
            )
        })?;
        Ok(Target {
            cluster: cluster.to_owned(),
            name: format!("{cluster}-{}", stage.name),
            kubeconfig,
            context,
            file: repo.cluster(cluster)?,
            stage,
        })
    }

    /// Commands that talk to the cluster need its kubeconfig file: say how
    /// to get it rather than let kubectl or helm fail on a missing file.
    pub fn require_kubeconfig(&self) -> Result<()> {
        if self.kubeconfig.is_file() {
            return Ok(());
        }
        let file = self.kubeconfig.display();
        if self.is_kind() {
            bail!(
                "{file} does not exist: the kind cluster {} is not bootstrapped\n  hint: run `cargo xtask cluster bootstrap {} --stage {}` (or `cargo xtask up`)",
                self.name,
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

    pub fn is_kind(&self) -> bool {
        self.stage.target() == TargetKind::Kind
    }

    fn stage_table(&self) -> Option<&crate::config::ClusterStage> {
        environment::for_stage(&self.file.value.stages, &self.stage.name)
    }

    /// The ingress host ports of this kind stage.
    pub fn ports(&self) -> Result<(u16, u16)> {
        let table = self.stage_table();
        match (
            table.and_then(|t| t.http_port),
            table.and_then(|t| t.https_port),
        ) {
            (Some(http), Some(https)) => Ok((http, https)),
            _ => Err(anyhow!(
                "clusters/{}/cluster.toml: kind stage {} has no ingress host ports\n  \
                 hint: add\n    [stages.{}]\n    http_port = 8080\n    https_port = 8443\n  \
                 with ports no other kind stage of any cluster uses",
                self.cluster,
                self.stage.name,
                self.stage.name
            )),
        }
    }
}

/// The programs a cluster command runs, found once (deps/bin first).
pub struct Tools {
    /// Only kind stages need docker and kind.
    docker: Option<PathBuf>,
    kind: Option<PathBuf>,
    kubectl: PathBuf,
}

impl Tools {
    /// kubectl with the target's kubeconfig and context, always explicit.
    pub fn kubectl(&self, target: &Target) -> Cmd {
        Cmd::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&target.kubeconfig)
            .arg("--context")
            .arg(&target.context)
            .env("KUBECONFIG", &target.kubeconfig)
    }

    pub fn kind(&self) -> Cmd {
        Cmd::new(self.kind.as_ref().expect("kind stages resolve kind"))
    }

    pub fn docker(&self) -> Cmd {
        Cmd::new(self.docker.as_ref().expect("kind stages resolve docker"))
    }
}

/// docker, kind and kubectl (and helm, for deploys), or an error that says
/// how to get each missing one; nothing has run yet.
pub fn prerequisites(repo: &Repo, kind: bool, dry_run: bool) -> Result<Tools> {
    let mut missing = Vec::new();
    let mut find = |name: &str| match tools::resolve_planned(repo, name, dry_run) {
        Ok(path) => Some(path),
        Err(e) => {
            missing.push(match name {
                "docker" => "docker is not installed\n  hint: install Docker (https://docs.docker.com/engine/install/) and start it".to_owned(),
                _ => e.to_string(),
            });
            None
        }
    };
    let docker = if kind { find("docker") } else { None };
    let kind_bin = if kind { find("kind") } else { None };
    let kubectl = find("kubectl");
    find("helm");
    match kubectl {
        Some(kubectl) if missing.is_empty() => Ok(Tools {
            docker,
            kind: kind_bin,
            kubectl,
        }),
        _ => bail!(
            "missing prerequisites, nothing was changed:\n{}",
            missing.join("\n")
        ),
    }
}

/// `docker info`: is the daemon answering?
fn check_docker(runner: &Runner, tools: &Tools) -> Result<()> {
    let info = tools
        .docker()
        .args(["info", "--format", "{{.ServerVersion}}"]);
    runner.ask(&info).map(drop).map_err(|e| {
        anyhow!(
            "the Docker daemon is not answering, nothing was changed\n  {e:#}\n  hint: start Docker (Docker Desktop, or `sudo systemctl start docker`) and run the command again"
        )
    })
}

/// Prints a step's outcome.
fn say(runner: &Runner, text: &str) {
    if runner.dry_run {
        println!("# {text}");
    } else if !crate::ui::quiet() {
        println!("{text}");
    }
}

/// The idempotent bootstrap of a kind stage's cluster.
pub fn bootstrap_kind(repo: &Repo, target: &Target, runner: &Runner) -> Result<()> {
    let ports = target.ports()?;
    let tools = prerequisites(repo, true, runner.dry_run)?;
    check_docker(runner, &tools)?;
    say(
        runner,
        "✔ prerequisites: docker answers; kind, kubectl and helm found",
    );

    // The cluster: created, kept, or recreated when an earlier create broke.
    let listed = runner.ask(&tools.kind().args(["get", "clusters"]))?;
    let exists = listed.lines().any(|l| l.trim() == target.name);
    let create = if exists {
        if !target.kubeconfig.is_file() {
            runner.run(&export_kubeconfig(&tools, target))?;
        }
        let healthy = runner
            .probe(&tools.kubectl(target).args(["get", "--raw", "/readyz"]))
            .is_some();
        if healthy {
            say(
                runner,
                &format!("✔ cluster {}: already exists and answers", target.name),
            );
            false
        } else {
            say(
                runner,
                &format!(
                    "! cluster {}: exists but does not answer; recreating it",
                    target.name
                ),
            );
            runner.run(&delete_cmd(&tools, target))?;
            true
        }
    } else {
        true
    };
    if create {
        let config = render_kind_config(repo, target, ports, runner.dry_run)?;
        if !runner.dry_run {
            println!("… creating kind cluster {} (a minute or two)", target.name);
        }
        let create = tools
            .kind()
            .args(["create", "cluster", "--name", &target.name, "--config"])
            .arg(&config)
            .arg("--kubeconfig")
            .arg(&target.kubeconfig)
            .args(["--wait", "120s"]);
        runner
            .run(&create)
            .with_context(|| format!("cannot create the kind cluster {}", target.name))?;
        say(runner, &format!("+ cluster {}: created", target.name));
    }

    registry(target, &tools, runner)?;
    ingress(repo, target, &tools, runner)?;
    namespaces(repo, target, &tools, runner)
}

fn export_kubeconfig(tools: &Tools, target: &Target) -> Cmd {
    tools
        .kind()
        .args([
            "export",
            "kubeconfig",
            "--name",
            &target.name,
            "--kubeconfig",
        ])
        .arg(&target.kubeconfig)
}

fn delete_cmd(tools: &Tools, target: &Target) -> Cmd {
    tools
        .kind()
        .args(["delete", "cluster", "--name", &target.name, "--kubeconfig"])
        .arg(&target.kubeconfig)
}

/// `clusters/<c>/kind.yaml` with this stage's ports, written beside the
/// kubeconfig: `deps/kube/<cluster>-<stage>.kind.yaml`.
fn render_kind_config(
    repo: &Repo,
    target: &Target,
    (http, https): (u16, u16),
    dry_run: bool,
) -> Result<PathBuf> {
    let rel = format!("clusters/{}/kind.yaml", target.cluster);
    let template = fs::read_to_string(repo.root.join(&rel))
        .with_context(|| format!("cannot read {rel}\n  hint: every cluster with kind stages needs a kind.yaml (see docs/clusters.md)"))?;
    for placeholder in ["{http_port}", "{https_port}"] {
        if !template.contains(placeholder) {
            bail!(
                "{rel} does not use {placeholder}\n  hint: map the ingress ports to `hostPort: {placeholder}` so that each kind stage gets its own host ports"
            );
        }
    }
    let text = template
        .replace("{name}", &target.name)
        .replace("{http_port}", &http.to_string())
        .replace("{https_port}", &https.to_string());
    let out = target.kubeconfig.with_extension("kind.yaml");
    if dry_run {
        println!(
            "# write {} from {rel} (ports {http}, {https})",
            out.display()
        );
    } else {
        fs::create_dir_all(out.parent().expect("under deps/kube"))?;
        tools::write_atomic(&out, text.as_bytes())?;
    }
    Ok(out)
}

/// The registry at 127.0.0.1:5001, as kind's local-registry guide sets it up.
fn registry(target: &Target, tools: &Tools, runner: &Runner) -> Result<()> {
    let mut changed = false;
    let running =
        runner.probe(
            &tools
                .docker()
                .args(["inspect", "-f", "{{.State.Running}}", REGISTRY_NAME]),
        );
    match running.as_deref().map(str::trim) {
        Some("true") => {}
        Some(_) => {
            runner.run(&tools.docker().args(["start", REGISTRY_NAME]))?;
            changed = true;
        }
        None => {
            let port = format!("127.0.0.1:{REGISTRY_PORT}:5000");
            runner.run(&tools.docker().args([
                "run",
                "-d",
                "--restart=always",
                "-p",
                &port,
                "--network",
                "bridge",
                "--name",
                REGISTRY_NAME,
                REGISTRY_IMAGE,
            ]))?;
            changed = true;
        }
    }
    let network = runner.probe(&tools.docker().args([
        "inspect",
        "-f",
        "{{json .NetworkSettings.Networks.kind}}",
        REGISTRY_NAME,
    ]));
    if network.as_deref().is_none_or(|n| n.trim() == "null") {
        runner.run(
            &tools
                .docker()
                .args(["network", "connect", "kind", REGISTRY_NAME]),
        )?;
        changed = true;
    }
    let nodes = runner.ask(&tools.kind().args(["get", "nodes", "--name", &target.name]))?;
    let mut nodes: Vec<String> = nodes
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    if runner.dry_run {
        // A new cluster from kind.yaml has its control plane.
        nodes = vec![format!("{}-control-plane", target.name)];
    }
    let dir = format!("/etc/containerd/certs.d/localhost:{REGISTRY_PORT}");
    let hosts_toml = format!("[host.\"http://{REGISTRY_NAME}:5000\"]\n");
    for node in &nodes {
        let current =
            runner.probe(
                &tools
                    .docker()
                    .args(["exec", node, "cat", &format!("{dir}/hosts.toml")]),
            );
        if current.as_deref() != Some(hosts_toml.as_str()) {
            runner.run(&tools.docker().args(["exec", node, "mkdir", "-p", &dir]))?;
            runner.run(
                &tools
                    .docker()
                    .args([
                        "exec",
                        "-i",
                        node,
                        "cp",
                        "/dev/stdin",
                        &format!("{dir}/hosts.toml"),
                    ])
                    .stdin_bytes(hosts_toml.clone()),
            )?;
            changed = true;
        }
    }
    let documented = runner.probe(&tools.kubectl(target).args([
        "get",
        "configmap",
        "local-registry-hosting",
        "--namespace",
        "kube-public",
        "--output",
        "name",
    ]));
    if documented.is_none() {
        runner.run(
            &tools
                .kubectl(target)
                .args(["apply", "-f", "-"])
                .stdin_bytes(registry_configmap()),
        )?;
        changed = true;
    }
    say(
        runner,
        &if changed {
            format!(
                "+ registry localhost:{REGISTRY_PORT}: started and wired into {}",
                target.name
            )
        } else {
            format!("✔ registry localhost:{REGISTRY_PORT}: already running and wired in")
        },
    );
    Ok(())
}

/// KEP-1755: tells tools where the cluster's local registry is.
fn registry_configmap() -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local-registry-hosting\n  namespace: kube-public\ndata:\n  localRegistryHosting.v1: |\n    host: \"localhost:{REGISTRY_PORT}\"\n    help: \"https://kind.sigs.k8s.io/docs/user/local-registry/\"\n"
    )
}

/// The vendored ingress controller, applied when its pinned manifest is not
/// the one in the cluster, then waited for.
fn ingress(repo: &Repo, target: &Target, tools: &Tools, runner: &Runner) -> Result<()> {
    let manifest = repo.root.join(INGRESS_MANIFEST);
    let bytes = fs::read(&manifest).with_context(|| format!("cannot read {INGRESS_MANIFEST}"))?;
    let sha = crate::download::sha256_hex(&bytes);
    let jsonpath = format!(
        "jsonpath={{.metadata.annotations.{}}}",
        MANIFEST_ANNOTATION.replace('.', "\\.")
    );
    let applied = runner.probe(&tools.kubectl(target).args([
        "get",
        "namespace",
        INGRESS_NAMESPACE,
        "--output",
        &jsonpath,
    ]));
    let fresh = applied.as_deref().map(str::trim) != Some(sha.as_str());
    if fresh {
        runner.run(&tools.kubectl(target).args(["apply", "-f"]).arg(&manifest))?;
        runner.run(&tools.kubectl(target).args([
            "annotate",
            "namespace",
            INGRESS_NAMESPACE,
            &format!("{MANIFEST_ANNOTATION}={sha}"),
            "--overwrite",
        ]))?;
    }
    runner
        .ask(&tools.kubectl(target).args([
            "rollout",
            "status",
            INGRESS_DEPLOYMENT,
            "--namespace",
            INGRESS_NAMESPACE,
            "--timeout=180s",
        ]))
        .context("the ingress controller did not become ready")?;
    say(
        runner,
        &if fresh {
            format!("+ ingress: {INGRESS_MANIFEST} applied and ready")
        } else {
            "✔ ingress: already applied and ready".to_owned()
        },
    );
    Ok(())
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

fn namespaces(repo: &Repo, target: &Target, tools: &Tools, runner: &Runner) -> Result<()> {
    let mut created = Vec::new();
    let wanted = app_namespaces(repo, &target.cluster)?;
    for ns in &wanted {
        let exists =
            runner.probe(
                &tools
                    .kubectl(target)
                    .args(["get", "namespace", ns, "--output", "name"]),
            );
        if exists.is_none() {
            runner.run(&tools.kubectl(target).args(["create", "namespace", ns]))?;
            created.push(ns.clone());
        }
    }
    say(
        runner,
        &if created.is_empty() {
            format!("✔ namespaces: already there ({})", wanted.join(", "))
        } else {
            format!("+ namespaces: created {}", created.join(", "))
        },
    );
    Ok(())
}

/// A remote stage: never creates a cluster; checks that the kubeconfig
/// file and context exist and the API server answers, then namespaces.
pub fn bootstrap_remote(repo: &Repo, target: &Target, runner: &Runner) -> Result<()> {
    let tools = prerequisites(repo, false, runner.dry_run)?;
    check_remote(target, &tools, runner)?;
    say(
        runner,
        &format!(
            "✔ cluster {}: the API server answers (context {})",
            target.name, target.context
        ),
    );
    namespaces(repo, target, &tools, runner)
}

fn check_remote(target: &Target, tools: &Tools, runner: &Runner) -> Result<()> {
    let file = target.kubeconfig.display();
    if !target.kubeconfig.is_file() {
        bail!(
            "the kubeconfig of stage {} does not exist: {file} (context {})\n  \
             hint: write the cluster's credentials there, e.g. `aws eks update-kubeconfig --name <cluster> --kubeconfig {file} --alias {}`",
            target.stage.name,
            target.context,
            target.context
        );
    }
    let contexts = runner.ask(
        &Cmd::new(&tools.kubectl)
            .args(["config", "get-contexts", "--output", "name", "--kubeconfig"])
            .arg(&target.kubeconfig),
    )?;
    if !runner.dry_run && !contexts.lines().any(|c| c.trim() == target.context) {
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
    runner
        .ask(
            &tools
                .kubectl(target)
                .args(["version", "--request-timeout=10s"]),
        )
        .with_context(|| {
            format!(
                "the API server of {} (context {}) does not answer",
                target.name, target.context
            )
        })?;
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub cluster: String,
    pub stage: String,
    pub target: TargetKind,
    pub exists: bool,
    pub nodes_ready: Option<String>,
    pub ingress_ready: bool,
    /// None for remote stages, which have no local registry.
    pub registry_up: Option<bool>,
    pub kubeconfig: String,
    pub context: String,
}

pub fn status(repo: &Repo, target: &Target) -> Result<Status> {
    let runner = Runner { dry_run: false };
    let tools = prerequisites(repo, target.is_kind(), false)?;
    let exists = if target.is_kind() {
        let listed = runner
            .probe(&tools.kind().args(["get", "clusters"]))
            .unwrap_or_default();
        listed.lines().any(|l| l.trim() == target.name)
    } else {
        check_remote(target, &tools, &runner).is_ok()
    };
    let mut nodes_ready = None;
    let mut ingress_ready = false;
    if exists && target.kubeconfig.is_file() {
        let conditions = runner.probe(&tools.kubectl(target).args([
            "get",
            "nodes",
            "--output",
            "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
        ]));
        if let Some(text) = conditions {
            let total = text.lines().filter(|l| !l.trim().is_empty()).count();
            let ready = text.lines().filter(|l| l.trim() == "True").count();
            nodes_ready = Some(format!("{ready}/{total}"));
        }
        let replicas = runner.probe(&tools.kubectl(target).args([
            "get",
            INGRESS_DEPLOYMENT,
            "--namespace",
            INGRESS_NAMESPACE,
            "--output",
            "jsonpath={.status.readyReplicas}",
        ]));
        ingress_ready = replicas.is_some_and(|r| r.trim().parse::<u32>().is_ok_and(|n| n > 0));
    }
    let registry_up = target.is_kind().then(|| {
        runner
            .probe(
                &tools
                    .docker()
                    .args(["inspect", "-f", "{{.State.Running}}", REGISTRY_NAME]),
            )
            .is_some_and(|s| s.trim() == "true")
    });
    Ok(Status {
        cluster: target.cluster.clone(),
        stage: target.stage.name.clone(),
        target: target.stage.target(),
        exists,
        nodes_ready,
        ingress_ready,
        registry_up,
        kubeconfig: target.kubeconfig.display().to_string(),
        context: target.context.clone(),
    })
}

/// Deletes a kind stage's cluster and its hosts block.
pub fn delete(repo: &Repo, target: &Target, runner: &Runner, hosts_file: &Path) -> Result<()> {
    let tools = prerequisites(repo, true, runner.dry_run)?;
    let listed = runner.ask(&tools.kind().args(["get", "clusters"]))?;
    if runner.dry_run || listed.lines().any(|l| l.trim() == target.name) {
        runner.run(&delete_cmd(&tools, target))?;
        say(runner, &format!("- cluster {}: deleted", target.name));
    } else {
        say(
            runner,
            &format!("✔ cluster {}: already absent", target.name),
        );
    }
    if crate::hosts::remove_block(hosts_file, &target.name, runner.dry_run)? {
        let file = hosts_file.display();
        say(
            runner,
            &format!("- hosts: removed the {} block from {file}", target.name),
        );
    }
    Ok(())
}

/// The ingress hostnames of the cluster's apps in this stage, with
/// `${VAR}` filled from each app's environment.
pub fn app_hosts(repo: &Repo, target: &Target) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for app in repo.app_names(&target.cluster)? {
        let file = repo.app(&target.cluster, &app)?;
        if file.value.hosts.is_empty() {
            continue;
        }
        let scope = Scope {
            cluster: Some(target.cluster.clone()),
            app: Some(app.clone()),
        };
        let env = environment::resolve_public(repo, &target.stage, &scope)?;
        for host in &file.value.hosts {
            let name = expand_host(&env.entries, host.get_ref())
                .map_err(|e| file.error_at(&host.span(), format!("hosts: {e}")))?;
            out.push(name);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn expand_host(entries: &[Entry], template: &str) -> std::result::Result<String, String> {
    let host = environment::expand(template, entries)?;
    let valid = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
        });
    if valid {
        Ok(host.to_ascii_lowercase())
    } else {
        Err(format!(
            "`{template}` gives `{host}`, which is not a hostname"
        ))
    }
}
