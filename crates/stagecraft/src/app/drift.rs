//! `app drift`: each release's live objects against what its last deploy
//! applied (helm's record of a chart's manifests, the inventory of a
//! kustomization's or manifests'). Only the fields the deploy set are
//! compared, so what the cluster owns (status, defaults, managed fields,
//! a controller's annotations) is never drift; quantities compare by
//! value (`1000m` is `1`). A Secret's values are never read or shown.

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::app::applied;
use crate::app::model::Release;
use crate::app::objects::as_json as documents;
use crate::cluster::Target;
use crate::tools::toolbox::{Planned, Tool, Toolbox};
use stagecraft_core::process::Runner;
use stagecraft_core::repo::Repo;

/// A field the deploy set that the cluster now has otherwise.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Field {
    pub path: String,
    pub applied: Value,
    /// Null when the field is gone.
    pub live: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectDrift {
    /// `Deployment/photos-api`.
    pub object: String,
    pub namespace: String,
    /// The object is gone from the cluster.
    pub missing: bool,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleaseDrift {
    pub release: String,
    /// `in sync`, `drifted`, `not deployed`, or `unknown` (no record of
    /// what was applied).
    pub state: String,
    pub objects: Vec<ObjectDrift>,
}

impl ReleaseDrift {
    pub fn drifted(&self) -> bool {
        self.state == "drifted"
    }
}

/// The drift of each release in the target's cluster.
pub fn drift(repo: &Repo, target: &Target, releases: &[Release]) -> Result<Vec<ReleaseDrift>> {
    target.connect()?;
    let tools = Toolbox::find(repo, &[Tool::Kubectl], &Planned::default())?;
    releases
        .iter()
        .map(|release| of_release(&tools, target, release))
        .collect()
}

/// One release's drift.
pub fn of_release(tools: &Toolbox, target: &Target, release: &Release) -> Result<ReleaseDrift> {
    let kubectl = || tools.kubectl(&target.kube).no_stdin();
    let applied = match release.source.is_helm() {
        true => crate::tools::helm_record::manifest(kubectl(), &release.namespace, &release.name)
            .ok()
            .filter(|m| !m.trim().is_empty()),
        false => match applied::inventory(&Runner { dry_run: false }, kubectl(), release)? {
            None => None,
            Some(inventory) => match inventory.applied {
                Some(applied) => Some(applied),
                None => {
                    return Ok(ReleaseDrift {
                        release: release.id(),
                        state: "unknown".to_owned(),
                        objects: Vec::new(),
                    });
                }
            },
        },
    };
    let Some(applied) = applied else {
        return Ok(ReleaseDrift {
            release: release.id(),
            state: "not deployed".to_owned(),
            objects: Vec::new(),
        });
    };
    let mut objects = Vec::new();
    for doc in documents(&applied)? {
        let (Some(kind), Some(name)) = (doc["kind"].as_str(), doc["metadata"]["name"].as_str())
        else {
            continue;
        };
        let namespace = doc["metadata"]["namespace"]
            .as_str()
            .unwrap_or(&release.namespace)
            .to_owned();
        let group = doc["apiVersion"]
            .as_str()
            .and_then(|v| v.split_once('/'))
            .map(|(g, _)| format!(".{g}"))
            .unwrap_or_default();
        let live = kubectl()
            .args(["get", &format!("{kind}{group}/{name}")])
            .args([
                "--namespace",
                &namespace,
                "--ignore-not-found",
                "--output",
                "json",
            ])
            .read()
            .with_context(|| format!("cannot read {kind}/{name} of {}", release.id()))?;
        let object = format!("{kind}/{name}");
        if live.trim().is_empty() {
            objects.push(ObjectDrift {
                object,
                namespace,
                missing: true,
                fields: Vec::new(),
            });
            continue;
        }
        let live: Value = serde_json::from_str(&live)
            .with_context(|| format!("kubectl gave {kind}/{name} as no JSON"))?;
        let mut fields = Vec::new();
        let skip: &[&str] = match kind {
            // Its values are not compared, nor ever shown.
            "Secret" => &["data", "stringData"],
            _ => &[],
        };
        compare("", &doc, &live, skip, &mut fields);
        if !fields.is_empty() {
            objects.push(ObjectDrift {
                object,
                namespace,
                missing: false,
                fields,
            });
        }
    }
    Ok(ReleaseDrift {
        release: release.id(),
        state: match objects.is_empty() {
            true => "in sync",
            false => "drifted",
        }
        .to_owned(),
        objects,
    })
}

/// The fields of `applied` whose value `live` does not have.
fn compare(path: &str, applied: &Value, live: &Value, skip: &[&str], out: &mut Vec<Field>) {
    let at = |key: &str| match path {
        "" => key.to_owned(),
        _ => format!("{path}.{key}"),
    };
    match applied {
        Value::Object(map) => {
            for (key, value) in map {
                // Helm's and kubectl's own bookkeeping, and the status.
                if (path.is_empty() && (key == "status" || skip.contains(&key.as_str())))
                    || (path == "metadata" && key == "managedFields")
                {
                    continue;
                }
                compare(&at(key), value, &live[key], skip, out);
            }
        }
        Value::Array(items) => {
            let named = items.iter().all(|i| i["name"].is_string());
            let empty = Vec::new();
            let live_items = live.as_array().unwrap_or(&empty);
            for (i, item) in items.iter().enumerate() {
                let (label, other) = match named {
                    true => {
                        let name = item["name"].as_str().unwrap_or_default();
                        let found = live_items.iter().find(|l| l["name"] == item["name"]);
                        (format!("[{name}]"), found.cloned().unwrap_or(Value::Null))
                    }
                    false => (
                        format!("[{i}]"),
                        live_items.get(i).cloned().unwrap_or(Value::Null),
                    ),
                };
                compare(&format!("{path}{label}"), item, &other, skip, out);
            }
        }
        Value::Null => {}
        scalar => {
            if !same(scalar, live, path) {
                out.push(Field {
                    path: path.to_owned(),
                    applied: scalar.clone(),
                    live: live.clone(),
                });
            }
        }
    }
}

/// Scalars as the API server keeps them: `"8080"` and `8080` alike, and
/// resource quantities by value.
fn same(applied: &Value, live: &Value, path: &str) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let (Some(a), Some(l)) = (text(applied), text(live)) else {
        return false;
    };
    if a == l {
        return true;
    }
    let quantity = path.contains("resources.") || path.contains("storage");
    quantity
        && matches!((parse_quantity(&a), parse_quantity(&l)), (Some(x), Some(y)) if (x - y).abs() < 1e-9 * x.abs().max(1.0))
}

