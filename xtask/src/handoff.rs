//! The light `xtask` binary (built by `cargo xtask` without the `ops`
//! feature) hands every other command to `xtask-ops`, which cargo builds
//! on first use: the everyday path never compiles the download stack.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use crate::process::{self, Cmd};

const OPS_BIN: &str = "xtask-ops";

/// Runs `xtask-ops ARGS`, replacing this process: its output, exit status
/// and signals are the user's. Through cargo when cargo is at hand (so the
/// binary is up to date), else the one built beside this binary. Returns
/// only when it cannot start.
pub fn to_ops(args: &[OsString]) -> anyhow::Error {
    let manifest = workspace_manifest();
    let cargo = std::env::var_os("CARGO").map(PathBuf::from).or_else(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        process::find_on_path("cargo", &path, None)
    });
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(OPS_BIN)))
        .filter(|path| process::is_executable(path));
    let cmd = match (cargo, manifest, sibling) {
        (Some(cargo), Some(manifest), _) => Cmd::new(cargo)
            .args(["run", "--quiet", "--package", "xtask", "--bin", OPS_BIN])
            .arg("--manifest-path")
            .arg(manifest)
            .args([
                "--config",
                "term.progress.when='always'",
                "--config",
                "term.progress.width=80",
                "--",
            ])
            .args(args),
        (_, _, Some(binary)) => Cmd::new(binary).args(args),
        _ => {
            return anyhow!(
                "this command needs the {OPS_BIN} binary, and there is no cargo to build it\n  hint: run it as `cargo xtask ...` from the repository"
            );
        }
    };
    // The environment as it is: cargo must see the toolchain it was run with.
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    cmd.full_env(env).exec()
}

/// The Cargo.toml of the workspace this binary was built from, if it is
/// still there.
fn workspace_manifest() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .join("Cargo.toml");
    manifest.is_file().then_some(manifest)
}
