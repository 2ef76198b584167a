use anyhow::Result;
use stagecraft_core::cli::{Code, Ctx};

use crate::init;
use stagecraft_core::cli::init::*;

pub fn run(args: InitArgs, ctx: &Ctx) -> Result<Code> {
    let repo = ctx.repo()?;
    match args.command {
        InitCommand::Cluster { name, dry_run } => {
            init::check_name("cluster", &name)?;
            let dest = repo.root.join("clusters").join(&name);
            let files = init::cluster_files(&repo, &name)?;
            init::create(&repo, &dest, &files, dry_run.dry_run)?;
        }
        InitCommand::App {
            name,
            cluster,
            dry_run,
        } => {
            init::check_name("app", &name)?;
            let cluster = repo.cluster_or_only(&ctx.cwd, cluster.as_deref())?;
            let dest = repo.app_dir(&cluster, &name);
            let files = init::app_files(&repo, &name)?;
            init::create(&repo, &dest, &files, dry_run.dry_run)?;
        }
    }
    Ok(Code::OK)
}
