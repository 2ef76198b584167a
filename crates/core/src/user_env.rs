//! The user's own environment: the process environment without what
//! `cargo run` and rustup added for this process, and without the overlay
//! of the Stagecraft shell it may run in. Every child process starts from
//! it, so a stage shell looks like the shell the user left, and cargo sees
//! the same environment inside a stage shell as outside (no rebuild).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

/// Where a stage overlay keeps the values it replaced, so that switching
/// stage or running another stage from inside a Stagecraft shell starts
/// from the user's own environment.
pub const RESTORE_VAR: &str = "XTASK_RESTORE";

/// The variables Stagecraft sets itself: never inherited from a user's
/// environment into a stage (a stale `XTASK_APP` would name the wrong app).
pub const STAGECRAFT_VARS: [&str; 12] = [
    "XTASK_ROOT",
    "XTASK_STAGE",
    "XTASK_INSTANCE",
    "XTASK_INSTANCE_SUFFIX",
    "XTASK_INSTANCE_PREFIX",
    "XTASK_CLUSTER",
    "XTASK_APP",
    "XTASK_PROMPT",
    "XTASK_KUBE_CONTEXT",
    "XTASK_HTTP_PORT",
    "XTASK_HOSTS",
    RESTORE_VAR,
];

/// What `cargo run` sets for the program it runs.
const CARGO_RUN_VARS: [&str; 9] = [
    "CARGO",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "RUST_RECURSION_COUNT",
    "RUSTUP_TOOLCHAIN_SOURCE",
];

/// The user's environment, computed once.
pub fn user_env() -> &'static BTreeMap<String, String> {
    static ENV: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let raw = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_owned));
        clean(raw, exe_dir.as_deref())
    })
}

/// `raw` without cargo's and rustup's additions and with any Stagecraft
/// overlay undone. `exe_dir` is the folder of the running binary
/// (`target/<profile>`), which `cargo run` puts on the library path.
pub fn clean(
    mut env: BTreeMap<String, String>,
    exe_dir: Option<&Path>,
) -> BTreeMap<String, String> {
    if let Some(restore) = env.remove(RESTORE_VAR)
        && let Ok(originals) = serde_json::from_str::<BTreeMap<String, Option<String>>>(&restore)
    {
        for (name, original) in originals {
            match original {
                Some(value) => env.insert(name, value),
                None => env.remove(&name),
            };
        }
    }
    let by_cargo = env.contains_key("CARGO")
        && (env.contains_key("CARGO_MANIFEST_DIR") || env.contains_key("CARGO_PKG_NAME"));
    if by_cargo {
        strip_cargo_run(&mut env, exe_dir);
    }
    env
}

