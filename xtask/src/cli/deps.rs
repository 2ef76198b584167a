use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

use super::{Ctx, Exit};
use crate::complete;
use crate::config;
use crate::download::{self, Client, Progress};
use crate::process::Cmd;
use crate::repo::Repo;
use crate::tools::{self, DEPS_FILE, PLATFORMS, Pins, Record, Reporter, Status};
use crate::ui;

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
    List(ReportArgs),
    /// Exit non-zero when any tool is missing, stale or modified.
    Check(ReportArgs),
    /// Pin the official checksums of all four platforms in deps/deps.toml.
    Lock(LockArgs),
}

#[derive(Args)]
pub(super) struct InstallArgs {
    /// Only these tools (default: all).
    #[arg(add = ArgValueCandidates::new(complete::tools))]
    pub(super) tools: Vec<String>,
    /// Reinstall even what is up to date.
    #[arg(long)]
    pub(super) force: bool,
    /// Print the downloads it would make; change nothing.
    #[arg(long)]
    pub(super) dry_run: bool,
}

#[derive(Args)]
struct ReportArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct LockArgs {
    /// Only this tool (default: all).
    tool: Option<String>,
    /// Move the tool to this version.
    #[arg(long, requires = "tool")]
    version: Option<String>,
    /// Fetch and print the new pins; write nothing.
    #[arg(long)]
    dry_run: bool,
}

impl DepsArgs {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let repo = ctx.repo()?;
        let pins = Pins::load(&repo)?;
        match self.command {
            DepsCommand::Install(args) => install(&repo, &pins, args),
            DepsCommand::List(args) => list(&repo, &pins, args.json),
            DepsCommand::Check(args) => check(&repo, &pins, args.json),
            DepsCommand::Lock(args) => lock(&repo, &pins, args),
        }
    }
}

fn client(repo: &Repo) -> Client {
    let mirror = std::env::var("XTASK_DEPS_MIRROR")
        .ok()
        .filter(|m| !m.is_empty())
        .or_else(|| repo.shell.value.deps.mirror.clone());
    Client::new(mirror)
}

pub(super) fn install(repo: &Repo, pins: &Pins, args: InstallArgs) -> Result<()> {
    let names = pins.select(&args.tools)?;
    let platform = tools::host_platform()?;
    let client = client(repo);
    let todo = |record: &Record| -> Result<Vec<tools::Plan>> {
        let mut plans = Vec::new();
        for name in &names {
            let pin = pins.get(name)?;
            if args.force || tools::status(repo, record, name, pin, platform) != Status::UpToDate {
                plans.push(tools::plan(pins, name, platform)?);
            }
        }
        Ok(plans)
    };
    if args.dry_run {
        let plans = todo(&Record::load(repo))?;
        tools::plan_installs(&plans.iter().map(|p| p.name.clone()).collect::<Vec<_>>());
        for plan in plans {
            println!(
                "download {} -> deps/bin/{} (sha256 {})",
                client.locate(&plan.url),
                plan.name,
                plan.sha256
            );
        }
        return Ok(());
    }
    let _lock = tools::lock(repo, || {
        ui::info("waiting for another `deps install` in this repository (deps/.lock)...")
    })?;
    // Decided under the lock: a concurrent install may have done the work.
    let plans = todo(&Record::load(repo))?;
    if plans.is_empty() {
        ui::info(&format!(
            "{} up to date in deps/bin",
            describe_count(names.len())
        ));
        return Ok(());
    }
    tools::clean_leftovers(repo);
    let reporter: Box<dyn Reporter> = if ui::quiet() {
        Box::new(Silent)
    } else if std::io::stdout().is_terminal() {
        Box::new(Bars::new(&plans))
    } else {
        Box::new(Lines)
    };
    for plan in &plans {
        if !ui::quiet() && !std::io::stdout().is_terminal() {
            println!(
                "{} {}: downloading {}",
                plan.name,
                plan.version,
                client.locate(&plan.url)
            );
        }
    }
    tools::install_all(repo, &client, &plans, platform, reporter.as_ref())
}

fn describe_count(n: usize) -> String {
    if n == 1 {
        "1 tool".to_owned()
    } else {
        format!("all {n} tools")
    }
}

struct Silent;

impl Reporter for Silent {
    fn progress(&self, _: &str, _: Progress) {}
    fn done(&self, _: &str, _: &str) {}
}

