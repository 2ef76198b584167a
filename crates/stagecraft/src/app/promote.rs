//! `app promote APP --from S1 --to S2`: what runs in S1 goes to S2
//! unchanged. The images are read from S1's pods (their digests, as the
//! runtime resolved them), never built; S1's releases must be deployed and
//! their pods ready. When S2 pulls from another registry, each image is
//! copied there by digest (`docker buildx imagetools create`, which copies
//! the manifest, not a rebuild). Then S2 is deployed with those digests.

use anyhow::{Context, Result, bail};

use crate::app::deploy::{self, Observer, Report};
use crate::app::model;
use crate::app::pods;
use crate::app::releases::AppAt;
use crate::app::rewrite;
use crate::cluster::Target;
use crate::tools::toolbox::{Planned, Tool, Toolbox};
use stagecraft_core::process::Runner;
use stagecraft_core::repo::{Repo, Scope};
use stagecraft_core::stage::confirm;
use stagecraft_core::stage::environment::{self, Secrets};

pub struct Options {
    pub from: String,
    pub to: String,
    pub dry_run: bool,
    pub yes: bool,
    pub jobs: usize,
}

/// An image as it runs in the source stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promoted {
    pub image: String,
    /// `localhost:5001/web:3f2a...` as the pods name it.
    pub running: String,
    /// The tag it ran as in the source stage, kept in the target.
    pub tag: String,
    /// `sha256:...`
    pub digest: String,
    /// What the target stage deploys: `<registry>/<image>:<tag>@<digest>`.
    pub reference: String,
}

pub fn promote(
    repo: &Repo,
    cluster: &str,
    app: &str,
    options: &Options,
    observer: &dyn Observer,
) -> Result<(Vec<Promoted>, Report)> {
    if options.from == options.to {
        bail!(
            "--from and --to are both {}: promote goes from one stage to another",
            options.to
        );
    }
    let to = repo.stage(&options.to)?;
    let target = Target::new(repo, cluster, to.clone())?;
    // Before the first step, even the reads of the source stage.
    if !options.dry_run {
        confirm::protected(&to, options.yes, "promote", Some(&target.name()))?;
    }
    let source = AppAt::new(repo, cluster, app, Some(&options.from), Secrets::Skip)?;
    let status = crate::app::releases::status(repo, &source)?;
    for row in &status {
        if row.status != "deployed" {
            bail!(
                "{app}/{} is {} in stage {}: promote takes what runs in a healthy stage\n  hint: cargo xtask app status {app} --stage {}",
                row.release,
                row.status,
                options.from,
                options.from
            );
        }
    }
    let file = repo.app(cluster, app)?;
    let env = environment::resolve(repo, &to, &Scope::app(cluster, app), Secrets::Skip)?;
    let registry = model::registry(&target, &env)?;
    let mut running = Vec::new();
    for release in &source.releases {
        for container in pods::running(repo, &source, release)? {
            if !container.ready {
                bail!(
                    "pod {} of {} in stage {} is not ready: promote takes what runs in a healthy stage",
                    container.pod,
                    release.id(),
                    options.from
                );
            }
            running.push(container);
        }
    }
    let mut promoted = Vec::new();
    for image in &file.value.images {
        let found = running
            .iter()
            .find(|c| rewrite::names(&c.image, &image.name))
            .with_context(|| {
                format!(
                    "no pod of {app} in stage {} runs image {}: deploy it there first",
                    options.from, image.name
                )
            })?;
        let digest = found
            .image_id
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .filter(|d| d.starts_with("sha256:"))
            .with_context(|| {
                format!(
                    "pod {} runs {} without a digest ({:?}): cannot promote what cannot be named exactly",
                    found.pod, found.image, found.image_id
                )
            })?;
        let tag = tag_of(&found.image).unwrap_or("promoted").to_owned();
        promoted.push(Promoted {
            image: image.name.clone(),
            running: found.image.clone(),
            reference: format!(
                "{}@{digest}",
                model::built_reference(&registry, &image.name, &tag)
            ),
            tag,
            digest,
        });
    }
    // Another registry: copy each image there by digest.
    let runner = Runner {
        dry_run: options.dry_run,
    };
    let copies: Vec<&Promoted> = promoted
        .iter()
        .filter(|p| !p.running.starts_with(&format!("{registry}/")))
        .collect();
    if !copies.is_empty() {
        let tools = Toolbox::find(repo, &[Tool::Docker], &Planned::default())?;
        for copy in copies {
            // By digest alone: exactly what runs, whatever the tag says now.
            let named = copy.running.split('@').next().unwrap_or(&copy.running);
            let repository = match tag_of(named) {
                Some(tag) => &named[..named.len() - tag.len() - 1],
                None => named,
            };
            let source = format!("{repository}@{}", copy.digest);
            let tagged = copy.reference.split('@').next().unwrap_or(&copy.reference);
            runner.run(&tools.docker().args([
                "buildx",
                "imagetools",
                "create",
                "--tag",
                tagged,
                &source,
            ]))?;
        }
    }
    let pinned = promoted
        .iter()
        .map(|p| (p.image.clone(), format!("{}@{}", p.tag, p.digest)))
        .collect();
    let report = deploy::deploy(
        repo,
        cluster,
        &[app.to_owned()],
        &deploy::Options {
            stage: Some(options.to.clone()),
            jobs: options.jobs,
            sets: Vec::new(),
            dry_run: options.dry_run,
            // Confirmed above.
            yes: true,
            // Nothing of this work tree is shipped: images and all are S1's.
            allow_dirty: true,
            force: false,
            keep_going: false,
            locked: false,
            pinned,
            ttl: None,
        },
        observer,
        &Planned::default(),
    )?;
    Ok((promoted, report))
}

/// The tag of a reference (`host:5001/web:abc` is `abc`), if it has one.
fn tag_of(reference: &str) -> Option<&str> {
    let without_digest = reference.split('@').next()?;
    let slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    without_digest[slash..].rsplit_once(':').map(|(_, tag)| tag)
}

#[cfg(test)]
mod tests {
    use super::tag_of;

    #[test]
    fn tags_after_the_last_slash() {
        assert_eq!(tag_of("localhost:5001/web:abc"), Some("abc"));
        assert_eq!(tag_of("localhost:5001/web"), None);
        assert_eq!(tag_of("web:1@sha256:00"), Some("1"));
    }
}
