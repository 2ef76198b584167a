//! The kind provider's operations: a local kind cluster `<cluster>-<stage>`
//! per cluster and kind stage, with its own host ports, the shared local
//! registry and the hosts file for the apps' names.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use stagecraft_core::cluster::Kind;
use stagecraft_core::process::Cmd;

use super::context::{Cx, Operation, check_docker_first, namespaces};
use super::provider::Operations;
use super::status::Status;
use super::target::Target;
use super::{gateway, hosts, identity};
use crate::tools::toolbox::Tool;

impl Operations for Kind {
    fn bootstrap(&self, cx: &Cx) -> Result<()> {
        bootstrap(cx)
    }

    fn status(&self, cx: &Cx) -> Result<Status> {
        status(cx)
    }

    fn delete(&self, cx: &Cx) -> Result<()> {
        delete(cx)
    }

    /// The registry bootstrap runs beside the cluster, unless the stage
    /// names another one in `REGISTRY` (one its nodes can pull from).
    fn registry(&self, _target: &Target, registry_var: Option<&str>) -> Result<String> {
        Ok(match registry_var.map(|r| r.trim_end_matches('/')) {
            Some(registry) if !registry.is_empty() => registry.to_owned(),
            _ => format!("localhost:{}", REGISTRY_PORT),
        })
    }

    fn tools(&self, operation: Operation) -> &'static [Tool] {
        match operation {
            Operation::Bootstrap => &[Tool::Docker, Tool::Kind, Tool::Kubectl, Tool::Helm],
            Operation::Status => &[Tool::Docker, Tool::Kind, Tool::Kubectl],
            Operation::Delete => &[Tool::Kind],
        }
    }
}

const REGISTRY_NAME: &str = "kind-registry";
pub const REGISTRY_PORT: u16 = 5001;
const REGISTRY_IMAGE: &str = "registry:2";

fn bootstrap(cx: &Cx) -> Result<()> {
    let target = cx.target;
    let ports = target.checked_ports(cx.repo)?;
    check_docker_first(cx, "kind, kubectl and helm")?;
    // Verified before the first change: a bad download changes nothing.
    let addons = gateway::Addons::fetch(cx)?;

    // The cluster: created, kept, or recreated when an earlier create broke.
    let listed = cx.runner.ask(&cx.tools.kind().args(["get", "clusters"]))?;
    let exists = listed.lines().any(|l| l.trim() == target.name());
    let create = if exists {
        if !target.source().is_file() {
            cx.runner.run(&export_kubeconfig(cx))?;
        }
        if !cx.runner.dry_run {
            target.refresh_view()?;
        }
        let healthy = cx
            .runner
            .probe(&cx.kubectl().args(["get", "--raw", "/readyz"]))
            .is_some();
        if healthy {
            // Ours, not one recreated behind our back.
            identity::verify(cx.repo, target, cx.tools, cx.runner)?;
            cx.say(&format!(
                "✔ cluster {}: already exists and answers",
                target.name()
            ));
            false
        } else {
            cx.say(&format!(
                "! cluster {}: exists but does not answer; recreating it",
                target.name()
            ));
            cx.runner.run(&delete_cmd(cx))?;
            true
        }
    } else {
        true
    };
    if create {
        let config = render_kind_config(cx, ports)?;
        if !cx.runner.dry_run && !stagecraft_core::ui::quiet() {
            stagecraft_core::outln!(
                "… creating kind cluster {} (a minute or two)",
                target.name()
            );
        }
        let create = cx
            .tools
            .kind()
            .args(["create", "cluster", "--name", &target.name(), "--config"])
            .arg(&config)
            .arg("--kubeconfig")
            .arg(target.source())
            .args(["--wait", "120s"]);
        cx.runner
            .run(&create)
            .with_context(|| format!("cannot create the kind cluster {}", target.name()))?;
        if !cx.runner.dry_run {
            target.refresh_view()?;
        }
        identity::record_created(cx.repo, target, cx.tools, cx.runner)?;
        cx.say(&format!("+ cluster {}: created", target.name()));
    }

    registry(cx)?;
    gateway::install(cx, &addons, ports)?;
    namespaces(cx)
}

fn export_kubeconfig(cx: &Cx) -> Cmd {
    cx.tools
        .kind()
        .args([
            "export",
            "kubeconfig",
            "--name",
            &cx.target.name(),
            "--kubeconfig",
        ])
        .arg(cx.target.source())
}

fn delete_cmd(cx: &Cx) -> Cmd {
    cx.tools
        .kind()
        .args([
            "delete",
            "cluster",
            "--name",
            &cx.target.name(),
            "--kubeconfig",
        ])
        .arg(cx.target.source())
}

/// `clusters/<c>/kind.yaml` with this stage's ports, written beside the
/// kubeconfig: `deps/kube/<cluster>-<stage>.kind.yaml`.
fn render_kind_config(cx: &Cx, (http, https): (u16, u16)) -> Result<PathBuf> {
    let target = cx.target;
    let rel = format!("clusters/{}/kind.yaml", target.cluster);
    let template = fs::read_to_string(cx.repo.root.join(&rel))
        .with_context(|| format!("cannot read {rel}\n  hint: every cluster with kind stages needs a kind.yaml (see docs/clusters.md)"))?;
    for placeholder in ["{http_port}", "{https_port}"] {
        if !template.contains(placeholder) {
            bail!(
                "{rel} does not use {placeholder}\n  hint: map the gateway's ports as `containerPort: {placeholder}` and `hostPort: {placeholder}` so that each kind stage gets its own host ports"
            );
        }
    }
    let text = template
        .replace("{name}", &target.name())
        .replace("{http_port}", &http.to_string())
        .replace("{https_port}", &https.to_string());
    let out = target.source().with_extension("kind.yaml");
    if cx.runner.dry_run {
        stagecraft_core::outln!(
            "# write {} from {rel} (ports {http}, {https})",
            out.display()
        );
    } else {
        let dir = out.parent().expect("under deps/kube");
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        stagecraft_core::fsx::write_atomic(&out, text.as_bytes(), 0o644)?;
    }
    Ok(out)
}