fn strip_cargo_run(env: &mut BTreeMap<String, String>, exe_dir: Option<&Path>) {
    let home = env.get("HOME").cloned().unwrap_or_default();
    let toolchain_from_user = env.get("RUSTUP_TOOLCHAIN_SOURCE").map(String::as_str) == Some("env");
    for name in CARGO_RUN_VARS {
        env.remove(name);
    }
    env.retain(|k, _| !k.starts_with("CARGO_PKG_") && !k.starts_with("CARGO_BIN_EXE_"));
    if toolchain_from_user {
        // rustup adds this when the toolchain comes from RUSTUP_TOOLCHAIN.
        if env.get("RUSTUP_AUTO_INSTALL").map(String::as_str) == Some("0") {
            env.remove("RUSTUP_AUTO_INSTALL");
        }
    } else {
        // Set by rustup's proxy; left in a shell, it would override every
        // rust-toolchain.toml there.
        env.remove("RUSTUP_TOOLCHAIN");
    }
    let rustup_home = env.get("RUSTUP_HOME").cloned();
    let cargo_home = env.get("CARGO_HOME").cloned();
    // rustup always exports its homes; their default values mean nothing.
    if rustup_home.as_deref() == Some(&format!("{home}/.rustup")) {
        env.remove("RUSTUP_HOME");
    }
    if cargo_home.as_deref() == Some(&format!("{home}/.cargo")) {
        env.remove("CARGO_HOME");
    }
    let toolchains = rustup_home.map(|h| format!("{h}/toolchains/"));
    let added_by_cargo = |entry: &str| {
        toolchains.as_deref().is_some_and(|t| entry.starts_with(t))
            || exe_dir
                .is_some_and(|dir| Path::new(entry) == dir || Path::new(entry) == dir.join("deps"))
    };
    for name in [
        "LD_LIBRARY_PATH",
        "DYLD_LIBRARY_PATH",
        "DYLD_FALLBACK_LIBRARY_PATH",
    ] {
        if let Some(value) = env.get(name) {
            let kept: Vec<&str> = value
                .split(':')
                .skip_while(|entry| added_by_cargo(entry))
                .collect();
            match kept.join(":") {
                rest if rest.is_empty() => env.remove(name),
                rest => env.insert(name.to_owned(), rest),
            };
        }
    }
    if let Some(path) = env.get("PATH").cloned() {
        let mut entries: Vec<&str> = path.split(':').collect();
        while entries.first().is_some_and(|e| added_by_cargo(e)) {
            entries.remove(0);
        }
        // rustup puts $CARGO_HOME/bin in front again when the toolchain
        // came from the environment: drop the copy, keep the user's own.
        let cargo_bin = format!("{}/bin", cargo_home.unwrap_or(format!("{home}/.cargo")));
        if entries.first() == Some(&cargo_bin.as_str())
            && entries[1..].contains(&cargo_bin.as_str())
        {
            entries.remove(0);
        }
        env.insert("PATH".to_owned(), entries.join(":"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn cargo_run_and_rustup_additions_are_removed() {
        let raw = env(&[
            ("HOME", "/home/me"),
            ("PATH", "/home/me/.cargo/bin:/usr/bin"),
            ("CARGO", "/home/me/.rustup/toolchains/stable/bin/cargo"),
            ("CARGO_HOME", "/home/me/.cargo"),
            ("CARGO_MANIFEST_DIR", "/src/xtask"),
            ("CARGO_PKG_NAME", "xtask"),
            ("CARGO_PKG_VERSION", "0.1.0"),
            ("CARGO_TARGET_DIR", "/tmp/t"),
            (
                "LD_LIBRARY_PATH",
                "/tmp/t/debug:/tmp/t/debug/deps:/home/me/.rustup/toolchains/stable/lib:/opt/mine",
            ),
            ("RUSTUP_HOME", "/home/me/.rustup"),
            ("RUSTUP_TOOLCHAIN", "stable-x86_64-unknown-linux-gnu"),
            ("RUSTUP_TOOLCHAIN_SOURCE", "default"),
            ("RUST_RECURSION_COUNT", "1"),
        ]);
        let clean = clean(raw, Some(Path::new("/tmp/t/debug")));
        assert_eq!(
            clean,
            env(&[
                ("HOME", "/home/me"),
                ("PATH", "/home/me/.cargo/bin:/usr/bin"),
                ("CARGO_TARGET_DIR", "/tmp/t"),
                ("LD_LIBRARY_PATH", "/opt/mine"),
            ])
        );
    }

    #[test]
    fn a_toolchain_the_user_chose_stays() {
        let raw = env(&[
            ("HOME", "/h"),
            ("PATH", "/h/.cargo/bin:/h/.cargo/bin:/usr/bin"),
            ("CARGO", "/c"),
            ("CARGO_MANIFEST_DIR", "/src"),
            ("RUSTUP_TOOLCHAIN", "nightly-x86_64-unknown-linux-gnu"),
            ("RUSTUP_TOOLCHAIN_SOURCE", "env"),
            ("RUSTUP_AUTO_INSTALL", "0"),
            ("RUSTUP_HOME", "/opt/rustup"),
        ]);
        let clean = clean(raw, None);
        assert_eq!(
            clean["RUSTUP_TOOLCHAIN"],
            "nightly-x86_64-unknown-linux-gnu"
        );
        assert_eq!(clean["RUSTUP_HOME"], "/opt/rustup");
        assert_eq!(clean["PATH"], "/h/.cargo/bin:/usr/bin");
        assert!(!clean.contains_key("RUSTUP_AUTO_INSTALL"));
    }

    #[test]
    fn without_cargo_nothing_is_touched_but_the_overlay_is_undone() {
        let raw = env(&[
            ("PATH", "/stage/bin:/usr/bin"),
            ("RUSTUP_TOOLCHAIN", "stable"),
            ("XTASK_STAGE", "local"),
            (RESTORE_VAR, r#"{"PATH":"/usr/bin","XTASK_STAGE":null}"#),
        ]);
        assert_eq!(
            clean(raw, None),
            env(&[("PATH", "/usr/bin"), ("RUSTUP_TOOLCHAIN", "stable")])
        );
    }
}
