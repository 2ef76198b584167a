//! Routing into a stage's cluster with the Gateway API. On kind stages
//! bootstrap installs it: the Gateway API CRDs (standard channel), Traefik
//! as the implementation, the stage's certificate (`tls.rs`) and the
//! stage's Gateway, HTTP on 80 and HTTPS on 443 (Traefik's entry points,
//! which the stage's host ports reach); each step is skipped when the
//! cluster already has it. On remote stages bootstrap only checks that
//! what the HTTPRoutes need is there.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::{Value, json};

use super::context::Cx;
use super::target::Routing;
use super::tls;
use crate::sha::sha256_hex;
use crate::tools::Pins;
use crate::tools::addons::{self, Addon};
use crate::tools::helm_record;
use crate::tools::install::Options;
use stagecraft_core::process::Cmd;

/// The GatewayClass Traefik registers on kind stages.
pub const TRAEFIK_CLASS: &str = "traefik";
/// The ports of Traefik's `web` and `websecure` entry points in its pod,
/// and so of the Gateway's listeners (Traefik serves a listener on the
/// entry point of its port). The same on every stage: the stage's host
/// ports reach them through the pod's hostPorts, and no stage's ports can
/// fall on another entry point of the chart (`traefik` 8080, `metrics` 9100).
pub const HTTP_LISTENER_PORT: u16 = 80;
pub const HTTPS_LISTENER_PORT: u16 = 443;
const TRAEFIK_NAMESPACE: &str = "traefik";
const SPEC_ANNOTATION: &str = "stagecraft.dev/spec-sha256";
/// What the HTTPRoutes of the apps need from the API.
const CRDS: [&str; 3] = [
    "gatewayclasses.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
];

/// The pinned downloads, verified.
pub struct Addons {
    crds: Addon,
    traefik: Addon,
}

impl Addons {
    pub fn fetch(cx: &Cx) -> Result<Addons> {
        let pins = Pins::load(cx.repo)?;
        let fetch = |name| {
            addons::fetch(
                cx.repo,
                &pins,
                name,
                Options::locked(cx.locked),
                cx.runner.dry_run,
            )
        };
        Ok(Addons {
            crds: fetch(addons::GATEWAY_API)?,
            traefik: fetch(addons::TRAEFIK)?,
        })
    }
}

/// CRDs, controller, Gateway: each applied when the cluster lacks it (or
/// has another version), then waited for.
pub fn install(cx: &Cx, addons: &Addons, (http, https): (u16, u16)) -> Result<()> {
    crds(cx, &addons.crds)?;
    traefik(cx, &addons.traefik, (http, https))?;
    tls::ensure_secret(cx)?;
    stage_gateway(cx, (http, https))
}

fn crds(cx: &Cx, crds: &Addon) -> Result<()> {
    let version = format!("v{}", crds.version);
    let installed = cx.runner.probe(&cx.kubectl().args([
        "get",
        "crd",
        CRDS[1],
        "--output",
        "jsonpath={.metadata.annotations.gateway\\.networking\\.k8s\\.io/bundle-version}",
    ]));
    let fresh = installed.as_deref().map(str::trim) != Some(version.as_str());
    if fresh {
        cx.runner.run(
            &cx.kubectl()
                .args(["apply", "--server-side", "--force-conflicts", "--filename"])
                .arg(&crds.path),
        )?;
    }
    let mut wait = cx
        .kubectl()
        .args(["wait", "--for=condition=Established", "--timeout=60s"]);
    for crd in CRDS {
        wait = wait.arg(format!("crd/{crd}"));
    }
    cx.runner
        .ask(&wait)
        .context("the Gateway API CRDs were not established")?;
    cx.say(&if fresh {
        format!("+ gateway-api CRDs {version}: applied and established")
    } else {
        format!("✔ gateway-api CRDs {version}: already installed")
    });
    Ok(())
}

/// Traefik's values for a kind node: its `web` and `websecure` entry
/// points listen on 80 and 443 in the pod, whose hostPorts are the
/// stage's ports on the node (kind maps them to the same host ports).
pub fn traefik_values((http, https): (u16, u16)) -> Value {
    let entry_point =
        |port: u16, host: u16| json!({ "port": port, "hostPort": host, "exposedPort": port });
    json!({
        "deployment": { "replicas": 1 },
        "nodeSelector": { "ingress-ready": "true" },
        "tolerations": [{
            "key": "node-role.kubernetes.io/control-plane",
            "operator": "Exists",
            "effect": "NoSchedule",
        }],
        "service": { "type": "ClusterIP" },
        "ports": {
            "web": entry_point(HTTP_LISTENER_PORT, http),
            "websecure": entry_point(HTTPS_LISTENER_PORT, https),
        },
        // Ports under 1024 (80 and 443) without root.
        "podSecurityContext": {
            "sysctls": [{ "name": "net.ipv4.ip_unprivileged_port_start", "value": "0" }],
        },
        "providers": {
            "kubernetesGateway": { "enabled": true },
            "kubernetesIngress": { "enabled": false },
            "kubernetesCRD": { "enabled": false },
        },
        // The stage's Gateway is Stagecraft's (stage_gateway), not the chart's.
        "gateway": { "enabled": false },
        "gatewayClass": { "enabled": true, "name": TRAEFIK_CLASS },
        "ingressRoute": { "dashboard": { "enabled": false } },
        "global": { "checkNewVersion": false, "sendAnonymousUsage": false },
    })
}