/// The registry at 127.0.0.1:5001, as kind's local-registry guide sets it up.
fn registry(cx: &Cx) -> Result<()> {
    let docker = || cx.tools.docker();
    let mut changed = false;
    let running =
        cx.runner
            .probe(&docker().args(["inspect", "-f", "{{.State.Running}}", REGISTRY_NAME]));
    match running.as_deref().map(str::trim) {
        Some("true") => {}
        Some(_) => {
            cx.runner.run(&docker().args(["start", REGISTRY_NAME]))?;
            changed = true;
        }
        None => {
            let port = format!("127.0.0.1:{REGISTRY_PORT}:5000");
            cx.runner.run(&docker().args([
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
    let network = cx.runner.probe(&docker().args([
        "inspect",
        "-f",
        "{{json .NetworkSettings.Networks.kind}}",
        REGISTRY_NAME,
    ]));
    if network.as_deref().is_none_or(|n| n.trim() == "null") {
        cx.runner
            .run(&docker().args(["network", "connect", "kind", REGISTRY_NAME]))?;
        changed = true;
    }
    let name = cx.target.name();
    let nodes = cx
        .runner
        .ask(&cx.tools.kind().args(["get", "nodes", "--name", &name]))?;
    let mut nodes: Vec<String> = nodes
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    if cx.runner.dry_run {
        // A new cluster from kind.yaml has its control plane.
        nodes = vec![format!("{name}-control-plane")];
    }
    let dir = format!("/etc/containerd/certs.d/localhost:{REGISTRY_PORT}");
    let hosts_toml = format!("[host.\"http://{REGISTRY_NAME}:5000\"]\n");
    for node in &nodes {
        let current =
            cx.runner
                .probe(&docker().args(["exec", node, "cat", &format!("{dir}/hosts.toml")]));
        if current.as_deref() != Some(hosts_toml.as_str()) {
            cx.runner
                .run(&docker().args(["exec", node, "mkdir", "-p", &dir]))?;
            cx.runner.run(
                &docker()
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
    let documented = cx.runner.probe(&cx.kubectl().args([
        "get",
        "configmap",
        "local-registry-hosting",
        "--namespace",
        "kube-public",
        "--output",
        "name",
    ]));
    if documented.is_none() {
        cx.runner.run(
            &cx.kubectl()
                .args(["apply", "-f", "-"])
                .stdin_bytes(registry_configmap()),
        )?;
        changed = true;
    }
    cx.say(&if changed {
        format!("+ registry localhost:{REGISTRY_PORT}: started and wired into {name}")
    } else {
        format!("✔ registry localhost:{REGISTRY_PORT}: already running and wired in")
    });
    Ok(())
}

/// KEP-1755: tells tools where the cluster's local registry is.
fn registry_configmap() -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local-registry-hosting\n  namespace: kube-public\ndata:\n  localRegistryHosting.v1: |\n    host: \"localhost:{REGISTRY_PORT}\"\n    help: \"https://kind.sigs.k8s.io/docs/user/local-registry/\"\n"
    )
}

fn status(cx: &Cx) -> Result<Status> {
    let target = cx.target;
    let listed = cx
        .runner
        .probe(&cx.tools.kind().args(["get", "clusters"]))
        .unwrap_or_default();
    let exists = listed.lines().any(|l| l.trim() == target.name());
    let mut nodes_ready = None;
    let mut gateway = None;
    if exists && target.connect().is_ok() {
        nodes_ready = super::context::nodes_ready(cx);
        gateway = gateway::status(cx);
    }
    let registry_up = cx
        .runner
        .probe(
            &cx.tools
                .docker()
                .args(["inspect", "-f", "{{.State.Running}}", REGISTRY_NAME]),
        )
        .is_some_and(|s| s.trim() == "true");
    Ok(Status {
        cluster: target.cluster.clone(),
        stage: target.stage.name.clone(),
        target: target.stage.target(),
        exists,
        nodes_ready,
        gateway,
        registry_up: Some(registry_up),
        kubeconfig: target.kubeconfig().display().to_string(),
        source: target.source().display().to_string(),
        context: target.context.clone(),
        identity: None,
    })
}

fn delete(cx: &Cx) -> Result<()> {
    let target = cx.target;
    let listed = cx.runner.ask(&cx.tools.kind().args(["get", "clusters"]))?;
    if cx.runner.dry_run || listed.lines().any(|l| l.trim() == target.name()) {
        cx.runner.run(&delete_cmd(cx))?;
        if !cx.runner.dry_run {
            // The source was this cluster's alone (kind empties it); the
            // guard view tells open stage shells the cluster is gone.
            let _ = std::fs::remove_file(target.source());
            target.kube.write_guard()?;
        }
        cx.say(&format!("- cluster {}: deleted", target.name()));
    } else {
        cx.say(&format!("✔ cluster {}: already absent", target.name()));
    }
    let hosts_file = cx
        .hosts_file
        .as_ref()
        .ok_or_else(|| anyhow!("no hosts file given"))?;
    if hosts::remove_block(hosts_file, &target.name(), cx.runner.dry_run)? {
        cx.say(&format!(
            "- hosts: removed the {} block from {}",
            target.name(),
            hosts_file.display()
        ));
    }
    Ok(())
}
