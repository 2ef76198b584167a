//! What an existing repository holds that Stagecraft can build and deploy,
//! found as `skaffold init` finds it: skaffold.yaml's artifacts and
//! manifests, Dockerfiles, Helm charts, kustomizations (their roots, not
//! their bases and components), and folders of plain manifests.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use yaml_rust2::{Yaml, YamlLoader};

/// Folders never looked into: dependencies, builds, VCS and tool state.
const SKIPPED: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    "vendor",
    "dist",
    "build",
    "__pycache__",
    ".venv",
    "venv",
];

/// An image to build: a Dockerfile and its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub name: String,
    /// From the repository root; `.` for the root.
    pub context: String,
    /// From the context, when it is not `Dockerfile`.
    pub dockerfile: Option<String>,
    /// Where it was found: `skaffold.yaml` or the Dockerfile's path.
    pub found_in: String,
}

/// Something that deploys: a chart, a kustomization or manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    Chart {
        dir: String,
    },
    Kustomize {
        dir: String,
    },
    /// A folder (all its manifests) or a glob of skaffold's.
    Manifests {
        pattern: String,
    },
}

impl Unit {
    /// The folder or pattern, from the repository root.
    pub fn path(&self) -> &str {
        match self {
            Unit::Chart { dir } | Unit::Kustomize { dir } => dir,
            Unit::Manifests { pattern } => pattern,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Unit::Chart { .. } => "Helm chart",
            Unit::Kustomize { .. } => "kustomization",
            Unit::Manifests { .. } => "manifests",
        }
    }
}

/// What the repository holds, and what was passed over (with why).
#[derive(Debug, Default)]
pub struct Found {
    pub images: Vec<Image>,
    pub units: Vec<Unit>,
    /// The units skaffold.yaml deploys: the repository's own dev loop.
    pub skaffold_units: Vec<Unit>,
    pub skipped: Vec<(String, String)>,
}

pub fn discover(root: &Path) -> Result<Found> {
    let mut found = Found::default();
    let mut files = Vec::new();
    walk(root, root, &mut files)?;
    let rel = |p: &Path| {
        let rel = p.strip_prefix(root).unwrap_or(p).display().to_string();
        if rel.is_empty() { ".".to_owned() } else { rel }
    };
    // skaffold.yaml: its artifacts are the images, its manifests the
    // repository's own deploy.
    for file in files
        .iter()
        .filter(|f| is_named(f, &["skaffold.yaml", "skaffold.yml"]))
    {
        let dir = file.parent().unwrap_or(root);
        let text =
            fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let Ok(docs) = YamlLoader::load_from_str(&text) else {
            found.skipped.push((rel(file), "not YAML".to_owned()));
            continue;
        };
        for doc in &docs {
            skaffold_config(root, dir, &rel(file), doc, &mut found);
        }
    }
    // Dockerfiles skaffold did not name: an image named after its folder.
    for file in files.iter().filter(|f| is_dockerfile(f)) {
        let context = file.parent().unwrap_or(root);
        let dockerfile = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let known = found.images.iter().any(|i| {
            root.join(&i.context) == context
                && i.dockerfile.as_deref().unwrap_or("Dockerfile") == dockerfile
        });
        if known {
            continue;
        }
        let folder = context
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".to_owned());
        let name = dns_name(&folder);
        if found.images.iter().any(|i| i.name == name) {
            found.skipped.push((
                rel(file),
                format!("a second image named `{name}` (its folder's name)"),
            ));
            continue;
        }
        found.images.push(Image {
            name,
            context: rel(context),
            dockerfile: (dockerfile != "Dockerfile").then_some(dockerfile),
            found_in: rel(file),
        });
    }
    // Charts: a folder with Chart.yaml, not a subchart of another.
    let charts: Vec<PathBuf> = files
        .iter()
        .filter(|f| is_named(f, &["Chart.yaml"]))
        .filter_map(|f| f.parent().map(Path::to_owned))
        .collect();
    for chart in &charts {
        if charts
            .iter()
            .any(|c| c != chart && chart.starts_with(c.join("charts")))
        {
            continue;
        }
        add(&mut found.units, Unit::Chart { dir: rel(chart) });
    }
    // Kustomizations: the roots (not a base or component of another).
    let kustomizations: Vec<(PathBuf, Yaml)> = files
        .iter()
        .filter(|f| {
            is_named(
                f,
                &["kustomization.yaml", "kustomization.yml", "Kustomization"],
            )
        })
        .filter_map(|f| {
            let doc = YamlLoader::load_from_str(&fs::read_to_string(f).ok()?)
                .ok()?
                .into_iter()
                .next()?;
            Some((f.parent()?.to_owned(), doc))
        })
        .collect();
    let mut referenced = BTreeSet::new();
    for (dir, doc) in &kustomizations {
        for key in ["resources", "bases", "components"] {
            for entry in doc[key]
                .as_vec()
                .into_iter()
                .flatten()
                .filter_map(Yaml::as_str)
            {
                if let Ok(path) = dir.join(entry).canonicalize() {
                    referenced.insert(path);
                }
            }
        }
    }
    for (dir, doc) in &kustomizations {
        let component = doc["kind"].as_str() == Some("Component");
        let is_referenced = dir.canonicalize().is_ok_and(|d| referenced.contains(&d));
        if !component && !is_referenced {
            add(&mut found.units, Unit::Kustomize { dir: rel(dir) });
        }
    }
    // Folders of manifests: Kubernetes objects outside charts and
    // kustomizations (and not the tools' own files).
    let claimed = |p: &Path| {
        charts.iter().any(|c| p.starts_with(c))
            || kustomizations.iter().any(|(k, _)| p.starts_with(k))
    };
    let mut folders = BTreeSet::new();
    for file in files.iter().filter(|f| is_manifest_file(f)) {
        let folder = file.parent().unwrap_or(root);
        if claimed(folder) || folder == root {
            continue;
        }
        if fs::read_to_string(file).is_ok_and(|t| holds_objects(&t)) {
            folders.insert(folder.to_owned());
        }
    }
    for folder in folders {
        let pattern = rel(&folder);
        // Covered by skaffold's own pattern for it already.
        if found.units.iter().any(|u| matches!(u, Unit::Manifests { pattern: p } if Path::new(p).parent() == Some(Path::new(&pattern)))) {
            continue;
        }
        add(&mut found.units, Unit::Manifests { pattern });
    }
    Ok(found)
}

