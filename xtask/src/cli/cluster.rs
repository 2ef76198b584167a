use std::path::PathBuf;

use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use super::{DryRun, Json, StageArg};
use crate::complete;

/// Clusters: kind clusters for kind stages, existing clusters for remote ones.
///
/// The kind cluster of CLUSTER in stage S is named <cluster>-<stage>, its
/// kubeconfig is deps/kube/<cluster>-<stage>.yaml (tools get a copy with
/// only its context, deps/kube/views/), and its gateway host ports come from
/// [stages.S] in clusters/<cluster>/cluster.toml, so local and test run side
/// by side.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask cluster bootstrap                    # the cluster of this folder, default stage
  cargo xtask cluster bootstrap hmlet --stage test --dry-run
  cargo xtask cluster status hmlet --json
  cargo xtask cluster add-hosts hmlet --stage local
  cargo xtask cluster pin hmlet --stage prod        # then commit cluster.toml
  cargo xtask cluster delete hmlet --stage test")]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Make the cluster ready, step by step; each step is skipped when done.
    Bootstrap(BootstrapArgs),
    /// Exists, nodes ready, the Gateway and its listeners, registry up, kubeconfig and context.
    Status(StatusArgs),
    /// Delete a kind stage's cluster (never a remote or protected one).
    Delete(HostsArgs),
    /// Write the apps' hostnames into the hosts file.
    AddHosts(HostsArgs),
    /// Deploy every app of the cluster, in depends_on order.
    Deploy(DeployArgs),
    /// Record which cluster the stage's kubeconfig reaches (kube-system's
    /// UID and the API server); every change checks it first.
    ///
    /// For a remote stage it goes into clusters/<cluster>/cluster.toml
    /// (commit it: the team shares the check); a kind cluster is each
    /// machine's own, recorded under deps/kube/ (bootstrap does it when it
    /// creates the cluster). Pin again after recreating a cluster on purpose.
    Pin(PinArgs),
}

#[derive(Args)]
struct PinArgs {
    #[command(flatten)]
    which: Which,
    #[command(flatten)]
    json: Json,
}

#[derive(Args)]
struct DeployArgs {
    /// The cluster (default: the one of this folder, or the only one).
    #[arg(add = ArgValueCandidates::new(complete::clusters))]
    cluster: Option<String>,
    #[command(flatten)]
    options: super::DeployFlags,
}

#[derive(Args)]
struct Which {
    /// The cluster (default: the one of this folder, or the only one).
    #[arg(add = ArgValueCandidates::new(complete::clusters))]
    cluster: Option<String>,
    #[command(flatten)]
    stage: StageArg,
    #[command(flatten)]
    dry_run: DryRun,
}

#[derive(Args)]
struct BootstrapArgs {
    #[command(flatten)]
    which: Which,
    /// Confirm a bootstrap of a protected stage's cluster.
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
struct StatusArgs {
    /// The cluster (default: the one of this folder, or the only one).
    #[arg(add = ArgValueCandidates::new(complete::clusters))]
    cluster: Option<String>,
    #[command(flatten)]
    stage: StageArg,
    #[command(flatten)]
    json: Json,
}

#[derive(Args)]
struct HostsArgs {
    #[command(flatten)]
    which: Which,
    /// The hosts file (default: $XTASK_HOSTS_FILE, else /etc/hosts).
    #[arg(long, value_name = "FILE")]
    hosts_file: Option<PathBuf>,
}

#[cfg(feature = "ops")]
mod output {
    use crate::cli::{Code, Ctx};
    use anyhow::{Result, bail};

    use super::*;
    use crate::apps;
    use crate::cli::progress::{self, DeployDisplay};
    use crate::cluster::{self, Target};
    use crate::hosts::{self, Outcome};
    use crate::process::Runner;
    use crate::quote::posix_line;
    use crate::repo::Repo;
    use crate::toolbox::Planned;
    use crate::ui;
    use crate::{confirm, deploy};

