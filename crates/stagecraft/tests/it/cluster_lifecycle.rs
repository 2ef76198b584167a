//! A cluster's life after its first bootstrap: a failed create recovered, the hosts file block, deletes refused where they must be.

use crate::cluster::{fixture, lines};
use crate::support::{self};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

#[test]
fn a_failed_create_is_reported_and_the_next_bootstrap_recovers() {
    let f = fixture();
    fs::write(f.state.join("kind-create-fails"), "").unwrap();
    let run = f.repo.run(["cluster", "bootstrap", "hmlet"]);
    run.fails()
        .stderr_has("cannot create the kind cluster hmlet-local")
        .stderr_has(&format!(
            "create cluster --name hmlet-local --config {root}/deps/kube/hmlet-local.kind.yaml --kubeconfig {k} --wait 120s` failed with exit code 1",
            root = f.root(),
            k = f.source("local")
        ))
        .stderr_has("failed to init node with kubeadm");
    f.take_calls();

    f.repo
        .run(["cluster", "bootstrap", "hmlet"])
        .ok()
        .stdout_has("exists but does not answer; recreating it");
    let calls = lines(&f.take_calls());
    let k = f.kubeconfig("local");
    let s = f.source("local");
    let expected_start = [
        "docker info --format {{.ServerVersion}}".to_owned(),
        "kind get clusters".to_owned(),
        format!("kind export kubeconfig --name hmlet-local --kubeconfig {s}"),
        format!("kubectl --kubeconfig {k} --context kind-hmlet-local get --raw /readyz"),
        format!("kind delete cluster --name hmlet-local --kubeconfig {s}"),
        format!(
            "kind create cluster --name hmlet-local --config {}/deps/kube/hmlet-local.kind.yaml --kubeconfig {s} --wait 120s",
            f.root()
        ),
    ];
    assert_eq!(calls[..6], expected_start);
    f.repo
        .run(["cluster", "status", "--json"])
        .ok()
        .stdout_has("\"exists\": true");
}

#[test]
fn add_hosts_writes_one_block_idempotently_and_delete_removes_it() {
    let f = fixture();
    let hosts = PathBuf::from(&f.repo.env["XTASK_HOSTS_FILE"]);
    let original =
        "127.0.0.1\tlocalhost\n# keep me\n::1 ip6-localhost ip6-loopback\n10.0.0.5 nas.home";
    fs::write(&hosts, original).unwrap();
    f.repo
        .run(["cluster", "add-hosts", "hmlet", "--stage", "local", "--yes"])
        .ok()
        .stdout_has("wrote the hmlet-local block (2 hosts");
    let once = fs::read_to_string(&hosts).unwrap();
    assert_eq!(
        once,
        format!(
            "{original}\n# BEGIN stagecraft hmlet-local\n127.0.0.1 api.photos.localtest.me\n127.0.0.1 photos.localtest.me\n# END stagecraft hmlet-local\n"
        )
    );
    assert_eq!(
        fs::read_to_string(format!("{}.stagecraft.bak", hosts.display())).unwrap(),
        original
    );
    f.repo
        .run(["cluster", "add-hosts", "hmlet", "--stage", "local", "--yes"])
        .ok()
        .stdout_has("up to date");
    assert_eq!(
        fs::read_to_string(&hosts).unwrap(),
        once,
        "the second run changed the file"
    );

    f.repo
        .run(["cluster", "add-hosts", "hmlet", "--stage", "test", "--yes"])
        .ok();
    let both = fs::read_to_string(&hosts).unwrap();
    assert!(
        both.contains("127.0.0.1 photos.test.localtest.me\n# END stagecraft hmlet-test\n"),
        "{both}"
    );

    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "local"])
        .ok();
    f.repo
        .run(["cluster", "delete", "hmlet", "--stage", "local"])
        .ok()
        .stdout_has("- cluster hmlet-local: deleted");
    let after = fs::read_to_string(&hosts).unwrap();
    assert!(!after.contains("hmlet-local"), "{after}");
    assert!(
        after.starts_with(&format!("{original}\n# BEGIN stagecraft hmlet-test\n")),
        "{after}"
    );
    assert!(!f.state.join("kind/cluster-hmlet-local").exists());
}

