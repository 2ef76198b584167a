//! Which scope, PATH and KUBECONFIG a stage gets: the folder, the pinned tools first, one kubeconfig per cluster and stage, never the user's.

use crate::support::{TestRepo, test_tool};
use std::fs;

#[test]
fn scope_follows_the_current_folder() {
    let repo = TestRepo::example();
    fs::create_dir_all(repo.root.join("clusters/hmlet/apps/photos/src/deep")).unwrap();
    let json = repo
        .run_in(
            "clusters/hmlet/apps/photos/src/deep",
            ["env", "local", "--json"],
        )
        .ok()
        .json();
    assert_eq!(json["XTASK_CLUSTER"], "hmlet");
    assert_eq!(json["XTASK_APP"], "photos");
    assert_eq!(json["PHOTOS_BUCKET"], "photos-local");
    assert_eq!(json["XTASK_PROMPT"], "🐣 local hmlet/photos");
    let json = repo.run_in("clusters/hmlet", ["env", "--json"]).ok().json();
    assert_eq!(json["XTASK_CLUSTER"], "hmlet");
    assert_eq!(json["XTASK_STAGE"], "local", "default_stage of shell.toml");
    assert!(json.get("XTASK_APP").is_none());
    let json = repo
        .run_in("envs", ["env", "test", "--app", "frontend", "--json"])
        .ok()
        .json();
    assert_eq!(
        json["XTASK_CLUSTER"], "hmlet",
        "an app's cluster is found from its name"
    );
    assert_eq!(json["PUBLIC_URL"], "https://photos.test.localtest.me");
}

#[test]
fn path_puts_pinned_tools_and_bin_folders_first() {
    let repo = TestRepo::example();
    let json = repo
        .run(["env", "local", "--app", "photos", "--json"])
        .ok()
        .json();
    let root = repo.root.display();
    let expected = format!(
        "{root}/deps/bin:{root}/.bin:{root}/clusters/hmlet/.bin:{root}/clusters/hmlet/apps/photos/.bin:{}",
        repo.path()
    );
    assert_eq!(json["PATH"], expected.as_str());
}

/// The user's ~/.kube/config is never read or written: each cluster+stage
/// has its own file under deps/kube/, and real kubectl uses it.
#[test]
fn kubeconfig_is_per_cluster_and_stage_and_never_the_users() {
    let mut repo = TestRepo::example();
    let kube_dir = repo.home.join(".kube");
    fs::create_dir_all(&kube_dir).unwrap();
    let users = "apiVersion: v1\nkind: Config\ncurrent-context: personal\ncontexts:\n- name: personal\n  context: {cluster: personal}\nclusters:\n- name: personal\n  cluster: {server: 'https://personal.example:6443'}\n";
    fs::write(kube_dir.join("config"), users).unwrap();
    repo.env.insert(
        "KUBECONFIG".into(),
        kube_dir.join("config").display().to_string(),
    );

    let mut seen = Vec::new();
    for (stage, args) in [
        ("local", &["--app", "photos"][..]),
        ("local", &["--app", "frontend"][..]),
        ("test", &["--app", "photos"][..]),
        ("local", &[][..]),
        ("test", &[][..]),
    ] {
        let mut all = vec!["env", stage, "--json"];
        all.extend(args);
        let kubeconfig = repo.run(&all).ok().json()["KUBECONFIG"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            kubeconfig.starts_with(&format!("{}/deps/kube/", repo.root.display())),
            "{kubeconfig}"
        );
        seen.push(kubeconfig);
    }
    assert!(
        seen[0] == seen[1],
        "one cluster, one stage, one file: {seen:?}"
    );
    // The root of a repository with one cluster is that cluster's.
    assert_eq!(seen[3], seen[0], "{seen:?}");
    assert_eq!(seen[4], seen[2], "{seen:?}");
    let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), 2, "{seen:?}");
    assert!(seen[0].ends_with("/deps/kube/views/hmlet-local.yaml"));
    assert!(seen[2].ends_with("/deps/kube/views/hmlet-test.yaml"));

    // Real kubectl in the stage sees the stage's one context, whatever
    // else the credentials file holds; what it writes lands in the
    // stage's copy, which the next command makes afresh.
    let kubectl = test_tool("kubectl");
    repo.write(
        "deps/kube/hmlet-local.yaml",
        &crate::support::kubeconfig_with_others(
            "kind-hmlet-local",
            "https://127.0.0.1:6443",
            &[("other", "https://other.example:6443")],
        ),
    );
    repo.env.insert(
        "PATH".into(),
        format!("{}:{}", kubectl.parent().unwrap().display(), repo.path()),
    );
    let contexts = |repo: &TestRepo| {
        repo.run([
            "run",
            "local",
            "--",
            "kubectl",
            "config",
            "get-contexts",
            "-o",
            "name",
        ])
        .ok()
        .stdout
        .clone()
    };
    assert_eq!(contexts(&repo), "kind-hmlet-local\n");
    let switched = repo.run([
        "run",
        "local",
        "--",
        "sh",
        "-c",
        "kubectl config set-context other --cluster=other --user=other >/dev/null && kubectl config use-context other",
    ]);
    switched.ok();
    assert_eq!(
        contexts(&repo),
        "kind-hmlet-local\n",
        "a context added in one command is gone in the next"
    );
    assert!(
        !repo
            .read("deps/kube/hmlet-local.yaml")
            .contains("current-context: other"),
        "the credentials file is never written"
    );
    assert_eq!(
        fs::read_to_string(kube_dir.join("config")).unwrap(),
        users,
        "~/.kube/config was written"
    );
}

