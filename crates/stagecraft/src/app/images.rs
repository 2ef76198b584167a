//! Images: `docker build` of an app's `[[images]]`, each tagged with the
//! hash of its inputs (`tags.rs`), pushed to the stage's registry; a tag
//! the registry has already is neither built nor pushed.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::Result;

use crate::app::model::{self, App};
use crate::app::registry::{self, Presence};
use crate::app::tags;
use crate::cluster::Target;
use crate::tools::toolbox::{Planned, Tool, Toolbox};
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::repo::{Repo, Scope};
use stagecraft_core::stage::environment::{self, Secrets};
use stagecraft_core::ui;

/// How `build` goes about it.
pub struct Options<'a> {
    /// Ask the stage's registry first: a tag it has is not built again.
    pub skip_present: bool,
    /// Check first that the stage's kubeconfig reaches the stage's
    /// cluster (`up` checked it moments before, in bootstrap).
    pub check_cluster: bool,
    /// The builds done already (reference, Dockerfile, context): an image
    /// several apps declare alike is built once.
    pub built: Option<&'a RefCell<Built>>,
    /// The registry's answers, asked for all the apps at once
    /// ([`ask_registries`]); a tag not among them is asked on its own.
    pub answers: Option<&'a registry::Answers>,
}

/// An image's reference, Dockerfile and context, for each build done.
pub type Built = HashSet<(String, PathBuf, PathBuf)>;

/// Builds and pushes an app's images as `<registry>/<image>:<inputs hash>`.
pub fn build(
    repo: &Repo,
    target: &Target,
    app_name: &str,
    runner: &Runner,
    options: &Options,
    planned: &Planned,
) -> Result<()> {
    let app = App::load(repo, &target.cluster, app_name)?;
    let scope = Scope::app(&target.cluster, app_name);
    let env = environment::resolve(repo, &target.stage, &scope, Secrets::Skip)?;
    let registry = model::registry(target, &env)?;
    if app.file.value.images.is_empty() {
        if !runner.dry_run && !ui::quiet() {
            stagecraft_core::outln!("{app_name} has no [[images]]: nothing to build");
        }
        return Ok(());
    }
    let mut images = tags::of_app(&repo.root, &app.dir, &app.file, &env)?;
    tags::fill(&repo.root, &mut images)?;
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
    let revision = revision(repo);
    for image in &images {
        let reference = model::built_reference(&registry, &image.name, &image.tag);
        if let Some(built) = options.built
            && !built.borrow_mut().insert((
                reference.clone(),
                image.dockerfile.clone(),
                image.context.clone(),
            ))
        {
            continue;
        }
        // Read-only, so a dry run asks too: its plan is the real one.
        if options.skip_present {
            let asked = options
                .answers
                .and_then(|a| a.get(&registry, &image.name, &image.tag));
            let presence = match asked {
                Some(presence) => presence.clone(),
                None => registry::has_tag(&registry, &image.name, &image.tag),
            };
            match presence {
                Presence::Present => {
                    if !ui::quiet() {
                        let line = format!(
                            "{reference}: in the registry already, not built or pushed (its inputs are unchanged)"
                        );
                        match runner.dry_run {
                            true => stagecraft_core::outln!("# skip {line}"),
                            false => stagecraft_core::outln!("✔ {line}"),
                        }
                    }
                    continue;
                }
                Presence::Absent => {}
                Presence::Unknown(why) => {
                    if ui::verbose() {
                        stagecraft_core::errln!(
                            "{reference}: cannot ask the registry ({why}): building"
                        );
                    }
                }
            }
        }
        runner.run(&build_cmd(
            tools.docker(),
            image,
            &reference,
            revision.as_deref(),
        ))?;
        runner.run(&tools.docker().args(["push", &reference]))?;
        if !runner.dry_run && !ui::quiet() {
            stagecraft_core::outln!("+ {reference}: built and pushed");
        }
    }
    Ok(())
}

/// Asks the stage's registries about the images of `apps`, all of them
/// side by side, before anything is built (read-only: a dry run asks too).
pub fn ask_registries(repo: &Repo, target: &Target, apps: &[String]) -> Result<registry::Answers> {
    let queries = list(repo, target, apps)?
        .into_iter()
        .map(|l| (l.registry, l.image, l.tag))
        .collect();
    Ok(registry::ask_all(queries))
}

/// An image of an app as a stage builds it.
#[derive(Debug, serde::Serialize)]
pub struct Listed {
    pub app: String,
    pub image: String,
    pub tag: String,
    pub reference: String,
    /// The stage's registry (the reference's start).
    #[serde(skip)]
    pub registry: String,
    /// The build context, from the repository root.
    pub context: String,
}

/// The images of `apps` in the target's stage, with their tags (nothing is
/// built or asked).
pub fn list(repo: &Repo, target: &Target, apps: &[String]) -> Result<Vec<Listed>> {
    let mut images = Vec::new();
    for app_name in apps {
        let app = App::load(repo, &target.cluster, app_name)?;
        let scope = Scope::app(&target.cluster, app_name);
        let env = environment::resolve(repo, &target.stage, &scope, Secrets::Skip)?;
        let registry = model::registry(target, &env)?;
        for image in tags::of_app(&repo.root, &app.dir, &app.file, &env)? {
            images.push((app_name, registry.clone(), image));
        }
    }
    // Every app's contexts at once.
    let mut plans: Vec<tags::ImagePlan> = images.iter().map(|(_, _, i)| i.clone()).collect();
    tags::fill(&repo.root, &mut plans)?;
    let mut out = Vec::new();
    for ((app_name, registry, _), image) in images.into_iter().zip(plans) {
        {
            out.push(Listed {
                app: app_name.clone(),
                reference: model::built_reference(&registry, &image.name, &image.tag),
                context: image
                    .context
                    .strip_prefix(&repo.root)
                    .unwrap_or(&image.context)
                    .display()
                    .to_string(),
                image: image.name,
                tag: image.tag,
                registry,
            });
        }
    }
    Ok(out)
}

/// `docker build` of one image: its build args, target and platforms, the
/// commit as the OCI revision label.
fn build_cmd(docker: Cmd, image: &tags::ImagePlan, reference: &str, revision: Option<&str>) -> Cmd {
    let mut cmd = docker
        .args(["build", "--tag", reference, "--file"])
        .arg(&image.dockerfile);
    for (key, value) in &image.args {
        cmd = cmd.arg("--build-arg").arg(format!("{key}={value}"));
    }
    if let Some(target) = &image.target {
        cmd = cmd.args(["--target", target]);
    }
    if !image.platforms.is_empty() {
        cmd = cmd.arg("--platform").arg(image.platforms.join(","));
    }
    if let Some(revision) = revision {
        cmd = cmd
            .arg("--label")
            .arg(format!("org.opencontainers.image.revision={revision}"));
    }
    cmd.arg(&image.context)
}

/// The commit checked out (the image's revision label); None outside git.
pub fn revision(repo: &Repo) -> Option<String> {
    Cmd::new("git")
        .arg("-C")
        .arg(&repo.root)
        .args(["rev-parse", "HEAD"])
        .read()
        .ok()
        .map(|s| s.trim().to_owned())
}
