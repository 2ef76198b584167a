//! The namespace of an app in a stage: its app.toml `namespace`, with
//! `${VAR}` from the app's stage environment, else the app's name. Shared
//! by deploys (each release's namespace) and bootstrap (the namespaces a
//! cluster's apps need).

use anyhow::Result;

use crate::config::{AppToml, Loaded};
use crate::instance;
use crate::repo::{Repo, Scope, Stage, is_dns_label};
use crate::stage::environment::{self, Secrets, StageEnv};

/// The namespace of `app` in the stage `env` is of.
pub fn app_namespace(file: &Loaded<AppToml>, app: &str, env: &StageEnv) -> Result<String> {
    let instance = env.get("XTASK_INSTANCE");
    let Some(namespace) = &file.value.namespace else {
        return Ok(instance::namespace(app, app.to_owned(), instance));
    };
    let name = env
        .expand(namespace.get_ref())
        .map_err(|e| file.error_at(&namespace.span(), format!("namespace: {e}")))?;
    let name = instance::namespace(namespace.get_ref(), name, instance);
    if !is_dns_label(&name) {
        return Err(file.error_at(
            &namespace.span(),
            format!("namespace `{name}` is not a valid namespace: lowercase letters, digits and '-', at most 63"),
        ));
    }
    Ok(name)
}

/// The namespaces of the cluster's apps that are on in `stage`, sorted,
/// each once. Only an app whose namespace has `${...}` has its
/// environment resolved (without secrets).
pub fn app_namespaces(repo: &Repo, cluster: &str, stage: &Stage) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for app in repo.enabled_app_names(cluster, &stage.name)? {
        let file = repo.app(cluster, &app)?;
        let templated = file
            .value
            .namespace
            .as_ref()
            .is_some_and(|n| n.get_ref().contains('$'));
        let namespace = match templated {
            true => {
                let env =
                    environment::resolve(repo, stage, &Scope::app(cluster, &app), Secrets::Skip)?;
                app_namespace(&file, &app, &env)?
            }
            false => {
                let plain = file
                    .value
                    .namespace
                    .as_ref()
                    .map_or(app.clone(), |n| n.get_ref().clone());
                instance::namespace(&plain, plain.clone(), stage.instance.as_deref())
            }
        };
        out.push(namespace);
    }
    out.sort();
    out.dedup();
    Ok(out)
}
