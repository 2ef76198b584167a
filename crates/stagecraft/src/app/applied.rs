//! Releases Stagecraft applies itself: a kustomization (rendered by the
//! pinned kubectl) or plain manifests, the app's built images rewritten
//! into them. Applied server-side with the stage's kubeconfig and context;
//! an inventory (a ConfigMap `<release>-stagecraft-inventory` in the
//! release's namespace) records what was applied and its digest, so that
//! an unchanged release is left alone, an object removed from the folder is
//! pruned on the next deploy, and delete removes everything it applied.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde_json::json;

use crate::app::model::Release;
use crate::app::objects::{self, Object};
use crate::app::rewrite;
use crate::app::source::Source;
use crate::sha::Sha256;
use crate::tools::toolbox::{Tool, Toolbox};
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::repo::Repo;

const DIGEST_ANNOTATION: &str = "stagecraft.dev/digest";
const REVISION_ANNOTATION: &str = "stagecraft.dev/revision";

/// The ConfigMap that records what a release applied.
pub fn inventory_name(release: &Release) -> String {
    format!("{}-stagecraft-inventory", release.name)
}

/// What a release applied last, as its inventory says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub digest: String,
    pub revision: u64,
    pub objects: Vec<Object>,
    /// What was applied (Secrets without their values), for `app drift`.
    pub applied: Option<String>,
}

/// The command that renders a kustomization (offline); None for manifests.
pub fn render_cmd(tools: &Toolbox, release: &Release) -> Option<Cmd> {
    match &release.source {
        Source::Kustomize { dir } => Some(
            tools
                .cmd(Tool::Kubectl)
                .arg("kustomize")
                .arg(dir)
                .no_stdin(),
        ),
        _ => None,
    }
}

/// The release's manifests, its images rewritten. A dry run prints the
/// kustomize command and renders anyway (it changes nothing).
pub fn render(repo: &Repo, tools: &Toolbox, release: &Release, runner: &Runner) -> Result<String> {
    let stream = match &release.source {
        Source::Kustomize { .. } => {
            let cmd = render_cmd(tools, release).expect("a kustomization");
            if runner.dry_run {
                stagecraft_core::outln!("{}", cmd.script());
            }
            cmd.read()
                .with_context(|| format!("cannot render the kustomization of {}", release.id()))?
        }
        Source::Manifests { files } => {
            let mut out = String::new();
            for file in files {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                let rel = file.strip_prefix(&repo.root).unwrap_or(file);
                out.push_str(&format!("---\n# Source: {}\n", rel.display()));
                out.push_str(&text);
            }
            out
        }
        _ => unreachable!("a Helm release is rendered by helm"),
    };
    Ok(rewrite::rewrite(&stream, &release.images))
}

/// What a deploy of the release depends on: its namespace and manifests.
pub fn digest(release: &Release, rendered: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(release.namespace.as_bytes());
    hash.update([0]);
    hash.update(rendered.as_bytes());
    crate::sha::hex(&hash.finalize())[..16].to_owned()
}

