//! `cargo xtask` as users run it: through cargo and rustup, in a git
//! checkout of this workspace (the tool and the example monorepo), from a
//! real bash in tmux.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{TestRepo, copy_tree, workspace};
use crate::tmux::Tmux;

/// A first build of the light binary (or of xtask-ops) may take minutes.
const BUILD: Duration = Duration::from_secs(600);

/// The cargo users run: rustup's proxy on PATH, else this build's cargo.
fn cargo() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("cargo"))
        .find(|p| p.is_file())
        .or_else(|| std::env::var_os("CARGO").map(PathBuf::from))
        .expect("cargo is on PATH")
}

/// A git checkout of this workspace: the tool's sources and the example
/// monorepo, nothing of target/ or deps/bin.
fn checkout(repo: &TestRepo) {
    let src = workspace();
    for entry in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo",
        "crates",
        "xtask",
        "shell.toml",
        "envs",
        "clusters",
        "comm",
        "deps",
        ".gitignore",
    ] {
        copy_tree(&src.join(entry), &repo.root.join(entry));
    }
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "checkout",
        ],
    ] {
        let ok = Command::new("git")
            .args(args)
            .current_dir(&repo.root)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }
}

/// The environment of the user's terminal: their HOME (sandboxed), cargo
/// and rustup where they are, no variable of cargo's own run.
fn terminal_env(repo: &TestRepo) -> Vec<(String, String)> {
    let cargo_dir = cargo().parent().unwrap().display().to_string();
    let home = dirs_of_rust();
    let mut env = vec![
        ("HOME".to_owned(), repo.home.display().to_string()),
        (
            "PATH".to_owned(),
            format!("{cargo_dir}:/usr/local/bin:/usr/bin:/bin"),
        ),
        ("SHELL".to_owned(), "/bin/bash".to_owned()),
        ("LANG".to_owned(), "C.UTF-8".to_owned()),
        ("TMPDIR".to_owned(), repo.tmp.display().to_string()),
        // A target folder of its own, kept between runs: the first build
        // is paid once per machine.
        (
            "CARGO_TARGET_DIR".to_owned(),
            workspace()
                .join("target/cargo-xtask-test")
                .display()
                .to_string(),
        ),
        ("CARGO_NET_OFFLINE".to_owned(), "true".to_owned()),
    ];
    env.extend(home);
    env
}

/// RUSTUP_HOME and CARGO_HOME of this machine: the sandboxed HOME has no
/// toolchain of its own.
fn dirs_of_rust() -> Vec<(String, String)> {
    let real_home = std::env::var("HOME").unwrap_or_default();
    [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")]
        .iter()
        .map(|(name, default)| {
            let value = std::env::var(name)
                .unwrap_or_else(|_| Path::new(&real_home).join(default).display().to_string());
            ((*name).to_owned(), value)
        })
        .collect()
}

/// Entering and leaving a stage shell costs no rebuild: the shell gets the
/// user's own environment (nothing of cargo's or rustup's run), `xtask`
/// inside it runs the built binary without cargo, and `cargo xtask` inside
/// and after sees what it saw before. Commands of the ops part go through
/// `xtask-ops`, built on first use.
#[test]
fn entering_and_leaving_a_stage_shell_rebuilds_nothing() {
    let repo = TestRepo::with_files(&[]);
    checkout(&repo);
    std::fs::write(repo.home.join(".bashrc"), "PS1='user> '\n").unwrap();
    let base = repo.home.parent().unwrap();
    let t = Tmux::start(base, &repo.root, &terminal_env(&repo), "/bin/bash", &["-i"]);
    t.wait_for("user> ");

    // The first build, with something to show for it.
    t.send_line("cargo xtask list > list.out 2>&1; echo FIRST=$?");
    t.wait_for_within("FIRST=0", BUILD);
    t.send_line("grep -c 'Photo upload' list.out; echo LISTED");
    t.wait_for("1\nLISTED");

    // The user's own stale variables do not reach a stage.
    t.send_line(
        "echo BOGUS=$(XTASK_APP=bogus cargo xtask env local | grep -c bogus) KC=$(cargo xtask env local | grep '^export KUBECONFIG=')",
    );
    let screen = t.wait_for("BOGUS=");
    let kubeconfig = format!(
        "KC=export KUBECONFIG='{}/deps/kube/views/hmlet-local.yaml'",
        repo.root.display()
    );
    t.wait_for(&format!("BOGUS=0 {kubeconfig}"));
    drop(screen);

    t.send_line("cargo xtask shell local");
    t.wait_for("🐣 local hmlet user> ");
    t.send_line(
        "echo LEAKED=$(env | grep -cE '^(CARGO_MANIFEST_DIR|CARGO_PKG_NAME|RUSTUP_TOOLCHAIN|CARGO)=')",
    );
    t.wait_for("LEAKED=0");
    t.send_line("echo INSIDE=$(cargo xtask list 2>&1 | grep -c Compiling)");
    t.wait_for_within("INSIDE=0", BUILD);
    // `xtask` is the built binary: no cargo needed.
    t.send_line("(PATH=/usr/bin:/bin; command -v cargo || echo NO-CARGO; xtask env local | grep '^export XTASK_STAGE=')");
    t.wait_for("NO-CARGO\nexport XTASK_STAGE='local'");
    // Tasks are plain commands there, in the shell's stage, with no build
    // and no hand-over (the everyday binary runs them).
    t.send_line("(PATH=/usr/bin:/bin; xtask task --app photos | grep -c 'photos:e2e'; xtask task photos:e2e --dry-run | grep -c 'stage local$'; echo TASKS=$?)");
    t.wait_for("1\n1\nTASKS=0");
    t.send_line("echo TASK-BUILDS=$(cargo xtask task 2>&1 | grep -cE 'Compiling|xtask-ops')");
    t.wait_for_within("TASK-BUILDS=0", BUILD);
    // An ops command hands over to xtask-ops, which cargo builds once.
    t.send_line("xtask deps list > deps.out 2>&1; echo DEPS=$?; grep -c kubectl deps.out");
    t.wait_for_within("DEPS=0\n1", BUILD);
    t.send_line("exit");
    t.wait_for("exit\nuser> ");

    t.send_line("echo AFTER=$(cargo xtask list 2>&1 | grep -c Compiling)");
    t.wait_for_within("AFTER=0", BUILD);
}
