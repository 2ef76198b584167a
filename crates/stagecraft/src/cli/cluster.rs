use anyhow::{Result, bail};
use stagecraft_core::cli::{Code, Ctx, StageArg};

use crate::app::deploy;
use crate::app::model;
use crate::cli::progress::{self, DeployDisplay};
use crate::cluster::hosts::{self, Outcome};
use crate::cluster::{self, Target};
use crate::tools::toolbox::Planned;
use stagecraft_core::cli::cluster::*;
use stagecraft_core::process::Runner;
use stagecraft_core::quote::posix_line;
use stagecraft_core::repo::Repo;
use stagecraft_core::stage::confirm;
use stagecraft_core::ui;

pub fn run(args: ClusterArgs, ctx: &Ctx) -> Result<Code> {
    let repo = ctx.repo()?;
    match args.command {
        ClusterCommand::Bootstrap(BootstrapArgs { which, yes, locked }) => {
            let target = target(ctx, &repo, which.cluster.as_deref(), &which.stage)?;
            let runner = Runner {
                dry_run: which.dry_run.dry_run,
            };
            if !runner.dry_run {
                let on = target.name();
                confirm::protected(&target.stage, yes, "bootstrap", Some(&on))?;
            }
            cluster::bootstrap(&repo, &target, runner, &Planned::default(), locked)?;
            Ok(Code::OK)
        }
        ClusterCommand::Status(args) => {
            let target = target(ctx, &repo, args.cluster.as_deref(), &args.stage)?;
            let status = cluster::status(&repo, &target)?;
            if args.json.json {
                return stagecraft_core::cli::print_json(&status);
            }
            let yes = |b: bool| if b { "yes" } else { "no" };
            stagecraft_core::outln!(
                "cluster      {} ({}, stage {})",
                target.name(),
                status.target,
                status.stage
            );
            stagecraft_core::outln!("exists       {}", yes(status.exists));
            stagecraft_core::outln!(
                "nodes ready  {}",
                status.nodes_ready.as_deref().unwrap_or("-")
            );
            match &status.gateway {
                Some(gateway) => {
                    stagecraft_core::outln!(
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
                        stagecraft_core::outln!(
                            "  listener   {} {} :{} ({} routes)",
                            l.name,
                            l.protocol,
                            l.port,
                            l.attached_routes
                        );
                    }
                }
                None => stagecraft_core::outln!("gateway      -"),
            }
            if let Some(up) = status.registry_up {
                stagecraft_core::outln!(
                    "registry     {}",
                    if up { "up (localhost:5001)" } else { "down" }
                );
            }
            stagecraft_core::outln!("kubeconfig   {}", status.kubeconfig);
            stagecraft_core::outln!("  from       {}", status.source);
            stagecraft_core::outln!("context      {}", status.context);
            if let Some(identity) = &status.identity {
                let show = |i: &Option<stagecraft_core::config::ClusterIdentity>| {
                    i.as_ref()
                        .map_or("-".to_owned(), |i| format!("uid {} at {}", i.uid, i.server))
                };
                stagecraft_core::outln!(
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
                stagecraft_core::outln!("  recorded   {}", show(&identity.recorded));
                stagecraft_core::outln!("  live       {}", show(&identity.live));
            }
            Ok(Code::OK)
        }
        ClusterCommand::Pin(PinArgs { which, json }) => {
            let target = target(ctx, &repo, which.cluster.as_deref(), &which.stage)?;
            let pinned = cluster::identity::pin(&repo, &target, which.dry_run.dry_run)?;
            if json.json {
                return stagecraft_core::cli::print_json(&pinned);
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
        ClusterCommand::RemoveHosts(args) => remove_hosts(ctx, &repo, args),
        ClusterCommand::Trust(json) => {
            let trust = cluster::tls::trust(&repo)?;
            if json.json {
                return stagecraft_core::cli::print_json(&trust);
            }
            stagecraft_core::outln!(
                "The local CA of this repository signs the HTTPS certificates of its kind stages.\n  certificate  {}\n  sha256       {}\nTrust it where you browse or call the apps:",
                trust.ca_cert,
                trust.fingerprint_sha256
            );
            for step in &trust.how {
                stagecraft_core::outln!("\n{}:", step.system);
                for command in &step.commands {
                    stagecraft_core::outln!("  {command}");
                }
            }
            Ok(Code::OK)
        }
        ClusterCommand::Deploy(args) => {
            let cluster = repo.cluster_or_only(&ctx.cwd, args.cluster.as_deref())?;
            let stage = repo.stage_or_default(args.options.stage.stage.as_deref())?;
            let apps = crate::app::model::enabled_apps(&repo, &cluster, &stage.name)?;
            let report = deploy::deploy(
                &repo,
                &cluster,
                &apps,
                &super::deploy_options(&args.options)?,
                &DeployDisplay::new(),
                &Planned::default(),
            )?;
            progress::print_report(
                &report,
                args.options.dry_run.dry_run,
                args.options.json.json,
            );
            report.result()?;
            Ok(Code::OK)
        }
    }
}

fn add_hosts(ctx: &Ctx, repo: &Repo, args: HostsEditArgs) -> Result<Code> {
    let HostsEditArgs {
        hosts: HostsArgs { which, hosts_file },
        yes,
    } = args;
    let target = target(ctx, repo, which.cluster.as_deref(), &which.stage)?;
    if !target.provider.uses_hosts_file() {
        bail!(
            "stage {} is remote: its hostnames come from DNS, not the hosts file",
            target.stage.name
        );
    }
    let explicit = hosts_file.is_some();
    let path = hosts::hosts_file(hosts_file);
    let names = model::hostnames(repo, &target)?;
    if names.is_empty() {
        ui::say(&format!(
            "no app of {} declares `hosts`: nothing to add",
            target.cluster
        ));
        return Ok(Code::OK);
    }
    let name = target.name();
    let block = hosts::block(&name, "127.0.0.1", &names);
    let edit = hosts::Edit {
        path: &path,
        explicit,
        yes,
        dry_run: which.dry_run.dry_run,
    };
    match hosts::edit(&edit, &name, Some(&block), "cluster add-hosts")? {
        Outcome::Unchanged if edit.dry_run => {}
        Outcome::Unchanged => ui::say(&format!(
            "✔ {}: the {name} block is up to date",
            path.display()
        )),
        Outcome::Written { backup } => ui::say(&format!(
            "+ {}: wrote the {name} block ({} hosts; backup in {}; `cargo xtask cluster remove-hosts {} --stage {}` removes it)",
            path.display(),
            names.len(),
            backup.display(),
            target.cluster,
            target.stage.name
        )),
        Outcome::NotWritable => return not_writable(&path, "add-hosts", &target),
    }
    Ok(Code::OK)
}

/// The undo of add-hosts: only the block's name is needed, never the cluster.
fn remove_hosts(ctx: &Ctx, repo: &Repo, args: HostsEditArgs) -> Result<Code> {
    let HostsEditArgs {
        hosts: HostsArgs { which, hosts_file },
        yes,
    } = args;
    let target = target(ctx, repo, which.cluster.as_deref(), &which.stage)?;
    let explicit = hosts_file.is_some();
    let path = hosts::hosts_file(hosts_file);
    let name = target.name();
    let edit = hosts::Edit {
        path: &path,
        explicit,
        yes,
        dry_run: which.dry_run.dry_run,
    };
    match hosts::edit(&edit, &name, None, "cluster remove-hosts")? {
        Outcome::Unchanged if edit.dry_run => {}
        Outcome::Unchanged => ui::say(&format!(
            "✔ {}: no {name} block, nothing to remove",
            path.display()
        )),
        Outcome::Written { backup } => ui::say(&format!(
            "- {}: removed the {name} block (backup in {})",
            path.display(),
            backup.display()
        )),
        Outcome::NotWritable => return not_writable(&path, "remove-hosts", &target),
    }
    Ok(Code::OK)
}

/// The hosts file is not writable by this user: the command to run with sudo.
fn not_writable(path: &std::path::Path, command: &str, target: &Target) -> Result<Code> {
    let exe = std::env::current_exe()?;
    let words = vec![
        "sudo".to_owned(),
        exe.display().to_string(),
        "cluster".into(),
        command.into(),
        target.cluster.clone(),
        "--stage".into(),
        target.stage.name.clone(),
        "--hosts-file".into(),
        path.display().to_string(),
    ];
    // sudo keeps the current folder, so the command finds this repository.
    stagecraft_core::errln!(
        "{} is not writable by you. Run:\n  {}",
        path.display(),
        posix_line(&words)
    );
    Ok(Code::FAILED)
}

fn target(ctx: &Ctx, repo: &Repo, cluster: Option<&str>, stage: &StageArg) -> Result<Target> {
    let cluster = repo.cluster_or_only(&ctx.cwd, cluster)?;
    Target::new(repo, &cluster, stage.resolve(repo)?)
}
