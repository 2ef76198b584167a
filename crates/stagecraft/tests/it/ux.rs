//! Everyday UX: `up`/`down`, `init`, `var`, `doctor`, completions.

use std::fs;
use std::process::Command;

use crate::cluster::{Fixture, commands_of, comparable, fixture, lines};
use crate::deps::{Tool, deps_toml};
use crate::http::Server;
use crate::support::{TestRepo, kubeconfig, test_tool};

/// The fakes of kind, kubectl, helm and skaffold as the pinned tools, served
/// by a loopback server: `up` installs them like real downloads.
pub fn pinned_fakes(f: &mut Fixture) -> Server {
    let server = Server::start();
    let tool = |name: &'static str, body: &str| Tool {
        name,
        version: "1.0.0",
        url: match name {
            "kind" => "https://tools.example/kind/v{version}/kind-{os}-{arch}",
            "kubectl" => "https://tools.example/kubectl/v{version}/kubectl-{os}-{arch}",
            "helm" => "https://tools.example/helm/v{version}/helm-{os}-{arch}",
            _ => "https://tools.example/skaffold/v{version}/skaffold-{os}-{arch}",
        },
        archive: "raw",
        binary: None,
        path: format!("/tools.example/{name}/v1.0.0/{name}-linux-amd64"),
        body: body.as_bytes().to_vec(),
    };
    let tools = [
        tool("kind", include_str!("fakes/kind")),
        tool("kubectl", include_str!("fakes/kubectl")),
        tool("helm", include_str!("fakes/helm")),
        tool("skaffold", include_str!("fakes/skaffold")),
    ];
    for t in &tools {
        server.put(&t.path, t.body.clone());
        fs::remove_file(f.repo.root.join("deps/bin").join(t.name)).unwrap();
    }
    // The addons as committed (the chart repinned to the fixture's
    // package): nothing written to deps.toml (a clean tree).
    let deps = format!(
        "{}\n{}",
        deps_toml(&tools),
        crate::cluster::addons_toml().replace(
            crate::cluster::CHART_OFFICIAL_SHA256,
            crate::cluster::CHART_FIXTURE_SHA256
        )
    );
    f.repo.write("deps/deps.toml", &deps);
    crate::cluster::serve_addons(&server);
    f.repo.env.insert("XTASK_DEPS_MIRROR".into(), server.base());
    server
}

pub fn git(repo: &TestRepo, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-C"])
        .arg(&repo.root)
        .args(args)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

#[test]
fn up_plans_runs_and_then_skips_what_is_done() {
    let mut f = fixture();
    let server = pinned_fakes(&mut f);
    // Where local's images go: a registry API on loopback.
    let _registry = crate::only_what_changed::local_registry(&mut f, false);
    git(&f.repo, &["init", "-q"]);
    git(&f.repo, &["add", "-A"]);
    git(&f.repo, &["commit", "-q", "-m", "init"]);

    let plan = f.repo.run(["up", "--dry-run"]);
    plan.ok();
    assert!(
        f.take_changing_calls().is_empty(),
        "the dry run ran something"
    );
    assert_eq!(server.total_hits(), 0, "the dry run downloaded");
    // The plan, in order: tools, cluster, images, releases by dependency level.
    let out = &plan.stdout;
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{out}"))
    };
    assert!(at("download ") < at("kind create cluster"));
    assert!(at("kind create cluster") < at("docker build"));
    assert!(at("docker build") < at("helm upgrade --install postgresql"));
    assert!(at("helm upgrade --install postgresql") < at("helm upgrade --install photos-api"));
    assert!(at("helm upgrade --install redis") < at("helm upgrade --install photos-api"));
    assert!(at("helm upgrade --install photos-api") < at("helm upgrade --install frontend"));
    for name in ["kind", "kubectl", "helm"] {
        assert!(
            out.contains(&format!("-> deps/bin/{name} ")),
            "{name} not in the plan"
        );
    }
    assert!(
        !out.contains("deps/bin/skaffold"),
        "up installs skaffold, which only `app dev` needs:\n{out}"
    );

    let planned: Vec<String> = commands_of(out, &f.repo.root)
        .into_iter()
        .filter(|l| !l.starts_with("download "))
        .collect();
    f.repo
        .run(["up", "--jobs", "1"])
        .ok()
        .stdout_has("https://photos.localtest.me/");
    assert_eq!(
        comparable(lines(&f.take_calls())),
        comparable(planned),
        "up did not run what --dry-run printed"
    );
    let downloads = server.total_hits();
    // The three tools, the CRDs and the chart (both pinned: no index).
    assert_eq!(downloads, 3 + 2);

    let again = f.repo.run(["up", "--jobs", "1"]);
    again
        .ok()
        .stdout_has("unchanged")
        .stdout_has("✔ cluster hmlet-local: already exists");
    let calls = lines(&f.take_calls());
    for line in &calls {
        for refused in ["kind create", "docker run", "docker build", "docker push"] {
            assert!(!line.starts_with(refused), "second up ran {line}");
        }
    }
    assert_eq!(server.total_hits(), downloads, "the second up downloaded");

    f.repo.run(["down"]).ok();
    assert!(
        lines(&f.take_calls())
            .iter()
            .any(|l| l.starts_with("kind delete cluster --name hmlet-local"))
    );
    f.repo.run(["down", "prod"]).fails().stderr_has("protected");
    f.repo.run(["down", "stage"]).fails().stderr_has("remote");
}

