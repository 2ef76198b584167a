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
  cargo xtask var set DB_PASSWORD PHOTOS_DB_PASSWORD --app photos --secret-from env
  cargo xtask var get LOG_LEVEL --stage local
  cargo xtask var unset LOG_LEVEL --stage local")]
pub struct VarArgs {
    #[command(subcommand)]
    command: VarCommand,
}

#[derive(Subcommand)]
enum VarCommand {
    /// Set KEY to VALUE (or to a secret source).
    Set(SetArgs),
    /// Remove KEY.
    Unset(KeyArgs),
    /// Print KEY as that file defines it.
    Get(GetArgs),
}

#[derive(Args)]
struct Where {
    /// The stage's table instead of the common [vars].
    #[arg(long, add = ArgValueCandidates::new(complete::stages))]
    stage: Option<String>,
    #[command(flatten)]
    scope: ScopeArgs,
}

#[derive(Args)]
struct SetArgs {
    key: String,
    /// The value; with --secret-from, the variable, file or command to read.
    value: String,
    #[command(flatten)]
    place: Where,
    /// Store a source instead of the value: `{ from_env = VALUE, secret = true }`.
    #[arg(long, value_enum)]
    secret_from: Option<SecretFrom>,
    /// Mark a literal value secret (masked in every output).
    #[arg(long, conflicts_with = "secret_from")]
    secret: bool,
    /// Keep `${NAME}` references live instead of storing literal text.
    #[arg(long)]
    template: bool,
    #[command(flatten)]
    dry_run: DryRun,
}

#[derive(Args)]
struct KeyArgs {
    key: String,
    #[command(flatten)]
    place: Where,
    #[command(flatten)]
    dry_run: DryRun,
}

#[derive(Args)]
struct GetArgs {
    key: String,
    #[command(flatten)]
    place: Where,
}

#[derive(Clone, Copy, ValueEnum)]
enum SecretFrom {
    Env,
    File,
    Cmd,
}

#[cfg(feature = "ops")]
mod output {
    use crate::cli::{Code, Ctx};
    use anyhow::Result;

    use super::*;
    use crate::repo::Repo;
    use crate::ui;
    use crate::vars::{self, Edited, Place, SetOptions, Source};

    impl VarArgs {
        pub fn run(self, ctx: &Ctx) -> Result<Code> {
            let repo = ctx.repo()?;
            match self.command {
                VarCommand::Set(args) => {
                    let place = place(ctx, &repo, &args.place)?;
                    let edited = vars::set(
                        &repo,
                        &place,
                        &SetOptions {
                            key: &args.key,
                            value: &args.value,
                            source: args.secret_from.map(|s| match s {
                                SecretFrom::Env => Source::Env,
                                SecretFrom::File => Source::File,
                                SecretFrom::Cmd => Source::Cmd,
                            }),
                            secret: args.secret,
                            template: args.template,
                            dry_run: args.dry_run.dry_run,
                        },
                    )?;
                    report(&edited, &place, args.dry_run.dry_run, || {
                        format!("set {} in {}", args.key, place.label())
                    });
                    Ok(Code::OK)
                }
                VarCommand::Unset(args) => {
                    let place = place(ctx, &repo, &args.place)?;
                    let edited = vars::unset(&repo, &place, &args.key, args.dry_run.dry_run)?;
                    report(&edited, &place, args.dry_run.dry_run, || {
                        format!("removed {} from {}", args.key, place.label())
                    });
                    Ok(Code::OK)
                }
                VarCommand::Get(args) => {
                    let place = place(ctx, &repo, &args.place)?;
                    crate::outln!("{}", vars::get(&repo, &place, &args.key)?);
                    Ok(Code::OK)
                }
            }
        }
    }

    fn place(ctx: &Ctx, repo: &Repo, place: &Where) -> Result<Place> {
        let scope = place.scope.resolve_as_given(ctx, repo)?;
        Place::new(repo, scope, place.stage.as_deref())
    }

    /// A dry run shows the changed lines (secrets masked); a real one says
    /// what it did.
    fn report(edited: &Edited, place: &Place, dry_run: bool, done: impl FnOnce() -> String) {
        if dry_run {
            crate::outln!("--- {}", place.label());
            crate::out!("{}", edited.diff);
        } else if edited.changed {
            ui::info(&done());
        } else {
            ui::info(&format!("{} already says so: unchanged", place.label()));
        }
    }
}
