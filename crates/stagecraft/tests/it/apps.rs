//! `xtask app` and `cluster deploy`: real helm for render and lint, a fake
//! helm (recording argv and KUBECONFIG) for deploys.

use std::fs;
use std::process::Command;

use crate::cluster::{Call, commands_of, comparable, fixture, lines};
use crate::http::Server;
use crate::support::{TestRepo, kubeconfig, test_tool};

/// The fakes, with a kubeconfig for every cluster and stage as if each
/// cluster were bootstrapped, and every cluster answering.
pub fn app_fixture() -> crate::cluster::Fixture {
    let f = fixture();
    fs::create_dir_all(f.state.join("kind")).unwrap();
    for stage in ["local", "test"] {
        fs::write(
            f.state.join(format!("kind/cluster-hmlet-{stage}")),
            "healthy\n",
        )
        .unwrap();
    }
    fs::write(f.state.join("remote-up"), "").unwrap();
    for stage in ["local", "test", "stage", "prod"] {
        // kind writes its clusters' API servers on this machine.
        let (context, server) = if ["local", "test"].contains(&stage) {
            (format!("kind-hmlet-{stage}"), "https://127.0.0.1:6443")
        } else {
            (format!("hmlet-{stage}"), "https://10.0.0.1:6443")
        };
        f.repo.write(
            &format!("deps/kube/hmlet-{stage}.yaml"),
            &kubeconfig(&context, server),
        );
    }
    f
}

#[test]
fn commands_that_reach_a_cluster_need_its_kubeconfig_first() {
    let f = fixture();
    f.repo
        .run(["app", "deploy", "photos", "--stage", "test"])
        .fails()
        .stderr_has("deps/kube/hmlet-test.yaml does not exist: the kind cluster hmlet-test is not bootstrapped")
        .stderr_has("cargo xtask cluster bootstrap hmlet --stage test");
    f.repo
        .run(["app", "logs", "photos", "--stage", "stage"])
        .fails()
        .stderr_has("deps/kube/hmlet-stage.yaml does not exist (context hmlet-stage)");
    assert!(f.take_calls().is_empty());
}

/// The example repository with the real helm on PATH, and its secrets.
pub fn with_real_helm() -> TestRepo {
    let mut repo = TestRepo::example();
    repo.extra_path
        .push(test_tool("helm").parent().unwrap().to_owned());
    repo.provide_example_secrets();
    repo
}

#[test]
fn every_app_renders_and_lints_for_every_stage_with_real_helm() {
    let repo = with_real_helm();
    for app in ["photos", "frontend"] {
        for stage in ["local", "test", "stage", "prod"] {
            let run = repo.run(["app", "render", app, "--stage", stage]);
            run.ok()
                .stdout_has("kind: Service")
                .stdout_has("kind: HTTPRoute");
        }
        let lint = repo.run(["app", "lint", app]);
        lint.ok();
        for stage in ["local", "test", "stage", "prod"] {
            lint.stdout_has(&format!("✔ {stage} {app}/"));
        }
    }
}

/// One document of a rendered stream, by kind and name.
fn document<'a>(stream: &'a str, kind: &str, name: &str) -> &'a str {
    stream
        .split("\n---")
        .find(|d| d.contains(&format!("kind: {kind}\n")) && d.contains(&format!("name: {name}\n")))
        .unwrap_or_else(|| panic!("no {kind} {name} in:\n{stream}"))
}

#[test]
fn stage_values_override_comm_values_which_override_the_chart() {
    let repo = with_real_helm();
    let render = |stage: &str| {
        repo.run(["app", "render", "photos", "--stage", stage])
            .ok()
            .stdout
            .clone()
    };
    let local = render("local");
    let stage = render("stage");
    let prod = render("prod");
    // The chart's default image (nginx) is replaced by comm's postgres.
    let db = document(&local, "StatefulSet", "postgresql");
    assert!(db.contains("image: \"postgres:16.4\""), "{db}");
    // comm's env, and the variables app.toml gives it: the password from
    // the Secret, not as a value.
    assert!(db.contains("name: PGDATA"), "{db}");
    assert!(
        db.contains("name: POSTGRES_USER\n              value: \"photos\""),
        "{db}"
    );
    assert!(
        db.contains("name: POSTGRES_PASSWORD\n              valueFrom:\n                secretKeyRef:\n                  name: postgresql-stagecraft-env"),
        "{db}"
    );
    assert!(
        !stage.contains(crate::support::STAGE_DB_PASSWORD),
        "{stage}"
    );
    // replicaCount: chart 1 < stage's 2; prod scales with an HPA instead.
    assert!(document(&local, "Deployment", "photos-api").contains("replicas: 1\n"));
    assert!(document(&stage, "Deployment", "photos-api").contains("replicas: 2\n"));
    assert!(!document(&prod, "Deployment", "photos-api").contains("replicas:"));
    assert!(document(&prod, "HorizontalPodAutoscaler", "photos-api").contains("minReplicas: 3"));
    // Each stage's host, and the stage's registry for the built image.
    assert!(document(&prod, "HTTPRoute", "photos-api").contains("- \"api.photos.hmlet.example\""));
    assert!(
        document(&local, "Deployment", "photos-api")
            .contains("image: \"localhost:5001/photos-api:")
    );
    assert!(
        document(&prod, "Deployment", "photos-api")
            .contains("image: \"registry.hmlet.example/prod/photos-api:")
    );
}