#[test]
fn init_app_renders_and_lints_for_every_stage_and_never_overwrites() {
    let mut repo = TestRepo::example();
    repo.extra_path
        .push(test_tool("helm").parent().unwrap().to_owned());
    repo.run(["init", "app", "checkout", "--cluster", "hmlet"])
        .ok();
    for stage in ["local", "test", "stage", "prod"] {
        repo.run(["app", "render", "checkout", "--stage", stage])
            .ok()
            .stdout_has("name: checkout\n")
            .stdout_has("kind: HTTPRoute");
    }
    repo.run(["app", "lint", "checkout"]).ok();
    repo.run(["list"]).ok().stdout_has("    checkout");
    let prod = repo.run(["app", "render", "checkout", "--stage", "prod"]);
    prod.stdout_has("- \"checkout.hmlet.example\"");

    let before = repo.snapshot();
    repo.run(["init", "app", "checkout", "--cluster", "hmlet"])
        .fails()
        .stderr_has("clusters/hmlet/apps/checkout already exists: nothing was changed");
    repo.run(["init", "app", "Check_Out", "--cluster", "hmlet"])
        .fails()
        .stderr_has("use lowercase letters, digits and '-'")
        .stderr_has("DNS-1123");
    repo.run(["init", "cluster", "hmlet"])
        .fails()
        .stderr_has("already exists");
    assert_eq!(repo.snapshot(), before, "a refused init changed something");

    repo.run(["init", "cluster", "shop"]).ok();
    let cluster = repo.read("clusters/shop/cluster.toml");
    assert!(
        cluster.contains("[stages.local]\nhttp_port = 8090\n"),
        "ports clash with hmlet's test stage:\n{cluster}"
    );
    repo.run(["init", "app", "cart", "--cluster", "shop"]).ok();
    repo.run(["app", "render", "cart"]).ok();
}

