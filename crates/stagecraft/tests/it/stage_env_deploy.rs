//! What a deploy hands the cluster from the stage environment: Secrets through stdin, unchanged releases skipped, `--keep-going`, `--with-needs`, values templates and `app values --explain`, the example's API and Dockerfiles.

use crate::apps::{app_fixture, stdin_values, with_real_helm};
use crate::stage_env::{APPS, DEV_DB_PASSWORD, deploy, render, upgraded};
use crate::support::{STAGE_DB_PASSWORD, workspace};
use std::fs;
use std::process::Command;

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
        .filter(|body| body.contains("\"Secret\""))
        .collect();
    assert_eq!(applied.len(), 2, "{applied:#?}");
    // The records of what each release was deployed from hold no value.
    for (_, body) in stdin
        .iter()
        .filter(|(_, b)| b.contains("stagecraft-inputs"))
    {
        assert!(!body.contains(STAGE_DB_PASSWORD), "{body}");
    }
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
        crate::deps::sha256(&bytes)
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
