//! fish: its own config as usual, then our init command (`-C`).

use std::ffi::OsString;
use std::path::Path;

use crate::quote;

/// Typed into the user's shell by `doctor`: prints the prompt framework.
pub const DETECT: &str = include_str!("detect.fish");

pub const FILES: &[(&str, &str)] = &[
    ("init.fish", include_str!("fish.fish")),
    ("complete.fish", super::COMPLETE_FISH),
];

pub fn args(dir: &Path) -> Vec<OsString> {
    let init = dir.join("init.fish");
    vec![
        "-i".into(),
        "-C".into(),
        format!("source {}", quote::fish(&init.display().to_string())).into(),
    ]
}

pub fn export(name: &str, value: &str) -> String {
    format!("set -gx {name} {}\n", quote::fish(value))
}
