//! The prompt the user really sees: their shell started exactly as a stage
//! shell (their rc files, then ours) in a pseudo-terminal, one command
//! typed (it prints the prompt framework), and the prompt drawn after it
//! read off the emulated screen.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::pty::Terminal;
use stagecraft_core::stage::shells::{Launch, ShellKind};

const ROWS: u16 = 40;
const COLS: u16 = 160;
const MARKER: &str = "stagecraft-framework:";
/// zsh only: `compinit`, `first-tab` (the stage shell starts it) or `off`.
const COMPLETION_MARKER: &str = "stagecraft-completion:";
/// Output must pause this long before a prompt counts as drawn: prompt
/// themes draw in several steps.
const SETTLE: Duration = Duration::from_millis(600);
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

#[derive(Debug, Serialize)]
pub struct Rendered {
    pub shell: &'static str,
    /// The prompt framework found in the shell, if any.
    pub framework: Option<String>,
    /// zsh's completion system: `compinit` (the user's startup files),
    /// `first-tab` (the stage shell starts it) or `off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion: Option<String>,
    /// The prompt's lines as the terminal shows them.
    pub prompt: String,
    /// The prompt shows the stage's prefix text.
    pub shows_stage: bool,
    /// The prompt shows `${XTASK_PROMPT}` or `$XTASK_PROMPT` as text.
    pub shows_reference: bool,
}

/// Starts `launch` in a terminal, and reads its prompt.
pub fn render(launch: &Launch, dir: &Path, stage_text: &str) -> Result<Rendered> {
    let mut cmd = launch
        .command(dir)
        .env("__XTASK_DETECT", launch.kind.detect_script());
    let term_set = launch
        .env
        .iter()
        .any(|(k, v)| k == "TERM" && !v.is_empty() && v != "dumb");
    if !term_set {
        cmd = cmd.env("TERM", "xterm-256color");
    }
    let mut term = Terminal::start(cmd.command(), ROWS, COLS)?;
    let shell = launch.kind.name();
    // Startup and the first prompt, until the output pauses.
    term.read_until(ANSWER_WITHIN, Some(SETTLE), |_| false)?;
    let typed = match launch.kind {
        ShellKind::Fish => "eval $__XTASK_DETECT\r",
        ShellKind::Bash | ShellKind::Zsh => "eval \"$__XTASK_DETECT\"\r",
    };
    let start = term.output().len();
    term.type_text(typed)?;
    let answered = term.read_until(ANSWER_WITHIN, None, |out| {
        framework_in(&out[start..]).is_some()
    })?;
    if !answered {
        bail!(
            "{shell} started with your startup files did not run a command within {} s in a terminal; what it showed:\n{}",
            ANSWER_WITHIN.as_secs(),
            screen_text(term.screen()).trim_end()
        );
    }
    let framework = framework_in(&term.output()[start..]).filter(|f| !f.is_empty());
    let completion = value_after(&term.output()[start..], COMPLETION_MARKER);
    // The prompt drawn after the command, in full.
    term.read_until(Duration::from_secs(5), Some(SETTLE), |_| false)?;
    let prompt = prompt_after_marker(term.screen());
    Ok(Rendered {
        shell,
        framework,
        completion,
        shows_stage: squeeze(&prompt).contains(&squeeze(stage_text)),
        shows_reference: prompt.contains("${XTASK_PROMPT}") || prompt.contains("$XTASK_PROMPT"),
        prompt,
    })
}

/// What the detection script printed after the marker.
fn framework_in(output: &[u8]) -> Option<String> {
    value_after(output, MARKER)
}

/// The rest of the line after `marker`, once the line is complete.
fn value_after(output: &[u8], marker: &str) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let at = text.find(marker)? + marker.len();
    let rest = &text[at..];
    let end = rest.find(['\r', '\n'])?;
    Some(rest[..end].trim().to_owned())
}

/// The rows from the one after the marker's to the cursor's.
fn prompt_after_marker(screen: &vt100::Screen) -> String {
    let rows: Vec<String> = screen.rows(0, COLS).collect();
    let (cursor_row, _) = screen.cursor_position();
    let from = rows
        .iter()
        .rposition(|r| r.contains(MARKER))
        .map_or(0, |i| i + 1);
    let to = usize::from(cursor_row).min(rows.len().saturating_sub(1));
    if from > to {
        return String::new();
    }
    rows[from..=to]
        .iter()
        .map(|r| r.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

fn screen_text(screen: &vt100::Screen) -> String {
    screen
        .rows(0, COLS)
        .map(|r| r.trim_end().to_owned())
        .filter(|r| !r.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs of whitespace as one space: terminals differ in the columns an
/// emoji takes, and the prefix pads for the widest.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_framework_is_read_from_the_marker_line() {
        assert_eq!(
            framework_in(b"eval \"$X\"\r\nstagecraft-framework:pure\r\n$ "),
            Some("pure".to_owned())
        );
        assert_eq!(
            framework_in(b"stagecraft-framework:\r\n"),
            Some(String::new())
        );
        assert_eq!(framework_in(b"stagecraft-framework:pu"), None);
    }

    #[test]
    fn the_prompt_is_what_the_screen_shows_after_the_marker() {
        let mut parser = vt100::Parser::new(ROWS, COLS, 0);
        parser.process(b"welcome\r\nold> eval\r\nstagecraft-framework:\r\n");
        parser.process("\x1b7     \x1b8🐣 x \x1b8\x1b[5Cline one\r\n> ".as_bytes());
        assert_eq!(prompt_after_marker(parser.screen()), "🐣 x line one\n>");
        assert_eq!(squeeze(" 🐣  x\t y "), "🐣 x y");
    }
}