fn traefik(cx: &Cx, chart: &Addon, ports: (u16, u16)) -> Result<()> {
    let values = traefik_values(ports).to_string();
    let digest = sha256_hex(format!("{}\n{values}", chart.sha256).as_bytes())[..32].to_owned();
    let deployed = helm_record::deployed(
        &cx.runner,
        cx.kubectl(),
        TRAEFIK_NAMESPACE,
        "traefik",
        &digest,
    )?;
    if !deployed {
        let path = chart.path.to_string_lossy();
        let install = cx
            .tools
            .helm(&cx.target.kube, &["upgrade", "--install", "traefik", &path])
            .args([
                "--namespace",
                TRAEFIK_NAMESPACE,
                "--create-namespace",
                // The Gateway API CRDs are the pinned ones applied before.
                "--skip-crds",
                "-f",
                "-",
                "--wait",
                "--timeout",
                "5m",
            ])
            .arg(helm_record::label_arg(&digest))
            .stdin_bytes(values.into_bytes());
        cx.runner.run(&install).context("Traefik did not install")?;
    }
    cx.say(&if deployed {
        format!("✔ traefik {}: already installed", chart.version)
    } else {
        format!("+ traefik {}: installed and ready", chart.version)
    });
    Ok(())
}

/// The stage's Gateway: HTTP on 80 and HTTPS on 443 with the stage's
/// certificate (`tls_secret`, beside it), routes from every namespace.
pub fn gateway_manifest(namespace: &str, name: &str, tls_secret: &str) -> Value {
    let all = json!({ "namespaces": { "from": "All" } });
    let gateway = json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "gatewayClassName": TRAEFIK_CLASS,
            "listeners": [
                {
                    "name": "http",
                    "protocol": "HTTP",
                    "port": HTTP_LISTENER_PORT,
                    "allowedRoutes": all,
                },
                {
                    "name": "https",
                    "protocol": "HTTPS",
                    "port": HTTPS_LISTENER_PORT,
                    "tls": {
                        "mode": "Terminate",
                        "certificateRefs": [{ "kind": "Secret", "name": tls_secret }],
                    },
                    "allowedRoutes": all,
                },
            ],
        },
    });
    let mut gateway = gateway;
    let sha = sha256_hex(gateway.to_string().as_bytes());
    gateway["metadata"]["annotations"] = json!({ SPEC_ANNOTATION: sha });
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            { "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": namespace } },
            gateway,
        ],
    })
}

fn stage_gateway(cx: &Cx, (http, https): (u16, u16)) -> Result<()> {
    let Routing::Gateway { namespace, name } = cx.target.routing()? else {
        unreachable!("kind stages route with the Gateway API (Target::routing)")
    };
    let manifest = gateway_manifest(&namespace, &name, &tls::secret_name(cx.target));
    let sha = manifest["items"][1]["metadata"]["annotations"][SPEC_ANNOTATION]
        .as_str()
        .expect("set")
        .to_owned();
    let applied = cx.runner.probe(&get_gateway(
        cx,
        &namespace,
        &name,
        &format!(
            "jsonpath={{.metadata.annotations.{}}}",
            SPEC_ANNOTATION.replace('.', "\\.")
        ),
    ));
    let fresh = applied.as_deref().map(str::trim) != Some(sha.as_str());
    if fresh {
        cx.runner.run(&crate::tools::toolbox::server_side_apply(
            cx.kubectl(),
            &manifest,
        ))?;
    }
    cx.runner
        .ask(&cx.kubectl().args([
            "wait",
            "--for=condition=Programmed",
            &format!("gateway/{name}"),
            "--namespace",
            &namespace,
            "--timeout=180s",
        ]))
        .with_context(|| format!("the Gateway {namespace}/{name} was not programmed"))?;
    let ports = format!("http :{http}, https :{https} on this machine");
    cx.say(&if fresh {
        format!("+ gateway {namespace}/{name}: applied and programmed ({ports})")
    } else {
        format!("✔ gateway {namespace}/{name}: already programmed ({ports})")
    });
    Ok(())
}

