//! `xtask cluster`: fake docker, kind and kubectl in the test repository's
//! deps/bin record every call (argv and KUBECONFIG) and keep a little state.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::http::Server;
use crate::support::{self, TestRepo, test_tool};

pub const FAKES: &[(&str, &str)] = &[
    ("docker", include_str!("fakes/docker")),
    ("kind", include_str!("fakes/kind")),
    ("kubectl", include_str!("fakes/kubectl")),
    ("fake-common.sh", include_str!("fakes/common.sh")),
    ("helm", include_str!("fakes/helm")),
    ("skaffold", include_str!("fakes/skaffold")),
    ("fake-objects.py", include_str!("fakes/objects.py")),
    ("telepresence", include_str!("fakes/telepresence")),
];

pub struct Fixture {
    pub repo: TestRepo,
    log: PathBuf,
    pub state: PathBuf,
    /// The deps mirror: the Gateway API CRDs and the Traefik chart.
    pub mirror: Server,
}

/// The paths of the addons on the mirror (deps/deps.toml's URLs).
pub const CRDS_PATH: &str =
    "/github.com/kubernetes-sigs/gateway-api/releases/download/v1.4.0/standard-install.yaml";
pub const CHART_PATH: &str = "/traefik.github.io/charts/traefik/traefik-37.3.0.tgz";
pub const INDEX_PATH: &str = "/traefik.github.io/charts/index.yaml";
/// The team's fixtures laid out as a download mirror: `https://HOST/PATH`
/// is at `<mirror>/HOST/PATH`.
pub fn fixture_mirror() -> std::path::PathBuf {
    support::shared_fixtures().join("addons")
}

/// The Gateway API v1.4.0 CRDs: the release asset's own bytes.
pub fn crds() -> Vec<u8> {
    fs::read(fixture_mirror().join(&CRDS_PATH[1..])).unwrap()
}

/// The Traefik chart 37.3.0, packaged from its tag: the same files as the
/// official tarball, other bytes.
pub fn chart() -> Vec<u8> {
    fs::read(fixture_mirror().join(&CHART_PATH[1..])).unwrap()
}

/// The sha256 deps/deps.toml commits (the official releases').
pub const CRDS_OFFICIAL_SHA256: &str =
    "6a4029e661446d64add866a00ecdc40c14219b68777ab614c5cdaac0adb481f1";
pub const CHART_OFFICIAL_SHA256: &str =
    "5e09f73c9ef20982b58769da9ddaac0ee49841aa482084b1a6b08ac996f49ffb";
/// The fixture package's own sha256 (its README), which a test's copy of
/// the repository pins instead of the official one.
pub const CHART_FIXTURE_SHA256: &str =
    "dc0651f921c49f05e2b358ff9dc32ce103fb5557d97dd941d50639a3efd21b89";

/// Pins the fixture's Traefik package in the repository's deps.toml (the
/// official tarball is not reachable here).
pub fn repin_fixture_chart(repo: &TestRepo) {
    assert_eq!(crate::deps::sha256(&chart()), CHART_FIXTURE_SHA256);
    let deps = repo.read("deps/deps.toml");
    assert!(deps.contains(CHART_OFFICIAL_SHA256), "{deps}");
    repo.write(
        "deps/deps.toml",
        &deps.replace(CHART_OFFICIAL_SHA256, CHART_FIXTURE_SHA256),
    );
}

/// A mirror serving the addons, the chart's sha256 in its repository index.
pub fn addon_mirror() -> Server {
    let mirror = Server::start();
    serve_addons(&mirror);
    mirror
}

/// The `[addons.*]` tables of the example's deps.toml.
pub fn addons_toml() -> String {
    let deps = fs::read_to_string(support::workspace().join("deps/deps.toml")).unwrap();
    let at = deps.find("[addons.").unwrap();
    deps[at..].to_owned()
}

