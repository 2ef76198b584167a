//! What runs against an app's releases besides deploys: render, lint,
//! diff, status and delete, for charts, kustomizations and manifests
//! alike (logs, terminal and port-forward are in `pods`, `app dev` in
//! `dev`). Each asks for exactly the tools it runs.

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::app::applied;
use crate::app::helm::HelmOf;
use crate::app::model::{self, Release, deploy_order};
use crate::app::values::{self, HelmValues};
use crate::cluster::{Target, identity};
use crate::tools::toolbox::{Planned, Tool, Toolbox};
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::repo::Repo;
use stagecraft_core::stage::confirm;
use stagecraft_core::stage::environment::Secrets;
use stagecraft_core::{fsx, suggest};

/// The releases of one app in one stage.
pub struct AppAt {
    pub target: Target,
    pub releases: Vec<Release>,
}

impl AppAt {
    /// `secrets`: resolve the secret variables the containers get (what
    /// renders and compares manifests needs), or skip them.
    pub fn new(
        repo: &Repo,
        cluster: &str,
        app: &str,
        stage: Option<&str>,
        secrets: Secrets,
    ) -> Result<AppAt> {
        let stage = repo.stage_or_default(stage)?;
        let target = Target::new(repo, cluster, stage)?;
        let plan = model::plan(repo, &target, &[app.to_owned()], secrets)?;
        Ok(AppAt {
            target,
            releases: plan.releases,
        })
    }

    /// `--release R`, else the app's release built from an image, else its
    /// first.
    pub fn release(&self, name: Option<&str>, app: &str) -> Result<&Release> {
        let names: Vec<String> = self.releases.iter().map(|r| r.name.clone()).collect();
        match name {
            Some(name) => self
                .releases
                .iter()
                .find(|r| r.name == name)
                .ok_or_else(|| suggest::unknown("release", name, &names)),
            None => self
                .releases
                .iter()
                .find(|r| r.image.is_some())
                .or(self.releases.first())
                .with_context(|| format!("{app} has no releases")),
        }
    }
}

fn tools(repo: &Repo, needs: &[Tool]) -> Result<Toolbox> {
    Toolbox::find(repo, needs, &Planned::default())
}

/// Where the helm commands of `at` run: offline ones need no cluster.
pub fn helm_of<'a>(
    repo: &'a Repo,
    tools: &'a Toolbox,
    at: &'a AppAt,
    runner: Runner,
) -> HelmOf<'a> {
    HelmOf {
        repo,
        tools,
        target: &at.target,
        runner,
        locked: crate::app::helm::locked(false),
    }
}

/// `helm template` of a release with its layered values and its images,
/// and what the command needs kept until it ran.
fn template(helm: &HelmOf, release: &Release) -> Result<(Cmd, HelmValues)> {
    let values = HelmValues::new(release, &[])?;
    let cmd = helm.release(&["template"], release, false)?;
    Ok((values.apply(cmd), values))
}

/// The release's manifests as a deploy would apply them (secrets aside):
/// `helm template`, or the kustomization or manifests with their images.
pub fn rendered(
    repo: &Repo,
    tools: &Toolbox,
    at: &AppAt,
    release: &Release,
    runner: Runner,
) -> Result<String> {
    if !release.source.is_helm() {
        return applied::render(repo, tools, release, &runner);
    }
    let (cmd, _values) = template(&helm_of(repo, tools, at, runner), release)?;
    runner.run(&cmd)
}

