//! A release's values: its files (`values/comm/<release>.yaml`, then
//! `values/<stage>/<release>.yaml`) as templates of the app's stage
//! environment, then what Stagecraft adds (the built image, the
//! containers' environment, the hosts routed to it), then `--set`. What
//! helm gets never holds a secret: secret variables reach the containers
//! from a Kubernetes Secret applied through stdin, and the pod template
//! carries a checksum of the environment so that pods roll when it changes
//! (keyed for secret values, with a key that lives in that Secret).

use std::borrow::Cow;
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use serde_json::{Value, json};

use crate::app::model::Release;
use crate::cluster::Routing;
use crate::sha::Sha256;
use stagecraft_core::fsx::{self, TempDir};
use stagecraft_core::process::Cmd;

/// The annotation on the pod template that changes with the environment.
pub const CHECKSUM_ANNOTATION: &str = "stagecraft.dev/env-checksum";

/// The annotation of a release's Secret that holds the key of its
/// checksum: whoever may read it may read the secret values anyway.
pub const CHECKSUM_KEY_ANNOTATION: &str = "stagecraft.dev/checksum-key";

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
    // The app's `set` last: it maps the stage onto the chart's own keys.
    for (key, value) in &release.sets {
        set_path(&mut values, key, typed(value));
    }
    Value::Object(values)
}

/// A `set` value as helm's `--set` types it: `true`/`false`, integers and
/// `null` are themselves, anything else a string.
fn typed(value: &str) -> Value {
    match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => value
            .parse::<i64>()
            .ok()
            .filter(|_| !(value.len() > 1 && value.starts_with('0')))
            .map_or_else(|| Value::String(value.to_owned()), Value::from),
    }
}

/// Sets `a.b.c` (`\.` for a dot in a key) in a tree of objects.
fn set_path(values: &mut serde_json::Map<String, Value>, key: &str, value: Value) {
    let mut parts: Vec<String> = vec![String::new()];
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => parts.last_mut().expect("one part").extend(chars.next()),
            '.' => parts.push(String::new()),
            c => parts.last_mut().expect("one part").push(c),
        }
    }
    let last = parts.pop().expect("one part");
    let mut node = values;
    for part in parts {
        let entry = node
            .entry(part)
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(serde_json::Map::new());
        }
        node = entry.as_object_mut().expect("an object");
    }
    node.insert(last, value);
}

/// The Secret holding a release's secret variables.
pub fn secret_name(release: &Release) -> String {
    format!("{}-stagecraft-env", release.name)
}

/// A digest of the names and values the containers get: a change rolls
/// the pods. It sits in the pod template and in helm's values, where
/// whoever reads pods or releases sees it, so a secret value counts only
/// under the release's checksum key (HMAC-SHA256): a plain hash of a
/// password would let them guess it offline. Without the key (a render, a
/// dry run) and for an unresolved secret, a secret counts by its name
/// only. Without secret values, it is the SHA-256 of the rest.
pub fn checksum(release: &Release) -> String {
    let mut bytes = Vec::new();
    for var in &release.env {
        bytes.extend_from_slice(var.name.as_bytes());
        bytes.push(0);
        match (&var.value, var.secret, &release.checksum_key) {
            (Some(value), false, _) | (Some(value), true, Some(_)) => {
                bytes.extend_from_slice(value.as_bytes())
            }
            _ => bytes.extend_from_slice(b"\xffsecret"),
        }
        bytes.push(0);
    }
    match &release.checksum_key {
        Some(key) => crate::sha::hex(&crate::sha::hmac_sha256(key.as_bytes(), &[&bytes])),
        None => crate::sha::hex(&Sha256::digest(&bytes)),
    }
}

/// The release with its checksum key, when it has secret variables: the
/// key its Secret in the cluster holds, else (`create`, for what applies
/// the Secret) a new random one, which that Secret then keeps. A dry run
/// prints the question and goes on without a key. The release as it is
/// when there is no key to add.
pub fn with_checksum_key<'r>(
    runner: &stagecraft_core::process::Runner,
    kubectl: Cmd,
    release: &'r Release,
    create: bool,
) -> Result<Cow<'r, Release>> {
    if !release.env.iter().any(|v| v.secret) {
        return Ok(Cow::Borrowed(release));
    }
    let jsonpath = format!(
        "jsonpath={{.metadata.annotations.{}}}",
        CHECKSUM_KEY_ANNOTATION.replace('.', "\\.")
    );
    let read = kubectl
        .args(["get", "secret", &secret_name(release)])
        .args(["--namespace", &release.namespace, "--ignore-not-found"])
        .args(["--output", &jsonpath]);
    let found = runner.ask(&read)?;
    let found = found.trim();
    let key = if found.len() == 64 && found.bytes().all(|b| b.is_ascii_hexdigit()) {
        Some(found.to_owned())
    } else if create && !runner.dry_run {
        Some(random_key()?)
    } else {
        None
    };
    let Some(key) = key else {
        return Ok(Cow::Borrowed(release));
    };
    stagecraft_core::ui::register_secret(&key);
    let mut keyed = release.clone();
    keyed.checksum_key = Some(key);
    Ok(Cow::Owned(keyed))
}

