//! The example repository's tasks against real programs, completion of task names in real shells, and `init app`'s task.

use crate::support::{STAGE_DB_PASSWORD, TestRepo, XTASK};
use crate::tasks::{APP, fake_kubectl, read};
use crate::tmux::Tmux;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

#[test]
fn the_example_db_shell_runs_psql_in_the_stage_cluster_with_no_password_anywhere() {
    let mut repo = TestRepo::example();
    repo.provide_example_secrets();
    let log = repo.tmp.join("kubectl.log");
    repo.env
        .insert("KUBECTL_LOG".into(), log.display().to_string());
    // A recording kubectl: argv a line each, then its KUBECONFIG and env.
    fake_kubectl(
        &repo,
        "for a in \"$@\"; do printf 'arg %s\\n' \"$a\"; done >> \"$KUBECTL_LOG\"\nprintf 'KUBECONFIG %s\\n' \"$KUBECONFIG\" >> \"$KUBECTL_LOG\"",
    );
    repo.run([
        "task",
        "photos:db-shell",
        "--stage",
        "stage",
        "--",
        "-c",
        "select 1",
    ])
    .ok();
    let got = read(&log);
    let args: Vec<&str> = got.lines().filter_map(|l| l.strip_prefix("arg ")).collect();
    assert_eq!(
        args,
        [
            "exec",
            "--namespace",
            "photos",
            "-i",
            "statefulset/postgresql",
            "--",
            "psql",
            "--username",
            "photos",
            "--dbname",
            "photos",
            "-c",
            "select 1",
        ],
        "no -t without a terminal"
    );
    assert!(
        got.contains(&format!(
            "KUBECONFIG {}/deps/kube/views/hmlet-stage.yaml",
            repo.root.display()
        )),
        "{got}"
    );
    assert!(
        !got.contains(STAGE_DB_PASSWORD),
        "a password on argv: {got}"
    );
}

/// A loopback HTTP server that answers per Host header and path (the
/// stage's gateway) and records what it was asked for. A 3xx redirects to
/// `/moved` on the same host.
struct Gateway {
    port: u16,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    fn start(status_of: fn(&str) -> u16) -> Gateway {
        Gateway::routes(move |host, _| status_of(host))
    }

    fn routes(status_of: impl Fn(&str, &str) -> u16 + Send + 'static) -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(64) {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let mut host = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(h) = line.to_ascii_lowercase().strip_prefix("host: ") {
                        host = h.trim().to_owned();
                    }
                }
                let path = request.split(' ').nth(1).unwrap_or("").to_owned();
                log.lock().unwrap().push(format!("{host}{path}"));
                let status = status_of(&host, &path);
                let location = match status {
                    300..=399 => format!("Location: http://{host}/moved\r\n"),
                    _ => String::new(),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\n{location}Content-Length: 3\r\nConnection: close\r\n\r\nok\n"
                );
            }
        });
        Gateway { port, asked }
    }
}

/// The example with its test stage's gateway on `port` and its hosts under
/// `.localhost` (which curl resolves to 127.0.0.1 by itself).
pub fn example_behind(port: u16) -> TestRepo {
    let repo = TestRepo::example();
    let envs = repo.read("envs/test.toml").replace(
        "DOMAIN = \"test.localtest.me\"",
        "DOMAIN = \"test.localhost\"",
    );
    repo.write("envs/test.toml", &envs);
    let cluster = repo
        .read("clusters/hmlet/cluster.toml")
        .replace("http_port = 8080", &format!("http_port = {port}"));
    repo.write("clusters/hmlet/cluster.toml", &cluster);
    repo
}