/// Remote stages: the CRDs, the Gateway and its class must be there
/// (Stagecraft never installs into a shared cluster); everything missing
/// is named at once.
pub fn check(cx: &Cx) -> Result<()> {
    let Routing::Gateway { namespace, name } = cx.target.routing()? else {
        cx.say("✔ routing: Ingress objects (routing = \"ingress\")");
        return Ok(());
    };
    let mut missing = Vec::new();
    for crd in CRDS {
        if cx
            .runner
            .probe(&cx.kubectl().args(["get", "crd", crd, "--output", "name"]))
            .is_none()
        {
            missing.push(format!("the CRD {crd}"));
        }
    }
    let class = cx
        .target
        .stage_table()
        .and_then(|t| t.gateway_class.as_ref())
        .map(|c| c.get_ref().clone());
    if missing.is_empty() {
        if let Some(class) = &class
            && cx
                .runner
                .probe(
                    &cx.kubectl()
                        .args(["get", "gatewayclass", class, "--output", "name"]),
                )
                .is_none()
        {
            missing.push(format!("the GatewayClass {class}"));
        }
        if cx
            .runner
            .probe(&get_gateway(cx, &namespace, &name, "name"))
            .is_none()
        {
            missing.push(format!("the Gateway {namespace}/{name}"));
        }
    }
    if !missing.is_empty() && !cx.runner.dry_run {
        bail!(
            "{} lacks what the apps' HTTPRoutes need: {}\n  hint: Stagecraft does not install into a shared cluster: ask its platform team for the Gateway API CRDs (standard channel) and a Gateway, then set `gateway = \"namespace/name\"` (and `gateway_class`) under [stages.{}] in clusters/{}/cluster.toml; or keep Ingress objects there with `routing = \"ingress\"`",
            cx.target.name(),
            missing.join(", "),
            cx.target.stage.name,
            cx.target.cluster
        );
    }
    cx.say(&format!(
        "✔ routing: Gateway API CRDs and the Gateway {namespace}/{name}{}",
        class.map_or(String::new(), |c| format!(" (class {c})"))
    ));
    Ok(())
}

/// `kubectl get gateway` of the stage's Gateway, in `output`.
fn get_gateway(cx: &Cx, namespace: &str, name: &str, output: &str) -> Cmd {
    cx.kubectl().args([
        "get",
        "gateway",
        name,
        "--namespace",
        namespace,
        "--output",
        output,
    ])
}

/// The Gateway as `cluster status` shows it.
#[derive(Debug, Serialize)]
pub struct GatewayStatus {
    pub namespace: String,
    pub name: String,
    pub programmed: bool,
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Serialize)]
pub struct Listener {
    pub name: String,
    pub protocol: String,
    pub port: u64,
    pub attached_routes: u64,
}

/// The stage's Gateway and its listeners, if the cluster has it.
pub fn status(cx: &Cx) -> Option<GatewayStatus> {
    let Ok(Routing::Gateway { namespace, name }) = cx.target.routing() else {
        return None;
    };
    let text = cx
        .runner
        .probe(&get_gateway(cx, &namespace, &name, "json"))?;
    let gateway: Value = serde_json::from_str(&text).ok()?;
    Some(read_status(&gateway, namespace, name))
}

fn read_status(gateway: &Value, namespace: String, name: String) -> GatewayStatus {
    let empty = Vec::new();
    let condition = |conditions: &Value, kind: &str| {
        conditions
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .any(|c| c["type"] == kind && c["status"] == "True")
    };
    let attached = |listener: &str| {
        gateway["status"]["listeners"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .find(|l| l["name"] == listener)
            .and_then(|l| l["attachedRoutes"].as_u64())
            .unwrap_or(0)
    };
    GatewayStatus {
        programmed: condition(&gateway["status"]["conditions"], "Programmed"),
        listeners: gateway["spec"]["listeners"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|l| {
                let name = l["name"].as_str().unwrap_or_default().to_owned();
                Listener {
                    attached_routes: attached(&name),
                    protocol: l["protocol"].as_str().unwrap_or_default().to_owned(),
                    port: l["port"].as_u64().unwrap_or_default(),
                    name,
                }
            })
            .collect(),
        namespace,
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_reads_programmed_and_the_listeners() {
        let gateway = json!({
            "spec": { "listeners": [{ "name": "http", "protocol": "HTTP", "port": 8080 }] },
            "status": {
                "conditions": [{ "type": "Accepted", "status": "True" }, { "type": "Programmed", "status": "True" }],
                "listeners": [{ "name": "http", "attachedRoutes": 3 }],
            },
        });
        let status = read_status(&gateway, "ns".into(), "gw".into());
        assert!(status.programmed);
        assert_eq!(status.listeners[0].port, 8080);
        assert_eq!(status.listeners[0].attached_routes, 3);
    }

    #[test]
    fn the_gateway_spec_checksum_changes_with_the_listeners() {
        let a = gateway_manifest("ns", "gw", "a-tls");
        let b = gateway_manifest("ns", "gw", "b-tls");
        let sha = |m: &Value| m["items"][1]["metadata"]["annotations"][SPEC_ANNOTATION].clone();
        assert_ne!(sha(&a), sha(&b));
        assert_eq!(sha(&a), sha(&gateway_manifest("ns", "gw", "a-tls")));
    }
}
