use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use clap_complete::engine::ArgValueCandidates;

use super::{Code, Ctx, ScopeArgs};
use crate::stage::environment::{self, Entry, Explanation, Secrets};
use crate::stage::shells::{self, ShellKind};
use crate::{complete, quote, ui};

/// Print the resolved environment of a stage.
///
/// The shell formats are safe to `eval` whatever the values hold. Secret
/// values print as *** unless --reveal is given.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask env local                          # bash syntax (zsh reads it too)
  eval \"$(cargo xtask env local --reveal)\"       # load a stage into this shell
  cargo xtask env test --format fish | source    # fish
  cargo xtask env local --format dotenv > .env   # for docker compose and `set -a; . ./.env`
  cargo xtask env prod --json
  cargo xtask env local --app photos --explain DATABASE_URL")]
pub struct EnvArgs {
    /// The stage (default: project.default_stage in shell.toml).
    #[arg(add = ArgValueCandidates::new(complete::stages))]
    stage: Option<String>,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Output syntax (default: from $SHELL, else bash).
    #[arg(long, value_enum, conflicts_with = "json")]
    format: Option<Format>,
    /// Same as --format json.
    #[arg(long)]
    json: bool,
    /// Show where VAR was set and overridden, file by file.
    #[arg(long, value_name = "VAR")]
    explain: Option<String>,
    /// Print secret values instead of ***.
    #[arg(long)]
    reveal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Bash,
    Zsh,
    Fish,
    Json,
    /// KEY='value' lines: POSIX-sh syntax, read by `set -a; . ./.env` and docker compose.
    Dotenv,
}

impl EnvArgs {
    pub fn run(self, ctx: &Ctx) -> Result<Code> {
        let repo = ctx.repo()?;
        let stage = repo.stage_or_default(self.stage.as_deref())?;
        let scope = self.scope.resolve(ctx, &repo)?;
        let env = environment::resolve(&repo, &stage, &scope, Secrets::Resolve)
            .with_context(|| format!("cannot resolve the environment of stage {}", stage.name))?;
        let format = match (self.json, self.format) {
            (true, _) => Format::Json,
            (false, Some(format)) => format,
            (false, None) => match shells::detect(None) {
                Ok((ShellKind::Fish, _)) => Format::Fish,
                Ok((ShellKind::Zsh, _)) => Format::Zsh,
                _ => Format::Bash,
            },
        };
        if let Some(name) = &self.explain {
            let explanation = env.explain(name, self.reveal)?;
            if format == Format::Json {
                return super::print_json(&explanation);
            }
            crate::out!("{}", render_explanation(&explanation));
            return Ok(Code::OK);
        }
        // What it prints is loaded into shells (`eval`, direnv): the
        // KUBECONFIG it names must be current.
        env.prepare_kubeconfig(&repo);
        crate::out!("{}", render(format, &env.entries, self.reveal));
        let masked = env.entries.iter().filter(|e| e.secret).count();
        if masked > 0 && !self.reveal && !ui::quiet() {
            crate::errln!(
                "{}",
                ui::paint(
                    ui::DIM,
                    &format!("{masked} secret value(s) shown as ***; pass --reveal to print them")
                )
            );
        }
        Ok(Code::OK)
    }
}

fn render(format: Format, entries: &[Entry], reveal: bool) -> String {
    let pairs = entries.iter().map(|e| (e.name.as_str(), e.shown(reveal)));
    match format {
        Format::Bash => ShellKind::Bash.export_script(pairs),
        Format::Zsh => ShellKind::Zsh.export_script(pairs),
        Format::Fish => ShellKind::Fish.export_script(pairs),
        Format::Dotenv => pairs
            .map(|(k, v)| format!("{k}={}\n", quote::posix(v)))
            .collect(),
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> =
                pairs.map(|(k, v)| (k.to_owned(), v.into())).collect();
            let mut text = serde_json::to_string_pretty(&map).expect("strings serialize");
            text.push('\n');
            text
        }
    }
}

/// For people: control characters of a value are shown, not sent to the
/// terminal.
fn render_explanation(explanation: &Explanation) -> String {
    let mut out = match &explanation.value {
        Some(value) => format!("{}={}", explanation.name, ui::escape_controls(value)),
        None => format!("{} is not set (its source gave nothing)", explanation.name),
    };
    if explanation.secret {
        out.push_str("  (secret)");
    }
    out.push('\n');
    let width = explanation
        .chain
        .iter()
        .map(|s| s.origin.len())
        .max()
        .unwrap_or(0);
    for step in &explanation.chain {
        out.push_str(&format!(
            "  {:width$}  {:<10}  {}\n",
            step.origin,
            step.action,
            ui::escape_controls(&step.source)
        ));
    }
    out
}