#[test]
fn the_example_smoke_task_checks_every_app_through_the_gateway() {
    let gateway = Gateway::start(|host| {
        if host.starts_with("photos.") {
            503
        } else {
            200
        }
    });
    let repo = example_behind(gateway.port);
    let run = repo.run(["task", "hmlet:smoke", "--stage", "test"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    let port = gateway.port;
    run.stdout_has(&format!(
        "ok    http://api.photos.test.localhost:{port}/healthz (200)"
    ))
    .stderr_has(&format!(
        "FAIL  http://photos.test.localhost:{port}/healthz"
    ))
    .stderr_has("503")
    .stderr_has("smoke: 1 of 2 hosts are not healthy on stage test");
    let mut asked = gateway.asked.lock().unwrap().clone();
    asked.sort();
    assert_eq!(
        asked,
        [
            format!("api.photos.test.localhost:{port}/healthz"),
            format!("photos.test.localhost:{port}/healthz"),
        ]
    );

    let healthy = Gateway::start(|_| 200);
    let repo = example_behind(healthy.port);
    repo.run(["task", "hmlet:smoke", "--stage", "test"])
        .ok()
        .stdout_has("smoke: 2 of 2 hosts healthy on stage test");

    // A gateway that redirects (to HTTPS, say) is followed to the app: a
    // redirect is not taken for health.
    let gateway = Gateway::routes(|host, path| match (host.starts_with("photos."), path) {
        (true, "/healthz") => 308,
        (true, _) => 503,
        _ => 200,
    });
    let repo = example_behind(gateway.port);
    repo.run(["task", "hmlet:smoke", "--stage", "test"])
        .fails()
        .stderr_has(&format!(
            "FAIL  http://photos.test.localhost:{}/healthz",
            gateway.port
        ))
        .stderr_has("503");
    assert!(
        gateway
            .asked
            .lock()
            .unwrap()
            .contains(&format!("photos.test.localhost:{}/moved", gateway.port)),
        "the redirect was not followed"
    );

    // A new app with hosts is checked too, with no edit of the task.
    let gateway = Gateway::start(|_| 200);
    let repo = example_behind(gateway.port);
    repo.run(["init", "app", "checkout", "--cluster", "hmlet"])
        .ok();
    repo.run(["task", "hmlet:smoke", "--stage", "test"])
        .ok()
        .stdout_has(&format!(
            "ok    http://checkout.test.localhost:{}/healthz (200)",
            gateway.port
        ))
        .stdout_has("smoke: 3 of 3 hosts healthy on stage test");
}

#[test]
fn the_example_e2e_task_passes_against_the_real_photos_api_of_its_stage() {
    // The real photos API, its database and Redis stood in by listeners.
    let database = TcpListener::bind("127.0.0.1:0").unwrap();
    let redis = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = |bucket: &str| {
        Command::new("python3")
            .arg(crate::support::workspace().join(format!("{APP}/src/server.py")))
            .env("PORT", port.to_string())
            .env(
                "DATABASE_URL",
                format!(
                    "postgresql://photos@127.0.0.1:{}/photos",
                    database.local_addr().unwrap().port()
                ),
            )
            .env(
                "REDIS_URL",
                format!("redis://127.0.0.1:{}/0", redis.local_addr().unwrap().port()),
            )
            .env("PHOTOS_BUCKET", bucket)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3")
    };
    let wait_up = || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "photos-api did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let repo = example_behind(port);

    let mut api = server("hmlet-photos-test");
    wait_up();
    let run = repo.run(["task", "photos:e2e", "--stage", "test"]);
    let _ = api.kill();
    let _ = api.wait();
    run.ok()
        .stdout_has("ok    the API is alive")
        .stdout_has("ok    its database is reachable")
        .stdout_has("ok    it is stage test's deployment")
        .stdout_has(&format!(
            "e2e: all checks passed against http://api.photos.test.localhost:{port}"
        ));

    // Another stage's deployment behind the URL: the e2e test says so.
    let mut api = server("hmlet-photos-stage");
    wait_up();
    let run = repo.run(["task", "photos:e2e", "--stage", "test"]);
    let _ = api.kill();
    let _ = api.wait();
    assert_eq!(run.code, Some(1), "{run:#?}");
    run.stderr_has("FAIL  it is stage test's deployment");
}

/// Presses `keys` until the screen holds every one of `needles`, pressing
/// them again each second: a shell busy with an autosuggestion (fish runs
/// the completer for those too) may drop a key, and a user would press it
/// again. No candidates at all still fails.
pub fn press_until(t: &Tmux, keys: &[&str], needles: &[&str]) -> String {
    let press = |t: &Tmux| keys.iter().for_each(|key| t.send_key(key));
    press(t);
    let mut polls = 0;
    t.wait_until(&format!("{needles:?}"), |t| {
        let screen = t.screen();
        if needles.iter().all(|n| screen.contains(n)) {
            return Some(screen);
        }
        polls += 1;
        if polls % 20 == 0 {
            press(t);
        }
        None
    })
}

/// `xtask task <Tab>` in a stage shell of each shell, as a user types it.
fn completes_in_a_stage_shell(shell: &str, rc: (&str, &str), press: &[&str]) {
    let repo = TestRepo::example();
    let path = repo.home.join(rc.0);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, rc.1).unwrap();
    let program = ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(shell))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{shell} is not installed"));
    let mut env = repo.base_env();
    env.push(("SHELL".to_owned(), program.display().to_string()));
    let base = repo.home.parent().unwrap();
    let t = Tmux::start(base, &repo.root.join(APP), &env, XTASK, &["shell", "local"]);
    t.wait_for_words("🐣 local hmlet/photos prompt>");
    t.type_text("xtask task ");
    press_until(
        &t,
        press,
        &[
            "photos:db-shell",
            "photos:e2e",
            "hmlet:smoke",
            "check",
            "psql into the stage's photos database",
            "curl every app's /healthz",
        ],
    );
    // A fresh command line (a shell busy drawing its menu may take the
    // first Ctrl-C for the menu alone); then one candidate left is
    // completed in place.
    t.send_key("C-c");
    t.wait_until("an empty command line", |t| {
        let rows = t.rows();
        let last = rows.iter().rev().find(|r| !r.trim().is_empty())?;
        if last.trim_end().ends_with("prompt>") {
            return Some(());
        }
        t.send_key("C-c");
        None
    });
    t.type_text("xtask task photos:e");
    press_until(&t, &["Tab"], &["xtask task photos:e2e"]);
}