/// Puts the tests' copies of the addons on `mirror`.
pub fn serve_addons(mirror: &Server) {
    mirror.put(CRDS_PATH, crds());
    mirror.put(CHART_PATH, chart());
    mirror.put(
        INDEX_PATH,
        format!(
            "apiVersion: v1\nentries:\n  traefik:\n  - version: 37.3.0\n    digest: {}\n  - version: 37.2.0\n    digest: {}\n",
            crate::deps::sha256(&chart()),
            "0".repeat(64)
        ),
    );
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub tool: String,
    pub kubeconfig: String,
    pub args: Vec<String>,
}

impl Call {
    pub fn line(&self) -> String {
        format!("{} {}", self.tool, self.args.join(" "))
    }
}

pub fn fixture() -> Fixture {
    let mut repo = TestRepo::example();
    repo.provide_example_secrets();
    fixture_of(repo)
}

/// The fakes around any repository: in its deps/bin, with their log and
/// state, and the addons' mirror (the Traefik pin moved to the tests' copy
/// when the repository pins the official one).
pub fn fixture_of(mut repo: TestRepo) -> Fixture {
    let base = repo.home.parent().unwrap().to_owned();
    let log = base.join("fake.log");
    let state = base.join("fake-state");
    fs::create_dir_all(&state).unwrap();
    for (name, text) in FAKES {
        let path = repo.root.join("deps/bin").join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    repo.env
        .insert("FAKE_LOG".into(), log.display().to_string());
    repo.env
        .insert("FAKE_STATE".into(), state.display().to_string());
    repo.env.insert(
        "REAL_KUBECTL".into(),
        test_tool("kubectl").display().to_string(),
    );
    // A Python with PyYAML (kubernetes-validate's), for the fakes' objects.
    repo.env.insert(
        "FAKE_PYTHON".into(),
        test_tool("kubernetes-validate")
            .canonicalize()
            .unwrap()
            .parent()
            .unwrap()
            .join("python")
            .display()
            .to_string(),
    );
    repo.env.insert(
        "XTASK_HOSTS_FILE".into(),
        base.join("hosts").display().to_string(),
    );
    if repo.root.join("deps/deps.toml").is_file() {
        repin_fixture_chart(&repo);
    }
    let mirror = addon_mirror();
    repo.env.insert("XTASK_DEPS_MIRROR".into(), mirror.base());
    Fixture {
        repo,
        log,
        state,
        mirror,
    }
}

impl Fixture {
    /// The calls logged since the last time, but `kubectl config view`:
    /// making a stage's one-context kubeconfig is offline bookkeeping
    /// (tests of it read [`Fixture::take_all_calls`]).
    pub fn take_calls(&self) -> Vec<Call> {
        self.take_all_calls()
            .into_iter()
            .filter(|c| {
                !(c.tool == "kubectl" && c.args.starts_with(&["config".into(), "view".into()]))
            })
            .collect()
    }

    /// The calls that could change something: a dry run still runs read-only
    /// questions for real (`docker info` to mark what would fail, `kubectl
    /// get` to leave out what is deployed already).
    pub fn take_changing_calls(&self) -> Vec<Call> {
        self.take_calls()
            .into_iter()
            .filter(|c| !(c.tool == "docker" && c.args.first().is_some_and(|a| a == "info")))
            .filter(|c| !(c.tool == "kubectl" && c.args.get(4).is_some_and(|a| a == "get")))
            .collect()
    }

    pub fn take_all_calls(&self) -> Vec<Call> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let _ = fs::remove_file(&self.log);
        text.lines()
            .map(|line| {
                let mut fields = line.split('\t').map(str::to_owned);
                Call {
                    tool: fields.next().unwrap(),
                    kubeconfig: fields.next().unwrap_or_default(),
                    args: fields.collect(),
                }
            })
            .collect()
    }

    /// What the calls since the last time read on stdin: the call's log
    /// line (tool and argv, tab-separated) and the bytes.
    pub fn take_stdin(&self) -> Vec<(String, String)> {
        let dir = self.log.with_extension("log.stdin");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let text = fs::read_to_string(entry.path()).unwrap();
            let (line, body) = text.split_once('\n').unwrap_or((&text, ""));
            out.push((line.to_owned(), body.to_owned()));
        }
        let _ = fs::remove_dir_all(&dir);
        out
    }

    /// The environment of each call since the last time, as one line
    /// (`tool`, then `KEY=value`s, tab-separated).
    pub fn take_env(&self) -> String {
        let path = self.log.with_extension("log.env");
        let text = fs::read_to_string(&path).unwrap_or_default();
        let _ = fs::remove_file(&path);
        text
    }

    /// The one-context kubeconfig every tool gets.
    pub fn kubeconfig(&self, stage: &str) -> String {
        format!(
            "{}/deps/kube/views/hmlet-{stage}.yaml",
            self.repo.root.display()
        )
    }

    /// The kubeconfig kind writes (and users, for remote stages).
    pub fn source(&self, stage: &str) -> String {
        format!("{}/deps/kube/hmlet-{stage}.yaml", self.repo.root.display())
    }

    /// The question every change asks first: which cluster is this?
    pub fn identity_query(&self, stage: &str, context: &str) -> String {
        format!(
            "kubectl --kubeconfig {} --context {context} get namespace kube-system --output jsonpath={{.metadata.uid}} --request-timeout=10s",
            self.kubeconfig(stage)
        )
    }

    pub fn root(&self) -> String {
        self.repo.root.display().to_string()
    }
}

