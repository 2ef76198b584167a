//! `init repo`: an existing git repository adopted as it is. Stagecraft's
//! own files are added (shell.toml, envs/, the cluster's files and an app
//! per chart, kustomization or folder of manifests found, deps/ with the
//! pins); no existing file is changed. What was found, mapped and left out
//! is reported with why.

pub mod discover;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use discover::{Found, Image, Unit};
use stagecraft_core::process::Cmd;

/// The pins the installed program carries: this repository's own.
const DEPS_TOML: &str = include_str!("../../../../deps/deps.toml");

/// What Stagecraft writes under deps/: never committed.
const DEPS_GITIGNORE: &str =
    "# What Stagecraft writes here: pinned tools, kubeconfigs, the local CA,
# downloads. deps.toml and charts.lock are committed; the rest never is.
/bin/
/kube/
/ca/
/.cache/
/installed.toml
/.lock
";

pub struct Options {
    /// Where the command runs: in the repository (its top is adopted).
    pub cwd: PathBuf,
    /// The cluster's name (default: the repository folder's).
    pub cluster: Option<String>,
    pub dry_run: bool,
}

/// One app init writes.
#[derive(Debug, Serialize)]
pub struct AdoptedApp {
    pub name: String,
    /// `Helm chart helm-chart`
    pub from: String,
    pub images: Vec<String>,
    pub enabled: bool,
    /// Why it is off, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off_because: Option<String>,
}

/// What init found, mapped, left out and wrote.
#[derive(Debug, Serialize)]
pub struct Report {
    pub root: String,
    pub cluster: String,
    pub images: Vec<String>,
    pub apps: Vec<AdoptedApp>,
    /// Path, and why it was left out.
    pub left_out: Vec<(String, String)>,
    pub files: Vec<String>,
}

/// Adopts the repository `options.cwd` is in.
pub fn init_repo(options: &Options) -> Result<Report> {
    let top = Cmd::new("git")
        .arg("-C")
        .arg(&options.cwd)
        .args(["rev-parse", "--show-toplevel"])
        .no_stdin()
        .read()
        .map_err(|_| {
            anyhow::anyhow!(
                "{} is not in a git repository: `init repo` adopts an existing repository\n  hint: run it at the root of your repository (or `git init` first)",
                options.cwd.display()
            )
        })?;
    let root = PathBuf::from(top.trim());
    if root.join("shell.toml").exists() {
        bail!(
            "{} is a Stagecraft repository already (shell.toml): nothing was changed\n  hint: `init cluster` and `init app` add to it",
            root.display()
        );
    }
    let folder = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cluster = match &options.cluster {
        Some(name) => {
            crate::init::check_name("cluster", name)?;
            name.clone()
        }
        None => discover::dns_name(&folder),
    };
    let found = discover::discover(&root)?;
    let (apps, left_out) = map(&root, &found);
    let mut files: Vec<(String, String)> = vec![
        ("shell.toml".to_owned(), shell_toml(&cluster)),
        ("envs/local.toml".to_owned(), stage_toml("local", &cluster)),
        ("envs/test.toml".to_owned(), stage_toml("test", &cluster)),
        ("envs/stage.toml".to_owned(), stage_toml("stage", &cluster)),
        ("envs/prod.toml".to_owned(), stage_toml("prod", &cluster)),
        (
            format!("clusters/{cluster}/cluster.toml"),
            cluster_toml(&cluster, &folder),
        ),
        (
            format!("clusters/{cluster}/kind.yaml"),
            crate::init::KIND_YAML.to_owned(),
        ),
        ("deps/deps.toml".to_owned(), DEPS_TOML.to_owned()),
        ("deps/.gitignore".to_owned(), DEPS_GITIGNORE.to_owned()),
    ];
    for (app, unit) in &apps {
        files.push((
            format!("clusters/{cluster}/apps/{}/app.toml", app.name),
            app_toml(app, unit, &found.images),
        ));
    }
    // Nothing there is touched: any file that exists stops it all.
    let taken: Vec<&str> = files
        .iter()
        .map(|(rel, _)| rel.as_str())
        .filter(|rel| root.join(rel).exists())
        .collect();
    if !taken.is_empty() {
        bail!(
            "{} exist already: nothing was changed\n  hint: init repo only adds files; move them aside, or add what is missing with `init cluster` and `init app`",
            taken.join(", ")
        );
    }
    if options.dry_run {
        for (rel, text) in &files {
            stagecraft_core::outln!("# {rel}\n{}\n", text.trim_end());
        }
    } else {
        write_all(&root, &files)?;
    }
    Ok(Report {
        root: root.display().to_string(),
        cluster,
        images: found
            .images
            .iter()
            .map(|i| format!("{} ({}, from {})", i.name, i.context, i.found_in))
            .collect(),
        apps: apps.into_iter().map(|(app, _)| app).collect(),
        left_out,
        files: files.into_iter().map(|(rel, _)| rel).collect(),
    })
}

