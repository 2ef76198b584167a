//! The stage environment drives the deploy: what `xtask env` resolves is
//! what the pods get. Real helm renders every app for every stage (and
//! kubernetes-validate checks them); the fake helm and kubectl record
//! argv, environment and stdin of each deploy.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::process::Command;

use sha2::Digest;
use yaml_rust2::{Yaml, YamlLoader};

use crate::apps::{app_fixture, stdin_values, with_real_helm};
use crate::cluster::{Call, Fixture};
use crate::support::{PROD_DB_PASSWORD, Run, STAGE_DB_PASSWORD, TestRepo, test_tool, workspace};

const STAGES: [&str; 4] = ["local", "test", "stage", "prod"];
const APPS: [&str; 2] = ["photos", "frontend"];
/// The development-only password of local and test (app.toml).
const DEV_DB_PASSWORD: &str = "photos-dev-only";

fn render(repo: &TestRepo, app: &str, stage: &str, reveal: bool) -> String {
    let mut args = vec!["app", "render", app, "--stage", stage];
    if reveal {
        args.push("--reveal");
    }
    repo.run(args).ok().stdout.clone()
}

fn documents(stream: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(stream)
        .unwrap_or_else(|e| panic!("not YAML ({e}):\n{stream}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn app_toml(app: &str) -> toml::Table {
    fs::read_to_string(workspace().join(format!("clusters/hmlet/apps/{app}/app.toml")))
        .unwrap()
        .parse()
        .unwrap()
}

fn namespace_of(app: &str) -> String {
    app_toml(app)["namespace"].as_str().unwrap().to_owned()
}

/// The releases of `app` whose containers get variables (`env`).
fn releases_with_env(app: &str) -> Vec<String> {
    let releases: Vec<String> = app_toml(app)["releases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("env").is_some())
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!releases.is_empty());
    releases
}

/// A container's variable and its value (a secret one read off the
/// revealed Secret it references).
struct EnvVar {
    workload: String,
    name: String,
    value: String,
}

/// What the workloads of a render give their containers, and the pod
/// template annotations per workload.
fn container_env(docs: &[Yaml]) -> (Vec<EnvVar>, BTreeMap<String, Yaml>) {
    let secrets: BTreeMap<&str, &Yaml> = docs
        .iter()
        .filter(|d| d["kind"].as_str() == Some("Secret"))
        .map(|d| (d["metadata"]["name"].as_str().unwrap(), &d["stringData"]))
        .collect();
    let mut vars = Vec::new();
    let mut annotations = BTreeMap::new();
    for doc in docs {
        if !matches!(doc["kind"].as_str(), Some("Deployment" | "StatefulSet")) {
            continue;
        }
        let workload = doc["metadata"]["name"].as_str().unwrap().to_owned();
        let template = &doc["spec"]["template"];
        annotations.insert(
            workload.clone(),
            template["metadata"]["annotations"].clone(),
        );
        for container in template["spec"]["containers"].as_vec().unwrap() {
            for var in container["env"].as_vec().into_iter().flatten() {
                let name = var["name"].as_str().unwrap().to_owned();
                let value = match var["value"].as_str() {
                    Some(value) => value.to_owned(),
                    None => {
                        let reference = &var["valueFrom"]["secretKeyRef"];
                        let secret = reference["name"].as_str().unwrap_or_else(|| {
                            panic!("{workload}: {name} has neither a value nor a secretKeyRef")
                        });
                        let data = secrets.get(secret).unwrap_or_else(|| {
                            panic!(
                                "{workload}: {name} refers to Secret {secret}, not in the render"
                            )
                        });
                        data[reference["key"].as_str().unwrap()]
                            .as_str()
                            .unwrap_or_else(|| panic!("{secret} has no {name}"))
                            .to_owned()
                    }
                };
                vars.push(EnvVar {
                    workload: workload.clone(),
                    name,
                    value,
                });
            }
        }
    }
    (vars, annotations)
}

/// The `host:port` a value points to inside the cluster, as (namespace,
/// service, port): a bare name (the pod's namespace), `svc.ns`,
/// `svc.ns.svc` or `svc.ns.svc.cluster.local`. None for other hosts.
fn in_cluster_target(
    value: &str,
    namespace: &str,
    namespaces: &BTreeSet<String>,
) -> Option<(String, String, u16)> {
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest)) => (scheme, rest),
        None => ("", value),
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => {
            let port = match scheme {
                "http" => 80,
                "https" => 443,
                "postgresql" | "postgres" => 5432,
                "redis" => 6379,
                _ => return None,
            };
            (host_port, port)
        }
    };
    let labels: Vec<&str> = host
        .trim_end_matches(".cluster.local")
        .trim_end_matches(".svc")
        .split('.')
        .collect();
    match labels[..] {
        [service] if !service.is_empty() && scheme_or_port(scheme, host_port) => {
            Some((namespace.to_owned(), service.to_owned(), port))
        }
        [service, ns] if namespaces.contains(ns) => Some((ns.to_owned(), service.to_owned(), port)),
        _ => None,
    }
}

