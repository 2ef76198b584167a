//! Prompt frameworks and the snippet that shows the stage in each, in the
//! framework's own way (a segment, a section). `doctor` prints the one
//! for the framework it found; docs/shell.md has them all, word for word.

use stagecraft_core::stage::shells::ShellKind;

/// What to add, and where.
pub struct Snippet {
    pub framework: &'static str,
    pub shell: ShellKind,
    pub file: &'static str,
    pub text: &'static str,
}

pub const SNIPPETS: &[Snippet] = &[
    Snippet {
        framework: "powerlevel10k",
        shell: ShellKind::Zsh,
        file: "~/.zshrc, after ~/.p10k.zsh is sourced",
        text: r#"function prompt_stagecraft() { [[ -n $XTASK_PROMPT ]] && p10k segment -e -f 3 -t '${XTASK_PROMPT//\%/%%}' }
function instant_prompt_stagecraft() { prompt_stagecraft }
typeset -g POWERLEVEL9K_LEFT_PROMPT_ELEMENTS=(stagecraft "${POWERLEVEL9K_LEFT_PROMPT_ELEMENTS[@]}")"#,
    },
    Snippet {
        framework: "powerlevel9k",
        shell: ShellKind::Zsh,
        file: "~/.zshrc, before the theme is sourced",
        text: r#"POWERLEVEL9K_CUSTOM_XTASK='echo -n "$XTASK_PROMPT"'
POWERLEVEL9K_CUSTOM_XTASK_BACKGROUND=yellow
POWERLEVEL9K_LEFT_PROMPT_ELEMENTS=(custom_xtask context dir vcs)"#,
    },
    Snippet {
        framework: "spaceship",
        shell: ShellKind::Zsh,
        file: "~/.zshrc, after spaceship is sourced",
        text: r#"spaceship_xtask() { [[ -n $XTASK_PROMPT ]] && spaceship::section --color yellow "$XTASK_PROMPT" }
SPACESHIP_PROMPT_ORDER=(xtask $SPACESHIP_PROMPT_ORDER)"#,
    },
    Snippet {
        framework: "pure",
        shell: ShellKind::Zsh,
        file: "~/.zshrc",
        text: r#"prompt_pure_precustom() { psvar[22]=$XTASK_PROMPT }"#,
    },
    Snippet {
        framework: "liquidprompt",
        shell: ShellKind::Bash,
        file: "~/.bashrc, before liquidprompt is sourced",
        text: r#"LP_PS1_PREFIX="${XTASK_PROMPT:+$XTASK_PROMPT }""#,
    },
    Snippet {
        framework: "starship",
        shell: ShellKind::Bash,
        file: "~/.config/starship.toml (bash, zsh and fish alike)",
        text: r#"[env_var.XTASK_PROMPT]
format = "[$env_value]($style) "
style = "bold yellow""#,
    },
    Snippet {
        framework: "oh-my-posh",
        shell: ShellKind::Bash,
        file: "your oh-my-posh theme, first in the first block's segments (bash, zsh and fish alike)",
        text: r#"{ "type": "text", "style": "plain", "foreground": "yellow", "template": "{{ if .Env.XTASK_PROMPT }}{{ .Env.XTASK_PROMPT }} {{ end }}" }"#,
    },
    Snippet {
        framework: "powerline",
        shell: ShellKind::Bash,
        file: "~/.config/powerline/themes/shell/default.json, first in segments.left (bash, zsh and fish alike)",
        text: r#"{ "function": "powerline.segments.common.env.environment", "args": { "variable": "XTASK_PROMPT" } }"#,
    },
    Snippet {
        framework: "tide",
        shell: ShellKind::Fish,
        file: "~/.config/fish/functions/_tide_item_xtask.fish, then run the `set -U` lines once",
        text: r#"function _tide_item_xtask; set -q XTASK_PROMPT; and _tide_print_item xtask $XTASK_PROMPT; end
# once: set -U tide_xtask_bg_color yellow; set -U tide_xtask_color black
# once: set -U tide_left_prompt_items xtask $tide_left_prompt_items"#,
    },
];

/// The snippet for `framework` (as `detect` names it), if there is one.
/// Starship, oh-my-posh and powerline are configured the same way in
/// every shell.
pub fn snippet_for(shell: ShellKind, framework: &str) -> Option<&'static Snippet> {
    let shared = ["starship", "oh-my-posh", "powerline"];
    SNIPPETS
        .iter()
        .find(|s| s.framework == framework && (s.shell == shell || shared.contains(&s.framework)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/shell.md shows every snippet word for word.
    #[test]
    fn the_docs_show_every_snippet() {
        let docs = include_str!("../../../../docs/shell.md");
        for snippet in SNIPPETS {
            assert!(
                docs.contains(snippet.text),
                "docs/shell.md lacks the {} snippet:\n{}",
                snippet.framework,
                snippet.text
            );
        }
    }

    #[test]
    fn shared_snippets_serve_every_shell() {
        assert!(snippet_for(ShellKind::Fish, "starship").is_some());
        assert!(snippet_for(ShellKind::Zsh, "powerline").is_some());
        assert!(snippet_for(ShellKind::Bash, "pure").is_none());
        assert!(snippet_for(ShellKind::Zsh, "prompt adam2").is_none());
    }
}
