//! Where a release's manifests come from: a Helm chart (a folder of the
//! repository, a chart repository, an OCI registry), a kustomization, or a
//! folder of plain manifests. Each is checked at its app.toml line.

use std::path::{Path, PathBuf};

use anyhow::Result;

use stagecraft_core::config::{AppToml, Loaded, ReleaseToml};
use stagecraft_core::stage::environment::StageEnv;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A chart folder of the repository (absolute).
    Chart { dir: PathBuf },
    /// A chart of a chart repository, fetched by Stagecraft (no `helm repo
    /// add`) and pinned by sha256 in deps/charts.lock.
    Repo {
        url: String,
        chart: String,
        version: String,
    },
    /// A chart in an OCI registry, pinned by digest in deps/charts.lock.
    Oci { reference: String, version: String },
    /// A folder with a kustomization, rendered by the pinned kubectl.
    Kustomize { dir: PathBuf },
    /// Plain manifests: the files a folder or a glob names, in order.
    Manifests { files: Vec<PathBuf> },
}

impl Source {
    /// A Helm release (helm installs it and keeps its record); otherwise
    /// Stagecraft applies the manifests and keeps an inventory.
    pub fn is_helm(&self) -> bool {
        matches!(
            self,
            Source::Chart { .. } | Source::Repo { .. } | Source::Oci { .. }
        )
    }

    /// What it is, for messages and `list`: `chart comm/charts/service`,
    /// `kustomize deploy/overlays/local`.
    pub fn describe(&self, root: &Path) -> String {
        let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
        match self {
            Source::Chart { dir } => format!("chart {}", rel(dir)),
            Source::Repo {
                url,
                chart,
                version,
            } => format!("chart {chart} {version} from {url}"),
            Source::Oci { reference, version } => format!("chart {reference} {version}"),
            Source::Kustomize { dir } => format!("kustomize {}", rel(dir)),
            Source::Manifests { files } => format!("{} manifest file(s)", files.len()),
        }
    }

    /// The chart folder of a chart in the repository.
    pub fn local_chart(&self) -> Option<&Path> {
        match self {
            Source::Chart { dir } => Some(dir),
            _ => None,
        }
    }
}

pub use stagecraft_core::config::resolve_app_path as resolve_path;

/// The release's source, its paths filled from the stage environment
/// (`kustomize = "deploy/overlays/${XTASK_STAGE}"`) and checked.
pub fn of(
    file: &Loaded<AppToml>,
    release: &ReleaseToml,
    root: &Path,
    app_dir: &Path,
    env: &StageEnv,
) -> Result<Source> {
    let name = release.name.get_ref();
    let given: Vec<&str> = [
        release.chart.as_ref().map(|_| "chart"),
        release.kustomize.as_ref().map(|_| "kustomize"),
        release.manifests.as_ref().map(|_| "manifests"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() != 1 {
        return Err(file.error_at(
            &release.name.span(),
            format!(
                "release {name} needs exactly one of `chart`, `kustomize` and `manifests`{}\n  hint: `chart = \"path/to/chart\"` (a folder with a Chart.yaml), `kustomize = \"deploy/overlays/local\"` or `manifests = \"deploy/k8s\"` (docs/apps.md)",
                match given.len() {
                    0 => String::new(),
                    _ => format!(" (it has {})", given.join(" and ")),
                }
            ),
        ));
    }
    let expand = |spanned: &toml::Spanned<String>, what: &str| {
        env.expand(spanned.get_ref())
            .map_err(|e| file.error_at(&spanned.span(), format!("`{what}` of {name}: {e}")))
    };
    if let Some(dir) = &release.kustomize {
        let path = resolve_path(root, app_dir, &expand(dir, "kustomize")?);
        let found = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
            .iter()
            .any(|f| path.join(f).is_file());
        if !found {
            return Err(file.error_at(
                &dir.span(),
                format!(
                    "`kustomize` of {name}: no kustomization.yaml in {}\n  hint: name the folder that holds the kustomization (from the repository root, or ./ from the app folder)",
                    path.display()
                ),
            ));
        }
        return Ok(Source::Kustomize { dir: path });
    }
    if let Some(pattern) = &release.manifests {
        let text = expand(pattern, "manifests")?;
        let files = manifest_files(root, app_dir, &text)
            .map_err(|e| file.error_at(&pattern.span(), format!("`manifests` of {name}: {e}")))?;
        return Ok(Source::Manifests { files });
    }
    let chart = release.chart.as_ref().expect("one of the three is given");
    let text = chart.get_ref();
    let version = release.version.clone();
    if let Some(repo) = &release.repo {
        let url = repo.get_ref().trim_end_matches('/').to_owned();
        if !(url.starts_with("https://")
            || url.starts_with("http://")
            || url.starts_with("file://"))
        {
            return Err(file.error_at(
                &repo.span(),
                format!("`repo` of {name}: `{url}` is not a chart repository's URL\n  hint: `repo = \"https://charts.example.com\"`; an OCI chart goes in `chart = \"oci://...\"`"),
            ));
        }
        let Some(version) = version else {
            return Err(file.error_at(
                &chart.span(),
                format!(
                    "chart `{text}` of {name} comes from {url}: pin it with `version = \"...\"`"
                ),
            ));
        };
        return Ok(Source::Repo {
            url,
            chart: text.clone(),
            version,
        });
    }
    if text.starts_with("oci://") {
        let Some(version) = version else {
            return Err(file.error_at(
                &chart.span(),
                format!("chart `{text}` of {name} comes from a registry: pin it with `version = \"...\"`"),
            ));
        };
        return Ok(Source::Oci {
            reference: text.clone(),
            version,
        });
    }
    let dir = resolve_path(root, app_dir, text);
    if !dir.join("Chart.yaml").is_file() {
        return Err(file.error_at(
            &chart.span(),
            format!(
                "chart `{text}` of {name}: no Chart.yaml in {}\n  hint: a chart folder is named from the repository root (or ./ from the app folder); a chart of a chart repository needs `repo = \"https://...\"` and `version`",
                dir.display()
            ),
        ));
    }
    Ok(Source::Chart { dir })
}

/// The manifest files a `manifests` entry names: a folder's `.yaml`,
/// `.yml` and `.json` files, or the files a glob matches; sorted; at
/// least one.
fn manifest_files(root: &Path, app_dir: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let path = resolve_path(root, app_dir, pattern);
    let is_manifest = |p: &Path| {
        p.is_file()
            && p.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
    };
    let mut files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(&path)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_manifest(p))
            .collect()
    } else {
        // The pattern from its base folder, which itself is no pattern.
        let base = match pattern == "." || pattern.starts_with("./") || pattern.starts_with("../") {
            true => app_dir,
            false => root,
        };
        let full = format!(
            "{}/{}",
            glob::Pattern::escape(&base.display().to_string()),
            pattern
        );
        glob::glob(&full)
            .map_err(|e| anyhow::anyhow!("`{pattern}` is not a valid pattern: {}", e.msg))?
            .filter_map(|p| p.ok())
            .filter(|p| is_manifest(p))
            .collect()
    };
    files.sort();
    if files.is_empty() {
        anyhow::bail!(
            "`{pattern}` names no manifest file (.yaml, .yml or .json) in {}\n  hint: name a folder of manifests, or a glob such as `deploy/k8s/*.yaml`",
            path.display()
        );
    }
    Ok(files)
}
