//! Deploy scheduler benchmark: generated clusters deployed with a fake
//! helm that takes 0.5 s per release (and a fake kubectl that answers at
//! once), at the default settings (no `--jobs`).
//!
//! Budgets:
//! - 24 releases in a graph of depth 3 (three apps, each `depends_on` the
//!   one before, eight releases each): <= 1.3x the critical path.
//! - 100 independent releases: <= 1.3x the ideal for the default
//!   parallelism (ceil(100 / jobs) steps).
//! - 8 independent releases plus a chain of 3: <= 1.15x the critical
//!   path, at the default and at `--jobs 4`, where it is the order ready
//!   releases start in (longest remaining path first) that keeps it there.
//!
//! Run: `cargo bench --bench deploy` (see docs/benchmarks.md).

mod common;
use common::{median, timed, write};

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const XTASK: &str = env!("CARGO_BIN_EXE_stagecraft");
/// What `--jobs` defaults to (xtask's `cli::DEFAULT_JOBS`).
const DEFAULT_JOBS: usize = 16;
const STEP: f64 = 0.5;

/// An app of the generated cluster: its releases and the app it needs.
struct App {
    releases: usize,
    needs: Option<usize>,
}

struct Scenario {
    name: &'static str,
    apps: Vec<App>,
    jobs: Option<usize>,
    /// The least time any schedule could take, in steps of STEP.
    ideal_steps: usize,
    budget: f64,
}

fn chain(depth: usize, width: usize) -> Vec<App> {
    (0..depth)
        .map(|level| App {
            releases: width,
            needs: level.checked_sub(1),
        })
        .collect()
}

fn mixed() -> Vec<App> {
    let mut apps = vec![App {
        releases: 8,
        needs: None,
    }];
    // The chain: one release per app, each needing the one before
    // (chain level `l` is app `l + 1`).
    apps.extend((0..3).map(|level| App {
        releases: 1,
        needs: (level > 0).then_some(level),
    }));
    apps
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { 3 };
    let scenarios = [
        Scenario {
            name: "24 releases, depth 3",
            apps: chain(3, 8),
            jobs: None,
            ideal_steps: 3,
            budget: 1.3,
        },
        Scenario {
            name: "100 independent releases",
            apps: chain(1, 100),
            jobs: None,
            ideal_steps: 100usize.div_ceil(DEFAULT_JOBS),
            budget: 1.3,
        },
        Scenario {
            name: "8 independent + a chain of 3",
            apps: mixed(),
            jobs: None,
            ideal_steps: 3,
            budget: 1.15,
        },
        Scenario {
            name: "8 independent + a chain of 3, --jobs 4",
            apps: mixed(),
            jobs: Some(4),
            ideal_steps: 3,
            budget: 1.15,
        },
    ];

    let mut report =
        String::from("| graph | ideal | wall time | budget |\n| --- | --- | --- | --- |\n");
    let mut over = Vec::new();
    for scenario in &scenarios {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        generate(&root, &scenario.apps);
        let mut samples: Vec<Duration> =
            (0..rounds).map(|_| deploy(&root, scenario.jobs)).collect();
        let wall = median(&mut samples);
        let ideal = STEP * scenario.ideal_steps as f64;
        let ratio = wall.as_secs_f64() / ideal;
        writeln!(
            report,
            "| {} | {ideal:.2} s | {:.2} s ({ratio:.2}x) | <= {:.2}x |",
            scenario.name,
            wall.as_secs_f64(),
            scenario.budget
        )
        .unwrap();
        if ratio > scenario.budget {
            over.push(format!(
                "{}: {ratio:.2}x the ideal (> {:.2}x)",
                scenario.name, scenario.budget
            ));
        }
    }
    println!(
        "\ndeploy benchmark (fake helm: {STEP} s per release; default --jobs {DEFAULT_JOBS}; median of {rounds})\n\n{report}"
    );
    if !quick && !over.is_empty() {
        eprintln!("over budget:\n  {}", over.join("\n  "));
        std::process::exit(1);
    }
}

fn deploy(root: &Path, jobs: Option<usize>) -> Duration {
    let mut cmd = Command::new(XTASK);
    cmd.args(["cluster", "deploy", "bench", "--force"]);
    if let Some(jobs) = jobs {
        cmd.args(["--jobs", &jobs.to_string()]);
    }
    timed(
        cmd.current_dir(root)
            .env("FAKE_HELM_SLEEP", STEP.to_string()),
    )
}

fn generate(root: &Path, apps: &[App]) {
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
    // As if `cluster bootstrap` had run: the kubeconfig and the identity
    // of the cluster it created.
    write(
        root,
        "deps/kube/bench-local.yaml",
        "apiVersion: v1\nkind: Config\ncurrent-context: kind-bench-local\n\
         clusters:\n- name: kind-bench-local\n  cluster:\n    server: https://127.0.0.1:6443\n\
         contexts:\n- name: kind-bench-local\n  context:\n    cluster: kind-bench-local\n    user: kind-bench-local\n\
         users:\n- name: kind-bench-local\n  user:\n    token: bench\n",
    );
    write(
        root,
        "deps/kube/bench-local.identity.toml",
        "uid = \"6a1f0c2e-bench\"\nserver = \"https://127.0.0.1:6443\"\n",
    );
    write(
        root,
        "comm/charts/c/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    );
    for (index, app) in apps.iter().enumerate() {
        let mut text = String::new();
        if let Some(need) = app.needs {
            writeln!(text, "depends_on = [\"app{need}\"]").unwrap();
        }
        for r in 0..app.releases {
            writeln!(
                text,
                "[[releases]]\nname = \"r{index}-{r}\"\nchart = \"comm/charts/c\"\n"
            )
            .unwrap();
        }
        write(
            root,
            &format!("clusters/bench/apps/app{index}/app.toml"),
            &text,
        );
    }
    // Small and honest: helm takes its time on `upgrade`; kubectl hands
    // back the one-context view and the cluster's UID, and finds no pods
    // and no records (so every release is deployed).
    executable(
        root,
        "deps/bin/helm",
        "#!/bin/sh\ncase \"$1\" in\n  version) echo v4.1.4 ;;\n  upgrade) cat >/dev/null; sleep \"$FAKE_HELM_SLEEP\" ;;\nesac\n",
    );
    executable(
        root,
        "deps/bin/kubectl",
        "#!/bin/sh\n\
         for a; do [ \"$prev\" = --kubeconfig ] && kubeconfig=$a; prev=$a; done\n\
         case \" $* \" in\n\
         *\" config view \"*) cat \"$kubeconfig\" ;;\n\
         *\" get namespace kube-system \"*) printf 6a1f0c2e-bench ;;\n\
         *\" get pods \"*) echo '{\"items\":[]}' ;;\n\
         esac\n",
    );
}

fn executable(root: &Path, rel: &str, text: &str) {
    write(root, rel, text);
    fs::set_permissions(root.join(rel), fs::Permissions::from_mode(0o755)).unwrap();
}