/// The manifests of every release, as helm renders them, with the Secret
/// of its secret variables (values masked unless `reveal`); `each` gets
/// them release by release.
pub fn render(
    repo: &Repo,
    at: &AppAt,
    runner: Runner,
    reveal: bool,
    mut each: impl FnMut(&str),
) -> Result<()> {
    let tools = tools(repo, &needs(&at.releases, &[]))?;
    for release in &at.releases {
        warn_unset(release, &at.target.stage.name);
        let mut manifests = rendered(repo, &tools, at, release, runner)?;
        if !runner.dry_run
            && let Some(secret) = values::secret_manifest(release, reveal)
        {
            manifests.push_str(&format!(
                "---\n# Source: stagecraft (the secret variables of {}; applied through stdin)\n{}\n",
                release.name,
                serde_json::to_string_pretty(&secret).expect("JSON")
            ));
        }
        each(&manifests);
    }
    Ok(())
}

/// Warns of each variable of `release` that deploys empty.
pub fn warn_unset(release: &Release, stage: &str) {
    for var in &release.env {
        if let Some(warning) = var.unset_warning(&release.name, stage) {
            stagecraft_core::ui::warn(&warning);
        }
    }
}

/// One release's lint in one stage.
pub struct Linted {
    pub stage: String,
    pub release: String,
    /// None: a repository chart, not linted.
    pub error: Option<Option<String>>,
}

/// `helm lint --strict` of every local chart, for every stage.
pub fn lint(repo: &Repo, cluster: &str, app: &str, mut each: impl FnMut(&Linted)) -> Result<()> {
    let mut failures = Vec::new();
    for stage in repo.stage_names()? {
        let at = AppAt::new(repo, cluster, app, Some(&stage), Secrets::Skip)?;
        let tools = tools(repo, &needs(&at.releases, &[]))?;
        for release in &at.releases {
            let values = HelmValues::new(release, &[])?;
            let error = match (model::local_chart(release), release.source.is_helm()) {
                (Some(chart), _) => {
                    let cmd = tools
                        .helm_offline(&at.target.kube)
                        .arg("lint")
                        .arg(chart)
                        .args(["--strict", "--namespace", &release.namespace]);
                    Some(values.apply(cmd).read().err().map(|e| format!("{e:#}")))
                }
                // A chart of a repository is its publisher's to lint.
                (None, true) => None,
                // A kustomization or manifests: they render, and every
                // document is an object.
                (None, false) => Some(
                    applied::render(repo, &tools, release, &Runner { dry_run: false })
                        .and_then(|text| crate::app::objects::objects(&text).map(drop))
                        .err()
                        .map(|e| format!("{e:#}")),
                ),
            };
            if let Some(Some(e)) = &error {
                failures.push(format!("{stage} {}: {e}", release.id()));
            }
            each(&Linted {
                stage: stage.clone(),
                release: release.id(),
                error,
            });
        }
    }
    if !failures.is_empty() {
        bail!("helm lint failed:\n{}", failures.join("\n"));
    }
    Ok(())
}

/// What changes for one release.
pub enum Diff {
    NoChanges(String),
    /// A unified diff, helm-diff's or kubectl's output.
    Changes(String),
}

