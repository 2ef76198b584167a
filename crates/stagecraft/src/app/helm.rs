//! The one place a release's helm command is put together: its chart
//! (a repository's or registry's fetched and verified first), namespace,
//! and the post-renderer that puts the app's built images into the
//! chart's manifests; and what the installed helm can do.

use std::sync::OnceLock;

use anyhow::Result;

use crate::app::charts;
use crate::app::model::Release;
use crate::app::rewrite;
use crate::cluster::Target;
use crate::tools::toolbox::Toolbox;
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::repo::Repo;

/// What the installed helm can do.
#[derive(Debug, Clone, Copy)]
pub struct HelmFeatures {
    pub major: u32,
    /// The flag that rolls back a failed upgrade: helm 4's
    /// `--rollback-on-failure`, helm 3's `--atomic`.
    pub rollback: &'static str,
    /// `--labels` on the release's record (helm 3.13 and later).
    pub labels: bool,
}

impl HelmFeatures {
    /// Asked once per process (`helm version`), and only by what needs
    /// it; a dry run knows no version and shows what the pinned helm (4)
    /// gets.
    pub fn of(runner: &Runner, tools: &Toolbox, target: &Target) -> Result<HelmFeatures> {
        static FOUND: OnceLock<HelmFeatures> = OnceLock::new();
        if let Some(found) = FOUND.get() {
            return Ok(*found);
        }
        let version = runner.ask(
            &tools
                .helm_offline(&target.kube)
                .args(["version", "--short"]),
        )?;
        let version = crate::tools::version_in(&version).unwrap_or_default();
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        let features = HelmFeatures {
            major: if runner.dry_run && major == 0 {
                4
            } else {
                major
            },
            rollback: if major == 3 {
                "--atomic"
            } else {
                "--rollback-on-failure"
            },
            labels: major > 3 || (major == 3 && minor >= 13) || runner.dry_run,
        };
        // A process is a dry run or not: what it found holds for it.
        let _ = FOUND.set(features);
        Ok(features)
    }
}

/// Where a release's helm command runs.
pub struct HelmOf<'a> {
    pub repo: &'a Repo,
    pub tools: &'a Toolbox,
    pub target: &'a Target,
    pub runner: Runner,
    /// Only charts pinned in deps/charts.lock (`--locked`, CI).
    pub locked: bool,
}

impl HelmOf<'_> {
    /// `helm VERB... RELEASE CHART --namespace NS`, with the post-renderer
    /// of the app's images; `online`: with the stage's kubeconfig and
    /// context (upgrade, diff), else offline (template).
    pub fn release(&self, verb: &[&str], release: &Release, online: bool) -> Result<Cmd> {
        self.release_with(verb, release, online, &[])
    }

    /// [`HelmOf::release`] with `flags` right after the namespace
    /// (`--create-namespace`).
    pub fn release_with(
        &self,
        verb: &[&str],
        release: &Release,
        online: bool,
        flags: &[&str],
    ) -> Result<Cmd> {
        let chart = charts::chart_arg(
            self.repo,
            self.tools,
            &release.source,
            self.locked,
            self.runner.dry_run,
        )?;
        let mut head: Vec<&str> = verb.to_vec();
        head.extend([
            release.name.as_str(),
            chart.as_str(),
            "--namespace",
            &release.namespace,
        ]);
        head.extend(flags);
        let cmd = match online {
            true => self.tools.helm(&self.target.kube, &head),
            false => self.tools.helm_offline(&self.target.kube).args(&head),
        };
        if !rewrite::chart_needs(release) {
            return Ok(cmd);
        }
        let major = HelmFeatures::of(&self.runner, self.tools, self.target)?.major;
        rewrite::with_post_renderer(self.repo, cmd, release, major, self.runner.dry_run)
    }
}

/// Whether charts must be pinned already: `--locked`, or CI.
pub fn locked(flag: bool) -> bool {
    crate::tools::install::Options::locked(flag)
}
