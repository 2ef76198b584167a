use anyhow::Result;
use clap::Args;

use super::{Code, Ctx};
use crate::complete;
use crate::stage::shells::ShellKind;

/// Print the completion script of a shell: stage, cluster, app and tool
/// names complete from the repository you are in.
#[derive(Args)]
#[command(after_long_help = "Examples:
  source <(cargo xtask completions bash)     # in ~/.bashrc
  source <(cargo xtask completions zsh)      # in ~/.zshrc, after compinit
  cargo xtask completions fish | source      # in ~/.config/fish/config.fish")]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    shell: ShellKind,
}

impl CompletionsArgs {
    pub fn run(self, _ctx: &Ctx) -> Result<Code> {
        crate::out!("{}", complete::script(self.shell));
        Ok(Code::OK)
    }
}
