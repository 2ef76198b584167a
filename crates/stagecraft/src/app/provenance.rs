//! `app values`: a release's values as helm gets them, and for each key
//! the layer, file and line that set it (and what it overrode): the
//! chart's defaults, `values/comm/<release>.yaml`, `values/<stage>/...`,
//! what Stagecraft adds, `--set`. Layers merge as helm merges them: maps
//! key by key, anything else (a list, a scalar) replaced whole; `null`
//! removes a key.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;
use serde_json::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::app::model::{Release, local_chart};
use crate::app::values;
use stagecraft_core::repo::Repo;

/// Where a value was set.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Origin {
    /// `chart`, `comm`, the stage, `stagecraft` or `--set`.
    pub layer: String,
    /// `file:line`, or what set it.
    pub at: String,
    pub value: Value,
}

/// One key (dotted path) of the merged values.
#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub key: String,
    pub value: Value,
    /// The layer that won first, then what it overrode, latest first.
    pub chain: Vec<Origin>,
}

/// The settings of one key and the keys below it (`resources` gives
/// `resources.limits.memory`...); an unknown key suggests the closest.
pub fn explain(settings: Vec<Setting>, key: &str, release: &Release) -> Result<Vec<Setting>> {
    let below = format!("{key}.");
    let keys: Vec<String> = settings.iter().map(|s| s.key.clone()).collect();
    let found: Vec<Setting> = settings
        .into_iter()
        .filter(|s| s.key == key || s.key.starts_with(&below))
        .collect();
    if found.is_empty() {
        return Err(stagecraft_core::suggest::unknown_named(
            &format!("values of {}:", release.id()),
            "key",
            key,
            &keys,
        ));
    }
    Ok(found)
}

/// The merged values of `release`, key by key, in key order.
pub fn settings(repo: &Repo, release: &Release, sets: &[String]) -> Result<Vec<Setting>> {
    let mut merged: Vec<Setting> = Vec::new();
    if let Some(chart) = local_chart(release) {
        let path = chart.join("values.yaml");
        if path.is_file() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let display = relative(repo, &path);
            apply(&mut merged, "chart", &leaves(&text, &display)?, |line| {
                format!("{display}:{line}")
            });
        }
    }
    for layer in &release.values {
        let found = leaves(&layer.text, &layer.display)?;
        apply(&mut merged, &layer.layer, &found, |line| {
            format!("{}:{line}", layer.display)
        });
    }
    let generated = flatten_json(&values::generated(release));
    // A key under a `set` path came from that `set`, the rest from the
    // release's image, env and hosts.
    let from_set = |key: &str| {
        release
            .sets
            .iter()
            .any(|(path, _)| key == path || key.starts_with(&format!("{path}.")))
    };
    let (mapped, own): (Vec<Leaf>, Vec<Leaf>) =
        generated.into_iter().partition(|leaf| from_set(&leaf.key));
    apply(&mut merged, "stagecraft", &own, |_| {
        format!("app.toml [[releases]] {} (image, env, hosts)", release.name)
    });
    apply(&mut merged, "stagecraft", &mapped, |_| {
        format!("app.toml [[releases]] {} set", release.name)
    });
    for set in sets {
        let (key, value) = set
            .split_once('=')
            .ok_or_else(|| anyhow!("--set {set}: write KEY=VALUE"))?;
        let leaf = Leaf {
            key: key.to_owned(),
            value: scalar(value, TScalarStyle::Plain),
            line: 0,
        };
        apply(&mut merged, "--set", &[leaf], |_| format!("--set {set}"));
    }
    merged.retain(|s| !s.value.is_null());
    merged.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(merged)
}

