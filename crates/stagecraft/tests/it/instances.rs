//! A stage for every branch: instances (`test@pr-42`) with their own
//! namespaces and hosts, labelled, expiring and collected; `task` in
//! several stages; and one service on your laptop (`app intercept`, a
//! fake telepresence that answers as the real one).

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::apps::app_fixture;
use crate::cluster::{Fixture, lines};
use crate::prompts::{open_stage_shell, prepare_plain, wait_prompt};
use crate::stage_env::{documents, kind_node_version, validate};
use crate::support::{TestRepo, test_tool};

/// `instances = true` for stage test (before its `[vars]`).
fn allow_instances(repo: &TestRepo, stage: &str) {
    let path = format!("envs/{stage}.toml");
    let text = repo.read(&path);
    assert!(text.contains("\n[vars]"), "{text}");
    repo.write(
        &path,
        &text.replacen("\n[vars]", "\ninstances = true\n\n[vars]", 1),
    );
}

fn exports(run: &crate::support::Run) -> std::collections::BTreeMap<String, String> {
    run.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect()
}

#[test]
fn an_instance_is_its_stage_with_a_name_and_bad_names_are_refused_with_the_rule() {
    let repo = TestRepo::example();
    allow_instances(&repo, "test");
    let instance = exports(repo.run(["env", "test@pr-42", "--app", "photos"]).ok());
    let stage = exports(repo.run(["env", "test", "--app", "photos"]).ok());
    assert_eq!(instance["XTASK_STAGE"], "test");
    assert_eq!(instance["XTASK_INSTANCE"], "pr-42");
    assert_eq!(instance["KUBECONFIG"], stage["KUBECONFIG"]);
    assert_eq!(instance["XTASK_KUBE_CONTEXT"], stage["XTASK_KUBE_CONTEXT"]);
    assert_eq!(instance["REGISTRY"], stage["REGISTRY"]);
    assert!(!stage.contains_key("XTASK_INSTANCE"));
    assert_eq!(instance["XTASK_INSTANCE_SUFFIX"], "-pr-42");
    assert_eq!(instance["XTASK_INSTANCE_PREFIX"], "pr-42.");
    assert_eq!(stage["XTASK_INSTANCE_PREFIX"], "");
    // A URL of the app's own host follows the instance's host.
    assert_eq!(
        instance["PHOTOS_API_PUBLIC_URL"],
        stage["PHOTOS_API_PUBLIC_URL"].replacen("://", "://pr-42.", 1)
    );
    // $XTASK_INSTANCE gives the default name.
    let mut default = repo.xtask(".");
    default
        .args(["env", "test", "--app", "photos"])
        .env("XTASK_INSTANCE", "alice");
    let out = default.output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("export XTASK_INSTANCE='alice'"));

    let rule = "an instance's name is lowercase letters, digits and '-', at most 30 characters";
    for bad in ["test@PR_42", "test@../x", "test@"] {
        repo.run(["env", bad]).fails().stderr_has(rule);
    }
    repo.run(["env", &format!("test@{}", "a".repeat(31))])
        .fails()
        .stderr_has(rule);
    repo.run(["env", "local@x"])
        .fails()
        .stderr_has("`local@x`: stage local has no instances")
        .stderr_has("set `instances = true` in envs/local.toml");
    repo.run(["env", "prod@x"])
        .fails()
        .stderr_has("stage prod is protected, and a protected stage has no instances");
    // prod cannot opt in: refused at its line.
    allow_instances(&repo, "prod");
    let line = repo
        .read("envs/prod.toml")
        .lines()
        .position(|l| l == "instances = true")
        .unwrap()
        + 1;
    repo.run(["env", "prod"])
        .fails()
        .stderr_has(&format!("envs/prod.toml:{line}:"))
        .stderr_has("stage prod is protected: it cannot have instances");
}

