//! bash: `--rcfile` of our own that sources the user's ~/.bashrc first.

use std::ffi::OsString;
use std::path::Path;

use crate::quote;

/// Typed into the user's shell by `doctor`: prints the prompt framework.
pub const DETECT: &str = include_str!("detect.bash");

pub const FILES: &[(&str, &str)] = &[
    ("bashrc", include_str!("bash.rc")),
    ("complete.bash", super::COMPLETE_BASH),
];

pub fn args(dir: &Path) -> Vec<OsString> {
    vec![
        "--rcfile".into(),
        dir.join("bashrc").into_os_string(),
        "-i".into(),
    ]
}

pub fn export(name: &str, value: &str) -> String {
    format!("export {name}={}\n", quote::posix(value))
}