/// An app per unit, with the images its files name. skaffold's own deploy
/// is on; another unit that deploys the same images is off (one set of
/// the services per namespace is what a stage wants); the rest are on.
/// The apps written, each with the unit it came from, and what was left out with why.
type Mapping = (Vec<(AdoptedApp, Unit)>, Vec<(String, String)>);

fn map(root: &Path, found: &Found) -> Mapping {
    let mut units: Vec<&Unit> = found.units.iter().collect();
    // skaffold's first, then charts, kustomizations, manifests.
    units.sort_by_key(|u| {
        let rank = match u {
            Unit::Chart { .. } => 1,
            Unit::Kustomize { .. } => 2,
            Unit::Manifests { .. } => 3,
        };
        (!found.skaffold_units.contains(u), rank)
    });
    let mut apps: Vec<(AdoptedApp, Unit)> = Vec::new();
    for unit in units {
        let images = discover::images_named_by(root, unit, &found.images);
        let base = Path::new(unit.path())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".to_owned());
        let mut name = discover::dns_name(&base);
        let mut n = 2;
        while apps.iter().any(|(a, _)| a.name == name) {
            name = format!("{}-{n}", discover::dns_name(&base));
            n += 1;
        }
        let overlapping = apps
            .iter()
            .find(|(a, _)| a.enabled && a.images.iter().any(|i| images.contains(i)));
        let off_because = overlapping.map(|(a, u)| {
            format!(
                "it deploys the same images as app {} ({} {}), which is on",
                a.name,
                u.kind(),
                u.path()
            )
        });
        apps.push((
            AdoptedApp {
                name,
                from: format!("{} {}", unit.kind(), unit.path()),
                images,
                enabled: off_because.is_none(),
                off_because,
            },
            unit.clone(),
        ));
    }
    let named: BTreeSet<&String> = apps.iter().flat_map(|(a, _)| &a.images).collect();
    let mut left_out = found.skipped.clone();
    for image in found.images.iter().filter(|i| !named.contains(&i.name)) {
        left_out.push((
            image.found_in.clone(),
            format!("image {}: no chart, kustomization or manifest names it; add it to the [[images]] of the app that deploys it", image.name),
        ));
    }
    (apps, left_out)
}

fn shell_toml(cluster: &str) -> String {
    format!(
        r#"# Stagecraft: the stages, clusters and apps of this repository (written by
# `stagecraft init repo`; edit freely). The repository root is the folder
# that holds this file: every command works from any folder below it.

[project]
name = "{cluster}"
# The stage of `stagecraft shell` and `stagecraft env` when none is named.
default_stage = "local"

[prompt]
# `<emoji> <stage> <scope>` in front of your own prompt in stage shells.
enabled = true
format = "{{emoji}} {{stage}} {{scope}}"
"#
    )
}

fn stage_toml(stage: &str, cluster: &str) -> String {
    match stage {
        "local" => String::from(
            "emoji = \"🐣\"\ndescription = \"Your laptop: a kind cluster per cluster, named <cluster>-local\"\ntarget = \"kind\"\n\n[vars]\n# Variables of every app in this stage: `stagecraft var set NAME VALUE --stage local`.\n",
        ),
        "test" => String::from(
            "emoji = \"🛠️\"\ndescription = \"Integration tests and CI: a kind cluster per cluster, named <cluster>-test\"\ntarget = \"kind\"\n\n[vars]\n",
        ),
        "stage" => format!(
            "emoji = \"🤖\"\ndescription = \"Shared staging: an existing cluster, reached through deps/kube/{cluster}-stage.yaml\"\ntarget = \"remote\"\n# The context in deps/kube/{cluster}-stage.yaml (write your cloud's\n# credentials there: docs/clusters.md).\ncontext = \"{cluster}-stage\"\n\n[vars]\n# Where this stage's images are pushed: set your registry.\nREGISTRY = \"registry.example.com/{cluster}/stage\"\n"
        ),
        _ => format!(
            "emoji = \"🔥\"\ndescription = \"Production: an existing cluster; every change asks for confirmation\"\ntarget = \"remote\"\ncontext = \"{cluster}-prod\"\nprotected = true\n\n[vars]\n# Where this stage's images are pushed: set your registry.\nREGISTRY = \"registry.example.com/{cluster}/prod\"\n"
        ),
    }
}

