//! The first hour, second pass: what a new user met in a fresh clone with
//! no Docker daemon and no network, each reproduced as it was described.

use std::fs;
use std::time::{Duration, Instant};

use crate::cluster::{fixture, lines};
use crate::ux::readme_fresh_copy;

/// Item 1: `up --dry-run` asks Docker for real (a read-only question) and
/// marks the step a real run would stop at, instead of saying it answers.
#[test]
fn f01_a_dry_run_runs_the_read_only_checks_for_real() {
    let f = fixture();
    fs::write(f.state.join("docker-down"), "").unwrap();
    for args in [
        &["up", "--dry-run"][..],
        &["cluster", "bootstrap", "--dry-run"],
    ] {
        let plan = f.repo.run(args);
        plan.ok()
            .stdout_has("✘ prerequisites: the Docker daemon is not answering")
            .stdout_has("Cannot connect to the Docker daemon")
            .stdout_has("start Docker");
        assert!(
            !plan.stdout.contains("✔ prerequisites"),
            "{args:?} said Docker answers:\n{}",
            plan.stdout
        );
    }
    fs::remove_file(f.state.join("docker-down")).unwrap();
    f.repo
        .run(["up", "--dry-run"])
        .ok()
        .stdout_has("# ✔ prerequisites: docker answers");
}

/// Item 2, and the README's first-hour path: `cargo xtask up` in a fresh
/// clone with Docker's daemon down stops before any download, with one
/// message that names the fix.
#[test]
fn f02_up_stops_before_any_download_when_docker_does_not_answer() {
    let (f, server) = readme_fresh_copy();
    fs::write(f.state.join("docker-down"), "").unwrap();
    let before = f.repo.snapshot();
    let run = f.repo.run(["up"]);
    run.fails()
        .stderr_has("error: the Docker daemon is not answering, nothing was downloaded or changed")
        .stderr_has("hint: start Docker");
    assert_eq!(run.stderr.matches("error:").count(), 1, "{}", run.stderr);
    assert_eq!(server.total_hits(), 0, "something was downloaded");
    assert!(!run.stdout.contains("[1/4]"), "{}", run.stdout);
    assert_eq!(f.repo.snapshot(), before, "something was written");
    assert_eq!(
        lines(&f.take_calls()),
        ["docker info --format {{.ServerVersion}}"]
    );
}

/// Item 2: downloads that cannot reach their host (offline: nothing listens)
/// fail at once, say so once and name the mirror, the `file://` mirror and
/// the proxy; no retry lines.
#[test]
fn f02_unreachable_downloads_say_so_once_and_name_the_mirror() {
    let tools = crate::deps::four_tools(10);
    let (mut repo, _server) = crate::deps::setup(&tools);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    repo.env.insert(
        "XTASK_DEPS_MIRROR".into(),
        format!("http://127.0.0.1:{port}"),
    );
    let started = Instant::now();
    let run = repo.run(["deps", "install"]);
    assert!(started.elapsed() < Duration::from_secs(10), "it retried");
    run.fails()
        .stderr_has(&format!(
            "cannot reach 127.0.0.1:{port}: the connection was refused"
        ))
        .stderr_has("XTASK_DEPS_MIRROR")
        .stderr_has("file://")
        .stderr_has("HTTPS_PROXY");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains("retrying"), "{all}");
    assert_eq!(
        run.stderr.matches("cannot reach").count(),
        1,
        "said once:\n{}",
        run.stderr
    );
    assert!(!repo.root.join("deps/bin/kubectl").exists());
}