#[test]
fn add_hosts_prints_the_sudo_command_when_the_file_is_not_writable() {
    let f = fixture();
    let hosts = PathBuf::from(&f.repo.env["XTASK_HOSTS_FILE"]);
    fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    let mut cmd = f.repo.xtask("");
    cmd.args(["cluster", "add-hosts", "hmlet"]);
    // Root writes anything: run as nobody, over a tree nobody can read.
    let as_root = unsafe { libc::geteuid() } == 0;
    if as_root {
        let base = f.repo.home.parent().unwrap();
        let ok = std::process::Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(base)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let program = cmd.get_program().to_owned();
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        let mut nobody = std::process::Command::new("setpriv");
        nobody
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(program)
            .args(args);
        nobody
            .env_clear()
            .envs(f.repo.base_env())
            .current_dir(&f.repo.root);
        cmd = nobody;
    } else {
        fs::set_permissions(&hosts, fs::Permissions::from_mode(0o444)).unwrap();
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not writable by you. Run:"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "sudo {} cluster add-hosts hmlet --stage local --hosts-file {}",
            crate::support::XTASK,
            hosts.display()
        )),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(&hosts).unwrap(), "127.0.0.1 localhost\n");
}

#[test]
fn protected_stages_are_never_deleted_and_remote_ones_are_checked() {
    let f = fixture();
    f.repo
        .run(["cluster", "delete", "hmlet", "--stage", "prod"])
        .fails()
        .stderr_has("stage prod is protected");
    assert!(f.take_calls().is_empty(), "a refused delete ran something");

    let run = f
        .repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "stage"]);
    run.fails().stderr_has(&format!(
        "does not exist: {}/deps/kube/hmlet-stage.yaml (context hmlet-stage)",
        f.root()
    ));
    // The file exists but lacks the context.
    let kubeconfig = f.repo.root.join("deps/kube/hmlet-stage.yaml");
    fs::create_dir_all(kubeconfig.parent().unwrap()).unwrap();
    fs::write(
        &kubeconfig,
        support::kubeconfig("other", "https://10.0.0.1"),
    )
    .unwrap();
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "stage"])
        .fails()
        .stderr_has(&format!(
            "context hmlet-stage is not in {}",
            kubeconfig.display()
        ))
        .stderr_has("it has: other");
    assert!(lines(&f.take_calls()).iter().all(|l| !l.contains("create")));

    // With the context and an answering API server: namespaces only, no cluster created.
    fs::write(
        &kubeconfig,
        support::kubeconfig("hmlet-stage", "https://10.0.0.1"),
    )
    .unwrap();
    fs::write(f.state.join("remote-up"), "").unwrap();
    // No Gateway API there: said, with what to ask for; nothing installed.
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "stage"])
        .fails()
        .stderr_has("hmlet-stage lacks what the apps' HTTPRoutes need: the CRD gatewayclasses.gateway.networking.k8s.io, the CRD gateways.gateway.networking.k8s.io, the CRD httproutes.gateway.networking.k8s.io")
        .stderr_has("routing = \"ingress\"");
    fs::write(f.state.join("remote-crds"), "").unwrap();
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "stage"])
        .fails()
        .stderr_has("lacks what the apps' HTTPRoutes need: the GatewayClass traefik, the Gateway platform-gateway/public");
    let calls = lines(&f.take_calls());
    assert!(
        calls
            .iter()
            .all(|l| !l.contains(" apply ") && !l.starts_with("helm")),
        "{calls:#?}"
    );
    fs::write(f.state.join("remote-gatewayclass-traefik"), "").unwrap();
    fs::write(f.state.join("remote-gateway-public"), "").unwrap();
    f.repo
        .run(["cluster", "bootstrap", "hmlet", "--stage", "stage"])
        .ok()
        .stdout_has(
            "✔ routing: Gateway API CRDs and the Gateway platform-gateway/public (class traefik)",
        );
    let calls = lines(&f.take_calls());
    let source = kubeconfig.display();
    let k = f.kubeconfig("stage");
    let kubectl = format!("kubectl --kubeconfig {k} --context hmlet-stage");
    assert_eq!(
        calls,
        [
            format!("kubectl config get-contexts --output name --kubeconfig {source}"),
            format!("kubectl --kubeconfig {k} --context hmlet-stage version --request-timeout=10s"),
            f.identity_query("stage", "hmlet-stage"),
            format!("{kubectl} get crd gatewayclasses.gateway.networking.k8s.io --output name"),
            format!("{kubectl} get crd gateways.gateway.networking.k8s.io --output name"),
            format!("{kubectl} get crd httproutes.gateway.networking.k8s.io --output name"),
            format!("{kubectl} get gatewayclass traefik --output name"),
            format!("{kubectl} get gateway public --namespace platform-gateway --output name"),
            format!(
                "kubectl --kubeconfig {k} --context hmlet-stage get namespace frontend --output name"
            ),
            format!("kubectl --kubeconfig {k} --context hmlet-stage create namespace frontend"),
            format!(
                "kubectl --kubeconfig {k} --context hmlet-stage get namespace photos --output name"
            ),
            format!("kubectl --kubeconfig {k} --context hmlet-stage create namespace photos"),
        ]
    );
    f.repo
        .run(["cluster", "delete", "hmlet", "--stage", "stage"])
        .fails()
        .stderr_has("stage stage is remote");
}