    impl ClusterArgs {
        pub fn run(self, ctx: &Ctx) -> Result<Code> {
            let repo = ctx.repo()?;
            match self.command {
                ClusterCommand::Bootstrap(BootstrapArgs { which, yes }) => {
                    let target = target(ctx, &repo, which.cluster.as_deref(), &which.stage)?;
                    let runner = Runner {
                        dry_run: which.dry_run.dry_run,
                    };
                    if !runner.dry_run {
                        let on = target.name();
                        confirm::protected(&target.stage, yes, "bootstrap", Some(&on))?;
                    }
                    cluster::bootstrap(&repo, &target, runner, &Planned::default())?;
                    Ok(Code::OK)
                }
                ClusterCommand::Status(args) => {
                    let target = target(ctx, &repo, args.cluster.as_deref(), &args.stage)?;
                    let status = cluster::status(&repo, &target)?;
                    if args.json.json {
                        return crate::cli::print_json(&status);
                    }
                    let yes = |b: bool| if b { "yes" } else { "no" };
                    crate::outln!(
                        "cluster      {} ({}, stage {})",
                        target.name(),
                        status.target,
                        status.stage
                    );
                    crate::outln!("exists       {}", yes(status.exists));
                    crate::outln!(
                        "nodes ready  {}",
                        status.nodes_ready.as_deref().unwrap_or("-")
                    );
                    match &status.gateway {
                        Some(gateway) => {
                            crate::outln!(
                                "gateway      {}/{} ({})",
                                gateway.namespace,
                                gateway.name,
                                if gateway.programmed {
                                    "programmed"
                                } else {
                                    "not programmed"
                                }
                            );
                            for l in &gateway.listeners {
                                crate::outln!(
                                    "  listener   {} {} :{} ({} routes)",
                                    l.name,
                                    l.protocol,
                                    l.port,
                                    l.attached_routes
                                );
                            }
                        }
                        None => crate::outln!("gateway      -"),
                    }
                    if let Some(up) = status.registry_up {
                        crate::outln!(
                            "registry     {}",
                            if up { "up (localhost:5001)" } else { "down" }
                        );
                    }
                    crate::outln!("kubeconfig   {}", status.kubeconfig);
                    crate::outln!("  from       {}", status.source);
                    crate::outln!("context      {}", status.context);
                    if let Some(identity) = &status.identity {
                        let show = |i: &Option<crate::config::ClusterIdentity>| {
                            i.as_ref().map_or("-".to_owned(), |i| {
                                format!("uid {} at {}", i.uid, i.server)
                            })
                        };
                        crate::outln!(
                            "identity     {}",
                            match identity.matches {
                                Some(true) => "matches the record".to_owned(),
                                Some(false) => ui::paint(
                                    ui::RED_BOLD,
                                    "ANOTHER cluster than the one on record: changes are refused"
                                ),
                                None if identity.recorded.is_none() =>
                                    "not pinned (cargo xtask cluster pin)".to_owned(),
                                None => "unknown (the cluster does not answer)".to_owned(),
                            }
                        );
                        crate::outln!("  recorded   {}", show(&identity.recorded));
                        crate::outln!("  live       {}", show(&identity.live));
                    }
                    Ok(Code::OK)
                }
                ClusterCommand::Pin(PinArgs { which, json }) => {
                    let target = target(ctx, &repo, which.cluster.as_deref(), &which.stage)?;
                    let pinned = cluster::identity::pin(&repo, &target, which.dry_run.dry_run)?;
                    if json.json {
                        return crate::cli::print_json(&pinned);
                    }
                    let file = pinned
                        .file
                        .strip_prefix(&repo.root)
                        .unwrap_or(&pinned.file)
                        .display()
                        .to_string();
                    let now = format!("uid {} at {}", pinned.identity.uid, pinned.identity.server);
                    match (&pinned.previous, pinned.changed) {
                        (_, false) => ui::say(&format!(
                            "✔ {}: already pinned to {now} ({file})",
                            target.name()
                        )),
                        (previous, true) => {
                            let verb = if which.dry_run.dry_run {
                                "would pin"
                            } else {
                                "pinned"
                            };
                            let was = previous.as_ref().map_or(String::new(), |p| {
                                format!(" (was uid {} at {})", p.uid, p.server)
                            });
                            ui::say(&format!("+ {}: {verb} {now}{was} in {file}", target.name()));
                        }
                    }
                    Ok(Code::OK)
                }
                ClusterCommand::Delete(HostsArgs { which, hosts_file }) => {
                    let target = target(ctx, &repo, which.cluster.as_deref(), &which.stage)?;
                    let runner = Runner {
                        dry_run: which.dry_run.dry_run,
                    };
                    cluster::delete(&repo, &target, runner, &hosts::hosts_file(hosts_file))?;
                    Ok(Code::OK)
                }
                ClusterCommand::AddHosts(args) => add_hosts(ctx, &repo, args),
                ClusterCommand::Deploy(args) => {
                    let cluster = repo.cluster_or_only(&ctx.cwd, args.cluster.as_deref())?;
                    let apps = repo.app_names(&cluster)?;
                    let report = deploy::deploy(
                        &repo,
                        &cluster,
                        &apps,
                        &args.options.options(),
                        &DeployDisplay::new(),
                        &Planned::default(),
                    )?;
                    progress::print_summary(&report, args.options.dry_run.dry_run);
                    report.result()?;
                    Ok(Code::OK)
                }
            }
        }
    }

