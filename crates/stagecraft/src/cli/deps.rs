use anyhow::Result;
use stagecraft_core::cli::{Code, Ctx};

use crate::cli::progress;
use crate::download::Client;
use crate::tools::install::{self, Outcome};
use crate::tools::{self, DEPS_FILE, Pins, Record, Status, Verify, lock};
use stagecraft_core::cli::deps::*;
use stagecraft_core::repo::Repo;
use stagecraft_core::ui;

pub fn run(args: DepsArgs, ctx: &Ctx) -> Result<Code> {
    let repo = ctx.repo()?;
    let pins = Pins::load(&repo)?;
    match args.command {
        DepsCommand::Install(args) => install(&repo, &pins, args),
        DepsCommand::List(json) => list(&repo, &pins, json.json),
        DepsCommand::Check(json) => check(&repo, &pins, json.json),
        DepsCommand::Lock(args) => lock(&repo, &pins, args),
    }
}

fn install(repo: &Repo, pins: &Pins, args: InstallArgs) -> Result<Code> {
    let client = Client::for_repo(repo);
    let options = install::Options {
        tools: &args.tools,
        force: args.force,
        locked: install::Options::locked(args.locked),
    };
    if args.dry_run.dry_run {
        progress::print_install_plan(&install::preview(repo, pins, &client, &options)?);
        return Ok(Code::OK);
    }
    let outcome = install::run(
        repo,
        &client,
        &options,
        || ui::info("waiting for another `deps install` in this repository (deps/.lock)..."),
        progress::pinned,
        |plans| progress::downloads(plans, &client),
    )?;
    if let Outcome::UpToDate(n) = outcome {
        ui::info(&format!("{} up to date in deps/bin", describe_count(n)));
    }
    Ok(Code::OK)
}

fn describe_count(n: usize) -> String {
    if n == 1 {
        "1 tool".to_owned()
    } else {
        format!("all {n} tools")
    }
}

fn list(repo: &Repo, pins: &Pins, json: bool) -> Result<Code> {
    let reports = tools::reports(repo, pins)?;
    if json {
        return stagecraft_core::cli::print_json(&reports);
    }
    // The tool column as wide as its longest name.
    let w = reports
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0)
        .max(10);
    stagecraft_core::outln!(
        "{:<w$} {:<10} {:<10} {:<28} on PATH",
        "tool",
        "pinned",
        "installed",
        "status"
    );
    for r in &reports {
        let on_path = r.on_path.as_ref().map_or("-".to_owned(), |p| {
            format!("{} ({})", p.version.as_deref().unwrap_or("?"), p.path)
        });
        stagecraft_core::outln!(
            "{:<w$} {:<10} {:<10} {:<28} {on_path}",
            r.name,
            r.pinned,
            r.installed.as_deref().unwrap_or("-"),
            r.status.describe()
        );
    }
    Ok(Code::OK)
}

fn check(repo: &Repo, pins: &Pins, json: bool) -> Result<Code> {
    let platform = tools::host_platform()?;
    let record = Record::load(repo);
    let mut problems = Vec::new();
    let mut all = Vec::new();
    for name in pins.names() {
        let pin = pins.get(&name)?;
        let status = tools::status(repo, &record, &name, pin, platform, Verify::Full);
        if status != Status::UpToDate {
            problems.push(format!("{name}: {}", status.describe()));
        }
        all.push(serde_json::json!({ "name": name, "status": status }));
    }
    // What bootstrap installs into kind clusters: pinned, and a copy
    // fetched earlier still what was pinned (none yet is fine).
    for name in pins.addon_names() {
        let status = tools::addons::status(repo, pins, &name)?;
        if matches!(status, Status::Unpinned | Status::Modified) {
            problems.push(format!("addons.{name}: {}", status.describe()));
        }
        all.push(serde_json::json!({ "name": format!("addons.{name}"), "status": status }));
    }
    if json {
        stagecraft_core::cli::print_json(&all)?;
    } else if problems.is_empty() {
        ui::info(&format!(
            "{} installed at their pinned versions",
            describe_count(all.len())
        ));
    } else {
        for problem in &problems {
            stagecraft_core::errln!("{problem}");
        }
        stagecraft_core::errln!(
            "hint: run `cargo xtask deps install` (`deps lock` for a tool with no sha256)"
        );
    }
    Ok(if problems.is_empty() {
        Code::OK
    } else {
        Code::FAILED
    })
}

fn lock(repo: &Repo, pins: &Pins, args: LockArgs) -> Result<Code> {
    if args.version.is_some() && args.tools.len() != 1 {
        anyhow::bail!("--version moves one tool: name exactly one");
    }
    let names = pins.select(&args.tools)?;
    let client = Client::for_repo(repo);
    let fetched = lock::fetch(
        pins,
        &client,
        &names,
        args.version.as_deref(),
        lock::all_platforms(),
    );
    let mut new = Vec::new();
    for (_, pin) in fetched {
        let pin = pin?;
        stagecraft_core::outln!(
            "{} {} {} {}",
            pin.tool,
            pin.version,
            pin.platform,
            pin.sha256
        );
        new.push(pin);
    }
    let changed = lock::write(repo, &new, args.dry_run.dry_run)?;
    if args.dry_run.dry_run {
        ui::info(&format!("dry run: {DEPS_FILE} not written"));
    } else if changed {
        ui::info(&format!("{DEPS_FILE} updated"));
    } else {
        ui::info(&format!("{DEPS_FILE} already pins these checksums"));
    }
    Ok(Code::OK)
}
