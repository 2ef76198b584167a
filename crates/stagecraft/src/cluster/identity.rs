//! Which cluster a stage's kubeconfig really reaches, checked before every
//! change: the `kube-system` namespace's UID (a new one with every
//! cluster) and the API server's URL. A shared cluster's identity is in
//! `cluster.toml` (`cluster pin`, committed for the whole team); a kind
//! cluster is each machine's own, recorded under `deps/kube/` when
//! bootstrap creates it.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::target::Target;
use crate::tools::toolbox::Toolbox;
use stagecraft_core::config::ClusterIdentity as Identity;
use stagecraft_core::fsx;
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::repo::Repo;
use stagecraft_core::ui;

/// Where a machine-local identity is kept.
fn local_file(target: &Target) -> PathBuf {
    target.source().with_extension("identity.toml")
}

fn cluster_file(repo: &Repo, target: &Target) -> PathBuf {
    repo.root
        .join("clusters")
        .join(&target.cluster)
        .join("cluster.toml")
}

/// The identity on record, if any.
pub fn recorded(target: &Target) -> Result<Option<Identity>> {
    if target.provider.shares_clusters() {
        return Ok(target
            .stage_table()
            .and_then(|t| t.identity.as_ref())
            .map(|i| i.get_ref().clone()));
    }
    let path = local_file(target);
    match fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map(Some).with_context(|| {
            format!(
                "{} is damaged: run `cargo xtask cluster pin {} --stage {}`",
                path.display(),
                target.cluster,
                target.stage.name
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The identity the kubeconfig reaches now: one cheap call for the UID;
/// the server is read off the one-context view.
pub fn live(tools: &Toolbox, target: &Target) -> Result<Identity> {
    target.connect()?;
    let uid = uid_query(tools, target)
        .read()
        .with_context(|| format!("cannot tell which cluster {} reaches", target.name()))?
        .trim()
        .to_owned();
    if uid.is_empty() {
        bail!(
            "the cluster behind {} has no kube-system namespace UID",
            target.name()
        );
    }
    let view = fs::read_to_string(target.kubeconfig())
        .with_context(|| format!("cannot read {}", target.kubeconfig().display()))?;
    Ok(Identity {
        uid,
        server: server_in(&view).unwrap_or_default(),
    })
}

fn uid_query(tools: &Toolbox, target: &Target) -> Cmd {
    tools.kubectl(&target.kube).args([
        "get",
        "namespace",
        "kube-system",
        "--output",
        "jsonpath={.metadata.uid}",
        "--request-timeout=10s",
    ])
}

/// Whether an API server URL is on this machine, as kind's are
/// (`https://127.0.0.1:PORT`, or the node's name inside docker's network).
fn is_local_server(server: &str) -> bool {
    let rest = server.strip_prefix("https://").unwrap_or(server);
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => rest.split([':', '/']).next().unwrap_or(""),
    };
    host == "localhost"
        || host == "::1"
        || host.ends_with("-control-plane")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The `server:` of a one-context kubeconfig (as `kubectl config view`
/// writes it: one cluster, `server: URL` on a line of its own).
fn server_in(kubeconfig: &str) -> Option<String> {
    kubeconfig.lines().find_map(|line| {
        let value = line.trim().strip_prefix("server:")?.trim();
        Some(value.trim_matches(|c| c == '\'' || c == '"').to_owned())
    })
}

/// Records `identity` for the target: in cluster.toml for shared
/// clusters (kept formatting, locked, atomic), else on this machine.
pub fn record(repo: &Repo, target: &Target, identity: &Identity) -> Result<PathBuf> {
    if !target.provider.shares_clusters() {
        // A kind cluster is this machine's: whatever else the kubeconfig
        // reaches is never recorded as it (nor deployed to).
        if !is_local_server(&identity.server) {
            bail!(
                "refusing to use {} as the kind cluster {name}: its kubeconfig ({}) reaches {}, and a kind cluster's API server is on this machine (127.0.0.1, localhost)\n  \
                 hint: this file was written by something else than kind; delete it and run `cargo xtask cluster bootstrap {} --stage {}`",
                identity.server,
                target.source().display(),
                identity.server,
                target.cluster,
                target.stage.name,
                name = target.name(),
            );
        }
        let path = local_file(target);
        let text = format!(
            "# The kind cluster {} of this machine (cargo xtask cluster pin).\nuid = {}\nserver = {}\n",
            target.name(),
            toml_edit::Value::from(identity.uid.as_str()),
            toml_edit::Value::from(identity.server.as_str())
        );
        fsx::replace_private(&path, text.as_bytes())?;
        return Ok(path);
    }
    let path = cluster_file(repo, target);
    let stage = target.stage.name.clone();
    fsx::edit(&path, 0o644, |old| {
        let mut doc: toml_edit::DocumentMut = old
            .parse()
            .with_context(|| format!("cannot parse {}", path.display()))?;
        let stages = doc
            .entry("stages")
            .or_insert_with(|| {
                let mut t = toml_edit::Table::new();
                t.set_implicit(true);
                toml_edit::Item::Table(t)
            })
            .as_table_like_mut()
            .context("`stages` in cluster.toml is not a table")?;
        let table = stages
            .entry(&stage)
            .or_insert(toml_edit::Item::Table(toml_edit::Table::new()))
            .as_table_like_mut()
            .with_context(|| format!("`stages.{stage}` in cluster.toml is not a table"))?;
        let mut inline = toml_edit::InlineTable::new();
        inline.insert("uid", identity.uid.as_str().into());
        inline.insert("server", identity.server.as_str().into());
        crate::tomlx::set_keeping_decor(table, "identity", toml_edit::Value::InlineTable(inline));
        Ok(Some(doc.to_string()))
    })?;
    Ok(path)
}

/// Records the identity of a cluster bootstrap just created.
pub fn record_created(repo: &Repo, target: &Target, tools: &Toolbox, runner: Runner) -> Result<()> {
    if runner.dry_run {
        stagecraft_core::outln!("{}", uid_query(tools, target).script());
        return Ok(());
    }
    record(repo, target, &live(tools, target)?).map(drop)
}

/// Before the first change: the cluster the kubeconfig reaches must be
/// the one on record. A kind cluster without a record gets one (its
/// first use, on this machine); an unpinned shared one is a warning.
pub fn verify(repo: &Repo, target: &Target, tools: &Toolbox, runner: Runner) -> Result<()> {
    if runner.dry_run {
        // The question a real run asks first.
        stagecraft_core::outln!("{}", uid_query(tools, target).script());
        return Ok(());
    }
    let found = live(tools, target)?;
    match recorded(target)? {
        Some(expected) if expected == found => Ok(()),
        Some(expected) => bail!(
            "refusing to touch {name}: its kubeconfig reaches another cluster than the one on record\n  \
             expected: uid {} at {}\n  \
             found:    uid {} at {}\n  \
             hint: if the cluster was recreated on purpose, record the new one: cargo xtask cluster pin {} --stage {}",
            expected.uid,
            expected.server,
            found.uid,
            found.server,
            target.cluster,
            target.stage.name,
            name = target.name(),
        ),
        None if target.provider.shares_clusters() => {
            ui::warn(&format!(
                "{} is not pinned: nothing checks that its kubeconfig reaches the right cluster\n  hint: run `cargo xtask cluster pin {} --stage {}` and commit cluster.toml",
                target.name(),
                target.cluster,
                target.stage.name
            ));
            Ok(())
        }
        None => record(repo, target, &found).map(drop),
    }
}

/// What `cluster pin` did.
#[derive(Debug, serde::Serialize)]
pub struct Pinned {
    pub cluster: String,
    pub stage: String,
    pub identity: Identity,
    /// What was on record before, if anything.
    pub previous: Option<Identity>,
    /// Where it is recorded.
    pub file: PathBuf,
    pub changed: bool,
}

/// `cluster pin`: records the identity the kubeconfig reaches now.
pub fn pin(repo: &Repo, target: &Target, dry_run: bool) -> Result<Pinned> {
    let tools = Toolbox::find(
        repo,
        &[crate::tools::toolbox::Tool::Kubectl],
        &Default::default(),
    )?;
    let identity = live(&tools, target)?;
    let previous = recorded(target)?;
    let changed = previous.as_ref() != Some(&identity);
    let file = if !target.provider.shares_clusters() {
        local_file(target)
    } else {
        cluster_file(repo, target)
    };
    if changed && !dry_run {
        record(repo, target, &identity)?;
    }
    Ok(Pinned {
        cluster: target.cluster.clone(),
        stage: target.stage.name.clone(),
        identity,
        previous,
        file,
        changed,
    })
}

/// The identity on record and the live one, for `cluster status` and
/// `doctor`.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub recorded: Option<Identity>,
    pub live: Option<Identity>,
    /// Whether they are the same (when both are known).
    pub matches: Option<bool>,
}

pub fn report(target: &Target, tools: &Toolbox) -> Report {
    let recorded = recorded(target).ok().flatten();
    let live = live(tools, target).ok();
    let matches = match (&recorded, &live) {
        (Some(r), Some(l)) => Some(r == l),
        _ => None,
    };
    Report {
        recorded,
        live,
        matches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_servers_are_local() {
        for local in [
            "https://127.0.0.1:6443",
            "https://127.0.0.1:39211",
            "https://localhost:6443",
            "https://[::1]:6443",
            "https://hmlet-local-control-plane:6443",
        ] {
            assert!(is_local_server(local), "{local}");
        }
        for remote in ["https://prod.example:6443", "https://10.0.0.5:6443", ""] {
            assert!(!is_local_server(remote), "{remote}");
        }
    }

    #[test]
    fn the_server_is_read_off_a_minified_kubeconfig() {
        let view = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    server: https://127.0.0.1:6443\n  name: kind-x\n";
        assert_eq!(server_in(view).as_deref(), Some("https://127.0.0.1:6443"));
        assert_eq!(
            server_in("- cluster: {server: 'https://a'}\n").as_deref(),
            None,
            "only what kubectl config view writes"
        );
    }
}
