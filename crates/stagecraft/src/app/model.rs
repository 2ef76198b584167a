//! Apps: releases (Helm charts with values layered per stage,
//! kustomizations, plain manifests), images, and the dependency graph
//! (`needs` between releases, `depends_on` between apps) that deploys walk
//! (see [`crate::app::deploy`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::app::graph;
use crate::app::source::{self, Source};
use crate::app::tags::{self, ImagePlan};
use crate::cluster::{Routing, Target};
use stagecraft_core::config::{AppToml, Loaded};
use stagecraft_core::repo::{Repo, Scope};
use stagecraft_core::stage::environment::{self, Secrets, StageEnv};
use stagecraft_core::suggest;

/// One release, ready to render and deploy.
#[derive(Debug, Clone)]
pub struct Release {
    pub app: String,
    pub name: String,
    /// Where its manifests come from: a chart, a kustomization, manifests.
    pub source: Source,
    pub namespace: String,
    /// Chart values set from the stage environment (`set` in app.toml):
    /// key path and value.
    pub sets: Vec<(String, String)>,
    /// The images the app builds, as this stage references them: an image
    /// of that name in any of the release's manifests is rewritten to it.
    pub images: Vec<BuiltImage>,
    /// The values files that exist, in layering order, rendered.
    pub values: Vec<ValuesLayer>,
    /// `image.repository` and `image.tag` for a release built from an image.
    pub image: Option<(String, String)>,
    /// The variables its containers get (`env` in app.toml).
    pub env: Vec<EnvVar>,
    /// Hostnames routed to it.
    pub hosts: Vec<String>,
    /// How the stage routes them.
    pub routing: Routing,
    pub timeout: String,
    /// Indices of the releases deployed before this one.
    pub needs: Vec<usize>,
    /// The key of its checksum of secret values (`values::checksum`), read
    /// from its Secret in the cluster; None until then.
    pub checksum_key: Option<String>,
}

/// An image an app builds, and its reference in the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    pub name: String,
    /// `localhost:5001/frontend:3f2a1bc`
    pub reference: String,
}

/// A variable a release's containers get.
#[derive(Clone)]
pub struct EnvVar {
    pub name: String,
    /// None: a secret this command did not resolve.
    pub value: Option<String>,
    pub secret: bool,
    /// Declared, but its source gave nothing here (and it is not
    /// required): why, and where it is declared. The containers get it
    /// empty.
    pub unset: Option<String>,
}

impl EnvVar {
    /// The warning for a variable that deploys empty: what it gets, why,
    /// and how to make that an error instead.
    pub fn unset_warning(&self, release: &str, stage: &str) -> Option<String> {
        let why = self.unset.as_ref()?;
        let what = match self.secret {
            true => format!("its Secret ({release}-stagecraft-env) gets an empty value"),
            false => "the containers get it empty".to_owned(),
        };
        Some(format!(
            "`{name}` of release {release} has no value in stage {stage} ({why}): {what}\n  hint: give it a value in this stage, or add `required = true` to its declaration so that a missing value stops the deploy",
            name = self.name
        ))
    }
}

/// Never a secret's value, even in a debug print.
impl std::fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = match (&self.value, self.secret) {
            (_, true) => stagecraft_core::ui::MASK,
            (Some(value), false) => value.as_str(),
            (None, false) => "",
        };
        write!(f, "{}={shown}", self.name)
    }
}

/// One values file of a release: `values/comm/<release>.yaml` or
/// `values/<stage>/<release>.yaml`, its `${VAR}` filled in.
#[derive(Debug, Clone)]
pub struct ValuesLayer {
    pub path: PathBuf,
    /// From the repository root, for messages.
    pub display: String,
    /// `comm` or the stage.
    pub layer: String,
    pub text: String,
    /// Whether the file had anything to fill in (it then reaches helm as
    /// a rendered copy).
    pub templated: bool,
}