/// A first bootstrap of stage `stage` on a machine with nothing: every call.
pub fn first_bootstrap_calls(f: &Fixture, stage: &str) -> Vec<String> {
    let root = f.root();
    let k = f.kubeconfig(stage);
    let kubectl = format!("kubectl --kubeconfig {k} --context kind-hmlet-{stage}");
    let node = format!("hmlet-{stage}-control-plane");
    let certs = "/etc/containerd/certs.d/localhost:5001";
    vec![
        "docker info --format {{.ServerVersion}}".to_owned(),
        "kind get clusters".to_owned(),
        format!("kind create cluster --name hmlet-{stage} --config {root}/deps/kube/hmlet-{stage}.kind.yaml --kubeconfig {} --wait 120s", f.source(stage)),
        // The new cluster's identity, recorded on this machine.
        format!("{kubectl} get namespace kube-system --output jsonpath={{.metadata.uid}} --request-timeout=10s"),
        "docker inspect -f {{.State.Running}} kind-registry".to_owned(),
        "docker run -d --restart=always -p 127.0.0.1:5001:5000 --network bridge --name kind-registry registry:2".to_owned(),
        "docker inspect -f {{json .NetworkSettings.Networks.kind}} kind-registry".to_owned(),
        "docker network connect kind kind-registry".to_owned(),
        format!("kind get nodes --name hmlet-{stage}"),
        format!("docker exec {node} cat {certs}/hosts.toml"),
        format!("docker exec {node} mkdir -p {certs}"),
        format!("docker exec -i {node} cp /dev/stdin {certs}/hosts.toml"),
        format!("{kubectl} get configmap local-registry-hosting --namespace kube-public --output name"),
        format!("{kubectl} apply -f -"),
        format!("{kubectl} get crd gateways.gateway.networking.k8s.io --output jsonpath={{.metadata.annotations.gateway\\.networking\\.k8s\\.io/bundle-version}}"),
        format!("{kubectl} apply --server-side --force-conflicts --filename {root}/deps/.cache/addons/gateway-api-1.4.0-standard-install.yaml"),
        format!("{kubectl} wait --for=condition=Established --timeout=60s crd/gatewayclasses.gateway.networking.k8s.io crd/gateways.gateway.networking.k8s.io crd/httproutes.gateway.networking.k8s.io"),
        format!("{kubectl} get secrets --namespace traefik --selector=owner=helm,name=traefik --output=jsonpath={{range .items[*]}}{{.metadata.labels.version}} {{.metadata.labels.status}} {{.metadata.labels.stagecraft\\.dev/digest}}{{\"\\n\"}}{{end}}"),
        format!("helm upgrade --install traefik {root}/deps/.cache/addons/traefik-37.3.0-traefik-37.3.0.tgz --kubeconfig {k} --kube-context kind-hmlet-{stage} --namespace traefik --create-namespace --skip-crds -f - --wait --timeout 5m --labels=stagecraft.dev/digest=<digest>"),
        // The stage's certificate, from the local CA, through stdin.
        format!("{kubectl} get secret hmlet-{stage}-tls --namespace stagecraft-gateway --ignore-not-found --output jsonpath={{.metadata.annotations.stagecraft\\.dev/tls-hosts}} {{.metadata.annotations.stagecraft\\.dev/tls-ca}} {{.metadata.annotations.stagecraft\\.dev/tls-not-after}}"),
        format!("{kubectl} apply --server-side --field-manager=stagecraft --force-conflicts --filename=-"),
        format!("{kubectl} get gateway hmlet-{stage} --namespace stagecraft-gateway --output jsonpath={{.metadata.annotations.stagecraft\\.dev/spec-sha256}}"),
        format!("{kubectl} apply --server-side --field-manager=stagecraft --force-conflicts --filename=-"),
        format!("{kubectl} wait --for=condition=Programmed gateway/hmlet-{stage} --namespace stagecraft-gateway --timeout=180s"),
        format!("{kubectl} get namespace frontend --output name"),
        format!("{kubectl} create namespace frontend"),
        format!("{kubectl} get namespace photos --output name"),
        format!("{kubectl} create namespace photos"),
    ]
}

