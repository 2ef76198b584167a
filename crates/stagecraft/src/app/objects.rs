//! The objects of a rendered manifest stream, as Stagecraft needs them:
//! what to prune and delete (kind, name, namespace), and a release's
//! workloads with the labels their pods carry (from the workload's own
//! selector, so any chart's pods are found, not only ours).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use anyhow::{Result, anyhow};

/// One object of a manifest stream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Object {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    /// None: cluster-scoped, or the release's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl Object {
    /// `deployment.apps/web`, as kubectl names it.
    pub fn describe(&self) -> String {
        let group = self.api_version.split_once('/').map(|(g, _)| g);
        match group {
            Some(group) => format!("{}.{group}/{}", self.kind.to_lowercase(), self.name),
            None => format!("{}/{}", self.kind.to_lowercase(), self.name),
        }
    }

    /// A minimal manifest of it (what `kubectl delete -f -` needs).
    pub fn stub(&self, namespace: &str) -> serde_json::Value {
        let mut metadata = serde_json::json!({ "name": self.name });
        if !CLUSTER_SCOPED.contains(&self.kind.as_str()) {
            metadata["namespace"] = self.namespace.as_deref().unwrap_or(namespace).into();
        }
        serde_json::json!({ "apiVersion": self.api_version, "kind": self.kind, "metadata": metadata })
    }
}

/// Kinds with no namespace, of the common APIs.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "GatewayClass",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// A Deployment, StatefulSet or DaemonSet, and the labels of its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub kind: String,
    pub name: String,
    /// `spec.selector.matchLabels`, as `k=v,k=v`.
    pub selector: String,
    /// The labels of its pod template.
    pub pod_labels: Vec<(String, String)>,
}

/// A Service, with its selector and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub selector: Vec<(String, String)>,
    /// Name (if any) and port.
    pub ports: Vec<(Option<String>, u64)>,
}

fn documents(stream: &str) -> Result<Vec<Yaml>> {
    let docs = YamlLoader::load_from_str(stream)
        .map_err(|e| anyhow!("the rendered manifests are not YAML: {e}"))?;
    let mut out = Vec::new();
    for doc in docs {
        // A `kind: List` (what `kubectl ... -o yaml` writes) holds items.
        match doc["kind"].as_str() {
            Some("List") => out.extend(doc["items"].as_vec().cloned().unwrap_or_default()),
            _ if doc.is_null() || doc.is_badvalue() => {}
            _ => out.push(doc),
        }
    }
    Ok(out)
}

/// Every object of a stream, in order.
pub fn objects(stream: &str) -> Result<Vec<Object>> {
    let mut out = Vec::new();
    for doc in documents(stream)? {
        let (Some(api_version), Some(kind), Some(name)) = (
            doc["apiVersion"].as_str(),
            doc["kind"].as_str(),
            doc["metadata"]["name"].as_str(),
        ) else {
            return Err(anyhow!(
                "a rendered document has no apiVersion, kind or metadata.name:\n{}",
                first_lines(&doc)
            ));
        };
        out.push(Object {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: doc["metadata"]["namespace"].as_str().map(str::to_owned),
            name: name.to_owned(),
        });
    }
    Ok(out)
}

fn first_lines(doc: &Yaml) -> String {
    let mut text = String::new();
    let _ = yaml_rust2::YamlEmitter::new(&mut text).dump(doc);
    text.lines().take(6).collect::<Vec<_>>().join("\n")
}

