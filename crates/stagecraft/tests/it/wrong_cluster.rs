//! Never the wrong cluster: the identity of each stage's cluster checked
//! before every change, one-context kubeconfigs, failing fast while helm
//! waits, and one command over several stages. Fakes at the process
//! boundary (tests/it/fakes), real kubectl for kubeconfig files.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::apps::app_fixture;
use crate::cluster::{Fixture, fixture, lines};

fn uid_of(f: &Fixture, context: &str) -> String {
    fs::read_to_string(f.state.join(format!("uid-{context}")))
        .unwrap()
        .trim()
        .to_owned()
}

/// The cluster behind the context is replaced (recreated, or the
/// kubeconfig now points elsewhere): a new UID.
fn replace_cluster(f: &Fixture, context: &str) -> String {
    let uid = "0f0e0d0c-aaaa-bbbb-cccc-000000000666".to_owned();
    fs::write(f.state.join(format!("uid-{context}")), &uid).unwrap();
    uid
}

fn helm_upgrades(f: &Fixture) -> usize {
    lines(&f.take_calls())
        .iter()
        .filter(|l| {
            l.starts_with("helm upgrade") && !l.starts_with("helm upgrade --install traefik")
        })
        .count()
}

/// Bootstrap records the new kind cluster's UID on this machine; another
/// cluster behind the same context is refused before any helm upgrade,
/// naming both; `cluster pin` records the new one and deploys run again.
#[test]
fn a_deploy_to_another_cluster_than_the_recorded_one_is_refused() {
    let f = fixture();
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "local"])
        .ok();
    let created = uid_of(&f, "kind-hmlet-local");
    let record = f.repo.read("deps/kube/hmlet-local.identity.toml");
    assert!(record.contains(&format!("uid = \"{created}\"")), "{record}");
    assert!(
        record.contains("server = \"https://127.0.0.1:6443\""),
        "{record}"
    );
    f.repo
        .run(["app", "deploy", "photos", "--stage", "local"])
        .ok();
    assert_eq!(helm_upgrades(&f), 3);

    let other = replace_cluster(&f, "kind-hmlet-local");
    let refused = f.repo.run(["app", "deploy", "photos", "--stage", "local"]);
    refused
        .fails()
        .stderr_has("refusing to touch hmlet-local")
        .stderr_has(&format!("expected: uid {created}"))
        .stderr_has(&format!("found:    uid {other}"))
        .stderr_has("cargo xtask cluster pin hmlet --stage local");
    assert_eq!(helm_upgrades(&f), 0, "helm ran against another cluster");
    // Every other change is refused the same way.
    for args in [
        &["app", "delete", "photos", "--stage", "local"][..],
        &["cluster", "bootstrap", "hmlet", "--stage", "local"],
        &["app", "build", "photos", "--stage", "local"],
    ] {
        f.repo
            .run(args)
            .fails()
            .stderr_has("refusing to touch hmlet-local");
    }
    let calls = lines(&f.take_calls());
    assert!(
        calls.iter().all(|l| !l.starts_with("helm uninstall")
            && !l.starts_with("docker build")
            && !l.contains(" create namespace")),
        "{calls:#?}"
    );
    let status = f
        .repo
        .run(["cluster", "status", "hmlet", "--stage", "local", "--json"])
        .ok()
        .json();
    assert_eq!(status["identity"]["matches"], false, "{status:#}");
    assert_eq!(status["identity"]["recorded"]["uid"], created.as_str());
    assert_eq!(status["identity"]["live"]["uid"], other.as_str());

    f.repo
        .run(["cluster", "pin", "hmlet", "--stage", "local"])
        .ok()
        .stdout_has(&format!("pinned uid {other}"))
        .stdout_has(&format!("(was uid {created}"));
    f.repo
        .run(["app", "deploy", "photos", "--stage", "local", "--force"])
        .ok();
    assert_eq!(helm_upgrades(&f), 3);
}

