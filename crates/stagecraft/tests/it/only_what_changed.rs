//! Only what changed: image tags from each image's inputs, the apps a
//! change reaches (`--affected`), the registry asked before a build, why
//! each release deploys, drift, and promotion by digest. In git copies of
//! the example, with a real registry API on loopback (fakes/registry.py).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::adopt::git;
use crate::apps::app_fixture;
use crate::cluster::Fixture;
use crate::support::TestRepo;

/// The example, committed in a repository of its own.
fn committed(repo: &TestRepo) {
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "the example"]);
}

fn commit(repo: &TestRepo, message: &str) {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
}

fn append(repo: &TestRepo, rel: &str, text: &str) {
    let path = repo.root.join(rel);
    let mut old = fs::read_to_string(&path).unwrap();
    old.push_str(text);
    fs::write(path, old).unwrap();
}

/// Each image's tag in `stage`, by image name (`app images --json`).
fn tags(repo: &TestRepo, stage: &str) -> std::collections::BTreeMap<String, String> {
    repo.run(["app", "images", "--stage", stage, "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["image"].as_str().unwrap().to_owned(),
                i["tag"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The apps `list --affected` names, with why.
fn affected(repo: &TestRepo, args: &[&str]) -> Vec<(String, Vec<String>)> {
    let mut all = vec!["list", "--affected", "--json"];
    all.extend_from_slice(args);
    let listing = repo.run(all).ok().json();
    listing["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["apps"].as_array().unwrap().clone())
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["why"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

fn names(found: &[(String, Vec<String>)]) -> Vec<&str> {
    found.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn a_commit_retags_and_affects_only_the_apps_whose_inputs_it_touches() {
    let repo = TestRepo::example();
    committed(&repo);
    let before = tags(&repo, "local");
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        ["frontend", "photos-api"]
    );
    for tag in before.values() {
        assert!(
            tag.len() == 16 && tag.chars().all(|c| c.is_ascii_hexdigit()),
            "{tag}"
        );
    }

    // A commit touching only frontend's files.
    append(
        &repo,
        "clusters/hmlet/apps/frontend/public/index.html",
        "<!-- v2 -->\n",
    );
    commit(&repo, "frontend: v2");
    let after = tags(&repo, "local");
    assert_eq!(
        after["photos-api"], before["photos-api"],
        "photos' tag moved"
    );
    assert_ne!(after["frontend"], before["frontend"]);
    let found = affected(&repo, &["--since", "HEAD~1"]);
    assert_eq!(names(&found), ["frontend"]);
    assert_eq!(
        found[0].1,
        ["clusters/hmlet/apps/frontend/public/index.html"]
    );
    // The text names it too, with the revision it compared with.
    repo.run(["list", "--affected", "--since", "HEAD~1"])
        .ok()
        .stdout_has("affected since HEAD~1: clusters/hmlet/apps/frontend/public/index.html");

    // The shared chart reaches both.
    append(&repo, "comm/charts/service/values.yaml", "# a comment\n");
    let found = affected(&repo, &["--since", "HEAD"]);
    assert_eq!(names(&found), ["frontend", "photos"]);
    assert_eq!(found[1].1, ["comm/charts/service/values.yaml"]);
    git(&repo, &["checkout", "-q", "--", "."]);

    // prod's env file: no app of local, both of prod.
    append(&repo, "envs/prod.toml", "# a comment\n");
    assert_eq!(
        names(&affected(&repo, &["--since", "HEAD", "--stage", "local"])),
        Vec::<&str>::new()
    );
    assert_eq!(
        names(&affected(&repo, &["--since", "HEAD", "--stage", "prod"])),
        ["frontend", "photos"]
    );
    git(&repo, &["checkout", "-q", "--", "."]);

    // One of photos' values files: photos only (its image does not read it,
    // .dockerignore; frontend depends on what photos runs, not on its values).
    append(
        &repo,
        "clusters/hmlet/apps/photos/values/local/photos-api.yaml",
        "# a comment\n",
    );
    let found = affected(&repo, &["--since", "HEAD", "--stage", "local"]);
    assert_eq!(names(&found), ["photos"]);
    assert_eq!(
        tags(&repo, "local")["photos-api"],
        after["photos-api"],
        "a values file retagged the image"
    );
    // ... and not for another stage.
    assert_eq!(
        names(&affected(&repo, &["--since", "HEAD", "--stage", "test"])),
        Vec::<&str>::new()
    );
    git(&repo, &["checkout", "-q", "--", "."]);

    // photos' code: photos, and frontend, which depends on photos.
    append(
        &repo,
        "clusters/hmlet/apps/photos/src/server.py",
        "# a comment\n",
    );
    let found = affected(&repo, &["--since", "HEAD"]);
    assert_eq!(names(&found), ["frontend", "photos"]);
    assert_eq!(
        found[0].1,
        ["depends on photos, whose images or charts changed"]
    );
    assert_ne!(tags(&repo, "local")["photos-api"], after["photos-api"]);
    // The same content again: the same tag (the tag is the content's).
    git(&repo, &["checkout", "-q", "--", "."]);
    assert_eq!(tags(&repo, "local")["photos-api"], after["photos-api"]);
    // An untracked file in the context counts; an ignored one does not.
    fs::write(
        repo.root.join("clusters/hmlet/apps/photos/src/new.py"),
        "x = 1\n",
    )
    .unwrap();
    assert_ne!(tags(&repo, "local")["photos-api"], after["photos-api"]);
    assert_eq!(
        names(&affected(&repo, &["--since", "HEAD"])),
        ["frontend", "photos"]
    );
    fs::remove_file(repo.root.join("clusters/hmlet/apps/photos/src/new.py")).unwrap();
    fs::write(
        repo.root.join("clusters/hmlet/apps/photos/src/.gitignore"),
        "*.pyc\n",
    )
    .unwrap();
    commit(&repo, "ignore pyc");
    let clean = tags(&repo, "local")["photos-api"].clone();
    fs::write(
        repo.root.join("clusters/hmlet/apps/photos/src/cache.pyc"),
        "bytes",
    )
    .unwrap();
    assert_eq!(
        tags(&repo, "local")["photos-api"],
        clean,
        "an ignored file retagged"
    );

    // An unknown REF is a clear error.
    repo.run(["list", "--affected", "--since", "no-such-branch"])
        .fails()
        .stderr_has("unknown revision `no-such-branch` for --since")
        .stderr_has("hint:");
    // The default REF: the merge-base with main (here, HEAD: nothing).
    assert_eq!(names(&affected(&repo, &[])), Vec::<&str>::new());
}

#[test]
fn two_clones_of_the_same_tree_give_the_same_tags() {
    let repo = TestRepo::example();
    committed(&repo);
    let first = tags(&repo, "local");
    let other = TestRepo::example();
    fs::remove_dir_all(&other.root).unwrap();
    let status = Command::new("git")
        .args(["clone", "-q"])
        .arg(&repo.root)
        .arg(&other.root)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(tags(&other, "local"), first);
    // And in another stage: the same inputs, the same tags.
    assert_eq!(tags(&other, "prod"), first);
}

/// fakes/registry.py on loopback, killed with the test.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Registry {
    fn start(dir: &Path, token: bool) -> Registry {
        let port_file = dir.join("port");
        let store = dir.join("store");
        let mut cmd = Command::new("python3");
        cmd.arg(crate::support::workspace().join("crates/stagecraft/tests/it/fakes/registry.py"))
            .arg(&store)
            .arg(&port_file);
        if token {
            cmd.arg("token");
        }
        let child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(text) = fs::read_to_string(&port_file) {
                break text.trim().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Registry {
            child,
            port,
            dir: store,
        }
    }

    fn requests(&self) -> String {
        fs::read_to_string(self.dir.join("requests")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registry on loopback for stage local's images (envs/local.toml's
/// REGISTRY), which fake docker pushes into.
pub fn local_registry(f: &mut Fixture, token: bool) -> Registry {
    let registry = Registry::start(f.repo.home.parent().unwrap(), token);
    let address = format!("127.0.0.1:{}/hmlet", registry.port);
    let path = "envs/local.toml";
    let text = f.repo.read(path);
    let text = text
        .lines()
        .map(|l| match l.starts_with("REGISTRY = ") {
            true => format!("REGISTRY = \"{address}\""),
            false => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    f.repo.write(path, &format!("{text}\n"));
    assert!(
        f.repo.read(path).contains(&address),
        "{path} names no REGISTRY"
    );
    f.repo.env.insert(
        "FAKE_REGISTRY_DIR".into(),
        registry.dir.display().to_string(),
    );
    registry
}

/// The example with its fakes, committed, its stages' images going to a
/// registry on loopback (fake docker pushes into it).
fn with_registry(token: bool) -> (Fixture, Registry) {
    with_registry_and(token, |_| None::<()>).0
}

/// [`with_registry`], `prepare` run on the fixture before the commit (what
/// it returns kept alive).
fn with_registry_and<T>(
    token: bool,
    prepare: impl FnOnce(&mut Fixture) -> Option<T>,
) -> ((Fixture, Registry), Option<T>) {
    let mut f = app_fixture();
    let kept = prepare(&mut f);
    let registry = local_registry(&mut f, token);
    committed(&f.repo);
    ((f, registry), kept)
}

fn builds(f: &Fixture) -> Vec<String> {
    f.take_calls()
        .iter()
        .filter(|c| {
            c.tool == "docker" && c.args.first().is_some_and(|a| a == "build" || a == "push")
        })
        .map(|c| c.line())
        .collect()
}

#[test]
fn a_tag_the_registry_has_is_neither_built_nor_pushed() {
    let (f, registry) = with_registry(false);
    let run = f.repo.run(["app", "build", "photos", "--stage", "local"]);
    run.ok().stdout_has("built and pushed");
    let first = builds(&f);
    assert_eq!(first.len(), 2, "{first:#?}");
    assert!(first[0].contains(&format!(
        "--tag 127.0.0.1:{}/hmlet/photos-api:",
        registry.port
    )));
    // The commit goes into the image as its revision label.
    let head = git(&f.repo, &["rev-parse", "HEAD"]);
    assert!(
        first[0].contains(&format!(
            "--label org.opencontainers.image.revision={}",
            head.trim()
        )),
        "{}",
        first[0]
    );
    // Asked first, by the API: HEAD /v2/<name>/manifests/<tag>.
    assert!(
        registry
            .requests()
            .contains("HEAD /v2/hmlet/photos-api/manifests/"),
        "{}",
        registry.requests()
    );

    // Again: the registry has it, nothing is built or pushed, and it says so.
    f.repo
        .run(["app", "build", "photos", "--stage", "local"])
        .ok()
        .stdout_has("in the registry already, not built or pushed");
    assert_eq!(builds(&f), Vec::<String>::new());
    // --force builds anyway.
    f.repo
        .run(["app", "build", "photos", "--stage", "local", "--force"])
        .ok();
    assert_eq!(builds(&f).len(), 2);
}

#[test]
fn every_image_of_a_build_is_asked_about_at_once_and_once() {
    let (f, registry) = with_registry(false);
    let build = ["app", "build", "photos", "frontend", "--stage", "local"];
    f.repo.run(build).ok();
    assert_eq!(builds(&f).len(), 4, "two images built and pushed");
    // Now the registry answers a HEAD only once both have come in (else
    // 503 after 10 s, and the image would be built): asked one after the
    // other, the first would wait alone.
    fs::write(registry.dir.join("together"), "2").unwrap();
    let again = f.repo.run(build);
    again.ok();
    assert_eq!(
        again
            .stdout
            .matches("in the registry already, not built or pushed")
            .count(),
        2,
        "{}",
        again.stdout
    );
    assert_eq!(builds(&f), Vec::<String>::new());
    // Each image asked about once per run.
    let requests = registry.requests();
    let heads = requests.lines().filter(|l| l.starts_with("HEAD ")).count();
    assert_eq!(heads, 4, "{requests}");
}

#[test]
fn a_registry_that_asks_for_a_token_gets_one_from_its_realm() {
    let (f, registry) = with_registry(true);
    f.repo
        .run(["app", "build", "photos", "--stage", "local"])
        .ok();
    assert_eq!(builds(&f).len(), 2);
    f.repo
        .run(["app", "build", "photos", "--stage", "local"])
        .ok()
        .stdout_has("in the registry already");
    assert_eq!(builds(&f), Vec::<String>::new());
    let requests = registry.requests();
    // The challenge, the token from the realm (service and scope), the retry.
    assert!(
        requests.contains(
            "GET /token?service=test-registry&scope=repository%3Ahmlet%2Fphotos-api%3Apull"
        ),
        "{requests}"
    );
    assert!(requests.contains("Bearer good-token"), "{requests}");
}

#[test]
fn a_second_up_after_a_frontend_commit_builds_and_upgrades_only_frontend() {
    let ((f, _registry), _tools) = with_registry_and(false, |f| Some(crate::ux::pinned_fakes(f)));
    f.repo.run(["up", "local", "--yes"]).ok();
    f.take_calls();
    append(
        &f.repo,
        "clusters/hmlet/apps/frontend/public/index.html",
        "<!-- v2 -->\n",
    );
    commit(&f.repo, "frontend: v2");
    let run = f.repo.run(["up", "local", "--yes"]);
    run.ok();
    let calls = f.take_calls();
    let docker_builds: Vec<String> = calls
        .iter()
        .filter(|c| c.tool == "docker" && c.args.first().is_some_and(|a| a == "build"))
        .map(|c| c.line())
        .collect();
    assert_eq!(docker_builds.len(), 1, "{docker_builds:#?}");
    assert!(
        docker_builds[0].contains("/frontend:"),
        "{}",
        docker_builds[0]
    );
    let upgrades: Vec<String> = calls
        .iter()
        .filter(|c| c.tool == "helm" && c.args.first().is_some_and(|a| a == "upgrade"))
        .map(|c| c.args[2].clone())
        .filter(|r| r != "traefik")
        .collect();
    assert_eq!(upgrades, ["frontend"]);
    // Why: the image's tag, old → new; the rest unchanged.
    run.stdout_has("why: image frontend ");
    assert!(run.stdout.contains(" → "), "{}", run.stdout);
    // --json of a deploy carries it.
    let report = f
        .repo
        .run([
            "app", "deploy", "photos", "frontend", "--stage", "local", "--force", "--json",
        ])
        .ok()
        .json();
    let releases = report["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 4);
    for release in releases {
        assert_eq!(release["outcome"], "deployed");
        assert_eq!(release["why"], "nothing it is made of changed", "{release}");
    }
    // A variable changes: named, its value never.
    let text = f.repo.read("clusters/hmlet/apps/photos/app.toml");
    assert!(text.contains("LOG_LEVEL"), "{text}");
    f.repo
        .run([
            "var",
            "set",
            "LOG_LEVEL",
            "trace",
            "--stage",
            "local",
            "--app",
            "photos",
        ])
        .ok();
    let report = f
        .repo
        .run(["app", "deploy", "photos", "--stage", "local", "--json"])
        .ok()
        .json();
    let api = report["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["release"] == "photos/photos-api")
        .unwrap()
        .clone();
    assert_eq!(api["why"], "variables LOG_LEVEL", "{api}");
    assert!(
        !report.to_string().contains("trace"),
        "a value in why: {report}"
    );
}

#[test]
fn every_command_with_affected_acts_on_the_affected_apps_only() {
    let (f, _registry) = with_registry(false);
    append(
        &f.repo,
        "clusters/hmlet/apps/frontend/public/index.html",
        "<!-- v2 -->\n",
    );
    commit(&f.repo, "frontend: v2");
    let since = ["--affected", "--since", "HEAD~1", "--stage", "local"];
    let with = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&since);
        f.repo.run(all)
    };
    // app build: frontend's image only, and it says why.
    with(&["app", "build"]).ok().stderr_has(
        "affected: frontend (since HEAD~1: clusters/hmlet/apps/frontend/public/index.html)",
    );
    let built = builds(&f);
    assert_eq!(built.len(), 2, "{built:#?}");
    assert!(built.iter().all(|b| b.contains("/frontend:")), "{built:#?}");
    // app render: frontend's manifests only.
    let render = with(&["app", "render"]);
    render.ok();
    assert!(
        render.stdout.contains("name: frontend"),
        "{}",
        render.stdout
    );
    assert!(
        !render.stdout.contains("name: photos-api"),
        "{}",
        render.stdout
    );
    // app lint (every stage: affected in any) and app images: frontend's.
    let lint = f
        .repo
        .run(["app", "lint", "--affected", "--since", "HEAD~1"]);
    lint.ok().stdout_has("frontend");
    assert!(!lint.stdout.contains("photos-api"), "{}", lint.stdout);
    let images = with(&["app", "images", "--json"]).ok().json();
    assert_eq!(images.as_array().unwrap().len(), 1);
    assert_eq!(images[0]["image"], "frontend");
    // app deploy: frontend's release only.
    f.take_calls();
    with(&["app", "deploy"]).ok();
    let upgrades: Vec<String> = f
        .take_calls()
        .iter()
        .filter(|c| c.tool == "helm" && c.args[0] == "upgrade")
        .map(|c| c.args[2].clone())
        .collect();
    assert_eq!(upgrades, ["frontend"]);
    // up: the same, after bootstrap.
    let plan = f.repo.run([
        "up",
        "local",
        "--dry-run",
        "--affected",
        "--since",
        "HEAD~1",
    ]);
    plan.ok().stdout_has("affected: hmlet/frontend");
    assert!(
        !plan.stdout.contains("upgrade --install photos-api"),
        "{}",
        plan.stdout
    );
    // task: each affected app's own task; frontend has no e2e.
    with(&["task", "e2e", "--dry-run"])
        .ok()
        .stderr_has("- frontend: affected, has no task e2e")
        .stderr_has("no affected app has a task e2e: nothing to run");
    // photos' code: photos' e2e runs (and frontend, its dependent, has none).
    append(
        &f.repo,
        "clusters/hmlet/apps/photos/src/server.py",
        "# v2\n",
    );
    commit(&f.repo, "photos: v2");
    let task = with(&["task", "e2e", "--dry-run"]);
    task.ok()
        .stderr_has("── photos:e2e (clusters/hmlet/apps/photos/src/server.py)");
    // Nothing affected: nothing done, and it says so.
    f.repo
        .run([
            "app",
            "deploy",
            "--affected",
            "--since",
            "HEAD",
            "--stage",
            "local",
        ])
        .ok()
        .stderr_has("no app of hmlet is affected: nothing to do");
}
