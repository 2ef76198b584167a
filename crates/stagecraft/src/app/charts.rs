//! Charts from outside the repository: a chart repository's (its
//! index.yaml names the tarball) or an OCI registry's (`helm pull`). Each
//! is fetched into deps/.cache/charts/ and pinned by the tarball's sha256
//! in deps/charts.lock on first use (never with `--locked` or on CI), then
//! verified on every use: a changed tarball is refused before helm runs.
//! helm gets the verified tarball, so no `helm repo add` is ever needed.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

use crate::app::source::Source;
use crate::download::Client;
use crate::tools::toolbox::Toolbox;
use stagecraft_core::fsx::{self, TempFile};
use stagecraft_core::repo::Repo;

pub const LOCK_FILE: &str = "deps/charts.lock";

const LOCK_HEADER: &str =
    "# Charts from chart repositories and OCI registries, pinned by the sha256
# of their tarball when first fetched (`app render`, `app deploy`, `up`):
# commit this file. --locked and CI only use what it pins.
";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Lock {
    #[serde(default)]
    chart: Vec<Pinned>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pinned {
    /// The repository's URL, or the `oci://` reference.
    source: String,
    name: String,
    version: String,
    sha256: String,
    /// OCI: the manifest digest helm reported when it pulled the chart.
    digest: Option<String>,
}

impl Lock {
    fn load(repo: &Repo) -> Result<Lock> {
        let path = repo.root.join(LOCK_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                anyhow!(
                    "{LOCK_FILE}: {e}\n  hint: fix the entry, or remove it to pin the chart again"
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {LOCK_FILE}")),
        }
    }

    fn find(&self, source: &str, name: &str, version: &str) -> Option<&Pinned> {
        self.chart
            .iter()
            .find(|p| p.source == source && p.name == name && p.version == version)
    }
}

/// What helm gets for a chart source: the chart folder, or the verified
/// tarball of a repository's or registry's chart. A dry run says what it
/// would fetch and fetches nothing.
pub fn chart_arg(
    repo: &Repo,
    tools: &Toolbox,
    source: &Source,
    locked: bool,
    dry_run: bool,
) -> Result<String> {
    let (origin, name, version) = match source {
        Source::Chart { dir } => return Ok(dir.display().to_string()),
        Source::Repo {
            url,
            chart,
            version,
        } => (url.as_str(), chart.as_str(), version.as_str()),
        Source::Oci { reference, version } => {
            let name = reference.rsplit('/').next().unwrap_or(reference);
            (reference.as_str(), name, version.as_str())
        }
        Source::Kustomize { .. } | Source::Manifests { .. } => {
            bail!("a kustomization or manifests have no chart")
        }
    };
    let lock = Lock::load(repo)?;
    let pinned = lock.find(origin, name, version).cloned();
    let path = cached_path(repo, origin, name, version);
    if let Some(pin) = &pinned
        && fs::read(&path).is_ok_and(|bytes| crate::sha::sha256_hex(&bytes) == pin.sha256)
    {
        return Ok(path.display().to_string());
    }
    if pinned.is_none() && locked {
        bail!(
            "{LOCK_FILE} pins no sha256 for chart {name} {version} from {origin} (--locked, or CI)\n  hint: run `cargo xtask app render` of the app once where {origin} can be reached, and commit {LOCK_FILE}"
        );
    }
    if dry_run {
        stagecraft_core::outln!(
            "# fetch chart {name} {version} from {origin} into {} (sha256 {})",
            path.display(),
            pinned
                .as_ref()
                .map_or("pinned on first use", |p| p.sha256.as_str())
        );
        return Ok(path.display().to_string());
    }
    let dir = path.parent().expect("in deps/.cache/charts");
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (fetched, official, digest) = match source {
        Source::Repo { url, .. } => fetch_from_repository(repo, url, name, version, dir)?,
        _ => pull_from_registry(tools, origin, version, dir)?,
    };
    let expected = pinned
        .as_ref()
        .map(|p| p.sha256.clone())
        .or(official)
        .unwrap_or_else(|| fetched.1.clone());
    if let (Some(pinned), Some(now)) = (
        pinned.as_ref().and_then(|p| p.digest.as_deref()),
        digest.as_deref(),
    ) && pinned != now
    {
        bail!(
            "digest mismatch for chart {name} {version} from {origin}: the registry has {now}, {LOCK_FILE} pins {pinned}\n  hint: nothing was rendered or deployed; a published chart version should never change"
        );
    }
    if fetched.1 != expected {
        bail!(
            "checksum mismatch for chart {name} {version} from {origin}: the tarball has sha256 {}, {} {expected}\n  hint: nothing was rendered or deployed; a published chart version should never change: check the repository (or mirror), and if the change is intended, remove its entry from {LOCK_FILE} to pin it again",
            fetched.1,
            match pinned {
                Some(_) => format!("{LOCK_FILE} pins"),
                None => "its repository's index.yaml says".to_owned(),
            }
        );
    }
    fetched.0.persist(&path)?;
    if pinned.is_none() {
        write_pin(repo, origin, name, version, &expected, digest.as_deref())?;
        stagecraft_core::ui::warn(&format!(
            "pinned chart {name} {version} from {origin} in {LOCK_FILE} (sha256 {expected}): commit it"
        ));
    }
    Ok(path.display().to_string())
}

/// `deps/.cache/charts/<name>-<version>-<12 hex of the source>.tgz`.
fn cached_path(repo: &Repo, origin: &str, name: &str, version: &str) -> PathBuf {
    let tag = &crate::sha::sha256_hex(origin.as_bytes())[..12];
    repo.root
        .join("deps/.cache/charts")
        .join(format!("{name}-{version}-{tag}.tgz"))
}

type Fetched = ((TempFile, String), Option<String>, Option<String>);

/// The tarball the repository's index.yaml names for `name` `version`,
/// and the index's `digest` of it.
fn fetch_from_repository(
    repo: &Repo,
    url: &str,
    name: &str,
    version: &str,
    dir: &Path,
) -> Result<Fetched> {
    let client = Client::for_repo(repo);
    let index_url = format!("{url}/index.yaml");
    let index = client
        .fetch_text(&index_url)
        .with_context(|| format!("cannot read the index of the chart repository {url}"))?;
    let (tarball, digest) = index_entry(&index, name, version).ok_or_else(|| {
        anyhow!(
            "{} has no chart {name} version {version}\n  hint: check `chart` and `version` against the repository (`helm search repo` lists them)",
            client.locate(&index_url)
        )
    })?;
    let tarball = if tarball.contains("://") {
        tarball
    } else {
        format!("{url}/{}", tarball.trim_start_matches('/'))
    };
    let temp = TempFile::new_in(dir, name)?;
    let fetched = client
        .fetch_to(&tarball, temp.path(), &|_| {})
        .with_context(|| format!("cannot fetch chart {name} {version}"))?;
    Ok(((temp, fetched.sha256), digest, None))
}

/// `helm pull` of an OCI chart into a private folder: the tarball, and
/// the manifest digest helm reports.
fn pull_from_registry(
    tools: &Toolbox,
    reference: &str,
    version: &str,
    dir: &Path,
) -> Result<Fetched> {
    let work = fsx::private_temp_dir("stagecraft-pull")?;
    let out = tools
        .cmd(crate::tools::toolbox::Tool::Helm)
        .args(["pull", reference, "--version", version, "--destination"])
        .arg(work.path())
        .no_stdin()
        .read()
        .with_context(|| format!("cannot pull chart {reference} {version}"))?;
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .map(|d| d.trim().to_owned());
    let tarball = fs::read_dir(work.path())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "tgz"))
        .ok_or_else(|| anyhow!("helm pull {reference} {version} wrote no chart tarball"))?;
    let bytes = fs::read(&tarball)?;
    let sha256 = crate::sha::sha256_hex(&bytes);
    let mut temp = TempFile::new_in(dir, "oci")?;
    std::io::Write::write_all(temp.file(), &bytes)?;
    Ok(((temp, sha256), None, digest))
}

