//! `xtask run` and `xtask list`.

use std::io::Write;
use std::process::Stdio;

use crate::support::TestRepo;

#[test]
fn run_passes_the_exit_code_through() {
    let repo = TestRepo::example();
    let run = repo.run([
        "run",
        "local",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 42",
    ]);
    assert_eq!(run.code, Some(42), "{run:#?}");
    assert_eq!(run.stdout, "out\n");
    // Nothing of xtask's own before or within the command's stderr; after
    // a failure, notes on what may explain it (here: no cluster yet).
    let (command_err, notes) = run.stderr.split_at(4);
    assert_eq!(command_err, "err\n", "{}", run.stderr);
    assert!(
        notes.lines().all(|l| l.starts_with("note: ")),
        "{}",
        run.stderr
    );
    assert!(
        notes.contains("cluster hmlet-local does not exist yet"),
        "{}",
        run.stderr
    );
}

#[test]
fn death_by_signal_is_128_plus_n() {
    let repo = TestRepo::example();
    let run = repo.run(["run", "local", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(run.code, Some(128 + 15), "{run:#?}");
    let run = repo.run(["run", "local", "--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(run.code, Some(128 + 9), "{run:#?}");
}

#[test]
fn run_inherits_stdin_and_sees_the_stage() {
    let repo = TestRepo::example();
    let mut child = repo
        .xtask("clusters/hmlet/apps/photos")
        .args([
            "run",
            "test",
            "--",
            "sh",
            "-c",
            "read line; echo \"$line $XTASK_STAGE $XTASK_APP $PHOTOS_BUCKET\"",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello test photos hmlet-photos-test\n"
    );
}

#[test]
fn run_finds_pinned_tools_first() {
    let repo = TestRepo::example();
    repo.write(
        "deps/bin/kubectl",
        "#!/bin/sh\necho pinned-kubectl \"$@\"\n",
    );
    std::fs::set_permissions(
        repo.root.join("deps/bin/kubectl"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    repo.run(["run", "local", "--", "kubectl", "get", "pods"])
        .ok()
        .stdout_has("pinned-kubectl get pods");
}

#[test]
fn a_missing_program_is_named() {
    let repo = TestRepo::example();
    let run = repo.run(["run", "local", "--", "no-such-tool-xyz", "--flag"]);
    assert_eq!(run.code, Some(127), "{run:#?}");
    run.stderr_has("cannot start `no-such-tool-xyz --flag`")
        .stderr_has("not on the stage's PATH");
}

/// Run from inside another stage's shell: that stage's variables are undone
/// first, so nothing of it leaks into the command.
#[test]
fn run_from_inside_another_stage_does_not_leak_it() {
    let mut repo = TestRepo::example();
    let local = repo
        .run(["env", "local", "--app", "photos", "--json", "--reveal"])
        .ok()
        .json();
    let mut originals = serde_json::Map::new();
    for (k, v) in local.as_object().unwrap() {
        repo.env.insert(k.clone(), v.as_str().unwrap().to_owned());
        originals.insert(k.clone(), serde_json::Value::Null);
    }
    originals.insert("PATH".into(), repo.path().into());
    repo.env.insert(
        "XTASK_RESTORE".into(),
        serde_json::Value::Object(originals).to_string(),
    );
    let run = repo.run([
        "run",
        "test",
        "--",
        "sh",
        "-c",
        "echo \"[$PHOTOS_UPLOAD_LIMIT_MB] $XTASK_STAGE ${XTASK_APP:-none} $PATH\"",
    ]);
    let root = repo.root.display();
    run.ok().stdout_has(&format!(
        "[] test none {root}/deps/bin:{root}/.bin:{root}/clusters/hmlet/.bin:{}\n",
        repo.path()
    ));
}

#[test]
fn list_shows_stages_clusters_and_apps() {
    let repo = TestRepo::example();
    let run = repo.run(["list"]);
    run.ok()
        .stdout_has("🐣 local")
        .stdout_has("🔥 prod   remote  protected")
        .stdout_has("hmlet")
        .stdout_has("    frontend")
        .stdout_has("    photos");
    let json = repo
        .run_in("clusters/hmlet", ["list", "--json"])
        .ok()
        .json();
    let stages: Vec<&str> = json["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["local", "test", "stage", "prod"]);
    assert_eq!(json["stages"][3]["protected"], true);
    assert_eq!(json["stages"][3]["emoji"], "🔥");
    assert_eq!(json["stages"][1]["emoji"], "🛠️");
    assert_eq!(json["stages"][2]["target"], "remote");
    assert_eq!(json["default_stage"], "local");
    assert_eq!(json["clusters"][0]["name"], "hmlet");
    let apps: Vec<&str> = json["clusters"][0]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(apps, ["frontend", "photos"]);
}

/// `xtask ... | head -1`: a reader that went away ends the command
/// quietly (no panic, no message), with a shell's SIGPIPE status.
#[test]
fn a_closed_stdout_is_a_quiet_exit() {
    let mut repo = TestRepo::example();
    repo.extra_path.push(
        crate::support::test_tool("helm")
            .parent()
            .unwrap()
            .to_owned(),
    );
    for args in [
        &["list"][..],
        &["env", "local", "--app", "photos"],
        &["deps", "list"],
        &["app", "render", "photos", "--stage", "local"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = repo
            .xtask("")
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
    }
}
