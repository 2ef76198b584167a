//! HTTPS on kind stages and Traefik's entry points, against real parts:
//! the certificate bootstrap puts in the stage's TLS Secret, read by real
//! openssl against every hostname real helm renders into the HTTPRoutes;
//! the values bootstrap gives Traefik, rendered with the real chart 37.3.0
//! (the team's fixture) by real helm, for every kind stage of the example
//! and for stages on ports the chart's own entry points use.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use yaml_rust2::YamlLoader;

use crate::apps::{git, stdin_values, with_real_helm};
use crate::cluster::{Fixture, fixture};
use crate::support::{TestRepo, test_tool};

fn openssl(args: &[&str], input: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .arg("-in")
        .arg(input)
        .output()
        .expect("openssl is installed (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The hostnames real helm renders into the HTTPRoutes of every app of
/// the example in `stage`.
fn routed_hosts(stage: &str) -> BTreeSet<String> {
    let repo = with_real_helm();
    let mut hosts = BTreeSet::new();
    for app in ["photos", "frontend"] {
        let out = repo
            .run(["app", "render", app, "--stage", stage])
            .ok()
            .stdout
            .clone();
        for doc in YamlLoader::load_from_str(&out).unwrap() {
            if doc["kind"].as_str() == Some("HTTPRoute") {
                for host in doc["spec"]["hostnames"].as_vec().unwrap() {
                    hosts.insert(host.as_str().unwrap().to_owned());
                }
            }
        }
    }
    assert!(hosts.len() >= 2, "{hosts:?}");
    hosts
}

/// The stage's TLS Secret as bootstrap applied it: the call's line and
/// the Secret.
fn applied_tls_secret(stdin: &[(String, String)]) -> Option<(String, Value)> {
    stdin.iter().find_map(|(line, body)| {
        let list: Value = serde_json::from_str(body).ok()?;
        let secret = list["items"]
            .as_array()?
            .iter()
            .find(|i| i["type"] == "kubernetes.io/tls")?
            .clone();
        Some((line.clone(), secret))
    })
}

fn gateway_of(f: &Fixture, stage: &str) -> Value {
    let text = fs::read_to_string(
        f.state
            .join(format!("kubectl/kind-hmlet-{stage}/gateway.json")),
    )
    .unwrap();
    let list: Value = serde_json::from_str(&text).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "Gateway")
        .unwrap()
        .clone()
}

/// Bootstrap gives the stage's Gateway an HTTPS listener on 443 with a
/// certificate of the repository's local CA, applied through stdin,
/// covering every host the stage's HTTPRoutes route; the key is never on
/// an argv, a log line or the screen; it is issued again when a host is
/// added or its end nears, and not otherwise.
#[test]
fn bootstrap_serves_https_with_a_certificate_of_the_local_ca_for_every_host() {
    let f = fixture();
    git(&f.repo, &["init", "-q"]);
    let first = f
        .repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "test"]);
    first
        .ok()
        .stdout_has("+ tls stagecraft-gateway/hmlet-test-tls: issued for");
    let stdin = f.take_stdin();
    let (line, secret) = applied_tls_secret(&stdin).expect("the TLS Secret came on stdin");
    assert!(
        line.contains("kubectl") && line.contains("--filename=-"),
        "{line}"
    );
    assert_eq!(secret["metadata"]["name"], "hmlet-test-tls");
    assert_eq!(secret["metadata"]["namespace"], "stagecraft-gateway");
    let cert = secret["stringData"]["tls.crt"].as_str().unwrap();
    let key = secret["stringData"]["tls.key"].as_str().unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));

    // The HTTPS listener on 443 uses it.
    let gateway = gateway_of(&f, "test");
    let https = gateway["spec"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["protocol"] == "HTTPS")
        .expect("an HTTPS listener")
        .clone();
    assert_eq!(https["port"], 443);
    assert_eq!(https["tls"]["certificateRefs"][0]["name"], "hmlet-test-tls");

    // openssl: the leaf covers every routed host and chains to the CA.
    let work = f.repo.tmp.join("tls");
    fs::create_dir_all(&work).unwrap();
    let leaf_pem = &cert[..cert.find("-----END CERTIFICATE-----").unwrap() + 26];
    let leaf = work.join("leaf.pem");
    fs::write(&leaf, leaf_pem).unwrap();
    let sans = openssl(&["x509", "-noout", "-ext", "subjectAltName"], &leaf);
    for host in routed_hosts("test") {
        assert!(
            sans.contains(&format!("DNS:{host}")),
            "{host} not in {sans}"
        );
    }
    let ca = f.repo.root.join("deps/ca/ca.crt");
    let verified = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&ca)
        .arg(&leaf)
        .output()
        .unwrap();
    assert!(verified.status.success(), "{verified:?}");
    let text = openssl(&["x509", "-noout", "-text"], &leaf);
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(
        Command::new("openssl")
            .args(["x509", "-noout", "-checkend", "2592000", "-in"])
            .arg(&leaf)
            .output()
            .unwrap()
            .status
            .success(),
        "valid for more than 30 days"
    );

    // The CA's key: private, git-ignored, never shown.
    let ca_key = f.repo.root.join("deps/ca/ca.key");
    assert_eq!(
        fs::metadata(&ca_key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    git(&f.repo, &["check-ignore", "-q", "deps/ca/ca.key"]);
    let ca_key_text = fs::read_to_string(&ca_key).unwrap();
    let body_line = |pem: &str| pem.lines().nth(1).unwrap().to_owned();
    let logs = format!(
        "{}\n{}\n{}\n{}",
        fs::read_to_string(f.state.parent().unwrap().join("fake.log")).unwrap_or_default(),
        f.take_env(),
        first.stdout,
        first.stderr
    );
    for needle in ["PRIVATE KEY", &body_line(key), &body_line(&ca_key_text)] {
        assert!(
            !logs.contains(needle),
            "{needle:?} on an argv, a log line or the screen"
        );
    }

    // A second bootstrap issues nothing: the same hosts, far from its end.
    f.take_calls();
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "test"])
        .ok()
        .stdout_has("✔ tls stagecraft-gateway/hmlet-test-tls: a certificate for");
    assert!(applied_tls_secret(&f.take_stdin()).is_none());

    // A host added: issued again, covering it.
    let app = "clusters/hmlet/apps/frontend/app.toml";
    f.repo.write(
        app,
        &f.repo.read(app).replace(
            "hosts = [\"photos.${DOMAIN}\"]",
            "hosts = [\"photos.${DOMAIN}\", \"www.${DOMAIN}\"]",
        ),
    );
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "test"])
        .ok()
        .stdout_has("www.test.localtest.me");
    let (_, renewed) = applied_tls_secret(&f.take_stdin()).expect("issued again");
    fs::write(&leaf, renewed["stringData"]["tls.crt"].as_str().unwrap()).unwrap();
    assert!(
        openssl(&["x509", "-noout", "-ext", "subjectAltName"], &leaf)
            .contains("DNS:www.test.localtest.me")
    );

    // Its end within a month: issued again.
    let record = f.state.join("kubectl/kind-hmlet-test/tls-hmlet-test-tls");
    let fields: Vec<String> = fs::read_to_string(&record)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 86_400;
    fs::write(&record, format!("{} {} {soon}\n", fields[0], fields[1])).unwrap();
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "test"])
        .ok()
        .stdout_has("+ tls stagecraft-gateway/hmlet-test-tls: issued for");

    // A dry run shows where the key goes, never a key.
    let dry = f.repo.run([
        "cluster",
        "bootstrap",
        "hmlet",
        "--stage",
        "test",
        "--dry-run",
    ]);
    dry.ok().stdout_has("\"tls.key\": \"***\"");
    assert!(!dry.stdout.contains("PRIVATE KEY"));
}

