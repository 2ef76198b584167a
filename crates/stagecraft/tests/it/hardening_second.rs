//! The second hardening campaign: each attack that failed, reproduced as
//! it was described, with nothing lost (files compared byte for byte) and
//! nothing leaked (outputs searched for the secret values).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::apps::app_fixture;
use crate::cluster::fixture;
use crate::support::{TestRepo, XTASK};

fn base64(bytes: &[u8]) -> String {
    let out = std::process::Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// Item 1: `var set` of a secret variable without `--secret` keeps it secret:
/// the file keeps `secret = true`, `env` masks it; `--no-secret` is how it
/// becomes plain.
#[test]
fn s01_var_set_keeps_a_secret_secret() {
    let repo = TestRepo::example();
    repo.run([
        "var",
        "set",
        "DB_PASS",
        "s1-first-value",
        "--secret",
        "--stage",
        "prod",
    ])
    .ok();
    repo.run([
        "var",
        "set",
        "DB_PASS",
        "s2-second-value",
        "--stage",
        "prod",
    ])
    .ok()
    .stderr_has("DB_PASS stays secret (it was); pass --no-secret to make it plain");
    let prod = repo.read("envs/prod.toml");
    assert!(
        prod.contains("DB_PASS = { value = \"s2-second-value\", secret = true }"),
        "{prod}"
    );
    let env = repo.run(["env", "prod"]);
    env.ok().stdout_has("export DB_PASS='***'");
    assert!(!env.stdout.contains("s2-second-value") && !env.stderr.contains("s2-second-value"));
    // `required` and `description` stay too.
    let text = prod.replace(
        "DB_PASS = { value = \"s2-second-value\", secret = true }",
        "DB_PASS = { value = \"x\", secret = true, required = true, description = \"the db\" }",
    );
    repo.write("envs/prod.toml", &text);
    repo.run(["var", "set", "DB_PASS", "s3-third-value", "--stage", "prod"])
        .ok();
    assert!(
        repo.read("envs/prod.toml").contains(
            "DB_PASS = { value = \"s3-third-value\", secret = true, required = true, description = \"the db\" }"
        ),
        "{}",
        repo.read("envs/prod.toml")
    );
    repo.run([
        "var",
        "set",
        "DB_PASS",
        "plain-now",
        "--stage",
        "prod",
        "--no-secret",
    ])
    .ok();
    assert!(repo.read("envs/prod.toml").contains(
        "DB_PASS = { value = \"plain-now\", required = true, description = \"the db\" }"
    ));
}

/// Item 2: A Secret the cluster refuses: kubectl echoes the object it sent
/// (values base64 in `data`, JSON-escaped in `stringData`, the checksum
/// key in its annotations), and nothing of it reaches the screen: the
/// error names the Secret and the refusal, every value masked.
#[test]
fn s02_a_refused_secret_apply_prints_no_secret() {
    let mut f = app_fixture();
    let password = "pw-\"quoted\\and-7e1";
    f.repo
        .env
        .insert("PHOTOS_DB_PASSWORD".into(), password.into());
    fs::write(f.state.join("invalid-secrets"), "").unwrap();
    let run = f.repo.run(["app", "deploy", "photos", "--stage", "stage"]);
    run.fails()
        .stdout_has("is invalid: metadata.annotations: Too long");
    let composed = format!("postgresql://photos:{password}@postgresql:5432/photos");
    let escaped = serde_json::to_string(password).unwrap();
    let mut leaks = vec![
        password.to_owned(),
        escaped[1..escaped.len() - 1].to_owned(),
        base64(password.as_bytes()),
        base64(composed.as_bytes()),
    ];
    // The checksum keys the Secrets carried.
    for entry in fs::read_dir(f.state.join("applied")).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        if let Some(at) = text.find("\"stagecraft.dev/checksum-key\": \"") {
            leaks.push(text[at + 33..at + 33 + 64].to_owned());
        }
    }
    assert!(leaks.len() > 4, "the Secrets had checksum keys");
    for leak in &leaks {
        assert!(
            !run.stdout.contains(leak.as_str()) && !run.stderr.contains(leak.as_str()),
            "{leak:?} leaked:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    assert!(run.stdout.contains("***") || run.stderr.contains("***"));
}

fn kill_everything_named(marker: &str) {
    let _ = std::process::Command::new("pkill")
        .args(["-f", marker])
        .status();
}

/// Item 3: A `from_cmd` whose background child keeps its output open ends at
/// its deadline, its process group killed; one that escaped with setsid
/// ends too, its holder of the output killed; a `var set` waiting on a lock
/// held that long says who holds it.
#[test]
fn s03_from_cmd_deadlines_cover_background_children() {
    let repo = TestRepo::example();
    let comm = repo.read("envs/comm.toml");
    for (command, marker) in [
        ("sleep 45 & echo x", "sleep 45"),
        ("setsid sleep 996 & echo x", "sleep 996"),
    ] {
        repo.write(
            "envs/comm.toml",
            &format!("{comm}\nSLOW = {{ from_cmd = \"{command}\", timeout = 2 }}\n"),
        );
        let started = Instant::now();
        let run = repo.run(["env", "local"]);
        let took = started.elapsed();
        run.fails().stderr_has("did not finish within 2 s");
        assert!(took < Duration::from_secs(8), "{command}: took {took:?}");
        // Nothing left running (a killed process may take a moment to be
        // gone from /proc on a loaded machine: asked until it is, or 5 s).
        let gone_by = Instant::now() + Duration::from_secs(5);
        let pids = loop {
            std::thread::sleep(Duration::from_millis(100));
            let left = std::process::Command::new("pgrep")
                .args(["-f", marker])
                .output()
                .unwrap();
            let pids = String::from_utf8_lossy(&left.stdout).trim().to_owned();
            if pids.is_empty() || Instant::now() > gone_by {
                break pids;
            }
        };
        kill_everything_named(marker);
        assert!(pids.is_empty(), "{command}: left running: {pids}");
    }
    repo.write("envs/comm.toml", &comm);

    // A lock held by another process: named after a second.
    let lock_dir = repo.root.join("envs");
    let mut holder = std::process::Command::new("flock")
        .arg(&lock_dir)
        .args(["sleep", "4"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let run = repo.run(["var", "set", "WAITED", "yes", "--stage", "local"]);
    run.ok()
        .stderr_has(&format!("waiting for the lock held by PID {}", holder.id()));
    holder.wait().unwrap();
    assert!(repo.read("envs/local.toml").contains("WAITED = \"yes\""));
}

fn hosts_file(repo: &TestRepo) -> std::path::PathBuf {
    repo.home.parent().unwrap().join("hosts")
}

/// Item 4: A hosts file with a BEGIN whose END is missing, then a user's line,
/// then a whole block: refused, nothing changed (the file and its backup
/// byte for byte), with how to repair it.
#[test]
fn s04_a_stray_begin_in_the_hosts_file_is_refused_and_nothing_changes() {
    let f = fixture();
    let hosts = hosts_file(&f.repo);
    let damaged = "127.0.0.1 localhost\n\
                   # BEGIN stagecraft hmlet-local\n\
                   10.1.2.3 my-own-line.example\n\
                   # BEGIN stagecraft hmlet-local\n\
                   127.0.0.1 photos.localtest.me\n\
                   # END stagecraft hmlet-local\n";
    fs::write(&hosts, damaged).unwrap();
    let backup = hosts.with_extension("stagecraft.bak");
    fs::write(&backup, "an older backup\n").unwrap();
    f.repo
        .run(["cluster", "add-hosts", "--hosts-file", hosts.to_str().unwrap()])
        .fails()
        .stderr_has("two `# BEGIN stagecraft hmlet-local` lines without an `# END stagecraft hmlet-local` between them")
        .stderr_has(&format!("{}:2", hosts.display()))
        .stderr_has("hint:");
    assert_eq!(fs::read_to_string(&hosts).unwrap(), damaged);
    assert_eq!(fs::read_to_string(&backup).unwrap(), "an older backup\n");
    f.repo
        .run(["cluster", "delete", "--hosts-file", hosts.to_str().unwrap()])
        .fails();
    assert_eq!(fs::read_to_string(&hosts).unwrap(), damaged);
}

/// Item 11: The backup is made no-follow, exclusive, with the hosts file's
/// mode: a symlink planted as the backup is replaced, not followed.
#[test]
fn s11_the_hosts_backup_follows_no_symlink_and_keeps_the_mode() {
    let f = fixture();
    let dir = f.repo.home.parent().unwrap().join("etc");
    fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts");
    fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    fs::set_permissions(&hosts, fs::Permissions::from_mode(0o600)).unwrap();
    let victim = f.repo.home.join("victim");
    fs::write(&victim, "the victim's bytes\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("hosts.stagecraft.bak")).unwrap();
    f.repo
        .run([
            "cluster",
            "add-hosts",
            "--hosts-file",
            hosts.to_str().unwrap(),
        ])
        .ok();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "the victim's bytes\n");
    let backup = dir.join("hosts.stagecraft.bak");
    let meta = fs::symlink_metadata(&backup).unwrap();
    assert!(meta.file_type().is_file(), "the planted link was replaced");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        fs::read_to_string(&backup).unwrap(),
        "127.0.0.1 localhost\n"
    );
    assert_eq!(
        fs::metadata(&hosts).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// Item 5: A binary swapped for another of the same size, its mtime put back:
/// `deps check` says modified, and `deps install` (not "up to date")
/// replaces it with the pinned one, byte for byte.
#[test]
fn s05_deps_install_repairs_what_deps_check_reports() {
    let tools = crate::deps::four_tools(10);
    let (repo, _server) = crate::deps::setup(&tools);
    repo.run(["deps", "install"]).ok();
    let helm = repo.root.join("deps/bin/helm");
    let good = fs::read(&helm).unwrap();
    let mut swapped = good.clone();
    let at = swapped.len() - 2;
    swapped[at] ^= 0x20;
    let mtime = fs::metadata(&helm).unwrap().modified().unwrap();
    fs::write(&helm, &swapped).unwrap();
    fs::File::options()
        .write(true)
        .open(&helm)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(fs::metadata(&helm).unwrap().len() as usize, good.len());
    repo.run(["deps", "check"])
        .fails()
        .stderr_has("helm: modified since it was installed");
    let install = repo.run(["deps", "install", "helm"]);
    install.ok();
    assert!(!install.stderr.contains("up to date"), "{install:#?}");
    assert_eq!(fs::read(&helm).unwrap(), good, "the pinned binary is back");
    repo.run(["deps", "check"]).ok();
}

/// Item 6: A kind stage with no identity on record whose kubeconfig reaches
/// another server than this machine's: refused, nothing recorded, nothing
/// deployed.
#[test]
fn s06_a_kind_stage_only_ever_reaches_a_kind_cluster() {
    let f = app_fixture();
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "local"])
        .ok();
    let record = f.repo.root.join("deps/kube/hmlet-local.identity.toml");
    fs::remove_file(&record).unwrap();
    let source = f.repo.root.join("deps/kube/hmlet-local.yaml");
    let text = fs::read_to_string(&source).unwrap();
    fs::write(
        &source,
        text.replace("https://127.0.0.1:6443", "https://prod.example:6443"),
    )
    .unwrap();
    f.take_calls();
    f.repo
        .run(["app", "deploy", "photos", "--stage", "local"])
        .fails()
        .stderr_has("refusing to use https://prod.example:6443 as the kind cluster hmlet-local")
        .stderr_has("hint:");
    assert!(!record.exists(), "nothing recorded");
    let calls = crate::cluster::lines(&f.take_calls());
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("helm upgrade") || c.contains(" apply ")),
        "{calls:#?}"
    );
}

/// Item 7: The Gateway API's limits, checked at load with file:line: at most 16
/// hostnames per release, each at most 253 characters.
#[test]
fn s07_hostnames_beyond_the_gateway_apis_limits_are_refused_at_their_line() {
    let repo = TestRepo::example();
    let app = "clusters/hmlet/apps/frontend/app.toml";
    let text = repo.read(app);
    let seventeen: Vec<String> = (1..=17).map(|i| format!("\"h{i}.${{DOMAIN}}\"")).collect();
    repo.write(
        app,
        &text.replace(
            "hosts = [\"photos.${DOMAIN}\"]",
            &format!("hosts = [\n  {},\n]", seventeen.join(",\n  ")),
        ),
    );
    let line = repo
        .read(app)
        .lines()
        .position(|l| l.contains("\"h17."))
        .unwrap()
        + 1;
    for args in [
        &["app", "render", "frontend", "--stage", "local"][..],
        &["cluster", "add-hosts", "--dry-run"],
    ] {
        repo.run(args)
            .fails()
            .stderr_has(&format!("{app}:{line}:"))
            .stderr_has("17 hostnames; an HTTPRoute takes at most 16");
    }
    let long = format!("{}.${{DOMAIN}}", vec!["a".repeat(60); 4].join("."));
    repo.write(
        app,
        &text.replace("\"photos.${DOMAIN}\"", &format!("\"{long}\"")),
    );
    let line = repo
        .read(app)
        .lines()
        .position(|l| l.contains("aaaa"))
        .unwrap()
        + 1;
    repo.run(["app", "render", "frontend", "--stage", "local"])
        .fails()
        .stderr_has(&format!("{app}:{line}:"))
        .stderr_has("the Gateway API takes at most 253");
}

/// Item 8: A secret in `hosts` is refused everywhere, saying so, and never
/// rendered: render, add-hosts, a task's XTASK_HOSTS.
#[test]
fn s08_a_secret_in_hosts_is_refused_everywhere() {
    let mut repo = TestRepo::example();
    repo.env
        .insert("HOST_SECRET".into(), "secret-subdomain-4d2a".into());
    let comm = repo.read("envs/comm.toml");
    repo.write(
        "envs/comm.toml",
        &format!("{comm}\nHIDDEN = {{ from_env = \"HOST_SECRET\", secret = true }}\n"),
    );
    let app = "clusters/hmlet/apps/frontend/app.toml";
    repo.write(
        app,
        &repo
            .read(app)
            .replace("\"photos.${DOMAIN}\"", "\"${HIDDEN}.${DOMAIN}\""),
    );
    for args in [
        &["app", "render", "frontend", "--stage", "local"][..],
        &["app", "render", "frontend", "--stage", "local", "--reveal"],
        &["cluster", "add-hosts", "--dry-run"],
        &["task", "hmlet:smoke", "--dry-run"],
    ] {
        let run = repo.run(args);
        run.fails()
            .stderr_has("`${HIDDEN}` is a secret (or built from one), and hostnames are public");
        assert!(
            !run.stdout.contains("secret-subdomain-4d2a")
                && !run.stderr.contains("secret-subdomain-4d2a")
        );
    }
}

/// Item 9: Fan-out output shows control characters escaped: a `\r` from one
/// stage cannot draw another stage's prefix over its line.
#[test]
fn s09_fan_out_escapes_control_characters() {
    let repo = TestRepo::example();
    let run = repo.run([
        "run",
        "local,test",
        "--",
        "sh",
        "-c",
        r"printf 'x\r🐣 local │ forged\033[2K\n'",
    ]);
    run.ok();
    for stage in ["local", "test"] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains(&format!(" {stage} ")) && l.contains("forged"))
            .unwrap_or_else(|| panic!("no line of {stage}: {}", run.stdout));
        assert!(line.contains(r"x\r🐣 local │ forged\u{1b}[2K"), "{line:?}");
        assert!(!line.contains('\r') && !line.contains('\u{1b}'), "{line:?}");
    }
}

