//! What runs against an app's releases besides deploys: render, lint,
//! diff, status and delete; logs, terminal, port-forward and dev build the
//! command that the caller hands the terminal to. Each asks for exactly
//! the tools it runs.

use anyhow::{Context, Result, bail};
use serde::Serialize;

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

/// `helm template` of a release with its layered values, and what the
/// command needs kept until it ran.
fn template(tools: &Toolbox, at: &AppAt, release: &Release) -> Result<(Cmd, HelmValues)> {
    let values = HelmValues::new(release, &[])?;
    let cmd = tools.helm_offline(&at.target.kube).args([
        "template",
        &release.name,
        &release.chart,
        "--namespace",
        &release.namespace,
    ]);
    Ok((values.apply(cmd), values))
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
    let tools = tools(repo, &[Tool::Helm])?;
    for release in &at.releases {
        warn_unset(release, &at.target.stage.name);
        let (cmd, _values) = template(&tools, at, release)?;
        let mut manifests = runner.run(&cmd)?;
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
    let tools = tools(repo, &[Tool::Helm])?;
    let mut failures = Vec::new();
    for stage in repo.stage_names()? {
        let at = AppAt::new(repo, cluster, app, Some(&stage), Secrets::Skip)?;
        for release in &at.releases {
            let values = HelmValues::new(release, &[])?;
            let error = model::local_chart(release).map(|chart| {
                let cmd = tools
                    .helm_offline(&at.target.kube)
                    .arg("lint")
                    .arg(chart)
                    .args(["--strict", "--namespace", &release.namespace]);
                values.apply(cmd).read().err().map(|e| format!("{e:#}"))
            });
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
    /// A unified diff, or helm-diff's output.
    Changes(String),
}

/// The live manifests against the rendered ones: helm-diff when it is
/// installed, else `diff -u` of `helm get manifest` and `helm template`,
/// through a private temporary folder removed on every exit path.
pub fn diff(repo: &Repo, at: &AppAt, runner: Runner) -> Result<Vec<Diff>> {
    let tools = tools(repo, &[Tool::Helm, Tool::Kubectl])?;
    let kube = &at.target.kube;
    if !runner.dry_run {
        at.target.connect()?;
    }
    let has_plugin = !runner.dry_run
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
        // The checksum the live release has: under its Secret's key.
        let kubectl = tools.kubectl(kube).no_stdin();
        let release = &values::with_checksum_key(&runner, kubectl, release, false)?;
        if has_plugin {
            let values = HelmValues::new(release, &[])?;
            let cmd = tools.helm(
                kube,
                &[
                    "diff",
                    "upgrade",
                    &release.name,
                    &release.chart,
                    "--namespace",
                    &release.namespace,
                ],
            );
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
        let (cmd, _values) = template(&tools, at, release)?;
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
    pub status: String,
    pub revision: Option<u64>,
}

/// Each release's state, from the records helm keeps in the cluster (the
/// `owner=helm` secrets): kubectl only, no helm needed. A cluster that
/// does not answer is an error, never "not installed".
pub fn status(repo: &Repo, at: &AppAt) -> Result<Vec<ReleaseStatus>> {
    at.target.connect()?;
    let tools = tools(repo, &[Tool::Kubectl])?;
    let mut rows = Vec::new();
    for release in &at.releases {
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
        let latest = records
            .lines()
            .filter_map(|l| {
                let (version, status) = l.trim().split_once(' ')?;
                Some((version.parse::<u64>().ok()?, status.to_owned()))
            })
            .max_by_key(|(v, _)| *v);
        rows.push(ReleaseStatus {
            release: release.name.clone(),
            namespace: release.namespace.clone(),
            status: latest
                .as_ref()
                .map_or("not installed".to_owned(), |(_, s)| s.clone()),
            revision: latest.map(|(v, _)| v),
        });
    }
    Ok(rows)
}

/// `kubectl logs` of a release's pods.
pub fn logs(repo: &Repo, at: &AppAt, release: &Release, follow: bool) -> Result<Cmd> {
    at.target.connect()?;
    let tools = tools(repo, &[Tool::Kubectl])?;
    let mut cmd = tools
        .kubectl(&at.target.kube)
        .args(["logs", "--namespace", &release.namespace])
        .arg(format!(
            "--selector=app.kubernetes.io/instance={}",
            release.name
        ))
        .args(["--all-containers", "--prefix", "--tail=200"]);
    if follow {
        cmd = cmd.arg("--follow");
    }
    Ok(cmd)
}

/// A shell (bash, else sh) in a ready pod of the release.
pub fn terminal(repo: &Repo, at: &AppAt, release: &Release) -> Result<Cmd> {
    at.target.connect()?;
    let tools = tools(repo, &[Tool::Kubectl])?;
    let pods = tools.kubectl(&at.target.kube).args([
        "get",
        "pods",
        "--namespace",
        &release.namespace,
        &format!("--selector=app.kubernetes.io/instance={}", release.name),
        "--field-selector=status.phase=Running",
        "--output",
        "jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].ready}{\"\\n\"}{end}",
    ]);
    let listing = pods.read()?;
    let pod = listing
        .lines()
        .find_map(|l| l.strip_suffix(" true"))
        .with_context(|| {
            format!(
                "no ready pod of {} in namespace {}",
                release.id(),
                release.namespace
            )
        })?;
    let shell = "command -v bash >/dev/null 2>&1 && exec bash || exec sh";
    Ok(tools.kubectl(&at.target.kube).args([
        "exec",
        "-it",
        pod,
        "--namespace",
        &release.namespace,
        "--",
        "sh",
        "-c",
        shell,
    ]))
}

/// `kubectl port-forward` to the release's service; PORT is LOCAL or
/// LOCAL:REMOTE (default remote: the service's http port).
pub fn port_forward(repo: &Repo, at: &AppAt, release: &Release, port: &str) -> Result<Cmd> {
    at.target.connect()?;
    let tools = tools(repo, &[Tool::Kubectl])?;
    let ports = if port.contains(':') {
        port.to_owned()
    } else {
        format!("{port}:http")
    };
    Ok(tools.kubectl(&at.target.kube).args([
        "port-forward",
        &format!("service/{}", release.name),
        &ports,
        "--namespace",
        &release.namespace,
    ]))
}

/// `skaffold dev` in the app's folder, with the stage's profile, on a
/// stage whose clusters Stagecraft creates and that is not protected.
/// What `app dev` starts, and the folder of Stagecraft's values it reads
/// (`$STAGECRAFT_VALUES_DIR`), removed when this is dropped.
pub struct Dev {
    pub cmd: Cmd,
    _values: fsx::TempDir,
}

pub fn dev(repo: &Repo, at: &AppAt, app: &str, runner: Runner) -> Result<Dev> {
    let target = &at.target;
    if target.stage.protected() {
        bail!(
            "stage {} is protected: `app dev` never runs there",
            target.stage.name
        );
    }
    if !target.provider.has_local_registry() {
        bail!(
            "stage {} is remote: `app dev` runs on stages with a local registry (kind: local, test)",
            target.stage.name
        );
    }
    let dir = repo.app_dir(&target.cluster, app);
    if !dir.join("skaffold.yaml").is_file() {
        bail!(
            "clusters/{}/apps/{app}/skaffold.yaml does not exist\n  hint: add a skaffold.yaml with a profile named {}",
            target.cluster,
            target.stage.name
        );
    }
    let tools = tools(repo, &[Tool::Skaffold, Tool::Kubectl])?;
    if !runner.dry_run {
        target.require_kubeconfig()?;
    }
    identity::verify(repo, target, &tools, runner)?;
    // What Stagecraft adds to the values, for skaffold.yaml to name:
    // `{{.STAGECRAFT_VALUES_DIR}}/<release>.json`; secrets go to the
    // cluster first, through stdin.
    let values_dir = fsx::private_temp_dir("stagecraft-dev")?;
    for release in &at.releases {
        let kubectl = tools.kubectl(&target.kube).no_stdin();
        let release = &values::with_checksum_key(&runner, kubectl, release, true)?;
        if let Some(secret) = values::secret_manifest(release, true) {
            runner.run(&values::apply_secret(
                tools.kubectl(&target.kube),
                release,
                &secret,
            ))?;
        }
        let text = serde_json::to_string_pretty(&values::generated(release)).expect("JSON");
        fsx::write_private(
            &values_dir.path().join(format!("{}.json", release.name)),
            text.as_bytes(),
        )?;
    }
    let cmd = tools
        .cmd(Tool::Skaffold)
        .args([
            "dev",
            "--profile",
            &target.stage.name,
            "--kube-context",
            &target.context,
            "--kubeconfig",
        ])
        .arg(target.kubeconfig())
        .args([
            "--default-repo",
            &format!("localhost:{}", crate::cluster::REGISTRY_PORT),
        ])
        .dir(&dir)
        .env("KUBECONFIG", target.kubeconfig())
        .env("STAGECRAFT_VALUES_DIR", values_dir.path());
    Ok(Dev {
        cmd,
        _values: values_dir,
    })
}

/// `helm uninstall` of every release, dependents first; a protected stage
/// is confirmed before the first.
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
    let tools = tools(repo, &[Tool::Helm, Tool::Kubectl])?;
    identity::verify(repo, &at.target, &tools, runner)?;
    for i in deploy_order(&at.releases).into_iter().rev() {
        let release = &at.releases[i];
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
        each(release);
    }
    Ok(())
}
