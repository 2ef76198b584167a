//! What `cluster bootstrap` installs into kind clusters (the Gateway API
//! CRDs, the gateway controller's chart), pinned in deps/deps.toml
//! `[addons.<name>]` like the tools: fetched through the same mirror-aware
//! client, checked against the sha256 before anything is applied, kept in
//! `deps/.cache/addons/`. Without a committed sha256 it is pinned on first use
//! (never with `--locked` or in CI).

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use toml::Spanned;

use super::{DEPS_FILE, Pins};
use crate::download::{self, Client};
use stagecraft_core::fsx::TempFile;
use stagecraft_core::repo::Repo;

/// The Gateway API CRDs (standard channel).
pub const GATEWAY_API: &str = "gateway-api";
/// The Gateway API implementation for kind clusters.
pub const TRAEFIK: &str = "traefik";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddonPin {
    pub version: String,
    /// With `{version}`.
    pub url: String,
    /// Where the official sha256 is: a checksum file, or a Helm chart
    /// repository's `index.yaml` (the chart's `digest`). None: the sha256
    /// of the bytes as first fetched (trust on first use, as `deps lock`).
    pub checksum_url: Option<String>,
    pub sha256: Option<Spanned<String>>,
}

impl AddonPin {
    pub fn url(&self) -> String {
        self.url.replace("{version}", &self.version)
    }
}

/// A verified copy of an addon.
pub struct Addon {
    pub version: String,
    pub path: PathBuf,
    pub sha256: String,
}

/// With `--locked` (or CI): every addon bootstrap installs has a committed
/// sha256, checked before anything is downloaded.
pub fn check_locked(pins: &Pins) -> Result<()> {
    for name in [GATEWAY_API, TRAEFIK] {
        if pins.addon(name)?.sha256.is_none() {
            let url = pins.addon(name)?.url();
            bail!(
                "{DEPS_FILE} pins no sha256 for addons.{name} (--locked, or CI)\n  hint: run `cargo xtask cluster bootstrap` once where {url} can be reached, and commit {DEPS_FILE}"
            );
        }
    }
    Ok(())
}

/// Where the verified copy of an addon is kept.
fn cached_path(repo: &Repo, name: &str, pin: &AddonPin) -> PathBuf {
    let url = pin.url();
    let file_name = url.rsplit('/').next().unwrap_or(name);
    repo.root
        .join("deps/.cache/addons")
        .join(format!("{name}-{}-{file_name}", pin.version))
}

/// `deps check` of an addon: pinned, and its copy (when fetched) as pinned.
/// `Missing` means not fetched yet: `cluster bootstrap` fetches it.
pub fn status(repo: &Repo, pins: &Pins, name: &str) -> Result<super::Status> {
    let pin = pins.addon(name)?;
    let Some(expected) = &pin.sha256 else {
        return Ok(super::Status::Unpinned);
    };
    Ok(match fs::read(cached_path(repo, name, pin)) {
        Err(_) => super::Status::Missing,
        Ok(bytes) if crate::sha::sha256_hex(&bytes) == *expected.get_ref() => {
            super::Status::UpToDate
        }
        Ok(_) => super::Status::Modified,
    })
}

