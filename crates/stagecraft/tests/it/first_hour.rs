//! The first hour, second pass: what a new user met in a fresh clone with
//! no Docker daemon and no network, each reproduced as it was described.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cluster::{fixture, lines};
use crate::prompts::program;
use crate::support::{TestRepo, XTASK, kubeconfig, test_tool};
use crate::tmux::Tmux;
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

/// Item 3: a stage whose cluster does not exist yet, deps/bin empty and an
/// older kubectl earlier on PATH (as /usr/bin/kubectl 1.32.4 was). The
/// shell's greeting and a failed `run` name both; the stage's kubeconfig
/// makes the real kubectl and helm say the cluster is missing instead of
/// falling back to localhost:8080; once the cluster's credentials are
/// there, the view is the real one.
#[test]
fn f03_a_missing_cluster_and_an_unpinned_kubectl_are_named() {
    let mut repo = TestRepo::example();
    let stubs = repo.root.parent().unwrap().join("stubs");
    fs::create_dir_all(&stubs).unwrap();
    // What kubectl 1.32 prints with no kubeconfig to go by.
    write_executable(
        &stubs.join("kubectl"),
        "#!/bin/sh\n\
         if [ \"$1 $2\" = 'version --client' ]; then echo 'Client Version: v1.32.4'; echo 'Kustomize Version: v5.5.0'; exit 0; fi\n\
         echo 'The connection to the server localhost:8080 was refused - did you specify the right host or port?' >&2\n\
         exit 1\n",
    );
    repo.extra_path.push(stubs.clone());
    let stub = stubs.join("kubectl").display().to_string();

    // Quiet when the command works.
    let quiet = repo.run(["run", "local", "--", "true"]);
    assert_eq!(quiet.ok().stderr, "");
    let failed = repo.run(["run", "local", "--", "kubectl", "get", "pods"]);
    failed
        .fails()
        .stderr_has("note: cluster hmlet-local does not exist yet: `cargo xtask up --stage local` creates it")
        .stderr_has(&format!(
            "note: kubectl 1.35.2 is pinned but not in deps/bin; `kubectl` runs {stub} (version 1.32.4) instead: `cargo xtask deps install kubectl`"
        ));

    // The greeting of a real shell says both, and so does a switch.
    fs::write(repo.home.join(".bashrc"), "PS1='bashprompt> '\n").unwrap();
    let mut env = repo.base_env();
    env.push(("SHELL".to_owned(), program("bash")));
    let base = repo.home.parent().unwrap();
    let t = Tmux::start(base, &repo.root, &env, XTASK, &["shell", "local"]);
    let screen = t.wait_for_words("🐣 local hmlet bashprompt> ");
    for needle in [
        "note: cluster hmlet-local does not exist yet",
        &format!("`kubectl` runs {stub} (version 1.32.4)"),
    ] {
        assert!(screen.contains(needle), "no {needle:?} in:\n{screen}");
    }
    t.send_line("stage test");
    let screen = t.wait_for("note: cluster hmlet-test does not exist yet");
    assert!(screen.contains("cargo xtask up --stage test"), "{screen}");
    t.send_line("exit");
    t.wait_for("EXIT:0");

    // With the pinned copies in deps/bin: no note about them, and the real
    // kubectl and helm, given the stage's kubeconfig, say what is missing.
    let bin = repo.root.join("deps/bin");
    fs::create_dir_all(&bin).unwrap();
    for tool in ["kubectl", "helm"] {
        fs::copy(test_tool(tool), bin.join(tool)).unwrap();
    }
    for command in [&["kubectl", "get", "pods"][..], &["helm", "list"]] {
        let mut args = vec!["run", "local", "--"];
        args.extend(command);
        let run = repo.run(&args);
        run.fails().stderr_has(
            "stagecraft: cluster hmlet-local does not exist yet: `cargo xtask up --stage local` creates it",
        );
        assert!(!run.stderr.contains("localhost:8080"), "{}", run.stderr);
        assert!(!run.stderr.contains("is pinned but"), "{}", run.stderr);
    }

    // The cluster's credentials appear: the view is made from them.
    repo.write(
        "deps/kube/hmlet-local.yaml",
        &kubeconfig("kind-hmlet-local", "https://127.0.0.1:40123"),
    );
    let server = repo.run([
        "run",
        "local",
        "--",
        "kubectl",
        "config",
        "view",
        "--minify",
        "--output",
        "jsonpath={.clusters[0].cluster.server}",
    ]);
    assert_eq!(server.ok().stdout, "https://127.0.0.1:40123");
}