pub fn git(repo: &TestRepo, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-C"])
        .arg(&repo.root)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn upgrades(calls: &[Call]) -> Vec<&Call> {
    calls
        .iter()
        .filter(|c| c.tool == "helm" && c.args[0] == "upgrade")
        .collect()
}

#[test]
fn deploy_passes_values_context_kubeconfig_namespace_and_tag_in_dependency_order() {
    let f = app_fixture();
    git(&f.repo, &["init", "-q"]);
    git(&f.repo, &["add", "-A"]);
    git(&f.repo, &["commit", "-q", "-m", "init"]);
    let tag_of_photos_api = || {
        let images = f
            .repo
            .run(["app", "images", "photos", "--stage", "test", "--json"])
            .ok()
            .json();
        images[0]["tag"].as_str().unwrap().to_owned()
    };
    let sha = tag_of_photos_api();
    let run = f.repo.run([
        "app",
        "deploy",
        "frontend",
        "photos",
        "--stage",
        "test",
        "--set",
        "photos-api.replicaCount=2",
    ]);
    run.ok()
        .stdout_has("photos/photos-api")
        .stdout_has("deployed");
    let calls = f.take_calls();
    // Which cluster, before anything else.
    assert_eq!(calls[0].line(), f.identity_query("test", "kind-hmlet-test"));
    assert_eq!(calls[1].args, ["version", "--short"]);
    let ups = upgrades(&calls);
    let order: Vec<&str> = ups.iter().map(|c| c.args[2].as_str()).collect();
    let pos = |name: &str| order.iter().position(|n| *n == name).unwrap();
    assert_eq!(order.len(), 4, "{order:?}");
    assert!(
        pos("postgresql") < pos("photos-api") && pos("redis") < pos("photos-api"),
        "needs: {order:?}"
    );
    assert!(pos("photos-api") < pos("frontend"), "depends_on: {order:?}");

    let root = f.root();
    let k = f.kubeconfig("test");
    let api = ups[pos("photos-api")];
    let values = format!("{root}/clusters/hmlet/apps/photos/values");
    let (last, digest) = api.args.split_last().unwrap();
    assert_eq!(
        digest,
        [
            "upgrade",
            "--install",
            "photos-api",
            &format!("{root}/comm/charts/service"),
            "--namespace",
            "photos",
            "--create-namespace",
            "--kubeconfig",
            &k,
            "--kube-context",
            "kind-hmlet-test",
            "-f",
            &format!("{values}/comm/photos-api.yaml"),
            "-f",
            &format!("{values}/test/photos-api.yaml"),
            "-f",
            "-",
            "--set",
            "replicaCount=2",
            "--wait",
            "--timeout",
            "5m",
            "--rollback-on-failure",
        ]
        .map(str::to_owned)
    );
    let digest = last
        .strip_prefix("--labels=stagecraft.dev/digest=")
        .unwrap();
    assert!(
        digest.len() == 32 && digest.chars().all(|c| c.is_ascii_hexdigit()),
        "{last}"
    );
    assert_eq!(api.kubeconfig, k);
    // What Stagecraft adds, on stdin: the image, the containers' variables
    // (the secret one as a reference), the checksum, the hosts.
    let added = stdin_values(&f.take_stdin(), "photos-api");
    assert_eq!(added["image"]["repository"], "localhost:5001/photos-api");
    assert_eq!(added["image"]["tag"], sha.as_str());
    assert_eq!(added["env"]["REDIS_URL"], "redis://redis:6379/0");
    assert_eq!(added["env"]["PHOTOS_BUCKET"], "hmlet-photos-test");
    assert!(added["env"].get("DATABASE_URL").is_none(), "{added:#}");
    assert_eq!(
        added["secretEnv"]["DATABASE_URL"],
        serde_json::json!({ "secretName": "photos-api-stagecraft-env", "key": "DATABASE_URL" })
    );
    assert_eq!(
        added["podAnnotations"]["stagecraft.dev/env-checksum"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert_eq!(
        added["route"],
        serde_json::json!({
            "enabled": true,
            "hostnames": ["api.photos.test.localtest.me"],
            "parentRefs": [{ "name": "hmlet-test", "namespace": "stagecraft-gateway" }],
        })
    );
    let frontend = ups[pos("frontend")];
    assert!(
        frontend
            .args
            .windows(2)
            .any(|w| w == ["--namespace", "frontend"])
    );

    // A change to what the image is built from: another tag.
    fs::write(
        f.repo.root.join("clusters/hmlet/apps/photos/src/server.py"),
        "changed\n",
    )
    .unwrap();
    f.repo
        .run(["app", "deploy", "photos", "--stage", "test"])
        .ok();
    f.take_calls();
    let added = stdin_values(&f.take_stdin(), "photos-api");
    let changed = tag_of_photos_api();
    assert_ne!(changed, sha);
    assert_eq!(added["image"]["tag"], changed.as_str());
}

/// The values a `helm upgrade` of `release` read on stdin.
pub fn stdin_values(stdin: &[(String, String)], release: &str) -> serde_json::Value {
    let (_, body) = stdin
        .iter()
        .rev()
        .find(|(line, _)| {
            line.starts_with("helm\t")
                && line.contains(&format!("\tupgrade\t--install\t{release}\t"))
        })
        .unwrap_or_else(|| panic!("no helm upgrade of {release} read stdin: {stdin:#?}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn helm_3_gets_atomic() {
    let mut f = app_fixture();
    f.repo
        .env
        .insert("FAKE_HELM_VERSION".into(), "v3.19.0+g3d8990f".into());
    f.repo.run(["app", "deploy", "photos"]).ok();
    let calls = f.take_calls();
    for up in upgrades(&calls) {
        assert!(up.args.iter().any(|a| a == "--atomic"), "{up:?}");
        assert!(up.args.iter().any(|a| a.starts_with("--labels=")), "{up:?}");
    }
    // Before helm 3.13, no release labels: every release deploys.
    f.repo
        .env
        .insert("FAKE_HELM_VERSION".into(), "v3.12.3+g3a31588".into());
    f.repo.run(["app", "deploy", "photos"]).ok();
    for up in upgrades(&f.take_calls()) {
        assert!(
            !up.args.iter().any(|a| a.starts_with("--labels=")),
            "{up:?}"
        );
    }
}

#[test]
fn a_failed_release_stops_new_ones_and_the_summary_says_what_happened() {
    let mut f = app_fixture();
    f.repo
        .env
        .insert("FAKE_HELM_FAIL".into(), "photos-api".into());
    let run = f.repo.run(["cluster", "deploy", "hmlet", "--jobs", "4"]);
    run.fails()
        .stderr_has("the deploy to hmlet-local failed: photos/photos-api")
        .stdout_has("resource Deployment/photos-api not ready: context deadline exceeded");
    let summary: Vec<&str> = run.stdout.lines().collect();
    let row = |name: &str| {
        summary
            .iter()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {summary:?}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("photos/postgresql")[2], "deployed");
    assert_eq!(row("photos/redis")[2], "deployed");
    assert_eq!(row("photos/photos-api")[2], "failed");
    assert_eq!(row("frontend/frontend")[2..4], ["not", "started"]);
    let started: Vec<String> = upgrades(&f.take_calls())
        .iter()
        .map(|c| c.args[2].clone())
        .collect();
    assert!(
        !started.contains(&"frontend".to_owned()),
        "a release started after the failure: {started:?}"
    );
}

#[test]
fn a_protected_stage_without_yes_or_terminal_is_refused_and_runs_nothing() {
    let mut f = app_fixture();
    f.repo.env.insert("PHOTOS_DB_PASSWORD".into(), "x".into());
    f.repo
        .run(["app", "deploy", "photos", "--stage", "prod"])
        .fails()
        .stderr_has("stage prod is protected: deploy needs --yes when there is no terminal to confirm on; nothing was run");
    f.repo
        .run(["app", "delete", "photos", "--stage", "prod"])
        .fails()
        .stderr_has("delete needs --yes");
    f.repo
        .run(["app", "dev", "photos", "--stage", "prod"])
        .fails()
        .stderr_has("protected");
    assert!(f.take_calls().is_empty(), "something ran");
    // With --yes it goes, to the prod context.
    let kubeconfig = f.kubeconfig("prod");
    f.repo
        .run(["app", "deploy", "photos", "--stage", "prod", "--yes"])
        .ok();
    let calls = f.take_calls();
    for up in upgrades(&calls) {
        assert!(
            up.args
                .windows(2)
                .any(|w| w == ["--kube-context", "hmlet-prod"])
        );
        assert_eq!(up.kubeconfig, kubeconfig);
    }
}

#[test]
fn dry_run_prints_the_commands_of_a_real_run_and_runs_none() {
    let f = app_fixture();
    let run = f.repo.run(["cluster", "deploy", "--dry-run"]);
    run.ok();
    // Only questions (is it deployed as it is now?), printed too.
    let ran = lines(&f.take_calls());
    assert!(
        ran.iter()
            .all(|c| c.starts_with("kubectl ") && c.contains(" get ")),
        "the dry run ran more than reads: {ran:#?}"
    );
    let printed = commands_of(&run.stdout, &f.repo.root);
    f.repo.run(["cluster", "deploy", "--jobs", "1"]).ok();
    assert_eq!(comparable(printed), comparable(lines(&f.take_calls())));
}

#[test]
fn the_webhook_gets_json_and_a_dead_webhook_is_only_a_warning() {
    let f = app_fixture();
    let server = Server::start();
    server.put("/hook", "");
    let local = f.repo.read("envs/local.toml");
    f.repo.write(
        "envs/local.toml",
        &format!("{local}\n[notify]\nwebhook = \"{}/hook\"\n", server.base()),
    );
    f.repo.run(["app", "deploy", "photos", "frontend"]).ok();
    let posts = server.posts();
    assert_eq!(posts.len(), 2, "{posts:?}");
    let photos: serde_json::Value = serde_json::from_str(
        &posts
            .iter()
            .find(|(_, b)| b.contains("\"photos\""))
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(photos["app"], "photos");
    assert_eq!(photos["stage"], "local");
    assert_eq!(photos["cluster"], "hmlet");
    assert_eq!(photos["result"], "deployed");
    let images = photos["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(images[0]["name"], "photos-api");
    let reference = images[0]["reference"].as_str().unwrap();
    let tag = reference
        .strip_prefix("localhost:5001/photos-api:")
        .unwrap();
    assert!(
        tag.len() == 16 && tag.chars().all(|c| c.is_ascii_hexdigit()),
        "{reference}"
    );
    assert_eq!(photos["releases"].as_array().unwrap().len(), 3);
    assert!(photos["duration_seconds"].as_f64().unwrap() >= 0.0);

    f.repo.write(
        "envs/local.toml",
        &format!("{local}\n[notify]\nwebhook = \"http://127.0.0.1:9/hook\"\n"),
    );
    f.repo
        .run(["app", "deploy", "photos"])
        .ok()
        .stderr_has("warning: the deploy notification of photos was not delivered");
}

#[test]
fn a_cycle_in_needs_is_named_and_nothing_runs() {
    let f = app_fixture();
    let app = f.repo.read("clusters/hmlet/apps/photos/app.toml");
    let cyclic = app.replacen(
        "name = \"postgresql\"\nchart = \"comm/charts/service\"\n",
        "name = \"postgresql\"\nchart = \"comm/charts/service\"\nneeds = [\"photos-api\"]\n",
        1,
    );
    assert_ne!(cyclic, app);
    f.repo.write("clusters/hmlet/apps/photos/app.toml", &cyclic);
    f.repo
        .run(["app", "deploy", "photos"])
        .fails()
        .stderr_has("form a cycle: photos/postgresql -> photos/photos-api -> photos/postgresql");
    assert!(f.take_calls().is_empty());
    // Between apps too.
    f.repo.write(
        "clusters/hmlet/apps/photos/app.toml",
        &app.replace(
            "namespace = \"photos\"",
            "namespace = \"photos\"\ndepends_on = [\"frontend\"]",
        ),
    );
    f.repo
        .run(["cluster", "deploy"])
        .fails()
        .stderr_has("depends_on of these apps form a cycle: frontend -> photos -> frontend");
    assert!(f.take_calls().is_empty());
}

#[test]
fn a_values_file_for_no_release_is_an_error() {
    let f = app_fixture();
    f.repo.write(
        "clusters/hmlet/apps/photos/values/test/photo-api.yaml",
        "replicaCount: 2\n",
    );
    f.repo
        .run(["app", "deploy", "photos", "--stage", "test"])
        .fails()
        .stderr_has("values/test/photo-api.yaml matches no release of photos")
        .stderr_has("did you mean `photos-api`?");
    fs::remove_file(
        f.repo
            .root
            .join("clusters/hmlet/apps/photos/values/test/photo-api.yaml"),
    )
    .unwrap();
    f.repo
        .write("clusters/hmlet/apps/photos/values/tset/redis.yaml", "{}\n");
    f.repo
        .run(["app", "render", "photos"])
        .fails()
        .stderr_has("did you mean `test`?");
    assert!(f.take_calls().is_empty());
}
