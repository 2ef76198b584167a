use anyhow::Result;
use stagecraft_core::cli::{Code, Ctx};

use crate::app::deploy::{Observer, Report};
use crate::cli::progress::{self, DeployDisplay};
use crate::cluster::hosts;
use crate::download::Client;
use crate::tools::install::{Plan, Preview, Reporter};
use crate::tools::lock::Pin;
use crate::up::{self, Show};
use stagecraft_core::cli::up::*;
use stagecraft_core::process::Runner;
use stagecraft_core::repo::Repo;
use stagecraft_core::ui;

struct Steps<'a> {
    repo: &'a Repo,
    dry_run: bool,
    display: DeployDisplay,
}

impl Show for Steps<'_> {
    fn step(&self, n: usize, total: usize, text: &str) {
        if self.dry_run {
            stagecraft_core::outln!("# [{n}/{total}] {text}");
        } else {
            ui::say(&format!("\n[{n}/{total}] {text}"));
        }
    }
    fn install_reporter(&self, plans: &[Plan]) -> Box<dyn Reporter> {
        progress::downloads(plans, &Client::for_repo(self.repo))
    }
    fn install_preview(&self, preview: &Preview) {
        progress::print_install_plan(preview);
    }
    fn pinned(&self, pin: &Pin, url: &str) {
        progress::pinned(pin, url);
    }
    fn deploy_observer(&self) -> &dyn Observer {
        &self.display
    }
    fn deployed(&self, report: &Report) {
        progress::print_summary(report, self.dry_run);
    }
}

pub fn run(args: UpArgs, ctx: &Ctx) -> Result<Code> {
    let repo = ctx.repo()?;
    let options = up::Options {
        stage: args.stage,
        jobs: args.jobs,
        dry_run: args.dry_run.dry_run,
        yes: args.yes,
        locked: args.locked,
        allow_dirty: args.allow_dirty,
        affected: args.affected.affected.then(|| args.affected.since.clone()),
        ttl: args
            .ttl
            .as_deref()
            .map(crate::cluster::instances::parse_ttl)
            .transpose()?,
    };
    let steps = Steps {
        repo: &repo,
        dry_run: options.dry_run,
        display: DeployDisplay::new(),
    };
    let done = up::up(&repo, &options, &steps)?;
    if !done.urls.is_empty() {
        stagecraft_core::outln!("\n{:<12} {:<12} url", "cluster", "stage");
        for url in &done.urls {
            stagecraft_core::outln!("{:<12} {:<12} {}", url.cluster, url.stage, url.url);
        }
    }
    for hint in &done.hints {
        stagecraft_core::outln!("hint: make these names resolve: {hint}");
    }
    Ok(Code::OK)
}

pub fn run_down(args: DownArgs, ctx: &Ctx) -> Result<Code> {
    let repo = ctx.repo()?;
    let runner = Runner {
        dry_run: args.dry_run.dry_run,
    };
    up::down(
        &repo,
        args.stage.as_deref(),
        runner,
        &hosts::hosts_file(None),
    )?;
    Ok(Code::OK)
}
