use clap::{Args, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCandidates;

use super::{DryRun, ScopeArgs};
use crate::complete;

/// Edit variables in place: the right file and table for the stage and
/// scope, comments and layout kept, the write atomic.
///
/// No --stage: the scope's common [vars]; with --stage: the stage's table.
/// The scope is --cluster/--app, else the folder you are in; at the root it
/// is envs/comm.toml (or envs/<stage>.toml with --stage). Values are stored
/// as literal text (`$` as `$$`) unless --template keeps `${...}` live.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask var set LOG_LEVEL debug --stage local            # envs/local.toml [vars]
  cargo xtask var set REPLICAS 3 --app photos --stage prod     # app.toml [stages.prod.vars]
  cargo xtask var set API_URL 'https://api.${DOMAIN}' --template --app frontend
  cargo xtask var set DB_PASSWORD PHOTOS_DB_PASSWORD --app photos --secret-from env --required
  cargo xtask var get LOG_LEVEL --stage local
  cargo xtask var unset LOG_LEVEL --stage local")]
pub struct VarArgs {
    #[command(subcommand)]
    pub command: VarCommand,
}

#[derive(Subcommand)]
pub enum VarCommand {
    /// Set KEY to VALUE (or to a secret source).
    Set(SetArgs),
    /// Remove KEY.
    Unset(KeyArgs),
    /// Print KEY as that file defines it.
    Get(GetArgs),
}

#[derive(Args)]
pub struct Where {
    /// The stage's table instead of the common [vars].
    #[arg(long, add = ArgValueCandidates::new(complete::stages))]
    pub stage: Option<String>,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Args)]
pub struct SetArgs {
    pub key: String,
    /// The value; with --secret-from, the variable, file or command to read.
    pub value: String,
    #[command(flatten)]
    pub place: Where,
    /// Store a source instead of the value: `{ from_env = VALUE, secret = true }`.
    #[arg(long, value_enum)]
    pub secret_from: Option<SecretFrom>,
    /// Mark a literal value secret (masked in every output). A variable
    /// that is secret stays secret when set again without this.
    #[arg(long, conflicts_with = "secret_from")]
    pub secret: bool,
    /// Make a secret variable plain again.
    #[arg(long, conflicts_with_all = ["secret", "secret_from"])]
    pub no_secret: bool,
    /// Mark it required: a stage where it has no value is an error (all
    /// missing ones named at once).
    #[arg(long)]
    pub required: bool,
    /// Keep `${NAME}` references live instead of storing literal text.
    #[arg(long)]
    pub template: bool,
    #[command(flatten)]
    pub dry_run: DryRun,
}

#[derive(Args)]
pub struct KeyArgs {
    pub key: String,
    #[command(flatten)]
    pub place: Where,
    #[command(flatten)]
    pub dry_run: DryRun,
}

#[derive(Args)]
pub struct GetArgs {
    pub key: String,
    #[command(flatten)]
    pub place: Where,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SecretFrom {
    Env,
    File,
    Cmd,
}
