//! The shared chart (comm/charts/service) for the common services: gRPC,
//! TCP and exec probes, non-root by default, a ServiceAccount, init
//! containers, volumes of each kind, several named ports, and a worker
//! with no port. Rendered by the real helm and checked by
//! kubernetes-validate against the Kubernetes of the kind node.

use std::fs;
use std::process::Command;

use yaml_rust2::Yaml;

use crate::stage_env::{documents, kind_node_version, validate};
use crate::support::{test_tool, workspace};

/// `helm template` of the shared chart with `values`: the stream.
fn render(name: &str, values: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    fs::write(&file, values).unwrap();
    let out = Command::new(test_tool("helm"))
        .args(["template", name])
        .arg(workspace().join("comm/charts/service"))
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The stream passes kubernetes-validate --strict.
fn valid(name: &str, stream: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.yaml"));
    fs::write(&file, stream).unwrap();
    let out = validate(&kind_node_version(), &file);
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}:\n{report}\n{stream}");
}

fn kind_of<'a>(docs: &'a [Yaml], kind: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn container(docs: &[Yaml]) -> &Yaml {
    &kind_of(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn grpc_tcp_and_exec_probes_render_valid() {
    let grpc = render(
        "checkout",
        "ports:\n  - name: grpc\n    containerPort: 5050\nprobes:\n  type: grpc\n  grpcService: hipstershop.CheckoutService\n",
    );
    valid("grpc", &grpc);
    let docs = documents(&grpc);
    let probe = &container(&docs)["readinessProbe"]["grpc"];
    assert_eq!(
        probe["port"].as_i64(),
        Some(5050),
        "a gRPC probe's port is a number"
    );
    assert_eq!(
        probe["service"].as_str(),
        Some("hipstershop.CheckoutService")
    );
    let service = kind_of(&docs, "Service");
    assert_eq!(
        service["spec"]["ports"][0]["appProtocol"].as_str(),
        Some("grpc")
    );
    assert_eq!(service["spec"]["ports"][0]["port"].as_i64(), Some(5050));

    let tcp = render(
        "cache",
        "containerPort: 6379\nservice:\n  port: 6379\nprobes:\n  type: tcp\n",
    );
    valid("tcp", &tcp);
    assert_eq!(
        container(&documents(&tcp))["livenessProbe"]["tcpSocket"]["port"].as_str(),
        Some("http")
    );

    let exec = render(
        "db",
        "containerPort: 5432\nprobes:\n  type: exec\n  command: [pg_isready, -U, postgres]\n",
    );
    valid("exec", &exec);
    let docs = documents(&exec);
    let command = &container(&docs)["startupProbe"]["exec"]["command"];
    assert_eq!(command[0].as_str(), Some("pg_isready"));

    // A probe of a port by name or number.
    let named = render(
        "two",
        "ports:\n  - name: http\n    containerPort: 8080\n  - name: metrics\n    containerPort: 9090\nprobes:\n  port: metrics\n",
    );
    valid("named", &named);
    let docs = documents(&named);
    assert_eq!(
        container(&docs)["readinessProbe"]["httpGet"]["port"].as_str(),
        Some("metrics")
    );
    let ports = kind_of(&docs, "Service")["spec"]["ports"]
        .as_vec()
        .unwrap()
        .clone();
    assert_eq!(ports.len(), 2);
    assert_eq!(ports[1]["name"].as_str(), Some("metrics"));
}

#[test]
fn pods_run_as_non_root_with_a_service_account_init_containers_and_volumes() {
    let stream = render(
        "api",
        r#"serviceAccount:
  create: true
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::1:role/api
initContainers:
  - name: migrate
    image: api:1
    command: [/app/migrate]
volumes:
  - name: cache
    emptyDir: {}
    mountPath: /var/cache/api
  - name: config
    configMap:
      name: api-config
    mountPath: /etc/api
    readOnly: true
  - name: certs
    secret:
      secretName: api-certs
    mountPath: /etc/certs
    readOnly: true
  - name: uploads
    persistentVolumeClaim:
      claimName: api-uploads
    mountPath: /uploads
"#,
    );
    valid("api", &stream);
    let docs = documents(&stream);
    let pod = &kind_of(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(pod["serviceAccountName"].as_str(), Some("api"));
    assert_eq!(pod["automountServiceAccountToken"].as_bool(), Some(false));
    let account = kind_of(&docs, "ServiceAccount");
    assert_eq!(account["metadata"]["name"].as_str(), Some("api"));
    let init = &pod["initContainers"][0];
    assert_eq!(init["name"].as_str(), Some("migrate"));
    assert_eq!(
        init["securityContext"]["allowPrivilegeEscalation"].as_bool(),
        Some(false),
        "an init container gets the chart's container securityContext"
    );
    let main = &pod["containers"][0];
    assert_eq!(
        main["securityContext"]["capabilities"]["drop"][0].as_str(),
        Some("ALL")
    );
    let volumes: Vec<&str> = pod["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(volumes, ["cache", "config", "certs", "uploads"]);
    assert!(
        pod["volumes"][0]["mountPath"].is_badvalue(),
        "mountPath is the mount's, not the volume's"
    );
    let mounts = main["volumeMounts"].as_vec().unwrap();
    assert_eq!(mounts[1]["mountPath"].as_str(), Some("/etc/api"));
    assert_eq!(mounts[1]["readOnly"].as_bool(), Some(true));
}

#[test]
fn a_worker_with_no_port_has_no_service_and_no_probe_unless_a_command() {
    let worker = render("worker", "containerPort: 0\nargs: [--queue, photos]\n");
    valid("worker", &worker);
    let docs = documents(&worker);
    assert!(
        docs.iter().all(|d| d["kind"].as_str() != Some("Service")),
        "{worker}"
    );
    let main = container(&docs);
    assert!(
        main["ports"].is_badvalue() && main["readinessProbe"].is_badvalue(),
        "{worker}"
    );

    let checked = render(
        "worker",
        "containerPort: 0\nprobes:\n  type: exec\n  command: [/bin/healthcheck]\n",
    );
    valid("checked", &checked);
    assert!(!container(&documents(&checked))["readinessProbe"]["exec"].is_badvalue());

    // Hosts need a port to route to: said at render time.
    let out = Command::new(test_tool("helm"))
        .args(["template", "worker"])
        .arg(workspace().join("comm/charts/service"))
        .args(["--set", "containerPort=0", "--set", "route.enabled=true"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no port to route them to"));
}
