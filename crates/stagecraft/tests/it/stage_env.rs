//! The stage environment drives the deploy: what `xtask env` resolves is
//! what the pods get. Real helm renders every app for every stage (and
//! kubernetes-validate checks them); the fake helm and kubectl record
//! argv, environment and stdin of each deploy.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use crate::apps::with_real_helm;
use crate::cluster::{Call, Fixture};
use crate::support::{PROD_DB_PASSWORD, Run, STAGE_DB_PASSWORD, TestRepo, test_tool, workspace};

pub const STAGES: [&str; 4] = ["local", "test", "stage", "prod"];
pub const APPS: [&str; 2] = ["photos", "frontend"];
/// The development-only password of local and test (app.toml).
pub const DEV_DB_PASSWORD: &str = "photos-dev-only";

pub fn render(repo: &TestRepo, app: &str, stage: &str, reveal: bool) -> String {
    let mut args = vec!["app", "render", app, "--stage", stage];
    if reveal {
        args.push("--reveal");
    }
    repo.run(args).ok().stdout.clone()
}

pub fn documents(stream: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(stream)
        .unwrap_or_else(|e| panic!("not YAML ({e}):\n{stream}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

pub fn app_toml(app: &str) -> toml::Table {
    fs::read_to_string(workspace().join(format!("clusters/hmlet/apps/{app}/app.toml")))
        .unwrap()
        .parse()
        .unwrap()
}

pub fn namespace_of(app: &str) -> String {
    app_toml(app)["namespace"].as_str().unwrap().to_owned()
}

/// The releases of `app` whose containers get variables (`env`).
pub fn releases_with_env(app: &str) -> Vec<String> {
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
pub struct EnvVar {
    workload: String,
    name: String,
    value: String,
}

/// What the workloads of a render give their containers, and the pod
/// template annotations per workload.
pub fn container_env(docs: &[Yaml]) -> (Vec<EnvVar>, BTreeMap<String, Yaml>) {
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
pub fn in_cluster_target(
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
pub fn scheme_or_port(scheme: &str, host_port: &str) -> bool {
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
pub fn kind_node_version() -> String {
    let config = fs::read_to_string(workspace().join("clusters/hmlet/kind.yaml")).unwrap();
    let image = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: kindest/node:v"))
        .expect("kind.yaml pins the node image");
    let version = image.split('@').next().unwrap().to_owned();
    assert!(image.contains("@sha256:"), "pinned by digest: {image}");
    version
}

pub fn validate(version: &str, file: &std::path::Path) -> std::process::Output {
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

pub fn upgraded(calls: &[Call]) -> Vec<String> {
    let mut names: Vec<String> = calls
        .iter()
        .filter(|c| c.tool == "helm" && c.args[0] == "upgrade")
        .map(|c| c.args[2].clone())
        .collect();
    names.sort();
    names
}

pub fn deploy(f: &Fixture, args: &[&str]) -> Run {
    let mut all = vec!["app", "deploy"];
    all.extend(args);
    f.repo.run(all)
}

/// Reviewing prod needs no prod password: `app render`, `app values`,
/// `app lint` and `app diff --dry-run` run with no secret source at hand
/// (secrets masked, none in the output); `--reveal` needs them, and then
/// says which variable, from where, declared at which line.
#[test]
fn render_values_lint_and_a_diff_dry_run_need_no_secret_and_reveal_does() {
    let mut repo = TestRepo::example();
    repo.extra_path
        .push(test_tool("helm").parent().unwrap().to_owned());
    for args in [
        &["app", "render", "photos", "--stage", "prod"][..],
        &["app", "values", "photos", "--stage", "prod"],
        &[
            "app",
            "values",
            "photos",
            "--stage",
            "prod",
            "--release",
            "postgresql",
        ],
        &["app", "lint", "photos"],
        &["app", "diff", "photos", "--stage", "prod", "--dry-run"],
        &["app", "render", "photos", "--stage", "stage"],
    ] {
        let run = repo.run(args);
        run.ok();
        for secret in [PROD_DB_PASSWORD, STAGE_DB_PASSWORD] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{args:?} showed a secret"
            );
        }
    }
    repo.run(["app", "render", "photos", "--stage", "prod"])
        .ok()
        .stdout_has("\"POSTGRES_PASSWORD\": \"***\"");
    let app_toml = repo.read("clusters/hmlet/apps/photos/app.toml");
    let lines: Vec<&str> = app_toml.lines().collect();
    let line = lines
        .iter()
        .rposition(|l| l.starts_with("PHOTOS_DB_PASSWORD"))
        .unwrap()
        + 1;
    repo.run(["app", "render", "photos", "--stage", "prod", "--reveal"])
        .fails()
        .stderr_has("PHOTOS_DB_PASSWORD")
        .stderr_has(&format!(
            "declared at clusters/hmlet/apps/photos/app.toml:{line}: from_cmd failed: `"
        ))
        .stderr_has("pass show hmlet/prod/photos-db");
    repo.provide_example_secrets();
    repo.run(["app", "render", "photos", "--stage", "prod", "--reveal"])
        .ok()
        .stdout_has(PROD_DB_PASSWORD);
}