/// A Kubernetes quantity (`500m`, `1.5`, `128Mi`, `2G`) as a number.
fn parse_quantity(text: &str) -> Option<f64> {
    let suffixes: [(&str, f64); 13] = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, factor) in suffixes {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_fields_the_deploy_set_count_and_quantities_by_value() {
        let applied = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "web", "labels": { "app": "web" } },
            "spec": { "replicas": 2, "template": { "spec": { "containers": [
                { "name": "web", "image": "web:1", "ports": [{ "containerPort": "8080" }],
                  "resources": { "requests": { "cpu": "1000m", "memory": "128Mi" } } }
            ] } } }
        });
        let mut live = applied.clone();
        live["metadata"]["uid"] = json!("abc");
        live["metadata"]["managedFields"] = json!([{ "manager": "kubectl" }]);
        live["status"] = json!({ "replicas": 3 });
        live["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] =
            json!("1");
        live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] =
            json!(8080);
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
            json!("IfNotPresent");
        let mut fields = Vec::new();
        compare("", &applied, &live, &[], &mut fields);
        assert_eq!(fields, vec![]);
        live["spec"]["replicas"] = json!(5);
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2");
        compare("", &applied, &live, &[], &mut fields);
        let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["spec.replicas", "spec.template.spec.containers[web].image"]
        );
        assert_eq!(fields[0].applied, json!(2));
        assert_eq!(fields[0].live, json!(5));
    }
}
