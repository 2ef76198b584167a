//! A release's values: its files (`values/comm/<release>.yaml`, then
//! `values/<stage>/<release>.yaml`) as templates of the app's stage
//! environment, then what Stagecraft adds (the built image, the
//! containers' environment, the hosts routed to it), then `--set`. What
//! helm gets never holds a secret: secret variables reach the containers
//! from a Kubernetes Secret applied through stdin, and the pod template
//! carries a checksum of the environment so that pods roll when it changes.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::apps::Release;
use crate::cluster::Routing;
use crate::fsx::{self, TempDir};
use crate::process::Cmd;

/// The annotation on the pod template that changes with the environment.
pub const CHECKSUM_ANNOTATION: &str = "stagecraft.dev/env-checksum";

/// What Stagecraft adds to a release's values (none of it secret).
pub fn generated(release: &Release) -> Value {
    let mut values = serde_json::Map::new();
    if let Some((repository, tag)) = &release.image {
        values.insert(
            "image".into(),
            json!({ "repository": repository, "tag": tag }),
        );
    }
    let plain: serde_json::Map<String, Value> = release
        .env
        .iter()
        .filter(|v| !v.secret)
        .map(|v| {
            (
                v.name.clone(),
                Value::String(v.value.clone().unwrap_or_default()),
            )
        })
        .collect();
    if !plain.is_empty() {
        values.insert("env".into(), Value::Object(plain));
    }
    let secret: serde_json::Map<String, Value> = release
        .env
        .iter()
        .filter(|v| v.secret)
        .map(|v| {
            (
                v.name.clone(),
                json!({ "secretName": secret_name(release), "key": v.name }),
            )
        })
        .collect();
    if !secret.is_empty() {
        values.insert("secretEnv".into(), Value::Object(secret));
    }
    if !release.env.is_empty() {
        values.insert(
            "podAnnotations".into(),
            json!({ CHECKSUM_ANNOTATION: checksum(release) }),
        );
    }
    if !release.hosts.is_empty() {
        match &release.routing {
            Routing::Gateway { namespace, name } => values.insert(
                "route".into(),
                json!({
                    "enabled": true,
                    "hostnames": release.hosts,
                    "parentRefs": [{ "name": name, "namespace": namespace }],
                }),
            ),
            Routing::Ingress => values.insert(
                "ingress".into(),
                json!({ "enabled": true, "hosts": release.hosts }),
            ),
        };
    }
    Value::Object(values)
}

/// The Secret holding a release's secret variables.
pub fn secret_name(release: &Release) -> String {
    format!("{}-stagecraft-env", release.name)
}

/// SHA-256 of the names and values the containers get: a change rolls the
/// pods. An unresolved secret counts as its name only.
pub fn checksum(release: &Release) -> String {
    let mut hash = Sha256::new();
    for var in &release.env {
        hash.update(var.name.as_bytes());
        hash.update([0]);
        match &var.value {
            Some(value) => hash.update(value.as_bytes()),
            None => hash.update(b"\xffunresolved"),
        }
        hash.update([0]);
    }
    crate::download::hex(&hash.finalize())
}

/// The Secret of the release's secret variables, as `kubectl apply`
/// reads it from stdin; `reveal: false` masks the values (for `app
/// render`). None when the release has no secret variable.
pub fn secret_manifest(release: &Release, reveal: bool) -> Option<Value> {
    let data: serde_json::Map<String, Value> = release
        .env
        .iter()
        .filter(|v| v.secret)
        .map(|v| {
            let value = match (&v.value, reveal) {
                (Some(value), true) => value.clone(),
                _ => crate::ui::MASK.to_owned(),
            };
            (v.name.clone(), Value::String(value))
        })
        .collect();
    if data.is_empty() {
        return None;
    }
    Some(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(release),
            "namespace": release.namespace,
            "labels": {
                "app.kubernetes.io/instance": release.name,
                "app.kubernetes.io/managed-by": "stagecraft",
            },
        },
        "type": "Opaque",
        "stringData": data,
    }))
}

/// `kubectl apply` (`kubectl` with its kubeconfig and context) of the
/// Secret of the release's secret variables, with its namespace, fed on
/// stdin: never on an argv or in a file.
pub fn apply_secret(kubectl: Cmd, release: &Release, secret: &Value) -> Cmd {
    let list = json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": { "name": release.namespace },
            },
            secret,
        ],
    });
    crate::toolbox::server_side_apply(kubectl, &list)
}

/// What helm gets for a release's values: `-f` per layer (a file that was
/// a template goes through a private temporary copy, removed with this
/// value), then `-f -` for Stagecraft's own values on stdin, then `--set`.
pub struct HelmValues {
    pub args: Vec<OsString>,
    pub stdin: String,
    _rendered: Option<TempDir>,
}

impl HelmValues {
    pub fn new(release: &Release, sets: &[String]) -> Result<HelmValues> {
        let mut args: Vec<OsString> = Vec::new();
        let mut rendered: Option<TempDir> = None;
        if let Some(version) = &release.version {
            args.extend(["--version".into(), version.into()]);
        }
        for (i, layer) in release.values.iter().enumerate() {
            args.push("-f".into());
            if layer.templated {
                let dir = match &mut rendered {
                    Some(dir) => dir,
                    None => rendered.insert(fsx::private_temp_dir("stagecraft-values")?),
                };
                let path: PathBuf = dir.path().join(format!("{i}-{}", layer.file_name()));
                fsx::write_private(&path, layer.text.as_bytes())?;
                args.push(path.into());
            } else {
                args.push(layer.path.clone().into());
            }
        }
        args.extend(["-f".into(), "-".into()]);
        for set in sets {
            args.extend(["--set".into(), set.into()]);
        }
        Ok(HelmValues {
            args,
            stdin: serde_json::to_string_pretty(&generated(release)).expect("JSON") + "\n",
            _rendered: rendered,
        })
    }

    /// `cmd` with these values: the flags, and Stagecraft's on stdin.
    pub fn apply(&self, cmd: Cmd) -> Cmd {
        cmd.args(&self.args).stdin_bytes(self.stdin.clone())
    }
}

/// What a deploy of the release depends on, as a short hex digest: the
/// chart's files (or its reference and version), every values layer as
/// rendered, Stagecraft's values, `--set`, and the namespace. Stored with
/// the release; the same digest later means nothing to deploy.
pub fn digest(release: &Release, sets: &[String]) -> Result<String> {
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(release.namespace.as_bytes());
    field(release.chart.as_bytes());
    field(release.version.as_deref().unwrap_or("").as_bytes());
    if let Some(dir) = crate::apps::local_chart(release) {
        for (rel, bytes) in chart_files(dir)? {
            field(rel.as_bytes());
            field(&bytes);
        }
    }
    for layer in &release.values {
        field(layer.display.as_bytes());
        field(layer.text.as_bytes());
    }
    field(generated(release).to_string().as_bytes());
    for set in sets {
        field(set.as_bytes());
    }
    Ok(crate::download::hex(&hash.finalize())[..32].to_owned())
}

/// Every file of a local chart, by path from its folder, sorted.
fn chart_files(dir: &std::path::Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(folder) = todo.pop() {
        for entry in std::fs::read_dir(&folder)
            .map_err(|e| anyhow!("cannot list {}: {e}", folder.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                let bytes = std::fs::read(&path)
                    .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
                out.push((rel, bytes));
            }
        }
    }
    out.sort();
    Ok(out)
}
