//! Deploys: the releases of some apps of one cluster, `helm upgrade
//! --install`ed in dependency order, in parallel, to one stage. A release
//! whose chart, values and image are what its last successful deploy had
//! is left alone. What the user sees (a live table, lines) is an
//! [`Observer`] of the caller's; the stage's webhook hears of each app as
//! its releases finish.

use std::collections::HashMap;
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;

use crate::apps::{self, Plan, Release, deploy_order};
use crate::cluster::{Target, identity};
use crate::environment::Secrets;
use crate::process::{Cmd, Runner};
use crate::repo::Repo;
use crate::toolbox::{Planned, Tool, Toolbox};
use crate::values::{self, HelmValues};
use crate::{confirm, helm_record, readiness, suggest, ui};

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
}

/// What the user sees while a deploy runs.
pub trait Observer: Sync {
    fn begin(&self, _releases: &[Release], _target: &Target) {}
    fn started(&self, _release: &Release) {}
    fn finished(&self, _release: &Release, _done: &Finished) {}
    fn end(&self) {}
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum Outcome {
    Deployed,
    /// Chart, values and image as at its last successful deploy.
    Unchanged,
    Failed {
        error: String,
    },
    /// Not started: it needs a release that failed (`--keep-going`).
    Skipped {
        because: String,
    },
    NotStarted,
}

impl Outcome {
    fn ok(&self) -> bool {
        matches!(self, Outcome::Deployed | Outcome::Unchanged)
    }
}

/// What one release's deploy did, when it went well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Deployed,
    Unchanged,
}

pub struct Finished {
    pub outcome: Outcome,
    pub duration: Duration,
}