fn write_executable(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The photos-api release of a copy of the example, with one more variable
/// in its `env`: `CART_API_KEY`, declared by `var set` as read from the
/// environment, secret and optional.
fn with_cart_api_key(repo: &TestRepo) -> usize {
    let set = repo.run([
        "var",
        "set",
        "CART_API_KEY",
        "CART_API_KEY",
        "--app",
        "photos",
        "--secret-from",
        "env",
    ]);
    // `var set --secret-from` says what optional means, and offers --required.
    set.ok()
        .stderr_has("note: CART_API_KEY is optional")
        .stderr_has("pass --required to make that an error");
    let path = "clusters/hmlet/apps/photos/app.toml";
    let text = repo.read(path);
    let text = text.replacen(
        "env = [\"DATABASE_URL\", \"REDIS_URL\", \"LOG_LEVEL\", \"PHOTOS_BUCKET\"]",
        "env = [\"DATABASE_URL\", \"REDIS_URL\", \"LOG_LEVEL\", \"PHOTOS_BUCKET\", \"CART_API_KEY\"]",
        1,
    );
    repo.write(path, &text);
    1 + text
        .lines()
        .position(|l| {
            l.starts_with("CART_API_KEY = { from_env = \"CART_API_KEY\", secret = true }")
        })
        .expect("var set wrote the declaration")
}

/// The `stringData` of the Secret of `release` in a render.
fn secret_data(render: &str, release: &str) -> serde_json::Value {
    let at = render
        .find(&format!(
            "# Source: stagecraft (the secret variables of {release};"
        ))
        .unwrap_or_else(|| panic!("no Secret of {release} in:\n{render}"));
    let body = &render[at..];
    let json = &body[body.find('{').unwrap()..];
    let end = json.find("\n}").unwrap() + 2;
    let secret: serde_json::Value = serde_json::from_str(&json[..end]).unwrap();
    secret["stringData"].clone()
}

/// Item 4: an unset, optional secret is said out loud: render and deploy
/// warn what its Secret gets (empty), `--reveal` shows that real value,
/// and the deploy applies it empty (never the mask).
#[test]
fn f04_an_unset_optional_secret_is_named_and_deploys_empty() {
    let mut repo = crate::apps::with_real_helm();
    let line = with_cart_api_key(&repo);
    let warning = format!(
        "warning: `CART_API_KEY` of release photos-api has no value in stage local (from_env: $CART_API_KEY is not set; declared at clusters/hmlet/apps/photos/app.toml:{line}): its Secret (photos-api-stagecraft-env) gets an empty value"
    );
    for reveal in [false, true] {
        let mut args = vec!["app", "render", "photos", "--stage", "local"];
        if reveal {
            args.push("--reveal");
        }
        let run = repo.run(&args);
        run.ok()
            .stderr_has(&warning)
            .stderr_has("add `required = true` to its declaration");
        let data = secret_data(&run.stdout, "photos-api");
        assert_eq!(data["CART_API_KEY"], "", "{args:?}: {data}");
        let url = data["DATABASE_URL"].as_str().unwrap();
        assert_eq!(url.contains("photos-dev-only"), reveal, "{args:?}: {url}");
    }
    // Set, it is a secret like the others: masked, revealed on request.
    repo.env
        .insert("CART_API_KEY".into(), "cart-key-5e1f".into());
    for (reveal, shown) in [(false, "***"), (true, "cart-key-5e1f")] {
        let mut args = vec!["app", "render", "photos", "--stage", "local"];
        if reveal {
            args.push("--reveal");
        }
        let run = repo.run(&args);
        assert!(!run.ok().stderr.contains("has no value"), "{}", run.stderr);
        assert_eq!(
            secret_data(&run.stdout, "photos-api")["CART_API_KEY"],
            shown
        );
    }

    // A deploy applies it empty, and says so.
    let f = crate::apps::app_fixture();
    with_cart_api_key(&f.repo);
    let run = crate::stage_env::deploy(&f, &["photos", "--stage", "local"]);
    run.ok().stderr_has(&warning);
    let stdin = f.take_stdin();
    let secret = stdin
        .iter()
        .filter(|(line, _)| line.starts_with("kubectl\t") && line.contains("\tapply\t"))
        .filter_map(|(_, body)| serde_json::from_str::<serde_json::Value>(body).ok())
        .flat_map(|list| list["items"].as_array().cloned().unwrap_or_default())
        .find(|item| item["metadata"]["name"] == "photos-api-stagecraft-env")
        .expect("the Secret of photos-api was applied");
    assert_eq!(secret["stringData"]["CART_API_KEY"], "", "{secret}");
}

/// Item 7: a misspelt name in `env` gets a did-you-mean from every declared
/// variable, also a secret with no value here.
#[test]
fn f07_did_you_mean_knows_variables_without_a_value() {
    let repo = TestRepo::example();
    with_cart_api_key(&repo);
    let path = "clusters/hmlet/apps/photos/app.toml";
    let text = repo
        .read(path)
        .replacen("\"CART_API_KEY\"]", "\"CART_APIKEY\"]", 1);
    repo.write(path, &text);
    repo.run(["app", "values", "photos", "--stage", "local"])
        .fails()
        .stderr_has("no variable `CART_APIKEY` in stage local")
        .stderr_has("did you mean `CART_API_KEY`?");
}

/// Item 5: a .zshrc that never loads zsh's completion system (no
/// `compinit`): the stage shell starts it on the first Tab, which then
/// completes `xtask` words, and writes no dump file into HOME.
#[test]
fn f05_zsh_completes_without_compinit_in_the_users_rc() {
    let repo = TestRepo::example();
    fs::write(repo.home.join(".zshrc"), "PS1='prompt> '\n").unwrap();
    let mut env = repo.base_env();
    env.push(("SHELL".to_owned(), program("zsh")));
    let base = repo.home.parent().unwrap();
    let app = repo.root.join("clusters/hmlet/apps/photos");
    let t = Tmux::start(base, &app, &env, XTASK, &["shell", "local"]);
    t.wait_for_words("🐣 local hmlet/photos prompt>");
    t.type_text("xtask task photos:e");
    crate::tasks_examples::press_until(&t, &["Tab"], &["xtask task photos:e2e"]);
    // The completion system is on for the rest of the session.
    t.send_key("C-u");
    t.send_line("print -r -- compdef:$+functions[compdef] xtask:$_comps[xtask]");
    t.wait_for("compdef:1 xtask:_stagecraft_xtask_words");
    t.send_line("exit");
    t.wait_for("EXIT:0");
    let dumps: Vec<_> = fs::read_dir(&repo.home)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".zcompdump"))
        .collect();
    assert!(dumps.is_empty(), "compinit wrote {dumps:?}");

    // doctor says how completion comes about, and how to have it in every zsh.
    let check = crate::prompts::doctor_check(&repo, &env, "zsh completion");
    assert_eq!(check["ok"], true, "{check:#}");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "your ~/.zshrc does not load compinit: stage shells start it on the first Tab"
        ),
        "{detail}"
    );
    assert!(
        detail.contains("autoload -Uz compinit && compinit"),
        "{detail}"
    );
    fs::write(
        repo.home.join(".zshrc"),
        "autoload -Uz compinit && compinit -u -d $HOME/.zcompdump\nPS1='prompt> '\n",
    )
    .unwrap();
    let check = crate::prompts::doctor_check(&repo, &env, "zsh completion");
    assert_eq!(
        check["detail"], "on (your startup files load compinit)",
        "{check:#}"
    );
    // A Tab taken by another widget, and no compinit: completion is off.
    fs::write(
        repo.home.join(".zshrc"),
        "bindkey '^I' complete-word\nPS1='prompt> '\n",
    )
    .unwrap();
    let check = crate::prompts::doctor_check(&repo, &env, "zsh completion");
    assert_eq!(check["ok"], false, "{check:#}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .starts_with("compinit not loaded, completion off"),
        "{check:#}"
    );
}