#[test]
fn completion_offers_task_names_with_descriptions_in_bash() {
    completes_in_a_stage_shell("bash", (".bashrc", "PS1='prompt> '\n"), &["Tab", "Tab"]);
}

#[test]
fn completion_offers_task_names_with_descriptions_in_zsh() {
    completes_in_a_stage_shell(
        "zsh",
        (
            ".zshrc",
            "autoload -Uz compinit && compinit -u -d $HOME/.zcompdump\nPS1='prompt> '\n",
        ),
        &["Tab"],
    );
}

#[test]
fn completion_offers_task_names_with_descriptions_in_fish() {
    completes_in_a_stage_shell(
        "fish",
        (
            ".config/fish/config.fish",
            "function fish_prompt; printf 'prompt> '; end\n",
        ),
        &["Tab"],
    );
}

#[test]
fn cargo_xtask_completion_scripts_offer_task_names() {
    let repo = TestRepo::example();
    let scripts = repo.completion_scripts(&["bash", "fish"]);
    let dir = scripts[0].parent().unwrap();
    let run =
        |program: &str, args: &[&str], code: String| repo.shell_code(APP, program, args, &code);
    let bash = |line: &str| {
        run(
            "bash",
            &["--norc", "-c"],
            format!(
                "source {}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; read -ra COMP_WORDS <<< \"$COMP_LINE\"; COMP_CWORD=2; _stagecraft_cargo; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                dir.join("bash").display()
            ),
        )
    };
    // Bash splits `photos:d` at the colon and replaces only `d`.
    assert_eq!(bash("cargo xtask task photos:d"), "db-shell\n");
    let got = bash("cargo xtask task photos:");
    assert!(
        got.contains("db-shell  (psql into the stage's photos database"),
        "{got}"
    );
    assert!(
        got.contains("e2e       (the API's end-to-end checks"),
        "{got}"
    );
    // From the root, `hmlet:` offers the cluster's tasks.
    let got = run(
        "fish",
        &["--no-config", "-c"],
        format!(
            "cd {}; source {}; complete -C 'cargo xtask task hmlet:'",
            repo.root.display(),
            dir.join("fish").display()
        ),
    );
    assert_eq!(
        got.trim(),
        "hmlet:smoke\tcurl every app's /healthz through the stage's gateway"
    );
}

#[test]
fn init_app_scaffolds_a_commented_task_that_runs_once_uncommented() {
    let mut repo = TestRepo::example();
    repo.run(["init", "app", "checkout", "--cluster", "hmlet"])
        .ok();
    let rel = "clusters/hmlet/apps/checkout/app.toml";
    let text = repo.read(rel);
    let start = text
        .find("# [tasks.logs]")
        .expect("a commented [tasks] example");
    // The example as a user turns it on: its lines uncommented.
    let mut on = text[..start].to_owned();
    for line in text[start..].lines() {
        on.push_str(line.strip_prefix("# ").unwrap_or(line));
        on.push('\n');
    }
    repo.write(rel, &on);
    let dir = "clusters/hmlet/apps/checkout";
    let json = repo.run_in(dir, ["task", "--json"]).ok().json();
    let logs = &json[0];
    assert_eq!(logs["name"], "checkout:logs");
    assert_eq!(logs["stages"], serde_json::json!(["local", "test"]));
    // It runs: kubectl (a recording one) gets the app's deployment.
    let log = repo.tmp.join("kubectl.log");
    repo.env
        .insert("KUBECTL_LOG".into(), log.display().to_string());
    fake_kubectl(&repo, "echo \"$LOG_PREFIX $*\" >> \"$KUBECTL_LOG\"");
    repo.run_in(dir, ["task", "logs", "--", "--since", "1h"])
        .ok();
    assert_eq!(
        read(&log),
        "checkout-local logs --namespace checkout deployment/checkout --follow --since 1h\n"
    );
    repo.run_in(dir, ["task", "logs", "--stage", "prod"])
        .fails()
        .stderr_has("runs only on local, test");
}
