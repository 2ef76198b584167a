use clap::Args;
use clap_complete::engine::ArgValueCandidates;

use super::DryRun;
use crate::complete;

/// Everything, in one command: pinned tools, every cluster, images,
/// every app, then the apps' URLs. Each step is skipped when already done.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask up                 # the default stage (local)
  cargo xtask up test --dry-run  # the whole plan, in order
  cargo xtask down               # delete the local kind clusters")]
pub struct UpArgs {
    /// The stage (default: project.default_stage).
    #[arg(add = ArgValueCandidates::new(complete::stages))]
    stage: Option<String>,
    /// Releases deployed at once.
    #[arg(long, default_value_t = crate::cli::DEFAULT_JOBS)]
    jobs: usize,
    #[command(flatten)]
    dry_run: DryRun,
    /// Confirm a protected stage.
    #[arg(long)]
    yes: bool,
    /// Install only pinned tools: a tool without a sha256 is an error
    /// instead of being pinned on first use (always so when CI is set).
    #[arg(long)]
    locked: bool,
    /// On a protected stage, ship a work tree with uncommitted changes.
    #[arg(long)]
    allow_dirty: bool,
}

/// Delete the kind clusters of a stage (never remote or protected ones).
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask down
  cargo xtask down test --dry-run")]
pub struct DownArgs {
    #[arg(add = ArgValueCandidates::new(complete::stages))]
    stage: Option<String>,
    #[command(flatten)]
    dry_run: DryRun,
}

#[cfg(feature = "ops")]
mod output {
    use crate::cli::{Code, Ctx};
    use anyhow::Result;

    use super::*;
    use crate::cli::progress::{self, DeployDisplay};
    use crate::deploy::{Observer, Report};
    use crate::download::Client;
    use crate::hosts;
    use crate::process::Runner;
    use crate::repo::Repo;
    use crate::tools::install::{Plan, Preview, Reporter};
    use crate::tools::lock::Pin;
    use crate::ui;
    use crate::up::{self, Show};

    struct Steps<'a> {
        repo: &'a Repo,
        dry_run: bool,
        display: DeployDisplay,
    }

    impl Show for Steps<'_> {
        fn step(&self, n: usize, total: usize, text: &str) {
            if self.dry_run {
                crate::outln!("# [{n}/{total}] {text}");
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

    impl UpArgs {
        pub fn run(self, ctx: &Ctx) -> Result<Code> {
            let repo = ctx.repo()?;
            let options = up::Options {
                stage: self.stage,
                jobs: self.jobs,
                dry_run: self.dry_run.dry_run,
                yes: self.yes,
                locked: self.locked,
                allow_dirty: self.allow_dirty,
            };
            let steps = Steps {
                repo: &repo,
                dry_run: options.dry_run,
                display: DeployDisplay::new(),
            };
            let done = up::up(&repo, &options, &steps)?;
            if !done.urls.is_empty() {
                crate::outln!("\n{:<12} {:<12} url", "cluster", "stage");
                for url in &done.urls {
                    crate::outln!("{:<12} {:<12} {}", url.cluster, url.stage, url.url);
                }
            }
            for hint in &done.hints {
                crate::outln!("hint: make these names resolve: {hint}");
            }
            Ok(Code::OK)
        }
    }

    impl DownArgs {
        pub fn run(self, ctx: &Ctx) -> Result<Code> {
            let repo = ctx.repo()?;
            let runner = Runner {
                dry_run: self.dry_run.dry_run,
            };
            up::down(
                &repo,
                self.stage.as_deref(),
                runner,
                &hosts::hosts_file(None),
            )?;
            Ok(Code::OK)
        }
    }
}
