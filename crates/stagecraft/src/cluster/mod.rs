//! The cluster operations: one cluster in one stage as a [`Target`], and
//! the use cases `bootstrap`, `status` and `delete` that ask its
//! provider's [`Operations`]. Every kubectl and kind call names the
//! kubeconfig file (and kubectl the context): the user's current context
//! is never relied on.

mod context;
pub mod gateway;
pub mod hosts;
pub mod identity;
pub mod instances;
mod kind;
mod provider;
mod remote;
mod status;
mod target;
pub mod tls;

use std::path::Path;

use anyhow::{Result, bail};
use stagecraft_core::cluster::{Kind, Remote};
use stagecraft_core::config::Target as ProviderKind;
use stagecraft_core::process::Runner;
use stagecraft_core::repo::Repo;

pub use context::{Cx, Operation, docker_answers};
pub use kind::REGISTRY_PORT;
pub use provider::Operations;
pub use status::Status;
pub use target::{GATEWAY_NAMESPACE, Routing, Target};

use crate::tools::toolbox::{Planned, Toolbox};

/// The operations of a stage's provider.
pub fn operations(kind: ProviderKind) -> &'static dyn Operations {
    match kind {
        ProviderKind::Kind => &Kind,
        ProviderKind::Remote => &Remote,
    }
}

/// Where the target's images are pushed: the provider's local registry,
/// or `registry_var` (the app's `REGISTRY`).
pub fn registry(target: &Target, registry_var: Option<&str>) -> Result<String> {
    operations(target.stage.target()).registry(target, registry_var)
}

/// `cluster bootstrap`: the provider's steps, tools found first (a missing
/// one stops everything before any change).
pub fn bootstrap(
    repo: &Repo,
    target: &Target,
    runner: Runner,
    planned: &Planned,
    locked: bool,
) -> Result<()> {
    let tools = Toolbox::find(
        repo,
        operations(target.stage.target()).tools(Operation::Bootstrap),
        planned,
    )?;
    let cx = Cx {
        repo,
        target,
        tools: &tools,
        runner,
        hosts_file: None,
        locked,
    };
    operations(target.stage.target()).bootstrap(&cx)
}

pub fn status(repo: &Repo, target: &Target) -> Result<Status> {
    let tools = Toolbox::find(
        repo,
        operations(target.stage.target()).tools(Operation::Status),
        &Planned::default(),
    )?;
    let cx = Cx {
        repo,
        target,
        tools: &tools,
        runner: Runner { dry_run: false },
        hosts_file: None,
        locked: false,
    };
    let mut status = operations(target.stage.target()).status(&cx)?;
    if status.exists {
        status.identity = Some(identity::report(target, &tools));
    }
    Ok(status)
}

/// Deletes a cluster Stagecraft created, and its hosts block. Refuses
/// protected stages and providers that do not create clusters.
pub fn delete(repo: &Repo, target: &Target, runner: Runner, hosts_file: &Path) -> Result<()> {
    if target.stage.protected() {
        bail!(
            "stage {} is protected: Stagecraft never deletes its cluster\n  hint: protected clusters are managed outside Stagecraft",
            target.stage.name
        );
    }
    if !target.provider.creates_clusters() {
        bail!(
            "stage {} is remote: Stagecraft only deletes the kind clusters it creates",
            target.stage.name
        );
    }
    let tools = Toolbox::find(
        repo,
        operations(target.stage.target()).tools(Operation::Delete),
        &Planned::default(),
    )?;
    let cx = Cx {
        repo,
        target,
        tools: &tools,
        runner,
        hosts_file: Some(hosts_file.to_owned()),
        locked: false,
    };
    operations(target.stage.target()).delete(&cx)
}
