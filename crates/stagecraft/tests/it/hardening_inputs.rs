//! The first campaign, continued: hostile inputs and interrupted runs (symlinks, killed runs, masks, archives, downloads, paths, names, escapes, closed pipes).

use crate::apps::app_fixture;
use crate::cluster::fixture;
use crate::deps::{Tool, four_tools, setup, tar_gz};
use crate::hardening::DEAD_PID;
use crate::http::Fault;
use crate::support::TestRepo;
use std::fs;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Item 13: A symlinked config or hosts file stays a symlink; the write goes to
/// its target.
#[test]
fn h13_symlinked_files_are_written_through() {
    let f = fixture();
    let real = f.repo.home.join("local.toml");
    fs::rename(f.repo.root.join("envs/local.toml"), &real).unwrap();
    std::os::unix::fs::symlink(&real, f.repo.root.join("envs/local.toml")).unwrap();
    f.repo
        .run(["var", "set", "THROUGH", "yes", "--stage", "local"])
        .ok();
    assert!(
        fs::symlink_metadata(f.repo.root.join("envs/local.toml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::read_to_string(&real)
            .unwrap()
            .contains("THROUGH = \"yes\"")
    );

    let hosts = PathBuf::from(&f.repo.env["XTASK_HOSTS_FILE"]);
    let real_hosts = f.repo.home.join("hosts.real");
    fs::write(&real_hosts, "127.0.0.1 localhost\n").unwrap();
    std::os::unix::fs::symlink(&real_hosts, &hosts).unwrap();
    f.repo.run(["cluster", "add-hosts", "--yes"]).ok();
    assert!(
        fs::symlink_metadata(&hosts)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::read_to_string(&real_hosts)
            .unwrap()
            .contains("BEGIN stagecraft hmlet-local")
    );
}

/// Item 14: What a killed run left (its temporary files carry its pid) is
/// removed by the next run.
#[test]
fn h14_what_a_killed_run_left_is_removed_next_time() {
    let f = app_fixture();
    let stale_config = f
        .repo
        .root
        .join(format!("envs/.local.toml.stagecraft-{DEAD_PID}-1.tmp"));
    fs::write(&stale_config, "half").unwrap();
    let stale_diff = f.repo.tmp.join(format!("diff-stagecraft-{DEAD_PID}-2"));
    fs::create_dir_all(&stale_diff).unwrap();
    fs::write(stale_diff.join("live.yaml"), "x").unwrap();
    let live = f.repo.root.join(format!(
        "envs/.test.toml.stagecraft-{}-3.tmp",
        std::process::id()
    ));
    fs::write(&live, "in use").unwrap();
    f.repo
        .run(["var", "set", "A", "1", "--stage", "local"])
        .ok();
    f.repo
        .run(["app", "diff", "photos", "--stage", "test"])
        .ok();
    assert!(!stale_config.exists(), "a dead run's temporary file stayed");
    assert!(!stale_diff.exists(), "a dead run's temporary folder stayed");
    assert!(live.exists(), "a live process's file was removed");

    let tools = four_tools(10);
    let (repo, _server) = setup(&tools);
    let stale_tool = repo
        .root
        .join(format!("deps/bin/.kubectl.stagecraft-{DEAD_PID}-4.tmp"));
    fs::create_dir_all(stale_tool.parent().unwrap()).unwrap();
    fs::write(&stale_tool, "half a binary").unwrap();
    repo.run(["deps", "install", "kubectl"]).ok();
    assert!(!stale_tool.exists());
}

/// Item 15: A dry run of `var set/unset` shows the changed lines only, a
/// literal secret as `***`.
#[test]
fn h15_var_dry_runs_mask_secrets() {
    let repo = TestRepo::example();
    repo.run([
        "var",
        "set",
        "OLD_PW",
        "hunter2-old",
        "--secret",
        "--stage",
        "local",
    ])
    .ok();
    let before = repo.read("envs/local.toml");
    let run = repo.run([
        "var",
        "set",
        "NEW_PW",
        "hunter2-new",
        "--secret",
        "--stage",
        "local",
        "--dry-run",
    ]);
    run.ok()
        .stdout_has("+NEW_PW = { value = \"***\", secret = true }");
    assert!(!run.stdout.contains("hunter2"), "{}", run.stdout);
    let run = repo.run(["var", "unset", "OLD_PW", "--stage", "local", "--dry-run"]);
    run.ok()
        .stdout_has("-OLD_PW = { value = \"***\", secret = true }");
    assert!(!run.stdout.contains("hunter2"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("LOG_LEVEL"),
        "only the changed lines:\n{}",
        run.stdout
    );
    assert_eq!(repo.read("envs/local.toml"), before);
}

/// Item 16: The credentials of a mirror URL and a webhook's token are never
/// printed.
#[test]
fn h16_url_credentials_and_tokens_are_masked() {
    let tools = four_tools(10);
    let (mut repo, server) = setup(&tools);
    let mirror = server
        .base()
        .replace("http://", "http://deploy-bot:pw-2718281828@");
    repo.env.insert("XTASK_DEPS_MIRROR".into(), mirror);
    for args in [
        &["deps", "install", "--dry-run"][..],
        &["-v", "deps", "install"],
    ] {
        let run = repo.run(args);
        run.ok();
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(all.contains("deploy-bot:***@"), "{all}");
        assert!(!all.contains("pw-2718281828"), "{all}");
    }

    let f = app_fixture();
    let local = f.repo.read("envs/local.toml");
    f.repo.write(
        "envs/local.toml",
        &format!("{local}\n[notify]\nwebhook = \"http://127.0.0.1:9/hooks?token=tk-31415926\"\n"),
    );
    for args in [
        &["app", "deploy", "photos", "--dry-run"][..],
        &["app", "deploy", "photos"],
    ] {
        let run = f.repo.run(args);
        run.ok();
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(all.contains("token=***"), "{all}");
        assert!(!all.contains("tk-31415926"), "{all}");
    }
}

/// Item 17: An archive that unpacks to far more than it weighs (a 100 MiB
/// binary in a ~100 KiB download) is refused before it fills the disk.
#[test]
fn h17_an_archive_bomb_is_refused() {
    let zeros = vec![0u8; 100 << 20];
    let mut tools = four_tools(10);
    tools.truncate(2);
    tools[1].body = tar_gz(&[("linux-amd64/helm", &zeros)]);
    assert!(tools[1].body.len() < 1 << 20);
    let (repo, _server) = setup(&tools);
    repo.run(["deps", "install", "helm"])
        .fails()
        .stderr_has("unpacks to more than 64 MiB")
        .stderr_has("refusing the archive");
    assert!(!repo.root.join("deps/bin/helm").exists());
}

/// Item 18: A server that trickles a byte at a time never trips the idle
/// timeout; the download's total deadline ends it.
#[test]
fn h18_a_trickling_download_meets_its_deadline() {
    let tools: Vec<Tool> = four_tools(1000).into_iter().take(1).collect();
    let (mut repo, server) = setup(&tools);
    server.fault(&tools[0].path, Fault::Trickle);
    repo.env.insert("XTASK_DOWNLOAD_TIMEOUT".into(), "2".into());
    let started = Instant::now();
    repo.run(["deps", "install"]).fails().stderr_has("kubectl");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(!repo.root.join("deps/bin/kubectl").exists());
}

/// Item 19: `from_file` reads inside the repository unless the path is written
/// absolute or with `~/`; a link out of it is refused, and a read error is
/// reported, not taken for "no value".
#[test]
fn h19_from_file_stays_in_the_repository_unless_told_otherwise() {
    let repo = TestRepo::example();
    let outside = repo.home.join("outside.txt");
    fs::write(&outside, "from outside\n").unwrap();
    let comm = repo.read("envs/comm.toml");
    let set = |def: &str| repo.write("envs/comm.toml", &format!("{comm}\nX = {def}\n"));
    set("{ from_file = \"../home/outside.txt\" }");
    repo.run(["env", "local"])
        .fails()
        .stderr_has("envs/comm.toml:")
        .stderr_has("leaves the repository");
    std::os::unix::fs::symlink(&outside, repo.root.join("link.txt")).unwrap();
    set("{ from_file = \"link.txt\" }");
    repo.run(["env", "local"])
        .fails()
        .stderr_has("leads out of the repository");
    set(&format!("{{ from_file = \"{}\" }}", outside.display()));
    assert_eq!(
        repo.run(["env", "local", "--json"]).ok().json()["X"],
        "from outside"
    );
    set("{ from_file = \"~/outside.txt\" }");
    assert_eq!(
        repo.run(["env", "local", "--json"]).ok().json()["X"],
        "from outside"
    );
    fs::create_dir_all(repo.root.join("a-folder")).unwrap();
    set("{ from_file = \"a-folder\" }");
    repo.run(["env", "local"])
        .fails()
        .stderr_has("not a regular file");
}

/// Item 20: A cluster folder whose name is not a valid name is refused by every
/// command alike, at discovery, with a suggestion.
#[test]
fn h20_invalid_cluster_names_are_refused_everywhere() {
    let f = fixture();
    crate::support::copy_tree(
        &f.repo.root.join("clusters/hmlet"),
        &f.repo.root.join("clusters/My Cluster"),
    );
    for args in [
        &["list"][..],
        &["env", "local"],
        &["up", "--dry-run"],
        &["cluster", "status", "hmlet"],
    ] {
        f.repo
            .run(args)
            .fails()
            .stderr_has("clusters/My Cluster: `My Cluster` is not a valid cluster name")
            .stderr_has("`my-cluster`");
    }
}

/// Item 21: Resolution is linear in the number of variables (a benchmark times
/// 20 000 of them, `cargo bench --bench startup`); a chain of 20 000
/// references resolves instead of overflowing the stack.
#[test]
fn h21_a_long_reference_chain_resolves() {
    let repo = TestRepo::example();
    let n = 20_000;
    let mut text = String::from("[vars]\n");
    for i in 0..n - 1 {
        text.push_str(&format!("V{i} = \"${{V{}}}\"\n", i + 1));
    }
    text.push_str(&format!("V{} = \"end\"\n", n - 1));
    repo.write("envs/comm.toml", &text);
    assert_eq!(
        repo.run(["env", "local", "--json"]).ok().json()["V0"],
        "end"
    );
}

/// Item 22: Terminal escapes from config values or arguments are shown, not
/// sent to the terminal; `--json` keeps the value exact.
#[test]
fn h22_terminal_escapes_are_shown_not_sent() {
    let repo = TestRepo::example();
    let local = repo.read("envs/local.toml");
    repo.write(
        "envs/local.toml",
        &local.replace(
            "description = \"",
            "description = \"\\u001b]0;pwned\\u0007\\u001b[2J",
        ),
    );
    let run = repo.run(["list"]);
    run.ok().stdout_has("\\u{1b}[2J");
    assert!(!run.stdout.contains('\u{1b}'), "{}", run.stdout);
    let json = repo.run(["list", "--json"]).ok().json();
    let description = json["stages"][0]["description"].as_str().unwrap();
    assert!(description.starts_with("\u{1b}]0;pwned\u{7}\u{1b}[2J"));
    let run = repo.run(["env", "lo\u{1b}[31mcal"]);
    run.fails().stderr_has("lo\\u{1b}[31mcal");
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
}

/// Item 23: `xtask ... | head -1` exits quietly: see
/// `run::a_closed_stdout_is_a_quiet_exit` (list, env, deps list, render).
#[test]
fn h23_a_closed_pipe_is_a_quiet_exit() {
    let repo = TestRepo::example();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = repo
        .xtask("")
        .args(["list", "--json"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Item 24: `--quiet` silences `cluster add-hosts` too.
#[test]
fn h24_quiet_add_hosts_prints_nothing() {
    let f = fixture();
    let run = f.repo.run(["--quiet", "cluster", "add-hosts", "--yes"]);
    run.ok();
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    let run = f.repo.run(["-q", "cluster", "add-hosts", "--yes"]);
    run.ok();
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    f.repo
        .run(["cluster", "add-hosts", "--yes"])
        .ok()
        .stdout_has("the hmlet-local block is up to date");
}