/// Item 10: Fan-out never holds a whole line: 300 MB with no newline passes in
/// prefixed pieces, the process staying small.
#[test]
fn s10_fan_out_passes_long_lines_in_pieces() {
    let repo = TestRepo::example();
    let run = repo.run([
        "run",
        "local,test",
        "--",
        "sh",
        "-c",
        "head -c 1000000 /dev/zero | tr '\\0' a",
    ]);
    run.ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines.len() >= 2 * 15, "{} lines", lines.len());
    for line in &lines {
        assert!(
            line.len() <= 64 * 1024 + 64,
            "a line of {} bytes",
            line.len()
        );
        assert!(line.contains(" │ "), "each piece has its prefix");
    }
    let total: usize = lines
        .iter()
        .map(|l| l.split(" │ ").nth(1).unwrap().len())
        .sum();
    assert_eq!(total, 2 * 1_000_000);

    let rss = repo.home.parent().unwrap().join("rss");
    let status = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .arg(XTASK)
        .args(["run", "local,test", "--", "sh", "-c"])
        .arg("head -c 300000000 /dev/zero | tr '\\0' a")
        .env_clear()
        .envs(repo.base_env())
        .current_dir(&repo.root)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("/usr/bin/time (apt-get install time)");
    assert!(status.success());
    let kib: u64 = fs::read_to_string(&rss)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        kib < 64 * 1024,
        "peak memory {kib} KiB for 2 x 300 MB of one line"
    );
}

