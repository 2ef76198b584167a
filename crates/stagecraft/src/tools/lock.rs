//! `deps lock`: the official checksum files of every platform, fetched at
//! once, written into deps/deps.toml with every comment kept. The new text
//! is checked before it replaces the file, under the folder's lock.

use anyhow::{Context, Result};

use super::{DEPS_FILE, PLATFORMS, Pins, expand};
use crate::download::{self, Client};
use crate::tomlx::set_keeping_decor;
use stagecraft_core::repo::Repo;

/// One pinned checksum.
pub struct Pin {
    pub tool: String,
    pub version: String,
    pub platform: &'static str,
    pub sha256: String,
}

/// The checksums of `names` (at `version` when given) for `platforms`,
/// fetched in parallel from each tool's `checksum_url`, with the platform
/// each is for. A checksum file may hold the bare hex or `hex  filename`
/// lines.
pub fn fetch(
    pins: &Pins,
    client: &Client,
    names: &[String],
    version: Option<&str>,
    platforms: &[&'static str],
) -> Vec<(&'static str, Result<Pin>)> {
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
                let fetched = scope.spawn(move || {
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
                });
                (platform, fetched)
            })
            .collect();
        handles
            .into_iter()
            .map(|(platform, h)| (platform, h.join().expect("a lock thread panicked")))
            .collect()
    })
}

/// The tools among `names` with no sha256 for `platform`.
pub fn unpinned(pins: &Pins, names: &[String], platform: &str) -> Vec<String> {
    names
        .iter()
        .filter(|name| {
            pins.get(name)
                .is_ok_and(|pin| pin.sha256_for(platform).is_none())
        })
        .cloned()
        .collect()
}

/// Under `--locked` (and in CI), every unpinned tool at once.
pub fn locked_error(unpinned: &[String], platform: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{DEPS_FILE} pins no sha256 for {platform} of: {}; --locked (or CI) installs only what is committed\n  hint: run `cargo xtask deps lock {}` with network access and commit {DEPS_FILE}",
        unpinned.join(", "),
        unpinned.join(" ")
    )
}

/// Pins `tools` on first use: their official checksum files, fetched over
/// the same (mirror-aware) path as the downloads, written into deps.toml.
/// This machine's platform must be there; the others are pinned when their
/// files are there too (each failure only a warning). `pinned` hears of
/// each value written, with the URL it came from.
pub fn pin_first_use(
    repo: &Repo,
    pins: &Pins,
    client: &Client,
    tools: &[String],
    platform: &'static str,
    pinned: &dyn Fn(&Pin, &str),
) -> Result<()> {
    let mut found = Vec::new();
    for (for_platform, result) in fetch(pins, client, tools, None, all_platforms()) {
        match result {
            Ok(pin) => found.push(pin),
            Err(e) if for_platform != platform => {
                stagecraft_core::ui::warn(&format!("{e:#}"));
            }
            Err(e) => {
                return Err(e.context(format!(
                    "cannot pin it on first use\n  hint: run `cargo xtask deps lock` where the official checksum files can be reached, or set {DEPS_FILE} by hand"
                )));
            }
        }
    }
    write(repo, &found, false)?;
    for pin in &found {
        let tool = pins.get(&pin.tool)?;
        let url = client.locate(&expand(&tool.checksum_url, &pin.version, pin.platform));
        pinned(pin, &url);
    }
    Ok(())
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
    stagecraft_core::fsx::edit(&path, 0o644, change)
}
