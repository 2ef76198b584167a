//! HTTPS on kind stages. A local CA per repository, made once in
//! `deps/ca/` (git-ignored; its key 0600, never printed); per stage, a
//! certificate for every host of the stage's routes, in a
//! `kubernetes.io/tls` Secret beside the stage's Gateway, applied through
//! stdin (the key is never on an argv or in a file), used by the Gateway's
//! HTTPS listener. It is issued again when the hosts or the CA change, or
//! when it has less than a month left. `cluster trust` says how to make
//! browsers and tools trust the CA.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::json;
use stagecraft_core::fsx;
use stagecraft_core::repo::Repo;
use stagecraft_core::stage::routes;
use stagecraft_core::ui;

use super::context::Cx;
use super::target::{GATEWAY_NAMESPACE, Target};
use crate::tools::toolbox::server_side_apply;
use crate::x509::{self, Authority};

/// Where the CA lives, from the repository root.
pub const CA_DIR: &str = "deps/ca";
const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
/// How long a stage's certificate is valid, and how close to its end it
/// is issued again.
const VALID_DAYS: u64 = 365;
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);
/// Annotations of the Secret: what the certificate covers and until when.
const HOSTS_ANNOTATION: &str = "stagecraft.dev/tls-hosts";
const CA_ANNOTATION: &str = "stagecraft.dev/tls-ca";
const NOT_AFTER_ANNOTATION: &str = "stagecraft.dev/tls-not-after";

/// The repository's CA.
pub struct LocalCa {
    pub cert_path: PathBuf,
    pub cert_pem: String,
    pub fingerprint: String,
    authority: Authority,
}

fn ca_name(repo: &Repo) -> String {
    format!("Stagecraft local CA ({})", repo.shell.value.project.name)
}

/// The repository's CA, made the first time (under the folder's lock, so
/// two bootstraps at once make one).
pub fn local_ca(repo: &Repo) -> Result<LocalCa> {
    let dir = repo.root.join(CA_DIR);
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    let name = ca_name(repo);
    fsx::private_dir(&dir)?;
    let _lock = fsx::lock_dir_of(&key_path)?;
    let read = |path: &PathBuf| std::fs::read_to_string(path).ok();
    let (authority, cert_pem) = match (read(&key_path), read(&cert_path)) {
        (Some(key), Some(cert)) => (
            Authority::load(&name, &key).with_context(|| {
                format!(
                    "{} is damaged\n  hint: remove {CA_DIR}/ and run the command again (then trust the new CA: cargo xtask cluster trust)",
                    key_path.display()
                )
            })?,
            cert,
        ),
        _ => {
            let (authority, files) = Authority::generate(&name)?;
            fsx::replace_private(&key_path, files.key_pem.as_bytes())?;
            fsx::write_atomic(&cert_path, files.cert_pem.as_bytes(), 0o644)?;
            ui::info(&format!(
                "made the local CA {} (trust it with `cargo xtask cluster trust`)",
                cert_path.strip_prefix(&repo.root).unwrap_or(&cert_path).display()
            ));
            (authority, files.cert_pem)
        }
    };
    Ok(LocalCa {
        fingerprint: x509::fingerprint(&cert_pem)?,
        cert_path,
        cert_pem,
        authority,
    })
}

/// The Secret of the stage's certificate, beside its Gateway.
pub fn secret_name(target: &Target) -> String {
    format!("{}-tls", target.name())
}

/// What the stage's certificate must cover: every host of its routes,
/// and localhost; for a stage with instances, `*.<host>` too: each
/// instance's `<name>.<host>` (one certificate for the stage's Gateway,
/// whichever instance is brought up).
fn wanted_hosts(cx: &Cx) -> Result<Vec<String>> {
    let stage = stagecraft_core::repo::Stage {
        instance: None,
        ..cx.target.stage.clone()
    };
    let mut hosts = routes::hostnames(cx.repo, &stage, &cx.target.cluster, None)?;
    let instances = stage
        .file
        .value
        .instances
        .as_ref()
        .is_some_and(|i| *i.get_ref());
    if instances {
        let wildcards: Vec<String> = hosts.iter().map(|h| format!("*.{h}")).collect();
        hosts.extend(wildcards);
    }
    hosts.push("localhost".to_owned());
    hosts.sort();
    hosts.dedup();
    Ok(hosts)
}