    fn add_hosts(
        ctx: &Ctx,
        repo: &Repo,
        HostsArgs { which, hosts_file }: HostsArgs,
    ) -> Result<Code> {
        let target = target(ctx, repo, which.cluster.as_deref(), &which.stage)?;
        if !target.provider.uses_hosts_file() {
            bail!(
                "stage {} is remote: its hostnames come from DNS, not the hosts file",
                target.stage.name
            );
        }
        let path = hosts::hosts_file(hosts_file);
        let names = apps::hostnames(repo, &target)?;
        if names.is_empty() {
            ui::say(&format!(
                "no app of {} declares `hosts`: nothing to add",
                target.cluster
            ));
            return Ok(Code::OK);
        }
        let name = target.name();
        let block = hosts::block(&name, "127.0.0.1", &names);
        match hosts::write_block(&path, &name, &block, which.dry_run.dry_run)? {
            Outcome::Unchanged if which.dry_run.dry_run => {}
            Outcome::Unchanged => ui::say(&format!(
                "✔ {}: the {name} block is up to date",
                path.display()
            )),
            Outcome::Written { backup } => ui::say(&format!(
                "+ {}: wrote the {name} block ({} hosts; backup in {})",
                path.display(),
                names.len(),
                backup.display()
            )),
            Outcome::NotWritable => {
                let exe = std::env::current_exe()?;
                let words = vec![
                    "sudo".to_owned(),
                    exe.display().to_string(),
                    "cluster".into(),
                    "add-hosts".into(),
                    target.cluster.clone(),
                    "--stage".into(),
                    target.stage.name.clone(),
                    "--hosts-file".into(),
                    path.display().to_string(),
                ];
                // sudo keeps the current folder, so the command finds this repository.
                crate::errln!(
                    "{} is not writable by you. Run:\n  {}",
                    path.display(),
                    posix_line(&words)
                );
                return Ok(Code::FAILED);
            }
        }
        Ok(Code::OK)
    }

    fn target(ctx: &Ctx, repo: &Repo, cluster: Option<&str>, stage: &StageArg) -> Result<Target> {
        let cluster = repo.cluster_or_only(&ctx.cwd, cluster)?;
        Target::new(repo, &cluster, stage.resolve(repo)?)
    }
}