impl ValuesLayer {
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

impl Release {
    pub fn id(&self) -> String {
        format!("{}/{}", self.app, self.name)
    }
}

/// The stage variables of the images an app builds, for values files and
/// `set`: `XTASK_REGISTRY`, and per image `XTASK_IMAGE_<NAME>` (the built
/// reference) and `XTASK_IMAGE_TAG_<NAME>` (its tag), `<NAME>` upper-cased
/// with other characters than letters and digits as `_`; and
/// `XTASK_IMAGE_TAG` when all the app's images have one tag (one image).
pub fn image_vars(images: &[ImagePlan], registry: &str) -> Vec<(String, String)> {
    if images.is_empty() {
        return Vec::new();
    }
    let mut vars = vec![("XTASK_REGISTRY".to_owned(), registry.to_owned())];
    if images.iter().all(|i| i.tag == images[0].tag) {
        vars.push(("XTASK_IMAGE_TAG".to_owned(), images[0].tag.clone()));
    }
    for image in images {
        let key: String = image
            .name
            .chars()
            .map(|c| match c.is_ascii_alphanumeric() {
                true => c.to_ascii_uppercase(),
                false => '_',
            })
            .collect();
        vars.push((
            format!("XTASK_IMAGE_{key}"),
            built_reference(registry, &image.name, &image.tag),
        ));
        vars.push((format!("XTASK_IMAGE_TAG_{key}"), image.tag.clone()));
    }
    vars
}

/// What a stage's build of image `name` is called.
pub fn built_reference(registry: &str, name: &str, tag: &str) -> String {
    format!("{registry}/{name}:{tag}")
}

/// The registry images of this stage go to: the provider's local one, or
/// `$REGISTRY` of the app's environment.
pub fn registry(target: &Target, env: &StageEnv) -> Result<String> {
    crate::cluster::registry(target, env.get("REGISTRY"))
}

/// An app's file, checked: unique release names, `needs` and `image` that
/// exist, values files that match a release and a stage.
pub struct App {
    pub name: String,
    pub dir: PathBuf,
    pub file: Arc<Loaded<AppToml>>,
}

impl App {
    pub fn load(repo: &Repo, cluster: &str, name: &str) -> Result<App> {
        let file = repo.app(cluster, name)?;
        let dir = repo.app_dir(cluster, name);
        let app = App {
            name: name.to_owned(),
            dir,
            file,
        };
        app.check(repo)?;
        Ok(app)
    }

    fn release_names(&self) -> Vec<String> {
        self.file
            .value
            .releases
            .iter()
            .map(|r| r.name.get_ref().clone())
            .collect()
    }

    fn check(&self, repo: &Repo) -> Result<()> {
        if let Some(host) = self.file.value.hosts.first() {
            return Err(self.file.error_at(
                &host.span(),
                "`hosts` belongs to the release that serves them\n  hint: move it into that [[releases]] entry: hosts = [\"...\"]",
            ));
        }
        let names = self.release_names();
        let images: Vec<String> = self
            .file
            .value
            .images
            .iter()
            .map(|i| i.name.clone())
            .collect();
        for (i, release) in self.file.value.releases.iter().enumerate() {
            let name = release.name.get_ref();
            if !stagecraft_core::repo::is_dns_label(name) {
                return Err(self.file.error_at(
                    &release.name.span(),
                    format!("release name `{name}` must be lowercase letters, digits and '-'"),
                ));
            }
            if names[..i].contains(name) {
                return Err(self.file.error_at(
                    &release.name.span(),
                    format!("a second release named `{name}`"),
                ));
            }
            for need in &release.needs {
                if !names.contains(need.get_ref()) {
                    return Err(self.file.error_at(
                        &need.span(),
                        format!(
                            "`needs` of {name}: unknown release `{}`\n  hint: {}",
                            need.get_ref(),
                            suggest::hint("release", need.get_ref(), &names)
                        ),
                    ));
                }
            }
            if let Some(image) = &release.image
                && !images.contains(image.get_ref())
            {
                return Err(self.file.error_at(
                    &image.span(),
                    format!(
                        "`image` of {name}: unknown image `{}`\n  hint: {} (declare it in an [[images]] table)",
                        image.get_ref(),
                        suggest::hint("image", image.get_ref(), &images)
                    ),
                ));
            }
            // What only a Helm chart has: its values (`set`, the built
            // image's `image.*`, Stagecraft's `env` and routes).
            if release.chart.is_none() {
                let kind = if release.kustomize.is_some() {
                    "a kustomization"
                } else {
                    "manifests"
                };
                let helm_only = [
                    (release.set.values().next().map(|v| v.span()), "set"),
                    (release.image.as_ref().map(|i| i.span()), "image"),
                    (release.env.first().map(|v| v.span()), "env"),
                    (release.hosts.first().map(|h| h.span()), "hosts"),
                    (release.repo.as_ref().map(|r| r.span()), "repo"),
                ];
                if let Some((span, key)) = helm_only
                    .iter()
                    .find_map(|(s, k)| s.clone().map(|s| (s, k)))
                {
                    return Err(self.file.error_at(
                        &span,
                        format!(
                            "`{key}` of {name}: only a Helm chart takes it; release {name} deploys {kind}\n  hint: {}",
                            match *key {
                                "image" => "the app's built images replace images of the same name in its manifests by themselves (docs/charts.md)",
                                "env" | "hosts" => "write the variables and the HTTPRoute into the manifests (the stage's values are `${VAR}`s of `kustomize`/`manifests` paths, and images are rewritten; docs/charts.md)",
                                _ => "remove it",
                            }
                        ),
                    ));
                }
            }
        }
        self.check_values_files(repo, &names)
    }