/// Item 12: What a killed `init app` left (of any name) is swept by the next
/// `init`; a folder of a process still running is left alone.
#[test]
fn s12_init_sweeps_what_killed_runs_of_any_name_left() {
    let repo = TestRepo::example();
    let apps = repo.root.join("clusters/hmlet/apps");
    let dead = apps.join(".a1.init-stagecraft-4194305-1f");
    let live = apps.join(".a3.init-stagecraft-1-1f");
    for dir in [&dead, &live] {
        fs::create_dir_all(dir.join("values")).unwrap();
        fs::write(dir.join("app.toml"), "half written").unwrap();
    }
    repo.run(["init", "app", "a2", "--cluster", "hmlet"]).ok();
    assert!(!dead.exists(), "the stale folder of another name is gone");
    assert!(live.exists(), "pid 1 runs: its folder stays");
    assert!(apps.join("a2/app.toml").is_file());
}

/// Item 13: A webhook whose path is its credential (Slack's) is shown as its
/// scheme, host and first segment: in a dry run and in the warning when it
/// was not delivered.
#[test]
fn s13_a_webhook_token_in_the_path_is_never_printed() {
    let f = app_fixture();
    let token = "T0FAKE/B0FAKE/abcdefSECRETtoken42";
    let local = f.repo.read("envs/local.toml");
    f.repo.write(
        "envs/local.toml",
        &format!("{local}\n[notify]\nwebhook = \"http://127.0.0.1:9/services/{token}\"\n"),
    );
    let dry = f.repo.run(["app", "deploy", "photos", "--dry-run"]);
    dry.ok()
        .stdout_has("# POST http://127.0.0.1:9/services/*** (deploy notification of photos)");
    let run = f.repo.run(["app", "deploy", "photos"]);
    run.ok()
        .stderr_has("warning: the deploy notification of photos was not delivered");
    for out in [&dry.stdout, &dry.stderr, &run.stdout, &run.stderr] {
        assert!(
            !out.contains("SECRETtoken42") && !out.contains("B0FAKE"),
            "{out}"
        );
    }
}