/// The namespaces and hosts a render names.
fn namespaces_and_hosts(stream: &str) -> (Vec<String>, Vec<String>) {
    let mut namespaces = Vec::new();
    let mut hosts = Vec::new();
    for doc in documents(stream) {
        if let Some(ns) = doc["metadata"]["namespace"].as_str() {
            namespaces.push(ns.to_owned());
        }
        for host in doc["spec"]["hostnames"].as_vec().into_iter().flatten() {
            hosts.push(host.as_str().unwrap().to_owned());
        }
    }
    namespaces.sort();
    namespaces.dedup();
    (namespaces, hosts)
}

#[test]
fn an_instance_renders_with_namespaces_and_hosts_of_its_own() {
    let mut repo = TestRepo::example();
    repo.extra_path
        .push(test_tool("helm").parent().unwrap().to_owned());
    allow_instances(&repo, "test");
    let render = |stage: &str| {
        repo.run(["app", "render", "photos", "--stage", stage])
            .ok()
            .stdout
            .clone()
    };
    let (base_ns, base_hosts) = namespaces_and_hosts(&render("test"));
    let stream = render("test@pr-42");
    let (ns, hosts) = namespaces_and_hosts(&stream);
    // The Gateway the routes attach to is the stage's; everything else is
    // the instance's own.
    let own_ns: Vec<&String> = ns.iter().filter(|n| *n != "stagecraft-gateway").collect();
    assert_eq!(own_ns, ["photos-pr-42"], "{ns:?}");
    assert!(
        own_ns.iter().all(|n| !base_ns.contains(n)),
        "{ns:?} / {base_ns:?}"
    );
    assert!(!hosts.is_empty());
    for host in &hosts {
        assert!(host.starts_with("pr-42."), "{host}");
        assert!(!base_hosts.contains(host), "{host} shared with test");
    }
    // The frontend's PUBLIC_URL names its own route's host, in the stage
    // and in the instance (its container env, from the rendered values).
    let frontend = |stage: &str| {
        let stream = repo
            .run(["app", "render", "frontend", "--stage", stage])
            .ok()
            .stdout
            .clone();
        let (_, hosts) = namespaces_and_hosts(&stream);
        assert_eq!(hosts.len(), 1, "{hosts:?}");
        let url = documents(&stream)
            .iter()
            .flat_map(|d| {
                d["spec"]["template"]["spec"]["containers"]
                    .as_vec()
                    .cloned()
            })
            .flatten()
            .flat_map(|c| c["env"].as_vec().cloned().unwrap_or_default())
            .find(|e| e["name"].as_str() == Some("PUBLIC_URL"))
            .and_then(|e| e["value"].as_str().map(str::to_owned))
            .expect("PUBLIC_URL in the frontend's container");
        let url_host = url
            .split("://")
            .nth(1)
            .map(|rest| rest.split([':', '/']).next());
        assert_eq!(url_host, Some(Some(hosts[0].as_str())), "{stage}: {url}");
    };
    frontend("test");
    frontend("test@pr-42");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("photos-pr-42.yaml");
    fs::write(&file, &stream).unwrap();
    let out = validate(&kind_node_version(), &file);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The fakes' namespaces, as a cluster keeps them.
fn namespace_file(f: &Fixture, context: &str, name: &str) -> std::path::PathBuf {
    f.state
        .join("kubectl")
        .join(context)
        .join("objects/_cluster")
        .join(format!("Namespace.{name}.json"))
}

fn write_namespace(
    f: &Fixture,
    context: &str,
    name: &str,
    labels: serde_json::Value,
    expires: Option<&str>,
) {
    let mut annotations = serde_json::json!({});
    if let Some(at) = expires {
        annotations["stagecraft.dev/expires-at"] = at.into();
    }
    let path = namespace_file(f, context, name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(
        path,
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": annotations,
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
        })
        .to_string(),
    )
    .unwrap();
}