/// Item 10: `deps install` with one tool the mirror does not have (skaffold,
/// which only `app dev` needs) installs the others and names the one that
/// failed in its first line.
#[test]
fn f10_deps_install_names_the_tool_that_failed_and_installs_the_others() {
    let tools = crate::deps::four_tools(10);
    let (repo, server) = crate::deps::setup(&tools);
    let skaffold = tools.iter().find(|t| t.name == "skaffold").unwrap();
    server.fault(&skaffold.path, crate::http::Fault::Status(404));
    let run = repo.run(["deps", "install"]);
    run.fails()
        .stderr_has("error: not installed: skaffold (installed: helm, kind, kubectl)\n")
        .stderr_has("  skaffold 2.17.2: GET ")
        .stderr_has("HTTP 404 Not Found")
        .stderr_has("hint: only `cargo xtask app dev` needs skaffold");
    let installed: Vec<String> = crate::deps::bin_entries(&repo)
        .into_iter()
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert_eq!(installed, ["helm", "kind", "kubectl"]);
    // They are recorded: once the mirror has it, a second run fetches
    // only what is missing (the fault answered once).
    let before = server.total_hits();
    let again = repo.run(["deps", "install"]);
    again.ok().stdout_has("skaffold 2.17.2 installed");
    assert!(
        !again.stdout.contains("helm 4.1.4 installed"),
        "{}",
        again.stdout
    );
    assert_eq!(server.total_hits(), before + 1, "only skaffold again");
}