/// A shared (remote) stage is pinned in cluster.toml, for the whole team:
/// the file keeps its comments; unpinned, a deploy warns.
#[test]
fn a_remote_stage_is_pinned_in_cluster_toml() {
    let f = app_fixture();
    f.repo
        .run(["app", "deploy", "photos", "--stage", "stage"])
        .ok()
        .stderr_has("hmlet-stage is not pinned")
        .stderr_has("cargo xtask cluster pin hmlet --stage stage");
    let before = f.repo.read("clusters/hmlet/cluster.toml");
    let dry = f
        .repo
        .run(["cluster", "pin", "hmlet", "--stage", "stage", "--dry-run"]);
    dry.ok().stdout_has("would pin");
    assert_eq!(f.repo.read("clusters/hmlet/cluster.toml"), before);

    let pinned = f
        .repo
        .run(["cluster", "pin", "hmlet", "--stage", "stage", "--json"])
        .ok()
        .json();
    let uid = uid_of(&f, "hmlet-stage");
    assert_eq!(pinned["identity"]["uid"], uid.as_str());
    assert_eq!(pinned["identity"]["server"], "https://10.0.0.1:6443");
    let after = f.repo.read("clusters/hmlet/cluster.toml");
    assert!(
        after.contains("# This cluster's staging context, if it differs from envs/stage.toml's."),
        "comments kept:\n{after}"
    );
    assert!(
        after.contains(&format!(
            "identity = {{ uid = \"{uid}\", server = \"https://10.0.0.1:6443\" }}"
        )),
        "{after}"
    );
    f.take_calls();
    let deployed = f
        .repo
        .run(["app", "deploy", "photos", "--stage", "stage", "--force"]);
    deployed.ok();
    assert!(
        !deployed.stderr.contains("not pinned"),
        "{}",
        deployed.stderr
    );
    assert_eq!(helm_upgrades(&f), 3);

    let other = replace_cluster(&f, "hmlet-stage");
    f.repo
        .run(["app", "deploy", "photos", "--stage", "stage"])
        .fails()
        .stderr_has(&format!("expected: uid {uid} at https://10.0.0.1:6443"))
        .stderr_has(&format!("found:    uid {other} at https://10.0.0.1:6443"));
    assert_eq!(helm_upgrades(&f), 0);
    // An identity for a kind stage in cluster.toml is a config error.
    f.repo.write(
        "clusters/hmlet/cluster.toml",
        &after.replace(
            "[stages.local]\n",
            "[stages.local]\nidentity = { uid = \"x\", server = \"y\" }\n",
        ),
    );
    f.repo
        .run(["app", "deploy", "photos", "--stage", "local"])
        .fails()
        .stderr_has("clusters/hmlet/cluster.toml:")
        .stderr_has("`identity` is for remote stages");
}

/// The kubeconfig every tool gets holds the stage's one context, private
/// to its owner, made again when its source changes.
#[test]
fn tools_get_a_private_one_context_kubeconfig() {
    let f = app_fixture();
    let source = f.repo.root.join("deps/kube/hmlet-stage.yaml");
    fs::write(
        &source,
        crate::support::kubeconfig_with_others(
            "hmlet-stage",
            "https://10.0.0.1:6443",
            &[("hmlet-prod", "https://prod.example:6443")],
        ),
    )
    .unwrap();
    f.repo
        .run(["app", "status", "photos", "--stage", "stage"])
        .ok();
    let view = f.repo.root.join("deps/kube/views/hmlet-stage.yaml");
    let text = fs::read_to_string(&view).unwrap();
    assert!(text.contains("name: hmlet-stage"), "{text}");
    assert!(!text.contains("hmlet-prod"), "{text}");
    assert!(!text.contains("token-of-hmlet-prod"), "{text}");
    let mode = fs::metadata(&view).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    let dir_mode = fs::metadata(view.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "{dir_mode:o}");

    // New credentials in the source: the view follows.
    fs::write(
        &source,
        crate::support::kubeconfig("hmlet-stage", "https://10.0.0.2:6443"),
    )
    .unwrap();
    f.repo
        .run(["app", "status", "photos", "--stage", "stage"])
        .ok();
    assert!(
        fs::read_to_string(&view)
            .unwrap()
            .contains("https://10.0.0.2:6443")
    );
}