    /// A values file that matches no release or stage is a typo, not a
    /// file to skip.
    fn check_values_files(&self, repo: &Repo, releases: &[String]) -> Result<()> {
        let values = self.dir.join("values");
        let Ok(dirs) = fs::read_dir(&values) else {
            return Ok(());
        };
        let mut layers = repo.stage_names()?;
        layers.push("comm".to_owned());
        for dir in dirs.flatten() {
            let layer = dir.file_name().to_string_lossy().into_owned();
            let rel = format!(
                "{}/values/{layer}",
                self.file.display.trim_end_matches("/app.toml")
            );
            if !layers.contains(&layer) {
                bail!(
                    "{rel}/: a values folder for no stage: unknown stage `{layer}`\n  hint: {}",
                    suggest::hint("stage", &layer, &layers)
                );
            }
            for file in fs::read_dir(dir.path())
                .with_context(|| format!("cannot list {rel}"))?
                .flatten()
            {
                let file_name = file.file_name().to_string_lossy().into_owned();
                let release = file_name.strip_suffix(".yaml").unwrap_or(&file_name);
                if !file_name.ends_with(".yaml") || !releases.iter().any(|r| r == release) {
                    bail!(
                        "{rel}/{file_name} matches no release of {}: the file names release `{release}`\n  hint: {}",
                        self.name,
                        suggest::hint("release", release, releases)
                    );
                }
            }
        }
        Ok(())
    }

    /// The app's namespace in the stage `env` is of.
    pub fn namespace(&self, env: &StageEnv) -> Result<String> {
        stagecraft_core::stage::namespaces::app_namespace(&self.file, &self.name, env)
    }

