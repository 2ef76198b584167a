//! Bad input: a short error that names the file (and line), a non-zero
//! exit, and nothing written.

use crate::support::{Run, TestRepo};

/// Runs `args` in `dir` and checks the failure is short, names what it
/// must, and left the repository untouched.
#[track_caller]
fn refused(repo: &TestRepo, dir: &str, args: &[&str], parts: &[&str]) -> Run {
    let before = repo.snapshot();
    let run = repo.run_in(dir, args);
    run.fails();
    for part in parts {
        run.stderr_has(part);
    }
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(
        run.stderr.lines().count() <= 8,
        "the error is not short:\n{}",
        run.stderr
    );
    assert!(run.stderr.starts_with("error: "), "{run:#?}");
    assert_eq!(
        repo.snapshot(),
        before,
        "the command wrote to the repository"
    );
    run
}

#[test]
fn malformed_toml_names_file_line_and_column() {
    let repo = TestRepo::example();
    repo.write(
        "envs/local.toml",
        "emoji = \"🐣\"\ndescription = \"x\"\ntarget = \"kind\n",
    );
    refused(&repo, "", &["env", "local"], &["envs/local.toml:3:"]);
}

#[test]
fn unknown_key_names_file_line_key_and_fix() {
    let repo = TestRepo::example();
    let app = repo.read("clusters/hmlet/apps/photos/app.toml");
    repo.write(
        "clusters/hmlet/apps/photos/app.toml",
        &format!("descripton = \"typo\"\n{app}"),
    );
    refused(
        &repo,
        "clusters/hmlet/apps/photos",
        &["env", "local"],
        &[
            "clusters/hmlet/apps/photos/app.toml:1:1: unknown field `descripton`",
            "did you mean `description`?",
        ],
    );
    // The same typo fails `list` too: no command ignores it.
    refused(&repo, "", &["list"], &["unknown field `descripton`"]);
}

#[test]
fn unknown_key_in_a_stage_table() {
    let repo = TestRepo::example();
    let cluster = repo.read("clusters/hmlet/cluster.toml");
    repo.write(
        "clusters/hmlet/cluster.toml",
        &cluster.replace("context =", "contxt ="),
    );
    refused(
        &repo,
        "",
        &["env", "stage", "--cluster", "hmlet"],
        &["clusters/hmlet/cluster.toml", "did you mean `context`?"],
    );
}

#[test]
fn a_stage_table_for_a_stage_that_does_not_exist() {
    let repo = TestRepo::example();
    let app = repo.read("clusters/hmlet/apps/frontend/app.toml");
    repo.write(
        "clusters/hmlet/apps/frontend/app.toml",
        &format!("{app}\n[stages.prdo.vars]\nX = \"1\"\n"),
    );
    refused(
        &repo,
        "",
        &["env", "local", "--app", "frontend"],
        &[
            &format!(
                "clusters/hmlet/apps/frontend/app.toml:{}:",
                app.lines().count() + 2
            ),
            "[stages.prdo]",
            "did you mean `prod`?",
        ],
    );
}

#[test]
fn unknown_stage_suggests_the_closest() {
    let repo = TestRepo::example();
    refused(
        &repo,
        "",
        &["env", "lcoal"],
        &["unknown stage `lcoal`", "did you mean `local`?"],
    );
    refused(
        &repo,
        "",
        &["run", "prdo", "--", "true"],
        &["did you mean `prod`?"],
    );
    refused(&repo, "", &["shell", "tset"], &["did you mean `test`?"]);
    refused(
        &repo,
        "",
        &["env", "nothing-like-it"],
        &["the stages are: local, prod, stage, test"],
    );
}

#[test]
fn unknown_cluster_and_app_suggest_the_closest() {
    let repo = TestRepo::example();
    refused(
        &repo,
        "",
        &["env", "local", "--cluster", "hmelt"],
        &["unknown cluster `hmelt`", "did you mean `hmlet`?"],
    );
    refused(
        &repo,
        "",
        &["env", "local", "--app", "photo"],
        &["unknown app `photo`", "did you mean `photos`?"],
    );
}

#[test]
fn outside_any_repository() {
    let repo = TestRepo::with_files(&[]);
    let run = refused(
        &repo,
        "",
        &["env", "local"],
        &["not inside a Stagecraft repository", "shell.toml"],
    );
    assert!(
        run.stderr.contains(&repo.root.display().to_string()),
        "{run:#?}"
    );
}

#[test]
fn wrong_value_type_names_the_key() {
    let repo = TestRepo::example();
    let stage = repo.read("envs/test.toml");
    repo.write(
        "envs/test.toml",
        &stage.replace("target = \"kind\"", "target = \"kubernetes\""),
    );
    refused(
        &repo,
        "",
        &["env", "test"],
        &["envs/test.toml:3:10:", "kubernetes"],
    );
}

#[test]
fn default_stage_that_does_not_exist() {
    let repo = TestRepo::example();
    let shell = repo.read("shell.toml");
    repo.write(
        "shell.toml",
        &shell.replace("default_stage = \"local\"", "default_stage = \"locl\""),
    );
    refused(
        &repo,
        "",
        &["env"],
        &[
            "shell.toml:7: project.default_stage",
            "did you mean `local`?",
        ],
    );
}

#[test]
fn bad_prompt_placeholder() {
    let repo = TestRepo::example();
    let shell = repo.read("shell.toml");
    repo.write("shell.toml", &shell.replace("{scope}\"", "{scpoe}\""));
    refused(
        &repo,
        "",
        &["env", "local"],
        &["shell.toml:", "unknown placeholder"],
    );
}