#[test]
fn kubeconfig_is_never_created_in_home() {
    let repo = TestRepo::example();
    repo.run(["env", "local", "--app", "photos"]).ok();
    repo.run(["run", "local", "--", "true"]).ok();
    assert!(!repo.home.join(".kube").exists());
}

/// Inside a Stagecraft shell, commands default to the shell's stage (the
/// one its prompt shows), not to shell.toml's default.
#[test]
fn inside_a_stage_shell_the_default_stage_is_the_shells() {
    let mut repo = TestRepo::example();
    repo.env.insert("XTASK_DEPTH".into(), "1".into());
    repo.env.insert("XTASK_STAGE".into(), "test".into());
    repo.env
        .insert("XTASK_ROOT".into(), repo.root.display().to_string());
    assert_eq!(
        repo.run(["env", "--json"]).ok().json()["XTASK_STAGE"],
        "test"
    );
    assert_eq!(
        repo.run(["env", "local", "--json"]).ok().json()["XTASK_STAGE"],
        "local"
    );
    // A shell of another repository does not count.
    repo.env.insert("XTASK_ROOT".into(), "/elsewhere".into());
    assert_eq!(
        repo.run(["env", "--json"]).ok().json()["XTASK_STAGE"],
        "local"
    );
}

/// Stagecraft's own variables left in the user's environment (a stale
/// `XTASK_APP`) never reach a stage; the root of a repository with one
/// cluster is that cluster's scope, with its kubeconfig.
#[test]
fn stale_stagecraft_variables_do_not_leak_and_the_root_scopes_to_the_only_cluster() {
    let mut repo = TestRepo::example();
    repo.env.insert("XTASK_APP".into(), "bogus".into());
    repo.env.insert("XTASK_CLUSTER".into(), "bogus".into());
    repo.env.insert("XTASK_KUBE_CONTEXT".into(), "bogus".into());
    let run = repo.run(["env", "local"]);
    run.ok();
    assert!(!run.stdout.contains("bogus"), "{}", run.stdout);
    let json = repo.run(["env", "local", "--json"]).ok().json();
    assert_eq!(
        json["KUBECONFIG"],
        format!("{}/deps/kube/views/hmlet-local.yaml", repo.root.display())
    );
    assert_eq!(json["XTASK_CLUSTER"], "hmlet");
    assert_eq!(json["XTASK_KUBE_CONTEXT"], "kind-hmlet-local");
    let run = repo.run([
        "run",
        "local",
        "--",
        "sh",
        "-c",
        "echo \"[${XTASK_APP-unset}] [$XTASK_CLUSTER] [$XTASK_KUBE_CONTEXT]\"",
    ]);
    run.ok().stdout_has("[unset] [hmlet] [kind-hmlet-local]");
}

/// With several clusters and no scope, KUBECONFIG reaches no cluster at
/// all, and real kubectl says how to pick one.
#[test]
fn without_a_cluster_in_scope_kubectl_says_how_to_pick_one() {
    let repo = TestRepo::example();
    crate::support::copy_tree(
        &repo.root.join("clusters/hmlet"),
        &repo.root.join("clusters/shop"),
    );
    let json = repo.run(["env", "test", "--json"]).ok().json();
    assert!(json.get("XTASK_CLUSTER").is_none());
    let kubeconfig = json["KUBECONFIG"].as_str().unwrap();
    assert!(std::path::Path::new(kubeconfig).is_file(), "{kubeconfig}");
    let kubectl = test_tool("kubectl");
    let run = repo.run([
        "run",
        "test",
        "--",
        kubectl.to_str().unwrap(),
        "get",
        "pods",
    ]);
    run.fails()
        .stderr_has("no cluster in scope in stage test")
        .stderr_has("stage test --cluster <cluster>");
    assert!(!repo.home.join(".kube").exists());
}