/// Plain lines, for logs and pipes.
struct Lines;

impl Reporter for Lines {
    fn progress(&self, tool: &str, event: Progress) {
        if let Progress::Retry(why) = event {
            println!("{tool}: {why}");
        }
    }
    fn done(&self, _: &str, message: &str) {
        println!("{message}");
    }
}

/// A bar per tool: bytes, rate, ETA.
struct Bars {
    bars: BTreeMap<String, ProgressBar>,
    _multi: MultiProgress,
    retries: Mutex<()>,
}

impl Bars {
    fn new(plans: &[tools::Plan]) -> Bars {
        let multi = MultiProgress::new();
        let style = ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} eta {eta:>3} {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> ");
        let width = plans
            .iter()
            .map(|p| p.name.len() + p.version.len() + 1)
            .max()
            .unwrap_or(10);
        let bars = plans
            .iter()
            .map(|plan| {
                let bar = multi.add(ProgressBar::new(0).with_style(style.clone()));
                bar.set_prefix(format!(
                    "{:>width$}",
                    format!("{} {}", plan.name, plan.version)
                ));
                (plan.name.clone(), bar)
            })
            .collect();
        Bars {
            bars,
            _multi: multi,
            retries: Mutex::new(()),
        }
    }
}

impl Reporter for Bars {
    fn progress(&self, tool: &str, event: Progress) {
        let bar = &self.bars[tool];
        match event {
            Progress::Start(len) => {
                bar.reset();
                bar.set_length(len.unwrap_or(0));
            }
            Progress::Bytes(n) => bar.inc(n),
            Progress::Retry(why) => {
                let _guard = self.retries.lock();
                bar.set_message(format!("retrying: {why}"));
            }
        }
    }
    fn done(&self, tool: &str, _: &str) {
        self.bars[tool].finish_with_message("✔ verified");
    }
}

#[derive(Serialize)]
struct ToolReport {
    name: String,
    pinned: String,
    installed: Option<String>,
    #[serde(flatten)]
    status: Status,
    /// What other commands run: deps/bin first, then PATH.
    resolved: Option<String>,
    on_path: Option<OnPath>,
}

#[derive(Serialize)]
struct OnPath {
    path: String,
    version: Option<String>,
}

fn reports(repo: &Repo, pins: &Pins) -> Result<Vec<ToolReport>> {
    let platform = tools::host_platform()?;
    let record = Record::load(repo);
    let bin = tools::bin_dir(repo);
    let mut out = Vec::new();
    for name in pins.names() {
        let pin = pins.get(&name)?;
        let status = tools::status(repo, &record, &name, pin, platform);
        let on_path = tools::find_on_path(&name, &bin).map(|path| {
            let args = pin
                .version_args
                .clone()
                .unwrap_or_else(|| vec!["--version".to_owned()]);
            let version = Cmd::new(&path)
                .args(args)
                .read()
                .ok()
                .and_then(|text| tools::version_in(&text));
            OnPath {
                path: path.display().to_string(),
                version,
            }
        });
        out.push(ToolReport {
            installed: record
                .tools
                .get(&name)
                .filter(|_| status != Status::Missing)
                .map(|i| i.version.clone()),
            pinned: pin.version.clone(),
            resolved: tools::resolve(repo, &name)
                .ok()
                .map(|p| p.display().to_string()),
            status,
            on_path,
            name,
        });
    }
    Ok(out)
}

fn list(repo: &Repo, pins: &Pins, json: bool) -> Result<()> {
    let reports = reports(repo, pins)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
        return Ok(());
    }
    println!(
        "{:<10} {:<10} {:<10} {:<28} on PATH",
        "tool", "pinned", "installed", "status"
    );
    for r in &reports {
        let on_path = r.on_path.as_ref().map_or("-".to_owned(), |p| {
            format!("{} ({})", p.version.as_deref().unwrap_or("?"), p.path)
        });
        println!(
            "{:<10} {:<10} {:<10} {:<28} {on_path}",
            r.name,
            r.pinned,
            r.installed.as_deref().unwrap_or("-"),
            r.status.describe()
        );
    }
    Ok(())
}