/// 32 random bytes, hex.
fn random_key() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| anyhow!("cannot read random bytes for a checksum key: {e}"))?;
    Ok(crate::sha::hex(&bytes))
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
                // Known to be empty (its source gave nothing): no secret.
                (Some(value), false) if v.unset.is_some() => value.clone(),
                _ => stagecraft_core::ui::MASK.to_owned(),
            };
            (v.name.clone(), Value::String(value))
        })
        .collect();
    if data.is_empty() {
        return None;
    }
    let mut secret = json!({
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
    });
    if let Some(key) = &release.checksum_key {
        let key = match reveal {
            true => key.clone(),
            false => stagecraft_core::ui::MASK.to_owned(),
        };
        secret["metadata"]["annotations"] = json!({ CHECKSUM_KEY_ANNOTATION: key });
    }
    Some(secret)
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
    crate::tools::toolbox::server_side_apply(kubectl, &list)
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
    // A chart of a repository or registry is pinned by version (and its
    // tarball by charts.lock); a chart of the repository by its files.
    field(format!("{:?}", release.source).as_bytes());
    for image in &release.images {
        field(image.reference.as_bytes());
    }
    if let Some(dir) = crate::app::model::local_chart(release) {
        for (rel, bytes) in chart_files(dir)?.iter() {
            field(rel.as_bytes());
            field(bytes);
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
    Ok(crate::sha::hex(&hash.finalize())[..32].to_owned())
}

/// A chart's files: (path from its folder, bytes), sorted.
pub type ChartFiles = std::sync::Arc<Vec<(String, Vec<u8>)>>;

/// Every file of a local chart, by path from its folder, sorted; read once
/// per process (a shared chart of 100 releases is one read, for the
/// digest and the inputs record alike).
pub fn chart_files(dir: &std::path::Path) -> Result<ChartFiles> {
    static READ: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<PathBuf, ChartFiles>>,
    > = std::sync::OnceLock::new();
    let read = READ.get_or_init(Default::default);
    if let Some(files) = read.lock().expect("chart files").get(dir) {
        return Ok(files.clone());
    }
    let files = std::sync::Arc::new(read_chart_files(dir)?);
    read.lock()
        .expect("chart files")
        .insert(dir.to_owned(), files.clone());
    Ok(files)
}

fn read_chart_files(dir: &std::path::Path) -> Result<Vec<(String, Vec<u8>)>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::model::EnvVar;

    fn release(vars: &[(&str, &str, bool)], key: Option<&str>) -> Release {
        Release {
            app: "a".into(),
            name: "r".into(),
            source: crate::app::source::Source::Chart { dir: "c".into() },
            sets: vec![],
            images: vec![],
            namespace: "n".into(),
            values: vec![],
            image: None,
            env: vars
                .iter()
                .map(|(name, value, secret)| EnvVar {
                    name: (*name).into(),
                    value: Some((*value).into()),
                    secret: *secret,
                    unset: None,
                })
                .collect(),
            hosts: vec![],
            routing: crate::cluster::Routing::Ingress,
            timeout: "5m".into(),
            needs: vec![],
            checksum_key: key.map(str::to_owned),
        }
    }

    #[test]
    fn a_secret_value_counts_only_under_the_key() {
        let with = |password: &str, key: Option<&str>| {
            checksum(&release(
                &[("USER", "u", false), ("PASSWORD", password, true)],
                key,
            ))
        };
        // No key: the password does not count (nothing to guess it from).
        assert_eq!(with("one", None), with("two", None));
        // The key: it does, and the same inputs give the same checksum.
        let key = Some("k".repeat(64));
        let key = key.as_deref();
        assert_ne!(with("one", key), with("two", key));
        assert_eq!(with("one", key), with("one", key));
        // Another key, another checksum: nobody without it can test
        // passwords against it.
        assert_ne!(with("one", key), with("one", Some(&"j".repeat(64))));
        // Plain values count without a key.
        let plain = |user: &str| checksum(&release(&[("USER", user, false)], None));
        assert_ne!(plain("u"), plain("v"));
    }

    #[test]
    fn the_key_is_in_the_secret_and_masked_unless_revealed() {
        let keyed = release(&[("PASSWORD", "p", true)], Some("abc"));
        let shown = secret_manifest(&keyed, true).unwrap();
        assert_eq!(
            shown["metadata"]["annotations"][CHECKSUM_KEY_ANNOTATION],
            "abc"
        );
        let masked = secret_manifest(&keyed, false).unwrap();
        assert_eq!(
            masked["metadata"]["annotations"][CHECKSUM_KEY_ANNOTATION],
            stagecraft_core::ui::MASK
        );
        let unkeyed = release(&[("PASSWORD", "p", true)], None);
        assert!(secret_manifest(&unkeyed, true).unwrap()["metadata"]["annotations"].is_null());
    }

    #[test]
    fn random_keys_are_new_each_time() {
        let (a, b) = (random_key().unwrap(), random_key().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