/// The first URL and the digest of chart `name` `version` in a
/// repository's index.yaml.
fn index_entry(index: &str, name: &str, version: &str) -> Option<(String, Option<String>)> {
    let docs = yaml_rust2::YamlLoader::load_from_str(index).ok()?;
    let versions = docs.first()?["entries"][name].as_vec()?;
    versions.iter().find_map(|v| {
        (v["version"].as_str()? == version).then(|| {
            let url = v["urls"][0].as_str()?.to_owned();
            Some((url, v["digest"].as_str().map(str::to_owned)))
        })?
    })
}

/// Adds an entry to deps/charts.lock (locked, atomic).
fn write_pin(
    repo: &Repo,
    origin: &str,
    name: &str,
    version: &str,
    sha256: &str,
    digest: Option<&str>,
) -> Result<()> {
    let path = repo.root.join(LOCK_FILE);
    fsx::edit(&path, 0o644, |old| {
        let mut text = if old.trim().is_empty() {
            LOCK_HEADER.to_owned()
        } else {
            old.to_owned()
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let quote = |s: &str| toml_edit::Value::from(s).to_string().trim().to_owned();
        text.push_str(&format!(
            "\n[[chart]]\nsource = {}\nname = {}\nversion = {}\nsha256 = {}\n",
            quote(origin),
            quote(name),
            quote(version),
            quote(sha256)
        ));
        if let Some(digest) = digest {
            text.push_str(&format!("digest = {}\n", quote(digest)));
        }
        toml::from_str::<Lock>(&text)
            .context("the new charts.lock would not load; it was not written")?;
        Ok(Some(text))
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::index_entry;

    #[test]
    fn a_chart_version_is_found_with_its_url_and_digest() {
        let index = "apiVersion: v1\nentries:\n  web:\n  - version: 1.2.0\n    urls: [web-1.2.0.tgz]\n    digest: aaa\n  - version: 1.1.0\n    urls: [https://x/web-1.1.0.tgz]\n";
        assert_eq!(
            index_entry(index, "web", "1.2.0"),
            Some(("web-1.2.0.tgz".to_owned(), Some("aaa".to_owned())))
        );
        assert_eq!(
            index_entry(index, "web", "1.1.0"),
            Some(("https://x/web-1.1.0.tgz".to_owned(), None))
        );
        assert_eq!(index_entry(index, "web", "9.9.9"), None);
        assert_eq!(index_entry(index, "other", "1.2.0"), None);
    }
}
