//! The light `xtask` binary hands every operation (deps, cluster, app, up,
//! ...) to the `stagecraft` binary of the same checkout, which cargo builds
//! on first use: the everyday path never resolves nor compiles the
//! download stack.
//!
//! The nested cargo builds in a target folder of its own (`<target>/ops`),
//! so it never waits on the lock of the cargo that runs this binary, and it
//! gets the environment the user's shell has (`user_env`: without what
//! `cargo run` and rustup added for this process, and without a stage
//! shell's overlay), so that `cargo xtask ...` and a stage shell's `xtask
//! ...` give it the same fingerprints: switching between them rebuilds
//! nothing. The stage shell a command runs in travels in the variables
//! Stagecraft owns (XTASK_*), which no build reads.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use stagecraft_core::cli::{Code, Command, Ctx, Operations};
use stagecraft_core::process::{self, Cmd};
use stagecraft_core::user_env::{self, user_env};

const FULL_PACKAGE: &str = "stagecraft";

/// Hands the operations over: it replaces this process with
/// `stagecraft ARGS`, whose output, exit status and signals are the user's.
pub struct Handoff;

impl Operations for Handoff {
    fn run(&self, _command: Command, args: &[OsString], _ctx: &Ctx) -> Result<Code> {
        Err(to_full(args))
    }
}

/// `stagecraft ARGS` in place of this process: through cargo when cargo is
/// at hand (so the binary is up to date), else the one cargo built last.
/// Returns only when it cannot start.
fn to_full(args: &[OsString]) -> anyhow::Error {
    let env = handoff_env();
    let target = target_dir();
    let built = target.join("debug").join(FULL_PACKAGE);
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| OsString::from(v))
        .unwrap_or_default();
    // The cargo the user's shell runs (rustup's proxy), found the same way
    // from `cargo xtask` and from a stage shell; else the one that ran us.
    let cargo = process::find_on_path("cargo", &path, None)
        .or_else(|| std::env::var_os("CARGO").map(PathBuf::from));
    let cmd = match (cargo, workspace_manifest()) {
        (Some(cargo), Some(manifest)) => Cmd::new(cargo)
            .args(["run", "--quiet", "--package", FULL_PACKAGE, "--bin"])
            .arg(FULL_PACKAGE)
            .arg("--manifest-path")
            .arg(manifest)
            .arg("--target-dir")
            .arg(&target)
            .args([
                "--config",
                "term.progress.when='always'",
                "--config",
                "term.progress.width=80",
                "--",
            ])
            .args(args),
        _ if process::is_executable(&built) => Cmd::new(built).args(args),
        _ => {
            return anyhow!(
                "this command needs the {FULL_PACKAGE} binary, and there is no cargo to build it\n  hint: run it as `cargo xtask ...` from the repository, or install it: cargo install --locked --path crates/stagecraft"
            );
        }
    };
    cmd.full_env(env).exec()
}

/// The user's own environment, plus the stage shell this runs in (what
/// `stagecraft` needs to default to the shell's stage).
fn handoff_env() -> Vec<(String, String)> {
    let mut env = user_env().clone();
    for (name, value) in std::env::vars() {
        if name.starts_with("XTASK_") || name == user_env::RESTORE_VAR {
            env.insert(name, value);
        }
    }
    env.into_iter().collect()
}

/// `<target>/ops`, beside the folder cargo built this binary in
/// (`<target>/debug/xtask`), whatever CARGO_TARGET_DIR said.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let target = exe
        .as_deref()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_owned)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("ops")
}

/// The checkout this binary was built from.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ has a parent")
        .to_owned()
}

fn workspace_manifest() -> Option<PathBuf> {
    Some(workspace_root().join("Cargo.toml")).filter(|m| m.is_file())
}
