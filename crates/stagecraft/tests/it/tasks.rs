//! Tasks: `[tasks.*]` of shell.toml, cluster.toml and app.toml, listed and
//! run through the real binary in a copy of the example monorepo; the
//! example's own tasks against a fake kubectl and real HTTP servers on
//! 127.0.0.1; completion in real bash, zsh and fish.

use std::fs;
use std::path::Path;

use crate::support::{STAGE_DB_PASSWORD, TestRepo, XTASK};
use crate::tmux::Tmux;

pub const APP: &str = "clusters/hmlet/apps/photos";

/// Appends `text` to a config file of the test repository.
pub fn append(repo: &TestRepo, rel: &str, text: &str) {
    let mut file = repo.read(rel);
    file.push_str(text);
    repo.write(rel, &file);
}

/// A task that writes what it got, one `key=value` a line, to `$OUT`.
pub fn probe_repo() -> (TestRepo, std::path::PathBuf) {
    let mut repo = TestRepo::example();
    let out = repo.tmp.join("probe.out");
    repo.env.insert("OUT".into(), out.display().to_string());
    append(
        &repo,
        &format!("{APP}/app.toml"),
        r#"
[tasks.probe]
description = "prints what it got"
dir = "src"
run = [
    'printf "bucket=%s\nlimit=%s\npwd=%s\ngreeting=%s\nkubeconfig=%s\napp=%s\n" "$PHOTOS_BUCKET" "$PHOTOS_UPLOAD_LIMIT_MB" "$PWD" "$GREETING" "$KUBECONFIG" "$XTASK_APP" >> "$OUT"',
    'printf "hosts=%s\n" "$XTASK_HOSTS" >> "$OUT"',
    'for a in "$@"; do printf "arg=%s\n" "$a" >> "$OUT"; done',
]
env = { GREETING = "hello from ${XTASK_STAGE} (${PHOTOS_DB_NAME})" }

[tasks.fails]
description = "stops at its second line"
run = ["echo line-one", "exit 7", "echo never-printed"]
"#,
    );
    (repo, out)
}

/// The example (its secrets provided) with `tasks` added to photos'
/// app.toml; `$MARK` names a file the tasks touch, to tell whether any ran.
pub fn marked(tasks: &str) -> (TestRepo, std::path::PathBuf) {
    let mut repo = TestRepo::example();
    repo.provide_example_secrets();
    let marker = repo.tmp.join("ran");
    repo.env.insert("MARK".into(), marker.display().to_string());
    append(&repo, &format!("{APP}/app.toml"), tasks);
    (repo, marker)
}

/// A kubectl in deps/bin that runs `body` (`config`, which Stagecraft asks
/// to make the one-context view, finds no cluster: there is none here).
pub fn fake_kubectl(repo: &TestRepo, body: &str) {
    let bin = repo.root.join("deps/bin");
    fs::create_dir_all(&bin).unwrap();
    let kubectl = bin.join("kubectl");
    fs::write(
        &kubectl,
        format!("#!/bin/sh\n[ \"$1\" = config ] && exit 1\n{body}\n"),
    )
    .unwrap();
    fs::set_permissions(
        &kubectl,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn listing_shows_the_scopes_of_the_folder_and_json_parses() {
    let repo = TestRepo::example();
    let run = repo.run_in(APP, ["task"]);
    run.ok()
        .stdout_has("Tasks of hmlet/photos")
        .stdout_has("photos:db-shell")
        .stdout_has("psql into the stage's photos database")
        .stdout_has("photos:e2e")
        .stdout_has("[only local, test, stage]")
        .stdout_has("hmlet:smoke")
        .stdout_has("check ");
    // The nearest scope first: the app's, the cluster's, the repository's.
    let at = |needle: &str| run.stdout.find(needle).unwrap();
    assert!(at("photos:db-shell") < at("hmlet:smoke") && at("hmlet:smoke") < at("check "));

    let json = repo.run_in(APP, ["task", "--json"]).ok().json();
    let names: Vec<(&str, &str)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["scope"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("photos:db-shell", "hmlet/photos"),
            ("photos:e2e", "hmlet/photos"),
            ("hmlet:smoke", "hmlet"),
            ("check", ""),
        ]
    );
    let e2e = &json[1];
    assert_eq!(e2e["stages"], serde_json::json!(["local", "test", "stage"]));
    assert_eq!(e2e["run"], serde_json::json!(["sh e2e/api.sh"]));
    assert!(
        e2e["defined_at"]
            .as_str()
            .unwrap()
            .starts_with("clusters/hmlet/apps/photos/app.toml:"),
        "{e2e}"
    );

    // At the root: the repository's only.
    let json = repo.run(["task", "--json"]).ok().json();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["check"]);
    let run = repo.run(["task"]);
    run.ok().stdout_has("Tasks of the repository");
    assert!(!run.stdout.contains("photos:"), "{}", run.stdout);
    // The cluster's folder: the cluster's and the repository's.
    let run = repo.run_in("clusters/hmlet", ["task"]);
    run.ok().stdout_has("hmlet:smoke").stdout_has("check ");
    assert!(!run.stdout.contains("photos:"), "{}", run.stdout);
    // --app names the scope from anywhere.
    repo.run(["task", "--app", "photos"])
        .ok()
        .stdout_has("photos:e2e");
}

