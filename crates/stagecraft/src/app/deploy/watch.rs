//! One release being deployed: helm runs while its pods are watched; a pod
//! that will not become ready stops helm at once, with its events and
//! logs, and the release is rolled back. Releases that install CRDs make
//! their dependents wait until the API serves them.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::ui;

use crate::app::model::Release;
use crate::app::readiness;
use crate::cluster::Target;
use crate::tools::helm_record;
use crate::tools::toolbox::Toolbox;

/// How often a release's pods are looked at while helm waits.
const WATCH_EVERY: Duration = Duration::from_secs(2);
/// How long helm gets to end its operation (and roll back) when stopped.
const HELM_GRACE: Duration = Duration::from_secs(30);

/// One release being deployed, its pods watched while helm waits.
pub(super) struct Watch<'a> {
    pub(super) tools: &'a Toolbox,
    pub(super) target: &'a Target,
    pub(super) release: &'a Release,
    /// The label selectors of the release's workloads, read once from the
    /// manifest helm is installing (any chart's, not only ours).
    pub(super) selectors: std::cell::OnceCell<Vec<String>>,
}

impl Watch<'_> {
    pub(super) fn kubectl(&self) -> Cmd {
        self.tools
            .kubectl(&self.target.kube)
            .no_stdin()
            .timeout(Duration::from_secs(30))
    }

    /// Whether helm's record of the release says its last revision
    /// deployed `digest`.
    pub(super) fn unchanged(&self, runner: &Runner, digest: &str) -> Result<bool> {
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
    pub(super) fn upgrade(&self, helm: Cmd) -> Result<()> {
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

    /// The selectors of the release's workloads: from the manifest helm
    /// records as it installs (its pending revision), else the instance
    /// label charts following the common convention set.
    fn selectors(&self) -> &[String] {
        self.selectors.get_or_init(|| {
            let release = self.release;
            let found: Vec<String> = self
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
                .no_stdin()
                .timeout(Duration::from_secs(30))
                .read()
                .ok()
                .and_then(|m| crate::app::objects::workloads(&m).ok())
                .unwrap_or_default()
                .into_iter()
                .map(|w| w.selector)
                .filter(|s| !s.is_empty())
                .collect();
            match found.is_empty() {
                true => vec![format!("app.kubernetes.io/instance={}", release.name)],
                false => found,
            }
        })
    }

    /// The first of the release's pods that will not become ready.
    fn problem(&self) -> Option<readiness::Problem> {
        self.selectors().iter().find_map(|selector| {
            let pods = self
                .kubectl()
                .args(["get", "pods", "--namespace", &self.release.namespace])
                .arg(format!("--selector={selector}"))
                .args(["--output", "json"])
                .read()
                .ok()?;
            readiness::problem_in(&pods, std::time::SystemTime::now())
        })
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
    pub(super) fn crds_established(&self, runner: &Runner) -> Result<()> {
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
