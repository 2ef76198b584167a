use anyhow::{Result, bail};
use clap::Args;
use clap_complete::engine::ArgValueCandidates;

use super::Ctx;
use super::app::{DeployOptions, StageArgs, build_images, deploy};
use super::deps::{InstallArgs, install};
use crate::cluster::{self, Target};
use crate::complete;
use crate::config::Target as TargetKind;
use crate::process::Runner;
use crate::repo::Repo;
use crate::tools::{self, Pins};
use crate::{hosts, ui};

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
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Print the exact commands, in order; run none.
    #[arg(long)]
    dry_run: bool,
    /// Confirm a deploy to a protected stage.
    #[arg(long)]
    yes: bool,
}

/// Delete the kind clusters of a stage (never remote or protected ones).
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask down
  cargo xtask down test --dry-run")]
pub struct DownArgs {
    #[arg(add = ArgValueCandidates::new(complete::stages))]
    stage: Option<String>,
    #[arg(long)]
    dry_run: bool,
}

/// A step header: `[2/4] cluster hmlet`.
fn step(runner: &Runner, n: usize, total: usize, text: &str) {
    if runner.dry_run {
        println!("# [{n}/{total}] {text}");
    } else if !ui::quiet() {
        println!("\n[{n}/{total}] {text}");
    }
}

impl UpArgs {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let repo = ctx.repo()?;
        let stage = repo.stage_or_default(self.stage.as_deref())?;
        let stage_name = stage.name.clone();
        let clusters = repo.cluster_names()?;
        let runner = Runner {
            dry_run: self.dry_run,
        };
        let total = 4;

        step(&runner, 1, total, "pinned tools");
        pinned_tools(&repo, self.dry_run)?;

        step(
            &runner,
            2,
            total,
            &format!("clusters: {}", clusters.join(", ")),
        );
        let mut targets = Vec::new();
        for cluster in &clusters {
            let target = Target::resolve(&repo, cluster, repo.stage(&stage_name)?)?;
            if target.is_kind() {
                cluster::bootstrap_kind(&repo, &target, &runner)?;
            } else {
                cluster::bootstrap_remote(&repo, &target, &runner)?;
            }
            targets.push(target);
        }

        step(&runner, 3, total, "images");
        for target in &targets {
            for app in repo.app_names(&target.cluster)? {
                build_images(&repo, target, &app, &runner, true)?;
            }
        }

        step(&runner, 4, total, "apps");
        let options = DeployOptions {
            stage: StageArgs {
                stage: Some(stage_name.clone()),
            },
            jobs: self.jobs,
            sets: Vec::new(),
            dry_run: self.dry_run,
            yes: self.yes,
        };
        for target in &targets {
            let apps = repo.app_names(&target.cluster)?;
            deploy(&repo, &target.cluster, &apps, &options)?;
        }
        if !self.dry_run {
            urls(&repo, &targets)?;
        }
        Ok(())
    }
}

/// Installs the pinned tools; a tool with no sha256 for this platform is
/// taken from PATH when it is there (with a warning), never downloaded
/// unverified.
fn pinned_tools(repo: &Repo, dry_run: bool) -> Result<()> {
    let pins = Pins::load(repo)?;
    let platform = tools::host_platform()?;
    let mut pinned = Vec::new();
    for name in pins.names() {
        if pins.get(&name)?.sha256_for(platform).is_some() {
            pinned.push(name);
        } else if let Ok(path) = tools::resolve(repo, &name) {
            eprintln!(
                "{} {name} has no sha256 pinned for {platform}: using {} (run `cargo xtask deps lock {name}` to pin it)",
                ui::red_bold("warning:"),
                path.display()
            );
        } else {
            bail!(
                "{name} has no sha256 pinned for {platform} and is not on PATH\n  hint: run `cargo xtask deps lock {name}` (with network access), then `cargo xtask up` again"
            );
        }
    }
    if pinned.is_empty() {
        return Ok(());
    }
    install(
        repo,
        &pins,
        InstallArgs {
            tools: pinned,
            force: false,
            dry_run,
        },
    )
}

/// The apps' URLs, and the add-hosts hint when the hosts file lacks them.
fn urls(repo: &Repo, targets: &[Target]) -> Result<()> {
    let hosts_file = hosts::hosts_file(None);
    let text = std::fs::read_to_string(&hosts_file).unwrap_or_default();
    println!("\n{:<12} {:<12} url", "cluster", "stage");
    for target in targets {
        let port = match target.is_kind() {
            true => target.ports().map(|(http, _)| http).unwrap_or(80),
            false => 80,
        };
        let names = cluster::app_hosts(repo, target)?;
        for host in &names {
            let url = if port == 80 {
                format!("http://{host}/")
            } else {
                format!("http://{host}:{port}/")
            };
            println!("{:<12} {:<12} {url}", target.cluster, target.stage.name);
        }
        if target.is_kind()
            && !names.is_empty()
            && !text.contains(&hosts::block(&target.name, "127.0.0.1", &names))
        {
            println!(
                "hint: make these names resolve: cargo xtask cluster add-hosts {} --stage {}",
                target.cluster, target.stage.name
            );
        }
    }
    Ok(())
}

impl DownArgs {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let repo = ctx.repo()?;
        let stage = repo.stage_or_default(self.stage.as_deref())?;
        if stage.protected() {
            bail!(
                "stage {} is protected: `down` never deletes its clusters",
                stage.name
            );
        }
        if stage.target() != TargetKind::Kind {
            bail!(
                "stage {} is remote: `down` only deletes the kind clusters Stagecraft creates",
                stage.name
            );
        }
        let runner = Runner {
            dry_run: self.dry_run,
        };
        let stage_name = stage.name.clone();
        for cluster in repo.cluster_names()? {
            let target = Target::resolve(&repo, &cluster, repo.stage(&stage_name)?)?;
            cluster::delete(&repo, &target, &runner, &hosts::hosts_file(None))?;
        }
        Ok(())
    }
}