#[test]
fn var_set_edits_in_place_and_explain_shows_it() {
    let repo = TestRepo::example();
    let file = "clusters/hmlet/apps/photos/app.toml";
    let before = repo.read(file);
    repo.run([
        "var",
        "set",
        "CACHE_TTL",
        "300",
        "--app",
        "photos",
        "--stage",
        "test",
    ])
    .ok();
    let after = repo.read(file);
    let line = after
        .lines()
        .position(|l| l == "CACHE_TTL = \"300\"")
        .expect("the new line")
        + 1;
    let explained = repo.run(["env", "test", "--app", "photos", "--explain", "CACHE_TTL"]);
    explained
        .ok()
        .stdout_has("CACHE_TTL=300")
        .stdout_has(&format!("{file}:{line}"));
    // Every other byte, comments included, is what it was: the new table
    // and line are added after the last stage table, before the tasks.
    let tasks = before
        .find("\n# The app's tasks")
        .expect("the example's tasks");
    assert_eq!(
        after,
        format!(
            "{}\n[stages.test.vars]\nCACHE_TTL = \"300\"\n{}",
            &before[..tasks],
            &before[tasks..]
        )
    );

    // Overwriting changes the value only; get reads it back.
    let local = repo.read("envs/local.toml");
    repo.run(["var", "set", "LOG_LEVEL", "trace", "--stage", "local"])
        .ok();
    assert_eq!(
        repo.read("envs/local.toml"),
        local.replace("LOG_LEVEL = \"debug\"", "LOG_LEVEL = \"trace\"")
    );
    assert_eq!(
        repo.run(["var", "get", "LOG_LEVEL", "--stage", "local"])
            .ok()
            .stdout,
        "trace\n"
    );
    repo.run(["env", "local", "--explain", "LOG_LEVEL"])
        .ok()
        .stdout_has("envs/local.toml:6");
    repo.run([
        "var",
        "unset",
        "CACHE_TTL",
        "--app",
        "photos",
        "--stage",
        "test",
    ])
    .ok();
    assert!(!repo.read(file).contains("CACHE_TTL"));
    repo.run(["var", "unset", "LOG_LEVL", "--stage", "local"])
        .fails()
        .stderr_has("did you mean `LOG_LEVEL`?");
    repo.run(["var", "set", "KUBECONFIG", "x"])
        .fails()
        .stderr_has("reserved");
    repo.run(["var", "set", "1BAD", "x"])
        .fails()
        .stderr_has("not a valid variable name");
    repo.run(["var", "set", "TOKEN", "API_TOKEN", "--secret-from", "env"])
        .ok();
    assert!(
        repo.read("envs/comm.toml")
            .contains("TOKEN = { from_env = \"API_TOKEN\", secret = true }")
    );
}

#[test]
fn doctor_lists_what_is_missing_with_fixes_and_passes_when_all_is_there() {
    let mut f = fixture();
    pinned_fakes(&mut f);
    // The prompt check starts the user's shell in a terminal.
    f.repo.env.insert("SHELL".into(), "/usr/bin/bash".into());
    fs::write(f.repo.home.join(".bashrc"), "PS1='me> '\n").unwrap();
    f.repo.run(["deps", "install"]).ok();
    for stage in ["stage", "prod"] {
        f.repo.write(
            &format!("deps/kube/hmlet-{stage}.yaml"),
            &kubeconfig(&format!("hmlet-{stage}"), "https://10.0.0.1:6443"),
        );
    }
    f.repo
        .run(["cluster", "add-hosts", "hmlet", "--stage", "local", "--yes"])
        .ok();
    // The shared stages' clusters are not pinned yet.
    f.repo
        .run(["doctor"])
        .fails()
        .stdout_has("✘ identity hmlet-prod")
        .stdout_has("fix: cargo xtask cluster pin hmlet --stage prod");
    fs::write(f.state.join("remote-up"), "").unwrap();
    for stage in ["stage", "prod"] {
        f.repo
            .run(["cluster", "pin", "hmlet", "--stage", stage])
            .ok();
    }
    let run = f.repo.run(["doctor"]);
    run.ok()
        .stdout_has("✔ identity hmlet-prod")
        .stdout_has("all 11 checks pass");
    let json = f.repo.run(["doctor", "--json"]).ok().json();
    assert!(json.as_array().unwrap().iter().all(|c| c["ok"] == true));
    let prompt = json
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "shell prompt")
        .unwrap();
    assert_eq!(prompt["prompt"]["shell"], "bash", "{prompt:#}");
    assert!(
        prompt["prompt"]["prompt"]
            .as_str()
            .unwrap()
            .ends_with("🐣 local hmlet me>"),
        "{prompt:#}"
    );

    fs::remove_file(f.repo.root.join("deps/bin/docker")).unwrap();
    fs::remove_file(f.repo.root.join("deps/bin/kind")).unwrap();
    let empty = f.repo.tmp.join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    f.repo
        .env
        .insert("PATH".into(), empty.display().to_string());
    let run = f.repo.run(["doctor"]);
    run.fails()
        .stdout_has("✘ docker")
        .stdout_has("install Docker")
        .stdout_has("✘ tool kind")
        .stdout_has("fix: cargo xtask deps install kind")
        .stdout_has("2 of 11 checks fail");
}

