use std::ffi::OsString;

use anyhow::{Context, Result};
use clap::Args;
use clap_complete::engine::ArgValueCandidates;

use super::{Code, Ctx, ScopeArgs};
use crate::process::Cmd;
use crate::stage::environment::{self, Secrets};
use crate::stage::{confirm, fanout};
use crate::{complete, ui};

/// Run one command in a stage's environment, or in several stages at once.
///
/// In one stage, stdin, stdout and stderr are the command's; its exit code
/// passes through (death by signal N gives 128+N). In several (local,test,
/// all, a glob such as 'te*'), the command runs in each stage's own
/// environment side by side, each output line prefixed with its stage, and
/// the exit status is the worst one. Protected stages are confirmed before
/// anything runs.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask run local -- kubectl get pods
  cargo xtask run test --app photos -- sh -c 'echo $DATABASE_URL'
  cargo xtask run stage -- helm list -A
  cargo xtask run local,test -- kubectl get pods      # both, lines prefixed
  cargo xtask run all --fail-fast -- kubectl version")]
pub struct RunArgs {
    /// The stage, or several: local,test, all, or a glob ('te*').
    #[arg(add = ArgValueCandidates::new(complete::stages), value_name = "STAGES")]
    stage: String,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Confirm a command on a protected stage.
    #[arg(long)]
    yes: bool,
    /// With several stages: stop the others at the first failure.
    #[arg(long)]
    fail_fast: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

impl RunArgs {
    pub fn run(self, ctx: &Ctx) -> Result<Code> {
        let repo = ctx.repo()?;
        let scope = self.scope.resolve(ctx, &repo)?;
        if fanout::names_several(&self.stage) {
            let code = fanout::run(
                &repo,
                fanout::Options {
                    stages: fanout::select(&repo, &self.stage)?,
                    scope: &scope,
                    command: &self.command,
                    fail_fast: self.fail_fast,
                    yes: self.yes,
                    per_stage: None,
                },
            )?;
            return Ok(Code::of(code));
        }
        let stage = repo.stage(&self.stage)?;
        let env = environment::resolve(&repo, &stage, &scope, Secrets::Resolve)
            .with_context(|| format!("cannot resolve the environment of stage {}", stage.name))?;
        confirm::protected(&stage, self.yes, "run", None)?;
        env.prepare_kubeconfig(&repo);
        let (program, args) = self.command.split_first().expect("clap requires a command");
        let cmd = Cmd::new(program).args(args).full_env(env.child_env());
        match cmd.status() {
            Ok(code) => {
                // Quiet when it worked; after a failure, what may explain it.
                if code != 0 {
                    for note in env.readiness_notes(&repo) {
                        ui::note(&note);
                    }
                }
                Ok(Code::of(code))
            }
            // As a shell says it: 127 for a command that is not there.
            Err(e)
                if e.root_cause()
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
            {
                ui::print_error(&e.context(
                    "the command is not on the stage's PATH (deps/bin, the .bin folders, then yours)",
                ));
                Ok(Code(127))
            }
            Err(e) => Err(e),
        }
    }
}
