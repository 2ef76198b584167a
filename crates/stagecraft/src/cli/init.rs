use anyhow::Result;
use stagecraft_core::cli::{Code, Ctx};

use crate::init;
use stagecraft_core::cli::init::*;

pub fn run(args: InitArgs, ctx: &Ctx) -> Result<Code> {
    // An existing repository is adopted before it is a Stagecraft one.
    if let InitCommand::Repo {
        cluster,
        dry_run,
        json,
    } = args.command
    {
        let report = crate::adopt::init_repo(&crate::adopt::Options {
            cwd: ctx.cwd.clone(),
            cluster,
            dry_run: dry_run.dry_run,
        })?;
        if json.json {
            return stagecraft_core::cli::print_json(&report).map(|_| Code::OK);
        }
        print_report(&report, dry_run.dry_run);
        return Ok(Code::OK);
    }
    let repo = ctx.repo()?;
    match args.command {
        InitCommand::Repo { .. } => unreachable!("adopted above"),
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

/// What was found, mapped, left out and written, and what to run next.
fn print_report(report: &crate::adopt::Report, dry_run: bool) {
    let out = |line: String| stagecraft_core::outln!("{line}");
    out(format!(
        "Adopting {} as cluster {}:",
        report.root, report.cluster
    ));
    out("\nImages (built for each stage):".to_owned());
    for image in &report.images {
        out(format!("  {image}"));
    }
    out("\nApps:".to_owned());
    for app in &report.apps {
        let images = match app.images.is_empty() {
            true => "no image of its own".to_owned(),
            false => format!("images {}", app.images.join(", ")),
        };
        let state = match &app.off_because {
            None => "on".to_owned(),
            Some(why) => format!("off: {why}"),
        };
        out(format!(
            "  {:<22} <- {} ({images}); {state}",
            app.name, app.from
        ));
    }
    if !report.left_out.is_empty() {
        out("\nLeft out:".to_owned());
        for (path, why) in &report.left_out {
            out(format!("  {path}: {why}"));
        }
    }
    if dry_run {
        return;
    }
    out("\nAdded (no existing file was changed):".to_owned());
    for file in &report.files {
        out(format!("  + {file}"));
    }
    out("\nNext: `stagecraft list`, `stagecraft app render <app> --stage local`, then `stagecraft up` (docs/adopting.md); commit the new files.".to_owned());
}
