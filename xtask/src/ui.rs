//! Output conventions: `--verbose`, `--quiet`, colours that follow the
//! terminal and `NO_COLOR`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(1);

pub fn set_level(quiet: bool, verbose: bool) {
    let level = if quiet {
        0
    } else if verbose {
        2
    } else {
        1
    };
    LEVEL.store(level, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    LEVEL.load(Ordering::Relaxed) >= 2
}

pub fn quiet() -> bool {
    LEVEL.load(Ordering::Relaxed) == 0
}

/// Colour on stderr: only on a terminal, and never with `NO_COLOR` set.
pub fn stderr_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

pub fn red_bold(text: &str) -> String {
    paint("1;31", text)
}

pub fn dim(text: &str) -> String {
    paint("2", text)
}

fn paint(code: &str, text: &str) -> String {
    if stderr_color() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// A status line on stderr, silenced by `--quiet`.
pub fn info(message: &str) {
    if !quiet() {
        eprintln!("{message}");
    }
}