/// The live manifests against the rendered ones: for a chart, helm-diff
/// when it is installed, else `diff -u` of `helm get manifest` and `helm
/// template` through a private temporary folder removed on every exit
/// path; for a kustomization or manifests, `kubectl diff` and what the
/// next deploy would prune.
pub fn diff(repo: &Repo, at: &AppAt, runner: Runner) -> Result<Vec<Diff>> {
    let tools = tools(repo, &needs(&at.releases, &[Tool::Kubectl]))?;
    let kube = &at.target.kube;
    if !runner.dry_run {
        at.target.connect()?;
    }
    let helm = helm_of(repo, &tools, at, runner);
    let has_plugin = !runner.dry_run
        && at.releases.iter().any(|r| r.source.is_helm())
        && tools
            .helm_offline(kube)
            .args(["plugin", "list"])
            .read()
            .is_ok_and(|l| l.lines().any(|p| p.starts_with("diff")));
    let work = if runner.dry_run {
        None
    } else {
        Some(fsx::private_temp_dir("diff")?)
    };
    let mut out = Vec::new();
    for release in &at.releases {
        if !release.source.is_helm() {
            let rendered = applied::render(repo, &tools, release, &runner)?;
            out.push(
                match applied::diff(&runner, &tools, kube, release, &rendered)? {
                    Some(text) => Diff::Changes(text),
                    None => Diff::NoChanges(release.id()),
                },
            );
            continue;
        }
        // The checksum the live release has: under its Secret's key.
        let kubectl = tools.kubectl(kube).no_stdin();
        let release = &values::with_checksum_key(&runner, kubectl, release, false)?;
        if has_plugin {
            let values = HelmValues::new(release, &[])?;
            let cmd = helm.release(&["diff", "upgrade"], release, true)?;
            out.push(Diff::Changes(runner.run(&values.apply(cmd))?));
            continue;
        }
        let manifest = tools.helm(
            kube,
            &[
                "get",
                "manifest",
                &release.name,
                "--namespace",
                &release.namespace,
            ],
        );
        // A release that is not installed yet is all new; any other
        // failure (no cluster) is an error, not an empty diff.
        let live = match runner.dry_run {
            true => runner.probe(&manifest).unwrap_or_default(),
            false => match manifest.read() {
                Ok(text) => text,
                Err(e) if format!("{e:#}").contains("release: not found") => String::new(),
                Err(e) => return Err(e.context(format!("cannot read the live {}", release.id()))),
            },
        };
        let (cmd, _values) = template(&helm, release)?;
        let rendered = runner.run(&cmd)?;
        let Some(work) = &work else { continue };
        let (a, b) = (
            work.path().join("live.yaml"),
            work.path().join("rendered.yaml"),
        );
        // Fresh names per release: the previous pair goes first.
        let _ = std::fs::remove_file(&a);
        let _ = std::fs::remove_file(&b);
        fsx::write_private(&a, live.as_bytes())?;
        fsx::write_private(&b, rendered.as_bytes())?;
        let labels = [
            format!("{} (live)", release.id()),
            format!("{} (rendered)", release.id()),
        ];
        let compare = Cmd::new("diff")
            .args(["-u", "--label", &labels[0], "--label", &labels[1]])
            .arg(&a)
            .arg(&b);
        let (code, text) = compare.read_any()?;
        match code {
            0 => out.push(Diff::NoChanges(release.id())),
            1 => out.push(Diff::Changes(text)),
            _ => bail!("`{compare}` failed with exit code {code}"),
        }
    }
    Ok(out)
}

#[derive(Debug, Serialize)]
pub struct ReleaseStatus {
    pub release: String,
    pub namespace: String,
    /// `chart comm/charts/service`, `kustomize deploy/overlays/local`.
    pub source: String,
    pub status: String,
    pub revision: Option<u64>,
    /// Whether live objects differ from what the last deploy applied
    /// (`app drift` lists them); None when that cannot be told.
    pub drift: Option<bool>,
}

/// Each release's state: a chart's from the records helm keeps in the
/// cluster (the `owner=helm` secrets), a kustomization's or manifests'
/// from their inventory; kubectl only. A cluster that does not answer is
/// an error, never "not installed".
pub fn status(repo: &Repo, at: &AppAt) -> Result<Vec<ReleaseStatus>> {
    at.target.connect()?;
    let tools = tools(repo, &[Tool::Kubectl])?;
    let mut rows = Vec::new();
    for release in &at.releases {
        let latest = match release.source.is_helm() {
            true => helm_state(&tools, at, release)?,
            false => applied::inventory(
                &Runner { dry_run: false },
                tools.kubectl(&at.target.kube),
                release,
            )
            .with_context(|| format!("cannot read the state of {}", release.id()))?
            .map(|inventory| (inventory.revision, "deployed".to_owned())),
        };
        rows.push(ReleaseStatus {
            release: release.name.clone(),
            namespace: release.namespace.clone(),
            source: release.source.describe(&repo.root),
            status: latest
                .as_ref()
                .map_or("not installed".to_owned(), |(_, s)| s.clone()),
            drift: match latest.is_some() {
                true => crate::app::drift::of_release(&tools, &at.target, release)
                    .ok()
                    .filter(|d| d.state != "unknown" && d.state != "not deployed")
                    .map(|d| d.drifted()),
                false => None,
            },
            revision: latest.map(|(v, _)| v),
        });
    }
    Ok(rows)
}

