//! The commit an installed `stagecraft` was built from, for `--version`.
//! Only a build outside this repository's own target folder (`cargo
//! install --path ...`) records it: the everyday builds of `cargo xtask`
//! would otherwise rebuild at every commit.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let out = std::env::var("OUT_DIR").unwrap_or_default();
    let workspace = Path::new(&manifest).join("../..");
    let in_repo_target = workspace
        .join("target")
        .canonicalize()
        .is_ok_and(|target| Path::new(&out).starts_with(target));
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(&manifest)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = match in_repo_target {
        true => String::new(),
        false => match git(&["rev-parse", "HEAD"]) {
            Some(sha) => {
                let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                    .is_some_and(|s| !s.is_empty());
                format!("{sha}{}", if dirty { "-dirty" } else { "" })
            }
            None => String::new(),
        },
    };
    println!("cargo:rustc-env=STAGECRAFT_COMMIT={commit}");
    let build = if in_repo_target {
        "repository"
    } else {
        "installed"
    };
    println!("cargo:rustc-env=STAGECRAFT_BUILD={build}");
}
