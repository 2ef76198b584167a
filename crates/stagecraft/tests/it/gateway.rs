//! Gateway API instead of the retired ingress-nginx: the chart's
//! HTTPRoutes (real helm), validated against the Gateway API schemas; the
//! stage's Gateway from bootstrap; pinned, verified downloads.

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

use crate::apps::git;
use crate::apps::with_real_helm;
use crate::cluster::{
    CHART_FIXTURE_SHA256, CRDS_OFFICIAL_SHA256, CRDS_PATH, crds, fixture, fixture_mirror, lines,
};
use crate::support::{TestRepo, workspace};

fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), to_json(v)))
                .collect(),
        ),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::String(s) => json!(s),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(r) => json!(r.parse::<f64>().unwrap()),
        Yaml::Boolean(b) => json!(b),
        _ => Value::Null,
    }
}

fn render(repo: &TestRepo, app: &str, stage: &str) -> Vec<Value> {
    let out = repo
        .run(["app", "render", app, "--stage", stage])
        .ok()
        .stdout
        .clone();
    YamlLoader::load_from_str(&out)
        .unwrap()
        .iter()
        .filter(|d| !d.is_null())
        .map(to_json)
        .collect()
}

/// Runs the upstream schemas over `objects`: Ok(report) or Err(report).
fn validate_gateway_api(objects: &[Value]) -> Result<String, String> {
    let modules = workspace().join("target/test-tools/node/node_modules");
    assert!(
        modules.join("@kubernetes-models/gateway-api").is_dir(),
        "{} lacks @kubernetes-models/gateway-api: run `bash .ci/tools.sh`",
        modules.display()
    );
    let mut child = Command::new("node")
        .arg(workspace().join("crates/stagecraft/tests/it/gateway-api-validate.cjs"))
        .env("NODE_PATH", &modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(objects).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(report)
    } else {
        Err(report)
    }
}

/// What `env` resolves DOMAIN to for an app in a stage.
fn domain(repo: &TestRepo, app: &str, stage: &str) -> String {
    let env = repo.run(["env", stage, "--app", app, "--json"]).ok().json();
    env["DOMAIN"].as_str().unwrap().to_owned()
}

#[test]
fn every_render_routes_its_hosts_through_the_stage_gateway() {
    let repo = with_real_helm();
    let gateways = [
        ("local", "stagecraft-gateway", "hmlet-local"),
        ("test", "stagecraft-gateway", "hmlet-test"),
        ("stage", "platform-gateway", "public"),
        ("prod", "stagecraft-gateway", "hmlet-prod"),
    ];
    let mut routes = Vec::new();
    for (stage, namespace, name) in gateways {
        for (app, release, host) in [
            ("photos", "photos-api", "api.photos"),
            ("frontend", "frontend", "photos"),
        ] {
            let objects = render(&repo, app, stage);
            assert!(
                !objects.iter().any(|o| o["kind"] == "Ingress"),
                "{app} in {stage}: an Ingress"
            );
            let route: Vec<&Value> = objects
                .iter()
                .filter(|o| o["kind"] == "HTTPRoute")
                .collect();
            assert_eq!(route.len(), 1, "{app} in {stage}");
            let route = route[0];
            assert_eq!(route["metadata"]["name"], release);
            assert_eq!(
                route["spec"]["hostnames"],
                json!([format!("{host}.{}", domain(&repo, app, stage))]),
                "{app} in {stage}"
            );
            assert_eq!(
                route["spec"]["parentRefs"],
                json!([{ "group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name, "namespace": namespace }]),
                "{app} in {stage}"
            );
            // To the release's Service, on its port.
            let service = objects
                .iter()
                .find(|o| o["kind"] == "Service" && o["metadata"]["name"] == release)
                .unwrap();
            assert_eq!(
                route["spec"]["rules"][0]["backendRefs"][0],
                json!({ "name": release, "port": service["spec"]["ports"][0]["port"] })
            );
            routes.push(route.clone());
        }
    }
    let report = validate_gateway_api(&routes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.matches("valid HTTPRoute/").count(), 8, "{report}");
    // The schema check can fail: a hostname with a port is refused.
    let mut broken = routes[0].clone();
    broken["spec"]["hostnames"] = json!(["api.photos.localtest.me:80"]);
    assert!(validate_gateway_api(&[broken]).is_err());
}

#[test]
fn a_remote_stage_can_keep_ingress_and_a_kind_stage_cannot() {
    let repo = with_real_helm();
    let cluster = "clusters/hmlet/cluster.toml";
    let text = repo.read(cluster);
    repo.write(
        cluster,
        &text.replace(
            "gateway = \"platform-gateway/public\"",
            "routing = \"ingress\"\ngateway = \"platform-gateway/public\"",
        ),
    );
    let objects = render(&repo, "photos", "stage");
    assert!(!objects.iter().any(|o| o["kind"] == "HTTPRoute"));
    let ingress = objects.iter().find(|o| o["kind"] == "Ingress").unwrap();
    assert_eq!(
        ingress["spec"]["rules"][0]["host"],
        "api.photos.stage.hmlet.example"
    );

    repo.write(
        cluster,
        &text.replace(
            "http_port = 80\n",
            "http_port = 80\nrouting = \"ingress\"\n",
        ),
    );
    let line = repo
        .read(cluster)
        .lines()
        .position(|l| l.starts_with("routing"))
        .unwrap()
        + 1;
    repo.run(["app", "render", "photos", "--stage", "local"])
        .fails()
        .stderr_has(&format!("{cluster}:{line}:"))
        .stderr_has("kind stages route with the Gateway API");
    repo.write(
        cluster,
        &text.replace(
            "gateway = \"platform-gateway/public\"",
            "gateway = \"public\"",
        ),
    );
    repo.run(["app", "render", "photos", "--stage", "stage"])
        .fails()
        .stderr_has("write the Gateway as `namespace/name`");
}

#[test]
fn the_gateway_bootstrap_applies_is_valid_gateway_api() {
    let f = fixture();
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "test"])
        .ok();
    let applied = fs::read_to_string(f.state.join("kubectl/kind-hmlet-test/gateway.json")).unwrap();
    let list: Value = serde_json::from_str(&applied).unwrap();
    let gateway = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "Gateway")
        .unwrap()
        .clone();
    let report = validate_gateway_api(&[gateway]).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.contains("valid Gateway/hmlet-test"), "{report}");
}