/// The end of a deploy.
pub struct Report {
    pub target: String,
    pub releases: Vec<Release>,
    pub finished: Vec<Finished>,
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
            let (result, detail) = match &done.outcome {
                Outcome::Deployed => ("deployed", String::new()),
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
    let plan = apps::plan(repo, &target, apps, secrets)?;
    check_sets(&plan, &options.sets)?;
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
    let helm = HelmFeatures::of(&runner, &tools, &target)?;
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
    let finished = execute(
        &plan.releases,
        jobs,
        options.keep_going,
        &|release| {
            // Its checksum key first: what is deployed, and so the
            // digest, depends on it.
            let kubectl = tools.kubectl(&target.kube).no_stdin();
            let release = &values::with_checksum_key(&runner, kubectl, release, true)?;
            let watch = Watch {
                tools: &tools,
                target: &target,
                release,
            };
            let sets = sets_for(release, &options.sets);
            let digest = values::digest(release, &sets)?;
            if !options.force && helm.labels && watch.unchanged(&runner, &digest)? {
                return Ok(Done::Unchanged);
            }
            if let Some(secret) = values::secret_manifest(release, true) {
                runner.run(&values::apply_secret(watch.kubectl(), release, &secret))?;
            }
            let helm_values = HelmValues::new(release, &sets)?;
            let mut upgrade = tools.helm(
                &target.kube,
                &[
                    "upgrade",
                    "--install",
                    &release.name,
                    &release.chart,
                    "--namespace",
                    &release.namespace,
                    "--create-namespace",
                ],
            );
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
    Ok(Report {
        target: target.name(),
        releases: plan.releases,
        finished,
    })
}

/// What the installed helm can do.
struct HelmFeatures {
    /// The flag that rolls back a failed upgrade: helm 4's
    /// `--rollback-on-failure`, helm 3's `--atomic`.
    rollback: &'static str,
    /// `--labels` on the release's record (helm 3.13 and later).
    labels: bool,
}

impl HelmFeatures {
    fn of(runner: &Runner, tools: &Toolbox, target: &Target) -> Result<HelmFeatures> {
        let version = runner.ask(
            &tools
                .helm_offline(&target.kube)
                .args(["version", "--short"]),
        )?;
        let version = crate::tools::version_in(&version).unwrap_or_default();
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        Ok(HelmFeatures {
            // A dry run knows no version: it shows what the pinned helm gets.
            rollback: if major == 3 {
                "--atomic"
            } else {
                "--rollback-on-failure"
            },
            labels: major > 3 || (major == 3 && minor >= 13) || runner.dry_run,
        })
    }
}

/// How often a release's pods are looked at while helm waits.
const WATCH_EVERY: Duration = Duration::from_secs(2);
/// How long helm gets to end its operation (and roll back) when stopped.
const HELM_GRACE: Duration = Duration::from_secs(30);

/// One release being deployed, its pods watched while helm waits.
struct Watch<'a> {
    tools: &'a Toolbox,
    target: &'a Target,
    release: &'a Release,
}

impl Watch<'_> {
    fn kubectl(&self) -> Cmd {
        self.tools
            .kubectl(&self.target.kube)
            .no_stdin()
            .timeout(Duration::from_secs(30))
    }

    /// Whether helm's record of the release says its last revision
    /// deployed `digest`.
    fn unchanged(&self, runner: &Runner, digest: &str) -> Result<bool> {
        let release = self.release;
        helm_record::deployed(
            runner,
            self.kubectl(),
            &release.namespace,
            &release.name,
            digest,
        )
    }

    /// Runs `helm upgrade`; a pod that will not become ready stops it at
    /// once (not at helm's timeout), and the release is rolled back.
    fn upgrade(&self, helm: Cmd) -> Result<()> {
        let mut running = helm.spawn()?;
        let mut next_look = Instant::now() + WATCH_EVERY;
        loop {
            if running.finished_within(next_look.saturating_duration_since(Instant::now()))? {
                return running.wait().map(drop);
            }
            if let Some(problem) = self.problem() {
                running.stop(HELM_GRACE);
                let details = self.details(&problem);
                let rollback = self.roll_back();
                bail!("{}{details}\n{rollback}", problem.describe());
            }
            next_look = Instant::now() + WATCH_EVERY;
        }
    }

    /// The first of the release's pods that will not become ready.
    fn problem(&self) -> Option<readiness::Problem> {
        let pods = self
            .kubectl()
            .args(["get", "pods", "--namespace", &self.release.namespace])
            .arg(format!(
                "--selector=app.kubernetes.io/instance={}",
                self.release.name
            ))
            .args(["--output", "json"])
            .read()
            .ok()?;
        readiness::problem_in(&pods, std::time::SystemTime::now())
    }

    /// The pod's last events and log lines, indented under the problem.
    fn details(&self, problem: &readiness::Problem) -> String {
        let ns = &self.release.namespace;
        let events = self
            .kubectl()
            .args(["get", "events", "--namespace", ns])
            .arg(format!(
                "--field-selector=involvedObject.name={}",
                problem.pod
            ))
            .args([
                "--sort-by=.lastTimestamp",
                "--output=custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message",
                "--no-headers",
            ])
            .read()
            .unwrap_or_default();
        let mut logs = self
            .kubectl()
            .args(["logs", &problem.pod, "--namespace", ns])
            .args(["--container", &problem.container, "--tail=20"]);
        if problem.crashed() {
            logs = logs.arg("--previous");
        }
        let logs = logs.read().unwrap_or_default();
        let mut out = String::new();
        for (title, text, keep) in [("last events", events, 5), ("last log lines", logs, 20)] {
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            if lines.is_empty() {
                continue;
            }
            out.push_str(&format!("\n  {title}:"));
            for line in &lines[lines.len().saturating_sub(keep)..] {
                out.push_str(&format!("\n    {}", ui::escape_controls(line.trim_end())));
            }
        }
        out
    }

    /// After a stopped upgrade: helm may have rolled back itself; else the
    /// last good revision comes back (a first install is uninstalled).
    fn roll_back(&self) -> String {
        let release = self.release;
        let helm = |head: &[&str]| self.tools.helm(&self.target.kube, head).no_stdin();
        let history = helm(&["history", &release.name, "--namespace", &release.namespace])
            .args(["--max", "10", "--output", "json"])
            .read();
        let revisions: Vec<(u64, String)> = history
            .ok()
            .and_then(|h| serde_json::from_str::<serde_json::Value>(&h).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|r| Some((r["revision"].as_u64()?, r["status"].as_str()?.to_owned())))
            .collect();
        if revisions
            .last()
            .is_some_and(|(_, status)| status == "deployed")
        {
            return "helm rolled the release back".to_owned();
        }
        let good = revisions
            .iter()
            .rev()
            .find(|(_, status)| status == "deployed" || status == "superseded");
        let (what, cmd) = match good {
            Some((revision, _)) => (
                format!("rolled back to revision {revision}"),
                helm(&["rollback", &release.name, &revision.to_string()])
                    .args(["--namespace", &release.namespace, "--wait"])
                    .args(["--timeout", &release.timeout]),
            ),
            None => (
                "uninstalled (it was its first install)".to_owned(),
                helm(&[
                    "uninstall",
                    &release.name,
                    "--namespace",
                    &release.namespace,
                ])
                .arg("--wait"),
            ),
        };
        match cmd.read() {
            Ok(_) => what,
            Err(e) => format!(
                "the rollback failed too, the release is as helm left it: {e:#}\n  hint: look at `helm history {} --namespace {}`",
                release.name, release.namespace
            ),
        }
    }

    /// Releases that install CRDs: dependents start once the API serves
    /// them (`Established`).
    fn crds_established(&self, runner: &Runner) -> Result<()> {
        let release = self.release;
        let manifest = runner.ask(
            &self
                .tools
                .helm(
                    &self.target.kube,
                    &[
                        "get",
                        "manifest",
                        &release.name,
                        "--namespace",
                        &release.namespace,
                    ],
                )
                .no_stdin(),
        )?;
        let crds = readiness::crds_in(&manifest);
        if crds.is_empty() {
            return Ok(());
        }
        self.kubectl()
            .args(["wait", "--for=condition=Established", "--timeout=60s"])
            .args(crds.iter().map(|c| format!("crd/{c}")))
            .read()
            .map(drop)
            .map_err(|e| e.context(format!("the CRDs of {} are not served", release.id())))
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

/// Runs each release once all it needs is done, up to `jobs` at once, the
/// ready one with the longest chain of releases waiting on it first.
/// After a failure nothing new starts (the running ones finish); with
/// `keep_going`, what does not need the failed release goes on, and what
/// does is skipped.
pub fn execute(
    releases: &[Release],
    jobs: usize,
    keep_going: bool,
    deploy: &(dyn Fn(&Release) -> Result<Done> + Sync),
    on_start: &(dyn Fn(&Release) + Sync),
    on_done: &(dyn Fn(&Release, &Finished) + Sync),
) -> Vec<Finished> {
    #[derive(Clone, PartialEq)]
    enum State {
        Waiting,
        Running,
        Done(Outcome),
    }
    let priority = chain_lengths(releases);
    let mut state = vec![State::Waiting; releases.len()];
    let mut finished: Vec<Option<Finished>> = (0..releases.len()).map(|_| None).collect();
    let (tx, rx) = mpsc::channel::<(usize, Result<Done>, Duration)>();
    std::thread::scope(|scope| {
        let mut running = 0;
        let mut failed = false;
        loop {
            if keep_going {
                // What needs a failed or skipped release is skipped, naming
                // the failure at the root.
                loop {
                    let blocked = (0..releases.len()).find_map(|i| {
                        if state[i] != State::Waiting {
                            return None;
                        }
                        releases[i].needs.iter().find_map(|&j| match &state[j] {
                            State::Done(Outcome::Failed { .. }) => Some((i, releases[j].id())),
                            State::Done(Outcome::Skipped { because }) => Some((i, because.clone())),
                            _ => None,
                        })
                    });
                    let Some((i, because)) = blocked else { break };
                    let done = Finished {
                        outcome: Outcome::Skipped { because },
                        duration: Duration::ZERO,
                    };
                    on_done(&releases[i], &done);
                    state[i] = State::Done(done.outcome.clone());
                    finished[i] = Some(done);
                }
            }
            while (keep_going || !failed) && running < jobs.max(1) {
                let ready = (0..releases.len())
                    .filter(|&i| {
                        state[i] == State::Waiting
                            && releases[i]
                                .needs
                                .iter()
                                .all(|&j| matches!(&state[j], State::Done(o) if o.ok()))
                    })
                    .max_by_key(|&i| (priority[i], std::cmp::Reverse(i)));
                let Some(i) = ready else { break };
                state[i] = State::Running;
                running += 1;
                on_start(&releases[i]);
                let tx = tx.clone();
                scope.spawn(move || {
                    let start = Instant::now();
                    let result = deploy(&releases[i]);
                    let _ = tx.send((i, result, start.elapsed()));
                });
            }
            if running == 0 {
                break;
            }
            let (i, result, duration) = rx.recv().expect("a deploy thread reports back");
            running -= 1;
            let outcome = match result {
                Ok(Done::Deployed) => Outcome::Deployed,
                Ok(Done::Unchanged) => Outcome::Unchanged,
                Err(e) => {
                    failed = true;
                    Outcome::Failed {
                        error: format!("{e:#}"),
                    }
                }
            };
            state[i] = State::Done(outcome.clone());
            let done = Finished { outcome, duration };
            on_done(&releases[i], &done);
            finished[i] = Some(done);
        }
    });
    finished
        .into_iter()
        .map(|f| {
            f.unwrap_or(Finished {
                outcome: Outcome::NotStarted,
                duration: Duration::ZERO,
            })
        })
        .collect()
}

/// For each release, how many releases the longest chain through it and
/// what waits on it holds: the critical path it starts.
fn chain_lengths(releases: &[Release]) -> Vec<usize> {
    let mut length = vec![1; releases.len()];
    // Dependents come after what they need in deploy order: walk it back.
    for &i in deploy_order(releases).iter().rev() {
        for &j in &releases[i].needs {
            length[j] = length[j].max(length[i] + 1);
        }
    }
    length
}

/// The stage's `[notify] webhook` gets a JSON POST as soon as each app's
/// releases are all done (at the end for an app a failure cut short). A
/// failure to notify is a warning, never a failed deploy.
struct Notifier<'a> {
    target: &'a Target,
    plan: &'a Plan,
    dry_run: bool,
    state: Mutex<NotifyState>,
}

#[derive(Default)]
struct NotifyState {
    outcomes: HashMap<String, Outcome>,
    started: HashMap<String, Instant>,
    sent: Vec<String>,
}

impl<'a> Notifier<'a> {
    fn new(target: &'a Target, plan: &'a Plan, dry_run: bool) -> Notifier<'a> {
        Notifier {
            target,
            plan,
            dry_run,
            state: Mutex::new(NotifyState::default()),
        }
    }

    fn started(&self, release: &Release) {
        let mut state = self.state.lock().expect("not poisoned");
        state
            .started
            .entry(release.app.clone())
            .or_insert_with(Instant::now);
    }

    fn finished(&self, release: &Release, outcome: &Outcome) {
        let mut state = self.state.lock().expect("not poisoned");
        state.outcomes.insert(release.id(), outcome.clone());
        let all_done = self
            .plan
            .releases
            .iter()
            .filter(|r| r.app == release.app)
            .all(|r| state.outcomes.contains_key(&r.id()));
        if all_done {
            self.send(&release.app, &mut state);
        }
    }

    fn send_the_rest(&self) {
        let mut state = self.state.lock().expect("not poisoned");
        let mut apps: Vec<String> = self.plan.releases.iter().map(|r| r.app.clone()).collect();
        apps.dedup();
        for app in apps {
            if !state.sent.contains(&app) {
                self.send(&app, &mut state);
            }
        }
    }

    fn send(&self, app: &str, state: &mut NotifyState) {
        state.sent.push(app.to_owned());
        let Some(notify) = &self.target.stage.file.value.notify else {
            return;
        };
        let releases: Vec<(&Release, Outcome)> = self
            .plan
            .releases
            .iter()
            .filter(|r| r.app == app)
            .map(|r| {
                (
                    r,
                    state
                        .outcomes
                        .get(&r.id())
                        .cloned()
                        .unwrap_or(Outcome::NotStarted),
                )
            })
            .collect();
        let ok = releases.iter().all(|(_, o)| *o == Outcome::Deployed);
        let listed: Vec<serde_json::Value> = releases
            .iter()
            .map(|(r, o)| serde_json::json!({ "name": r.name, "namespace": r.namespace, "outcome": o }))
            .collect();
        let duration = state
            .started
            .get(app)
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        let body = serde_json::json!({
            "app": app,
            "cluster": self.target.cluster,
            "stage": self.target.stage.name,
            "image_tag": self.plan.tag,
            "releases": listed,
            "result": if ok { "deployed" } else { "failed" },
            "duration_seconds": duration,
        });
        let shown = ui::mask_url_credentials(&notify.webhook);
        if self.dry_run {
            crate::outln!("# POST {shown} (deploy notification of {app})");
        } else if let Err(e) = crate::download::post_json(&notify.webhook, &body) {
            ui::warn(&format!(
                "the deploy notification of {app} was not delivered: {e:#}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    fn release(name: &str, needs: Vec<usize>) -> Release {
        Release {
            app: "a".into(),
            name: name.into(),
            chart: "c".into(),
            version: None,
            namespace: "n".into(),
            values: vec![],
            image: None,
            env: vec![],
            hosts: vec![],
            routing: crate::cluster::Routing::Ingress,
            timeout: "5m".into(),
            needs,
            checksum_key: None,
        }
    }

    /// Runs `execute` one at a time; `fail` names the releases that fail.
    fn run(releases: &[Release], keep_going: bool, fail: &[&str]) -> (Vec<String>, Vec<Finished>) {
        let order = std::sync::Mutex::new(Vec::new());
        let finished = execute(
            releases,
            1,
            keep_going,
            &|r| {
                order.lock().unwrap().push(r.name.clone());
                match fail.contains(&r.name.as_str()) {
                    true => Err(anyhow!("boom")),
                    false => Ok(Done::Deployed),
                }
            },
            &|_| {},
            &|_, _| {},
        );
        (order.into_inner().unwrap(), finished)
    }

    #[test]
    fn execute_respects_needs_and_stops_after_a_failure() {
        let releases = vec![
            release("db", vec![]),
            release("api", vec![0]),
            release("bad", vec![]),
            release("late", vec![1]),
        ];
        let (order, finished) = run(&releases, false, &["api"]);
        assert_eq!(order, ["db", "api"]);
        assert_eq!(finished[0].outcome, Outcome::Deployed);
        assert!(matches!(finished[1].outcome, Outcome::Failed { .. }));
        assert_eq!(finished[2].outcome, Outcome::NotStarted);
        assert_eq!(finished[3].outcome, Outcome::NotStarted);
    }

    #[test]
    fn keep_going_finishes_what_does_not_need_the_failure() {
        let releases = vec![
            release("db", vec![]),
            release("api", vec![0]),
            release("leaf", vec![]),
            release("web", vec![1]),
            release("worker", vec![3]),
        ];
        let (order, finished) = run(&releases, true, &["api"]);
        assert_eq!(order, ["db", "api", "leaf"]);
        assert_eq!(finished[2].outcome, Outcome::Deployed);
        for i in [3, 4] {
            assert_eq!(
                finished[i].outcome,
                Outcome::Skipped {
                    because: "a/api".into()
                },
                "{}",
                releases[i].name
            );
        }
    }

    /// Of the ready releases, the one that starts the longest chain goes
    /// first: a chain of three is not left to the end behind independents.
    #[test]
    fn the_longest_chain_starts_first() {
        let mut releases: Vec<Release> = (0..4)
            .map(|i| release(&format!("solo{i}"), vec![]))
            .collect();
        releases.push(release("c1", vec![]));
        releases.push(release("c2", vec![4]));
        releases.push(release("c3", vec![5]));
        assert_eq!(chain_lengths(&releases), [1, 1, 1, 1, 3, 2, 1]);
        let (order, _) = run(&releases, false, &[]);
        assert_eq!(order[0], "c1");
    }
}
