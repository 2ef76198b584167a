//! The output of the operations: one module per command, each taking the
//! arguments `stagecraft_core::cli` parsed and calling the domain modules;
//! `progress.rs` has the observers (download bars, the deploy table). A
//! command module never imports a sibling.

mod app;
mod cluster;
mod deps;
mod doctor;
mod init;
mod progress;
mod stage;
mod up;
mod var;

use std::ffi::OsString;

use anyhow::Result;
use stagecraft_core::cli::{Code, Command, Ctx, DeployFlags, Operations};

/// Runs every command itself: the `stagecraft` binary's operations.
pub struct Full;

impl Operations for Full {
    /// `0.3.0 (commit 1a2b3c...)` for an installed binary; a build of this
    /// repository's `cargo xtask` says so instead of a commit that would
    /// soon be stale.
    fn version(&self) -> String {
        let version = env!("CARGO_PKG_VERSION");
        match (env!("STAGECRAFT_BUILD"), env!("STAGECRAFT_COMMIT")) {
            ("repository", _) => format!("{version} (built in this repository by cargo xtask)"),
            (_, "") => format!("{version} (commit unknown: built outside a git checkout)"),
            (_, commit) => format!("{version} (commit {commit})"),
        }
    }

    /// An installed binary is `stagecraft`; the repository's is run as
    /// `cargo xtask`.
    fn bin_name(&self) -> &'static str {
        match env!("STAGECRAFT_BUILD") {
            "installed" => "stagecraft",
            _ => "cargo xtask",
        }
    }

    fn run(&self, command: Command, _args: &[OsString], ctx: &Ctx) -> Result<Code> {
        run(command, ctx).map_err(|e| {
            // A download host out of reach, wherever it was met (tools,
            // addons, checksum files): say what gets round it, once.
            let text = format!("{e:#}");
            match crate::download::unreachable_in(&e) {
                Some(_) if !text.contains(crate::download::OFFLINE_HINT) => {
                    anyhow::anyhow!("{text}\n  {}", crate::download::OFFLINE_HINT)
                }
                _ => e,
            }
        })
    }
}

fn run(command: Command, ctx: &Ctx) -> Result<Code> {
    match command {
        Command::Deps(args) => deps::run(args, ctx),
        Command::Cluster(args) => cluster::run(args, ctx),
        Command::App(args) => app::run(args, ctx),
        Command::Var(args) => var::run(args, ctx),
        Command::Init(args) => init::run(args, ctx),
        Command::Doctor(args) => doctor::run(args, ctx),
        Command::Up(args) => up::run(args, ctx),
        Command::Down(args) => up::run_down(args, ctx),
        Command::Stage(args) => stage::run(args, ctx),
        Command::Shell(_)
        | Command::Env(_)
        | Command::Run(_)
        | Command::List(_)
        | Command::Task(_)
        | Command::Completions(_) => unreachable!("the everyday commands run in the core"),
    }
}

/// What `--stage`, `--jobs`, `--set`... of a deploy ask for.
fn deploy_options(flags: &DeployFlags) -> Result<crate::app::deploy::Options> {
    Ok(crate::app::deploy::Options {
        stage: flags.stage.stage.clone(),
        jobs: flags.jobs,
        sets: flags.sets.clone(),
        dry_run: flags.dry_run.dry_run,
        yes: flags.yes,
        allow_dirty: flags.allow_dirty,
        force: flags.force,
        keep_going: flags.keep_going,
        locked: false,
        pinned: Vec::new(),
        ttl: flags
            .ttl
            .as_deref()
            .map(crate::cluster::instances::parse_ttl)
            .transpose()?,
    })
}
