//! `init cluster|app`: a new cluster or app laid out the way this
//! repository lays them out. Nothing is ever overwritten, and the files are
//! written into a new folder that is renamed into place.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use stagecraft_core::config::Target;
use stagecraft_core::repo::{Repo, is_dns_label};
use stagecraft_core::{fsx, ui};

pub fn check_name(kind: &str, name: &str) -> Result<()> {
    if !is_dns_label(name) {
        bail!(
            "`{name}` is not a valid {kind} name: use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (DNS-1123)"
        );
    }
    Ok(())
}

/// Writes the files into a new folder beside `dest`, then renames it into
/// place: an interruption leaves no half-made cluster or app.
pub fn create(repo: &Repo, dest: &Path, files: &[(String, String)], dry_run: bool) -> Result<()> {
    let shown = dest
        .strip_prefix(&repo.root)
        .unwrap_or(dest)
        .display()
        .to_string();
    if dest.exists() {
        bail!(
            "{shown} already exists: nothing was changed\n  hint: pick another name, or edit the files there"
        );
    }
    if dry_run {
        for (rel, text) in files {
            stagecraft_core::outln!("# {shown}/{rel}\n{}", text.trim_end());
        }
        return Ok(());
    }
    let parent = dest.parent().expect("under clusters/");
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("new");
    // What a killed `init` of any name left behind goes first.
    fsx::sweep_stale(parent, ".init-");
    // Removed on every error path; renamed into place when complete.
    let tmp = fsx::TempDir::new_in(parent, &format!(".{name}.init-"), 0o755)?;
    for (rel, text) in files {
        let path = tmp.path().join(rel);
        fs::create_dir_all(path.parent().expect("a file in a folder"))?;
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    tmp.persist(dest)
        .with_context(|| format!("cannot create {shown}"))?;
    for (rel, _) in files {
        ui::info(&format!("+ {shown}/{rel}"));
    }
    Ok(())
}

pub const KIND_YAML: &str = r#"# The kind cluster of this cluster, one per kind stage. `cargo xtask cluster
# bootstrap` fills {http_port} and {https_port} from [stages.<stage>] in
# cluster.toml, so every kind stage gets its own host ports.
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
containerdConfigPatches:
  - |-
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d"
nodes:
  - role: control-plane
    # The Gateway API implementation binds the stage's ports on this node;
    # kind maps them to the same ports on 127.0.0.1.
    labels:
      ingress-ready: "true"
    extraPortMappings:
      - containerPort: {http_port}
        hostPort: {http_port}
        listenAddress: "127.0.0.1"
        protocol: TCP
      - containerPort: {https_port}
        hostPort: {https_port}
        listenAddress: "127.0.0.1"
        protocol: TCP
"#;

pub fn cluster_files(repo: &Repo, name: &str) -> Result<Vec<(String, String)>> {
    // Host ports no kind stage of any cluster uses yet.
    let mut used = BTreeSet::new();
    for cluster in repo.cluster_names()? {
        for table in repo.cluster(&cluster)?.value.stages.values() {
            used.extend(table.http_port.as_ref().map(|p| *p.get_ref()));
            used.extend(table.https_port.as_ref().map(|p| *p.get_ref()));
        }
    }
    let mut text = format!(
        "description = \"{name}\"\n\n[vars]\n# Variables of every app of {name}, in every stage.\n"
    );
    let mut next = 0u16;
    for stage in repo.stage_names()? {
        if repo.stage(&stage)?.target() != Target::Kind {
            continue;
        }
        let (http, https) = loop {
            let pair = (8080 + next * 10, 8443 + next * 10);
            next += 1;
            if !used.contains(&pair.0) && !used.contains(&pair.1) {
                break pair;
            }
        };
        text.push_str(&format!(
            "\n[stages.{stage}]\nhttp_port = {http}\nhttps_port = {https}\n"
        ));
    }
    Ok(vec![
        ("cluster.toml".to_owned(), text),
        ("kind.yaml".to_owned(), KIND_YAML.to_owned()),
    ])
}

const DOCKERFILE: &str = r#"# Pinned by digest: every build starts from the same bytes.
FROM nginx:1.29.3-alpine@sha256:b3c656d55d7ad751196f21b7fd2e8d4da9cb430e32f646adcf92441b72f82b14
COPY public/ /usr/share/nginx/html/
RUN printf 'server { listen 8080; location / { root /usr/share/nginx/html; } location /healthz { return 200 "ok"; } }' > /etc/nginx/conf.d/default.conf
EXPOSE 8080
"#;

pub fn app_files(repo: &Repo, name: &str) -> Result<Vec<(String, String)>> {
    if !repo.root.join("comm/charts/service/Chart.yaml").is_file() {
        bail!("the shared chart comm/charts/service is missing: `init app` builds on it");
    }
    let app_toml = format!(
        r#"description = "{name}"
namespace = "{name}"

[[releases]]
name = "{name}"
chart = "comm/charts/service"
image = "{name}"
# Variables of the stage its containers get (secret ones through a Secret).
env = ["LOG_LEVEL"]
# Hostnames routed to it; `cargo xtask cluster add-hosts` for local stages.
hosts = ["{name}.${{DOMAIN}}"]

[[images]]
name = "{name}"
context = "."

[vars]
# Variables of {name} in every stage; per stage under [stages.<stage>.vars].

# Tasks: {name}'s everyday commands, run in a stage's environment.
# `cargo xtask task` in this folder lists them; `{name}:<task>` runs one
# from anywhere (`cargo xtask task {name}:logs --stage test -- --since 1h`).
# [tasks.logs]
# description = "follow the logs of {name} in the stage"
# run = "kubectl logs --namespace {name} deployment/{name} --follow"
# # Where it may run (default: every stage).
# stages = ["local", "test"]
# # Tasks run first, each once: `name`, `app:name`, `cluster:name`.
# depends = []
# # Where its lines run, from this folder (default: this folder).
# dir = "."
# # Ask before it runs (protected stages always ask; --yes confirms).
# confirm = false
# # Extra variables, as [vars]: `${{VAR}}` from the stage environment.
# env = {{ LOG_PREFIX = "{name}-${{XTASK_STAGE}}" }}
"#
    );
    let mut files = vec![
        ("app.toml".to_owned(), app_toml),
        ("Dockerfile".to_owned(), DOCKERFILE.to_owned()),
        // The image's tag is a hash of what docker reads: the app's own
        // settings are not part of it.
        (
            ".dockerignore".to_owned(),
            "# Not what the image is built from: a change here rebuilds nothing.\nvalues/\napp.toml\n.dockerignore\n".to_owned(),
        ),
        ("public/index.html".to_owned(), format!("<!doctype html><title>{name}</title><h1>{name}</h1>\n")),
        (
            format!("values/comm/{name}.yaml"),
            "# Values of every stage; values/<stage>/ override them. `${VAR}` is the\n# app's stage environment.\ncontainerPort: 8080\nprobes:\n  path: /healthz\n"
                .to_owned(),
        ),
    ];
    for stage_name in repo.stage_names()? {
        let stage = repo.stage(&stage_name)?;
        let replicas = if stage.protected() { 2 } else { 1 };
        files.push((
            format!("values/{stage_name}/{name}.yaml"),
            format!("replicaCount: {replicas}\n"),
        ));
    }
    Ok(files)
}