/// In a stage shell, real kubectl sees the stage's one context, and
/// `use-context` has nowhere else to go; the file is its owner's only.
#[test]
fn a_stage_shell_reaches_one_context_only() {
    let repo = crate::support::TestRepo::example();
    repo.write(
        "deps/kube/hmlet-local.yaml",
        &crate::support::kubeconfig_with_others(
            "kind-hmlet-local",
            "https://127.0.0.1:6443",
            &[("hmlet-prod", "https://prod.example:6443")],
        ),
    );
    let bin = repo.root.join("deps/bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(crate::support::test_tool("kubectl"), bin.join("kubectl")).unwrap();
    fs::write(repo.home.join(".bashrc"), "PS1='me> '\n").unwrap();
    let mut env = repo.base_env();
    env.push(("SHELL".to_owned(), "/usr/bin/bash".to_owned()));
    let t = crate::tmux::Tmux::start(
        repo.home.parent().unwrap(),
        &repo.root,
        &env,
        crate::support::XTASK,
        &["shell", "local"],
    );
    t.wait_for("me> ");
    t.send_line("kubectl config get-contexts -o name | sed 's/^/ctx: /'; echo end-of-contexts");
    let screen = t.wait_for("\nend-of-contexts");
    let contexts: Vec<&str> = screen.lines().filter(|l| l.starts_with("ctx: ")).collect();
    assert_eq!(contexts, ["ctx: kind-hmlet-local"], "{screen}");
    t.send_line("stat -c 'mode=%a' \"$KUBECONFIG\"");
    t.wait_for("\nmode=600");
    t.send_line("kubectl config use-context hmlet-prod; echo \"use-context=$?\"");
    let screen = t.wait_for("use-context=1");
    assert!(
        screen.contains("no context exists with the name: \"hmlet-prod\""),
        "{screen}"
    );
    t.send_line("exit");
    t.wait_for("EXIT:0");
}

/// A pod in CrashLoopBackOff while helm waits (the fake helm would wait
/// ten minutes): the deploy fails at once with the reason, the pod's last
/// events and log lines, and the release is rolled back.
#[test]
fn a_crashing_pod_fails_the_release_at_once_and_it_is_rolled_back() {
    let f = app_fixture();
    f.repo
        .run(["app", "deploy", "photos", "--stage", "test"])
        .ok();
    f.take_calls();
    fs::write(f.state.join("helm-sleep-photos-api"), "600").unwrap();
    fs::write(f.state.join("crashloop-photos-api"), "").unwrap();
    fs::write(
        f.state.join("logs-photos-api-7d9f8"),
        "starting photos-api\npanic: cannot connect to postgresql:5432: connection refused\n",
    )
    .unwrap();
    let run = f
        .repo
        .run(["app", "deploy", "photos", "--stage", "test", "--force"]);
    run.fails()
        .stdout_has("photos-api-7d9f8 (container service): CrashLoopBackOff, restarted 4 times")
        .stdout_has("last events:")
        .stdout_has("Back-off restarting failed container service in pod photos-api-7d9f8")
        .stdout_has("last log lines:")
        .stdout_has("panic: cannot connect to postgresql:5432: connection refused")
        .stdout_has("rolled back to revision 1")
        .stderr_has("the deploy to hmlet-test failed: photos/photos-api");
    let calls = lines(&f.take_calls());
    let at = |prefix: &str| {
        calls
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {calls:#?}"))
    };
    let watch = calls
        .iter()
        .position(|l| l.ends_with("get pods --namespace photos --selector=app.kubernetes.io/name=photos-api,app.kubernetes.io/instance=photos-api --output json"))
        .unwrap_or_else(|| panic!("the pods were not watched: {calls:#?}"));
    assert!(at("helm upgrade --install photos-api") < watch);
    assert!(
        calls.iter().any(|l| l.contains(
            "logs photos-api-7d9f8 --namespace photos --container service --tail=20 --previous"
        )),
        "{calls:#?}"
    );
    assert!(at("helm history photos-api") < at("helm rollback photos-api 1"));
    // helm was stopped: its upgrade never finished, the rollback is the
    // release's last revision.
    let record =
        fs::read_to_string(f.state.join("helm/kind-hmlet-test/photos/photos-api")).unwrap();
    let statuses: Vec<String> = record
        .lines()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        statuses,
        ["1 superseded", "2 failed", "3 deployed"],
        "{record}"
    );

    // A first install that crashes is uninstalled.
    fs::write(f.state.join("helm-sleep-frontend"), "600").unwrap();
    fs::write(f.state.join("crashloop-frontend"), "").unwrap();
    f.repo
        .run(["app", "deploy", "frontend", "--stage", "local"])
        .fails()
        .stdout_has("CrashLoopBackOff")
        .stdout_has("uninstalled (it was its first install)");
}

/// A release whose manifest holds CRDs: its dependents start once the
/// API serves them.
#[test]
fn dependents_wait_for_the_crds_of_their_needs() {
    let f = app_fixture();
    fs::write(f.state.join("crd-postgresql"), "widgets.example.com").unwrap();
    f.repo
        .run(["app", "deploy", "photos", "--stage", "test"])
        .ok();
    let calls = lines(&f.take_calls());
    let at = |needle: &str| {
        calls
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {calls:#?}"))
    };
    assert!(at("helm upgrade --install postgresql") < at("helm get manifest postgresql"));
    assert!(
        at("helm get manifest postgresql")
            < at("wait --for=condition=Established --timeout=60s crd/widgets.example.com")
    );
    assert!(
        at("crd/widgets.example.com") < at("helm upgrade --install photos-api"),
        "{calls:#?}"
    );
}

/// `run local,test`: each stage's own environment, lines prefixed with the
/// stage, the worst exit status; protected stages in the list need
/// confirmation before anything runs.
#[test]
fn run_fans_out_over_stages() {
    let repo = crate::support::TestRepo::example();
    let both = repo.run([
        "run",
        "local,test",
        "--",
        "sh",
        "-c",
        "echo \"stage=$XTASK_STAGE kc=$KUBECONFIG\"",
    ]);
    both.ok();
    let mut out: Vec<&str> = both.stdout.lines().collect();
    out.sort();
    let root = repo.root.display();
    assert_eq!(
        out,
        [
            format!("🐣 local │ stage=local kc={root}/deps/kube/views/hmlet-local.yaml"),
            format!("🛠️ test  │ stage=test kc={root}/deps/kube/views/hmlet-test.yaml"),
        ]
    );
    // stderr is prefixed too; one failing stage fails the run, with its code.
    let one_fails = repo.run([
        "run",
        "local,test",
        "--",
        "sh",
        "-c",
        "echo oops >&2; [ \"$XTASK_STAGE\" = local ] || exit 3",
    ]);
    assert_eq!(one_fails.code, Some(3), "{one_fails:#?}");
    assert!(
        one_fails.stderr.contains("🐣 local │ oops"),
        "{one_fails:#?}"
    );
    assert!(
        one_fails.stderr.contains("🛠️ test  │ oops"),
        "{one_fails:#?}"
    );
    assert!(
        one_fails
            .stderr
            .contains("1 of 2 stages failed: test (exit 3)"),
        "{one_fails:#?}"
    );
    // `all` and globs; --fail-fast stops the others.
    let all = repo.run(["run", "all", "--yes", "--", "sh", "-c", "echo $XTASK_STAGE"]);
    all.ok();
    assert_eq!(all.stdout.lines().count(), 4, "{all:#?}");
    let glob = repo.run(["run", "?es*", "--", "sh", "-c", "echo $XTASK_STAGE"]);
    assert_eq!(glob.ok().stdout, "🛠️ test │ test\n");
    let fast = repo.run([
        "run",
        "local,test",
        "--fail-fast",
        "--",
        "sh",
        "-c",
        "if [ $XTASK_STAGE = test ]; then exit 5; fi; sleep 30; echo too-late",
    ]);
    assert_eq!(fast.code, Some(5), "{fast:#?}");
    assert!(!fast.stdout.contains("too-late"), "{fast:#?}");
    assert!(fast.stderr.contains("local (stopped)"), "{fast:#?}");

    // prod is protected: with no terminal and no --yes, nothing runs.
    let marker = repo.tmp.join("ran");
    let refused = repo.run([
        "run",
        "local,prod",
        "--",
        "sh",
        "-c",
        &format!("touch {}-$XTASK_STAGE", marker.display()),
    ]);
    refused
        .fails()
        .stderr_has("stage prod is protected")
        .stderr_has("nothing was run");
    assert!(
        !repo.tmp.join("ran-local").exists(),
        "local ran before the refusal"
    );
    repo.run(["run", "local,tset", "--", "true"])
        .fails()
        .stderr_has("did you mean `test`?");
}