fn pairs(map: &Yaml) -> Vec<(String, String)> {
    map.as_hash()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| {
                    let value = match v {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        Yaml::Real(r) => r.clone(),
                        _ => return None,
                    };
                    Some((k.as_str()?.to_owned(), value))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The workloads of a stream, in order.
pub fn workloads(stream: &str) -> Result<Vec<Workload>> {
    Ok(documents(stream)?
        .iter()
        .filter(|d| {
            matches!(
                d["kind"].as_str(),
                Some("Deployment" | "StatefulSet" | "DaemonSet")
            )
        })
        .filter_map(|d| {
            let selector = pairs(&d["spec"]["selector"]["matchLabels"]);
            Some(Workload {
                kind: d["kind"].as_str()?.to_owned(),
                name: d["metadata"]["name"].as_str()?.to_owned(),
                selector: selector
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
                pod_labels: pairs(&d["spec"]["template"]["metadata"]["labels"]),
            })
        })
        .collect())
}

/// The Services of a stream.
pub fn services(stream: &str) -> Result<Vec<Service>> {
    Ok(documents(stream)?
        .iter()
        .filter(|d| d["kind"].as_str() == Some("Service"))
        .filter_map(|d| {
            Some(Service {
                name: d["metadata"]["name"].as_str()?.to_owned(),
                selector: pairs(&d["spec"]["selector"]),
                ports: d["spec"]["ports"]
                    .as_vec()
                    .map(|ports| {
                        ports
                            .iter()
                            .filter_map(|p| {
                                Some((
                                    p["name"].as_str().map(str::to_owned),
                                    p["port"].as_i64()? as u64,
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect())
}

impl Workload {
    /// `deployment/web`
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind.to_lowercase(), self.name)
    }

    /// The Service whose selector picks this workload's pods (the one
    /// named like it first).
    pub fn service<'s>(&self, services: &'s [Service]) -> Option<&'s Service> {
        let selects = |s: &Service| {
            !s.selector.is_empty() && s.selector.iter().all(|kv| self.pod_labels.contains(kv))
        };
        services
            .iter()
            .find(|s| s.name == self.name && selects(s))
            .or_else(|| services.iter().find(|s| selects(s)))
    }
}

/// The workload `name` names, else the release's only one, else the one
/// named like the release; an error lists them when several remain.
pub fn pick<'w>(
    workloads: &'w [Workload],
    name: Option<&str>,
    release: &str,
) -> Result<&'w Workload> {
    let names: Vec<String> = workloads.iter().map(|w| w.name.clone()).collect();
    if let Some(name) = name {
        return workloads
            .iter()
            .find(|w| w.name == name)
            .ok_or_else(|| stagecraft_core::suggest::unknown("workload", name, &names));
    }
    match workloads {
        [] => Err(anyhow!(
            "release {release} has no Deployment, StatefulSet or DaemonSet"
        )),
        [only] => Ok(only),
        _ => workloads.iter().find(|w| w.name == release).ok_or_else(|| {
            anyhow!(
                "release {release} runs several workloads: {}\n  hint: pick one with --workload",
                names.join(", ")
            )
        }),
    }
}

/// The objects of a manifest stream (YAML, or the JSON array the
/// inventory keeps) as JSON values.
pub fn as_json(stream: &str) -> Result<Vec<Value>> {
    if stream.trim_start().starts_with('[') {
        return serde_json::from_str(stream).map_err(|e| anyhow!("not JSON: {e}"));
    }
    let docs = YamlLoader::load_from_str(stream).map_err(|e| anyhow!("not YAML: {e}"))?;
    let mut out = Vec::new();
    for doc in docs {
        let value = to_json(&doc);
        match value["kind"].as_str() {
            Some("List") => out.extend(value["items"].as_array().cloned().unwrap_or_default()),
            _ if value.is_object() => out.push(value),
            _ => {}
        }
    }
    Ok(out)
}

fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .filter_map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        Yaml::Real(r) => r.clone(),
                        _ => return None,
                    };
                    Some((key, to_json(v)))
                })
                .collect(),
        ),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(r.clone()), Value::Number),
        Yaml::Boolean(b) => Value::Bool(*b),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: emailservice
spec:
  selector:
    matchLabels:
      app: emailservice
  template:
    metadata:
      labels:
        app: emailservice
        tier: backend
---
apiVersion: v1
kind: Service
metadata:
  name: emailservice
  namespace: shop
spec:
  selector:
    app: emailservice
  ports:
  - name: grpc
    port: 5000
---
apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata:
    name: reader
";

    #[test]
    fn objects_workloads_and_services_are_read_off_any_chart() {
        let objects = objects(STREAM).unwrap();
        assert_eq!(
            objects.iter().map(Object::describe).collect::<Vec<_>>(),
            [
                "deployment.apps/emailservice",
                "service/emailservice",
                "clusterrole.rbac.authorization.k8s.io/reader"
            ]
        );
        assert_eq!(objects[1].namespace.as_deref(), Some("shop"));
        assert!(objects[2].stub("shop")["metadata"]["namespace"].is_null());
        assert_eq!(objects[0].stub("shop")["metadata"]["namespace"], "shop");
        let workloads = workloads(STREAM).unwrap();
        assert_eq!(workloads[0].selector, "app=emailservice");
        let services = services(STREAM).unwrap();
        assert_eq!(
            workloads[0].service(&services).unwrap().ports,
            [(Some("grpc".to_owned()), 5000)]
        );
        assert_eq!(pick(&workloads, None, "shop").unwrap().name, "emailservice");
        assert!(pick(&workloads, Some("emailservce"), "shop").is_err());
    }

    #[test]
    fn a_document_without_a_name_is_an_error_that_shows_it() {
        let err = objects("apiVersion: v1\nkind: ConfigMap\n").unwrap_err();
        assert!(format!("{err:#}").contains("kind: ConfigMap"), "{err:#}");
    }
}
