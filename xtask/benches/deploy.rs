//! Deploy scheduler benchmark: a generated cluster of 24 releases in a
//! dependency graph of depth 3 and width 8 (three apps, each `depends_on`
//! the one before, eight releases each), deployed with a fake helm that
//! takes 0.5 s per release.
//!
//! Budget: `cluster deploy --jobs 8` wall time <= 1.3x the critical path
//! (3 x 0.5 s = 1.5 s), against 12 s for one release at a time.
//!
//! Run: `cargo bench --bench deploy` (see docs/benchmarks.md).

mod common;
use common::write;

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask-ops");
const DEPTH: usize = 3;
const WIDTH: usize = 8;
const STEP: f64 = 0.5;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { 3 };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    generate(&root);

    let deploy = |jobs: &str| {
        let start = Instant::now();
        let out = Command::new(XTASK)
            .args(["cluster", "deploy", "bench", "--jobs", jobs])
            .current_dir(&root)
            .env("FAKE_HELM_SLEEP", STEP.to_string())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let elapsed = start.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        elapsed
    };
    let mut parallel: Vec<Duration> = (0..rounds).map(|_| deploy("8")).collect();
    parallel.sort();
    let parallel = parallel[parallel.len() / 2];
    let sequential = if quick { None } else { Some(deploy("1")) };

    let critical = Duration::from_secs_f64(STEP * DEPTH as f64);
    let ratio = parallel.as_secs_f64() / critical.as_secs_f64();
    let mut report = String::from("| measure | wall time | budget |\n| --- | --- | --- |\n");
    writeln!(
        report,
        "| critical path ({DEPTH} x {STEP} s) | {:.2} s | - |",
        critical.as_secs_f64()
    )
    .unwrap();
    writeln!(
        report,
        "| cluster deploy --jobs 8 (median of {rounds}) | {:.2} s ({ratio:.2}x) | <= 1.30x |",
        parallel.as_secs_f64()
    )
    .unwrap();
    if let Some(sequential) = sequential {
        writeln!(
            report,
            "| cluster deploy --jobs 1 | {:.2} s | - |",
            sequential.as_secs_f64()
        )
        .unwrap();
    }
    println!(
        "\ndeploy benchmark ({} releases, depth {DEPTH}, width {WIDTH})\n\n{report}",
        DEPTH * WIDTH
    );
    if !quick && ratio > 1.3 {
        eprintln!("over budget: {ratio:.2}x the critical path (> 1.30x)");
        std::process::exit(1);
    }
}

fn generate(root: &Path) {
    write(
        root,
        "shell.toml",
        "[project]\nname = \"bench\"\ndefault_stage = \"local\"\n",
    );
    write(
        root,
        "envs/local.toml",
        "emoji = \"🐣\"\ndescription = \"l\"\ntarget = \"kind\"\n",
    );
    write(
        root,
        "clusters/bench/cluster.toml",
        "[stages.local]\nhttp_port = 80\nhttps_port = 443\n",
    );
    // As if `cluster bootstrap` had run.
    write(
        root,
        "deps/kube/bench-local.yaml",
        "apiVersion: v1\nkind: Config\n",
    );
    write(
        root,
        "comm/charts/c/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    );
    for level in 0..DEPTH {
        let mut text = String::new();
        if level > 0 {
            writeln!(text, "depends_on = [\"app{}\"]", level - 1).unwrap();
        }
        for r in 0..WIDTH {
            writeln!(
                text,
                "[[releases]]\nname = \"r{level}-{r}\"\nchart = \"comm/charts/c\"\n"
            )
            .unwrap();
        }
        write(
            root,
            &format!("clusters/bench/apps/app{level}/app.toml"),
            &text,
        );
    }
    let helm = root.join("deps/bin/helm");
    write(
        root,
        "deps/bin/helm",
        "#!/bin/sh\ncase \"$1\" in\n  version) echo v4.1.4 ;;\n  upgrade) sleep \"$FAKE_HELM_SLEEP\" ;;\nesac\n",
    );
    fs::set_permissions(&helm, fs::Permissions::from_mode(0o755)).unwrap();
}
