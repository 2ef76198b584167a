//! Apps: helm releases with values layered per stage, images, and the
//! dependency graph (`needs` between releases, `depends_on` between apps)
//! that deploys walk (see [`crate::app::deploy`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::cluster::{Routing, Target};
use stagecraft_core::config::{AppToml, Loaded};
use stagecraft_core::process::Cmd;
use stagecraft_core::repo::{Repo, Scope};
use stagecraft_core::stage::environment::{self, Secrets, StageEnv};
use stagecraft_core::suggest;

/// One release, ready to hand to helm.
#[derive(Debug, Clone)]
pub struct Release {
    pub app: String,
    pub name: String,
    /// What helm gets: a local chart's absolute path, or the reference.
    pub chart: String,
    pub version: Option<String>,
    pub namespace: String,
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

/// The image tag of this checkout: the git short sha, `-dirty` when the
/// tree has changes; `dev` outside git.
pub fn image_tag(repo: &Repo) -> String {
    let git = |args: &[&str]| {
        Cmd::new("git")
            .arg("-C")
            .arg(&repo.root)
            .args(args)
            .read()
            .ok()
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(sha) => {
            let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.trim().is_empty());
            format!("{}{}", sha.trim(), if dirty { "-dirty" } else { "" })
        }
        None => "dev".to_owned(),
    }
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
            let chart = release.chart.get_ref();
            if is_local_chart(chart) {
                let path = self.chart_path(repo, chart);
                if !path.join("Chart.yaml").is_file() {
                    return Err(self.file.error_at(
                        &release.chart.span(),
                        format!(
                            "chart `{chart}` of {name}: no Chart.yaml in {}",
                            path.display()
                        ),
                    ));
                }
            } else if release.version.is_none() {
                return Err(self.file.error_at(
                    &release.chart.span(),
                    format!("chart `{chart}` of {name} comes from a repository: pin it with `version = \"...\"`"),
                ));
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

    fn chart_path(&self, repo: &Repo, chart: &str) -> PathBuf {
        if chart.starts_with("./") || chart.starts_with("../") {
            self.dir.join(chart)
        } else {
            repo.root.join(chart)
        }
    }

    pub fn namespace(&self) -> String {
        self.file
            .value
            .namespace
            .clone()
            .unwrap_or_else(|| self.name.clone())
    }

    /// The releases of this app in stage `stage`, `needs` as names: values
    /// files rendered, variables and hosts filled from `env`.
    fn releases(
        &self,
        repo: &Repo,
        stage: &str,
        env: &StageEnv,
        registry: &str,
        tag: &str,
        routing: &Routing,
    ) -> Result<Vec<(Release, Vec<String>)>> {
        let timeout = env.get("HELM_TIMEOUT").unwrap_or("5m").to_owned();
        self.file
            .value
            .releases
            .iter()
            .map(|r| {
                let name = r.name.get_ref().clone();
                let chart = r.chart.get_ref();
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
                let release = Release {
                    app: self.name.clone(),
                    chart: if is_local_chart(chart) {
                        self.chart_path(repo, chart).display().to_string()
                    } else {
                        chart.clone()
                    },
                    version: r.version.clone(),
                    namespace: r.namespace.clone().unwrap_or_else(|| self.namespace()),
                    values,
                    image: r
                        .image
                        .as_ref()
                        .map(|i| (format!("{registry}/{}", i.get_ref()), tag.to_owned())),
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

fn is_local_chart(chart: &str) -> bool {
    chart.starts_with("./")
        || chart.starts_with("../")
        || chart.starts_with("comm/")
        || chart.starts_with("clusters/")
}

/// Every release of `apps` in the target's stage, in a graph.
pub struct Plan {
    pub releases: Vec<Release>,
    pub tag: String,
}

/// `secrets`: whether the secret variables the releases' containers get
/// are resolved (deploys and renders), or left out (reads of the cluster).
pub fn plan(repo: &Repo, target: &Target, apps: &[String], secrets: Secrets) -> Result<Plan> {
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
    check_app_cycles(repo, &target.cluster, &all)?;
    let tag = image_tag(repo);
    let routing = target.routing()?;
    let mut releases = Vec::new();
    let mut needs_by_name = Vec::new();
    for app in loaded.values() {
        let scope = Scope::app(&target.cluster, &app.name);
        let env = environment::resolve(repo, &target.stage, &scope, secrets)?;
        let registry = registry(target, &env)?;
        let stage = &target.stage.name;
        for (release, needs) in app.releases(repo, stage, &env, &registry, &tag, &routing)? {
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
    if let Some(cycle) = find_cycle(&releases.iter().map(|r| r.needs.clone()).collect::<Vec<_>>()) {
        let names: Vec<String> = cycle.iter().map(|&i| releases[i].id()).collect();
        bail!(
            "the `needs` of these releases form a cycle: {}\n  hint: remove one of these needs",
            names.join(" -> ")
        );
    }
    Ok(Plan { releases, tag })
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

/// `depends_on` names apps of the cluster, and forms no cycle.
fn check_app_cycles(repo: &Repo, cluster: &str, all: &[String]) -> Result<()> {
    let mut edges = Vec::new();
    for name in all {
        let file = repo.app(cluster, name)?;
        let mut deps = Vec::new();
        for dep in &file.value.depends_on {
            match all.iter().position(|a| a == dep.get_ref()) {
                Some(j) => deps.push(j),
                None => {
                    return Err(file.error_at(
                        &dep.span(),
                        format!(
                            "depends_on: unknown app `{}`\n  hint: {}",
                            dep.get_ref(),
                            suggest::hint("app", dep.get_ref(), all)
                        ),
                    ));
                }
            }
        }
        edges.push(deps);
    }
    if let Some(cycle) = find_cycle(&edges) {
        let names: Vec<&str> = cycle.iter().map(|&i| all[i].as_str()).collect();
        bail!(
            "the depends_on of these apps form a cycle: {}\n  hint: remove one of these depends_on",
            names.join(" -> ")
        );
    }
    Ok(())
}

/// A cycle in a graph given as "node i needs these", first node repeated
/// at the end.
fn find_cycle(needs: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        i: usize,
        needs: &[Vec<usize>],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[i] = Mark::Open;
        path.push(i);
        for &j in &needs[i] {
            match marks[j] {
                Mark::Open => {
                    let start = path
                        .iter()
                        .position(|&p| p == j)
                        .expect("open nodes are on the path");
                    let mut cycle = path[start..].to_vec();
                    cycle.push(j);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(cycle) = visit(j, needs, marks, path) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[i] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; needs.len()];
    (0..needs.len()).find_map(|i| {
        (marks[i] == Mark::New)
            .then(|| visit(i, needs, &mut marks, &mut Vec::new()))
            .flatten()
    })
}

/// An order in which every release comes after what it needs.
pub fn deploy_order(releases: &[Release]) -> Vec<usize> {
    let mut order = Vec::new();
    let mut placed = vec![false; releases.len()];
    while order.len() < releases.len() {
        let before = order.len();
        for i in 0..releases.len() {
            if !placed[i] && releases[i].needs.iter().all(|&j| placed[j]) {
                placed[i] = true;
                order.push(i);
            }
        }
        assert!(order.len() > before, "plan() refuses cycles");
    }
    order
}

/// The hostnames of the cluster's apps in this stage.
pub fn hostnames(repo: &Repo, target: &Target) -> Result<Vec<String>> {
    stagecraft_core::stage::routes::hostnames(repo, &target.stage, &target.cluster, None)
}

/// The directory of a chart for `helm lint` (only local charts lint).
pub fn local_chart(release: &Release) -> Option<&Path> {
    let path = Path::new(&release.chart);
    path.is_absolute().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_found_with_their_members() {
        assert_eq!(find_cycle(&[vec![1], vec![2], vec![]]), None);
        assert_eq!(
            find_cycle(&[vec![1], vec![2], vec![0]]),
            Some(vec![0, 1, 2, 0])
        );
        assert_eq!(find_cycle(&[vec![], vec![1]]), Some(vec![1, 1]));
    }
}
