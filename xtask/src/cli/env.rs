use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use clap_complete::engine::ArgValueCandidates;

use super::{Ctx, ScopeArgs};
use crate::complete;
use crate::environment::{self, Entry, Explanation, mask};
use crate::shells::{self, ShellKind};
use crate::ui;

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
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let repo = ctx.repo()?;
        let stage = repo.stage_or_default(self.stage.as_deref())?;
        let scope = self.scope.resolve(ctx, &repo)?;
        let (model, env) = environment::resolve(&repo, &stage, &scope)
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
        let mut out = String::new();
        if let Some(name) = &self.explain {
            let explanation = model.explain(name, &env, self.reveal)?;
            if format == Format::Json {
                out = serde_json::to_string_pretty(&explanation)?;
                out.push('\n');
            } else {
                out = render_explanation(&explanation);
            }
        } else {
            out.push_str(&render(format, &env.entries, self.reveal));
            let masked = env.entries.iter().filter(|e| e.secret).count();
            if masked > 0 && !self.reveal && !ui::quiet() {
                eprintln!(
                    "{}",
                    ui::dim(&format!(
                        "{masked} secret value(s) shown as ***; pass --reveal to print them"
                    ))
                );
            }
        }
        std::io::stdout()
            .write_all(out.as_bytes())
            .context("cannot write to stdout")
    }
}

fn render(format: Format, entries: &[Entry], reveal: bool) -> String {
    let pairs = entries.iter().map(|e| (e.name.as_str(), mask(e, reveal)));
    match format {
        Format::Bash => ShellKind::Bash.export_script(pairs),
        Format::Zsh => ShellKind::Zsh.export_script(pairs),
        Format::Fish => ShellKind::Fish.export_script(pairs),
        Format::Dotenv => pairs
            .map(|(k, v)| format!("{k}={}\n", shells::posix_quote(v)))
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

fn render_explanation(explanation: &Explanation) -> String {
    let mut out = match &explanation.value {
        Some(value) => format!("{}={value}", explanation.name),
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
            step.origin, step.action, step.source
        ));
    }
    out
}
