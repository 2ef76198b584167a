//! Releases Stagecraft applies itself (a kustomization, plain manifests),
//! against the fakes: applied server-side with the stage's own kubeconfig
//! and context, an object removed from the folder pruned on the next
//! deploy, an unchanged release left alone, and delete removing all.

use std::fs;
use std::path::PathBuf;

use crate::adopt::shop;
use crate::cluster::{Fixture, fixture_of};
use crate::support::kubeconfig;

/// The adopted shop with its kind clusters up (as the fakes answer).
fn shop_up() -> Fixture {
    let repo = shop();
    repo.run(["init", "repo", "--cluster", "shop"]).ok();
    let f = fixture_of(repo);
    fs::create_dir_all(f.state.join("kind")).unwrap();
    for stage in ["local", "test"] {
        fs::write(
            f.state.join(format!("kind/cluster-shop-{stage}")),
            "healthy\n",
        )
        .unwrap();
        f.repo.write(
            &format!("deps/kube/shop-{stage}.yaml"),
            &kubeconfig(&format!("kind-shop-{stage}"), "https://127.0.0.1:6443"),
        );
    }
    f
}

/// The objects the fake cluster of `context` keeps in `namespace`.
fn objects(f: &Fixture, context: &str, namespace: &str) -> Vec<String> {
    let dir: PathBuf = f
        .state
        .join("kubectl")
        .join(context)
        .join("objects")
        .join(namespace);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .trim_end_matches(".json")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn inventory(f: &Fixture, namespace: &str, release: &str) -> serde_json::Value {
    let path = f
        .state
        .join("kubectl/kind-shop-local/objects")
        .join(namespace)
        .join(format!("ConfigMap.{release}-stagecraft-inventory.json"));
    serde_json::from_str(
        &fs::read_to_string(&path).unwrap_or_else(|_| panic!("no {}", path.display())),
    )
    .unwrap()
}

#[test]
fn manifests_are_applied_server_side_pruned_and_deleted() {
    let f = shop_up();
    let ns = "kubernetes-manifests";
    let deploy = || {
        f.repo.run([
            "app",
            "deploy",
            "kubernetes-manifests",
            "--stage",
            "local",
            "--cluster",
            "shop",
            "--allow-dirty",
        ])
    };
    deploy().ok().stdout_has("deployed");
    let view = f.repo.root.join("deps/kube/views/shop-local.yaml");
    let calls = f.take_calls();
    let apply = calls
        .iter()
        .find(|c| {
            c.tool == "kubectl"
                && c.args.contains(&"--namespace".to_owned())
                && c.args.iter().any(|a| a == "--filename=-")
                && c.args.contains(&"apply".to_owned())
                && c.args.contains(&ns.to_owned())
        })
        .unwrap_or_else(|| panic!("no apply: {calls:#?}"));
    // The stage's own kubeconfig and context, on argv and in KUBECONFIG.
    assert_eq!(apply.kubeconfig, view.display().to_string());
    assert_eq!(
        apply.args[..4],
        [
            "--kubeconfig".to_owned(),
            view.display().to_string(),
            "--context".to_owned(),
            "kind-shop-local".to_owned()
        ]
    );
    assert!(
        apply.args.contains(&"--server-side".to_owned())
            && apply
                .args
                .contains(&"--field-manager=stagecraft".to_owned())
    );
    // Every object of the folder, and the inventory of them.
    let kept = objects(&f, "kind-shop-local", ns);
    for name in [
        "Deployment.frontend",
        "Service.frontend",
        "Deployment.loadgenerator",
        "Deployment.redis-cart",
        "ConfigMap.kubernetes-manifests-stagecraft-inventory",
    ] {
        assert!(
            kept.contains(&name.to_owned()),
            "{name} not applied: {kept:?}"
        );
    }
    let listed = inventory(&f, ns, "kubernetes-manifests");
    assert_eq!(
        listed["metadata"]["annotations"]["stagecraft.dev/revision"],
        "1"
    );
    // The images are the stage's builds.
    let frontend: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(
            f.state
                .join("kubectl/kind-shop-local/objects")
                .join(ns)
                .join("Deployment.frontend.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let image = frontend["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(image.starts_with("localhost:5001/frontend:"), "{image}");

    // Unchanged: nothing applied.
    deploy().ok().stdout_has("unchanged");
    assert!(
        !f.take_calls()
            .iter()
            .any(|c| c.args.contains(&"apply".to_owned())),
        "an unchanged release was applied"
    );

    // An object removed from the folder is pruned by the next deploy.
    fs::remove_file(f.repo.root.join("kubernetes-manifests/loadgenerator.yaml")).unwrap();
    let diff = f.repo.run([
        "app",
        "diff",
        "kubernetes-manifests",
        "--stage",
        "local",
        "--cluster",
        "shop",
    ]);
    diff.ok()
        .stdout_has("- deployment.apps/loadgenerator (pruned by the next deploy)");
    deploy().ok().stdout_has("deployed");
    let kept = objects(&f, "kind-shop-local", ns);
    assert!(
        !kept.contains(&"Deployment.loadgenerator".to_owned()),
        "{kept:?}"
    );
    assert!(kept.contains(&"Deployment.frontend".to_owned()), "{kept:?}");
    assert_eq!(
        inventory(&f, ns, "kubernetes-manifests")["metadata"]["annotations"]["stagecraft.dev/revision"],
        "2"
    );
    let status = f
        .repo
        .run([
            "app",
            "status",
            "kubernetes-manifests",
            "--stage",
            "local",
            "--cluster",
            "shop",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(status[0]["status"], "deployed");
    assert_eq!(status[0]["revision"], 2);
    assert_eq!(status[0]["source"], "7 manifest file(s)");

    // Delete removes everything, the inventory last.
    f.repo
        .run([
            "app",
            "delete",
            "kubernetes-manifests",
            "--stage",
            "local",
            "--cluster",
            "shop",
        ])
        .ok()
        .stdout_has("removed");
    assert_eq!(objects(&f, "kind-shop-local", ns), Vec::<String>::new());
    let status = f
        .repo
        .run([
            "app",
            "status",
            "kubernetes-manifests",
            "--stage",
            "local",
            "--cluster",
            "shop",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(status[0]["status"], "not installed");
}

#[test]
fn a_kustomization_deploys_when_on_and_is_refused_when_off() {
    let f = shop_up();
    f.repo
        .run([
            "app",
            "deploy",
            "kustomize",
            "--stage",
            "local",
            "--cluster",
            "shop",
        ])
        .fails()
        .stderr_has("app kustomize is off in stage local");
    assert!(f.take_calls().is_empty(), "a refused deploy ran something");
    // On for local only.
    let path = "clusters/shop/apps/kustomize/app.toml";
    let text = f.repo.read(path);
    f.repo
        .write(path, &format!("{text}\n[stages.local]\nenabled = true\n"));
    let listing = f.repo.run(["list", "--json"]).ok().json();
    let app = listing["clusters"][0]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "kustomize")
        .unwrap()
        .clone();
    assert_eq!(app["off_in"], serde_json::json!(["test", "stage", "prod"]));
    f.repo
        .run([
            "app",
            "deploy",
            "kustomize",
            "--stage",
            "local",
            "--cluster",
            "shop",
            "--allow-dirty",
        ])
        .ok()
        .stdout_has("deployed");
    // Rendered by the real kubectl (the component dropped loadgenerator),
    // the images rewritten to the stage's builds.
    let kept = objects(&f, "kind-shop-local", "kustomize");
    assert!(
        kept.contains(&"Deployment.checkoutservice".to_owned()),
        "{kept:?}"
    );
    assert!(
        !kept.contains(&"Deployment.loadgenerator".to_owned()),
        "{kept:?}"
    );
    let checkout = fs::read_to_string(
        f.state
            .join("kubectl/kind-shop-local/objects/kustomize/Deployment.checkoutservice.json"),
    )
    .unwrap();
    assert!(
        checkout.contains("\"image\": \"localhost:5001/checkoutservice:"),
        "{checkout}"
    );
    assert!(!checkout.contains("us-docker.pkg.dev"), "{checkout}");
}

#[test]
fn logs_and_port_forward_find_a_foreign_charts_pods_by_its_own_selector() {
    let f = shop_up();
    let app = |args: &[&str]| {
        let mut all = vec!["app"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[
            "kubernetes-manifests",
            "--stage",
            "local",
            "--cluster",
            "shop",
        ]);
        f.repo.run(all)
    };
    app(&["deploy", "--allow-dirty"]).ok();
    f.take_calls();
    // Several workloads: which one is asked for, the names given.
    app(&["logs"])
        .fails()
        .stderr_has("--workload")
        .stderr_has("frontend");
    app(&["logs", "--workload", "frontend"]).ok();
    let calls = f.take_calls();
    let logs = calls
        .iter()
        .find(|c| c.args.contains(&"logs".to_owned()))
        .unwrap_or_else(|| panic!("no logs: {calls:#?}"));
    // The manifests label their pods `app: frontend`, not Stagecraft's labels.
    assert!(
        logs.args.contains(&"--selector=app=frontend".to_owned()),
        "{:?}",
        logs.args
    );
    assert!(
        logs.args
            .windows(2)
            .any(|w| w == ["--namespace", "kubernetes-manifests"]),
        "{:?}",
        logs.args
    );
    // A port-forward reaches the Service that selects those pods, on its port.
    let mut all = vec!["app", "port-forward", "kubernetes-manifests", "18080"];
    all.extend_from_slice(&[
        "--workload",
        "frontend",
        "--stage",
        "local",
        "--cluster",
        "shop",
    ]);
    f.repo.run(all).ok();
    let calls = f.take_calls();
    let forward = calls
        .iter()
        .find(|c| c.args.contains(&"port-forward".to_owned()))
        .unwrap_or_else(|| panic!("no port-forward: {calls:#?}"));
    let tail: Vec<&str> = forward.args.iter().map(String::as_str).collect();
    assert_eq!(
        tail[4..],
        [
            "port-forward",
            "service/frontend",
            "18080:http",
            "--namespace",
            "kubernetes-manifests"
        ]
    );
}
