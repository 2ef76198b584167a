//! The app's built images into any rendered manifest, as skaffold does:
//! an image reference whose name is an image the app builds (`frontend`,
//! `frontend:v1`, `registry.example/shop/frontend:v1@sha256:...`) becomes
//! the stage's built reference. Kustomizations and manifests are rewritten
//! as they are rendered; a Helm chart's output goes through helm's
//! post-renderer, a plugin that runs this same rewrite (`__post-render`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::app::model::{BuiltImage, Release};
use stagecraft_core::process::Cmd;
use stagecraft_core::repo::Repo;

/// The hidden command helm's post-renderer runs: `__post-render
/// NAME=REFERENCE...`, manifests on stdin, rewritten on stdout.
pub const POST_RENDER: &str = "__post-render";

/// The name of the post-renderer plugin (helm 4).
const PLUGIN: &str = "stagecraft-images";

/// Whether `reference` names the image `name`: the same repository path,
/// or one that ends in `/<name>`; tag and digest aside.
pub fn names(reference: &str, name: &str) -> bool {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    // A tag is after the last `:` that comes after the last `/` (a
    // registry's port is before it).
    let slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let repository = match without_digest[slash..].rfind(':') {
        Some(colon) => &without_digest[..slash + colon],
        None => without_digest,
    };
    repository == name || repository.ends_with(&format!("/{name}"))
}

/// `stream` with every `image:` whose reference names a built image
/// replaced by its built reference; every other byte as it was.
pub fn rewrite(stream: &str, images: &[BuiltImage]) -> String {
    if images.is_empty() {
        return stream.to_owned();
    }
    let mut out = String::with_capacity(stream.len());
    for line in stream.split_inclusive('\n') {
        out.push_str(&rewrite_line(line, images).unwrap_or_else(|| line.to_owned()));
    }
    out
}

/// One `image: REF` line (YAML, `- image: REF` too) or `"image": "REF"`
/// (JSON), rewritten; None when it is no such line or names no image of
/// the app.
fn rewrite_line(line: &str, images: &[BuiltImage]) -> Option<String> {
    let (key_end, json) = match line.find("image:") {
        Some(at)
            if line[..at]
                .trim_start()
                .trim_start_matches("- ")
                .trim()
                .is_empty() =>
        {
            (at + 6, false)
        }
        _ => {
            let at = line.find("\"image\"")?;
            let colon = line[at + 7..].find(':')? + at + 7;
            line[at + 7..colon]
                .trim()
                .is_empty()
                .then_some((colon + 1, true))?
        }
    };
    let rest = &line[key_end..];
    let value_start = key_end + (rest.len() - rest.trim_start().len());
    let value_part = &line[value_start..];
    let (quote, inner) = match value_part.chars().next()? {
        q @ ('"' | '\'') => (Some(q), &value_part[1..]),
        _ => (None, value_part),
    };
    let end = match quote {
        Some(q) => inner.find(q)?,
        None => inner
            .find(|c: char| c.is_whitespace() || (json && c == ','))
            .unwrap_or(inner.len()),
    };
    let reference = &inner[..end];
    let image = images.iter().find(|i| names(reference, &i.name))?;
    if reference == image.reference {
        return None;
    }
    let offset = value_start + usize::from(quote.is_some());
    Some(format!(
        "{}{}{}",
        &line[..offset],
        image.reference,
        &line[offset + end..]
    ))
}

/// Whether a chart's output may name one of the app's images, so that
/// helm needs the post-renderer: not when the app builds none, nor when
/// the release takes its image through Stagecraft's values (`image =`);
/// a chart of the repository only when its files, its values or its
/// release name mention one (the post-renderer makes helm write its YAML
/// anew); a chart from outside always.
pub fn chart_needs(release: &Release) -> bool {
    if release.images.is_empty() || release.image.is_some() {
        return false;
    }
    let Some(dir) = release.source.local_chart() else {
        return true;
    };
    let mentions = |text: &str| release.images.iter().any(|i| text.contains(&i.name));
    release.images.iter().any(|i| i.name == release.name)
        || release.values.iter().any(|l| mentions(&l.text))
        || release.sets.iter().any(|(_, v)| mentions(v))
        || chart_mentions(dir, &mentions)
}

/// Whether a file of the chart (its templates and values) satisfies `mentions`.
fn chart_mentions(dir: &Path, mentions: &dyn Fn(&str) -> bool) -> bool {
    let mut todo = vec![dir.to_owned()];
    while let Some(folder) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                todo.push(path);
            } else if std::fs::read_to_string(&path).is_ok_and(|text| mentions(&text)) {
                return true;
            }
        }
    }
    false
}