#[test]
fn a_task_runs_in_its_stage_environment_and_dir_with_the_extra_args() {
    let (mut repo, out) = probe_repo();
    // Stale Stagecraft variables of the caller's never reach a task.
    repo.env.insert("XTASK_APP".into(), "stale".into());
    repo.run(["task", "photos:probe", "--", "a b", "--flag"])
        .ok();
    let got = read(&out);
    let root = repo.root.display().to_string();
    for line in [
        // From the app's [stages.local.vars], the stage's default.
        "bucket=photos-local".to_owned(),
        "limit=50".to_owned(),
        format!("pwd={root}/{APP}/src"),
        // The task's env, interpolated from the stage environment.
        "greeting=hello from local (photos)".to_owned(),
        format!("kubeconfig={root}/deps/kube/views/hmlet-local.yaml"),
        "app=photos".to_owned(),
        // The app's own hostnames in the stage.
        "hosts=api.photos.localtest.me".to_owned(),
        "arg=a b".to_owned(),
        "arg=--flag".to_owned(),
    ] {
        assert!(got.lines().any(|l| l == line), "{line:?} not in:\n{got}");
    }

    // Another stage, named bare from the app's folder.
    fs::remove_file(&out).unwrap();
    repo.run_in(APP, ["task", "probe", "--stage", "test"]).ok();
    let got = read(&out);
    assert!(got.contains("bucket=hmlet-photos-test\n"), "{got}");
    assert!(got.contains("greeting=hello from test (photos)\n"), "{got}");
    assert!(!got.contains("arg="), "no extra args: {got}");
}

#[test]
fn the_first_failing_line_stops_the_task_and_its_exit_code_passes_through() {
    let (repo, _) = probe_repo();
    let run = repo.run_in(APP, ["task", "fails"]);
    assert_eq!(run.code, Some(7), "{run:#?}");
    assert!(run.stdout.contains("line-one"), "{run:#?}");
    assert!(!run.stdout.contains("never-printed"), "{run:#?}");
    run.stderr_has("task `photos:fails` failed: `exit 7` exited with code 7 (line 2 of its `run`, clusters/hmlet/apps/photos/app.toml:");
    // Appended args reach the last line when no line reads them.
    append(
        &repo,
        "shell.toml",
        "\n[tasks.exits]\nrun = \"exit\"\n[tasks.killed]\nrun = \"kill -TERM $$\"\n",
    );
    assert_eq!(repo.run(["task", "exits", "--", "42"]).code, Some(42));
    let run = repo.run(["task", "killed"]);
    assert_eq!(run.code, Some(143), "{run:#?}");
    run.stderr_has("was killed by signal 15");
}

