//! The command line: global flags, the subcommands, and the context they
//! run in. One module per subcommand.

mod app;
mod cluster;
mod completions;
mod deps;
mod doctor;
mod env;
mod init;
mod list;
mod run;
mod shell;
mod up;
mod var;

use std::fmt;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use crate::complete;

use crate::repo::{Repo, Scope};
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
    Deps(deps::DepsArgs),
    Cluster(cluster::ClusterArgs),
    App(app::AppArgs),
    Var(var::VarArgs),
    Init(init::InitArgs),
    Doctor(doctor::DoctorArgs),
    Completions(completions::CompletionsArgs),
}

impl Cli {
    pub fn run(self) -> Result<()> {
        let ctx = Ctx::new()?;
        match self.command {
            Command::Shell(args) => args.run(&ctx),
            Command::Env(args) => args.run(&ctx),
            Command::Run(args) => args.run(&ctx),
            Command::List(args) => args.run(&ctx),
            Command::Deps(args) => args.run(&ctx),
            Command::Cluster(args) => args.run(&ctx),
            Command::App(args) => args.run(&ctx),
            Command::Var(args) => args.run(&ctx),
            Command::Init(args) => args.run(&ctx),
            Command::Doctor(args) => args.run(&ctx),
            Command::Completions(args) => args.run(&ctx),
            Command::Up(args) => args.run(&ctx),
            Command::Down(args) => args.run(&ctx),
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
    pub fn resolve(&self, ctx: &Ctx, repo: &Repo) -> Result<Scope> {
        repo.scope(&ctx.cwd, self.cluster.as_deref(), self.app.as_deref())
    }
}

/// Ends the process with this exit code and prints nothing more: the code
/// of a wrapped command passing through.
#[derive(Debug)]
pub struct Exit(pub u8);

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// The error and its whole chain, once, on stderr.
pub fn print_error(err: &anyhow::Error) {
    let mut chain = err.chain();
    if let Some(top) = chain.next() {
        eprintln!("{} {top}", ui::red_bold("error:"));
    }
    for cause in chain {
        eprintln!("  caused by: {cause}");
    }
}
