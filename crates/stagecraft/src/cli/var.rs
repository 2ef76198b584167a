use anyhow::Result;
use stagecraft_core::cli::{Code, Ctx};

use crate::vars::{self, Edited, Place, SetOptions, Source};
use stagecraft_core::cli::var::*;
use stagecraft_core::repo::Repo;
use stagecraft_core::ui;

pub fn run(args: VarArgs, ctx: &Ctx) -> Result<Code> {
    let repo = ctx.repo()?;
    match args.command {
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
                    no_secret: args.no_secret,
                    required: args.required,
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
            stagecraft_core::outln!("{}", vars::get(&repo, &place, &args.key)?);
            Ok(Code::OK)
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
        stagecraft_core::outln!("--- {}", place.label());
        stagecraft_core::out!("{}", edited.diff);
    } else if edited.changed {
        ui::info(&done());
    } else {
        ui::info(&format!("{} already says so: unchanged", place.label()));
    }
}