/// Item 10: the example's smoke and e2e tasks against a stage whose cluster
/// is not up (nothing listens on its port): one line per failure, with
/// curl's reason and the question to ask.
#[test]
fn f10_smoke_and_e2e_say_is_the_cluster_up_on_one_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let repo = crate::tasks_examples::example_behind(port);
    let smoke = repo.run(["task", "hmlet:smoke", "--stage", "test"]);
    smoke.fails();
    let fails: Vec<&str> = smoke
        .stderr
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert_eq!(fails.len(), 2, "{}", smoke.stderr);
    for line in &fails {
        assert!(line.contains("Failed to connect to"), "{line}");
        assert!(
            line.ends_with("(is the cluster up? cargo xtask up --stage test)"),
            "{line}"
        );
    }
    // Every line of stderr is a FAIL line or the summary: nothing split.
    for line in smoke.stderr.lines() {
        assert!(
            line.starts_with("FAIL  ") || line.starts_with("smoke: ") || line.starts_with("error:"),
            "{line:?} in:\n{}",
            smoke.stderr
        );
    }
    let e2e = repo.run(["task", "photos:e2e", "--stage", "test"]);
    e2e.fails().stderr_has(&format!(
        "FAIL  the API is alive: GET http://api.photos.test.localhost:{port}/livez gave no answer ("
    ));
    for line in e2e.stderr.lines().filter(|l| l.starts_with("FAIL")) {
        assert!(
            line.contains("; is the cluster up? cargo xtask up --stage test"),
            "{line}"
        );
    }
    for line in e2e.stderr.lines() {
        assert!(
            line.starts_with("FAIL  ") || line.starts_with("e2e: ") || line.starts_with("error:"),
            "{line:?} in:\n{}",
            e2e.stderr
        );
    }
}

/// Item 6: `doctor` on a tool that deps/bin lacks while PATH has a copy
/// (which other commands run): it says so, with the version, and gives a
/// fix that works offline; skaffold, which only `app dev` needs, is no
/// failure.
#[test]
fn f06_doctor_names_the_copy_on_path_and_an_offline_fix() {
    let mut repo = TestRepo::example();
    let stubs = repo.root.parent().unwrap().join("stubs");
    fs::create_dir_all(&stubs).unwrap();
    write_executable(
        &stubs.join("helm"),
        "#!/bin/sh\n[ \"$1 $2\" = 'version --short' ] && echo v4.1.4+g05fa379\n",
    );
    repo.extra_path.push(stubs.clone());
    let mut env = repo.base_env();
    env.push(("SHELL".to_owned(), program("bash")));
    let helm = crate::prompts::doctor_check(&repo, &env, "tool helm");
    assert_eq!(helm["ok"], false, "{helm:#}");
    assert_eq!(
        helm["detail"],
        format!(
            "not in deps/bin; PATH has 4.1.4 at {} (used, unverified; pinned 4.1.4)",
            stubs.join("helm").display()
        )
    );
    let fix = helm["fix"].as_str().unwrap();
    assert!(fix.starts_with("cargo xtask deps install helm\n"), "{fix}");
    assert!(fix.contains("offline: XTASK_DEPS_MIRROR=file://"), "{fix}");
    let kind = crate::prompts::doctor_check(&repo, &env, "tool kind");
    assert_eq!(
        kind["detail"], "missing: not in deps/bin nor on PATH (pinned 0.30.0)",
        "{kind:#}"
    );
    let skaffold = crate::prompts::doctor_check(&repo, &env, "tool skaffold");
    assert_eq!(skaffold["ok"], true, "{skaffold:#}");
    assert!(
        skaffold["detail"]
            .as_str()
            .unwrap()
            .contains("only `cargo xtask app dev` needs it")
    );
}