/// Command lines with what differs between two runs by nature masked:
/// the private copy of a rendered values file, and the digest of values
/// that hold secrets (a dry run never asks for them).
pub fn comparable(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .map(|line| {
            line.split(' ')
                .map(|word| {
                    if let Some(at) = word.find("stagecraft-values-") {
                        let file = word.rsplit('/').next().unwrap_or("");
                        format!("{}<values>/{file}", &word[..at])
                    } else if word.starts_with("--labels=stagecraft.dev/digest=") {
                        "--labels=stagecraft.dev/digest=<digest>".to_owned()
                    } else {
                        word.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

pub fn lines(calls: &[Call]) -> Vec<String> {
    calls.iter().map(Call::line).collect()
}

#[test]
fn first_bootstrap_runs_the_exact_calls_and_a_second_changes_nothing() {
    let f = fixture();
    let run = f
        .repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "local"]);
    run.ok();
    let calls = f.take_calls();
    assert_eq!(
        comparable(lines(&calls)),
        first_bootstrap_calls(&f, "local")
    );
    for call in calls.iter().filter(|c| c.tool == "kubectl") {
        assert_eq!(
            call.kubeconfig,
            f.kubeconfig("local"),
            "KUBECONFIG of {}",
            call.line()
        );
    }
    // The registry is wired into the node and documented in the cluster.
    let hosts_toml = fs::read_to_string(f.state.join(
        "docker/file-hmlet-local-control-plane_etc_containerd_certs.d_localhost:5001_hosts.toml",
    ))
    .unwrap();
    assert_eq!(hosts_toml, "[host.\"http://kind-registry:5000\"]\n");
    assert!(
        f.state
            .join("kubectl/kind-hmlet-local/configmap-local-registry-hosting")
            .exists()
    );

    let run = f
        .repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "local"]);
    run.ok()
        .stdout_has("✔ prerequisites")
        .stdout_has("✔ cluster hmlet-local: already exists and answers")
        .stdout_has("✔ registry localhost:5001: already running and wired in")
        .stdout_has("✔ gateway-api CRDs v1.4.0: already installed")
        .stdout_has("✔ traefik 37.3.0: already installed")
        .stdout_has("✔ tls stagecraft-gateway/hmlet-local-tls: a certificate for 3 hosts")
        .stdout_has("✔ gateway stagecraft-gateway/hmlet-local: already programmed (http :80, https :443 on this machine)")
        .stdout_has("✔ namespaces: already there (frontend, photos)");
    let calls = f.take_calls();
    for call in &calls {
        let line = call.line();
        assert!(
            !line.starts_with("kind create") && !line.starts_with("docker run"),
            "second run: {line}"
        );
        assert!(
            !line.contains(" apply ") && !line.contains(" create namespace"),
            "second run: {line}"
        );
    }
    assert!(lines(&calls).contains(&format!(
        "kubectl --kubeconfig {} --context kind-hmlet-local get --raw /readyz",
        f.kubeconfig("local")
    )));
}

#[test]
fn dry_run_prints_the_commands_a_real_run_records_and_runs_none() {
    let f = fixture();
    let run = f.repo.run([
        "cluster",
        "bootstrap",
        "hmlet",
        "--stage",
        "local",
        "--dry-run",
    ]);
    run.ok();
    assert!(
        f.take_changing_calls().is_empty(),
        "the dry run ran something"
    );
    assert!(
        !f.repo.root.join("deps/kube").exists(),
        "the dry run wrote files"
    );
    let printed = commands_of(&run.stdout, &f.repo.root);
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "local"])
        .ok();
    assert_eq!(
        comparable(printed),
        comparable(lines(&f.take_calls())),
        "{}",
        run.stdout
    );
}

