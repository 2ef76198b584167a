use anyhow::{Context, Result, bail};
use clap::Args;
use clap_complete::engine::ArgValueCandidates;

use super::{Code, Ctx, ScopeArgs};
use crate::repo::{Repo, Scope};
use crate::stage::environment::{self, Secrets};
use crate::stage::shells::{self, Launch, ShellKind};
use crate::{complete, ui};

/// Open your own shell (bash, zsh or fish) in a stage.
///
/// The shell keeps your rc files, aliases and history, and gets the stage's
/// variables, an isolated KUBECONFIG under deps/kube/, the pinned tools on
/// PATH and a prompt prefix such as `🐣 local hmlet/photos`. Inside it,
/// `stage NAME` switches stage in place (no nested shells) and `exit` leaves.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask shell local                  # the default scope of the folder you are in
  cargo xtask shell test --app photos      # the photos app of its cluster
  cargo xtask shell prod --shell zsh       # protected: prints a warning banner
  stage test                               # inside the shell: switch in place")]
pub struct ShellArgs {
    /// The stage (default: project.default_stage in shell.toml).
    #[arg(add = ArgValueCandidates::new(complete::stages))]
    stage: Option<String>,
    #[command(flatten)]
    scope: ScopeArgs,
    /// The shell to start (default: the one in $SHELL).
    #[arg(long, value_enum)]
    shell: Option<ShellKind>,
    /// Open a nested shell from inside a Stagecraft shell.
    #[arg(long)]
    nest: bool,
    /// Used by the `stage` function: replace the current Stagecraft shell.
    #[arg(long, hide = true)]
    switch: bool,
    /// Used by the `stage` function: check that the stage resolves, start nothing.
    #[arg(long, hide = true, requires = "switch")]
    check: bool,
}

impl ShellArgs {
    pub fn run(self, ctx: &Ctx) -> Result<Code> {
        let depth: u32 = std::env::var("XTASK_DEPTH")
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        if depth > 0 && !self.nest && !self.switch {
            bail!(
                "you are already in a Stagecraft shell (stage {})\n  \
                 hint: type `stage <name>` to switch in place, `exit` to leave, or pass --nest to open a shell inside this one",
                std::env::var("XTASK_STAGE").unwrap_or_default()
            );
        }
        // `stage NAME` switches this shell, wherever you cd'ed to: its
        // repository is the one it was opened in.
        let repo = match std::env::var_os("XTASK_ROOT").filter(|_| self.switch) {
            Some(root) => Repo::discover(std::path::Path::new(&root))?,
            None => ctx.repo()?,
        };
        let stage = repo.stage_or_default(self.stage.as_deref())?;
        let scope = if self.switch && self.scope.cluster.is_none() && self.scope.app.is_none() {
            // Switching keeps the scope of the shell it replaces.
            let cluster = std::env::var("XTASK_CLUSTER").ok();
            let app = std::env::var("XTASK_APP").ok();
            repo.stage_scope(&ctx.cwd, cluster.as_deref(), app.as_deref())?
        } else {
            self.scope.resolve(ctx, &repo)?
        };
        let stage_env = environment::resolve(&repo, &stage, &scope, Secrets::Resolve)
            .with_context(|| format!("cannot open a shell in stage {}", stage.name))?;
        let (kind, program) = shells::detect(self.shell)?;
        if self.check {
            return Ok(Code::OK);
        }
        stage_env.prepare_kubeconfig(&repo);

        if stage.protected() {
            crate::errln!(
                "{}",
                ui::paint(
                    ui::RED_BOLD,
                    &format!(
                        "{} PROTECTED STAGE `{}`: commands in this shell act on {}. Take care.",
                        stage.emoji(),
                        stage.name,
                        describe_target(&scope, &stage.name)
                    )
                )
            );
        }
        if !ui::quiet() && !self.switch {
            crate::errln!(
                "{}",
                ui::paint(
                    ui::DIM,
                    &format!(
                        "{} · KUBECONFIG={} · `stage <name>` switches, `exit` leaves",
                        stage_env.prompt,
                        stage_env.get("KUBECONFIG").unwrap_or("")
                    )
                )
            );
        }

        for note in stage_env.readiness_notes(&repo) {
            ui::note(&note);
        }

        let depth = if self.switch { depth.max(1) } else { depth + 1 };
        let prefix = shells::prefix_enabled(repo.shell.value.prompt.enabled)?;
        let mut launch = Launch::new(kind, program, &stage_env, prefix)?;
        launch.switching = self.switch;
        launch
            .env
            .push(("XTASK_DEPTH".to_owned(), depth.to_string()));
        Err(launch.exec())
    }
}

fn describe_target(scope: &Scope, stage: &str) -> String {
    match &scope.cluster {
        Some(cluster) => format!("the real {cluster}-{stage} cluster"),
        None => format!("real {stage} systems"),
    }
}