/// The addons are pinned from the start: a changed download is refused
/// before any change; an addon moved to a version without a sha256 is
/// pinned on first use (its chart repository's digest), never in CI.
#[test]
fn the_addons_are_verified_against_their_pins_and_a_changed_download_applies_nothing() {
    let f = fixture();
    let deps_before = f.repo.read("deps/deps.toml");
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "local"])
        .ok();
    assert_eq!(f.repo.read("deps/deps.toml"), deps_before, "nothing pinned");

    // Another machine, another copy on the mirror: refused before any change.
    fs::remove_dir_all(f.repo.root.join("deps/.cache/addons")).unwrap();
    let mut changed = crds();
    changed.extend_from_slice(b"# and something else\n");
    f.mirror.put(CRDS_PATH, changed);
    f.take_calls();
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "test"])
        .fails()
        .stderr_has("checksum mismatch for addons.gateway-api 1.4.0")
        .stderr_has(CRDS_OFFICIAL_SHA256)
        .stderr_has("nothing was applied");
    let calls = lines(&f.take_calls());
    assert_eq!(
        calls,
        ["docker info --format {{.ServerVersion}}"],
        "{calls:#?}"
    );

    // An addon without a sha256 (moved to another version): pinned on
    // first use from its repository's index, comments kept.
    let f = fixture();
    let unpinned = f
        .repo
        .read("deps/deps.toml")
        .replace(&format!("sha256 = \"{CHART_FIXTURE_SHA256}\"\n"), "");
    f.repo.write("deps/deps.toml", &unpinned);
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "local"])
        .ok()
        .stderr_has("pinned addons.traefik 37.3.0");
    let deps = f.repo.read("deps/deps.toml");
    assert!(
        deps.contains(&format!("sha256 = \"{CHART_FIXTURE_SHA256}\"")),
        "{deps}"
    );
    assert!(deps.contains("# The Gateway API CRDs, standard channel."));

    // CI never pins: a committed sha256 or nothing.
    let mut f2 = fixture();
    f2.repo.write("deps/deps.toml", &unpinned);
    f2.repo.env.insert("CI".into(), "true".into());
    f2.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "local"])
        .fails()
        .stderr_has("pins no sha256 for addons.traefik");
    assert!(
        lines(&f2.take_calls())
            .iter()
            .all(|l| !l.contains("apply") && !l.starts_with("kind create"))
    );
    f2.repo.env.remove("CI");
    f2.repo
        .run([
            "cluster",
            "bootstrap",
            "hmlet",
            "--stage",
            "local",
            "--locked",
        ])
        .fails()
        .stderr_has("pins no sha256 for addons.traefik");
    f2.repo
        .run(["up", "local", "--locked"])
        .fails()
        .stderr_has("pins no sha256 for addons.traefik");
}

/// A fresh clone bootstraps through a `file://` mirror of the team's
/// fixtures: the Gateway API CRDs verify against the committed official
/// pin, the Traefik package against the one this copy pins, and no file
/// git tracks under deps/ changes.
#[test]
fn a_fresh_clone_bootstraps_from_a_file_mirror_and_changes_no_tracked_file() {
    let mut f = fixture();
    assert_eq!(crate::deps::sha256(&crds()), CRDS_OFFICIAL_SHA256);
    assert!(f.repo.read("deps/deps.toml").contains(CRDS_OFFICIAL_SHA256));
    f.repo.env.insert(
        "XTASK_DEPS_MIRROR".into(),
        format!("file://{}", fixture_mirror().display()),
    );
    git(&f.repo, &["init", "-q"]);
    git(&f.repo, &["add", "-A"]);
    git(
        &f.repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "clone",
        ],
    );
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "local"])
        .ok()
        .stdout_has("+ gateway-api CRDs v1.4.0: applied and established")
        .stdout_has("+ traefik 37.3.0: installed and ready");
    let cached = f.repo.root.join("deps/.cache/addons");
    assert_eq!(
        crate::deps::sha256(
            &fs::read(cached.join("gateway-api-1.4.0-standard-install.yaml")).unwrap()
        ),
        CRDS_OFFICIAL_SHA256
    );
    assert_eq!(
        crate::deps::sha256(&fs::read(cached.join("traefik-37.3.0-traefik-37.3.0.tgz")).unwrap()),
        CHART_FIXTURE_SHA256
    );
    let status = git(&f.repo, &["status", "--porcelain"]);
    assert_eq!(
        status, "",
        "a tracked file changed, or an unignored one appeared"
    );
    // `deps check` verifies the addons' pins too.
    f.repo
        .run(["deps", "check", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "addons.gateway-api")
        .map(|t| assert_eq!(t["status"]["status"], "up-to-date", "{t}"))
        .expect("deps check lists the addons");
}