/// The addon `name`, verified, from deps/.cache/addons or downloaded. A dry run
/// downloads nothing and writes nothing: it says what it would fetch.
pub fn fetch(repo: &Repo, pins: &Pins, name: &str, locked: bool, dry_run: bool) -> Result<Addon> {
    let pin = pins.addon(name)?;
    let url = pin.url();
    let path = cached_path(repo, name, pin);
    let pinned = pin.sha256.as_ref().map(|s| s.get_ref().clone());
    let addon = |sha256: String| Addon {
        version: pin.version.clone(),
        path: path.clone(),
        sha256,
    };
    if let Some(expected) = &pinned
        && fs::read(&path).is_ok_and(|bytes| &crate::sha::sha256_hex(&bytes) == expected)
    {
        return Ok(addon(expected.clone()));
    }
    if pinned.is_none() && locked {
        check_locked(pins)?;
    }
    let client = Client::for_repo(repo);
    if dry_run {
        stagecraft_core::outln!(
            "# fetch {} into {} (sha256 {})",
            client.locate(&url),
            path.display(),
            pinned.as_deref().unwrap_or("pinned on first use")
        );
        return Ok(addon(pinned.unwrap_or_default()));
    }
    let official = match (&pinned, &pin.checksum_url) {
        (Some(_), _) | (None, None) => None,
        (None, Some(checksum_url)) => Some(official_sha256(&client, name, pin, checksum_url)?),
    };
    let dir = path.parent().expect("in deps/.cache/addons");
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let temp = TempFile::new_in(dir, name)?;
    let fetched = client
        .fetch_to(&url, temp.path(), &|_| {})
        .with_context(|| format!("cannot fetch addons.{name} {}", pin.version))?;
    let expected = pinned
        .clone()
        .or(official)
        .unwrap_or(fetched.sha256.clone());
    if fetched.sha256 != expected {
        bail!(
            "checksum mismatch for addons.{name} {}: {} has sha256 {}, {DEPS_FILE} pins {expected}\n  hint: nothing was applied; check the mirror or proxy, or pin the new sha256 if the release really changed",
            pin.version,
            client.locate(&url),
            fetched.sha256
        );
    }
    temp.persist(&path)?;
    if pinned.is_none() {
        write_pin(repo, name, &expected)?;
        stagecraft_core::ui::warn(&format!(
            "pinned addons.{name} {} in {DEPS_FILE} (sha256 {expected}, from {}): commit it",
            pin.version,
            pin.checksum_url
                .as_deref()
                .map_or_else(|| "the download itself".to_owned(), |c| client.locate(c))
        ));
    }
    Ok(addon(expected))
}

/// The sha256 the project publishes: a chart repository's index.yaml has
/// a `digest` per chart version; anything else is a checksum file.
fn official_sha256(client: &Client, name: &str, pin: &AddonPin, url: &str) -> Result<String> {
    let text = client
        .fetch_text(url)
        .with_context(|| format!("cannot fetch the checksum of addons.{name}"))?;
    let found = if url.ends_with("index.yaml") {
        chart_digest(&text, &pin.version)
    } else {
        download::parse_checksum(&text)
    };
    found.ok_or_else(|| {
        anyhow!(
            "{} has no sha256 for {name} {}",
            client.locate(url),
            pin.version
        )
    })
}

/// The `digest` of the chart `version` in a Helm repository index.
fn chart_digest(index: &str, version: &str) -> Option<String> {
    let docs = yaml_rust2::YamlLoader::load_from_str(index).ok()?;
    let entries = docs.first()?["entries"].as_hash()?;
    entries.values().find_map(|charts| {
        charts.as_vec()?.iter().find_map(|chart| {
            (chart["version"].as_str()? == version)
                .then(|| chart["digest"].as_str().map(str::to_owned))
                .flatten()
        })
    })
}

/// Writes `sha256` into `[addons.<name>]` (comments kept, locked, atomic).
fn write_pin(repo: &Repo, name: &str, sha256: &str) -> Result<()> {
    let path = repo.root.join(DEPS_FILE);
    stagecraft_core::fsx::edit(&path, 0o644, |text| {
        let mut doc: toml_edit::DocumentMut = text
            .parse()
            .with_context(|| format!("cannot parse {DEPS_FILE}"))?;
        let table = doc["addons"][name]
            .as_table_like_mut()
            .with_context(|| format!("{DEPS_FILE}: [addons.{name}] is not a table"))?;
        table.insert("sha256", toml_edit::value(sha256));
        let new_text = doc.to_string();
        Pins::parse(&new_text).context("the new deps.toml would not load; it was not written")?;
        Ok(Some(new_text))
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::chart_digest;

    #[test]
    fn the_digest_of_a_chart_version_is_read_off_the_repository_index() {
        let index = "apiVersion: v1\nentries:\n  traefik:\n  - version: 37.3.0\n    digest: aaa\n  - version: 37.2.0\n    digest: bbb\n";
        assert_eq!(chart_digest(index, "37.2.0").as_deref(), Some("bbb"));
        assert_eq!(chart_digest(index, "1.0.0"), None);
    }
}
