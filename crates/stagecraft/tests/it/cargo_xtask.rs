//! `cargo xtask` as users run it: through cargo and rustup, in a git
//! checkout of this workspace (the tool and the example monorepo), from a
//! real bash in tmux.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::support::{TestRepo, copy_tree, workspace};
use crate::tmux::Tmux;

/// A first build of the light binary (or of `stagecraft`) may take minutes.
const BUILD: Duration = Duration::from_secs(600);

/// The tests of this file share a target folder (the first build is paid
/// once), and one of them asserts that nothing in it is written: they take
/// turns.
static TARGET: Mutex<()> = Mutex::new(());

/// The shared target folder.
fn target_dir() -> PathBuf {
    workspace().join("target/cargo-xtask-test")
}

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
            target_dir().display().to_string(),
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
/// `stagecraft`, built on first use.
#[test]
fn entering_and_leaving_a_stage_shell_rebuilds_nothing() {
    let _turn = TARGET.lock().unwrap_or_else(|e| e.into_inner());
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
    t.send_line("echo TASK-BUILDS=$(cargo xtask task 2>&1 | grep -cE 'Compiling|Running')");
    t.wait_for_within("TASK-BUILDS=0", BUILD);
    // An operation hands over to `stagecraft`, which cargo builds once.
    t.send_line("xtask deps list > deps.out 2>&1; echo DEPS=$?; grep -c kubectl deps.out");
    t.wait_for_within("DEPS=0\n1", BUILD);
    t.send_line("exit");
    t.wait_for("exit\nuser> ");

    t.send_line("echo AFTER=$(cargo xtask list 2>&1 | grep -c Compiling)");
    t.wait_for_within("AFTER=0", BUILD);
}

/// Every file under `dir` with its size and modification time.
fn files_under(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(folder) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                todo.push(path);
            } else {
                out.insert(path, (meta.len(), meta.modified().unwrap()));
            }
        }
    }
    out
}

/// Switching between `cargo xtask` and a stage shell's `xtask` for an
/// operation (handed over to `stagecraft`) builds nothing after the first
/// time: the nested cargo gets the same environment either way, so no
/// fingerprint, build-script output or artifact under the target folder
/// is written again.
#[test]
fn switching_between_cargo_xtask_and_the_stage_shells_xtask_writes_nothing_under_target() {
    let _turn = TARGET.lock().unwrap_or_else(|e| e.into_inner());
    let repo = TestRepo::with_files(&[]);
    checkout(&repo);
    std::fs::write(repo.home.join(".bashrc"), "PS1='user> '\n").unwrap();
    let base = repo.home.parent().unwrap();
    let t = Tmux::start(base, &repo.root, &terminal_env(&repo), "/bin/bash", &["-i"]);
    t.wait_for("user> ");
    // The first build of both binaries.
    t.send_line("cargo xtask deps list > first.out 2>&1; echo FIRST=$?");
    t.wait_for_within("FIRST=0", BUILD);
    let before = files_under(&target_dir());
    assert!(
        before.keys().any(|p| p.ends_with("ops/debug/stagecraft")),
        "the hand-over built stagecraft in target/ops"
    );
    t.send_line("cargo xtask shell local");
    t.wait_for("🐣 local hmlet user> ");
    for round in 1..=4 {
        t.send_line(&format!(
            "xtask deps list > bare{round}.out 2>&1; echo BARE{round}=$?; cargo xtask deps list > cargo{round}.out 2>&1; echo CARGO{round}=$?"
        ));
        t.wait_for_within(&format!("BARE{round}=0"), BUILD);
        t.wait_for_within(&format!("CARGO{round}=0"), BUILD);
    }
    t.send_line("exit");
    t.wait_for("exit\nuser> ");
    t.send_line("target_xtask=$CARGO_TARGET_DIR/debug/xtask; $target_xtask deps list > out.out 2>&1; echo OUTSIDE=$?; cargo xtask deps list > last.out 2>&1; echo LAST=$?");
    t.wait_for_within("LAST=0", BUILD);
    assert!(t.screen().contains("OUTSIDE=0"), "{}", t.screen());
    for round in 1..=4 {
        let out = std::fs::read_to_string(repo.root.join(format!("cargo{round}.out"))).unwrap();
        assert!(
            out.contains("kubectl"),
            "cargo xtask deps list printed:\n{out}"
        );
        assert!(!out.contains("Compiling"), "round {round} compiled:\n{out}");
    }
    let after = files_under(&target_dir());
    // Cargo rewrites the dep-info beside each final binary
    // (`debug/xtask.d`) on every run, a no-op `cargo build` too: it lists
    // sources and is neither a fingerprint, a build script's output nor an
    // artifact. A rebuild writes `deps/`, `.fingerprint/` and the binary.
    let rewritten_on_every_run = |path: &Path| {
        path.extension().is_some_and(|e| e == "d")
            && path
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|dir| dir == "debug")
    };
    let written: Vec<String> = after
        .iter()
        .filter(|(path, stamp)| before.get(*path) != Some(stamp))
        .filter(|(path, _)| !rewritten_on_every_run(path))
        .map(|(path, _)| {
            path.strip_prefix(target_dir())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert!(
        after.len() == before.len(),
        "switching added files under the target folder: {:#?}",
        after
            .keys()
            .filter(|p| !before.contains_key(*p))
            .collect::<Vec<_>>()
    );
    assert!(
        written.is_empty(),
        "switching wrote these under the target folder: {written:#?}"
    );
}