/// `cluster trust` names the CA, its fingerprint and, per system, the
/// commands that trust it; the CA is made when missing, once.
#[test]
fn cluster_trust_says_how_to_trust_the_local_ca() {
    let repo = TestRepo::example();
    let trust = repo.run(["cluster", "trust", "--json"]).ok().json();
    let ca = repo.root.join("deps/ca/ca.crt");
    assert_eq!(trust["ca_cert"], ca.display().to_string());
    let fingerprint = openssl(&["x509", "-noout", "-fingerprint", "-sha256"], &ca);
    assert!(
        fingerprint.contains(trust["fingerprint_sha256"].as_str().unwrap()),
        "{fingerprint} {trust}"
    );
    let text = repo.run(["cluster", "trust"]).ok().stdout.clone();
    for needle in [
        "update-ca-certificates",
        "security add-trusted-cert",
        "certutil",
        "--cacert",
        &ca.display().to_string(),
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert_eq!(
        trust,
        repo.run(["cluster", "trust", "--json"]).ok().json(),
        "made once"
    );
}

/// Entry points in a `helm template` of the chart: name -> port, and the
/// container's hostPorts by port name.
fn entry_points(manifests: &str) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let deployment = YamlLoader::load_from_str(manifests)
        .unwrap()
        .into_iter()
        .find(|d| d["kind"].as_str() == Some("Deployment"))
        .expect("a Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mut entry = BTreeMap::new();
    for arg in container["args"].as_vec().unwrap() {
        let arg = arg.as_str().unwrap();
        if let Some(rest) = arg.strip_prefix("--entryPoints.")
            && let Some((name, address)) = rest.split_once(".address=")
        {
            let port = address.trim_start_matches(':').split('/').next().unwrap();
            entry.insert(name.to_owned(), port.parse().unwrap());
        }
    }
    let mut host_ports = BTreeMap::new();
    for port in container["ports"].as_vec().unwrap() {
        if let Some(host) = port["hostPort"].as_i64() {
            host_ports.insert(port["name"].as_str().unwrap().to_owned(), host as u64);
        }
    }
    (entry, host_ports)
}

/// For the example's kind stages and for stages on the ports of the
/// chart's own entry points (9100 is `metrics`, 8000 `web` by default),
/// the values bootstrap gives Traefik pass the real chart's schema
/// (`helm template` of the fixture 37.3.0), no two entry points share a
/// port, the stage's ports are the hostPorts of `web` and `websecure`, and
/// every listener of the stage's Gateway is an entry point. A stage whose
/// ports another kind stage has, or whose two ports are one, is refused at
/// its line.
#[test]
fn traefik_entry_points_never_share_a_port_with_the_real_chart() {
    let f = fixture();
    let cluster_toml = "clusters/hmlet/cluster.toml";
    let test = f.repo.read("envs/test.toml");
    for (stage, http, https) in [("edge", 9000, 9100), ("edge2", 8000, 9443)] {
        f.repo.write(&format!("envs/{stage}.toml"), &test);
        let text = f.repo.read(cluster_toml);
        f.repo.write(
            cluster_toml,
            &format!("{text}\n[stages.{stage}]\nhttp_port = {http}\nhttps_port = {https}\n"),
        );
    }
    let helm = test_tool("helm");
    let chart = f
        .repo
        .root
        .join("deps/.cache/addons/traefik-37.3.0-traefik-37.3.0.tgz");
    for (stage, http, https) in [
        ("local", 80, 443),
        ("test", 8080, 8443),
        ("edge", 9000, 9100),
        ("edge2", 8000, 9443),
    ] {
        f.repo
            .run(["cluster", "bootstrap", "hmlet", "--stage", stage])
            .ok();
        let values = stdin_values(&f.take_stdin(), "traefik");
        let file = f.repo.tmp.join(format!("traefik-{stage}.json"));
        fs::write(&file, values.to_string()).unwrap();
        let out = Command::new(&helm)
            .args(["template", "traefik"])
            .arg(&chart)
            .args(["--namespace", "traefik", "-f"])
            .arg(&file)
            .env("HOME", &f.repo.home)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{stage}: the chart refused the values: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (entry, host_ports) = entry_points(&String::from_utf8_lossy(&out.stdout));
        let ports: BTreeSet<u64> = entry.values().copied().collect();
        assert_eq!(
            ports.len(),
            entry.len(),
            "{stage}: two entry points on one port: {entry:?}"
        );
        assert!(
            entry.contains_key("traefik") && entry.contains_key("metrics"),
            "{entry:?}"
        );
        assert_eq!(
            host_ports.get("web"),
            Some(&http),
            "{stage}: {host_ports:?}"
        );
        assert_eq!(
            host_ports.get("websecure"),
            Some(&https),
            "{stage}: {host_ports:?}"
        );
        for listener in gateway_of(&f, stage)["spec"]["listeners"]
            .as_array()
            .unwrap()
        {
            let port = listener["port"].as_u64().unwrap();
            assert!(
                ports.contains(&port),
                "{stage}: listener {} on {port}, which no entry point has: {entry:?}",
                listener["name"]
            );
        }
    }

    // Refused at the line, before anything runs.
    let text = f.repo.read(cluster_toml);
    for (stage, http, https, why) in [
        ("edge3", 9200, 9200, "is its http_port too"),
        ("edge4", 9300, 8443, "is also a port of hmlet-test"),
    ] {
        f.repo.write(&format!("envs/{stage}.toml"), &test);
        let with = format!("{text}\n[stages.{stage}]\nhttp_port = {http}\nhttps_port = {https}\n");
        f.repo.write(cluster_toml, &with);
        let line = with.lines().count();
        f.take_calls();
        f.repo
            .run(["cluster", "bootstrap", "hmlet", "--stage", stage])
            .fails()
            .stderr_has(&format!("{cluster_toml}:{line}:"))
            .stderr_has(why);
        assert!(f.take_calls().is_empty(), "{stage}: something ran");
        fs::remove_file(f.repo.root.join(format!("envs/{stage}.toml"))).unwrap();
        f.repo.write(cluster_toml, &text);
    }
}
