//! Only what changed, at the size of a real monorepo: 100 apps, each with
//! an image and a release, deployed once with small fakes (docker pushes
//! into a registry API on loopback, tests/it/fakes/registry.py; helm keeps
//! each release's record), then one app's file changes in a commit.
//!
//! Budgets:
//! - `up --dry-run` after that commit plans 1 build and 1 upgrade.
//! - `list --affected --since HEAD~1` over the 100 apps: <= 50 ms median.
//! - computing the tags of all 100 images (the index read, each context
//!   walked): <= 2x `git ls-files -s` over the same tree (blob ids come
//!   from git's index where the stat data says a file is unchanged, so no
//!   file is read). The two run in pairs, one right after the other, and
//!   the budget holds the median of the pairs' ratios: a moment of load
//!   on the machine weighs on both sides of a pair, not on one median.
//!   Over budget, the series is measured once more; both are reported.
//!   The whole `app images --json` is reported beside it.
//!
//! Run: `cargo bench --bench affected` (see docs/benchmarks.md).

mod common;
use common::{Judged, Paired, median, ms, paired, timed, write};

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use stagecraft::app::tags::{ImagePlan, Tree};

const STAGECRAFT: &str = env!("CARGO_BIN_EXE_stagecraft");
const APPS: usize = 100;
/// Files in each app's image context besides its Dockerfile.
const FILES: usize = 20;
const CHANGED: &str = "app042";

