use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use super::{Ctx, Exit};
use crate::cluster::{self, Target};
use crate::complete;
use crate::hosts::{self, Outcome};
use crate::process::Runner;
use crate::repo::Repo;
use crate::shells::posix_line;
use crate::suggest;

/// Clusters: kind clusters for kind stages, existing clusters for remote ones.
///
/// The kind cluster of CLUSTER in stage S is named <cluster>-<stage>, its
/// kubeconfig is deps/kube/<cluster>-<stage>.yaml, and its ingress host ports
/// come from [stages.S] in clusters/<cluster>/cluster.toml, so local and test
/// run side by side.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask cluster bootstrap                    # the cluster of this folder, default stage
  cargo xtask cluster bootstrap hmlet --stage test --dry-run
  cargo xtask cluster status hmlet --json
  cargo xtask cluster add-hosts hmlet --stage local
  cargo xtask cluster delete hmlet --stage test")]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Make the cluster ready, step by step; each step is skipped when done.
    Bootstrap(Which),
    /// Exists, nodes ready, ingress ready, registry up, kubeconfig and context.
    Status(StatusArgs),
    /// Delete a kind stage's cluster (never a remote or protected one).
    Delete(HostsArgs),
    /// Write the apps' ingress hostnames into the hosts file.
    AddHosts(HostsArgs),
    /// Deploy every app of the cluster, in depends_on order.
    Deploy(DeployArgs),
}

#[derive(Args)]
struct DeployArgs {
    /// The cluster (default: the one of this folder, or the only one).
    cluster: Option<String>,
    #[command(flatten)]
    options: super::app::DeployOptions,
}

#[derive(Args)]
struct Which {
    /// The cluster (default: the one of this folder, or the only one).
    #[arg(add = ArgValueCandidates::new(complete::clusters))]
    cluster: Option<String>,
    /// The stage (default: project.default_stage).
    #[arg(long, add = ArgValueCandidates::new(complete::stages))]
    stage: Option<String>,
    /// Print the exact commands, in order; run none.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
struct StatusArgs {
    cluster: Option<String>,
    #[arg(long)]
    stage: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct HostsArgs {
    #[command(flatten)]
    which: Which,
    /// The hosts file (default: $XTASK_HOSTS_FILE, else /etc/hosts).
    #[arg(long, value_name = "FILE")]
    hosts_file: Option<PathBuf>,
}

impl ClusterArgs {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let repo = ctx.repo()?;
        match self.command {
            ClusterCommand::Bootstrap(which) => {
                let target = target(ctx, &repo, which.cluster.as_deref(), which.stage.as_deref())?;
                let runner = Runner {
                    dry_run: which.dry_run,
                };
                if target.is_kind() {
                    cluster::bootstrap_kind(&repo, &target, &runner)
                } else {
                    cluster::bootstrap_remote(&repo, &target, &runner)
                }
            }
            ClusterCommand::Status(args) => {
                let target = target(ctx, &repo, args.cluster.as_deref(), args.stage.as_deref())?;
                let status = cluster::status(&repo, &target)?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&status)?);
                } else {
                    let yes = |b: bool| if b { "yes" } else { "no" };
                    println!(
                        "cluster      {} ({}, stage {})",
                        target.name, status.target, status.stage
                    );
                    println!("exists       {}", yes(status.exists));
                    println!(
                        "nodes ready  {}",
                        status.nodes_ready.as_deref().unwrap_or("-")
                    );
                    println!(
                        "ingress      {}",
                        if status.ingress_ready {
                            "ready"
                        } else {
                            "not ready"
                        }
                    );
                    if let Some(up) = status.registry_up {
                        println!(
                            "registry     {}",
                            if up { "up (localhost:5001)" } else { "down" }
                        );
                    }
                    println!("kubeconfig   {}", status.kubeconfig);
                    println!("context      {}", status.context);
                }
                Ok(())
            }
            ClusterCommand::Delete(HostsArgs { which, hosts_file }) => {
                let target = target(ctx, &repo, which.cluster.as_deref(), which.stage.as_deref())?;
                if target.stage.protected() {
                    bail!(
                        "stage {} is protected: `cluster delete` never deletes its cluster\n  hint: protected clusters are managed outside Stagecraft",
                        target.stage.name
                    );
                }
                if !target.is_kind() {
                    bail!(
                        "stage {} is remote: `cluster delete` only deletes the kind clusters it creates",
                        target.stage.name
                    );
                }
                let runner = Runner {
                    dry_run: which.dry_run,
                };
                cluster::delete(&repo, &target, &runner, &hosts::hosts_file(hosts_file))
            }
            ClusterCommand::AddHosts(args) => add_hosts(ctx, &repo, args),
            ClusterCommand::Deploy(args) => {
                let cluster = cluster_name(ctx, &repo, args.cluster.as_deref())?;
                let apps = repo.app_names(&cluster)?;
                super::app::deploy(&repo, &cluster, &apps, &args.options)
            }
        }
    }
}

fn add_hosts(ctx: &Ctx, repo: &Repo, HostsArgs { which, hosts_file }: HostsArgs) -> Result<()> {
    let target = target(ctx, repo, which.cluster.as_deref(), which.stage.as_deref())?;
    if !target.is_kind() {
        bail!(
            "stage {} is remote: its hostnames come from DNS, not the hosts file",
            target.stage.name
        );
    }
    let path = hosts::hosts_file(hosts_file);
    let names = cluster::app_hosts(repo, &target)?;
    if names.is_empty() {
        println!(
            "no app of {} declares `hosts`: nothing to add",
            target.cluster
        );
        return Ok(());
    }
    let block = hosts::block(&target.name, "127.0.0.1", &names);
    match hosts::write_block(&path, &target.name, &block, which.dry_run)? {
        Outcome::Unchanged if which.dry_run => {}
        Outcome::Unchanged => println!(
            "✔ {}: the {} block is up to date",
            path.display(),
            target.name
        ),
        Outcome::Written { backup } => println!(
            "+ {}: wrote the {} block ({} hosts; backup in {})",
            path.display(),
            target.name,
            names.len(),
            backup.display()
        ),
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
            eprintln!(
                "{} is not writable by you. Run:\n  {}",
                path.display(),
                posix_line(&words)
            );
            return Err(Exit(1).into());
        }
    }
    Ok(())
}

fn target(ctx: &Ctx, repo: &Repo, cluster: Option<&str>, stage: Option<&str>) -> Result<Target> {
    let cluster = cluster_name(ctx, repo, cluster)?;
    let stage = repo.stage_or_default(stage)?;
    Target::resolve(repo, &cluster, stage)
}

/// The cluster named, else the one of this folder, else the only one.
fn cluster_name(ctx: &Ctx, repo: &Repo, cluster: Option<&str>) -> Result<String> {
    let names = repo.cluster_names()?;
    let cluster = match cluster {
        Some(name) => {
            if !names.iter().any(|n| n == name) {
                return Err(suggest::unknown("cluster", name, &names));
            }
            name.to_owned()
        }
        None => match repo.scope(&ctx.cwd, None, None)?.cluster {
            Some(name) => name,
            None if names.len() == 1 => names[0].clone(),
            None => bail!(
                "which cluster? this repository has {}\n  hint: name one: `cargo xtask cluster <command> <cluster>`",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        },
    };
    Ok(cluster)
}