fn relative(repo: &Repo, path: &Path) -> String {
    path.strip_prefix(&repo.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A leaf of a values document: a scalar or a list (helm replaces lists
/// whole), or an empty map; by dotted key.
#[derive(Debug, Clone, PartialEq)]
struct Leaf {
    key: String,
    value: Value,
    line: usize,
}

/// Layers `found` onto `merged`: a key replaces the same key, and a key
/// that is now a leaf drops what was below it (and the other way round).
fn apply(merged: &mut Vec<Setting>, layer: &str, found: &[Leaf], at: impl Fn(usize) -> String) {
    for leaf in found {
        let below = format!("{}.", leaf.key);
        merged.retain(|s| !s.key.starts_with(&below));
        // A leaf under a key that was itself a leaf replaces it.
        let mut parent = leaf.key.as_str();
        while let Some((up, _)) = parent.rsplit_once('.') {
            merged.retain(|s| s.key != up);
            parent = up;
        }
        let origin = Origin {
            layer: layer.to_owned(),
            at: at(leaf.line),
            value: leaf.value.clone(),
        };
        match merged.iter_mut().find(|s| s.key == leaf.key) {
            Some(setting) => {
                setting.value = leaf.value.clone();
                setting.chain.insert(0, origin);
            }
            None => merged.push(Setting {
                key: leaf.key.clone(),
                value: leaf.value.clone(),
                chain: vec![origin],
            }),
        }
    }
}

/// The leaves of a JSON value (what Stagecraft adds).
fn flatten_json(value: &Value) -> Vec<Leaf> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<Leaf>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            _ => out.push(Leaf {
                key: prefix.to_owned(),
                value: value.clone(),
                line: 0,
            }),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

/// The leaves of a YAML values file, each with its line.
fn leaves(text: &str, display: &str) -> Result<Vec<Leaf>> {
    let mut builder = Builder::default();
    Parser::new_from_str(text)
        .load(&mut builder, false)
        .map_err(|e| anyhow!("{display}: not YAML: {e}"))?;
    let Some(root) = builder.done.pop() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    root.leaves("", &mut out);
    Ok(out)
}

/// A YAML node with the line it starts on.
#[derive(Debug)]
enum Node {
    Map(Vec<(String, Node)>, usize),
    Seq(Vec<Node>, usize),
    Scalar(Value, usize),
}

impl Node {
    fn line(&self) -> usize {
        match self {
            Node::Map(_, line) | Node::Seq(_, line) | Node::Scalar(_, line) => *line,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Node::Map(entries, _) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Node::Seq(items, _) => Value::Array(items.iter().map(Node::to_json).collect()),
            Node::Scalar(value, _) => value.clone(),
        }
    }

    fn leaves(&self, prefix: &str, out: &mut Vec<Leaf>) {
        match self {
            Node::Map(entries, _) if !entries.is_empty() => {
                for (k, v) in entries {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    v.leaves(&key, out);
                }
            }
            other => out.push(Leaf {
                key: prefix.to_owned(),
                value: other.to_json(),
                line: other.line(),
            }),
        }
    }
}

/// Builds [`Node`]s from the parser's events (the first document only,
/// as helm reads a values file).
#[derive(Default)]
struct Builder {
    /// Open maps and sequences; a map's pending key.
    stack: Vec<(Node, Option<String>)>,
    anchors: Vec<(usize, Value)>,
    done: Vec<Node>,
}

impl Builder {
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.to_json()));
        }
        match self.stack.last_mut() {
            None => self.done.push(node),
            Some((Node::Seq(items, _), _)) => items.push(node),
            Some((Node::Map(entries, _), key)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => {
                    *key = Some(match &node {
                        Node::Scalar(Value::String(s), _) => s.clone(),
                        other => other.to_json().to_string(),
                    })
                }
            },
            Some((Node::Scalar(..), _)) => unreachable!("scalars are never open"),
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let line = mark.line();
        match event {
            Event::MappingStart(..) => self.stack.push((Node::Map(Vec::new(), line), None)),
            Event::SequenceStart(..) => self.stack.push((Node::Seq(Vec::new(), line), None)),
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some((node, _)) = self.stack.pop() {
                    self.push(node, 0);
                }
            }
            Event::Scalar(text, style, anchor, _) => {
                self.push(Node::Scalar(scalar(&text, style), line), anchor)
            }
            Event::Alias(id) => {
                let value = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Null);
                self.push(Node::Scalar(value, line), 0)
            }
            _ => {}
        }
    }
}

/// A scalar as helm's YAML reads it: plain `true`/`yes`/`on`, numbers and
/// `null`/`~` are typed; anything quoted is a string.
fn scalar(text: &str, style: TScalarStyle) -> Value {
    if style != TScalarStyle::Plain {
        return Value::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Value::Bool(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
            Value::Bool(false)
        }
        _ => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(found: &[Leaf]) -> Vec<(String, Value, usize)> {
        found
            .iter()
            .map(|l| (l.key.clone(), l.value.clone(), l.line))
            .collect()
    }

    #[test]
    fn leaves_carry_their_lines_and_types() {
        let text = "# comment\nreplicaCount: 3\nimage:\n  tag: \"16.4\"\n  pull: IfNotPresent\nenv: {}\nhosts:\n  - a\n  - b\nenabled: yes\nratio: 0.5\n";
        assert_eq!(
            keys(&leaves(text, "f.yaml").unwrap()),
            [
                ("replicaCount".to_owned(), Value::from(3), 2),
                ("image.tag".to_owned(), Value::from("16.4"), 4),
                ("image.pull".to_owned(), Value::from("IfNotPresent"), 5),
                ("env".to_owned(), serde_json::json!({}), 6),
                ("hosts".to_owned(), serde_json::json!(["a", "b"]), 8),
                ("enabled".to_owned(), Value::Bool(true), 10),
                ("ratio".to_owned(), Value::from(0.5), 11),
            ]
        );
        assert!(
            leaves("a: [", "bad.yaml")
                .unwrap_err()
                .to_string()
                .contains("bad.yaml")
        );
    }

    #[test]
    fn layers_merge_as_helm_merges_them() {
        let mut merged = Vec::new();
        let chart = leaves(
            "replicaCount: 1\nenv: {}\nprobes:\n  type: http\n  path: /healthz\nlist: [1, 2]\n",
            "chart",
        )
        .unwrap();
        apply(&mut merged, "chart", &chart, |l| format!("chart:{l}"));
        let stage = leaves(
            "replicaCount: 3\nenv:\n  A: x\nprobes: null\nlist: [3]\n",
            "prod",
        )
        .unwrap();
        apply(&mut merged, "prod", &stage, |l| format!("prod:{l}"));
        merged.retain(|s| !s.value.is_null());
        let find = |k: &str| merged.iter().find(|s| s.key == k);
        let replicas = find("replicaCount").unwrap();
        assert_eq!(replicas.value, Value::from(3));
        assert_eq!(
            replicas
                .chain
                .iter()
                .map(|o| o.at.as_str())
                .collect::<Vec<_>>(),
            ["prod:1", "chart:1"]
        );
        assert_eq!(find("env.A").unwrap().value, Value::from("x"));
        assert!(find("env").is_none(), "the empty map gave way to its key");
        assert!(find("probes.type").is_none(), "null removes the map");
        assert_eq!(find("list").unwrap().value, serde_json::json!([3]));
    }
}