fn main() {
    // Profiling: only the tags of a kept repository (STAGECRAFT_BENCH_KEEP),
    // many times.
    if let Some(root) = std::env::var_os("STAGECRAFT_BENCH_TAGS_OF") {
        let tags = tag_times(Path::new(&root), 200);
        eprintln!(
            "{} ({:.2}x `git ls-files -s`, {})",
            ms(tags.ours),
            tags.ratio,
            ms(tags.theirs)
        );
        return;
    }
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 3 } else { 21 };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap().join("repo");
    let state = dir.path().canonicalize().unwrap().join("state");
    fs::create_dir_all(&state).unwrap();
    let registry = Registry::start(&state);
    generate(&root, registry.port);
    let run = |args: &[&str]| {
        let mut cmd = Command::new(STAGECRAFT);
        cmd.args(args)
            .current_dir(&root)
            .env("FAKE_STATE", &state)
            .env("FAKE_REGISTRY_DIR", state.join("registry/store"));
        cmd
    };
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "100 apps"]);
    // Everything built, pushed and deployed once.
    let first = output(&mut run(&["up", "stage", "--yes"]));
    assert!(first.contains("100 deployed"), "{first}");

    // One app's file changes, in a commit.
    let file = root.join(format!("clusters/big/apps/{CHANGED}/src/f0.py"));
    let mut text = fs::read_to_string(&file).unwrap();
    text.push_str("# changed\n");
    fs::write(&file, text).unwrap();
    git(&root, &["commit", "-q", "-am", "one app"]);

    let plan = output(&mut run(&["up", "stage", "--dry-run"]));
    let builds: Vec<&str> = plan
        .lines()
        .filter(|l| l.contains("docker build "))
        .collect();
    let upgrades: Vec<&str> = plan
        .lines()
        .filter(|l| l.contains("helm upgrade --install "))
        .collect();
    let plan_ok = builds.len() == 1
        && builds[0].contains(&format!("/{CHANGED}:"))
        && upgrades.len() == 1
        && upgrades[0].contains(&format!("upgrade --install {CHANGED} "));

    let affected = output(&mut run(&[
        "list",
        "--affected",
        "--since",
        "HEAD~1",
        "--json",
    ]));
    assert!(
        affected.contains(&format!("\"name\": \"{CHANGED}\""))
            && affected.matches("\"why\"").count() == 1,
        "{affected}"
    );
    let mut list_samples: Vec<Duration> = (0..rounds)
        .map(|_| timed(&mut run(&["list", "--affected", "--since", "HEAD~1"])))
        .collect();
    let list = median(&mut list_samples);

    // The tags: the computation itself (the index read, every context
    // walked, its files named), against git reading the same index; and,
    // for scale, the whole `app images` command (config and stage
    // environments of 100 apps included).
    let tags = Judged::new(2.0, || tag_times(&root, if quick { 3 } else { 41 }));
    let mut command_samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            timed(&mut run(&[
                "app",
                "images",
                "--cluster",
                "big",
                "--stage",
                "stage",
                "--json",
            ]))
        })
        .collect();
    let command = median(&mut command_samples);

    let mut report = String::from("| measure | result | budget |\n| --- | --- | --- |\n");
    writeln!(
        report,
        "| `up --dry-run` after a commit to one of {APPS} apps | {} build, {} upgrade | 1 and 1 |",
        builds.len(),
        upgrades.len()
    )
    .unwrap();
    writeln!(
        report,
        "| `list --affected` over {APPS} apps | {} | <= 50 ms |",
        ms(list)
    )
    .unwrap();
    writeln!(
        report,
        "| the tags of {APPS} images | {} ({} `git ls-files -s`, {}; the median of {} pairs' ratios) | <= 2.00x |",
        ms(tags.first.ours),
        tags.ratios(),
        ms(tags.first.theirs),
        tags.first.pairs
    )
    .unwrap();
    writeln!(
        report,
        "| `app images --json` of {APPS} apps (whole command) | {} | - |",
        ms(command)
    )
    .unwrap();
    println!(
        "\nonly-what-changed benchmark ({APPS} apps, {} files each; median of {rounds})\n\n{report}",
        FILES + 2
    );
    let mut over = Vec::new();
    if !plan_ok {
        over.push(format!(
            "the plan after one app's commit:\n{}",
            builds
                .iter()
                .chain(&upgrades)
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    if list > Duration::from_millis(50) {
        over.push(format!("list --affected: {} (> 50 ms)", ms(list)));
    }
    if tags.ratio() > 2.0 {
        over.push(format!("tags: {} git ls-files -s (> 2x)", tags.ratios()));
    }
    drop(registry);
    if std::env::var_os("STAGECRAFT_BENCH_KEEP").is_some() {
        eprintln!("kept: {}", dir.keep().display());
    }
    if !over.is_empty() && (!quick || !plan_ok) {
        eprintln!("over budget:\n  {}", over.join("\n  "));
        std::process::exit(1);
    }
}

/// The tags of the 100 images against `git ls-files -s`, in pairs.
fn tag_times(root: &Path, pairs: usize) -> Paired {
    let images = image_plans(root);
    paired(
        pairs,
        || {
            let start = Instant::now();
            let tags = Tree::new(root).tags(&images).unwrap();
            let elapsed = start.elapsed();
            assert_eq!(tags.len(), APPS);
            elapsed
        },
        || {
            timed(
                Command::new("git")
                    .args(["ls-files", "-s"])
                    .current_dir(root),
            )
        },
    )
}

/// Each app's image: its folder the context, its Dockerfile there.
fn image_plans(root: &Path) -> Vec<ImagePlan> {
    (0..APPS)
        .map(|n| {
            let context = root.join(format!("clusters/big/apps/app{n:03}"));
            ImagePlan {
                name: format!("app{n:03}"),
                dockerfile: context.join("Dockerfile"),
                context,
                args: Vec::new(),
                target: None,
                platforms: Vec::new(),
                tag: String::new(),
            }
        })
        .collect()
}

fn git(root: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.email=bench@example.com",
            "-c",
            "user.name=bench",
        ])
        .args(args)
        .current_dir(root)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[track_caller]
fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The registry of the tests, on loopback.
struct Registry {
    child: Child,
    port: u16,
}

impl Registry {
    fn start(state: &Path) -> Registry {
        let dir = state.join("registry");
        fs::create_dir_all(&dir).unwrap();
        let port_file = dir.join("port");
        let child = Command::new("python3")
            .arg(common::workspace().join("crates/stagecraft/tests/it/fakes/registry.py"))
            .arg(dir.join("store"))
            .arg(&port_file)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(text) = fs::read_to_string(&port_file) {
                break text.trim().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Registry { child, port }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn generate(root: &Path, registry_port: u16) {
    write(
        root,
        "shell.toml",
        "[project]\nname = \"big\"\ndefault_stage = \"stage\"\n",
    );
    write(
        root,
        "envs/stage.toml",
        &format!(
            "emoji = \"🤖\"\ndescription = \"s\"\ntarget = \"remote\"\ncontext = \"big-stage\"\n\n[vars]\nREGISTRY = \"127.0.0.1:{registry_port}/big\"\n"
        ),
    );
    write(
        root,
        "clusters/big/cluster.toml",
        "description = \"100 apps\"\n",
    );
    // The fakes below are the tools: nothing pinned to download.
    write(
        root,
        "deps/deps.toml",
        "# The tools are the benchmark's fakes in deps/bin.\n",
    );
    // The stage's cluster, as it was pinned at its first use.
    write(
        root,
        "deps/kube/big-stage.yaml",
        "apiVersion: v1\nkind: Config\ncurrent-context: big-stage\n\
         clusters:\n- name: big-stage\n  cluster:\n    server: https://10.0.0.1:6443\n\
         contexts:\n- name: big-stage\n  context:\n    cluster: big-stage\n    user: big-stage\n\
         users:\n- name: big-stage\n  user:\n    token: bench\n",
    );
    write(
        root,
        "deps/kube/big-stage.identity.toml",
        "uid = \"6a1f0c2e-big\"\nserver = \"https://10.0.0.1:6443\"\n",
    );
    write(
        root,
        "comm/charts/c/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    );
    write(
        root,
        "comm/charts/c/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n",
    );
    for n in 0..APPS {
        let app = format!("app{n:03}");
        let dir = format!("clusters/big/apps/{app}");
        write(
            root,
            &format!("{dir}/app.toml"),
            &format!(
                "description = \"{app}\"\n\n[[releases]]\nname = \"{app}\"\nchart = \"comm/charts/c\"\nimage = \"{app}\"\n\n[[images]]\nname = \"{app}\"\ncontext = \".\"\n"
            ),
        );
        write(
            root,
            &format!("{dir}/Dockerfile"),
            "FROM scratch\nCOPY src/ /app/\n",
        );
        write(root, &format!("{dir}/.dockerignore"), "app.toml\nvalues/\n");
        for f in 0..FILES {
            write(
                root,
                &format!("{dir}/src/f{f}.py"),
                &format!("print({n}, {f})\n"),
            );
        }
    }
    // Small and honest: docker builds and pushes (into the registry);
    // helm keeps each release's record with its digest label, which
    // kubectl shows as helm's release Secrets; kubectl hands back the
    // one-context view and the cluster's UID.
    executable(
        root,
        "deps/bin/docker",
        "#!/bin/sh\ncase \"$1\" in\n  info) echo 28.2.2 ;;\n  build) ;;\n  push) ref=${2#*/}; : > \"$FAKE_REGISTRY_DIR/$(echo \"$ref\" | tr / _)\" ;;\nesac\n",
    );
    executable(
        root,
        "deps/bin/helm",
        "#!/bin/sh\ncase \"$1\" in\n  version) echo v4.1.4 ;;\n  upgrade) cat >/dev/null\n    digest=$(printf '%s\\n' \"$@\" | sed -n 's/^--labels=stagecraft.dev\\/digest=//p')\n    echo \"1 deployed $digest\" > \"$FAKE_STATE/release-$3\" ;;\nesac\n",
    );
    executable(
        root,
        "deps/bin/kubectl",
        "#!/bin/sh\n\
         for a; do [ \"$prev\" = --kubeconfig ] && kubeconfig=$a; [ \"$prev\" = --selector ] && selector=$a; case \"$a\" in --selector=*) selector=${a#--selector=} ;; esac; prev=$a; done\n\
         case \" $* \" in\n\
         *\" config view \"*) cat \"$kubeconfig\" ;;\n\
         *\" config get-contexts \"*) echo big-stage ;;\n\
         *\" get namespace kube-system \"*) printf 6a1f0c2e-big ;;\n\
         *\" get --raw \"*) echo ok ;;\n\
         *\" get secrets \"*) release=${selector##*name=}; cat \"$FAKE_STATE/release-$release\" 2>/dev/null || true ;;\n\
         *\" get pods \"*) echo '{\"items\":[]}' ;;\n\
         *\" apply \"*) cat >/dev/null ;;\n\
         esac\n",
    );
}

fn executable(root: &Path, rel: &str, text: &str) {
    write(root, rel, text);
    fs::set_permissions(root.join(rel), fs::Permissions::from_mode(0o755)).unwrap();
}
