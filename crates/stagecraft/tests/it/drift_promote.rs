//! Drift and promotion, against the fakes: fake kubectl answers the live
//! objects (what fake helm's deploy left in its store) and the pods with
//! their image digests; fake helm keeps the release records.

use std::fs;
use std::process::Command;

use crate::apps::app_fixture;

#[test]
fn drift_names_a_changed_replica_count_and_exits_1() {
    let f = app_fixture();
    f.repo
        .run(["app", "deploy", "photos", "--stage", "local"])
        .ok();
    f.repo
        .run(["app", "drift", "photos", "--stage", "local"])
        .ok()
        .stdout_has("photos/photos-api: in sync");
    // Someone scales it by hand.
    let live = f
        .state
        .join("kubectl/kind-hmlet-local/objects/photos/Deployment.photos-api.json");
    let mut object: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&live).unwrap()).unwrap();
    object["spec"]["replicas"] = 3.into();
    // What the cluster adds is not drift.
    object["status"] = serde_json::json!({ "readyReplicas": 3 });
    object["metadata"]["uid"] = "0f00".into();
    fs::write(&live, object.to_string()).unwrap();
    let run = f.repo.run(["app", "drift", "photos", "--stage", "local"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    run.stdout_has("photos/photos-api: drifted")
        .stdout_has("Deployment/photos-api spec.replicas: applied 1, live 3")
        .stdout_has("photos/redis: in sync");
    let json = f
        .repo
        .run(["app", "drift", "photos", "--stage", "local", "--json"]);
    assert_eq!(json.code, Some(1));
    let drifts = json.json();
    let api = drifts
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["release"] == "photos/photos-api")
        .unwrap();
    assert_eq!(api["objects"][0]["fields"][0]["path"], "spec.replicas");
    // status flags it.
    let status = f
        .repo
        .run(["app", "status", "photos", "--stage", "local", "--json"])
        .ok()
        .json();
    let row = status
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["release"] == "photos-api")
        .unwrap();
    assert_eq!(row["drift"], true);
    f.repo
        .run(["app", "status", "photos", "--stage", "local"])
        .ok()
        .stdout_has("drifted (app drift)");
    // A deleted object is drift too.
    fs::remove_file(&live).unwrap();
    f.repo
        .run(["app", "drift", "photos", "--stage", "local"])
        .stdout_has("Deployment/photos-api (namespace photos): gone");
}

#[test]
fn promote_deploys_the_source_stages_digests_and_builds_nothing() {
    let f = app_fixture();
    f.repo
        .run(["app", "deploy", "photos", "--stage", "test"])
        .ok();
    let running = "localhost:5001/photos-api:3f2a1c9d8e7b6a50";
    fs::write(f.state.join("pod-image-photos-api"), running).unwrap();
    f.take_calls();
    f.take_stdin();
    let run = f.repo.run([
        "app", "promote", "photos", "--from", "test", "--to", "stage",
    ]);
    run.ok();
    let calls = f.take_calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.tool == "docker" && c.args[0] == "build"),
        "promote built: {calls:#?}"
    );
    // The digest the runtime reports for the running image (the fake's:
    // sha256 of the reference).
    let digest = {
        use std::io::Write;
        let mut child = Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(running.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap()[..64].to_owned()
    };
    // stage pulls from its own registry: copied there by digest, not rebuilt.
    let copy = calls
        .iter()
        .find(|c| c.tool == "docker" && c.args.starts_with(&["buildx".into(), "imagetools".into()]))
        .unwrap_or_else(|| panic!("no copy: {calls:#?}"));
    assert_eq!(
        copy.args,
        [
            "buildx",
            "imagetools",
            "create",
            "--tag",
            "registry.hmlet.example/stage/photos-api:3f2a1c9d8e7b6a50",
            &format!("localhost:5001/photos-api@sha256:{digest}"),
        ]
    );
    // And stage runs exactly that digest.
    let stdin = f.take_stdin();
    let upgrade = stdin
        .iter()
        .find(|(line, _)| {
            line.starts_with("helm\t") && line.contains("upgrade\t--install\tphotos-api")
        })
        .unwrap_or_else(|| panic!("no upgrade of photos-api: {stdin:#?}"));
    assert!(
        upgrade
            .1
            .contains(&format!("3f2a1c9d8e7b6a50@sha256:{digest}")),
        "{}",
        upgrade.1
    );
    run.stdout_has("not rebuilt");

    // An unhealthy source is refused before anything is deployed.
    fs::write(f.state.join("crashloop-photos-api"), "").unwrap();
    f.take_calls();
    f.repo
        .run([
            "app", "promote", "photos", "--from", "test", "--to", "stage",
        ])
        .fails()
        .stderr_has("is not ready: promote takes what runs in a healthy stage");
    assert!(
        !f.take_calls()
            .iter()
            .any(|c| c.tool == "helm" && c.args[0] == "upgrade"),
        "an unhealthy promote deployed"
    );
    // A protected target is confirmed before the first step.
    fs::remove_file(f.state.join("crashloop-photos-api")).unwrap();
    f.repo
        .run(["app", "promote", "photos", "--from", "test", "--to", "prod"])
        .fails()
        .stderr_has("prod");
    assert_eq!(f.take_calls().len(), 0, "it ran something before asking");
}