    /// The releases of this app in stage `stage`, `needs` as names: values
    /// files rendered, variables and hosts filled from `env`.
    fn releases(
        &self,
        repo: &Repo,
        stage: &str,
        env: &StageEnv,
        registry: &str,
        built: &[ImagePlan],
        routing: &Routing,
    ) -> Result<Vec<(Release, Vec<String>)>> {
        let timeout = env.get("HELM_TIMEOUT").unwrap_or("5m").to_owned();
        let namespace = self.namespace(env)?;
        let images: Vec<BuiltImage> = built
            .iter()
            .map(|i| BuiltImage {
                name: i.name.clone(),
                reference: built_reference(registry, &i.name, &i.tag),
            })
            .collect();
        self.file
            .value
            .releases
            .iter()
            .map(|r| {
                let name = r.name.get_ref().clone();
                let source = source::of(&self.file, r, &repo.root, &self.dir, env)?;
                let mut sets = Vec::new();
                for (key, value) in &r.set {
                    let text = env.expand(value.get_ref()).map_err(|e| {
                        // The closest defined name (with several images of
                        // their own tags, XTASK_IMAGE_TAG_<NAME>).
                        let undefined = e.split('`').nth(1).unwrap_or_default();
                        let undefined = undefined.trim_start_matches("${").trim_end_matches('}');
                        let names: Vec<String> = env.entries.iter().map(|e| e.name.clone()).collect();
                        self.file.error_at(
                            &value.span(),
                            format!("`set` {key} of {name}: {e}\n  hint: {}", suggest::hint("variable", undefined, &names)),
                        )
                    })?;
                    // helm keeps values readable with the release.
                    if let Some(secret) = env.entries.iter().find(|e| e.secret && !e.value.is_empty() && text.contains(&e.value)) {
                        return Err(self.file.error_at(
                            &value.span(),
                            format!(
                                "`set` {key} of {name} holds the secret `{}`: helm keeps values readable in the release\n  hint: list it in the release's `env` (its containers get it from the Secret {name}-stagecraft-env), and point the chart at that Secret with `set`",
                                secret.name
                            ),
                        ));
                    }
                    sets.push((key.clone(), text));
                }
                let mut values = Vec::new();
                for layer in ["comm", stage] {
                    let path = self
                        .dir
                        .join("values")
                        .join(layer)
                        .join(format!("{name}.yaml"));
                    if !path.is_file() {
                        continue;
                    }
                    let display = path
                        .strip_prefix(&repo.root)
                        .unwrap_or(&path)
                        .display()
                        .to_string();
                    let source = fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {display}"))?;
                    let text = env.render_file(&source, &display)?;
                    values.push(ValuesLayer {
                        templated: text != source,
                        path,
                        display,
                        layer: layer.to_owned(),
                        text,
                    });
                }
                let mut vars = Vec::new();
                for var in &r.env {
                    let var_name = var.get_ref();
                    vars.push(match (env.entry(var_name), env.without_value(var_name)) {
                        (Some(entry), _) => EnvVar {
                            name: var_name.clone(),
                            value: Some(entry.value.clone()),
                            secret: entry.secret,
                            unset: None,
                        },
                        // Declared, optional, and its source gave nothing.
                        (None, Some(w)) if !w.skipped && !w.required => EnvVar {
                            name: var_name.clone(),
                            value: Some(String::new()),
                            secret: w.secret,
                            unset: Some(format!("{}; declared at {}", w.reason, w.origin)),
                        },
                        // A secret, or built from one, this command skipped.
                        (None, _) if env.defines(var_name) => EnvVar {
                            name: var_name.clone(),
                            value: None,
                            secret: true,
                            unset: None,
                        },
                        (None, _) => {
                            // Every declared name, with a value here or not.
                            let known: Vec<String> = env
                                .entries
                                .iter()
                                .map(|e| e.name.clone())
                                .chain(env.without_value.iter().map(|w| w.name.clone()))
                                .collect();
                            return Err(self.file.error_at(
                                &var.span(),
                                format!(
                                    "`env` of {name}: no variable `{var_name}` in stage {stage}\n  hint: {}",
                                    suggest::hint("variable", var_name, &known)
                                ),
                            ));
                        }
                    });
                }
                stagecraft_core::stage::routes::check_host_count(&self.file, &name, &r.hosts)?;
                let mut hosts = Vec::new();
                for host in &r.hosts {
                    hosts.push(stagecraft_core::stage::routes::expand_host(env, host.get_ref()).map_err(|e| {
                        self.file.error_at(&host.span(), format!("hosts of {name}: {e}"))
                    })?);
                }
                if let Some(layer) = values.first().filter(|_| !source.is_helm()) {
                    bail!(
                        "{}: values files are for Helm charts; release {name} deploys {}\n  hint: remove the file; a kustomization takes its settings from its overlays (`kustomize = \"deploy/overlays/${{XTASK_STAGE}}\"`)",
                        layer.display,
                        source.describe(&repo.root)
                    );
                }
                let release = Release {
                    app: self.name.clone(),
                    source,
                    namespace: r.namespace.clone().unwrap_or_else(|| namespace.clone()),
                    sets,
                    images: images.clone(),
                    values,
                    image: r.image.as_ref().and_then(|i| {
                        let plan = built.iter().find(|b| &b.name == i.get_ref())?;
                        Some((format!("{registry}/{}", plan.name), plan.tag.clone()))
                    }),
                    env: vars,
                    hosts,
                    routing: routing.clone(),
                    timeout: r.timeout.clone().unwrap_or_else(|| timeout.clone()),
                    needs: Vec::new(),
                    checksum_key: None,
                    name,
                };
                Ok((
                    release,
                    r.needs.iter().map(|n| n.get_ref().clone()).collect(),
                ))
            })
            .collect()
    }
}

/// Every release of `apps` in the target's stage, in a graph.
pub struct Plan {
    pub releases: Vec<Release>,
    /// Each image of the apps and its built reference in the stage.
    pub images: Vec<(String, String)>,
}

/// `secrets`: whether the secret variables the releases' containers get
/// are resolved (deploys and renders), or left out (reads of the cluster).
pub fn plan(repo: &Repo, target: &Target, apps: &[String], secrets: Secrets) -> Result<Plan> {
    plan_pinned(repo, target, apps, secrets, &[])
}

/// [`plan`] with some images pinned to a reference's tag part
/// (`3f2a...@sha256:...`, what `app promote` deploys) instead of the
/// tag of their inputs.
pub fn plan_pinned(
    repo: &Repo,
    target: &Target,
    apps: &[String],
    secrets: Secrets,
    pinned: &[(String, String)],
) -> Result<Plan> {
    let all = repo.app_names(&target.cluster)?;
    let mut loaded = BTreeMap::new();
    for name in apps {
        if !all.contains(name) {
            return Err(suggest::unknown_named(
                &format!("app of cluster {}:", target.cluster),
                "app",
                name,
                &all,
            ));
        }
        loaded.insert(name.clone(), App::load(repo, &target.cluster, name)?);
    }
    graph::check_app_cycles(repo, &target.cluster, &all)?;
    let routing = target.routing()?;
    let mut built = Vec::new();
    let mut releases = Vec::new();
    let mut needs_by_name = Vec::new();
    // Each app's environment and images first, then every image's tag at
    // once (their contexts walked side by side).
    let mut prepared = Vec::new();
    let mut all_images = Vec::new();
    for app in loaded.values() {
        let scope = Scope::app(&target.cluster, &app.name);
        let env = environment::resolve(repo, &target.stage, &scope, secrets)?;
        let registry = registry(target, &env)?;
        let images = tags::of_app(&repo.root, &app.dir, &app.file, &env)?;
        all_images.extend(images.iter().cloned());
        prepared.push((app, env, registry, images.len()));
    }
    tags::fill(&repo.root, &mut all_images)?;
    let mut tagged = all_images.into_iter();
    for (app, mut env, registry, count) in prepared {
        let mut images: Vec<ImagePlan> = tagged.by_ref().take(count).collect();
        for image in &mut images {
            if let Some((_, tag)) = pinned.iter().find(|(name, _)| *name == image.name) {
                image.tag = tag.clone();
            }
        }
        env.add_generated(image_vars(&images, &registry));
        let stage = &target.stage.name;
        for image in &images {
            built.push((
                image.name.clone(),
                built_reference(&registry, &image.name, &image.tag),
            ));
        }
        for (release, needs) in app.releases(repo, stage, &env, &registry, &images, &routing)? {
            releases.push(release);
            needs_by_name.push(needs);
        }
    }
    // Edges: `needs` within an app; `depends_on` between the apps deployed together.
    for i in 0..releases.len() {
        let app = &loaded[&releases[i].app];
        let mut needs: Vec<usize> = needs_by_name[i]
            .iter()
            .map(|n| {
                releases
                    .iter()
                    .position(|r| r.app == app.name && &r.name == n)
                    .expect("checked")
            })
            .collect();
        for dep in &app.file.value.depends_on {
            needs.extend(
                releases
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| &r.app == dep.get_ref())
                    .map(|(j, _)| j),
            );
        }
        releases[i].needs = needs;
    }
    if let Some(cycle) =
        graph::find_cycle(&releases.iter().map(|r| r.needs.clone()).collect::<Vec<_>>())
    {
        let names: Vec<String> = cycle.iter().map(|&i| releases[i].id()).collect();
        bail!(
            "the `needs` of these releases form a cycle: {}\n  hint: remove one of these needs",
            names.join(" -> ")
        );
    }
    Ok(Plan {
        releases,
        images: built,
    })
}