fn check(repo: &Repo, pins: &Pins, json: bool) -> Result<()> {
    let platform = tools::host_platform()?;
    let record = Record::load(repo);
    let mut problems = Vec::new();
    let mut all = Vec::new();
    for name in pins.names() {
        let status = tools::status(repo, &record, &name, pins.get(&name)?, platform);
        if status != Status::UpToDate {
            problems.push(format!("{name}: {}", status.describe()));
        }
        all.push(serde_json::json!({ "name": name, "status": status }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else if problems.is_empty() {
        ui::info(&format!(
            "{} installed at their pinned versions",
            describe_count(all.len())
        ));
    } else {
        for problem in &problems {
            eprintln!("{problem}");
        }
        eprintln!("hint: run `cargo xtask deps install` (`deps lock` for a tool with no sha256)");
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Exit(1).into())
    }
}

fn lock(repo: &Repo, pins: &Pins, args: LockArgs) -> Result<()> {
    let names = pins.select(&args.tool.iter().cloned().collect::<Vec<_>>())?;
    let client = client(repo);
    // Every checksum file at once: tool x platform.
    let jobs: Vec<(String, String, &str, String)> = names
        .iter()
        .flat_map(|name| {
            let pin = pins.get(name).expect("selected");
            let version = args.version.clone().unwrap_or_else(|| pin.version.clone());
            PLATFORMS.map(|platform| {
                (
                    name.clone(),
                    version.clone(),
                    platform,
                    tools::expand(&pin.checksum_url, &version, platform),
                )
            })
        })
        .collect();
    let fetched: Vec<Result<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(name, version, platform, url)| {
                let client = &client;
                scope.spawn(move || {
                    let text = client.fetch_text(url).with_context(|| {
                        format!("{name} {version} {platform}: cannot fetch the checksum file")
                    })?;
                    download::parse_checksum(&text).with_context(|| {
                        format!(
                            "{name} {version} {platform}: no sha256 in {}",
                            client.locate(url)
                        )
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a lock thread panicked"))
            .collect()
    });
    let path = repo.root.join(DEPS_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {DEPS_FILE}"))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("cannot parse {DEPS_FILE}"))?;
    for ((name, version, platform, _), sum) in jobs.iter().zip(fetched) {
        let sum = sum?;
        let tool = doc["tools"][name.as_str()]
            .as_table_like_mut()
            .with_context(|| format!("{DEPS_FILE}: [tools.{name}] is not a table"))?;
        config::set_keeping_decor(tool, "version", version.as_str().into());
        if tool.get("sha256").is_none() {
            tool.insert("sha256", toml_edit::Item::Table(toml_edit::Table::new()));
        }
        let sha = tool
            .get_mut("sha256")
            .and_then(|item| item.as_table_like_mut())
            .with_context(|| format!("{DEPS_FILE}: tools.{name}.sha256 is not a table"))?;
        config::set_keeping_decor(sha, platform, sum.as_str().into());
        println!("{name} {version} {platform} {sum}");
    }
    let new_text = doc.to_string();
    if args.dry_run {
        ui::info(&format!("dry run: {DEPS_FILE} not written"));
        return Ok(());
    }
    if new_text == text {
        ui::info(&format!("{DEPS_FILE} already pins these checksums"));
        return Ok(());
    }
    tools::write_atomic(&path, new_text.as_bytes())?;
    // The new file must still load.
    Pins::load(repo).context("the rewritten deps.toml does not load")?;
    ui::info(&format!("{DEPS_FILE} updated"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_edits_keep_comments() {
        let text = "# pins\n[tools.k]\nversion = \"1.0.0\" # the version\n\n[tools.k.sha256]\n# amd64\nlinux-amd64 = \"old\"\n";
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        let tool = doc["tools"]["k"].as_table_like_mut().unwrap();
        config::set_keeping_decor(tool, "version", "2.0.0".into());
        let sha = tool.get_mut("sha256").unwrap().as_table_like_mut().unwrap();
        config::set_keeping_decor(sha, "linux-amd64", "new".into());
        config::set_keeping_decor(sha, "darwin-arm64", "new2".into());
        let out = doc.to_string();
        assert_eq!(
            out,
            "# pins\n[tools.k]\nversion = \"2.0.0\" # the version\n\n[tools.k.sha256]\n# amd64\nlinux-amd64 = \"new\"\ndarwin-arm64 = \"new2\"\n"
        );
    }
}
