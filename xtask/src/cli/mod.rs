//! The command line: global flags, the subcommands' arguments, and their
//! output. One module per subcommand; the use cases live in the domain
//! modules. The everyday commands run in the `xtask` binary; the others
//! (`Command::needs_ops`) in `xtask-ops`, which the light build hands over
//! to.

mod app;
mod cluster;
mod completions;
mod deps;
mod doctor;
mod env;
mod init;
mod list;
#[cfg(feature = "ops")]
mod progress;
mod run;
mod shell;
mod task;
mod up;
mod var;

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use crate::complete;
use crate::repo::{Repo, Scope, Stage};
use crate::ui;

#[derive(Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    version,
    about = "Stagecraft: stages, shells, tools, clusters and deploys for this monorepo",
    after_help = "Run `cargo xtask <command> --help` for examples."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
pub struct Global {
    /// Log every external command as a copy-pasteable line.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Print only errors.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    Up(up::UpArgs),
    Down(up::DownArgs),
    Shell(shell::ShellArgs),
    Env(env::EnvArgs),
    Run(run::RunArgs),
    List(list::ListArgs),
    Task(task::TaskArgs),
    Deps(deps::DepsArgs),
    Cluster(cluster::ClusterArgs),
    App(app::AppArgs),
    Var(var::VarArgs),
    Init(init::InitArgs),
    Doctor(doctor::DoctorArgs),
    Completions(completions::CompletionsArgs),
}

impl Command {
    /// Commands that need downloads, archives or progress bars: the
    /// `xtask-ops` binary's.
    #[cfg_attr(feature = "ops", allow(dead_code))]
    fn needs_ops(&self) -> bool {
        !matches!(
            self,
            Command::Shell(_)
                | Command::Env(_)
                | Command::Run(_)
                | Command::List(_)
                | Command::Task(_)
                | Command::Completions(_)
        )
    }
}

/// A command's exit status (a wrapped command's passes through).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(pub u8);

impl Code {
    pub const OK: Code = Code(0);
    pub const FAILED: Code = Code(1);

    /// A child's exit code as a shell reports it, clamped to 0..=255.
    pub fn of(code: i32) -> Code {
        Code(u8::try_from(code).unwrap_or(255))
    }
}

/// Both binaries start here.
pub fn main() -> std::process::ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "__complete") {
        let code = complete::run(Cli::command(), &args[2..]);
        return std::process::ExitCode::from(code);
    }
    let cli = Cli::parse_from(&args);
    ui::set_level(cli.global.quiet, cli.global.verbose);
    #[cfg(not(feature = "ops"))]
    let result = if cli.command.needs_ops() {
        Err(crate::handoff::to_ops(&args[1..]))
    } else {
        cli.command.run()
    };
    #[cfg(feature = "ops")]
    let result = cli.command.run();
    match result {
        Ok(Code(code)) => std::process::ExitCode::from(code),
        Err(err) => {
            ui::print_error(&err);
            std::process::ExitCode::FAILURE
        }
    }
}

impl Command {
    fn run(self) -> Result<Code> {
        let ctx = Ctx::new()?;
        match self {
            Command::Shell(args) => args.run(&ctx),
            Command::Env(args) => args.run(&ctx),
            Command::Run(args) => args.run(&ctx),
            Command::List(args) => args.run(&ctx),
            Command::Task(args) => args.run(&ctx),
            Command::Completions(args) => args.run(&ctx),
            #[cfg(feature = "ops")]
            Command::Deps(args) => args.run(&ctx),
            #[cfg(feature = "ops")]
            Command::Cluster(args) => args.run(&ctx),
            #[cfg(feature = "ops")]
            Command::App(args) => args.run(&ctx),
            #[cfg(feature = "ops")]
            Command::Var(args) => args.run(&ctx),
            #[cfg(feature = "ops")]
            Command::Init(args) => args.run(&ctx),
            #[cfg(feature = "ops")]
            Command::Doctor(args) => args.run(&ctx),
            #[cfg(feature = "ops")]
            Command::Up(args) => args.run(&ctx),
            #[cfg(feature = "ops")]
            Command::Down(args) => args.run(&ctx),
            #[cfg(not(feature = "ops"))]
            _ => unreachable!("handed over to xtask-ops"),
        }
    }
}

