//! `up` and `down`: everything, in one command. `up` installs the pinned
//! tools, bootstraps every cluster of the stage, builds the images that
//! changed and deploys every app; each step is skipped when already done.
//! `down` deletes the stage's clusters (only those Stagecraft creates).

use std::path::Path;

use anyhow::{Result, bail};

use crate::app::deploy::{self, Report};
use crate::app::images;
use crate::app::model;
use crate::cluster::hosts;
use crate::cluster::{self, Operation, Target};
use crate::download::Client;
use crate::tools::Pins;
use crate::tools::install::{self, Plan, Preview, Reporter};
use crate::tools::lock::Pin;
use crate::tools::toolbox::{Planned, Tool};
use stagecraft_core::process::Runner;
use stagecraft_core::repo::Repo;
use stagecraft_core::stage::confirm;
use stagecraft_core::ui;

pub struct Options {
    pub stage: Option<String>,
    pub jobs: usize,
    pub dry_run: bool,
    pub yes: bool,
    /// Ship a work tree with uncommitted changes to a protected stage.
    pub allow_dirty: bool,
    /// Install only pinned tools (see `deps install --locked`).
    pub locked: bool,
    /// Only the affected apps (`--affected`), since this revision (None:
    /// each app's last deploy, else the merge-base).
    pub affected: Option<Option<String>>,
    /// An instance's time to live (`--ttl`).
    pub ttl: Option<std::time::Duration>,
}

/// What the user sees of `up`: the caller's.
pub trait Show {
    /// `[2/4] clusters: hmlet`.
    fn step(&self, n: usize, total: usize, text: &str);
    fn install_reporter(&self, plans: &[Plan]) -> Box<dyn Reporter>;
    /// A dry run's installs: the pins it would fetch, the downloads.
    fn install_preview(&self, preview: &Preview);
    /// A tool pinned on first use.
    fn pinned(&self, pin: &Pin, url: &str);
    fn deploy_observer(&self) -> &dyn deploy::Observer;
    fn deployed(&self, report: &Report);
}

/// An app's address, for the table at the end.
pub struct Url {
    pub cluster: String,
    pub stage: String,
    pub url: String,
}

/// What `up` leaves for the user to do.
pub struct Done {
    pub urls: Vec<Url>,
    /// `cargo xtask cluster add-hosts ...` lines for names that do not
    /// resolve yet.
    pub hints: Vec<String>,
}

pub fn up(repo: &Repo, options: &Options, show: &dyn Show) -> Result<Done> {
    let stage = repo.stage_or_default(options.stage.as_deref())?;
    // A protected stage is confirmed before the first step, not at the
    // deploy after tools were installed and images pushed.
    if !options.dry_run {
        confirm::clean_tree(&repo.root, &stage, options.allow_dirty, "up")?;
        confirm::protected(
            &stage,
            options.yes,
            "up (tools, clusters, images, deploys)",
            None,
        )?;
    }
    let clusters = repo.cluster_names()?;
    let runner = Runner {
        dry_run: options.dry_run,
    };
    let total = 4;

    let targets = clusters
        .iter()
        .map(|cluster| Target::new(repo, cluster, stage.clone()))
        .collect::<Result<Vec<_>>>()?;

    // Everything that can stop the run is checked before any download:
    // Docker for kind stages (asked for real in a dry run, which marks
    // it), the addons' pins when locked.
    let creates_clusters = targets.iter().any(|t| t.provider.creates_clusters());
    if creates_clusters {
        docker_first(repo, options.dry_run)?;
        if install::Options::locked(options.locked) {
            crate::tools::addons::check_locked(&Pins::load(repo)?)?;
        }
    }

    show.step(1, total, "pinned tools");
    let planned = pinned_tools(repo, &targets, options, show)?;

    show.step(2, total, &format!("clusters: {}", clusters.join(", ")));
    for target in &targets {
        cluster::bootstrap(repo, target, runner, &planned, options.locked)?;
    }

    // The apps to build and deploy: every one that is on, or the affected.
    let affected = match &options.affected {
        Some(since) => Some(stagecraft_core::affected::affected(
            repo,
            &stage,
            since.as_deref(),
        )?),
        None => None,
    };
    let apps_of = |cluster: &str| -> Result<Vec<String>> {
        let on = model::enabled_apps(repo, cluster, &stage.name)?;
        Ok(match &affected {
            Some(affected) => {
                let chosen = affected.apps_of(cluster);
                on.into_iter().filter(|a| chosen.contains(a)).collect()
            }
            None => on,
        })
    };
    if let Some(affected) = &affected
        && !ui::quiet()
    {
        for app in &affected.apps {
            stagecraft_core::outln!(
                "affected: {}/{} ({})",
                app.cluster,
                app.app,
                app.why.join(", ")
            );
        }
    }

    show.step(3, total, "images");
    // An image several apps declare alike is built once.
    let built = std::cell::RefCell::new(std::collections::HashSet::new());
    for target in &targets {
        let apps = apps_of(&target.cluster)?;
        let answers = images::ask_registries(repo, target, &apps)?;
        for app in apps {
            let options = images::Options {
                skip_present: true,
                check_cluster: false,
                built: Some(&built),
                answers: Some(&answers),
            };
            images::build(repo, target, &app, &runner, &options, &planned)?;
        }
    }

    show.step(4, total, "apps");
    let deploy_options = deploy::Options {
        stage: Some(stage.name.clone()),
        jobs: options.jobs,
        sets: Vec::new(),
        dry_run: options.dry_run,
        // Confirmed and checked above.
        yes: true,
        allow_dirty: true,
        force: false,
        keep_going: false,
        locked: options.locked,
        pinned: Vec::new(),
        ttl: options.ttl,
    };
    for target in &targets {
        let apps = apps_of(&target.cluster)?;
        if apps.is_empty() {
            continue;
        }
        let report = deploy::deploy(
            repo,
            &target.cluster,
            &apps,
            &deploy_options,
            show.deploy_observer(),
            &planned,
        )?;
        if !options.dry_run {
            show.deployed(&report);
        }
        report.result()?;
    }
    if options.dry_run {
        return Ok(Done {
            urls: Vec::new(),
            hints: Vec::new(),
        });
    }
    urls(repo, &targets)
}