/// The command lines of a dry run's output: comments and here-documents
/// left out, the `cd DIR && ` and `KEY=value ` in front left out (the fakes
/// log argv), programs by name, shell quoting undone.
pub fn commands_of(stdout: &str, root: &Path) -> Vec<String> {
    let bin = format!("{}/deps/bin/", root.display());
    let mut out = Vec::new();
    let mut in_heredoc = false;
    for line in stdout.lines() {
        if in_heredoc {
            in_heredoc = line != "EOF";
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (command, heredoc) = match line.strip_suffix(" <<'EOF'") {
            Some(command) => (command, true),
            None => (line, false),
        };
        in_heredoc = heredoc;
        let mut command = unquote(command);
        if let Some((_, rest)) = command.split_once(" && ")
            && command.starts_with("cd ")
        {
            command = rest.to_owned();
        }
        while let Some((word, rest)) = command.split_once(' ')
            && word.contains('=')
            && word.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        {
            command = rest.to_owned();
        }
        out.push(command.replacen(&bin, "", 1));
    }
    out
}

/// Undoes the single quotes of posix_quote_word.
pub fn unquote(line: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '\\' if !quoted => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[test]
fn docker_missing_or_down_stops_before_kind() {
    let mut f = fixture();
    fs::write(f.state.join("docker-down"), "").unwrap();
    let run = f.repo.run(["cluster", "bootstrap", "hmlet"]);
    run.fails()
        .stderr_has("the Docker daemon is not answering, nothing was changed")
        .stderr_has("Cannot connect to the Docker daemon")
        .stderr_has("hint: start Docker");
    let calls = f.take_calls();
    assert_eq!(lines(&calls), ["docker info --format {{.ServerVersion}}"]);

    fs::remove_file(f.repo.root.join("deps/bin/docker")).unwrap();
    let empty = f.repo.tmp.join("empty-path");
    fs::create_dir_all(&empty).unwrap();
    f.repo
        .env
        .insert("PATH".into(), empty.display().to_string());
    f.repo
        .run(["cluster", "bootstrap", "hmlet"])
        .fails()
        .stderr_has("docker is not installed")
        .stderr_has("install Docker");
    assert!(f.take_calls().is_empty(), "something ran without docker");
}

#[test]
fn local_and_test_get_their_own_names_kubeconfigs_and_ports() {
    let f = fixture();
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "local"])
        .ok();
    let local = f.take_calls();
    let local_stdin = f.take_stdin();
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "test"])
        .ok();
    let test = f.take_calls();
    let test_stdin = f.take_stdin();
    assert_eq!(
        comparable(lines(&test)),
        first_bootstrap_calls(&f, "test")[..]
            .iter()
            .filter(|l| !l.starts_with("docker run") && !l.starts_with("docker network connect"))
            .cloned()
            .collect::<Vec<_>>(),
        "the registry is shared; everything else is the test stage's"
    );
    assert_ne!(local[2].args, test[2].args);
    let local_config = fs::read_to_string(f.state.join("kind/config-hmlet-local")).unwrap();
    let test_config = fs::read_to_string(f.state.join("kind/config-hmlet-test")).unwrap();
    assert!(
        local_config.contains("hostPort: 80\n") && local_config.contains("hostPort: 443\n"),
        "{local_config}"
    );
    assert!(
        test_config.contains("hostPort: 8080\n") && test_config.contains("hostPort: 8443\n"),
        "{test_config}"
    );
    assert!(local_config.contains("ingress-ready: \"true\""));
    // Each stage's host ports reach the same entry points: kind maps the
    // host port to the same node port, Traefik's pod takes it as its
    // hostPort to its entry point (web 80, websecure 443), and the
    // Gateway's listeners are those entry points.
    for (stage, config, stdin, http, https) in [
        ("local", &local_config, &local_stdin, 80, 443),
        ("test", &test_config, &test_stdin, 8080, 8443),
    ] {
        let mappings = port_mappings(config);
        assert_eq!(
            mappings,
            [(http, http), (https, https)],
            "{stage}: {config}"
        );
        let traefik = crate::apps::stdin_values(stdin, "traefik");
        for (entry_point, port, host) in [("web", 80, http), ("websecure", 443, https)] {
            assert_eq!(
                traefik["ports"][entry_point]["port"], port,
                "{stage}: {traefik:#}"
            );
            assert_eq!(traefik["ports"][entry_point]["hostPort"], host, "{stage}");
        }
        assert_eq!(traefik["nodeSelector"]["ingress-ready"], "true");
        let gateway = fs::read_to_string(
            f.state
                .join(format!("kubectl/kind-hmlet-{stage}/gateway.json")),
        )
        .unwrap();
        let gateway: serde_json::Value = serde_json::from_str(&gateway).unwrap();
        let gateway = &gateway["items"][1];
        assert_eq!(gateway["kind"], "Gateway");
        assert_eq!(
            gateway["metadata"]["name"],
            format!("hmlet-{stage}").as_str()
        );
        assert_eq!(gateway["spec"]["gatewayClassName"], "traefik");
        assert_eq!(gateway["spec"]["listeners"][0]["port"], 80, "{stage}");
        assert_eq!(gateway["spec"]["listeners"][0]["protocol"], "HTTP");
        let https_listener = &gateway["spec"]["listeners"][1];
        assert_eq!(https_listener["port"], 443, "{stage}");
        assert_eq!(https_listener["protocol"], "HTTPS");
        assert_eq!(
            https_listener["tls"]["certificateRefs"][0]["name"],
            format!("hmlet-{stage}-tls").as_str()
        );
        assert_eq!(
            gateway["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]["from"],
            "All"
        );
    }
    assert!(f.repo.root.join("deps/kube/hmlet-local.yaml").is_file());
    assert!(f.repo.root.join("deps/kube/hmlet-test.yaml").is_file());
    let status = f
        .repo
        .run(["cluster", "status", "hmlet", "--stage", "test", "--json"])
        .ok()
        .json();
    assert_eq!(status["exists"], true);
    assert_eq!(status["kubeconfig"], f.kubeconfig("test"));
    assert_eq!(status["context"], "kind-hmlet-test");
    assert_eq!(status["registry_up"], true);
    assert_eq!(status["gateway"]["name"], "hmlet-test");
    assert_eq!(status["gateway"]["namespace"], "stagecraft-gateway");
    assert_eq!(status["gateway"]["programmed"], true);
    assert_eq!(status["gateway"]["listeners"][0]["port"], 80);
    assert_eq!(status["gateway"]["listeners"][1]["port"], 443);
    assert_eq!(status["nodes_ready"], "1/1");
    f.repo
        .run(["cluster", "status", "hmlet", "--stage", "test"])
        .ok()
        .stdout_has("gateway      stagecraft-gateway/hmlet-test (programmed)")
        .stdout_has("  listener   http HTTP :80 (2 routes)")
        .stdout_has("  listener   https HTTPS :443 (2 routes)");
}

/// `(containerPort, hostPort)` of a rendered kind config, in order.
pub fn port_mappings(config: &str) -> Vec<(u64, u64)> {
    let numbers = |key: &str| -> Vec<u64> {
        config
            .lines()
            .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix(key))
            .map(|n| n.trim().parse().unwrap())
            .collect()
    };
    numbers("containerPort:")
        .into_iter()
        .zip(numbers("hostPort:"))
        .collect()
}