/// A bare word is a host only in a URL or as `name:port`.
fn scheme_or_port(scheme: &str, host_port: &str) -> bool {
    !scheme.is_empty() || host_port.contains(':')
}

#[test]
fn every_in_cluster_address_names_a_service_of_the_same_stage_render() {
    let repo = with_real_helm();
    let namespaces: BTreeSet<String> = APPS.iter().map(|a| namespace_of(a)).collect();
    for stage in STAGES {
        let mut services = BTreeSet::new();
        let mut addresses = Vec::new();
        for app in APPS {
            let namespace = namespace_of(app);
            let docs = documents(&render(&repo, app, stage, true));
            for doc in docs
                .iter()
                .filter(|d| d["kind"].as_str() == Some("Service"))
            {
                let name = doc["metadata"]["name"].as_str().unwrap();
                for port in doc["spec"]["ports"].as_vec().unwrap() {
                    let port = port["port"].as_i64().unwrap() as u16;
                    services.insert((namespace.clone(), name.to_owned(), port));
                }
            }
            let (vars, _) = container_env(&docs);
            for var in vars {
                if let Some(target) = in_cluster_target(&var.value, &namespace, &namespaces) {
                    addresses.push((format!("{app}/{} {}", var.workload, var.name), target));
                }
            }
        }
        let found: BTreeSet<&str> = addresses
            .iter()
            .map(|(who, _)| who.rsplit(' ').next().unwrap())
            .collect();
        // Not vacuous: the variables that connect the example's services.
        assert_eq!(
            found,
            BTreeSet::from(["DATABASE_URL", "PHOTOS_API_URL", "REDIS_URL"]),
            "{stage}: {addresses:#?}"
        );
        for (who, target) in &addresses {
            assert!(
                services.contains(target),
                "{stage}: {who} points to {target:?}, but the stage's render has only the Services {services:?}"
            );
        }
    }
    // The check can fail: a typo in a host is caught.
    assert_eq!(
        in_cluster_target("redis://redis-master:6379/0", "photos", &namespaces),
        Some(("photos".into(), "redis-master".into(), 6379))
    );
    assert_eq!(
        in_cluster_target("https://photos.localtest.me", "frontend", &namespaces),
        None
    );
}

