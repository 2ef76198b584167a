//! The everyday path as users pay for it: `cargo xtask env local` through
//! cargo, against a generated xtask workspace that has only clap and serde,
//! side by side in the same run.
//!
//! Budgets:
//! - warm `cargo xtask env local` <= 2x the clap+serde workspace's warm
//!   `cargo xtask env local`: the two run in pairs, one right after the
//!   other, and the budget holds the median of the pairs' ratios (a
//!   moment of load weighs on both sides of a pair); over budget, the
//!   series is measured once more, and both are reported;
//! - inside a stage shell, `xtask env local` (the shell function of the
//!   real bash rc) <= 1.2x the bare binary;
//! - a cold `cargo build` of what `cargo xtask shell local` needs <= 3x the
//!   clap+serde workspace's cold build.
//!
//! Run: `cargo bench --bench everyday`
//! (see docs/benchmarks.md).

mod common;
use common::{Judged, median, paired, timed as run, workspace};

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The environment a user's terminal has: no variable of cargo's own run
/// (this bench runs under `cargo bench`).
fn clean(cmd: &mut Command) -> &mut Command {
    cmd.env_clear();
    for name in ["PATH", "HOME", "RUSTUP_HOME", "CARGO_HOME", "LANG"] {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.env("CARGO_NET_OFFLINE", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
}

fn cargo() -> String {
    // rustup's proxy, as users call it; it needs RUSTUP_TOOLCHAIN unset.
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("cargo"))
        .find(|p| p.is_file())
        .map_or_else(
            || std::env::var("CARGO").expect("cargo"),
            |p| p.display().to_string(),
        )
}

/// A workspace with an `xtask` that has only clap and serde, and the
/// same `cargo xtask` alias.
fn generate_baseline(root: &Path) {
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"xtask\"]\nresolver = \"3\"\n",
    );
    write(
        ".cargo/config.toml",
        "[alias]\nxtask = \"run --quiet --package xtask --\"\n",
    );
    write(
        "xtask/Cargo.toml",
        "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nclap = { version = \"4.6.9\", features = [\"derive\"] }\nserde = { version = \"1.0.229\", features = [\"derive\"] }\n",
    );
    write(
        "xtask/src/main.rs",
        r#"use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print a stage's variables.
    Env { stage: String },
}

#[derive(serde::Serialize)]
struct Var<'a> {
    name: &'a str,
    value: &'a str,
}

fn main() {
    let Cmd::Env { stage } = Cli::parse().command;
    let var = Var { name: "XTASK_STAGE", value: &stage };
    println!("export {}='{}'", var.name, var.value);
}
"#,
    );
    // The same versions of clap and serde as this workspace: no network.
    fs::copy(workspace().join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 3 } else { 41 };
    let work = tempfile::tempdir().unwrap();
    let baseline = work.path().join("baseline");
    generate_baseline(&baseline);
    let ours = workspace();
    // Targets of their own: `cargo bench` holds this workspace's target.
    let our_target = ours.join("target/bench-everyday");

    // Cold builds: a fresh target folder each, the same registry cache.
    let cold = |dir: &Path, args: &[&str]| {
        let target = work.path().join(format!(
            "cold-{}",
            dir.file_name().unwrap().to_string_lossy()
        ));
        let time = run(clean(&mut Command::new(cargo()))
            .args(["build", "--quiet", "--package", "xtask"])
            .args(args)
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(dir));
        let _ = fs::remove_dir_all(&target);
        time
    };
    let (baseline_cold, ours_cold) = if quick {
        (Duration::ZERO, Duration::ZERO)
    } else {
        (cold(&baseline, &[]), cold(&ours, &["--bin", "xtask"]))
    };

    // Warm: `cargo xtask env local`, as typed; the two alternate, so that
    // the machine's load weighs on both alike.
    let warm = |target: &Path, cwd: &Path| {
        let mut cmd = Command::new(cargo());
        clean(&mut cmd)
            .args(["xtask", "env", "local"])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(cwd);
        cmd
    };
    let baseline_target = work.path().join("baseline-target");
    let mut baseline_cmd = warm(&baseline_target, &baseline);
    let mut ours_cmd = warm(&our_target, &ours);
    // The first runs build.
    run(&mut baseline_cmd);
    run(&mut ours_cmd);
    let warm = Judged::new(2.0, || {
        paired(runs, || run(&mut ours_cmd), || run(&mut baseline_cmd))
    });
    let (baseline_warm, ours_warm, warm_ratio) = (warm.first.theirs, warm.first.ours, warm.ratio());

    // Inside a stage shell: the `xtask` function of the real bash rc,
    // against the binary it runs, each in a loop inside one bash.
    let exe = our_target.join("debug/xtask");
    let rc = ours.join("crates/core/src/stage/shells/bash.rc");
    let loops = if quick { 3 } else { 100 };
    let in_shell = |body: &str| {
        let script = format!(
            "source {rc}; for i in $(seq {loops}); do {body} env local >/dev/null; done",
            rc = rc.display()
        );
        let mut cmd = Command::new("bash");
        clean(&mut cmd)
            .args(["--norc", "--noprofile", "-c", &script])
            .env("__XTASK_EXE", &exe)
            .env("__XTASK_SNAPSHOT", "")
            .env("__XTASK_PATH_PREFIX", "")
            .env("HOME", work.path())
            .current_dir(&ours);
        median(&mut (0..3).map(|_| run(&mut cmd)).collect::<Vec<_>>())
    };
    let function = in_shell("xtask");
    let bare = in_shell(&format!("'{}'", exe.display()));

    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let s = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    let mut report = String::from(
        "| measure | clap+serde xtask | stagecraft | ratio | budget |\n| --- | --- | --- | --- | --- |\n",
    );
    writeln!(
        report,
        "| warm `cargo xtask env local` (medians of {runs}; ratio: the pairs' median) | {} | {} | {} | <= 2.00x |",
        ms(baseline_warm),
        ms(ours_warm),
        warm.ratios()
    )
    .unwrap();
    let cold_ratio = ratio(ours_cold, baseline_cold);
    if !quick {
        writeln!(
            report,
            "| cold `cargo build` of the everyday binary | {} | {} | {cold_ratio:.2}x | <= 3.00x |",
            s(baseline_cold),
            s(ours_cold)
        )
        .unwrap();
    }
    let shell_ratio = ratio(function, bare);
    writeln!(
        report,
        "| in a stage shell: `xtask env local` x{loops} (function / bare binary) | {} | {} | {shell_ratio:.2}x | <= 1.20x |",
        ms(bare),
        ms(function)
    )
    .unwrap();
    println!("\neveryday-path benchmark\n\n{report}");

    let mut over = Vec::new();
    if warm_ratio > 2.0 {
        over.push(format!("warm cargo xtask: {warm_ratio:.2}x > 2.00x"));
    }
    if !quick && cold_ratio > 3.0 {
        over.push(format!("cold build: {cold_ratio:.2}x > 3.00x"));
    }
    if shell_ratio > 1.2 {
        over.push(format!("in-shell xtask: {shell_ratio:.2}x > 1.20x"));
    }
    if !quick && !over.is_empty() {
        eprintln!("over budget:\n  {}", over.join("\n  "));
        std::process::exit(1);
    }
}
