//! The light `xtask` binary (the root workspace's, what `cargo xtask` runs)
//! hands every other command to `xtask-ops` (xtask/ops/Cargo.toml, the same
//! sources with the `ops` feature), which cargo builds on first use: the
//! everyday path never resolves nor compiles the download stack.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use crate::process::{self, Cmd};

const OPS_BIN: &str = "xtask-ops";

/// Runs `xtask-ops ARGS`, replacing this process: its output, exit status
/// and signals are the user's. Through cargo when cargo is at hand (so the
/// binary is up to date), else the one cargo built last. Returns only when
/// it cannot start.
pub fn to_ops(args: &[OsString]) -> anyhow::Error {
    let manifest = ops_manifest();
    let cargo = std::env::var_os("CARGO").map(PathBuf::from).or_else(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        process::find_on_path("cargo", &path, None)
    });
    let built = ops_dir()
        .map(|dir| dir.join("target/debug").join(OPS_BIN))
        .filter(|path| process::is_executable(path));
    let cmd = match (cargo, manifest, built) {
        (Some(cargo), Some(manifest), _) => Cmd::new(cargo)
            .args(["run", "--quiet", "--bin", OPS_BIN])
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

/// xtask/ops of the checkout this binary was built from, if it is still
/// there.
fn ops_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ops");
    dir.is_dir().then_some(dir)
}

fn ops_manifest() -> Option<PathBuf> {
    ops_dir()
        .map(|dir| dir.join("Cargo.toml"))
        .filter(|manifest| manifest.is_file())
}