/// Item 9: add-hosts asks before it edits the system hosts file (here a
/// sandboxed one, as $XTASK_HOSTS_FILE), on a terminal; without one it
/// needs --yes; an explicit --hosts-file is not asked about.
/// `remove-hosts` undoes it with no cluster at all, and `doctor` names the
/// hostnames the file lacks.
#[test]
fn f09_the_system_hosts_file_is_edited_after_a_yes_and_undone_without_a_cluster() {
    let repo = TestRepo::example();
    let hosts = repo.root.parent().unwrap().join("hosts");
    let original = "127.0.0.1 localhost\n::1 localhost\n";
    fs::write(&hosts, original).unwrap();
    let mut env = repo.base_env();
    env.push(("XTASK_HOSTS_FILE".to_owned(), hosts.display().to_string()));
    env.push(("SHELL".to_owned(), program("bash")));
    let base = repo.home.parent().unwrap();

    // No terminal, no --yes: refused, nothing written.
    let mut refused = repo.xtask("");
    refused.envs(env.iter().map(|(k, v)| (k, v)));
    let out = refused.args(["cluster", "add-hosts"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "cluster add-hosts edits {}, the system hosts file: pass --yes",
            hosts.display()
        )),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(&hosts).unwrap(), original);

    // doctor names what is missing.
    let check = crate::prompts::doctor_check(&repo, &env, "hosts hmlet-local");
    assert_eq!(check["ok"], false, "{check:#}");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.ends_with(
            "lacks 2 of the hmlet-local hostnames: api.photos.localtest.me, photos.localtest.me"
        ),
        "{detail}"
    );

    // On a terminal: the lines, then the question; "n" keeps the file.
    let t = Tmux::start(base, &repo.root, &env, XTASK, &["cluster", "add-hosts"]);
    let screen = t.wait_for(&format!("Write these lines to {}? [y/N]", hosts.display()));
    assert!(
        screen.contains("# BEGIN stagecraft hmlet-local"),
        "{screen}"
    );
    t.send_line("n");
    t.wait_for("EXIT:1");
    assert_eq!(fs::read_to_string(&hosts).unwrap(), original);
    // "y" writes it.
    let t = Tmux::start(base, &repo.root, &env, XTASK, &["cluster", "add-hosts"]);
    t.wait_for("[y/N]");
    t.send_line("y");
    let screen = t.wait_for("EXIT:0");
    assert!(screen.contains("wrote the hmlet-local block"), "{screen}");
    assert!(
        screen.contains("`cargo xtask cluster remove-hosts hmlet --stage local` removes it"),
        "{screen}"
    );
    let written = fs::read_to_string(&hosts).unwrap();
    assert!(
        written.starts_with(original) && written.contains("# END stagecraft hmlet-local"),
        "{written}"
    );
    assert_eq!(
        crate::prompts::doctor_check(&repo, &env, "hosts hmlet-local")["ok"],
        true
    );

    // The undo: no cluster exists (no kubeconfig, no kind), none is asked.
    assert!(!repo.root.join("deps/kube/hmlet-local.yaml").exists());
    let t = Tmux::start(base, &repo.root, &env, XTASK, &["cluster", "remove-hosts"]);
    t.wait_for(&format!("Remove the lines from `# BEGIN stagecraft hmlet-local` to `# END stagecraft hmlet-local` from {}? [y/N]", hosts.display()));
    t.send_line("y");
    t.wait_for("EXIT:0");
    assert_eq!(fs::read_to_string(&hosts).unwrap(), original);

    // An explicit --hosts-file is the user's choice: no question.
    let other = repo.root.parent().unwrap().join("other-hosts");
    fs::write(&other, original).unwrap();
    for command in ["add-hosts", "remove-hosts"] {
        let mut explicit = repo.xtask("");
        explicit.envs(env.iter().map(|(k, v)| (k, v)));
        let out = explicit
            .args(["cluster", command, "--hosts-file"])
            .arg(&other)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(fs::read_to_string(&other).unwrap(), original);
    assert_eq!(fs::read_to_string(&hosts).unwrap(), original);
}

/// Item 8: `var set` on a new app's scaffold puts the key right after its
/// table's own lines: the comment of what follows (the tasks) stays above
/// the tasks, not above the new key.
#[test]
fn f08_var_set_adds_below_the_tables_own_lines_not_the_next_comment() {
    let repo = TestRepo::example();
    repo.run(["init", "app", "cart", "--cluster", "hmlet"]).ok();
    repo.run(["var", "set", "CART_MODE", "fast", "--app", "cart"])
        .ok();
    let text = repo.read("clusters/hmlet/apps/cart/app.toml");
    let vars = text.find("[vars]\n").expect("[vars]");
    let after = &text[vars..];
    assert!(
        after.starts_with(
            "[vars]\n# Variables of cart in every stage; per stage under [stages.<stage>.vars].\nCART_MODE = \"fast\"\n\n# Tasks: cart's everyday commands"
        ),
        "{after}"
    );
    // And it is what the stage gets.
    repo.run(["env", "local", "--app", "cart", "--explain", "CART_MODE"])
        .ok()
        .stdout_has("CART_MODE=fast");
}