#[test]
fn an_instance_deploys_into_labelled_namespaces_and_down_deletes_only_them() {
    let f = app_fixture();
    allow_instances(&f.repo, "test");
    let deploy = |stage: &str, ttl: &str, dry_run: bool| {
        let mut args = vec!["app", "deploy", "photos", "--stage", stage, "--ttl", ttl];
        if dry_run {
            args.push("--dry-run");
        }
        f.repo.run(args)
    };
    let plan = deploy("test@pr-42", "2d", true);
    plan.ok()
        .stdout_has("--field-manager=stagecraft-instance")
        .stdout_has("\"stagecraft.dev/stage\": \"test\"")
        .stdout_has("\"stagecraft.dev/instance\": \"pr-42\"")
        .stdout_has("\"stagecraft.dev/owner\": ")
        .stdout_has("\"stagecraft.dev/expires-at\": \"");
    let helm: Vec<&str> = plan
        .stdout
        .lines()
        .filter(|l| l.contains("/helm upgrade"))
        .collect();
    assert_eq!(helm.len(), 3, "{}", plan.stdout);
    for line in &helm {
        assert!(line.contains("--namespace photos-pr-42 "), "{line}");
    }
    // A TTL of a plain stage, or out of range: refused.
    deploy("test", "2d", true)
        .fails()
        .stderr_has("--ttl is for instances");
    deploy("test@pr-42", "90d", true)
        .fails()
        .stderr_has("--ttl 90d: out of range");
    // Deployed: the namespace in the cluster carries the labels.
    deploy("test@pr-42", "2d", false).ok();
    let ns: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(namespace_file(&f, "kind-hmlet-test", "photos-pr-42")).unwrap(),
    )
    .unwrap();
    assert_eq!(ns["metadata"]["labels"]["stagecraft.dev/instance"], "pr-42");
    // The stage's own namespace and another instance's stay.
    write_namespace(&f, "kind-hmlet-test", "photos", serde_json::json!({}), None);
    write_namespace(
        &f,
        "kind-hmlet-test",
        "photos-pr-7",
        serde_json::json!({ "stagecraft.dev/stage": "test", "stagecraft.dev/instance": "pr-7" }),
        None,
    );
    let listed = f
        .repo
        .run(["stage", "instances", "test", "--json"])
        .ok()
        .json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pr-42", "pr-7"]);
    let pr42 = &listed[0];
    assert_eq!(pr42["namespaces"], serde_json::json!(["photos-pr-42"]));
    assert_eq!(pr42["apps"], serde_json::json!(["photos"]));
    assert!(pr42["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(pr42["expired"], false);
    assert!(
        pr42["urls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u.as_str().unwrap().starts_with("https://pr-42.")),
        "{pr42}"
    );
    f.take_calls();
    f.repo
        .run(["down", "test@pr-42"])
        .ok()
        .stdout_has("photos-pr-42");
    let calls = lines(&f.take_calls());
    assert!(!calls.iter().any(|c| c.starts_with("kind ")), "{calls:#?}");
    let deletes: Vec<&String> = calls.iter().filter(|c| c.contains(" delete ")).collect();
    assert_eq!(deletes.len(), 1, "{calls:#?}");
    assert!(
        deletes[0].ends_with("delete namespace --ignore-not-found --wait=false photos-pr-42"),
        "{}",
        deletes[0]
    );
    assert!(!namespace_file(&f, "kind-hmlet-test", "photos-pr-42").exists());
    assert!(namespace_file(&f, "kind-hmlet-test", "photos").exists());
    assert!(namespace_file(&f, "kind-hmlet-test", "photos-pr-7").exists());
}

#[test]
fn gc_deletes_the_expired_instance_and_nothing_else() {
    let f = app_fixture();
    allow_instances(&f.repo, "test");
    let test =
        serde_json::json!({ "stagecraft.dev/stage": "test", "stagecraft.dev/instance": "old" });
    write_namespace(
        &f,
        "kind-hmlet-test",
        "photos-old",
        test,
        Some("2026-01-02T00:00:00Z"),
    );
    let live =
        serde_json::json!({ "stagecraft.dev/stage": "test", "stagecraft.dev/instance": "new" });
    write_namespace(
        &f,
        "kind-hmlet-test",
        "photos-new",
        live,
        Some("2099-01-01T00:00:00Z"),
    );
    // Expired by its annotation, but without Stagecraft's labels: never.
    write_namespace(
        &f,
        "kind-hmlet-test",
        "someone-elses",
        serde_json::json!({}),
        Some("2026-01-02T00:00:00Z"),
    );
    f.repo
        .run(["stage", "gc", "--dry-run"])
        .ok()
        .stdout_has("# - test@old: expired 2026-01-02T00:00:00Z, namespaces photos-old deleted");
    assert!(
        namespace_file(&f, "kind-hmlet-test", "photos-old").exists(),
        "a dry run deleted"
    );
    f.take_calls();
    f.repo.run(["stage", "gc"]).ok();
    let deletes: Vec<String> = lines(&f.take_calls())
        .into_iter()
        .filter(|c| c.contains(" delete "))
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:#?}");
    assert!(deletes[0].ends_with(" photos-old"), "{}", deletes[0]);
    assert!(!namespace_file(&f, "kind-hmlet-test", "photos-old").exists());
    assert!(namespace_file(&f, "kind-hmlet-test", "photos-new").exists());
    assert!(namespace_file(&f, "kind-hmlet-test", "someone-elses").exists());
}

#[test]
fn the_stage_shell_of_an_instance_shows_it_on_the_prompt() {
    for (shell, rc) in [
        ("bash", "PS1='bashprompt> '\n"),
        ("zsh", "PROMPT='zshprompt> '\n"),
        (
            "fish",
            "function fish_prompt; echo -n 'fishprompt> '; end\n",
        ),
    ] {
        let (repo, env) = prepare_plain(shell, rc);
        allow_instances(&repo, "test");
        let t = open_stage_shell(&repo, &env, ".");
        wait_prompt(&t, None, "🐣 local");
        t.send_line("stage test@pr-42");
        let region = wait_prompt(&t, None, "🛠️ test@pr-42 hmlet");
        assert!(
            region.iter().any(|r| r.contains("test@pr-42")),
            "{shell}: {region:?}"
        );
        t.send_line("echo inst=$XTASK_INSTANCE");
        t.wait_until(&format!("{shell}: inst=pr-42"), |t| {
            t.rows()
                .iter()
                .any(|r| r.trim_end() == "inst=pr-42")
                .then_some(())
        });
    }
}

#[test]
fn a_task_runs_in_several_stages_and_fails_when_one_does() {
    let repo = TestRepo::example();
    let shell = repo.read("shell.toml");
    repo.write(
        "shell.toml",
        &format!(
            "{shell}\n[tasks.which]\ndescription = \"Say the stage; fail on test\"\nrun = [\"echo stage=$XTASK_STAGE\", \"test \\\"$XTASK_STAGE\\\" != test\"]\n"
        ),
    );
    let run = repo.run(["task", "which", "--stage", "local,test"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    run.stdout_has("local │ stage=local")
        .stdout_has("test  │ stage=test");
    run.stderr_has("1 of 2 stages failed: test (exit 1)");
    repo.run(["task", "which", "--stage", "local"])
        .ok()
        .stdout_has("stage=local");
    // A task that asks first is not confirmed by the fan-out: without
    // --yes it runs nowhere.
    let marker = repo.root.join("careful-ran");
    let shell = repo.read("shell.toml");
    repo.write(
        "shell.toml",
        &format!(
            "{shell}\n[tasks.careful]\ndescription = \"Asks first\"\nconfirm = true\nrun = [\"touch {}\"]\n",
            marker.display()
        ),
    );
    let run = repo.run(["task", "careful", "--stage", "local,test"]);
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(!marker.exists(), "a confirm = true task ran unconfirmed");
    repo.run(["task", "careful", "--stage", "local,test", "--yes"])
        .ok();
    assert!(marker.exists());
}

fn intercept_calls(f: &Fixture) -> Vec<crate::cluster::Call> {
    f.take_calls()
        .into_iter()
        .filter(|c| c.tool == "telepresence")
        .collect()
}

#[test]
fn intercept_connects_with_the_stage_runs_the_command_and_always_leaves() {
    let f = app_fixture();
    f.repo
        .run(["app", "deploy", "photos", "--stage", "local"])
        .ok();
    f.take_calls();
    let view = f.repo.root.join("deps/kube/views/hmlet-local.yaml");
    let out = f.repo.root.join("intercepted.env");
    let script = format!(
        "echo \"LOG_LEVEL=$LOG_LEVEL POD_ONLY=$POD_ONLY STAGE=$XTASK_STAGE\" > {}",
        out.display()
    );
    // A dry run: the exact commands, none run.
    let plan = f.repo.run([
        "app",
        "intercept",
        "photos",
        "--stage",
        "local",
        "--dry-run",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    plan.ok()
        .stdout_has(&format!("telepresence connect --namespace photos --kubeconfig {} --context kind-hmlet-local", view.display()))
        .stdout_has("telepresence intercept photos-api --namespace photos --port 80:http --mount=false --env-file")
        .stdout_has("telepresence leave photos-api-photos")
        .stdout_has("telepresence quit");
    assert!(
        intercept_calls(&f).is_empty(),
        "the dry run ran telepresence"
    );

    // The cluster has no traffic manager yet: installed, then connected.
    fs::write(f.state.join("no-traffic-manager"), "").unwrap();
    f.repo
        .run([
            "app",
            "intercept",
            "photos",
            "--stage",
            "local",
            "--port",
            "8080",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .ok();
    let calls = intercept_calls(&f);
    let heads: Vec<&str> = calls.iter().map(|c| c.args[0].as_str()).collect();
    assert_eq!(
        heads,
        ["connect", "helm", "connect", "intercept", "leave", "quit"]
    );
    for call in &calls {
        // The stage's own kubeconfig on every call, never ~/.kube.
        assert_eq!(call.kubeconfig, view.display().to_string(), "{call:?}");
    }
    let connect = &calls[0].args;
    assert!(
        connect
            .windows(2)
            .any(|w| w == ["--context", "kind-hmlet-local"]),
        "{connect:?}"
    );
    assert!(
        connect
            .windows(2)
            .any(|w| w[0] == "--kubeconfig" && w[1] == view.display().to_string())
    );
    assert!(
        calls[3]
            .args
            .windows(2)
            .any(|w| w == ["--port", "8080:http"]),
        "{:?}",
        calls[3].args
    );
    // The stage's environment over the pod's.
    assert_eq!(
        fs::read_to_string(&out).unwrap().trim(),
        "LOG_LEVEL=debug POD_ONLY=from-the-pod STAGE=local"
    );

    // A command that fails: its exit code, and still left and quit.
    let failed = f.repo.run([
        "app",
        "intercept",
        "photos",
        "--stage",
        "local",
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(failed.code, Some(3), "{failed:?}");
    let heads: Vec<String> = intercept_calls(&f)
        .iter()
        .map(|c| c.args[0].clone())
        .collect();
    assert_eq!(heads, ["connect", "intercept", "leave", "quit"]);

    // Ctrl-C (SIGINT to the foreground process group): left and quit.
    let started = f.repo.root.join("started");
    let mut cmd = f.repo.xtask(".");
    cmd.args([
        "app",
        "intercept",
        "photos",
        "--stage",
        "local",
        "--",
        "sh",
        "-c",
    ])
    .arg(format!("touch {}; sleep 30", started.display()))
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill() signals the test's own child process group.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    let heads: Vec<String> = intercept_calls(&f)
        .iter()
        .map(|c| c.args[0].clone())
        .collect();
    assert_eq!(heads, ["connect", "intercept", "leave", "quit"]);
}
