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
        let context = if ["local", "test"].contains(&stage) {
            format!("kind-hmlet-{stage}")
        } else {
            format!("hmlet-{stage}")
        };
        f.repo.write(
            &format!("deps/kube/hmlet-{stage}.yaml"),
            &kubeconfig(&context, "https://10.0.0.1:6443"),
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

fn git(repo: &TestRepo, args: &[&str]) -> String {
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

fn upgrades(calls: &[Call]) -> Vec<&Call> {
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
    let sha = git(&f.repo, &["rev-parse", "--short", "HEAD"]);
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

    // A change in the tree: the tag says so.
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
    assert_eq!(added["image"]["tag"], format!("{sha}-dirty").as_str());
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
    assert!(f.take_calls().is_empty(), "the dry run ran something");
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
    assert_eq!(photos["image_tag"], "dev");
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

#[test]
fn build_tags_with_the_git_sha_and_pushes_to_the_stage_registry() {
    let f = app_fixture();
    f.repo
        .run(["app", "build", "photos", "--stage", "test"])
        .ok()
        .stdout_has("localhost:5001/photos-api:dev: built and pushed");
    let root = f.root();
    let app = format!("{root}/clusters/hmlet/apps/photos");
    assert_eq!(
        lines(&f.take_calls()),
        [
            // This machine reaches the stage's cluster: is it the right one?
            f.identity_query("test", "kind-hmlet-test"),
            format!(
                "docker build --tag localhost:5001/photos-api:dev --file {app}/Dockerfile {app}"
            ),
            "docker push localhost:5001/photos-api:dev".to_owned(),
        ]
    );
    f.repo
        .run(["app", "build", "photos", "--stage", "stage"])
        .ok()
        .stderr_has("hmlet-stage is not pinned");
    assert!(
        lines(&f.take_calls())
            .last()
            .unwrap()
            .ends_with("push registry.hmlet.example/stage/photos-api:dev")
    );
    // Without a kubeconfig (CI building images), the push goes alone.
    fs::remove_file(f.repo.root.join("deps/kube/hmlet-test.yaml")).unwrap();
    f.repo
        .run(["app", "build", "photos", "--stage", "test"])
        .ok();
    assert!(lines(&f.take_calls())[0].starts_with("docker build"));
}

#[test]
fn delete_uninstalls_dependents_first() {
    let f = app_fixture();
    f.repo.run(["app", "delete", "photos"]).ok();
    let order: Vec<String> = f
        .take_calls()
        .iter()
        .filter(|c| c.args[0] == "uninstall")
        .map(|c| c.args[1].clone())
        .collect();
    assert_eq!(order[0], "photos-api", "{order:?}");
    assert_eq!(order.len(), 3);
}

#[test]
fn dev_runs_skaffold_in_the_app_with_the_stage_profile_and_kubeconfig() {
    let f = app_fixture();
    f.repo.run(["app", "dev", "photos", "--stage", "test"]).ok();
    let calls = f.take_calls();
    let k = f.kubeconfig("test");
    let apply = format!(
        "kubectl --kubeconfig {k} --context kind-hmlet-test apply --server-side --field-manager=stagecraft --force-conflicts --filename=-"
    );
    let key_of = |release: &str| {
        format!(
            "kubectl --kubeconfig {k} --context kind-hmlet-test get secret {release}-stagecraft-env --namespace photos --ignore-not-found --output jsonpath={{.metadata.annotations.stagecraft\\.dev/checksum-key}}"
        )
    };
    assert_eq!(
        lines(&calls),
        [
            f.identity_query("test", "kind-hmlet-test"),
            // The Secrets of postgresql's and photos-api's secret variables,
            // each after its checksum key is read.
            key_of("postgresql"),
            apply.clone(),
            key_of("photos-api"),
            apply,
            format!(
                "skaffold dev --profile test --kube-context kind-hmlet-test --kubeconfig {k} --default-repo localhost:5001"
            )
        ]
    );
    assert_eq!(calls[5].kubeconfig, k);
    // skaffold.yaml reads what Stagecraft adds from $STAGECRAFT_VALUES_DIR,
    // a private folder gone when skaffold ends.
    let added: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(f.state.join("skaffold-photos-api.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(added["env"]["REDIS_URL"], "redis://redis:6379/0");
    let dir = fs::read_to_string(f.state.join("skaffold-values-dir")).unwrap();
    assert!(!std::path::Path::new(dir.trim()).exists(), "{dir} is left");
    let dirs = fs::read_to_string(f.state.join("skaffold-dirs")).unwrap();
    assert_eq!(
        dirs.trim(),
        format!("{}/clusters/hmlet/apps/photos", f.root())
    );
    f.repo
        .run(["app", "dev", "photos", "--stage", "stage"])
        .fails()
        .stderr_has("remote");
}

#[test]
fn diff_compares_the_live_manifest_with_the_rendered_one() {
    let f = app_fixture();
    let run = f.repo.run(["app", "diff", "photos", "--stage", "test"]);
    run.ok()
        .stdout_has("--- photos/photos-api (live)")
        .stdout_has("+++ photos/photos-api (rendered)")
        .stdout_has("-replicas: 1\n+replicas: 2");
    let calls = lines(&f.take_calls());
    let k = f.kubeconfig("test");
    assert!(calls.contains(&format!("helm get manifest photos-api --namespace photos --kubeconfig {k} --kube-context kind-hmlet-test")), "{calls:?}");
}

/// On a terminal the deploy is a live table: a row per release that goes
/// from waiting to deploying to deployed.
#[test]
fn a_deploy_on_a_terminal_shows_a_live_table() {
    let f = app_fixture();
    let mut env = f.repo.base_env();
    env.push(("FAKE_HELM_SLEEP".into(), "1".into()));
    let base = f.repo.home.parent().unwrap();
    let t = crate::tmux::Tmux::start(
        base,
        &f.repo.root,
        &env,
        crate::support::XTASK,
        &["cluster", "deploy"],
    );
    // indicatif pads rows to the terminal's width: compare words.
    let words = |screen: String| screen.split_whitespace().collect::<Vec<_>>().join(" ");
    let screen = words(t.wait_for("deploying"));
    assert!(
        screen.contains("deploying to hmlet-local (context kind-hmlet-local)"),
        "{screen}"
    );
    assert!(screen.contains("frontend/frontend waiting"), "{screen}");
    t.wait_for("EXIT:0");
    let screen = words(t.screen());
    for release in [
        "photos/postgresql",
        "photos/redis",
        "photos/photos-api",
        "frontend/frontend",
    ] {
        assert!(
            screen.contains(&format!("{release} ✔ deployed in")),
            "{screen}"
        );
    }
}

/// On a terminal, a protected stage asks for its name: a wrong answer runs
/// nothing; the right one deploys.
#[test]
fn a_protected_deploy_on_a_terminal_asks_for_the_stage_name() {
    let f = app_fixture();
    let env = f.repo.base_env();
    let base = f.repo.home.parent().unwrap();
    let args = ["app", "deploy", "photos", "--stage", "prod"];
    let t = crate::tmux::Tmux::start(base, &f.repo.root, &env, crate::support::XTASK, &args);
    t.wait_for("Type the stage name to confirm:");
    t.send_line("prd");
    t.wait_for("not confirmed: nothing was run");
    t.wait_for("EXIT:1");
    drop(t);
    assert!(f.take_calls().is_empty(), "a refused deploy ran something");

    let t = crate::tmux::Tmux::start(base, &f.repo.root, &env, crate::support::XTASK, &args);
    t.wait_for("Type the stage name to confirm:");
    t.send_line("prod");
    t.wait_for("EXIT:0");
    let ups: Vec<String> = f
        .take_calls()
        .iter()
        .filter(|c| c.args[0] == "upgrade")
        .map(|c| c.args[2].clone())
        .collect();
    assert_eq!(ups.len(), 3, "{ups:?}");
}

#[test]
fn day_two_commands_reach_the_stage_cluster_only() {
    let f = app_fixture();
    f.repo.run(["cluster", "bootstrap"]).ok();
    for _ in 0..3 {
        f.repo.run(["app", "deploy", "photos", "--force"]).ok();
    }
    f.take_calls();
    let k = f.kubeconfig("local");
    let kubectl = format!("kubectl --kubeconfig {k} --context kind-hmlet-local");

    let status = f
        .repo
        .run(["app", "status", "photos", "--json"])
        .ok()
        .json();
    let rows = status.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r["status"] == "deployed" && r["revision"] == 3),
        "{status}"
    );

    f.repo
        .run(["app", "logs", "photos", "-f"])
        .ok()
        .stdout_has("GET /healthz 200");
    f.repo
        .run(["app", "terminal", "photos"])
        .ok()
        .stdout_has("a shell in photos-api-7d9f8");
    f.repo
        .run(["app", "port-forward", "photos", "8080"])
        .ok()
        .stdout_has("Forwarding from 127.0.0.1:8080");
    let calls = lines(&f.take_calls());
    let expected = [
        format!(
            "{kubectl} logs --namespace photos --selector=app.kubernetes.io/instance=photos-api --all-containers --prefix --tail=200 --follow"
        ),
        format!(
            "{kubectl} exec -it photos-api-7d9f8 --namespace photos -- sh -c command -v bash >/dev/null 2>&1 && exec bash || exec sh"
        ),
        format!("{kubectl} port-forward service/photos-api 8080:http --namespace photos"),
    ];
    for line in expected {
        assert!(calls.contains(&line), "no `{line}` in {calls:#?}");
    }
    f.repo
        .run(["app", "logs", "photos", "--release", "redis"])
        .ok();
    assert!(lines(&f.take_calls())[0].contains("--selector=app.kubernetes.io/instance=redis"));
    f.repo
        .run(["app", "logs", "photos", "--release", "redsi"])
        .fails()
        .stderr_has("did you mean `redis`?");
}

/// Commands that only read the cluster need kubectl, not helm: they work
/// with helm in neither deps/bin nor PATH.
#[test]
fn status_and_logs_need_only_kubectl() {
    let f = app_fixture();
    f.repo.run(["cluster", "bootstrap"]).ok();
    f.repo.run(["app", "deploy", "photos"]).ok();
    fs::remove_file(f.repo.root.join("deps/bin/helm")).unwrap();
    assert!(
        !f.repo
            .path()
            .split(':')
            .any(|d| std::path::Path::new(d).join("helm").exists()),
        "helm is on the test PATH"
    );
    f.take_calls();
    let status = f
        .repo
        .run(["app", "status", "photos", "--json"])
        .ok()
        .json();
    let rows = status.as_array().unwrap();
    assert!(
        rows.iter()
            .all(|r| r["status"] == "deployed" && r["revision"] == 1),
        "{status}"
    );
    f.repo
        .run(["app", "logs", "photos"])
        .ok()
        .stdout_has("GET /healthz 200");
    assert!(f.take_calls().iter().all(|c| c.tool == "kubectl"));
    // A command that needs helm says so.
    f.repo
        .run(["app", "deploy", "photos"])
        .fails()
        .stderr_has("helm is not installed")
        .stderr_has("cargo xtask deps install helm");
}
