use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use super::{DryRun, Json};
use crate::complete;

/// Pinned tools (kubectl, helm, skaffold, kind) in deps/bin/.
///
/// deps/deps.toml pins each tool's version, download URL and sha256 per
/// platform. Downloads are verified before anything lands in deps/bin/.
/// XTASK_DEPS_MIRROR (or [deps] mirror in shell.toml) rewrites
/// https://HOST/PATH to <mirror>/HOST/PATH; file:// mirrors read from disk.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask deps install                 # everything missing or stale, in parallel
  cargo xtask deps install helm --dry-run  # what would be downloaded
  cargo xtask deps list --json
  cargo xtask deps check                   # non-zero when anything is missing (CI)
  cargo xtask deps lock kubectl --version 1.35.3
  XTASK_DEPS_MIRROR=file:///srv/mirror cargo xtask deps install")]
pub struct DepsArgs {
    #[command(subcommand)]
    command: DepsCommand,
}

#[derive(Subcommand)]
enum DepsCommand {
    /// Download what is missing or at another version into deps/bin/.
    Install(InstallArgs),
    /// Pinned, installed and on-PATH versions side by side.
    List(Json),
    /// Exit non-zero when any tool is missing, stale or modified.
    Check(Json),
    /// Pin the official checksums of all four platforms in deps/deps.toml.
    Lock(LockArgs),
}

#[derive(Args)]
struct InstallArgs {
    /// Only these tools (default: all).
    #[arg(add = ArgValueCandidates::new(complete::tools))]
    tools: Vec<String>,
    /// Reinstall even what is up to date.
    #[arg(long)]
    force: bool,
    /// Install only what deps.toml pins: a tool without a sha256 is an
    /// error instead of being pinned on first use (always so when CI is set).
    #[arg(long)]
    locked: bool,
    #[command(flatten)]
    dry_run: DryRun,
}

#[derive(Args)]
struct LockArgs {
    /// Only these tools (default: all).
    #[arg(add = ArgValueCandidates::new(complete::tools))]
    tools: Vec<String>,
    /// Move the tool to this version (one tool).
    #[arg(long, requires = "tools")]
    version: Option<String>,
    #[command(flatten)]
    dry_run: DryRun,
}

#[cfg(feature = "ops")]
mod output {
    use crate::cli::{Code, Ctx};
    use anyhow::Result;

    use super::*;
    use crate::cli::progress;
    use crate::download::Client;
    use crate::repo::Repo;
    use crate::tools::install::{self, Outcome};
    use crate::tools::{self, DEPS_FILE, Pins, Record, Status, Verify, lock};
    use crate::ui;

    impl DepsArgs {
        pub fn run(self, ctx: &Ctx) -> Result<Code> {
            let repo = ctx.repo()?;
            let pins = Pins::load(&repo)?;
            match self.command {
                DepsCommand::Install(args) => install(&repo, &pins, args),
                DepsCommand::List(json) => list(&repo, &pins, json.json),
                DepsCommand::Check(json) => check(&repo, &pins, json.json),
                DepsCommand::Lock(args) => lock(&repo, &pins, args),
            }
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
            return crate::cli::print_json(&reports);
        }
        crate::outln!(
            "{:<10} {:<10} {:<10} {:<28} on PATH",
            "tool",
            "pinned",
            "installed",
            "status"
        );
        for r in &reports {
            let on_path = r.on_path.as_ref().map_or("-".to_owned(), |p| {
                format!("{} ({})", p.version.as_deref().unwrap_or("?"), p.path)
            });
            crate::outln!(
                "{:<10} {:<10} {:<10} {:<28} {on_path}",
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
        if json {
            crate::cli::print_json(&all)?;
        } else if problems.is_empty() {
            ui::info(&format!(
                "{} installed at their pinned versions",
                describe_count(all.len())
            ));
        } else {
            for problem in &problems {
                crate::errln!("{problem}");
            }
            crate::errln!(
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
            crate::outln!(
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
}