fn cluster_toml(cluster: &str, folder: &str) -> String {
    format!(
        r#"description = "{folder}, adopted by stagecraft init repo"

# Where this cluster's apps are: each folder with an app.toml.
apps = ["clusters/{cluster}/apps/*"]

[vars]
# Variables of every app of {cluster}, in every stage.

# Each kind stage's gateway listens on host ports of its own, so local and
# test run side by side.
[stages.local]
http_port = 80
https_port = 443

[stages.test]
http_port = 8080
https_port = 8443
"#
    )
}

fn app_toml(app: &AdoptedApp, unit: &Unit, images: &[Image]) -> String {
    let quote = |s: &str| toml_edit::Value::from(s).to_string().trim().to_owned();
    let mut text = format!(
        "# Adopted by `stagecraft init repo` from {}.\ndescription = {}\n",
        app.from,
        quote(&format!("{} ({})", unit.path(), unit.kind()))
    );
    if let Some(why) = &app.off_because {
        text.push_str(&format!(
            "# Off in every stage: {why}. To deploy with this one instead, set\n# `enabled = true` here and `enabled = false` in the other.\nenabled = false\n"
        ));
    }
    text.push_str("\n[[releases]]\n");
    text.push_str(&format!("name = {}\n", quote(&app.name)));
    match unit {
        Unit::Chart { dir } => text.push_str(&format!(
            "chart = {}\n# Values per stage: values/comm/{name}.yaml and values/<stage>/{name}.yaml\n# in this folder; the stage's variables as `${{VAR}}`, or mapped onto the\n# chart's keys with `set = {{ \"key.path\" = \"${{VAR}}\" }}` (docs/charts.md).\n",
            quote(dir),
            name = app.name
        )),
        Unit::Kustomize { dir } => text.push_str(&format!(
            "kustomize = {}\n# One overlay per stage: kustomize = \"{dir}/overlays/${{XTASK_STAGE}}\".\n",
            quote(dir)
        )),
        Unit::Manifests { pattern } => text.push_str(&format!("manifests = {}\n", quote(pattern))),
    }
    if !app.images.is_empty() {
        text.push_str(
            "\n# Built for each stage and pushed to its registry; every image of that\n# name in the release's manifests becomes the stage's build.\n",
        );
    }
    for image in images.iter().filter(|i| app.images.contains(&i.name)) {
        // From the repository root; the root itself from the app folder.
        let context = match image.context.as_str() {
            "." => "../../../..".to_owned(),
            other => other.to_owned(),
        };
        text.push_str(&format!(
            "[[images]]\nname = {}\ncontext = {}\n",
            quote(&image.name),
            quote(&context)
        ));
        if let Some(dockerfile) = &image.dockerfile {
            text.push_str(&format!("dockerfile = {}\n", quote(dockerfile)));
        }
        text.push('\n');
    }
    text.trim_end().to_owned() + "\n"
}

/// Creates every file (none exists: checked), removing those written when
/// one fails.
fn write_all(root: &Path, files: &[(String, String)]) -> Result<()> {
    let mut written: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        for (rel, text) in files {
            let path = root.join(rel);
            fs::create_dir_all(path.parent().expect("a file in a folder"))
                .with_context(|| format!("cannot create the folder of {rel}"))?;
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .with_context(|| format!("cannot create {rel}"))?;
            written.push(path);
            std::io::Write::write_all(&mut file, text.as_bytes())
                .with_context(|| format!("cannot write {rel}"))?;
        }
        Ok(())
    })();
    if result.is_err() {
        for path in written.iter().rev() {
            let _ = fs::remove_file(path);
        }
    }
    result
}
