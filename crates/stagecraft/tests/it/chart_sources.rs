//! Charts from a chart repository, served over loopback HTTP as `helm
//! package` and `helm repo index` make them: deployed with no `helm repo
//! add`, the tarball's sha256 pinned in deps/charts.lock on first use and
//! verified after (a changed tarball is refused before helm runs; CI only
//! uses what is pinned). An OCI chart is pulled by helm and pinned alike.

use std::fs;
use std::process::Command;

use crate::apps::app_fixture;
use crate::cluster::Fixture;
use crate::http::Server;
use crate::support::{test_tool, workspace};

/// A chart repository with chart `web` 0.1.0 (the shared chart renamed),
/// packaged and indexed by the real helm; the tarball's bytes.
fn chart_repository(server: &Server, description: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("web");
    crate::support::copy_tree(&workspace().join("comm/charts/service"), &chart);
    let meta = fs::read_to_string(chart.join("Chart.yaml")).unwrap();
    let meta = meta
        .replace("name: service", "name: web")
        .replace("version: 0.4.0", "version: 0.1.0");
    fs::write(chart.join("Chart.yaml"), meta).unwrap();
    // Content that lands in the tarball (helm rewrites Chart.yaml).
    fs::write(
        chart.join("templates/NOTES.txt"),
        format!("{description}\n"),
    )
    .unwrap();
    let out_dir = dir.path().join("repo");
    fs::create_dir_all(&out_dir).unwrap();
    let helm = |args: &[&str]| {
        let out = Command::new(test_tool("helm"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "helm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    helm(&["package", "web", "--destination", "repo"]);
    helm(&[
        "repo",
        "index",
        "repo",
        "--url",
        &format!("{}/charts", server.base()),
    ]);
    let tarball = fs::read(out_dir.join("web-0.1.0.tgz")).unwrap();
    server.put("/charts/web-0.1.0.tgz", tarball.clone());
    server.put(
        "/charts/index.yaml",
        fs::read(out_dir.join("index.yaml")).unwrap(),
    );
    tarball
}

/// The example with an app `web` whose release comes from `repo`.
fn with_web_app(server: &Server) -> Fixture {
    let mut f = app_fixture();
    // The chart repository is reached directly, not through the tools' mirror.
    f.repo.env.remove("XTASK_DEPS_MIRROR");
    f.repo.write(
        "clusters/hmlet/apps/web/app.toml",
        &format!(
            "description = \"a chart of a chart repository\"\n\n[[releases]]\nname = \"web\"\nchart = \"web\"\nrepo = \"{}/charts\"\nversion = \"0.1.0\"\n",
            server.base()
        ),
    );
    f
}

#[test]
fn a_repository_chart_deploys_without_repo_add_and_is_pinned_then_verified() {
    let server = Server::start();
    let tarball = chart_repository(&server, "the first");
    let f = with_web_app(&server);
    let deploy = |f: &Fixture| {
        f.repo
            .run(["app", "deploy", "web", "--stage", "local", "--force"])
    };
    deploy(&f)
        .ok()
        .stderr_has("pinned chart web 0.1.0 from")
        .stderr_has("in deps/charts.lock (sha256 ");
    let sha = crate::deps::sha256(&tarball);
    let lock = f.repo.read("deps/charts.lock");
    assert!(lock.contains(&format!("sha256 = \"{sha}\"")), "{lock}");
    assert!(
        lock.contains("name = \"web\"\nversion = \"0.1.0\""),
        "{lock}"
    );
    let calls = f.take_calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.tool == "helm" && c.args.first().is_some_and(|a| a == "repo")),
        "helm repo was used: {calls:#?}"
    );
    let upgrade = calls
        .iter()
        .find(|c| c.tool == "helm" && c.args[..2] == ["upgrade".to_owned(), "--install".to_owned()])
        .expect("an upgrade");
    let chart = &upgrade.args[3];
    assert!(
        chart.ends_with(".tgz") && chart.contains("deps/.cache/charts/web-0.1.0-"),
        "{chart}"
    );
    assert_eq!(
        crate::deps::sha256(&fs::read(chart).unwrap()),
        sha,
        "helm got the verified tarball"
    );

    // Pinned: another run fetches nothing.
    let hits = server.total_hits();
    deploy(&f).ok();
    assert_eq!(
        server.total_hits(),
        hits,
        "a pinned, cached chart was fetched again"
    );

    // The repository now serves other bytes for the same version: refused
    // before helm runs, the pin and the cache as they were.
    chart_repository(&server, "changed behind our back");
    fs::remove_dir_all(f.repo.root.join("deps/.cache/charts")).unwrap();
    f.take_calls();
    deploy(&f)
        .fails()
        .stderr_has("checksum mismatch for chart web 0.1.0 from")
        .stderr_has(&format!("deps/charts.lock pins {sha}"));
    assert!(
        !f.take_calls()
            .iter()
            .any(|c| c.tool == "helm" && c.args[0] == "upgrade")
    );
    assert_eq!(f.repo.read("deps/charts.lock"), lock);

    // CI never pins: a chart not in the lock is refused before any fetch.
    fs::remove_file(f.repo.root.join("deps/charts.lock")).unwrap();
    let mut ci = f;
    ci.repo.env.insert("CI".into(), "true".into());
    let hits = server.total_hits();
    deploy(&ci)
        .fails()
        .stderr_has("deps/charts.lock pins no sha256 for chart web 0.1.0")
        .stderr_has("(--locked, or CI)");
    assert_eq!(server.total_hits(), hits);
}

#[test]
fn a_dry_run_says_what_it_would_fetch_and_fetches_nothing() {
    let server = Server::start();
    chart_repository(&server, "dry");
    let f = with_web_app(&server);
    f.repo
        .run(["app", "deploy", "web", "--stage", "local", "--dry-run"])
        .ok()
        .stdout_has("# fetch chart web 0.1.0 from")
        .stdout_has("(sha256 pinned on first use)");
    assert_eq!(server.total_hits(), 0);
    assert!(!f.repo.root.join("deps/charts.lock").exists());
}

#[test]
fn an_oci_chart_is_pulled_by_helm_and_pinned_by_digest() {
    let server = Server::start();
    let tarball = chart_repository(&server, "oci");
    let f = app_fixture();
    let oci = f.state.join("oci");
    fs::create_dir_all(&oci).unwrap();
    fs::write(oci.join("web-0.1.0.tgz"), &tarball).unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    fs::write(oci.join("web-0.1.0.digest"), &digest).unwrap();
    f.repo.write(
        "clusters/hmlet/apps/web/app.toml",
        "description = \"a chart of an OCI registry\"\n\n[[releases]]\nname = \"web\"\nchart = \"oci://registry.example/charts/web\"\nversion = \"0.1.0\"\n",
    );
    let deploy = || {
        f.repo
            .run(["app", "deploy", "web", "--stage", "local", "--force"])
    };
    deploy()
        .ok()
        .stderr_has("pinned chart web 0.1.0 from oci://registry.example/charts/web");
    let lock = f.repo.read("deps/charts.lock");
    assert!(lock.contains(&format!("digest = \"{digest}\"")), "{lock}");
    assert!(
        lock.contains(&format!("sha256 = \"{}\"", crate::deps::sha256(&tarball))),
        "{lock}"
    );
    let calls = f.take_calls();
    assert!(calls.iter().any(|c| c.tool == "helm"
        && c.args.len() >= 4
        && c.args[..4]
            == [
                "pull".to_owned(),
                "oci://registry.example/charts/web".to_owned(),
                "--version".to_owned(),
                "0.1.0".to_owned()
            ]));
    // The registry's chart changed under the same version: refused.
    fs::write(
        oci.join("web-0.1.0.digest"),
        format!("sha256:{}", "b".repeat(64)),
    )
    .unwrap();
    fs::remove_dir_all(f.repo.root.join("deps/.cache/charts")).unwrap();
    f.take_calls();
    deploy()
        .fails()
        .stderr_has("digest mismatch for chart web 0.1.0 from oci://registry.example/charts/web");
    assert!(
        !f.take_calls()
            .iter()
            .any(|c| c.tool == "helm" && c.args[0] == "upgrade")
    );
}