/// The release's inventory, if it was ever deployed.
pub fn inventory(runner: &Runner, kubectl: Cmd, release: &Release) -> Result<Option<Inventory>> {
    let found = crate::tools::toolbox::config_map(
        runner,
        kubectl,
        &release.namespace,
        &inventory_name(release),
    )
    .with_context(|| format!("cannot read the inventory of {}", release.id()))?;
    let Some(map) = found else {
        return Ok(None);
    };
    let annotation = |key: &str| {
        map["metadata"]["annotations"][key]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let objects: Vec<Object> =
        serde_json::from_str(map["data"]["objects"].as_str().unwrap_or("[]"))
            .with_context(|| format!("the inventory of {} lists no objects", release.id()))?;
    Ok(Some(Inventory {
        digest: annotation(DIGEST_ANNOTATION),
        revision: annotation(REVISION_ANNOTATION).parse().unwrap_or(0),
        objects,
        applied: map["data"]["applied"].as_str().and_then(unpack),
    }))
}

/// How a deploy of an applied release went.
pub enum Applied {
    Unchanged,
    /// Deployed, with the objects it pruned.
    Deployed {
        pruned: Vec<Object>,
    },
}

/// Applies the release (namespace first), prunes what its last deploy
/// applied and this one does not, records the new inventory, and waits
/// for its workloads to roll out.
pub fn deploy(
    runner: &Runner,
    tools: &Toolbox,
    kube: &stagecraft_core::cluster::kube::KubeTarget,
    release: &Release,
    rendered: &str,
    force: bool,
) -> Result<Applied> {
    let kubectl = || tools.kubectl(kube).timeout(Duration::from_secs(120));
    let digest = digest(release, rendered);
    let previous = inventory(runner, kubectl(), release)?;
    if !force && previous.as_ref().is_some_and(|p| p.digest == digest) {
        return Ok(Applied::Unchanged);
    }
    let objects = objects::objects(rendered)?;
    let namespace = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": release.namespace } });
    runner.run(&crate::tools::toolbox::server_side_apply(
        kubectl(),
        &namespace,
    ))?;
    runner.run(
        &kubectl()
            .args([
                "apply",
                "--server-side",
                "--field-manager=stagecraft",
                "--force-conflicts",
            ])
            .args(["--namespace", &release.namespace, "--filename=-"])
            .stdin_bytes(rendered.to_owned()),
    )?;
    let in_namespace = |o: &Object| Object {
        namespace: o
            .namespace
            .clone()
            .or_else(|| Some(release.namespace.clone())),
        ..o.clone()
    };
    let current: Vec<Object> = objects.iter().map(in_namespace).collect();
    let pruned: Vec<Object> = previous
        .as_ref()
        .map(|p| {
            p.objects
                .iter()
                .filter(|o| !current.contains(o))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if !pruned.is_empty() {
        runner.run(&delete_cmd(kubectl(), release, &pruned).arg("--wait=false"))?;
    }
    let revision = previous.map_or(1, |p| p.revision + 1);
    runner.run(&crate::tools::toolbox::server_side_apply(
        kubectl(),
        &inventory_manifest(release, &current, &digest, revision, rendered),
    ))?;
    for workload in objects::workloads(rendered)? {
        runner
            .run(
                &tools
                    .kubectl(kube)
                    .args(["rollout", "status", &workload.reference()])
                    .args(["--namespace", &release.namespace])
                    .arg(format!("--timeout={}", release.timeout))
                    .no_stdin(),
            )
            .map_err(|e| e.context(format!("{} did not become ready", workload.reference())))?;
    }
    Ok(Applied::Deployed { pruned })
}

/// Deletes everything the release's inventory lists, then the inventory.
/// False when it was not deployed.
pub fn delete(
    runner: &Runner,
    tools: &Toolbox,
    kube: &stagecraft_core::cluster::kube::KubeTarget,
    release: &Release,
) -> Result<bool> {
    let kubectl = || tools.kubectl(kube).timeout(Duration::from_secs(300));
    let Some(inventory) = inventory(runner, kubectl(), release)? else {
        return Ok(false);
    };
    if !inventory.objects.is_empty() {
        runner.run(&delete_cmd(kubectl(), release, &inventory.objects).arg("--wait"))?;
    }
    runner.run(
        &kubectl()
            .args(["delete", "configmap", &inventory_name(release)])
            .args(["--namespace", &release.namespace, "--ignore-not-found"])
            .no_stdin(),
    )?;
    Ok(true)
}

/// `kubectl delete -f -` of these objects (stubs on stdin).
fn delete_cmd(kubectl: Cmd, release: &Release, objects: &[Object]) -> Cmd {
    let list = json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": objects.iter().map(|o| o.stub(&release.namespace)).collect::<Vec<_>>(),
    });
    kubectl
        .args(["delete", "--ignore-not-found", "--filename=-"])
        .stdin_bytes(serde_json::to_string_pretty(&list).expect("JSON"))
}

fn inventory_manifest(
    release: &Release,
    objects: &[Object],
    digest: &str,
    revision: u64,
    rendered: &str,
) -> serde_json::Value {
    let mut data = json!({ "objects": serde_json::to_string(objects).expect("JSON") });
    if let Some(applied) = pack(rendered) {
        data["applied"] = applied.into();
    }
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": inventory_name(release),
            "namespace": release.namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "stagecraft",
                "stagecraft.dev/release": release.name,
            },
            "annotations": {
                DIGEST_ANNOTATION: digest,
                REVISION_ANNOTATION: revision.to_string(),
            },
        },
        "data": data,
    })
}

/// The applied stream as the inventory keeps it: Secrets' values left out
/// (a ConfigMap is readable by more people than Secrets), gzipped, base64.
/// None when it would not fit in a ConfigMap.
fn pack(rendered: &str) -> Option<String> {
    use base64::Engine;
    use std::io::Write;
    let kept: Vec<serde_json::Value> = objects::as_json(rendered)
        .ok()?
        .into_iter()
        .map(|mut doc| {
            if doc["kind"] == "Secret" {
                for key in ["data", "stringData"] {
                    if let Some(map) = doc.as_object_mut() {
                        map.remove(key);
                    }
                }
            }
            doc
        })
        .collect();
    let text = serde_json::to_string(&kept).ok()?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).ok()?;
    let packed = base64::engine::general_purpose::STANDARD.encode(gz.finish().ok()?);
    (packed.len() < 900_000).then_some(packed)
}

fn unpack(packed: &str) -> Option<String> {
    use base64::Engine;
    use std::io::Read;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// `kubectl diff` of the rendered release against the cluster, and what
/// the next deploy would prune. None: no change.
pub fn diff(
    runner: &Runner,
    tools: &Toolbox,
    kube: &stagecraft_core::cluster::kube::KubeTarget,
    release: &Release,
    rendered: &str,
) -> Result<Option<String>> {
    let cmd = tools
        .kubectl(kube)
        .args([
            "diff",
            "--server-side",
            "--field-manager=stagecraft",
            "--force-conflicts",
        ])
        .args(["--namespace", &release.namespace, "--filename=-"])
        .stdin_bytes(rendered.to_owned());
    if runner.dry_run {
        runner.run(&cmd)?;
        return Ok(None);
    }
    // kubectl diff: 0 no differences, 1 differences, more an error.
    let (code, mut text) = cmd.read_any()?;
    if code > 1 {
        return Err(anyhow!(
            "`{cmd}` failed with exit code {code}: {}",
            text.trim()
        ));
    }
    let current: Vec<Object> = objects::objects(rendered)?
        .into_iter()
        .map(|o| Object {
            namespace: o
                .namespace
                .clone()
                .or_else(|| Some(release.namespace.clone())),
            ..o
        })
        .collect();
    let previous = inventory(runner, tools.kubectl(kube), release)?;
    for gone in previous
        .iter()
        .flat_map(|p| &p.objects)
        .filter(|o| !current.contains(o))
    {
        text.push_str(&format!(
            "- {} (pruned by the next deploy)\n",
            gone.describe()
        ));
    }
    Ok((code == 1 || !text.trim().is_empty()).then_some(text))
}
