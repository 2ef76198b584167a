//! Bring your own repository: `init repo` adopts a repository laid out as
//! public multi-service repositories are (tests/it/fixtures/shop: one Helm
//! chart building image references from `images.repository`, a per-service
//! name and `images.tag`; a kustomize base with a component; plain
//! manifests with bare image names; a skaffold.yaml whose artifacts'
//! contexts are not the manifests' folder; a Dockerfile per service under
//! src/). Nothing tracked changes; every app renders for every stage, valid
//! for Kubernetes, each Deployment of a built service on the stage's build.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use crate::stage_env::{STAGES, documents, kind_node_version, validate};
use crate::support::{TestRepo, test_tool};

/// The fixture, committed, in a git repository of its own.
pub fn shop() -> TestRepo {
    let mut repo = TestRepo::of_fixture("shop");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "the shop"]);
    // The real helm (post-renderer included) and kubectl (kustomize).
    repo.extra_path
        .push(test_tool("helm").parent().unwrap().to_owned());
    repo
}

pub fn git(repo: &TestRepo, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.email=dev@example.com", "-c", "user.name=dev"])
        .args(args)
        .current_dir(&repo.root)
        .env("HOME", &repo.home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The seven images of the shop that something deploys.
const BUILT: [&str; 7] = [
    "cartservice",
    "checkoutservice",
    "currencyservice",
    "emailservice",
    "frontend",
    "loadgenerator",
    "productcatalogservice",
];

#[test]
fn init_repo_adopts_the_shop_and_changes_no_tracked_file() {
    let repo = shop();
    let plan = repo.run(["init", "repo", "--cluster", "shop", "--dry-run"]);
    plan.ok()
        .stdout_has("# clusters/shop/apps/kubernetes-manifests/app.toml");
    assert_eq!(
        git(&repo, &["status", "--porcelain"]),
        "",
        "a dry run wrote files"
    );

    let run = repo.run(["init", "repo", "--cluster", "shop"]);
    run.ok()
        .stdout_has("<- manifests kubernetes-manifests (images cartservice, checkoutservice, currencyservice, emailservice, frontend, productcatalogservice, loadgenerator); on\n")
        .stdout_has("<- Helm chart helm-chart (images cartservice,")
        .stdout_has("off: it deploys the same images as app kubernetes-manifests")
        .stdout_has("<- kustomization kustomize (images cartservice,")
        .stdout_has("src/shoppingassistant/Dockerfile: image shoppingassistant: no chart, kustomization or manifest names it")
        .stdout_has("skaffold.yaml: skaffold profiles");
    // Nothing tracked changed; what is new is Stagecraft's own.
    let diff = Command::new("git")
        .args(["diff", "--quiet"])
        .current_dir(&repo.root)
        .status()
        .unwrap();
    assert!(diff.success(), "init repo changed a tracked file");
    let status = git(&repo, &["status", "--porcelain", "--untracked-files=all"]);
    for line in status.lines() {
        let path = line.trim_start_matches("?? ");
        assert!(line.starts_with("?? "), "{line}");
        assert!(
            ["shell.toml", "envs/", "clusters/shop/", "deps/"]
                .iter()
                .any(|p| path.starts_with(p)),
            "{path}"
        );
    }
    // Again: refused, nothing changed.
    repo.run(["init", "repo"])
        .fails()
        .stderr_has("is a Stagecraft repository already (shell.toml): nothing was changed");

    // list --json shows the apps, where they are and where they are off.
    let listing = repo.run(["list", "--json"]).ok().json();
    let apps: BTreeMap<String, serde_json::Value> = listing["clusters"][0]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap().to_owned(), a.clone()))
        .collect();
    assert_eq!(
        apps.keys().collect::<Vec<_>>(),
        ["helm-chart", "kubernetes-manifests", "kustomize"]
    );
    assert_eq!(
        apps["kubernetes-manifests"]["dir"],
        "clusters/shop/apps/kubernetes-manifests"
    );
    assert_eq!(
        apps["kubernetes-manifests"]["off_in"],
        serde_json::json!([])
    );
    assert_eq!(apps["helm-chart"]["off_in"].as_array().unwrap().len(), 4);
}

#[test]
fn every_app_of_the_adopted_shop_renders_valid_with_the_stages_builds() {
    let repo = shop();
    repo.run(["init", "repo", "--cluster", "shop"]).ok();
    let version = kind_node_version();
    let dir = tempfile::tempdir().unwrap();
    for app in ["kubernetes-manifests", "helm-chart", "kustomize"] {
        for stage in STAGES {
            let run = repo.run(["app", "render", app, "--stage", stage, "--cluster", "shop"]);
            let stream = run.ok().stdout.clone();
            let file = dir.path().join(format!("{app}-{stage}.yaml"));
            fs::write(&file, &stream).unwrap();
            let out = validate(&version, &file);
            let report = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{app} in {stage}:\n{report}");
            let registry = match stage {
                "local" | "test" => "localhost:5001".to_owned(),
                _ => format!("registry.example.com/shop/{stage}"),
            };
            let mut seen = Vec::new();
            for doc in documents(&stream) {
                if doc["kind"].as_str() != Some("Deployment") {
                    continue;
                }
                let name = doc["metadata"]["name"].as_str().unwrap().to_owned();
                let image = doc["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                if name == "redis-cart" {
                    assert_eq!(
                        image, "redis:alpine",
                        "{app} {stage}: a third party's image stays"
                    );
                    continue;
                }
                // The built reference: this stage's registry, the image, the tag.
                let prefix = format!("{registry}/{name}:");
                assert!(
                    image.starts_with(&prefix),
                    "{app} {stage}: {name} runs {image}"
                );
                seen.push(name);
            }
            let expected: Vec<&str> = BUILT
                .iter()
                .copied()
                .filter(|n| !(app == "kustomize" && *n == "loadgenerator"))
                .collect();
            seen.sort();
            assert_eq!(seen, expected, "{app} in {stage}");
        }
    }
}