#[test]
fn depends_run_first_and_once_in_a_diamond() {
    let mut repo = TestRepo::example();
    let log = repo.tmp.join("order.log");
    repo.env.insert("LOG".into(), log.display().to_string());
    // top needs left and right; both need base (the repository's, found
    // from the app's scope) and left also cluster's shared (by name).
    append(
        &repo,
        "shell.toml",
        "\n[tasks.base]\nrun = 'echo \"base $XTASK_CLUSTER ${XTASK_HOSTS-no-hosts}\" >> \"$LOG\"'\n",
    );
    append(
        &repo,
        "clusters/hmlet/cluster.toml",
        "\n[tasks.shared]\ndepends = [\"base\"]\nrun = 'echo shared >> \"$LOG\"'\n",
    );
    append(
        &repo,
        &format!("{APP}/app.toml"),
        r#"
[tasks.top]
depends = ["left", "right"]
run = 'echo "top $*" >> "$LOG"'
[tasks.left]
depends = ["base", "hmlet:shared"]
run = 'echo left >> "$LOG"'
[tasks.right]
depends = ["base"]
run = 'echo right >> "$LOG"'
"#,
    );
    repo.run_in(APP, ["task", "top", "--", "x"]).ok();
    // The repository's task runs in the repository's scope (its only
    // cluster), and gets no hostnames: those are a cluster's or an app's.
    assert_eq!(
        read(&log),
        "base hmlet no-hosts\nshared\nleft\nright\ntop x\n"
    );

    // A failing dependency stops what depends on it.
    append(
        &repo,
        &format!("{APP}/app.toml"),
        "[tasks.broken]\nrun = \"false\"\n[tasks.after]\ndepends = [\"broken\"]\nrun = 'echo after >> \"$LOG\"'\n",
    );
    fs::remove_file(&log).unwrap();
    let run = repo.run_in(APP, ["task", "after"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    run.stderr_has("task `photos:broken` failed: `false` exited with code 1 (clusters/hmlet/apps/photos/app.toml:")
        .stderr_has("); not run: photos:after\n");
    assert_eq!(read(&log), "");
}

#[test]
fn a_cycle_is_refused_before_anything_runs() {
    let (repo, marker) = marked(
        "\n[tasks.one]\ndepends = [\"two\"]\nrun = 'touch \"$MARK\"'\n\n[tasks.two]\ndepends = [\"three\"]\nrun = 'touch \"$MARK\"'\n\n[tasks.three]\ndepends = [\"one\"]\nrun = 'touch \"$MARK\"'\n",
    );
    let text = repo.read(&format!("{APP}/app.toml"));
    let line = text
        .lines()
        .position(|l| l == "depends = [\"one\"]")
        .unwrap()
        + 1;
    let run = repo.run_in(APP, ["task", "one"]);
    run.fails()
        .stderr_has(&format!("clusters/hmlet/apps/photos/app.toml:{line}:"))
        .stderr_has("depends on itself: photos:one → photos:two → photos:three → photos:one; nothing was run")
        .stderr_has("hint: remove one of these `depends`");
    assert!(!marker.exists(), "a task ran");
    // Listing finds it too.
    repo.run_in(APP, ["task"])
        .fails()
        .stderr_has("depends on itself");
}

#[test]
fn config_mistakes_name_file_line_and_fix() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[tasks.lint]\nrun = \"true\"\ndescripton = \"x\"\n",
            ":3:1: unknown field `descripton`",
            "did you mean `description`?",
        ),
        (
            "[tasks.lint]\nrun = \"true\"\ndepends = [\"chek\"]\n",
            ":3:12: task `photos:lint` depends on `chek`: unknown task `chek` in hmlet/photos",
            "did you mean `check`?",
        ),
        (
            "[tasks.lint]\nrun = \"true\"\ndepends = [\"hmlet:smok\"]\n",
            ":3:12: task `photos:lint` depends on `hmlet:smok`: unknown task of hmlet",
            "did you mean `smoke`?",
        ),
        (
            "[tasks.lint]\nrun = \"true\"\nstages = [\"local\", \"prdo\"]\n",
            ":3:20: task `lint`: `stages` names a stage that does not exist: `prdo`",
            "did you mean `prod`?",
        ),
        (
            "[tasks.lint]\nrun = \"true\"\nstages = []\n",
            ":1:8: task `lint`: `stages = []` lets it run on no stage",
            "remove `stages` to allow every stage",
        ),
        (
            "[tasks.lint]\ndescription = \"nothing\"\n",
            ":1:8: task `lint` has nothing to run",
            "give it `run",
        ),
        (
            "[tasks.lint]\nrun = 7\n",
            ":2:7: invalid type: integer `7`, expected a command line, or a list of command lines",
            "",
        ),
        (
            "[tasks.\"a:b\"]\nrun = \"true\"\n",
            ":1:8: task `a:b`: a task's name is letters, digits",
            "hint: rename it",
        ),
        (
            "[tasks.lint]\nrun = \"true\"\nenv = { \"BAD-NAME\" = \"x\" }\n",
            ":3:9:",
            "",
        ),
    ];
    for (tasks, error, hint) in cases {
        let repo = TestRepo::example();
        let rel = format!("{APP}/app.toml");
        append(&repo, &rel, &format!("\n{tasks}"));
        let offset = repo.read(&rel).lines().count() - tasks.lines().count();
        // Lines in the cases count from the appended text.
        let error = shift_line(error, offset);
        // Listing checks every task it shows, as running one does.
        let run = repo.run_in(APP, ["task"]);
        run.fails()
            .stderr_has(&format!("clusters/hmlet/apps/photos/app.toml{error}"))
            .stderr_has(hint);
    }
    // An unknown task from the command line suggests the closest.
    let repo = TestRepo::example();
    repo.run_in(APP, ["task", "db-shel"])
        .fails()
        .stderr_has("unknown task `db-shel` in hmlet/photos")
        .stderr_has("did you mean `db-shell`?");
    repo.run(["task", "phtos:e2e"])
        .fails()
        .stderr_has("no app or cluster is named `phtos`")
        .stderr_has("did you mean `photos`?");
}