/// Docker installed and answering, before `up` downloads anything. A dry
/// run prints the question and marks what the real run would find.
fn docker_first(repo: &Repo, dry_run: bool) -> Result<()> {
    let outcome = match dry_run {
        true => "so a real run stops before any download",
        false => "nothing was downloaded or changed",
    };
    let checked = crate::tools::toolbox::Toolbox::find(repo, &[Tool::Docker], &Planned::default())
        .map_err(|e| anyhow::anyhow!("{e:#}").context(format!("Docker is missing, {outcome}")))
        .and_then(|tools| cluster::docker_answers(&tools, outcome));
    match checked {
        Ok(()) if dry_run => stagecraft_core::outln!("# ✔ prerequisites: docker answers"),
        Ok(()) => {}
        Err(e) if dry_run => {
            for (i, line) in format!("{e:#}").lines().enumerate() {
                let line = line.trim_start();
                match i {
                    0 => stagecraft_core::outln!("# ✘ prerequisites: {line}"),
                    _ => stagecraft_core::outln!("#   {line}"),
                }
            }
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Installs the pinned tools the stage's clusters, images and deploys run
/// (never skaffold: only `app dev` needs it), pinning on first use what
/// has no sha256 unless locked. In a dry run, what it would install: the
/// later steps name those tools in deps/bin, where the real run puts them.
fn pinned_tools(
    repo: &Repo,
    targets: &[Target],
    options: &Options,
    show: &dyn Show,
) -> Result<Planned> {
    let pins = Pins::load(repo)?;
    let mut needs = vec![Tool::Helm, Tool::Docker];
    for target in targets {
        needs.extend(cluster::operations(target.stage.target()).tools(Operation::Bootstrap));
    }
    let names: Vec<String> = pins
        .names()
        .into_iter()
        .filter(|name| needs.iter().any(|tool| tool.name() == name))
        .collect();
    if names.is_empty() {
        return Ok(Planned::default());
    }
    let client = Client::for_repo(repo);
    let install_options = install::Options {
        tools: &names,
        force: false,
        locked: install::Options::locked(options.locked),
    };
    if options.dry_run {
        let preview = install::preview(repo, &pins, &client, &install_options)?;
        show.install_preview(&preview);
        return Ok(Planned(
            preview.downloads.into_iter().map(|d| d.name).collect(),
        ));
    }
    install::run(
        repo,
        &client,
        &install_options,
        || ui::info("waiting for another `deps install` in this repository (deps/.lock)..."),
        |pin, url| show.pinned(pin, url),
        |plans| show.install_reporter(plans),
    )?;
    Ok(Planned::default())
}

/// The apps' URLs, and the add-hosts hint when the hosts file lacks them.
fn urls(repo: &Repo, targets: &[Target]) -> Result<Done> {
    let hosts_file = hosts::hosts_file(None);
    let mut done = Done {
        urls: Vec::new(),
        hints: Vec::new(),
    };
    for target in targets {
        let names = model::hostnames(repo, target)?;
        for host in &names {
            done.urls.push(Url {
                cluster: target.cluster.clone(),
                stage: target.stage.name.clone(),
                url: target.url(host),
            });
        }
        if target.provider.uses_hosts_file()
            && !hosts::missing_names(&hosts_file, "127.0.0.1", &names).is_empty()
        {
            done.hints.push(format!(
                "cargo xtask cluster add-hosts {} --stage {}",
                target.cluster, target.stage.name
            ));
        }
    }
    Ok(done)
}

/// Deletes the stage's clusters and their hosts blocks; refuses protected
/// stages and stages whose clusters Stagecraft does not create.
pub fn down(repo: &Repo, stage: Option<&str>, runner: Runner, hosts_file: &Path) -> Result<()> {
    let stage = repo.stage_or_default(stage)?;
    // An instance: its namespaces, never the cluster it shares.
    if stage.instance.is_some() {
        return cluster::instances::down(repo, &stage, runner);
    }
    if stage.protected() {
        bail!(
            "stage {} is protected: `down` never deletes its clusters",
            stage.name
        );
    }
    if !stagecraft_core::cluster::provider(stage.target()).creates_clusters() {
        bail!(
            "stage {} is remote: `down` only deletes the kind clusters Stagecraft creates",
            stage.name
        );
    }
    for name in repo.cluster_names()? {
        let target = Target::new(repo, &name, stage.clone())?;
        cluster::delete(repo, &target, runner, hosts_file)?;
    }
    Ok(())
}