/// The latest revision and status of a Helm release, from helm's records.
fn helm_state(tools: &Toolbox, at: &AppAt, release: &Release) -> Result<Option<(u64, String)>> {
    let records = tools
        .kubectl(&at.target.kube)
        .args([
            "get",
            "secrets",
            "--namespace",
            &release.namespace,
            "--selector",
            &format!("owner=helm,name={}", release.name),
            "--output",
            "jsonpath={range .items[*]}{.metadata.labels.version} {.metadata.labels.status}{\"\\n\"}{end}",
        ])
        .read()
        .with_context(|| format!("cannot read the state of {}", release.id()))?;
    Ok(records
        .lines()
        .filter_map(|l| {
            let (version, status) = l.trim().split_once(' ')?;
            Some((version.parse::<u64>().ok()?, status.to_owned()))
        })
        .max_by_key(|(v, _)| *v))
}

/// Removes every release, dependents first: `helm uninstall` of a chart,
/// everything its inventory lists of a kustomization or manifests. A
/// protected stage is confirmed before the first.
pub fn delete(
    repo: &Repo,
    at: &AppAt,
    runner: Runner,
    yes: bool,
    mut each: impl FnMut(&Release),
) -> Result<()> {
    if !runner.dry_run {
        at.target.require_kubeconfig()?;
        confirm::protected(&at.target.stage, yes, "delete", Some(&at.target.name()))?;
    }
    let tools = tools(repo, &needs(&at.releases, &[Tool::Kubectl]))?;
    identity::verify(repo, &at.target, &tools, runner)?;
    for i in deploy_order(&at.releases).into_iter().rev() {
        let release = &at.releases[i];
        let forget_inputs = || {
            runner.run(
                &tools
                    .kubectl(&at.target.kube)
                    .args([
                        "delete",
                        "configmap",
                        &crate::app::inputs::record_name(release),
                    ])
                    .args(["--namespace", &release.namespace, "--ignore-not-found"]),
            )
        };
        if !release.source.is_helm() {
            applied::delete(&runner, &tools, &at.target.kube, release)?;
            forget_inputs()?;
            each(release);
            continue;
        }
        runner.run(
            &tools
                .helm(
                    &at.target.kube,
                    &[
                        "uninstall",
                        &release.name,
                        "--namespace",
                        &release.namespace,
                    ],
                )
                .arg("--wait"),
        )?;
        if values::secret_manifest(release, false).is_some() {
            runner.run(
                &tools
                    .kubectl(&at.target.kube)
                    .args(["delete", "secret", &values::secret_name(release)])
                    .args(["--namespace", &release.namespace, "--ignore-not-found"]),
            )?;
        }
        forget_inputs()?;
        each(release);
    }
    Ok(())
}

/// The tools the releases need, and `extra`: helm for charts, kubectl
/// for kustomizations (and for reaching the cluster).
pub fn needs(releases: &[Release], extra: &[Tool]) -> Vec<Tool> {
    let mut tools = extra.to_vec();
    if releases.iter().any(|r| r.source.is_helm()) && !tools.contains(&Tool::Helm) {
        tools.push(Tool::Helm);
    }
    let kustomize = releases
        .iter()
        .any(|r| matches!(r.source, crate::app::source::Source::Kustomize { .. }));
    if kustomize && !tools.contains(&Tool::Kubectl) {
        tools.push(Tool::Kubectl);
    }
    tools
}
