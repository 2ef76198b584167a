//! Deploys: the releases of some apps of one cluster, `helm upgrade
//! --install`ed in dependency order, in parallel, to one stage. A release
//! whose chart, values and image are what its last successful deploy had
//! is left alone. What the user sees (a live table, lines) is an
//! [`Observer`] of the caller's; the stage's webhook hears of each app as
//! its releases finish.

mod notify;
mod schedule;
mod watch;

use anyhow::{Result, bail};
use stagecraft_core::process::Runner;
use stagecraft_core::repo::Repo;
use stagecraft_core::stage::confirm;
use stagecraft_core::stage::environment::Secrets;
use stagecraft_core::suggest;

use crate::app::applied;
use crate::app::helm::{HelmFeatures, HelmOf};
use crate::app::images;
use crate::app::inputs::{self, Inputs};
use crate::app::model::{self, Plan, Release, deploy_order};
use crate::app::values::{self, HelmValues};
use crate::cluster::{Target, identity};
use crate::tools::helm_record;
use crate::tools::toolbox::{Planned, Tool, Toolbox};
use notify::Notifier;
pub use schedule::{Done, Finished, Outcome, execute};
use watch::Watch;

/// What `app deploy` and `cluster deploy` were asked for.
pub struct Options {
    pub stage: Option<String>,
    /// Releases deployed at once.
    pub jobs: usize,
    /// `RELEASE.KEY=VALUE`.
    pub sets: Vec<String>,
    pub dry_run: bool,
    /// Confirms a protected stage.
    pub yes: bool,
    /// Ship a work tree with uncommitted changes to a protected stage.
    pub allow_dirty: bool,
    /// Deploy unchanged releases too.
    pub force: bool,
    /// After a failure, go on with what does not need the failed release.
    pub keep_going: bool,
    /// Only charts deps/charts.lock pins (`up --locked`; CI always).
    pub locked: bool,
    /// Images deployed as these tags (`<tag>@<digest>`), not built ones:
    /// `app promote`.
    pub pinned: Vec<(String, String)>,
    /// An instance's time to live (`--ttl`): its namespaces' expiry.
    pub ttl: Option<std::time::Duration>,
}

/// What the user sees while a deploy runs.
pub trait Observer: Sync {
    fn begin(&self, _releases: &[Release], _target: &Target) {}
    fn started(&self, _release: &Release) {}
    fn finished(&self, _release: &Release, _done: &Finished) {}
    fn end(&self) {}
}

/// The end of a deploy.
pub struct Report {
    pub target: String,
    pub releases: Vec<Release>,
    pub finished: Vec<Finished>,
    /// Per release: what changed since its last deploy, or that nothing did.
    pub why: Vec<String>,
}

impl Report {
    pub fn failed(&self) -> Vec<String> {
        self.releases
            .iter()
            .zip(&self.finished)
            .filter(|(_, f)| matches!(f.outcome, Outcome::Failed { .. }))
            .map(|(r, _)| r.id())
            .collect()
    }

    /// Ok when every release deployed or was unchanged.
    pub fn result(&self) -> Result<()> {
        let failed = self.failed();
        if !failed.is_empty() {
            bail!(
                "the deploy to {} failed: {}",
                self.target,
                failed.join(", ")
            );
        }
        Ok(())
    }

    /// What `--json` prints: each release's result and why.
    pub fn to_json(&self) -> serde_json::Value {
        let releases: Vec<serde_json::Value> = deploy_order(&self.releases)
            .into_iter()
            .map(|i| {
                let (release, done) = (&self.releases[i], &self.finished[i]);
                let (outcome, error) = match &done.outcome {
                    Outcome::Deployed => ("deployed", None),
                    Outcome::Unchanged => ("unchanged", None),
                    Outcome::Failed { error } => ("failed", Some(error.clone())),
                    Outcome::Skipped { because } => {
                        ("skipped", Some(format!("it needs {because}, which failed")))
                    }
                    Outcome::NotStarted => ("not started", None),
                };
                serde_json::json!({
                    "release": release.id(),
                    "namespace": release.namespace,
                    "outcome": outcome,
                    "error": error,
                    "seconds": done.duration.as_secs_f64(),
                    "why": self.why.get(i).cloned().unwrap_or_default(),
                })
            })
            .collect();
        serde_json::json!({ "target": self.target, "releases": releases })
    }