/// `:3:1: ...` with 3 moved down by `offset` lines.
pub fn shift_line(error: &str, offset: usize) -> String {
    let rest = &error[1..];
    let (line, tail) = rest.split_once(':').unwrap();
    format!(":{}:{tail}", line.parse::<usize>().unwrap() + offset)
}

#[test]
fn a_task_for_some_stages_refuses_the_others_before_anything_runs() {
    let (repo, marker) = marked(
        "\n[tasks.seed]\ndescription = \"loads fixtures\"\nstages = [\"local\", \"test\"]\nrun = 'touch \"$MARK\"'\n\n[tasks.reset]\ndepends = [\"seed\"]\nrun = 'touch \"$MARK\"'\n",
    );
    let run = repo.run(["task", "photos:seed", "--stage", "prod", "--yes"]);
    run.fails()
        .stderr_has(
            "task `photos:seed` runs only on local, test (clusters/hmlet/apps/photos/app.toml:",
        )
        .stderr_has("not on prod; nothing was run");
    // Through a dependency too, without asking first.
    let run = repo.run(["task", "photos:reset", "--stage", "prod"]);
    run.fails().stderr_has(
        "task `photos:seed` (which `photos:reset` depends on) runs only on local, test",
    );
    assert!(!run.stderr.contains("needs --yes"), "{run:#?}");
    assert!(!marker.exists(), "a task ran");
    repo.run(["task", "photos:seed", "--stage", "test"]).ok();
    assert!(marker.exists());
}

#[test]
fn a_protected_stage_without_a_terminal_needs_yes() {
    let (repo, marker) = marked(
        "\n[tasks.rotate]\nrun = 'echo \"$PHOTOS_DB_PASSWORD\" > \"$MARK\"'\n\n[tasks.careful]\nconfirm = true\nrun = 'touch \"$MARK\"'\n",
    );
    let run = repo.run(["task", "photos:rotate", "--stage", "prod"]);
    run.fails().stderr_has(
        "stage prod is protected: task photos:rotate needs --yes when there is no terminal to confirm on; nothing was run",
    );
    assert!(!marker.exists(), "a task ran");
    repo.run(["task", "photos:rotate", "--stage", "prod", "--yes"])
        .ok();
    assert_eq!(
        read(&marker),
        format!("{}\n", crate::support::PROD_DB_PASSWORD)
    );
    fs::remove_file(&marker).unwrap();
    // confirm = true asks on any stage.
    repo.run(["task", "photos:careful"])
        .fails()
        .stderr_has("task photos:careful asks for confirmation (`photos:careful` has confirm = true): it needs --yes");
    assert!(!marker.exists(), "a task ran");
    repo.run(["task", "photos:careful", "--yes"]).ok();
    assert!(marker.exists());
}

#[test]
fn a_protected_stage_on_a_terminal_asks_for_its_name_first() {
    let (repo, marker) =
        marked("\n[tasks.migrate]\nrun = 'echo \"migrated $XTASK_STAGE\" | tee \"$MARK\"'\n");
    let env = repo.base_env();
    let base = repo.home.parent().unwrap();
    let args = ["task", "photos:migrate", "--stage", "prod"];
    let t = Tmux::start(base, &repo.root, &env, XTASK, &args);
    t.wait_for("task photos:migrate on protected stage prod. Type the stage name to confirm:");
    t.send_line("prd");
    t.wait_for("not confirmed: nothing was run");
    t.wait_for("EXIT:1");
    drop(t);
    assert!(!marker.exists(), "a refused task ran");

    let t = Tmux::start(base, &repo.root, &env, XTASK, &args);
    t.wait_for("Type the stage name to confirm:");
    t.send_line("prod");
    t.wait_for("migrated prod");
    t.wait_for("EXIT:0");
    assert_eq!(read(&marker), "migrated prod\n");
}

#[test]
fn a_dry_run_prints_the_exact_commands_and_runs_none() {
    let (mut repo, out) = probe_repo();
    repo.provide_example_secrets();
    let run = repo.run_in(
        APP,
        ["task", "probe", "--stage", "prod", "--dry-run", "--", "x y"],
    );
    run.ok()
        .stdout_has("# photos:probe (clusters/hmlet/apps/photos/app.toml:")
        .stdout_has(&format!(
            "cd {}/{APP}/src && sh -c 'for a in \"$@\"; do printf \"arg=%s\\n\" \"$a\" >> \"$OUT\"; done' photos:probe 'x y'",
            repo.root.display()
        ));
    assert!(!out.exists(), "a dry run ran the task");
    assert!(!run.stdout.contains(STAGE_DB_PASSWORD), "{run:#?}");
}
