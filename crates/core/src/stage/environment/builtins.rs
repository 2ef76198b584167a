//! What Stagecraft sets in every stage: XTASK_ROOT, XTASK_STAGE,
//! XTASK_INSTANCE (an instance's name), XTASK_INSTANCE_SUFFIX and
//! XTASK_INSTANCE_PREFIX (what its namespaces and hosts add),
//! XTASK_CLUSTER, XTASK_APP, KUBECONFIG, XTASK_KUBE_CONTEXT, XTASK_HTTP_PORT,
//! XTASK_PROMPT and PATH.

use std::path::PathBuf;

use crate::cluster::kube::KubeTarget;
use crate::config::Target;
use crate::repo::{Repo, Scope, Stage};

/// The built-ins a variable may refer to, in output order.
pub fn values(
    repo: &Repo,
    stage: &Stage,
    scope: &Scope,
    kube: Option<&KubeTarget>,
) -> Vec<(String, String)> {
    let mut out = vec![
        ("XTASK_ROOT".to_owned(), repo.root.display().to_string()),
        ("XTASK_STAGE".to_owned(), stage.name.clone()),
    ];
    if let Some(instance) = &stage.instance {
        out.push(("XTASK_INSTANCE".to_owned(), instance.clone()));
    }
    // What an instance adds to the namespaces: `-<name>`, or nothing, for
    // addresses of another app's namespace (`photos${XTASK_INSTANCE_SUFFIX}`).
    let suffix = stage
        .instance
        .as_ref()
        .map_or(String::new(), |i| format!("-{i}"));
    out.push(("XTASK_INSTANCE_SUFFIX".to_owned(), suffix));
    // What an instance puts before its hosts: `<name>.`, or nothing, for
    // URLs of a host (`https://${XTASK_INSTANCE_PREFIX}photos.${DOMAIN}`).
    let prefix = stage
        .instance
        .as_ref()
        .map_or(String::new(), |i| format!("{i}."));
    out.push(("XTASK_INSTANCE_PREFIX".to_owned(), prefix));
    if let Some(cluster) = &scope.cluster {
        out.push(("XTASK_CLUSTER".to_owned(), cluster.clone()));
    }
    if let Some(app) = &scope.app {
        out.push(("XTASK_APP".to_owned(), app.clone()));
    }
    let kubeconfig = match kube {
        Some(kube) => kube.kubeconfig.clone(),
        None => no_cluster_kubeconfig(repo),
    };
    out.push(("KUBECONFIG".to_owned(), kubeconfig.display().to_string()));
    if let Some(context) = kube.and_then(|k| k.context.clone()) {
        out.push(("XTASK_KUBE_CONTEXT".to_owned(), context));
    }
    if let Some(cluster) = &scope.cluster {
        out.push((
            "XTASK_HTTP_PORT".to_owned(),
            http_port(repo, stage, cluster),
        ));
    }
    out
}

/// The port the stage's gateway serves HTTP on: a kind stage's own host
/// port (cluster.toml `[stages.<stage>] http_port`), else 80.
fn http_port(repo: &Repo, stage: &Stage, cluster: &str) -> String {
    let port = match stage.target() {
        Target::Kind => repo.cluster(cluster).ok().and_then(|file| {
            crate::cluster::stage_table(&file.value, &stage.name)
                .and_then(|t| t.http_port.as_ref().map(|p| *p.get_ref()))
        }),
        Target::Remote => None,
    };
    port.unwrap_or(80).to_string()
}

/// The KUBECONFIG of a stage with no cluster in scope (a repository with
/// several clusters, at its root): never the user's ~/.kube/config, never
/// a file that cannot exist. Its only user runs a credential plugin that
/// says to choose a cluster, so kubectl and helm print that and stop.
fn no_cluster_kubeconfig(repo: &Repo) -> PathBuf {
    const GUARD: &str = include_str!("no-cluster.yaml");
    let path = repo.kube_dir().join("no-cluster.yaml");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(GUARD) {
        // Best effort: a read-only checkout still resolves its stages.
        let _ = std::fs::create_dir_all(repo.kube_dir())
            .map_err(anyhow::Error::from)
            .and_then(|()| crate::fsx::write_atomic(&path, GUARD.as_bytes(), 0o644));
    }
    path
}

/// deps/bin, then the `.bin/` folders of the repository, the cluster and
/// the app.
pub fn path_prefix(repo: &Repo, scope: &Scope) -> Vec<String> {
    let mut dirs: Vec<PathBuf> = vec![repo.root.join("deps").join("bin"), repo.root.join(".bin")];
    if let Some(cluster) = &scope.cluster {
        let cluster_dir = repo.root.join("clusters").join(cluster);
        dirs.push(cluster_dir.join(".bin"));
        if let Some(app) = &scope.app {
            dirs.push(cluster_dir.join("apps").join(app).join(".bin"));
        }
    }
    dirs.iter().map(|d| d.display().to_string()).collect()
}

/// `🐣 local hmlet/photos`: the `[prompt] format` of shell.toml.
pub fn prompt(repo: &Repo, stage: &Stage, scope: &Scope) -> String {
    let format = repo.shell.value.prompt.format.get_ref();
    let text = format
        .replace("{emoji}", stage.emoji())
        .replace("{stage}", &stage.label())
        .replace("{scope}", &scope.label());
    text.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// For `env --explain` of a built-in.
pub fn meaning(name: &str) -> &'static str {
    match name {
        "XTASK_ROOT" => "the repository root",
        "XTASK_STAGE" => "the stage",
        "XTASK_INSTANCE" => {
            "the instance of the stage (`STAGE@NAME`): its namespaces and hosts carry the name"
        }
        "XTASK_INSTANCE_SUFFIX" => {
            "`-<instance>` in an instance, else empty: what its namespaces end with"
        }
        "XTASK_INSTANCE_PREFIX" => {
            "`<instance>.` in an instance, else empty: what its hosts start with"
        }
        "XTASK_CLUSTER" => "the cluster of the scope",
        "XTASK_APP" => "the app of the scope",
        "XTASK_PROMPT" => "the prompt prefix (shell.toml [prompt])",
        "XTASK_KUBE_CONTEXT" => "the kube context of the cluster and stage",
        "XTASK_HTTP_PORT" => {
            "the port the stage's gateway serves HTTP on (cluster.toml [stages.<stage>] http_port on kind stages, else 80)"
        }
        "KUBECONFIG" => "the stage's one-context kubeconfig (deps/kube/views/)",
        "PATH" => "deps/bin, the .bin folders of repo, cluster and app, then the inherited PATH",
        _ => "set by stagecraft",
    }
}
