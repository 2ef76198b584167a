//! Images: `docker build` of an app's `[[images]]`, tagged with the git
//! sha (`-dirty` for a changed tree), pushed to the stage's registry.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Component, PathBuf};

use anyhow::Result;

use crate::app::model::{self, App};
use crate::cluster::Target;
use crate::tools::toolbox::{Planned, Tool, Toolbox};
use stagecraft_core::process::Runner;
use stagecraft_core::repo::{Repo, Scope};
use stagecraft_core::stage::environment::{self, Secrets};
use stagecraft_core::ui;

/// How `build` goes about it.
pub struct Options<'a> {
    /// An image of a clean tree's sha that docker already has is left
    /// alone (a `-dirty` tag always rebuilds).
    pub skip_unchanged: bool,
    /// Check first that the stage's kubeconfig reaches the stage's
    /// cluster (`up` checked it moments before, in bootstrap).
    pub check_cluster: bool,
    /// The builds done already (reference, Dockerfile, context): an image
    /// several apps declare alike is built once.
    pub built: Option<&'a RefCell<Built>>,
}

/// An image's reference, Dockerfile and context, for each build done.
pub type Built = HashSet<(String, PathBuf, PathBuf)>;

/// Builds and pushes an app's images as `<registry>/<image>:<git sha>`.
pub fn build(
    repo: &Repo,
    target: &Target,
    app_name: &str,
    runner: &Runner,
    options: &Options,
    planned: &Planned,
) -> Result<()> {
    let skip_unchanged = options.skip_unchanged;
    let app = App::load(repo, &target.cluster, app_name)?;
    let scope = Scope::app(&target.cluster, app_name);
    let env = environment::resolve(repo, &target.stage, &scope, Secrets::Skip)?;
    let registry = model::registry(target, &env)?;
    let tag = model::image_tag(repo);
    if app.file.value.images.is_empty() {
        if !runner.dry_run && !ui::quiet() {
            stagecraft_core::outln!("{app_name} has no [[images]]: nothing to build");
        }
        return Ok(());
    }
    // Pushes for a stage whose cluster this machine reaches check first
    // that it is the stage's cluster (CI building without a kubeconfig
    // pushes to the registry only).
    let reaches_cluster = options.check_cluster && target.source().is_file();
    let needs: &[Tool] = if reaches_cluster {
        &[Tool::Docker, Tool::Kubectl]
    } else {
        &[Tool::Docker]
    };
    let tools = Toolbox::find(repo, needs, planned)?;
    if reaches_cluster {
        crate::cluster::identity::verify(repo, target, &tools, *runner)?;
    }
    for image in &app.file.value.images {
        let reference = crate::app::model::built_reference(&registry, &image.name, &tag);
        // `context = "."` is the app folder itself, without a trailing `/.`.
        let context: PathBuf =
            crate::app::source::resolve_path(&repo.root, &app.dir, &image.context)
                .components()
                .filter(|c| *c != Component::CurDir)
                .collect();
        let dockerfile = context.join(image.dockerfile.as_deref().unwrap_or("Dockerfile"));
        if let Some(built) = options.built
            && !built
                .borrow_mut()
                .insert((reference.clone(), dockerfile.clone(), context.clone()))
        {
            continue;
        }
        let clean = !tag.ends_with("-dirty") && tag != "dev";
        if skip_unchanged
            && clean
            && runner
                .probe(
                    &tools
                        .docker()
                        .args(["image", "inspect", "--format", "{{.Id}}", &reference]),
                )
                .is_some()
        {
            if !runner.dry_run && !ui::quiet() {
                stagecraft_core::outln!("✔ {reference}: unchanged");
            }
            continue;
        }
        runner.run(
            &tools
                .docker()
                .args(["build", "--tag", &reference, "--file"])
                .arg(&dockerfile)
                .arg(&context),
        )?;
        runner.run(&tools.docker().args(["push", &reference]))?;
        if !runner.dry_run && !ui::quiet() {
            stagecraft_core::outln!("+ {reference}: built and pushed");
        }
    }
    Ok(())
}