/// The stage's certificate in the cluster: issued when missing, when the
/// hosts or the CA changed, or when it ends within a month.
pub fn ensure_secret(cx: &Cx) -> Result<()> {
    let hosts = wanted_hosts(cx)?;
    let name = secret_name(cx.target);
    let jsonpath = format!(
        "jsonpath={{.metadata.annotations.{}}} {{.metadata.annotations.{}}} {{.metadata.annotations.{}}}",
        escape(HOSTS_ANNOTATION),
        escape(CA_ANNOTATION),
        escape(NOT_AFTER_ANNOTATION)
    );
    let current = cx.runner.ask(
        &cx.kubectl()
            .args(["get", "secret", &name, "--namespace", GATEWAY_NAMESPACE])
            .args(["--ignore-not-found", "--output", &jsonpath])
            .no_stdin(),
    )?;
    if cx.runner.dry_run {
        let manifest = secret_manifest(&name, &hosts, "<the stage's certificate>", ui::MASK, "", 0);
        cx.runner.run(&server_side_apply(cx.kubectl(), &manifest))?;
        cx.say(&format!(
            "+ tls {GATEWAY_NAMESPACE}/{name}: a certificate for {} hosts from the local CA ({CA_DIR}/{CA_CERT}) when the cluster lacks it",
            hosts.len()
        ));
        return Ok(());
    }
    let ca = local_ca(cx.repo)?;
    let mut fields = current.split_whitespace();
    let (had_hosts, had_ca, not_after) = (fields.next(), fields.next(), fields.next());
    let fresh_until = not_after
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| UNIX_EPOCH + Duration::from_secs(s));
    let current = had_hosts == Some(hosts.join(",").as_str())
        && had_ca == Some(ca_id(&ca).as_str())
        && fresh_until.is_some_and(|end| end > SystemTime::now() + RENEW_BEFORE);
    if current {
        cx.say(&format!(
            "✔ tls {GATEWAY_NAMESPACE}/{name}: a certificate for {} hosts, from the local CA",
            hosts.len()
        ));
        return Ok(());
    }
    let issued = ca.authority.issue(&hosts, VALID_DAYS, &ca.cert_pem)?;
    // Masked in every line from here on, kubectl's errors included.
    ui::register_secret(&issued.key_pem);
    let until = issued
        .not_after
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let manifest = secret_manifest(
        &name,
        &hosts,
        &issued.cert_pem,
        &issued.key_pem,
        &ca_id(&ca),
        until,
    );
    cx.runner
        .run(&server_side_apply(cx.kubectl(), &manifest))
        .with_context(|| format!("cannot apply the TLS Secret {GATEWAY_NAMESPACE}/{name}"))?;
    cx.say(&format!(
        "+ tls {GATEWAY_NAMESPACE}/{name}: issued for {} hosts ({}), valid {VALID_DAYS} days",
        hosts.len(),
        hosts.join(", ")
    ));
    Ok(())
}

/// The CA a certificate came from, as an annotation value: a short form of
/// its fingerprint.
fn ca_id(ca: &LocalCa) -> String {
    ca.fingerprint.replace(':', "")[..16].to_ascii_lowercase()
}

fn escape(annotation: &str) -> String {
    annotation.replace('.', "\\.")
}

/// The namespace and the Secret, as `kubectl apply` reads them on stdin.
fn secret_manifest(
    name: &str,
    hosts: &[String],
    cert: &str,
    key: &str,
    ca: &str,
    not_after: u64,
) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            { "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": GATEWAY_NAMESPACE } },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/tls",
                "metadata": {
                    "name": name,
                    "namespace": GATEWAY_NAMESPACE,
                    "labels": { "app.kubernetes.io/managed-by": "stagecraft" },
                    "annotations": {
                        HOSTS_ANNOTATION: hosts.join(","),
                        CA_ANNOTATION: ca,
                        NOT_AFTER_ANNOTATION: not_after.to_string(),
                    },
                },
                "stringData": { "tls.crt": cert, "tls.key": key },
            },
        ],
    })
}

/// What `cluster trust` says.
#[derive(Debug, Serialize)]
pub struct Trust {
    /// The CA's certificate (public; its key stays in deps/ca/).
    pub ca_cert: String,
    pub fingerprint_sha256: String,
    /// Per system, the commands that make it trust the CA.
    pub how: Vec<TrustStep>,
}

#[derive(Debug, Serialize)]
pub struct TrustStep {
    pub system: &'static str,
    pub commands: Vec<String>,
}

/// `cluster trust`: the CA (made when missing) and how each system trusts it.
pub fn trust(repo: &Repo) -> Result<Trust> {
    let ca = local_ca(repo)?;
    let path = ca.cert_path.display().to_string();
    let project = &repo.shell.value.project.name;
    let file = format!("stagecraft-{project}.crt");
    if path.contains(['\'', '"', '\n']) {
        bail!("the repository's path holds quotes; copy {path} by hand");
    }
    let how = vec![
        TrustStep {
            system: "Debian, Ubuntu",
            commands: vec![
                format!("sudo cp '{path}' /usr/local/share/ca-certificates/{file}"),
                "sudo update-ca-certificates".to_owned(),
            ],
        },
        TrustStep {
            system: "Fedora, RHEL, Arch",
            commands: vec![
                format!("sudo cp '{path}' /etc/pki/ca-trust/source/anchors/{file}"),
                "sudo update-ca-trust".to_owned(),
            ],
        },
        TrustStep {
            system: "macOS",
            commands: vec![format!(
                "sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain '{path}'"
            )],
        },
        TrustStep {
            system: "Chrome and Firefox on Linux (their own store, certutil from libnss3-tools)",
            commands: vec![format!(
                "certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n 'Stagecraft {project}' -i '{path}'"
            )],
        },
        TrustStep {
            system: "one command (curl, Python, Node)",
            commands: vec![
                format!("curl --cacert '{path}' https://..."),
                format!(
                    "export SSL_CERT_FILE='{path}' REQUESTS_CA_BUNDLE='{path}' NODE_EXTRA_CA_CERTS='{path}'"
                ),
            ],
        },
    ];
    Ok(Trust {
        ca_cert: path,
        fingerprint_sha256: ca.fingerprint,
        how,
    })
}
