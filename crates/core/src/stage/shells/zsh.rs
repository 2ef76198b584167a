//! zsh: a ZDOTDIR of our own whose .zshenv and .zshrc run the user's (with
//! the user's ZDOTDIR, so HISTFILE and the rest stay theirs).

use std::ffi::OsString;
use std::path::Path;

use crate::quote;

/// Typed into the user's shell by `doctor`: prints the prompt framework.
pub const DETECT: &str = include_str!("zsh/detect.zsh");

pub const FILES: &[(&str, &str)] = &[
    (".zshenv", include_str!("zsh/zshenv.zsh")),
    (".zshrc", include_str!("zsh/zshrc.zsh")),
    ("complete.zsh", super::COMPLETE_ZSH),
];

pub fn args(_dir: &Path) -> Vec<OsString> {
    vec!["-i".into()]
}

/// ZDOTDIR points at our folder; the user's own is handed over in
/// XTASK_USER_ZDOTDIR and put back by our .zshenv.
pub fn env(dir: &Path, env: &mut Vec<(String, String)>) {
    if let Some((_, user)) = env.iter().find(|(k, _)| k == "ZDOTDIR") {
        let user = user.clone();
        env.push(("XTASK_USER_ZDOTDIR".to_owned(), user));
    }
    env.retain(|(k, _)| k != "ZDOTDIR");
    env.push(("ZDOTDIR".to_owned(), dir.display().to_string()));
}

pub fn export(name: &str, value: &str) -> String {
    format!("export {name}={}\n", quote::posix(value))
}