    /// A table: release, namespace, result, time, and the tail of a
    /// failure; in deploy order; then the counts.
    pub fn summary(&self) -> String {
        let width = self
            .releases
            .iter()
            .map(|r| r.id().len())
            .max()
            .unwrap_or(7)
            .max(7);
        let mut out = format!(
            "{:width$}  {:<12} {:<12} {:>7}\n",
            "release", "namespace", "result", "time"
        );
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for i in deploy_order(&self.releases) {
            let (release, done) = (&self.releases[i], &self.finished[i]);
            let why = match self.why.get(i) {
                Some(why) if !why.is_empty() => format!("why: {why}"),
                _ => String::new(),
            };
            let (result, detail) = match &done.outcome {
                Outcome::Deployed => ("deployed", why),
                Outcome::Unchanged => ("unchanged", String::new()),
                Outcome::Failed { error } => ("failed", error.clone()),
                Outcome::Skipped { because } => {
                    ("skipped", format!("it needs {because}, which failed"))
                }
                Outcome::NotStarted => ("not started", String::new()),
            };
            match counts.iter_mut().find(|(r, _)| *r == result) {
                Some((_, n)) => *n += 1,
                None => counts.push((result, 1)),
            }
            let time = match done.outcome {
                Outcome::NotStarted | Outcome::Skipped { .. } => "-".to_owned(),
                _ => format!("{:.1}s", done.duration.as_secs_f64()),
            };
            out.push_str(&format!(
                "{:width$}  {:<12} {:<12} {:>7}\n",
                release.id(),
                release.namespace,
                result,
                time
            ));
            for line in detail.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        let counts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
        out.push_str(&format!("{}\n", counts.join(", ")));
        out
    }
}

/// Deploys `apps` of `cluster`. A protected stage is confirmed before the
/// first command; a dry run prints every command and runs none.
pub fn deploy(
    repo: &Repo,
    cluster: &str,
    apps: &[String],
    options: &Options,
    observer: &dyn Observer,
    planned: &Planned,
) -> Result<Report> {
    let stage = repo.stage_or_default(options.stage.as_deref())?;
    let target = Target::new(repo, cluster, stage)?;
    // The Secrets need the secret values; a dry run shows them masked and
    // never asks a password store.
    let secrets = if options.dry_run {
        Secrets::Skip
    } else {
        Secrets::Resolve
    };
    if options.ttl.is_some() && target.stage.instance.is_none() {
        bail!(
            "--ttl is for instances: deploy to {}@NAME (its namespaces then expire; `stage gc` deletes them)",
            target.stage.name
        );
    }
    model::check_enabled(repo, cluster, apps, &target.stage.name)?;
    let plan = model::plan_pinned(repo, &target, apps, secrets, &options.pinned)?;
    check_sets(&plan, &options.sets)?;
    for release in &plan.releases {
        crate::app::releases::warn_unset(release, &target.stage.name);
    }
    if !options.dry_run {
        target.require_kubeconfig()?;
        confirm::clean_tree(&repo.root, &target.stage, options.allow_dirty, "deploy")?;
        confirm::protected(&target.stage, options.yes, "deploy", Some(&target.name()))?;
    }
    let runner = Runner {
        dry_run: options.dry_run,
    };
    let tools = Toolbox::find(repo, &[Tool::Helm, Tool::Kubectl], planned)?;
    identity::verify(repo, &target, &tools, runner)?;
    // An instance's namespaces first: labelled, owned, and expiring.
    let mut namespaces: Vec<String> = plan.releases.iter().map(|r| r.namespace.clone()).collect();
    namespaces.sort();
    namespaces.dedup();
    crate::cluster::instances::label_namespaces(
        &runner,
        &tools,
        &target,
        &namespaces,
        options.ttl,
        &crate::cluster::instances::owner(&repo.root),
    )?;
    let helm = HelmFeatures::of(&runner, &tools, &target)?;
    let helm_of = HelmOf {
        repo,
        tools: &tools,
        target: &target,
        runner,
        locked: crate::app::helm::locked(options.locked),
    };
    // Charts from repositories and registries: fetched and verified
    // before the first release changes (a changed tarball stops it all).
    for release in plan.releases.iter().filter(|r| r.source.is_helm()) {
        crate::app::charts::chart_arg(
            repo,
            &tools,
            &release.source,
            helm_of.locked,
            options.dry_run,
        )?;
    }
    let jobs = if options.dry_run { 1 } else { options.jobs };
    if !options.dry_run {
        observer.begin(&plan.releases, &target);
    }
    let notifier = Notifier::new(&target, &plan, options.dry_run);
    let has_dependents = |release: &Release| {
        let i = plan.releases.iter().position(|r| r.id() == release.id());
        plan.releases
            .iter()
            .any(|r| i.is_some_and(|i| r.needs.contains(&i)))
    };
    let commit = images::revision(repo).unwrap_or_default();
    let why_of = std::sync::Mutex::new(std::collections::HashMap::<String, String>::new());
    let explain = |release: &Release, previous: Option<&Inputs>, current: &Inputs, done: bool| {
        let why = match done {
            true => "unchanged: nothing it is made of changed since its last deploy".to_owned(),
            false => inputs::why(previous, current),
        };
        if runner.dry_run {
            stagecraft_core::outln!("# {}: {why}", release.id());
        }
        why_of.lock().expect("why").insert(release.id(), why);
    };
    // Read for real in a dry run too (`Runner::look`): its plan leaves out
    // what is unchanged, as the deploy would.
    let previous = |release: &Release| -> Result<Option<Inputs>> {
        inputs::read(&runner, tools.kubectl(&target.kube), release)
            .or_else(|e| if runner.dry_run { Ok(None) } else { Err(e) })
    };
    // What it was deployed from, for the next deploy's why. The release is
    // deployed either way: a record that cannot be written is a warning.
    let record = |release: &Release, current: &Inputs| -> Result<()> {
        let applied = runner.run(&crate::tools::toolbox::server_side_apply(
            tools.kubectl(&target.kube),
            &inputs::manifest(release, current),
        ));
        if let Err(e) = applied {
            stagecraft_core::ui::warn(&format!(
                "{} is deployed, but the record of what it was deployed from was not written ({}): its next deploy cannot say why: {e:#}",
                release.id(),
                inputs::record_name(release)
            ));
        }
        Ok(())
    };
    let finished = execute(
        &plan.releases,
        jobs,
        options.keep_going,
        &|release| {
            if !release.source.is_helm() {
                let rendered = applied::render(repo, &tools, release, &runner)?;
                let before = previous(release)?;
                let current = inputs::of(release, &[], Some(&rendered), &commit);
                let done = match applied::deploy(
                    &runner,
                    &tools,
                    &target.kube,
                    release,
                    &rendered,
                    options.force,
                )? {
                    applied::Applied::Unchanged => Done::Unchanged,
                    applied::Applied::Deployed { .. } => Done::Deployed,
                };
                explain(release, before.as_ref(), &current, done == Done::Unchanged);
                if done == Done::Deployed {
                    record(release, &current)?;
                }
                return Ok(done);
            }
            // Its checksum key first: what is deployed, and so the
            // digest, depends on it.
            let kubectl = tools.kubectl(&target.kube).no_stdin();
            let release = &values::with_checksum_key(&runner, kubectl, release, true)?;
            let watch = Watch {
                tools: &tools,
                target: &target,
                release,
                selectors: std::cell::OnceCell::new(),
            };
            let sets = sets_for(release, &options.sets);
            let digest = values::digest(release, &sets)?;
            let before = previous(release)?;
            let current = inputs::of(release, &sets, None, &commit);
            let unchanged = !options.force && helm.labels && watch.unchanged(&runner, &digest)?;
            explain(release, before.as_ref(), &current, unchanged);
            if unchanged {
                return Ok(Done::Unchanged);
            }
            if let Some(secret) = values::secret_manifest(release, true) {
                runner.run(&values::apply_secret(watch.kubectl(), release, &secret))?;
            }
            let helm_values = HelmValues::new(release, &sets)?;
            let mut upgrade = helm_of.release_with(
                &["upgrade", "--install"],
                release,
                true,
                &["--create-namespace"],
            )?;
            upgrade = helm_values.apply(upgrade).args([
                "--wait",
                "--timeout",
                &release.timeout,
                helm.rollback,
            ]);
            if helm.labels {
                upgrade = upgrade.arg(helm_record::label_arg(&digest));
            }
            if runner.dry_run {
                runner.run(&upgrade)?;
            } else {
                watch.upgrade(upgrade)?;
            }
            if has_dependents(release) {
                watch.crds_established(&runner)?;
            }
            record(release, &current)?;
            Ok(Done::Deployed)
        },
        &|release| {
            notifier.started(release);
            if !options.dry_run {
                observer.started(release);
            }
        },
        &|release, done: &Finished| {
            if !options.dry_run {
                observer.finished(release, done);
            }
            notifier.finished(release, &done.outcome);
        },
    );
    if !options.dry_run {
        observer.end();
    }
    notifier.send_the_rest();
    let why_of = why_of.into_inner().expect("why");
    let why = plan
        .releases
        .iter()
        .map(|r| why_of.get(&r.id()).cloned().unwrap_or_default())
        .collect();
    if !options.dry_run {
        record_deployed(repo, &target, &plan.releases, &finished, &commit);
    }
    Ok(Report {
        target: target.name(),
        releases: plan.releases,
        finished,
        why,
    })
}

/// Each app whose releases all deployed (or were unchanged): the commit it
/// is now at in the stage, from this machine (`--affected`'s default REF).
fn record_deployed(
    repo: &Repo,
    target: &Target,
    releases: &[Release],
    finished: &[Finished],
    commit: &str,
) {
    if commit.is_empty() {
        return;
    }
    let mut apps: Vec<&str> = releases.iter().map(|r| r.app.as_str()).collect();
    apps.dedup();
    for app in apps {
        let ok = releases
            .iter()
            .zip(finished)
            .filter(|(r, _)| r.app == app)
            .all(|(_, f)| matches!(f.outcome, Outcome::Deployed | Outcome::Unchanged));
        if ok {
            let path = stagecraft_core::affected::deployed_record(
                repo,
                &target.stage.label(),
                &target.cluster,
                app,
            );
            let written = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .map_err(anyhow::Error::from)
                .and_then(|()| {
                    stagecraft_core::fsx::write_atomic(
                        &path,
                        format!("{commit}\n").as_bytes(),
                        0o644,
                    )
                });
            if let Err(e) = written {
                stagecraft_core::ui::warn(&format!("cannot record the deploy of {app}: {e:#}"));
            }
        }
    }
}

/// `--set photos-api.replicaCount=4`: the release's part of the command
/// line's values.
pub fn sets_for(release: &Release, sets: &[String]) -> Vec<String> {
    sets.iter()
        .filter_map(|s| {
            s.strip_prefix(&format!("{}.", release.name))
                .map(str::to_owned)
        })
        .collect()
}

fn check_sets(plan: &Plan, sets: &[String]) -> Result<()> {
    let names: Vec<String> = plan.releases.iter().map(|r| r.name.clone()).collect();
    for set in sets {
        let release = set.split_once('.').map_or(set.as_str(), |(r, _)| r);
        if !names.iter().any(|n| n == release) || !set.contains('=') {
            bail!(
                "--set {set}: write RELEASE.KEY=VALUE; unknown release `{release}`\n  hint: {}",
                suggest::hint("release", release, &names)
            );
        }
    }
    Ok(())
}
