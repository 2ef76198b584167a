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
        .filter(|l| l.starts_with("helm upgrade"))
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
        .run(["app", "deploy", "photos", "--stage", "local"])
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
    let deployed = f.repo.run(["app", "deploy", "photos", "--stage", "stage"]);
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
