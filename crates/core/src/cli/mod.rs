//! The command line: global flags and every subcommand's arguments, one
//! module per subcommand. The everyday commands (shell, env, run, list,
//! task, completions) have their output here too and run in both
//! binaries; the others are the operations, run by an [`Operations`] of
//! the binary's (the `stagecraft` crate's output, or the light binary's
//! hand-over to it). The use cases live in the domain modules.

pub mod app;
pub mod cluster;
mod completions;
pub mod deps;
pub mod doctor;
mod env;
pub mod init;
mod list;
mod run;
mod shell;
pub mod stage;
mod task;
pub mod up;
pub mod var;

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
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
pub enum Command {
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
    Stage(stage::StageArgs),
    Completions(completions::CompletionsArgs),
}

/// Runs the operations: the commands that need downloads, clusters,
/// deploys (every command but shell, env, run, list, task, completions).
pub trait Operations {
    /// `command` as parsed; `args` as given (without the program's name).
    fn run(&self, command: Command, args: &[OsString], ctx: &Ctx) -> Result<Code>;

    /// What `--version` says (default: the crate's version).
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    /// How the program is called in usage lines.
    fn bin_name(&self) -> &'static str {
        "cargo xtask"
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

/// Both binaries start here: the everyday commands run here, the others
/// through `operations`.
pub fn main(operations: &dyn Operations) -> std::process::ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "__complete") {
        let code = complete::run(Cli::command(), &args[2..]);
        return std::process::ExitCode::from(code);
    }
    // One string for the life of the process: clap keeps `&'static str`.
    let version: &'static str = Box::leak(operations.version().into_boxed_str());
    let mut command = Cli::command().version(version);
    if operations.bin_name() != "cargo xtask" {
        command = command
            .name(operations.bin_name())
            .bin_name(operations.bin_name());
    }
    let cli = match Cli::from_arg_matches(&command.get_matches_from(&args)) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    ui::set_level(cli.global.quiet, cli.global.verbose);
    let result = cli.command.run(operations, &args[1..]);
    match result {
        Ok(Code(code)) => std::process::ExitCode::from(code),
        Err(err) => {
            ui::print_error(&err);
            std::process::ExitCode::FAILURE
        }
    }
}

impl Command {
    fn run(self, operations: &dyn Operations, args: &[OsString]) -> Result<Code> {
        let ctx = Ctx::new()?;
        match self {
            Command::Shell(command) => command.run(&ctx),
            Command::Env(command) => command.run(&ctx),
            Command::Run(command) => command.run(&ctx),
            Command::List(command) => command.run(&ctx),
            Command::Task(command) => command.run(&ctx),
            Command::Completions(command) => command.run(&ctx),
            operation => operations.run(operation, args, &ctx),
        }
    }
}

/// What every command starts from: the folder it was run in.
pub struct Ctx {
    pub cwd: PathBuf,
}

impl Ctx {
    pub fn new() -> Result<Ctx> {
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
    /// Print each release's result and why (what changed since its last
    /// deploy) as JSON instead of the table.
    #[command(flatten)]
    pub json: Json,
    /// An instance's time to live, 1h to 30d (`12h`, `2d`): its namespaces
    /// get `stagecraft.dev/expires-at`, `stage gc` deletes them after;
    /// given again, it extends it.
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
}

/// `--affected [--since REF]`: only the apps whose inputs changed.
#[derive(Args, Clone, Default)]
pub struct AffectedArgs {
    /// Only the apps whose inputs changed since --since (their folder,
    /// images, charts, the stage's env files, apps they depend on).
    #[arg(long)]
    pub affected: bool,
    /// The revision to compare the work tree with (default: each app's
    /// last deploy to the stage from here, else the merge-base with the
    /// default branch).
    #[arg(long, value_name = "REF", requires = "affected")]
    pub since: Option<String>,
}

impl AffectedArgs {
    /// The affected apps in `stage`, when `--affected` was given.
    pub fn resolve(&self, repo: &Repo, stage: &Stage) -> Result<Option<crate::affected::Affected>> {
        match self.affected {
            true => crate::affected::affected(repo, stage, self.since.as_deref()).map(Some),
            false => Ok(None),
        }
    }
}

/// Releases a deploy runs at once by default.
pub const DEFAULT_JOBS: usize = 16;

/// Pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<Code> {
    crate::outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(Code::OK)
}
