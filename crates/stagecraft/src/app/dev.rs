//! `app dev`: skaffold's development loop on a kind stage, optional and
//! off the everyday path (skaffold's upstream is archived).

use anyhow::{Result, bail};

use crate::app::releases::AppAt;
use crate::app::values;
use crate::cluster::identity;
use crate::tools::toolbox::{Planned, Tool, Toolbox};
use stagecraft_core::fsx;
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::repo::Repo;

fn tools(repo: &Repo, needs: &[Tool]) -> Result<Toolbox> {
    Toolbox::find(repo, needs, &Planned::default())
}

/// `skaffold dev` in the app's folder, with the stage's profile, on a
/// stage whose clusters Stagecraft creates and that is not protected.
/// What `app dev` starts, and the folder of Stagecraft's values it reads
/// (`$STAGECRAFT_VALUES_DIR`), removed when this is dropped.
pub struct Dev {
    pub cmd: Cmd,
    _values: fsx::TempDir,
}

pub fn dev(repo: &Repo, at: &AppAt, app: &str, runner: Runner) -> Result<Dev> {
    let target = &at.target;
    if target.stage.protected() {
        bail!(
            "stage {} is protected: `app dev` never runs there",
            target.stage.name
        );
    }
    if !target.provider.has_local_registry() {
        bail!(
            "stage {} is remote: `app dev` runs on stages with a local registry (kind: local, test)",
            target.stage.name
        );
    }
    let dir = repo.app_dir(&target.cluster, app);
    if !dir.join("skaffold.yaml").is_file() {
        bail!(
            "{}/skaffold.yaml does not exist\n  hint: add a skaffold.yaml with a profile named {}",
            dir.strip_prefix(&repo.root).unwrap_or(&dir).display(),
            target.stage.name
        );
    }
    let tools = tools(repo, &[Tool::Skaffold, Tool::Kubectl])?;
    if !runner.dry_run {
        target.require_kubeconfig()?;
    }
    identity::verify(repo, target, &tools, runner)?;
    // What Stagecraft adds to the values, for skaffold.yaml to name:
    // `{{.STAGECRAFT_VALUES_DIR}}/<release>.json`; secrets go to the
    // cluster first, through stdin.
    let values_dir = fsx::private_temp_dir("stagecraft-dev")?;
    for release in &at.releases {
        let kubectl = tools.kubectl(&target.kube).no_stdin();
        let release = &values::with_checksum_key(&runner, kubectl, release, true)?;
        if let Some(secret) = values::secret_manifest(release, true) {
            runner.run(&values::apply_secret(
                tools.kubectl(&target.kube),
                release,
                &secret,
            ))?;
        }
        let text = serde_json::to_string_pretty(&values::generated(release)).expect("JSON");
        fsx::write_private(
            &values_dir.path().join(format!("{}.json", release.name)),
            text.as_bytes(),
        )?;
    }
    let cmd = tools
        .cmd(Tool::Skaffold)
        .args([
            "dev",
            "--profile",
            &target.stage.name,
            "--kube-context",
            &target.context,
            "--kubeconfig",
        ])
        .arg(target.kubeconfig())
        .args([
            "--default-repo",
            &format!("localhost:{}", crate::cluster::REGISTRY_PORT),
        ])
        .dir(&dir)
        .env("KUBECONFIG", target.kubeconfig())
        .env("STAGECRAFT_VALUES_DIR", values_dir.path());
    Ok(Dev {
        cmd,
        _values: values_dir,
    })
}