/// What every command starts from: the folder it was run in.
pub struct Ctx {
    pub cwd: PathBuf,
}

impl Ctx {
    fn new() -> Result<Ctx> {
        let cwd = std::env::current_dir().context("cannot read the current folder")?;
        Ok(Ctx { cwd })
    }

    pub fn repo(&self) -> Result<Repo> {
        Repo::discover(&self.cwd)
    }
}

/// `--cluster` and `--app`, shared by the commands that take a scope.
#[derive(Args, Clone, Default)]
pub struct ScopeArgs {
    /// The cluster (default: the one whose folder you are in).
    #[arg(long, value_name = "CLUSTER", add = ArgValueCandidates::new(complete::clusters))]
    pub cluster: Option<String>,
    /// The app (default: the one whose folder you are in).
    #[arg(long, value_name = "APP", add = ArgValueCandidates::new(complete::apps))]
    pub app: Option<String>,
}

impl ScopeArgs {
    /// The scope of a command that runs in a stage: the flags, else the
    /// folder, else the repository's only cluster.
    pub fn resolve(&self, ctx: &Ctx, repo: &Repo) -> Result<Scope> {
        repo.stage_scope(&ctx.cwd, self.cluster.as_deref(), self.app.as_deref())
    }

    /// The scope exactly as given: the flags, else the folder (`var` at the
    /// root edits envs/, not the only cluster's file).
    pub fn resolve_as_given(&self, ctx: &Ctx, repo: &Repo) -> Result<Scope> {
        repo.scope(&ctx.cwd, self.cluster.as_deref(), self.app.as_deref())
    }
}

/// `--stage`, for commands whose stage is optional.
#[derive(Args, Clone, Default)]
pub struct StageArg {
    /// The stage (default: the stage shell's, else project.default_stage).
    #[arg(long, value_name = "STAGE", add = ArgValueCandidates::new(complete::stages))]
    pub stage: Option<String>,
}

impl StageArg {
    pub fn resolve(&self, repo: &Repo) -> Result<Stage> {
        repo.stage_or_default(self.stage.as_deref())
    }
}

/// `--dry-run`, for every command that changes something.
#[derive(Args, Clone, Copy, Default)]
pub struct DryRun {
    /// Print the exact commands, in order; run none, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--json`, for every command that reports.
#[derive(Args, Clone, Copy, Default)]
pub struct Json {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The flags of every deploy (`app deploy`, `cluster deploy`).
#[derive(Args, Clone)]
pub struct DeployFlags {
    #[command(flatten)]
    pub stage: StageArg,
    /// Releases deployed at once (helm mostly waits on the cluster; more
    /// at once only loads its API server more).
    #[arg(long, default_value_t = crate::cli::DEFAULT_JOBS)]
    pub jobs: usize,
    /// A value for one release: RELEASE.key=value.
    #[arg(long = "set", value_name = "RELEASE.KEY=VALUE")]
    pub sets: Vec<String>,
    #[command(flatten)]
    pub dry_run: DryRun,
    /// Confirm a deploy to a protected stage.
    #[arg(long)]
    pub yes: bool,
    /// On a protected stage, deploy a work tree with uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
    /// Deploy releases that are unchanged since their last deploy too.
    #[arg(long)]
    pub force: bool,
    /// After a failure, go on with the releases that do not need the
    /// failed one.
    #[arg(long)]
    pub keep_going: bool,
}

/// Releases a deploy runs at once by default.
pub const DEFAULT_JOBS: usize = 16;

#[cfg(feature = "ops")]
impl DeployFlags {
    pub fn options(&self) -> crate::deploy::Options {
        crate::deploy::Options {
            stage: self.stage.stage.clone(),
            jobs: self.jobs,
            sets: self.sets.clone(),
            dry_run: self.dry_run.dry_run,
            yes: self.yes,
            allow_dirty: self.allow_dirty,
            force: self.force,
            keep_going: self.keep_going,
        }
    }
}

/// Pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<Code> {
    crate::outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(Code::OK)
}