#[test]
fn up_local_dry_run_builds_each_dockerfile_once_and_deploys_the_app_that_is_on() {
    let repo = shop();
    repo.run(["init", "repo", "--cluster", "shop"]).ok();
    let f = crate::cluster::fixture_of(repo);
    let plan = f.repo.run(["up", "local", "--dry-run"]);
    plan.ok();
    let builds: Vec<&str> = plan
        .stdout
        .lines()
        .filter(|l| l.contains("/docker build "))
        .collect();
    assert_eq!(builds.len(), BUILT.len(), "{}", plan.stdout);
    for name in BUILT {
        let context = match name {
            "cartservice" => "src/cartservice/src".to_owned(),
            other => format!("src/{other}"),
        };
        let dockerfile = f.repo.root.join(&context).join("Dockerfile");
        let lines: Vec<&&str> = builds
            .iter()
            .filter(|l| l.contains(&format!(" --file {} ", dockerfile.display())))
            .collect();
        assert_eq!(lines.len(), 1, "{name}: {builds:#?}");
        assert!(
            lines[0].contains(&format!("--tag localhost:5001/{name}:")),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].ends_with(&format!(" {}", f.repo.root.join(&context).display())),
            "{}",
            lines[0]
        );
    }
    // The manifests app is applied server-side; the others are off.
    plan.stdout_has("apply --server-side --field-manager=stagecraft --force-conflicts --namespace kubernetes-manifests --filename=-");
    assert!(
        !plan.stdout.contains("helm upgrade --install helm-chart"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("kustomize"), "{}", plan.stdout);
}

#[test]
fn set_and_values_files_map_the_built_references_onto_the_charts_own_keys() {
    let repo = shop();
    repo.run(["init", "repo", "--cluster", "shop"]).ok();
    let app = repo.root.join("clusters/shop/apps/helm-chart");
    let toml = fs::read_to_string(app.join("app.toml")).unwrap();
    let with_set = |set: &str| {
        toml.replace("enabled = false\n", "").replace(
            "chart = \"helm-chart\"\n",
            &format!("chart = \"helm-chart\"\nset = {{ {set} }}\n"),
        )
    };
    // Seven images of seven tags: no one XTASK_IMAGE_TAG, and the error
    // says which names there are.
    fs::write(
        app.join("app.toml"),
        with_set("\"images.tag\" = \"${XTASK_IMAGE_TAG}\""),
    )
    .unwrap();
    repo.run(["app", "values", "helm-chart", "--stage", "stage"])
        .fails()
        .stderr_has("clusters/shop/apps/helm-chart/app.toml:9:24: `set` images.tag of helm-chart")
        .stderr_has("undefined variable `${XTASK_IMAGE_TAG}`")
        .stderr_has("did you mean `XTASK_IMAGE_TAG_");
    fs::write(
        app.join("app.toml"),
        with_set("\"images.repository\" = \"${XTASK_REGISTRY}\""),
    )
    .unwrap();
    fs::create_dir_all(app.join("values/comm")).unwrap();
    let mut values = String::from("frontend:\n  image: ${XTASK_IMAGE_FRONTEND}\ntags:\n");
    for name in BUILT {
        values.push_str(&format!(
            "  {name}: ${{XTASK_IMAGE_TAG_{}}}\n",
            name.to_uppercase()
        ));
    }
    fs::write(app.join("values/comm/helm-chart.yaml"), values).unwrap();
    let shown = repo.run(["app", "values", "helm-chart", "--stage", "stage"]);
    let tag_of = |name: &str| {
        shown
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("tags.{name} = ")))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no tag of {name}: {}", shown.stdout))
            .to_owned()
    };
    let registry = "registry.example.com/shop/stage";
    shown
        .ok()
        .stdout_has(&format!(
            "images.repository = {registry}    # app.toml [[releases]] helm-chart set\n"
        ))
        .stdout_has(&format!(
            "frontend.image = {registry}/frontend:{}    # clusters/shop/apps/helm-chart/values/comm/helm-chart.yaml:2\n",
            tag_of("frontend")
        ));
    // A tag per image, each from its own inputs.
    let tags: std::collections::BTreeSet<String> = BUILT.iter().map(|n| tag_of(n)).collect();
    assert_eq!(tags.len(), BUILT.len(), "{tags:?}");
    // Each Deployment runs exactly its image's build in the stage.
    let render = repo.run(["app", "render", "helm-chart", "--stage", "stage"]);
    let stream = render.ok().stdout.clone();
    let mut seen = Vec::new();
    for doc in documents(&stream) {
        if doc["kind"].as_str() != Some("Deployment") {
            continue;
        }
        let name = doc["metadata"]["name"].as_str().unwrap().to_owned();
        let image = doc["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_owned();
        if name != "redis-cart" {
            assert_eq!(image, format!("{registry}/{name}:{}", tag_of(&name)));
            seen.push(name);
        }
    }
    seen.sort();
    assert_eq!(seen, BUILT);
}
