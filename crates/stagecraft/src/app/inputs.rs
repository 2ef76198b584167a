//! Why a release is redeployed: what it was deployed from, per input, kept
//! in the cluster beside it (the ConfigMap `<release>-stagecraft-inputs`),
//! and compared at the next deploy: image tags (old → new), values keys,
//! chart files (or a kustomization's objects), variables by name. Values
//! are recorded as short hashes; a secret variable's as an HMAC keyed by
//! the release's checksum key (which lives in its Secret), so whoever
//! reads the record cannot test guesses of a password offline.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::model::Release;
use crate::app::objects;
use crate::app::source::Source;
use crate::sha::Sha256;
use stagecraft_core::process::{Cmd, Runner};

/// What a release was deployed from, by input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inputs {
    /// The commit checked out (its tree may have had changes).
    #[serde(default)]
    pub commit: String,
    #[serde(default)]
    pub images: BTreeMap<String, String>,
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// A chart's files, a kustomization's or manifests' objects, or a
    /// fetched chart's name and version.
    #[serde(default)]
    pub source: BTreeMap<String, String>,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

pub fn record_name(release: &Release) -> String {
    format!("{}-stagecraft-inputs", release.name)
}

fn short(bytes: &[u8]) -> String {
    crate::sha::hex(&Sha256::digest(bytes))[..12].to_owned()
}

/// The inputs of `release` as this deploy would ship it: `values` are its
/// values files as rendered, `rendered` the manifests of a release
/// Stagecraft applies itself.
pub fn of(release: &Release, sets: &[String], rendered: Option<&str>, commit: &str) -> Inputs {
    let mut inputs = Inputs {
        commit: commit.to_owned(),
        ..Inputs::default()
    };
    for image in &release.images {
        let tag = image.reference.rsplit_once(':').map_or("", |(_, t)| t);
        inputs.images.insert(image.name.clone(), tag.to_owned());
    }
    let mut layers: Vec<Value> = release
        .values
        .iter()
        .filter_map(|l| objects::as_json(&l.text).ok())
        .flatten()
        .collect();
    let mut generated = crate::app::values::generated(release);
    if let Some(map) = generated.as_object_mut() {
        // Variables are compared by name below; the checksum follows them.
        for key in ["env", "secretEnv", "podAnnotations"] {
            map.remove(key);
        }
    }
    layers.push(generated);
    for set in sets {
        if let Some((key, value)) = set.split_once('=') {
            layers.push(json!({ format!("--set {key}"): value }));
        }
    }
    for layer in &layers {
        flatten("", layer, &mut inputs.values);
    }
    match (&release.source, rendered) {
        (Source::Chart { dir }, _) => {
            // The deploy's digest read them already: this is that read.
            if let Ok(files) = crate::app::values::chart_files(dir) {
                for (rel, bytes) in files.iter() {
                    inputs.source.insert(rel.clone(), short(bytes));
                }
            }
        }
        (_, Some(rendered)) => {
            for doc in objects::as_json(rendered).unwrap_or_default() {
                let kind = doc["kind"].as_str().unwrap_or_default();
                let name = doc["metadata"]["name"].as_str().unwrap_or_default();
                inputs
                    .source
                    .insert(format!("{kind}/{name}"), short(doc.to_string().as_bytes()));
            }
        }
        (other, None) => {
            inputs
                .source
                .insert("chart".to_owned(), other.describe(Path::new("/")));
        }
    }
    for var in &release.env {
        let value = var.value.as_deref().unwrap_or_default();
        let mark = match (var.secret, &release.checksum_key) {
            (false, _) => short(value.as_bytes()),
            (true, Some(key)) => {
                let mac = crate::sha::hmac_sha256(
                    key.as_bytes(),
                    &[var.name.as_bytes(), &[0], value.as_bytes()],
                );
                crate::sha::hex(&mac)[..12].to_owned()
            }
            // No key (a dry run): it cannot be compared.
            (true, None) => "secret".to_owned(),
        };
        inputs.vars.insert(var.name.clone(), mark);
    }
    inputs
}

fn flatten(path: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let path = match path {
                    "" => key.clone(),
                    _ => format!("{path}.{key}"),
                };
                // A later layer's key replaces what was under it.
                let below = format!("{path}.");
                out.retain(|k, _| !k.starts_with(&below));
                flatten(&path, value, out);
            }
        }
        // An empty map at the top: nothing.
        _ if path.is_empty() => {}
        other => {
            out.insert(path.to_owned(), short(other.to_string().as_bytes()));
        }
    }
}