fn add(units: &mut Vec<Unit>, unit: Unit) {
    if !units.contains(&unit) {
        units.push(unit);
    }
}

/// One document of a skaffold.yaml: `build.artifacts`, and what
/// `deploy`/`manifests` deploy (kubectl and rawYaml manifests,
/// kustomize paths, helm chart paths).
fn skaffold_config(root: &Path, dir: &Path, file: &str, doc: &Yaml, found: &mut Found) {
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    for artifact in doc["build"]["artifacts"].as_vec().into_iter().flatten() {
        let Some(image) = artifact["image"].as_str() else {
            continue;
        };
        let context = dir.join(artifact["context"].as_str().unwrap_or("."));
        let name = image.rsplit('/').next().unwrap_or(image).to_owned();
        let dockerfile = artifact["docker"]["dockerfile"].as_str().map(str::to_owned);
        if found.images.iter().any(|i| i.name == name) {
            continue;
        }
        let context = context.components().collect::<PathBuf>();
        let context = rel(&context);
        found.images.push(Image {
            name,
            context: if context.is_empty() {
                ".".to_owned()
            } else {
                context
            },
            dockerfile: dockerfile.filter(|d| d != "Dockerfile"),
            found_in: file.to_owned(),
        });
    }
    let mut units = Vec::new();
    let manifests = doc["deploy"]["kubectl"]["manifests"]
        .as_vec()
        .into_iter()
        .chain(doc["manifests"]["rawYaml"].as_vec())
        .flatten()
        .filter_map(Yaml::as_str);
    for pattern in manifests {
        let pattern = rel(&dir.join(pattern.trim_start_matches("./")));
        // A list of files of one folder is that folder.
        let folder = Path::new(&pattern)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        units.push(Unit::Manifests {
            pattern: if folder.is_empty() { pattern } else { folder },
        });
    }
    for path in doc["manifests"]["kustomize"]["paths"]
        .as_vec()
        .into_iter()
        .chain(doc["deploy"]["kustomize"]["paths"].as_vec())
        .flatten()
        .filter_map(Yaml::as_str)
    {
        units.push(Unit::Kustomize {
            dir: rel(&dir.join(path)),
        });
    }
    for release in doc["deploy"]["helm"]["releases"]
        .as_vec()
        .into_iter()
        .chain(doc["manifests"]["helm"]["releases"].as_vec())
        .flatten()
    {
        if let Some(path) = release["chartPath"].as_str() {
            units.push(Unit::Chart {
                dir: rel(&dir.join(path)),
            });
        }
    }
    for unit in units {
        add(&mut found.units, unit.clone());
        add(&mut found.skaffold_units, unit);
    }
    for (key, what) in [
        ("profiles", "skaffold profiles"),
        ("portForward", "skaffold port-forwards"),
    ] {
        if doc[key].as_vec().is_some_and(|v| !v.is_empty()) {
            found.skipped.push((
                file.to_owned(),
                format!("{what}: stages and `app port-forward` do their work"),
            ));
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file_type = fs::symlink_metadata(&path)?.file_type();
        if file_type.is_dir() {
            let ours = path == root.join("deps")
                || path == root.join("clusters")
                || path == root.join("envs");
            if !(name.starts_with('.') || SKIPPED.contains(&name.as_str()) || ours) {
                walk(root, &path, out)?;
            }
        } else if file_type.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

fn is_named(path: &Path, names: &[&str]) -> bool {
    path.file_name()
        .is_some_and(|n| names.iter().any(|w| n == *w))
}

fn is_dockerfile(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "Dockerfile" || n.ends_with(".Dockerfile"))
}

fn is_manifest_file(path: &Path) -> bool {
    let skip = [
        "skaffold.yaml",
        "skaffold.yml",
        "Chart.yaml",
        "values.yaml",
        "kustomization.yaml",
    ];
    path.extension().is_some_and(|e| e == "yaml" || e == "yml") && !is_named(path, &skip)
}

/// Whether a YAML file holds Kubernetes objects (apiVersion, kind and a
/// name in every document that has content).
fn holds_objects(text: &str) -> bool {
    let Ok(docs) = YamlLoader::load_from_str(text) else {
        return false;
    };
    let docs: Vec<&Yaml> = docs.iter().filter(|d| !d.is_null()).collect();
    !docs.is_empty()
        && docs.iter().all(|d| {
            d["apiVersion"].as_str().is_some()
                && d["kind"].as_str().is_some()
                && d["metadata"]["name"].as_str().is_some()
        })
}

/// A DNS-1123 label from a folder's name: lowercase, `_` and `.` as `-`.
pub fn dns_name(text: &str) -> String {
    let mut name: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_matches('-');
    let name: String = name.chars().take(63).collect();
    if name.is_empty() {
        "app".to_owned()
    } else {
        name.trim_end_matches('-').to_owned()
    }
}

/// The images a unit's files name: an `image:` that names one, or a
/// value that is its name (a chart's `name: emailservice`).
pub fn images_named_by(root: &Path, unit: &Unit, images: &[Image]) -> Vec<String> {
    let texts = unit_texts(root, unit);
    images
        .iter()
        .filter(|i| {
            texts
                .iter()
                .any(|t| t.lines().any(|l| names_image(l, &i.name)))
        })
        .map(|i| i.name.clone())
        .collect()
}

fn names_image(line: &str, name: &str) -> bool {
    let Some((key, value)) = line.split_once(':') else {
        return false;
    };
    let key = key.trim().trim_start_matches('-').trim();
    let value = value.trim().trim_matches('"').trim_matches('\'');
    (key == "image" && crate::app::rewrite::names(value, name)) || value == name
}

/// The text of every file a unit deploys from: a chart's files; a
/// kustomization's and those of the folders it builds on; the manifests.
fn unit_texts(root: &Path, unit: &Unit) -> Vec<String> {
    let mut files = Vec::new();
    match unit {
        Unit::Chart { dir } => {
            let _ = walk(root, &root.join(dir), &mut files);
        }
        Unit::Kustomize { dir } => {
            let mut todo = vec![root.join(dir)];
            let mut seen = BTreeSet::new();
            while let Some(folder) = todo.pop() {
                if !seen.insert(folder.clone()) {
                    continue;
                }
                let _ = walk(root, &folder, &mut files);
                for name in ["kustomization.yaml", "kustomization.yml", "Kustomization"] {
                    let Ok(text) = fs::read_to_string(folder.join(name)) else {
                        continue;
                    };
                    let Some(doc) = YamlLoader::load_from_str(&text)
                        .ok()
                        .and_then(|d| d.into_iter().next())
                    else {
                        continue;
                    };
                    for key in ["resources", "bases", "components"] {
                        for entry in doc[key]
                            .as_vec()
                            .into_iter()
                            .flatten()
                            .filter_map(Yaml::as_str)
                        {
                            let path = folder.join(entry);
                            if path.is_dir() {
                                todo.push(path);
                            }
                        }
                    }
                }
            }
        }
        Unit::Manifests { pattern } => {
            let path = root.join(pattern);
            if path.is_dir() {
                let _ = walk(root, &path, &mut files);
            } else if let Ok(paths) = glob::glob(&format!(
                "{}/{pattern}",
                glob::Pattern::escape(&root.display().to_string())
            )) {
                files.extend(paths.flatten());
            }
        }
    }
    files
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_become_dns_names() {
        assert_eq!(dns_name("Kubernetes_Manifests"), "kubernetes-manifests");
        assert_eq!(dns_name("helm-chart"), "helm-chart");
        assert_eq!(dns_name("..weird..name.."), "weird-name");
        assert_eq!(dns_name("___"), "app");
    }

    #[test]
    fn objects_are_told_from_other_yaml() {
        assert!(holds_objects(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n"
        ));
        assert!(!holds_objects("name: values\nimage: x\n"));
        assert!(!holds_objects(
            "apiVersion: skaffold/v4beta11\nkind: Config\n"
        ));
    }
}