#[test]
fn no_render_shows_a_secret_and_the_checksum_follows_the_secrets() {
    let mut repo = with_real_helm();
    for stage in STAGES {
        for app in APPS {
            let stream = render(&repo, app, stage, false);
            for secret in [STAGE_DB_PASSWORD, PROD_DB_PASSWORD, DEV_DB_PASSWORD] {
                assert!(
                    !stream.contains(secret),
                    "{app} in {stage} shows a secret:\n{stream}"
                );
            }
            // Every pod template of a release with `env` carries the
            // checksum of its variables.
            let (_, annotations) = container_env(&documents(&stream));
            for release in releases_with_env(app) {
                let checksum = annotations[&release]["stagecraft.dev/env-checksum"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{app}/{release} in {stage}: no checksum"));
                assert!(
                    checksum.len() == 64 && checksum.chars().all(|c| c.is_ascii_hexdigit()),
                    "{checksum}"
                );
            }
        }
    }
    // --reveal shows it, in the Secret only.
    let revealed = render(&repo, "photos", "stage", true);
    let secret = documents(&revealed)
        .into_iter()
        .find(|d| d["metadata"]["name"].as_str() == Some("photos-api-stagecraft-env"))
        .unwrap();
    assert_eq!(
        secret["stringData"]["DATABASE_URL"].as_str().unwrap(),
        format!("postgresql://photos:{STAGE_DB_PASSWORD}@postgresql:5432/photos")
    );
    assert_eq!(revealed.matches(STAGE_DB_PASSWORD).count(), 2, "{revealed}");

    // A render (no cluster, no checksum key) never hashes a secret value:
    // its checksum is the same whatever the password (deploys key it with
    // the release's Secret: only_what_changed_is_deployed...).
    let checksums = |repo: &TestRepo| {
        let (_, annotations) = container_env(&documents(&render(repo, "photos", "stage", false)));
        annotations
            .into_iter()
            .filter_map(|(w, a)| Some((w, a["stagecraft.dev/env-checksum"].as_str()?.to_owned())))
            .collect::<BTreeMap<_, _>>()
    };
    let before = checksums(&repo);
    assert_eq!(before.len(), 2, "{before:?}");
    assert_eq!(
        checksums(&repo),
        before,
        "the same values, the same checksum"
    );
    repo.env
        .insert("PHOTOS_DB_PASSWORD".into(), "a-rotated-password".into());
    assert_eq!(
        checksums(&repo),
        before,
        "a render's checksum follows a secret"
    );
    assert!(!revealed.contains("checksum-key"), "{revealed}");
}

/// The Kubernetes version of the kind node image (clusters/hmlet/kind.yaml).
fn kind_node_version() -> String {
    let config = fs::read_to_string(workspace().join("clusters/hmlet/kind.yaml")).unwrap();
    let image = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: kindest/node:v"))
        .expect("kind.yaml pins the node image");
    let version = image.split('@').next().unwrap().to_owned();
    assert!(image.contains("@sha256:"), "pinned by digest: {image}");
    version
}

fn validate(version: &str, file: &std::path::Path) -> std::process::Output {
    Command::new(test_tool("kubernetes-validate"))
        .args(["-k", version, "--strict"])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn every_render_is_valid_for_the_kubernetes_of_the_kind_node() {
    let repo = with_real_helm();
    let version = kind_node_version();
    let dir = tempfile::tempdir().unwrap();
    for stage in STAGES {
        for app in APPS {
            // The core objects; the HTTPRoutes are checked against the
            // Gateway API schemas (tests/it/gateway.rs).
            let stream = render(&repo, app, stage, false);
            let core: Vec<&str> = stream
                .split("\n---\n")
                .filter(|d| !d.contains("apiVersion: gateway.networking.k8s.io/"))
                .collect();
            assert!(
                core.len() < stream.split("\n---\n").count(),
                "{app} in {stage}: no HTTPRoute"
            );
            let file = dir.path().join(format!("{app}-{stage}.yaml"));
            fs::write(&file, core.join("\n---\n")).unwrap();
            let out = validate(&version, &file);
            let report = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{app} in {stage}:\n{report}");
            assert!(
                report.contains("passed for resource deployment/")
                    || report.contains("passed for resource statefulset/"),
                "{report}"
            );
        }
    }
    // The validator is strict: a field Kubernetes does not know fails it.
    let file = dir.path().join("photos-local.yaml");
    let broken = fs::read_to_string(&file).unwrap().replacen(
        "  replicas: 1\n",
        "  replicas: 1\n  replica: 1\n",
        1,
    );
    fs::write(&file, broken).unwrap();
    assert!(!validate(&version, &file).status.success());
}

fn upgraded(calls: &[Call]) -> Vec<String> {
    let mut names: Vec<String> = calls
        .iter()
        .filter(|c| c.tool == "helm" && c.args[0] == "upgrade")
        .map(|c| c.args[2].clone())
        .collect();
    names.sort();
    names
}

fn deploy(f: &Fixture, args: &[&str]) -> Run {
    let mut all = vec!["app", "deploy"];
    all.extend(args);
    f.repo.run(all)
}

#[test]
fn secrets_reach_the_cluster_through_stdin_only() {
    let f = app_fixture();
    let run = deploy(&f, &["photos", "--stage", "stage"]);
    run.ok();
    assert!(!run.stdout.contains(STAGE_DB_PASSWORD) && !run.stderr.contains(STAGE_DB_PASSWORD));
    let calls = f.take_calls();
    assert_eq!(upgraded(&calls), ["photos-api", "postgresql", "redis"]);
    for call in &calls {
        assert!(
            !call.line().contains(STAGE_DB_PASSWORD),
            "on argv: {}",
            call.line()
        );
    }
    // The composed secret (the URL with the password in it) is in no
    // tool's environment either: it exists only in the Secret.
    let composed = format!("postgresql://photos:{STAGE_DB_PASSWORD}@postgresql:5432/photos");
    let env = f.take_env();
    assert!(
        env.contains("\nhelm\t") || env.starts_with("helm\t"),
        "{env}"
    );
    assert!(!env.contains(&composed), "{env}");
    let stdin = f.take_stdin();
    // helm reads the values on stdin: the references, never the value
    // (helm stores its values with the release).
    for (line, body) in &stdin {
        if line.starts_with("helm\t") {
            assert!(!body.contains(STAGE_DB_PASSWORD), "{line}:\n{body}");
        }
    }
    let api = stdin_values(&stdin, "photos-api");
    assert_eq!(
        api["secretEnv"]["DATABASE_URL"]["secretName"],
        "photos-api-stagecraft-env"
    );
    // The Secrets, applied by kubectl from stdin, one per release that has
    // secret variables.
    let applied: Vec<&String> = stdin
        .iter()
        .filter(|(line, _)| line.starts_with("kubectl\t") && line.contains("\tapply\t"))
        .map(|(_, body)| body)
        .collect();
    assert_eq!(applied.len(), 2, "{applied:#?}");
    let secret_of = |release: &str| -> serde_json::Value {
        let list: serde_json::Value = applied
            .iter()
            .map(|b| serde_json::from_str::<serde_json::Value>(b).unwrap())
            .find(|l| {
                l.to_string()
                    .contains(&format!("\"{release}-stagecraft-env\""))
            })
            .unwrap_or_else(|| panic!("no Secret of {release}: {applied:#?}"));
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == "Secret")
            .unwrap()
            .clone()
    };
    assert_eq!(
        secret_of("postgresql")["stringData"]["POSTGRES_PASSWORD"],
        STAGE_DB_PASSWORD
    );
    assert_eq!(
        secret_of("photos-api")["stringData"]["DATABASE_URL"],
        composed.as_str()
    );
    assert_eq!(secret_of("photos-api")["metadata"]["namespace"], "photos");

    // The checksum on the pod template is keyed: with the key kept in the
    // Secret (stdin only), never on an argv or in helm's values; and it is
    // not the plain SHA-256 a reader of pods could test passwords against.
    let key = secret_of("postgresql")["metadata"]["annotations"]["stagecraft.dev/checksum-key"]
        .as_str()
        .expect("the Secret keeps its checksum key")
        .to_owned();
    assert!(
        key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{key}"
    );
    assert_ne!(
        key,
        secret_of("photos-api")["metadata"]["annotations"]["stagecraft.dev/checksum-key"],
        "a key per release"
    );
    assert!(
        !calls.iter().any(|c| c.line().contains(&key)),
        "the key on an argv"
    );
    for (line, body) in &stdin {
        if line.starts_with("helm\t") {
            assert!(!body.contains(&key), "the key in helm's values: {body}");
        }
    }
    let shown = |stdin: &[(String, String)], release: &str| {
        stdin_values(stdin, release)["podAnnotations"]["stagecraft.dev/env-checksum"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // The digest anyone can compute from names and values.
    let plain_sha256 = |vars: &[(&str, &str)]| -> String {
        let mut bytes = Vec::new();
        for (name, value) in vars {
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(value.as_bytes());
            bytes.push(0);
        }
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_ne!(
        shown(&stdin, "postgresql"),
        plain_sha256(&[
            ("POSTGRES_DB", "photos"),
            ("POSTGRES_USER", "photos"),
            ("POSTGRES_PASSWORD", STAGE_DB_PASSWORD),
        ]),
        "the plain SHA-256 of the password"
    );
    // The control: a release without secrets gets exactly that digest
    // (nothing to hide, so no key), which shows the formula above is the
    // one a reader of pods would try.
    deploy(&f, &["frontend", "--stage", "stage"]).ok();
    assert_eq!(
        shown(&f.take_stdin(), "frontend"),
        plain_sha256(&[
            (
                "PHOTOS_API_URL",
                "http://photos-api.photos.svc.cluster.local:80"
            ),
            ("PUBLIC_URL", "https://photos.stage.hmlet.example"),
        ])
    );
}

#[test]
fn only_what_changed_is_deployed_and_failed_releases_always_are() {
    let mut f = app_fixture();
    deploy(&f, &["photos", "--stage", "stage"]).ok();
    assert_eq!(
        upgraded(&f.take_calls()),
        ["photos-api", "postgresql", "redis"]
    );

    // Nothing changed: no upgrade, no Secret applied, and it says so.
    let again = deploy(&f, &["photos", "--stage", "stage"]);
    again.ok().stdout_has("3 unchanged");
    for release in ["photos/postgresql", "photos/redis", "photos/photos-api"] {
        assert!(
            again
                .stdout
                .lines()
                .any(|l| l.starts_with(release) && l.contains("unchanged")),
            "{}",
            again.stdout
        );
    }
    let calls = f.take_calls();
    assert!(upgraded(&calls).is_empty(), "{calls:#?}");
    assert!(!calls.iter().any(|c| c.args.contains(&"apply".to_owned())));

    // A stage value in one release's values file: that release only.
    let values = "clusters/hmlet/apps/photos/values/stage/photos-api.yaml";
    let text = f.repo.read(values);
    f.repo
        .write(values, &format!("{text}\nnodeSelector:\n  disk: ssd\n"));
    deploy(&f, &["photos", "--stage", "stage"]).ok();
    assert_eq!(upgraded(&f.take_calls()), ["photos-api"]);

    // A rotated secret: the releases whose containers get it.
    f.repo
        .env
        .insert("PHOTOS_DB_PASSWORD".into(), "a-rotated-password".into());
    deploy(&f, &["photos", "--stage", "stage"]).ok();
    assert_eq!(upgraded(&f.take_calls()), ["photos-api", "postgresql"]);

    // helm's record says the last revision failed, or is still pending:
    // deployed again, whatever it deployed.
    let records = f.state.join("helm/hmlet-stage/photos");
    for (release, status) in [("redis", "failed"), ("postgresql", "pending-upgrade")] {
        let file = records.join(release);
        let text = fs::read_to_string(&file).unwrap();
        let last = text
            .lines()
            .last()
            .unwrap()
            .replace(" deployed ", &format!(" {status} "));
        fs::write(&file, format!("{text}{last}\n")).unwrap();
    }
    deploy(&f, &["photos", "--stage", "stage"])
        .ok()
        .stdout_has("2 deployed, 1 unchanged");
    assert_eq!(upgraded(&f.take_calls()), ["postgresql", "redis"]);

    // --force deploys all.
    deploy(&f, &["photos", "--stage", "stage", "--force"]).ok();
    assert_eq!(
        upgraded(&f.take_calls()),
        ["photos-api", "postgresql", "redis"]
    );
}

#[test]
fn keep_going_finishes_what_does_not_need_the_failure() {
    let mut f = app_fixture();
    f.repo
        .env
        .insert("FAKE_HELM_FAIL".into(), "postgresql".into());
    // One at a time: postgresql (the longest chain) first, and it fails.
    let stopped = f.repo.run(["cluster", "deploy", "hmlet", "--jobs", "1"]);
    stopped.fails();
    assert_eq!(upgraded(&f.take_calls()), ["postgresql"]);

    let run = f
        .repo
        .run(["cluster", "deploy", "hmlet", "--jobs", "1", "--keep-going"]);
    run.fails()
        .stderr_has("the deploy to hmlet-local failed: photos/postgresql");
    assert_eq!(upgraded(&f.take_calls()), ["postgresql", "redis"]);
    let row = |release: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(release))
            .unwrap_or_else(|| panic!("no {release} in\n{}", run.stdout))
            .to_owned()
    };
    assert!(row("photos/postgresql").contains("failed"));
    assert!(row("photos/redis").contains("deployed"));
    assert!(row("photos/photos-api").contains("skipped"));
    assert!(row("frontend/frontend").contains("skipped"));
    run.stdout_has("it needs photos/postgresql, which failed")
        .stdout_has("1 failed, 1 deployed, 2 skipped");
}

#[test]
fn with_needs_deploys_the_apps_an_app_depends_on() {
    let f = app_fixture();
    deploy(&f, &["frontend", "--stage", "test"]).ok();
    assert_eq!(upgraded(&f.take_calls()), ["frontend"]);
    deploy(&f, &["frontend", "--stage", "test", "--with-needs"])
        .ok()
        .stdout_has("3 deployed, 1 unchanged");
    assert_eq!(
        upgraded(&f.take_calls()),
        ["photos-api", "postgresql", "redis"]
    );
}

#[test]
fn app_values_explains_where_each_key_comes_from() {
    let repo = with_real_helm();
    let file = "clusters/hmlet/apps/photos/values/prod/photos-api.yaml";
    let line = repo
        .read(file)
        .lines()
        .position(|l| l.starts_with("replicaCount:"))
        .unwrap()
        + 1;
    repo.run([
        "app",
        "values",
        "photos",
        "--stage",
        "prod",
        "--explain",
        "replicaCount",
    ])
    .ok()
    .stdout_has("photos/photos-api in stage prod")
    .stdout_has(&format!("{file}:{line}"))
    .stdout_has("comm/charts/service/values.yaml:");
    let json = repo
        .run([
            "app",
            "values",
            "photos",
            "--stage",
            "local",
            "--release",
            "postgresql",
            "--json",
        ])
        .ok()
        .json();
    let entry = |key: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .unwrap_or_else(|| panic!("no {key} in {json:#}"))
            .clone()
    };
    // comm over the chart; what app.toml's env gives, from Stagecraft.
    let comm = "clusters/hmlet/apps/photos/values/comm/postgresql.yaml";
    let repository = repo
        .read(comm)
        .lines()
        .position(|l| l.trim_start().starts_with("repository:"))
        .unwrap()
        + 1;
    assert_eq!(
        entry("image.repository")["chain"][0]["at"],
        format!("{comm}:{repository}").as_str()
    );
    assert_eq!(entry("image.repository")["chain"][1]["layer"], "chart");
    assert_eq!(entry("env.POSTGRES_USER")["value"], "photos");
    assert!(!json.to_string().contains(DEV_DB_PASSWORD), "{json:#}");
    repo.run(["app", "values", "photos", "--release", "postgres"])
        .fails()
        .stderr_has("did you mean `postgresql`");
}

#[test]
fn values_files_are_templates_of_the_stage_environment() {
    let repo = with_real_helm();
    let file = "clusters/hmlet/apps/photos/values/test/photos-api.yaml";
    let text = repo.read(file);
    let lines = text.lines().count();
    repo.write(
        file,
        &format!("{text}# ${{NOT_EXPANDED}} in a comment\npodAnnotations:\n  bucket: ${{PHOTOS_BUCKET}}\n  price: \"$$5\"\n"),
    );
    let stream = render(&repo, "photos", "test", false);
    assert!(stream.contains("bucket: hmlet-photos-test"), "{stream}");
    assert!(stream.contains("price: $5"), "{stream}");

    repo.write(
        file,
        &format!("{text}podAnnotations:\n  bucket: ${{PHOTOS_BUKET}}\n"),
    );
    repo.run(["app", "render", "photos", "--stage", "test"])
        .fails()
        .stderr_has(&format!(
            "{file}:{}: undefined variable `${{PHOTOS_BUKET}}`",
            lines + 2
        ))
        .stderr_has("PHOTOS_BUCKET");

    // A secret never goes through values (helm stores them): `env` it is.
    repo.write(file, &format!("{text}password: ${{PHOTOS_DB_PASSWORD}}\n"));
    repo.run(["app", "render", "photos", "--stage", "test"])
        .fails()
        .stderr_has(&format!("{file}:{}:", lines + 1))
        .stderr_has("`${PHOTOS_DB_PASSWORD}` is a secret")
        .stderr_has("env = [\"PHOTOS_DB_PASSWORD\"]");
}

/// `GET path` on 127.0.0.1:port: the status code and the body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The example's photos API is a real service: /healthz says whether the
/// database and Redis that DATABASE_URL and REDIS_URL name are reachable.
#[test]
fn the_photos_api_reports_whether_its_database_and_redis_are_reachable() {
    let database = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let redis_port = free_port();
    let port = free_port();
    let mut server = Command::new("python3")
        .arg(workspace().join("clusters/hmlet/apps/photos/src/server.py"))
        .env("PORT", port.to_string())
        .env(
            "DATABASE_URL",
            format!(
                "postgresql://photos:pw@127.0.0.1:{}/photos",
                database.local_addr().unwrap().port()
            ),
        )
        .env("REDIS_URL", format!("redis://127.0.0.1:{redis_port}/0"))
        .env("PHOTOS_BUCKET", "photos-local")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let live = loop {
        if let Some(answer) = get(port, "/livez") {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "photos-api did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(live.0, 200);

    let (status, body) = get(port, "/healthz").unwrap();
    let checks: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(checks["database"], "reachable");
    assert!(
        checks["redis"]
            .as_str()
            .unwrap()
            .starts_with(&format!("127.0.0.1:{redis_port}: ")),
        "{body}"
    );

    let _redis = std::net::TcpListener::bind(("127.0.0.1", redis_port)).unwrap();
    let (status, body) = get(port, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    let (_, body) = get(port, "/").unwrap();
    assert!(body.contains("\"bucket\": \"photos-local\""), "{body}");
    let _ = server.kill();
    let _ = server.wait();
}

/// Every image builds from the same bytes: a base pinned by version and
/// digest, and only files that are there copied in.
#[test]
fn the_example_dockerfiles_pin_their_base_and_copy_what_exists() {
    for app in APPS {
        let dir = workspace().join(format!("clusters/hmlet/apps/{app}"));
        let dockerfile = fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let mut froms = 0;
        for line in dockerfile.lines().filter(|l| !l.starts_with('#')) {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("FROM") => {
                    froms += 1;
                    let image = words.next().unwrap();
                    let (name, digest) = image
                        .split_once("@sha256:")
                        .unwrap_or_else(|| panic!("{app}: {image} is not pinned by digest"));
                    assert_eq!(digest.len(), 64, "{image}");
                    let tag = name.split_once(':').map(|(_, t)| t).unwrap_or("");
                    assert!(
                        tag.starts_with(|c: char| c.is_ascii_digit()),
                        "{app}: {image} names no version"
                    );
                }
                Some("COPY") => {
                    let sources: Vec<&str> = words.collect();
                    for source in &sources[..sources.len() - 1] {
                        assert!(dir.join(source).exists(), "{app}: COPY {source}: not there");
                    }
                }
                _ => {}
            }
        }
        assert!(froms > 0, "{app}");
    }
}