/// What changed from `old` to `new`, one phrase per kind of input:
/// `image photos-api 3f2a1c9d → 8b7e6a5c`, `values replicaCount`,
/// `chart templates/deployment.yaml`, `variables LOG_LEVEL`.
pub fn changes(old: &Inputs, new: &Inputs) -> Vec<String> {
    let mut out = Vec::new();
    for (name, tag) in &new.images {
        match old.images.get(name) {
            Some(before) if before != tag => out.push(format!(
                "image {name} {} → {}",
                short_tag(before),
                short_tag(tag)
            )),
            None => out.push(format!("image {name} new")),
            _ => {}
        }
    }
    let names = |what: &str, old: &BTreeMap<String, String>, new: &BTreeMap<String, String>| {
        let mut changed: Vec<&str> = new
            .iter()
            .filter(|(k, v)| old.get(*k) != Some(v))
            .map(|(k, _)| k.as_str())
            .chain(
                old.keys()
                    .filter(|k| !new.contains_key(*k))
                    .map(String::as_str),
            )
            .collect();
        changed.sort();
        changed.dedup();
        const SHOWN: usize = 4;
        match changed.len() {
            0 => None,
            n if n > SHOWN => Some(format!(
                "{what} {} and {} more",
                changed[..SHOWN].join(", "),
                n - SHOWN
            )),
            _ => Some(format!("{what} {}", changed.join(", "))),
        }
    };
    // The image keys of the values follow the tags, said above.
    let said = |k: &str| !new.images.is_empty() && k.starts_with("image.");
    let without_images = |values: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        values
            .iter()
            .filter(|(k, _)| !said(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let (values_old, values_new) = (without_images(&old.values), without_images(&new.values));
    out.extend(names("values", &values_old, &values_new));
    out.extend(names("chart", &old.source, &new.source));
    out.extend(names("variables", &old.vars, &new.vars));
    out
}

fn short_tag(tag: &str) -> &str {
    let tag = tag.split('@').next().unwrap_or(tag);
    &tag[..tag.len().min(8)]
}

/// The record of the release's last deploy, if there is one.
pub fn read(runner: &Runner, kubectl: Cmd, release: &Release) -> Result<Option<Inputs>> {
    let found = crate::tools::toolbox::config_map(
        runner,
        kubectl,
        &release.namespace,
        &record_name(release),
    )
    .with_context(|| format!("cannot read the inputs record of {}", release.id()))?;
    let Some(map) = found else {
        return Ok(None);
    };
    Ok(map["data"]["inputs"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok()))
}

/// The ConfigMap that records `inputs` beside the release.
pub fn manifest(release: &Release, inputs: &Inputs) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": record_name(release),
            "namespace": release.namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "stagecraft",
                "stagecraft.dev/release": release.name,
            },
        },
        "data": { "inputs": serde_json::to_string(inputs).expect("JSON") },
    })
}

/// One line: why the release deploys, given its last record.
pub fn why(previous: Option<&Inputs>, current: &Inputs) -> String {
    match previous {
        None => "no record of a previous deploy".to_owned(),
        Some(old) => match changes(old, current) {
            changed if changed.is_empty() => "nothing it is made of changed".to_owned(),
            changed => changed.join("; "),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_tags_keys_files_and_variables() {
        let mut old = Inputs::default();
        old.images.insert("web".into(), "3f2a1c9d00000000".into());
        old.values.insert("replicaCount".into(), "a".into());
        old.values.insert("image.tag".into(), "x".into());
        old.source
            .insert("templates/deployment.yaml".into(), "a".into());
        old.vars.insert("LOG_LEVEL".into(), "a".into());
        old.vars.insert("DB_PASSWORD".into(), "a".into());
        let mut new = old.clone();
        assert_eq!(changes(&old, &new), Vec::<String>::new());
        new.images.insert("web".into(), "8b7e6a5c00000000".into());
        new.values.insert("image.tag".into(), "y".into());
        new.values.insert("replicaCount".into(), "b".into());
        new.source.remove("templates/deployment.yaml");
        new.vars.insert("DB_PASSWORD".into(), "b".into());
        assert_eq!(
            changes(&old, &new),
            [
                "image web 3f2a1c9d → 8b7e6a5c",
                "values replicaCount",
                "chart templates/deployment.yaml",
                "variables DB_PASSWORD"
            ]
        );
    }
}
