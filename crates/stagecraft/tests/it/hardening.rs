//! The attacks of the hardening review, one test each, reproducing the
//! attack and asserting the safe outcome: nothing changed, nothing leaked,
//! a clear error naming file and key where there is one.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::apps::app_fixture;
use crate::cluster::{fixture, lines};
use crate::deps::{four_tools, setup, sha256};
use crate::support::{TestRepo, kubeconfig};
use crate::ux::{git, pinned_fakes};

pub fn script(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, format!("#!/bin/sh\n{text}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A pid no process has (above Linux's default pid_max).
pub const DEAD_PID: u32 = 4_194_305;

/// Item 1: A protected stage is confirmed before the first step of any command
/// (`up prod` once created namespaces and pushed `-dirty` images to prod,
/// then refused); shipping a dirty tree there needs `--allow-dirty`.
#[test]
fn h01_a_protected_stage_is_confirmed_before_the_first_step() {
    let mut f = fixture();
    let server = pinned_fakes(&mut f);
    for stage in ["stage", "prod"] {
        f.repo.write(
            &format!("deps/kube/hmlet-{stage}.yaml"),
            &kubeconfig(&format!("hmlet-{stage}"), "https://10.0.0.1:6443"),
        );
    }
    fs::write(f.state.join("remote-up"), "").unwrap();
    git(&f.repo, &["init", "-q"]);
    git(&f.repo, &["add", "-A"]);
    git(&f.repo, &["commit", "-q", "-m", "init"]);
    let before = f.repo.snapshot();
    for args in [
        &["up", "prod"][..],
        &["app", "build", "photos", "--stage", "prod"],
        &["app", "deploy", "photos", "--stage", "prod"],
        &["cluster", "deploy", "--stage", "prod"],
        &["cluster", "bootstrap", "--stage", "prod"],
        &["app", "delete", "photos", "--stage", "prod"],
        &["app", "terminal", "photos", "--stage", "prod"],
        &["run", "prod", "--", "true"],
    ] {
        f.repo
            .run(args)
            .fails()
            .stderr_has("stage prod is protected")
            .stderr_has("nothing was run");
    }
    assert!(f.take_calls().is_empty(), "something ran on prod");
    assert_eq!(server.total_hits(), 0, "something was downloaded");
    assert_eq!(f.repo.snapshot(), before, "something was written");

    // Confirmed, but the tree has changes: refused before anything runs.
    f.repo
        .write("clusters/hmlet/apps/photos/src/healthz", "changed\n");
    for args in [
        &["up", "prod", "--yes"][..],
        &["app", "build", "photos", "--stage", "prod", "--yes"],
        &["app", "deploy", "photos", "--stage", "prod", "--yes"],
    ] {
        f.repo
            .run(args)
            .fails()
            .stderr_has("uncommitted changes")
            .stderr_has("clusters/hmlet/apps/photos/src/healthz")
            .stderr_has("--allow-dirty");
    }
    assert!(f.take_calls().is_empty(), "something ran on prod");
    f.repo.run(["deps", "install", "helm", "kubectl"]).ok();
    f.repo
        .run([
            "app",
            "deploy",
            "photos",
            "--stage",
            "prod",
            "--yes",
            "--allow-dirty",
        ])
        .ok();
    assert!(
        lines(&f.take_calls())
            .iter()
            .any(|l| l.starts_with("helm upgrade --install photos-api"))
    );
}

/// Item 2: A secret interpolated into a `from_cmd` reaches the command through
/// its environment: never on an argv (the `sh -c` line in /proc is
/// world-readable), never in a `-v` line, never in an error.
#[test]
fn h02_secrets_never_reach_an_argv_a_log_or_an_error() {
    let mut repo = TestRepo::example();
    let secret = "tok-9f8e7d6c5b4a";
    let bin = repo.tmp.join("bin");
    let record = repo.tmp.join("record");
    // Records its own argv, its environment, and its parent's argv (the
    // `sh -c` that runs the from_cmd).
    script(
        &bin.join("record-tool"),
        &format!(
            "{{ echo \"argv: $*\"; echo \"parent: $(tr '\\0' ' ' < /proc/$PPID/cmdline)\"; env; }} >> {}",
            record.display()
        ),
    );
    repo.extra_path.push(bin);
    let comm = repo.read("envs/comm.toml");
    repo.write(
        "envs/comm.toml",
        &format!(
            "{comm}\nTOKEN = {{ value = \"{secret}\", secret = true }}\nDERIVED = {{ from_cmd = \"record-tool; printf '%s' \\\"${{TOKEN}}\\\" | rev\" }}\n"
        ),
    );
    let run = repo.run(["-v", "env", "local", "--json"]);
    run.ok();
    let recorded = fs::read_to_string(&record).unwrap();
    let argvs: Vec<&str> = recorded
        .lines()
        .filter(|l| l.starts_with("argv:") || l.starts_with("parent:"))
        .collect();
    assert!(!argvs.is_empty(), "{recorded}");
    for line in &argvs {
        assert!(!line.contains(secret), "on an argv: {line}");
    }
    assert!(
        recorded.contains(&format!("TOKEN={secret}")),
        "the command gets it in its environment:\n{recorded}"
    );
    assert!(
        !run.stderr.contains(secret),
        "in a -v line:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("sh -c"), "{}", run.stderr);
    // Built from a secret: a secret too.
    assert_eq!(run.json()["DERIVED"], "***");

    // A failing command's stderr tail, and the error, mask it.
    repo.write(
        "envs/comm.toml",
        &format!(
            "{comm}\nTOKEN = {{ value = \"{secret}\", secret = true }}\nBAD = {{ from_cmd = \"echo \\\"cannot use ${{TOKEN}}\\\" >&2; exit 3\" }}\n"
        ),
    );
    for args in [&["env", "local"][..], &["-v", "run", "local", "--", "true"]] {
        let run = repo.run(args);
        run.fails().stderr_has("cannot use ***");
        assert!(!run.stderr.contains(secret), "{}", run.stderr);
    }
}

/// Item 3: `app diff` works in a private folder (0700, files 0600) of an
/// unpredictable name, follows no planted symlink, and leaves nothing.
#[test]
fn h03_diff_uses_a_private_temporary_folder() {
    let mut f = app_fixture();
    let bin = f.repo.home.join("bin");
    let log = f.repo.home.join("diff.log");
    // Wraps the real diff, recording the folder's and files' modes.
    script(
        &bin.join("diff"),
        &format!(
            "for f in \"$@\"; do [ -f \"$f\" ] && stat -c '%a %n' \"$(dirname \"$f\")\" \"$f\" >> {}; done\nexec /usr/bin/diff \"$@\"",
            log.display()
        ),
    );
    f.repo.extra_path.insert(0, bin);
    // The old, predictable names, planted as links to a victim.
    let victim = f.repo.home.join("victim");
    fs::write(&victim, "precious\n").unwrap();
    for pid in 1..200 {
        let _ =
            std::os::unix::fs::symlink(&victim, f.repo.tmp.join(format!("stagecraft-diff-{pid}")));
    }
    let before: Vec<PathBuf> = fs::read_dir(&f.repo.tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    f.repo
        .run(["app", "diff", "photos", "--stage", "test"])
        .ok()
        .stdout_has("-  replicas: 1\n+  replicas: 2");
    let modes = fs::read_to_string(&log).unwrap();
    assert!(!modes.is_empty());
    for line in modes.lines() {
        let (mode, path) = line.split_once(' ').unwrap();
        let expected = if path.ends_with(".yaml") {
            "600"
        } else {
            "700"
        };
        assert_eq!(mode, expected, "{line}");
        assert!(path.contains("stagecraft-"), "{line}");
    }
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    let after: Vec<PathBuf> = fs::read_dir(&f.repo.tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(before.len(), after.len(), "left behind: {after:?}");
}

/// Item 4: Every rewrite keeps the file's mode: `var set` on a 0600 file, the
/// hosts file, deps.toml.
#[test]
fn h04_rewrites_keep_the_files_mode() {
    let f = fixture();
    let file = f.repo.root.join("envs/local.toml");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    f.repo
        .run([
            "var", "set", "API_KEY", "s3cret", "--stage", "local", "--secret",
        ])
        .ok();
    assert_eq!(mode(&file), 0o600);
    assert!(f.repo.read("envs/local.toml").contains("API_KEY"));

    let hosts = PathBuf::from(&f.repo.env["XTASK_HOSTS_FILE"]);
    fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    fs::set_permissions(&hosts, fs::Permissions::from_mode(0o640)).unwrap();
    f.repo.run(["cluster", "add-hosts", "--yes"]).ok();
    assert_eq!(mode(&hosts), 0o640);

    let tools = four_tools(10);
    let (repo, server) = setup(&tools);
    let deps = repo.root.join("deps/deps.toml");
    fs::set_permissions(&deps, fs::Permissions::from_mode(0o600)).unwrap();
    for tool in &tools {
        for platform in ["linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"] {
            let (os, arch) = platform.split_once('-').unwrap();
            let url = tool
                .url
                .replace("{version}", tool.version)
                .replace("{os}", os)
                .replace("{arch}", arch);
            server.put(
                &format!("/{}.sha256", url.trim_start_matches("https://")),
                format!("{}\n", sha256(platform.as_bytes())),
            );
        }
    }
    repo.run(["deps", "lock"]).ok();
    assert_eq!(mode(&deps), 0o600);
}

/// Item 5: A tool binary replaced by another of the same size is found: `deps
/// check` hashes it, `deps install` sees its new modification time.
#[test]
fn h05_a_replaced_tool_of_the_same_size_is_found() {
    let tools = four_tools(100);
    let (repo, server) = setup(&tools);
    repo.run(["deps", "install"]).ok();
    let kubectl = repo.root.join("deps/bin/kubectl");
    let original = fs::read(&kubectl).unwrap();
    let mut evil = original.clone();
    let at = evil.len() - 10;
    evil[at] = b'Z';
    // Same size, and the modification time put back: only a hash sees it.
    let stamp = repo.tmp.join("stamp");
    fs::write(&stamp, "").unwrap();
    Command::new("touch")
        .arg("-r")
        .arg(&kubectl)
        .arg(&stamp)
        .status()
        .unwrap();
    fs::write(&kubectl, &evil).unwrap();
    Command::new("touch")
        .arg("-r")
        .arg(&stamp)
        .arg(&kubectl)
        .status()
        .unwrap();
    repo.run(["deps", "check"])
        .fails()
        .stderr_has("kubectl: modified since it was installed");
    // Replaced the ordinary way (a new modification time): install puts the
    // pinned one back.
    fs::write(&kubectl, &evil).unwrap();
    let hits = server.hits(&tools[0].path);
    repo.run(["deps", "install"]).ok();
    assert_eq!(server.hits(&tools[0].path), hits + 1);
    assert_eq!(fs::read(&kubectl).unwrap(), original);
    repo.run(["deps", "check"]).ok();
}

/// Item 6: `from_file` of a device or a FIFO, and a `from_cmd` that hangs, end
/// with a clear error; a signal to xtask ends the command's whole tree.
#[test]
fn h06_unbounded_sources_are_bounded() {
    let repo = TestRepo::example();
    let fifo = repo.tmp.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let comm = repo.read("envs/comm.toml");
    for (def, message) in [
        (
            "{ from_file = \"/dev/zero\" }".to_owned(),
            "not a regular file",
        ),
        (
            format!("{{ from_file = \"{}\" }}", fifo.display()),
            "not a regular file",
        ),
        (
            "{ from_cmd = \"sleep 30\", timeout = 1 }".to_owned(),
            "did not finish within 1 s",
        ),
        (
            "{ from_cmd = \"head -c 2000000 /dev/zero\" }".to_owned(),
            "more than 1048576 bytes",
        ),
    ] {
        repo.write("envs/comm.toml", &format!("{comm}\nX = {def}\n"));
        let started = Instant::now();
        repo.run(["env", "local"])
            .fails()
            .stderr_has("envs/comm.toml:")
            .stderr_has("`X`")
            .stderr_has(message);
        assert!(started.elapsed() < Duration::from_secs(10), "{def}");
    }

    // SIGTERM while a from_cmd runs: its process group goes too.
    let pidfile = repo.tmp.join("cmd.pid");
    repo.write(
        "envs/comm.toml",
        &format!(
            "{comm}\nX = {{ from_cmd = \"sleep 300 & echo $! > {}; wait\" }}\n",
            pidfile.display()
        ),
    );
    let mut child = repo
        .xtask("")
        .args(["env", "local"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while fs::read_to_string(&pidfile).map_or(true, |p| p.trim().is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let sleeper: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let started = Instant::now();
    // SAFETY: signal 0 only asks whether the process exists.
    while unsafe { libc::kill(sleeper, 0) } == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the from_cmd's sleep outlived xtask"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Item 7: A hosts block without its END line is an error that shows the
/// lines and touches nothing (it used to delete the user's own lines).
#[test]
fn h07_a_damaged_hosts_block_is_an_error_that_changes_nothing() {
    let f = fixture();
    let hosts = PathBuf::from(&f.repo.env["XTASK_HOSTS_FILE"]);
    let damaged = "127.0.0.1 localhost\n# BEGIN stagecraft hmlet-local\n127.0.0.1 photos.localtest.me\n10.0.0.5 nas.home\n192.168.1.9 printer\n";
    fs::write(&hosts, damaged).unwrap();
    for _ in 0..2 {
        f.repo
            .run(["cluster", "add-hosts", "--yes"])
            .fails()
            .stderr_has("the stagecraft block of hmlet-local is damaged")
            .stderr_has("4: 10.0.0.5 nas.home")
            .stderr_has("nothing was changed");
    }
    f.repo
        .run(["cluster", "delete"])
        .fails()
        .stderr_has("damaged");
    assert_eq!(fs::read_to_string(&hosts).unwrap(), damaged);
}

/// Item 8: Concurrent `var set`s all land: the file is locked and re-read.
#[test]
fn h08_concurrent_var_sets_all_land() {
    let repo = TestRepo::example();
    let spawn = |i: usize, stage: &str| {
        repo.xtask("")
            .args([
                "var",
                "set",
                &format!("CONCURRENT_{stage}_{i}"),
                &i.to_string(),
                "--stage",
                stage,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<_> = (0..20)
        .flat_map(|i| [spawn(i, "local"), spawn(i, "test")])
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let local = repo.read("envs/local.toml");
    let test = repo.read("envs/test.toml");
    for i in 0..20 {
        assert!(
            local.contains(&format!("CONCURRENT_local_{i} = \"{i}\"")),
            "{local}"
        );
        assert!(
            test.contains(&format!("CONCURRENT_test_{i} = \"{i}\"")),
            "{test}"
        );
    }
    repo.run(["env", "local"]).ok();
}

/// Item 9: A cluster that is missing or does not answer is an error, never an
/// empty diff or "not installed".
#[test]
fn h09_an_unreachable_cluster_is_an_error() {
    let f = fixture();
    f.repo
        .run(["app", "diff", "photos", "--stage", "test"])
        .fails()
        .stderr_has("deps/kube/hmlet-test.yaml does not exist");
    // A kubeconfig, but no cluster behind it.
    f.repo.write(
        "deps/kube/hmlet-test.yaml",
        &kubeconfig("kind-hmlet-test", "https://127.0.0.1:6443"),
    );
    let run = f.repo.run(["app", "status", "photos", "--stage", "test"]);
    run.fails()
        .stderr_has("cannot read the state of photos/")
        .stderr_has("was refused");
    assert!(!run.stdout.contains("not installed"), "{}", run.stdout);
}

/// Item 10: A NUL character (which bash drops and which stops fish sourcing the
/// whole file) is refused where it is written, by file and key.
#[test]
fn h10_nul_characters_are_refused() {
    let repo = TestRepo::example();
    let comm = repo.read("envs/comm.toml");
    repo.write("envs/comm.toml", &format!("{comm}\nBAD = \"a\\u0000b\"\n"));
    repo.run(["env", "local"])
        .fails()
        .stderr_has("envs/comm.toml:")
        .stderr_has("`BAD` holds a NUL character");
    repo.write("secrets/nul", "a\0b");
    repo.write(
        "envs/comm.toml",
        &format!("{comm}\nFILE = {{ from_file = \"secrets/nul\" }}\n"),
    );
    repo.run(["shell", "local", "--shell", "bash"])
        .fails()
        .stderr_has("the value of `FILE` holds a NUL character");
}

/// Item 11: `var set` stores literal text (`$` as `$$`) unless `--template`, and
/// a template that does not resolve is refused before the file changes.
#[test]
fn h11_var_set_stores_literal_text_unless_asked_for_a_template() {
    let repo = TestRepo::example();
    let literal = "costs ${PRICE} and $$5";
    repo.run(["var", "set", "GREETING", literal, "--stage", "local"])
        .ok();
    assert_eq!(
        repo.run(["env", "local", "--json"]).ok().json()["GREETING"],
        literal
    );
    repo.run([
        "var",
        "set",
        "SITE",
        "https://www.${DOMAIN}/",
        "--stage",
        "local",
        "--template",
    ])
    .ok();
    assert_eq!(
        repo.run(["env", "local", "--json"]).ok().json()["SITE"],
        "https://www.localtest.me/"
    );
    let before = repo.read("envs/local.toml");
    repo.run([
        "var",
        "set",
        "BROKEN",
        "${NO_SUCH_VAR}",
        "--stage",
        "local",
        "--template",
    ])
    .fails()
    .stderr_has("refers to undefined variable `${NO_SUCH_VAR}`")
    .stderr_has("nothing was written");
    assert_eq!(repo.read("envs/local.toml"), before);
    repo.run(["env", "local"]).ok();
}

/// Item 12: Concurrent `add-hosts` of two stages both land, run after run.
#[test]
fn h12_concurrent_add_hosts_all_land() {
    let f = fixture();
    let hosts = PathBuf::from(&f.repo.env["XTASK_HOSTS_FILE"]);
    for round in 0..20 {
        fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
        let spawn = |stage: &str| {
            f.repo
                .xtask("")
                .args(["cluster", "add-hosts", "--yes", "--stage", stage])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        for child in [spawn("local"), spawn("test")] {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = fs::read_to_string(&hosts).unwrap();
        for stage in ["local", "test"] {
            assert!(
                text.contains(&format!("# END stagecraft hmlet-{stage}")),
                "round {round}: the {stage} block was lost:\n{text}"
            );
        }
    }
}