#[test]
fn completion_scripts_load_in_real_shells_and_complete_app_names() {
    let repo = TestRepo::example();
    let scripts = repo.completion_scripts(&["bash", "zsh", "fish"]);
    let dir = scripts[0].parent().unwrap();
    let run = |program: &str, args: &[&str], code: &str| repo.shell_code("", program, args, code);
    let bash = dir.join("bash").display().to_string();
    let got = run(
        "bash",
        &["--norc", "-c"],
        &format!(
            "source {bash}; COMP_LINE='cargo xtask app deploy ph'; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=(cargo xtask app deploy ph); COMP_CWORD=4; _stagecraft_cargo; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        ),
    );
    assert_eq!(got, "photos\n");
    let got = run(
        "bash",
        &["--norc", "-c"],
        &format!(
            "source {bash}; COMP_LINE='cargo xtask shell '; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=(cargo xtask shell ''); COMP_CWORD=3; _stagecraft_cargo; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        ),
    );
    for stage in ["local", "test", "stage", "prod"] {
        assert!(got.lines().any(|l| l == stage), "{got}");
    }
    let zsh = dir.join("zsh").display().to_string();
    run(
        "zsh",
        &["-f", "-c"],
        &format!(
            "autoload -Uz compinit && compinit -u -d {}/zcompdump && source {zsh} && echo loaded",
            repo.tmp.display()
        ),
    );
    let fish = dir.join("fish").display().to_string();
    let got = run(
        "fish",
        &["--no-config", "-c"],
        &format!("source {fish}; complete -C 'cargo xtask app deploy ph'"),
    );
    assert_eq!(got.trim(), "photos");
    let got = run(
        "fish",
        &["--no-config", "-c"],
        &format!("source {fish}; complete -C 'cargo xtask cluster bootstrap '"),
    );
    assert_eq!(got.lines().next(), Some("hmlet"), "{got}");
    assert!(got.lines().skip(1).all(|l| l.starts_with("--")), "{got}");
}

#[test]
fn verbose_logs_each_command_and_quiet_prints_only_errors() {
    let f = fixture();
    let run = f.repo.run(["--verbose", "cluster", "bootstrap"]);
    run.ok()
        .stderr_has(&format!("+ {}/deps/bin/kind get clusters", f.root()));
    let run = f.repo.run(["--quiet", "cluster", "bootstrap"]);
    run.ok();
    assert_eq!(run.stdout, "", "--quiet printed");
    assert_eq!(run.stderr, "", "--quiet printed");
    let run = f
        .repo
        .run(["-q", "cluster", "bootstrap", "--stage", "nope"]);
    run.fails().stderr_has("unknown stage `nope`");
}

/// The README's five minutes, on a fresh copy of the repository: the
/// committed deps.toml (its URLs, its pins for this machine replaced by the
/// fakes' sums), a loopback mirror serving every tool as the real release
/// does (helm a tar.gz), fake docker and kind underneath. `up --dry-run`
/// shows the whole plan and changes nothing; `up` brings everything up
/// without skaffold; `cluster add-hosts` makes the names resolve.
/// A fresh git copy of the example whose pinned tools and addons are
/// served by a loopback mirror, as the README's first hour meets them:
/// kubectl, helm, kind and skaffold downloads pinned to the fakes.
pub fn readme_fresh_copy() -> (Fixture, Server) {
    let mut f = fixture();
    let server = Server::start();
    let fake = |name: &str| -> Vec<u8> {
        match name {
            "kind" => include_str!("fakes/kind"),
            "kubectl" => include_str!("fakes/kubectl"),
            "helm" => include_str!("fakes/helm"),
            _ => include_str!("fakes/skaffold"),
        }
        .as_bytes()
        .to_vec()
    };
    let helm_archive = crate::deps::tar_gz(&[
        ("linux-amd64/LICENSE", b"Apache-2.0\n"),
        ("linux-amd64/helm", &fake("helm")),
    ]);
    let downloads = [
        (
            "kubectl",
            "/dl.k8s.io/release/v1.35.2/bin/linux/amd64/kubectl",
            fake("kubectl"),
        ),
        (
            "helm",
            "/get.helm.sh/helm-v4.1.4-linux-amd64.tar.gz",
            helm_archive,
        ),
        (
            "skaffold",
            "/storage.googleapis.com/skaffold/releases/v2.17.2/skaffold-linux-amd64",
            fake("skaffold"),
        ),
        (
            "kind",
            "/github.com/kubernetes-sigs/kind/releases/download/v0.30.0/kind-linux-amd64",
            fake("kind"),
        ),
    ];
    let mut deps = f.repo.read("deps/deps.toml");
    for (name, path, body) in &downloads {
        server.put(path, body.clone());
        fs::remove_file(f.repo.root.join("deps/bin").join(name)).unwrap();
        let sum = crate::deps::sha256(body);
        let table = format!("[tools.{name}.sha256]\n");
        match deps.find(&table) {
            Some(at) => {
                let line_start = at + table.len();
                let line_end = line_start + deps[line_start..].find('\n').unwrap();
                assert!(deps[line_start..line_end].starts_with("linux-amd64 = "));
                deps.replace_range(line_start..line_end, &format!("linux-amd64 = \"{sum}\""));
            }
            None => deps.push_str(&format!("\n{table}linux-amd64 = \"{sum}\"\n")),
        }
    }
    f.repo.write("deps/deps.toml", &deps);
    crate::cluster::serve_addons(&server);
    f.repo.env.insert("XTASK_DEPS_MIRROR".into(), server.base());
    git(&f.repo, &["init", "-q"]);
    git(&f.repo, &["add", "-A"]);
    git(&f.repo, &["commit", "-q", "-m", "init"]);

    (f, server)
}

#[test]
fn the_readme_quickstart_works_on_a_fresh_copy() {
    let (f, server) = readme_fresh_copy();
    let before = f.repo.snapshot();
    let plan = f.repo.run(["up", "--dry-run"]);
    plan.ok()
        .stdout_has("# [1/4] pinned tools")
        .stdout_has("kind create cluster --name hmlet-local")
        .stdout_has("docker build --tag localhost:5001/photos-api:")
        .stdout_has("helm upgrade --install frontend");
    for name in ["kubectl", "helm", "kind"] {
        plan.stdout_has(&format!("-> deps/bin/{name} (sha256 "));
    }
    assert!(!plan.stdout.contains("skaffold"), "{}", plan.stdout);
    assert_eq!(
        f.repo.snapshot(),
        before,
        "the dry run changed the repository"
    );
    // Only the read-only question a dry run asks for real, once: is Docker up?
    assert_eq!(
        lines(&f.take_calls()),
        ["docker info --format {{.ServerVersion}}"]
    );
    assert_eq!(server.total_hits(), 0);

    let up = f.repo.run(["up", "--locked"]);
    up.ok()
        .stdout_has("helm 4.1.4 installed")
        .stdout_has("+ cluster hmlet-local: created")
        .stdout_has("https://photos.localtest.me/")
        .stdout_has("https://api.photos.localtest.me/")
        .stdout_has(
            "hint: make these names resolve: cargo xtask cluster add-hosts hmlet --stage local",
        );
    assert_eq!(
        server.total_hits(),
        // The pinned tools, then the cluster addons (the CRDs, the chart),
        // each verified against its committed sha256.
        3 + 2,
        "up downloads kind, kubectl and helm only, and the gateway addons"
    );
    f.repo
        .run(["deps", "check", "--json"])
        .fails()
        .stdout_has("\"missing\"");
    f.repo
        .run(["cluster", "add-hosts", "--yes"])
        .ok()
        .stdout_has("wrote the hmlet-local block");
    f.repo
        .run(["doctor"])
        .fails()
        .stdout_has("✔ hosts hmlet-local");
    // The app folder's shell is the app's (the README's step 4).
    let env = f
        .repo
        .run_in("clusters/hmlet/apps/photos", ["env", "local", "--json"])
        .ok()
        .json();
    assert_eq!(env["XTASK_PROMPT"], "🐣 local hmlet/photos");
    assert!(
        env["KUBECONFIG"]
            .as_str()
            .unwrap()
            .ends_with("/deps/kube/views/hmlet-local.yaml")
    );
}
