//! `deps lock`: the official checksum files of every platform, fetched at
//! once, written into deps/deps.toml with every comment kept. The new text
//! is checked before it replaces the file, under the folder's lock.

use anyhow::{Context, Result};

use super::{DEPS_FILE, PLATFORMS, Pins, expand};
use crate::download::{self, Client};
use crate::repo::Repo;
use crate::tomlx::set_keeping_decor;

/// One pinned checksum.
pub struct Pin {
    pub tool: String,
    pub version: String,
    pub platform: &'static str,
    pub sha256: String,
}

/// The checksums of `names` (at `version` when given) for `platforms`,
/// fetched in parallel from each tool's `checksum_url`. A checksum file
/// may hold the bare hex or `hex  filename` lines.
pub fn fetch(
    pins: &Pins,
    client: &Client,
    names: &[String],
    version: Option<&str>,
    platforms: &[&'static str],
) -> Vec<Result<Pin>> {
    let jobs: Vec<(String, String, &'static str, String)> = names
        .iter()
        .flat_map(|name| {
            let pin = pins.get(name).expect("selected");
            let version = version.unwrap_or(&pin.version).to_owned();
            platforms.iter().map(move |platform| {
                let url = expand(&pin.checksum_url, &version, platform);
                (name.clone(), version.clone(), *platform, url)
            })
        })
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|(tool, version, platform, url)| {
                scope.spawn(move || {
                    let text = client.fetch_text(&url).with_context(|| {
                        format!("{tool} {version} {platform}: cannot fetch the checksum file")
                    })?;
                    let sha256 = download::parse_checksum(&text).with_context(|| {
                        format!(
                            "{tool} {version} {platform}: no sha256 in {}",
                            client.locate(&url)
                        )
                    })?;
                    Ok(Pin {
                        tool,
                        version,
                        platform,
                        sha256,
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a lock thread panicked"))
            .collect()
    })
}

/// All four platforms.
pub fn all_platforms() -> &'static [&'static str] {
    &PLATFORMS
}

/// Writes `pins` into deps/deps.toml (comments and layout kept); the new
/// text must load before it replaces the file. Returns whether it changed.
pub fn write(repo: &Repo, pins: &[Pin], dry_run: bool) -> Result<bool> {
    let path = repo.root.join(DEPS_FILE);
    let change = |text: &str| -> Result<Option<String>> {
        let mut doc: toml_edit::DocumentMut = text
            .parse()
            .with_context(|| format!("cannot parse {DEPS_FILE}"))?;
        for pin in pins {
            let tool = doc["tools"][pin.tool.as_str()]
                .as_table_like_mut()
                .with_context(|| format!("{DEPS_FILE}: [tools.{}] is not a table", pin.tool))?;
            set_keeping_decor(tool, "version", pin.version.as_str().into());
            if tool.get("sha256").is_none() {
                tool.insert("sha256", toml_edit::Item::Table(toml_edit::Table::new()));
            }
            let sha = tool
                .get_mut("sha256")
                .and_then(|item| item.as_table_like_mut())
                .with_context(|| {
                    format!("{DEPS_FILE}: tools.{}.sha256 is not a table", pin.tool)
                })?;
            set_keeping_decor(sha, pin.platform, pin.sha256.as_str().into());
        }
        let new_text = doc.to_string();
        Pins::parse(&new_text).context("the new deps.toml would not load; it was not written")?;
        Ok((!dry_run).then_some(new_text))
    };
    crate::fsx::edit(&path, 0o644, change)
}
