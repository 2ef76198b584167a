//! The app commands besides deploy: build, delete, dev, diff, the live table, confirmation on a terminal, logs, terminal and port-forward.

use crate::apps::app_fixture;
use crate::cluster::lines;
use std::fs;

#[test]
fn build_tags_with_the_inputs_hash_and_pushes_to_the_stage_registry() {
    let f = app_fixture();
    let tag = f
        .repo
        .run(["app", "images", "photos", "--stage", "test", "--json"])
        .ok()
        .json()[0]["tag"]
        .as_str()
        .unwrap()
        .to_owned();
    f.repo
        .run(["app", "build", "photos", "--stage", "test"])
        .ok()
        .stdout_has(&format!(
            "localhost:5001/photos-api:{tag}: built and pushed"
        ));
    let root = f.root();
    let app = format!("{root}/clusters/hmlet/apps/photos");
    assert_eq!(
        lines(&f.take_calls()),
        [
            // This machine reaches the stage's cluster: is it the right one?
            f.identity_query("test", "kind-hmlet-test"),
            format!(
                "docker build --tag localhost:5001/photos-api:{tag} --file {app}/Dockerfile {app}"
            ),
            format!("docker push localhost:5001/photos-api:{tag}"),
        ]
    );
    f.repo
        .run(["app", "build", "photos", "--stage", "stage"])
        .ok()
        .stderr_has("hmlet-stage is not pinned");
    // The same inputs, the same tag in every stage.
    assert!(lines(&f.take_calls()).last().unwrap().ends_with(&format!(
        "push registry.hmlet.example/stage/photos-api:{tag}"
    )));
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
        .stdout_has("-  replicas: 1\n+  replicas: 2");
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
            "{kubectl} logs --namespace photos --selector=app.kubernetes.io/name=photos-api,app.kubernetes.io/instance=photos-api --all-containers --prefix --tail=200 --follow"
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
    // Its pods, by the selector of its workload (read off helm's record).
    let calls = lines(&f.take_calls());
    assert!(
        calls.iter().any(|c| c.contains(" logs ")
            && c.contains(
                "--selector=app.kubernetes.io/name=redis,app.kubernetes.io/instance=redis"
            )),
        "{calls:#?}"
    );
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
