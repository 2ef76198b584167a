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

/// A `hosts` entry with `${VAR}` from `env`, checked to be a hostname.
pub fn expand_host(env: &StageEnv, template: &str) -> std::result::Result<String, String> {
    let host = env.expand(template)?;
    let valid = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
        });
    if valid {
        Ok(host.to_ascii_lowercase())
    } else {
        Err(format!(
            "`{template}` gives `{host}`, which is not a hostname"
        ))
    }
}
