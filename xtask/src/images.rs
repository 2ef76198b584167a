//! Images: `docker build` of an app's `[[images]]`, tagged with the git
//! sha (`-dirty` for a changed tree), pushed to the stage's registry.

use std::path::{Component, PathBuf};

use anyhow::Result;

use crate::apps::{self, App};
use crate::cluster::Target;
use crate::environment::{self, Secrets};
use crate::process::Runner;
use crate::repo::{Repo, Scope};
use crate::toolbox::{Planned, Tool, Toolbox};
use crate::ui;

/// Builds and pushes an app's images as `<registry>/<image>:<git sha>`.
/// With `skip_unchanged`, an image of a clean tree's sha that docker
/// already has is left alone (a `-dirty` tag always rebuilds).
pub fn build(
    repo: &Repo,
    target: &Target,
    app_name: &str,
    runner: &Runner,
    skip_unchanged: bool,
    planned: &Planned,
) -> Result<()> {
    let app = App::load(repo, &target.cluster, app_name)?;
    let scope = Scope::app(&target.cluster, app_name);
    let env = environment::resolve(repo, &target.stage, &scope, Secrets::Skip)?;
    let registry = apps::registry(target, &env)?;
    let tag = apps::image_tag(repo);
    if app.file.value.images.is_empty() {
        if !runner.dry_run && !ui::quiet() {
            crate::outln!("{app_name} has no [[images]]: nothing to build");
        }
        return Ok(());
    }
    let tools = Toolbox::find(repo, &[Tool::Docker], planned)?;
    for image in &app.file.value.images {
        let reference = format!("{registry}/{}:{tag}", image.name);
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
                crate::outln!("✔ {reference}: unchanged");
            }
            continue;
        }
        // `context = "."` is the app folder itself, without a trailing `/.`.
        let context: PathBuf = app
            .dir
            .join(&image.context)
            .components()
            .filter(|c| *c != Component::CurDir)
            .collect();
        let dockerfile = context.join(image.dockerfile.as_deref().unwrap_or("Dockerfile"));
        runner.run(
            &tools
                .docker()
                .args(["build", "--tag", &reference, "--file"])
                .arg(&dockerfile)
                .arg(&context),
        )?;
        runner.run(&tools.docker().args(["push", &reference]))?;
        if !runner.dry_run && !ui::quiet() {
            crate::outln!("+ {reference}: built and pushed");
        }
    }
    Ok(())
}