/// The apps of the cluster that are on in `stage` (what a deploy of the
/// whole cluster deploys).
pub fn enabled_apps(repo: &Repo, cluster: &str, stage: &str) -> Result<Vec<String>> {
    repo.enabled_app_names(cluster, stage)
}

/// Apps named for a deploy must be on in the stage.
pub fn check_enabled(repo: &Repo, cluster: &str, apps: &[String], stage: &str) -> Result<()> {
    for app in apps {
        let file = repo.app(cluster, app)?;
        if !file.value.enabled_in(stage) {
            bail!(
                "app {app} is off in stage {stage} ({} says `enabled = false`)\n  hint: turn it on for the stage with `[stages.{stage}]` `enabled = true` in {}, or deploy another stage",
                file.display,
                file.display
            );
        }
    }
    Ok(())
}

/// `apps` and every app they `depends_on`, directly or not.
pub fn with_needs(repo: &Repo, cluster: &str, apps: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = apps.to_vec();
    let mut i = 0;
    while i < out.len() {
        let file = repo.app(cluster, &out[i])?;
        for dep in &file.value.depends_on {
            if !out.contains(dep.get_ref()) {
                out.push(dep.get_ref().clone());
            }
        }
        i += 1;
    }
    Ok(out)
}

/// An order in which every release comes after what it needs.
pub fn deploy_order(releases: &[Release]) -> Vec<usize> {
    graph::order(&releases.iter().map(|r| r.needs.clone()).collect::<Vec<_>>())
}

/// The hostnames of the cluster's apps in this stage.
pub fn hostnames(repo: &Repo, target: &Target) -> Result<Vec<String>> {
    stagecraft_core::stage::routes::hostnames(repo, &target.stage, &target.cluster, None)
}

/// The directory of a chart for `helm lint` (only local charts lint).
pub fn local_chart(release: &Release) -> Option<&Path> {
    release.source.local_chart()
}
