//! The hostnames routed to apps' releases in a stage: `[[releases]] hosts`
//! with `${VAR}` from each app's environment (secrets are never needed
//! for names). Light: tasks get them as `XTASK_HOSTS`; the operations use
//! them for the hosts file, `up`'s URLs and `doctor`.

use std::sync::Arc;

use anyhow::Result;

use crate::config::{AppToml, Loaded};

use crate::repo::{Repo, Scope, Stage};
use crate::stage::environment::{self, Secrets, StageEnv};

/// The hostnames of the cluster's apps (every app, or `only` one), sorted,
/// each once.
pub fn hostnames(
    repo: &Repo,
    stage: &Stage,
    cluster: &str,
    only: Option<&str>,
) -> Result<Vec<String>> {
    let apps = match only {
        Some(app) => vec![app.to_owned()],
        None => repo.app_names(cluster)?,
    };
    let mut out = Vec::new();
    for app in apps {
        // An app that is off in this stage routes nothing.
        if !repo.app(cluster, &app)?.value.enabled_in(&stage.name) {
            continue;
        }
        if let Some(hosts) = AppHosts::of(repo, cluster, &app)? {
            let env = environment::resolve(repo, stage, &Scope::app(cluster, &app), Secrets::Skip)?;
            out.extend(hosts.expand(&env)?);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// An app whose releases have hosts.
pub struct AppHosts {
    file: Arc<Loaded<AppToml>>,
}

impl AppHosts {
    /// None when no release of the app has hosts.
    pub fn of(repo: &Repo, cluster: &str, app: &str) -> Result<Option<AppHosts>> {
        let file = repo.app(cluster, app)?;
        if let Some(host) = file.value.hosts.first() {
            return Err(file.error_at(
                &host.span(),
                "`hosts` belongs to the release that serves them\n  hint: move it into that [[releases]] entry: hosts = [\"...\"]",
            ));
        }
        Ok(file
            .value
            .releases
            .iter()
            .any(|r| !r.hosts.is_empty())
            .then_some(AppHosts { file }))
    }

    /// The hostnames, with `${VAR}` from `env` (the app's environment).
    pub fn expand(&self, env: &StageEnv) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for release in &self.file.value.releases {
            check_host_count(&self.file, release.name.get_ref(), &release.hosts)?;
            for host in &release.hosts {
                let name = expand_host(env, host.get_ref()).map_err(|e| {
                    self.file.error_at(
                        &host.span(),
                        format!("hosts of {}: {e}", release.name.get_ref()),
                    )
                })?;
                out.push(name);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// The most hostnames an HTTPRoute takes (Gateway API v1.4.0's CRD:
/// `spec.hostnames`, maxItems 16).
pub const MAX_HOSTS: usize = 16;
/// The longest hostname it takes (maxLength 253), and a label (DNS).
const MAX_HOST_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// A `hosts` entry with `${VAR}` from `env`, checked to be a hostname the
/// Gateway API takes. A secret never goes into one: hostnames are public
/// (DNS, certificates, the hosts file, every render).
pub fn expand_host(env: &StageEnv, template: &str) -> std::result::Result<String, String> {
    for piece in super::environment::template::pieces(template)? {
        if let super::environment::template::Piece::Ref(name) = piece
            && (env.entry(name).is_some_and(|e| e.secret)
                || (env.defines(name) && env.entry(name).is_none()))
        {
            return Err(format!(
                "`${{{name}}}` is a secret (or built from one), and hostnames are public (DNS, certificates, the hosts file)\n  hint: use a variable that is not secret"
            ));
        }
    }
    let host = env.expand(template)?;
    // An instance's own: `<name>.<host>`, unless the template places it.
    let host = crate::instance::host(template, host, env.get("XTASK_INSTANCE"));
    let valid = !host.is_empty()
        && host.len() <= MAX_HOST_LEN
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_LEN
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
        });
    if valid {
        Ok(host.to_ascii_lowercase())
    } else if host.len() > MAX_HOST_LEN {
        Err(format!(
            "`{template}` gives a hostname of {} characters; the Gateway API takes at most {MAX_HOST_LEN}",
            host.len()
        ))
    } else {
        Err(format!(
            "`{template}` gives `{host}`, which is not a hostname (letters, digits and '-' in labels of at most {MAX_LABEL_LEN}, joined by '.')"
        ))
    }
}

/// At most [`MAX_HOSTS`] hosts per release: the error names the first one
/// too many.
pub fn check_host_count<T>(
    file: &Loaded<T>,
    release: &str,
    hosts: &[toml::Spanned<String>],
) -> Result<()> {
    match hosts.get(MAX_HOSTS) {
        Some(extra) => Err(file.error_at(
            &extra.span(),
            format!(
                "hosts of {release}: {} hostnames; an HTTPRoute takes at most {MAX_HOSTS} (Gateway API)\n  hint: split them over more releases",
                hosts.len()
            ),
        )),
        None => Ok(()),
    }
}