/// `helm` with the post-renderer that rewrites the release's images, when
/// [`chart_needs`] it. helm 4 takes a plugin, found through HELM_PLUGINS
/// (ours first, the user's after it); helm 3 an executable. A dry run
/// writes no plugin.
pub fn with_post_renderer(
    repo: &Repo,
    helm: Cmd,
    release: &Release,
    helm_major: u32,
    dry_run: bool,
) -> Result<Cmd> {
    if !chart_needs(release) {
        return Ok(helm);
    }
    let images = &release.images;
    let dir = plugin_dir(repo, dry_run)?;
    let mut cmd = match helm_major {
        3 => helm
            .arg("--post-renderer")
            .arg(dir.join(PLUGIN).join("rewrite.sh")),
        _ => {
            let theirs = std::env::var_os("HELM_PLUGINS")
                .map(PathBuf::from)
                .unwrap_or_else(default_helm_plugins);
            let mut plugins = dir.clone().into_os_string();
            plugins.push(":");
            plugins.push(theirs);
            helm.args(["--post-renderer", PLUGIN])
                .env("HELM_PLUGINS", plugins)
        }
    };
    for image in images {
        cmd = cmd.arg(format!(
            "--post-renderer-args={}={}",
            image.name, image.reference
        ));
    }
    Ok(cmd)
}

/// Where helm keeps its plugins when HELM_PLUGINS is not set.
fn default_helm_plugins() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let data = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from);
    match (std::env::consts::OS, data) {
        ("macos", _) => home.join("Library/helm/plugins"),
        (_, Some(data)) => data.join("helm/plugins"),
        _ => home.join(".local/share/helm/plugins"),
    }
}

/// deps/.cache/helm-plugins/stagecraft-images: the plugin, written when
/// missing or out of date (it names this binary).
fn plugin_dir(repo: &Repo, dry_run: bool) -> Result<PathBuf> {
    let dir = repo.root.join("deps/.cache/helm-plugins");
    if dry_run {
        return Ok(dir);
    }
    let plugin = dir.join(PLUGIN);
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let script = format!(
        "#!/bin/sh\n# Written by Stagecraft: helm's post-renderer, the app's built images\n# into the chart's manifests.\nexec {} {POST_RENDER} \"$@\"\n",
        stagecraft_core::quote::posix(&exe.display().to_string())
    );
    let manifest = format!(
        "apiVersion: v1\ntype: postrenderer/v1\nname: {PLUGIN}\nversion: 1.0.0\nruntime: subprocess\nruntimeConfig:\n  platformCommand:\n    - command: ${{HELM_PLUGIN_DIR}}/rewrite.sh\n"
    );
    write_if_changed(&plugin.join("plugin.yaml"), &manifest, 0o644)?;
    write_if_changed(&plugin.join("rewrite.sh"), &script, 0o755)?;
    Ok(dir)
}

fn write_if_changed(path: &Path, text: &str, mode: u32) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().expect("in the plugin folder"))
        .with_context(|| format!("cannot create {}", path.display()))?;
    stagecraft_core::fsx::replace_file(path, text.as_bytes(), mode)
}

/// `__post-render NAME=REFERENCE...`: stdin to stdout, rewritten.
pub fn post_render(args: &[std::ffi::OsString]) -> Result<()> {
    use std::io::{Read, Write};
    let images: Vec<BuiltImage> = args
        .iter()
        .filter_map(|a| {
            let (name, reference) = a.to_str()?.split_once('=')?;
            Some(BuiltImage {
                name: name.to_owned(),
                reference: reference.to_owned(),
            })
        })
        .collect();
    let mut stream = String::new();
    std::io::stdin()
        .read_to_string(&mut stream)
        .context("cannot read the manifests on stdin")?;
    std::io::stdout()
        .write_all(rewrite(&stream, &images).as_bytes())
        .context("cannot write the manifests")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(name: &str) -> BuiltImage {
        BuiltImage {
            name: name.to_owned(),
            reference: format!("localhost:5001/{name}:3f2a1bc"),
        }
    }

    #[test]
    fn a_reference_names_an_image_by_its_last_path_segments() {
        for reference in [
            "frontend",
            "frontend:v1",
            "registry.example/shop/frontend:v1",
            "registry.example:5000/shop/frontend",
            "gcr.io/x/frontend:v0.10.3@sha256:abc",
        ] {
            assert!(names(reference, "frontend"), "{reference}");
        }
        for reference in [
            "frontend-v2",
            "myfrontend:v1",
            "registry.example/frontend2",
            "redis:alpine",
        ] {
            assert!(!names(reference, "frontend"), "{reference}");
        }
        assert!(names("registry.example/shop/cart:1", "shop/cart"));
    }

    #[test]
    fn only_image_lines_of_built_images_change() {
        let stream = "spec:\n  containers:\n  - name: web\n    image: frontend # the app\n  - image: \"redis:alpine\"\n    name: cache\n  initContainers:\n    - image: 'registry.example/shop/frontend:v1'\n---\n{\"spec\": {\"image\": \"frontend:v2\", \"x\": 1}}\nannotations:\n  note: \"image: frontend\"\n";
        let out = rewrite(stream, &[built("frontend")]);
        assert_eq!(
            out,
            "spec:\n  containers:\n  - name: web\n    image: localhost:5001/frontend:3f2a1bc # the app\n  - image: \"redis:alpine\"\n    name: cache\n  initContainers:\n    - image: 'localhost:5001/frontend:3f2a1bc'\n---\n{\"spec\": {\"image\": \"localhost:5001/frontend:3f2a1bc\", \"x\": 1}}\nannotations:\n  note: \"image: frontend\"\n"
        );
        assert_eq!(rewrite(&out, &[built("frontend")]), out, "idempotent");
    }
}
