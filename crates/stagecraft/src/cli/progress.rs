//! Observers the commands share: download progress (a bar per tool on a
//! terminal, lines elsewhere) and the deploy's live table.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::app::deploy::{Finished, Observer, Outcome, Report};
use crate::app::model::{Release, deploy_order};
use crate::cluster::Target;
use crate::download::{Client, Progress};
use crate::tools::install::{Plan, Preview, Reporter};
use crate::tools::lock::Pin;
use stagecraft_core::ui;

/// The reporter for these downloads: nothing with `--quiet`, bars on a
/// terminal, a line per download and per install otherwise.
pub fn downloads(plans: &[Plan], client: &Client) -> Box<dyn Reporter> {
    if ui::quiet() {
        return Box::new(Silent);
    }
    if std::io::stdout().is_terminal() {
        return Box::new(Bars::new(plans));
    }
    for plan in plans {
        stagecraft_core::outln!(
            "{} {}: downloading {}",
            plan.name,
            plan.version,
            ui::mask_url_credentials(&client.locate(&plan.url))
        );
    }
    Box::new(Lines)
}

/// A dry run of an install: the pins it would fetch, then the downloads.
pub fn print_install_plan(preview: &Preview) {
    for (tool, url) in &preview.pinning {
        stagecraft_core::outln!(
            "# pin {tool} on first use: its sha256 from {} into deps/deps.toml",
            ui::mask_url_credentials(url)
        );
    }
    for download in &preview.downloads {
        stagecraft_core::outln!(
            "download {} -> deps/bin/{} (sha256 {})",
            ui::mask_url_credentials(&download.url),
            download.name,
            download.sha256.as_deref().unwrap_or("pinned on first use")
        );
    }
}

/// A tool pinned on first use: deps.toml changed, and it should be
/// committed.
pub fn pinned(pin: &Pin, url: &str) {
    ui::say(&format!(
        "pinned {} {} {} sha256 {} (from {}) in deps/deps.toml: commit this change",
        pin.tool,
        pin.version,
        pin.platform,
        pin.sha256,
        ui::mask_url_credentials(url)
    ));
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
            stagecraft_core::outln!("{tool}: {}", ui::mask(&why));
        }
    }
    fn done(&self, _: &str, message: &str) {
        stagecraft_core::outln!("{message}");
    }
}

/// A bar per tool: bytes, rate, ETA.
struct Bars {
    bars: BTreeMap<String, ProgressBar>,
    _multi: MultiProgress,
    retries: Mutex<()>,
}

impl Bars {
    fn new(plans: &[Plan]) -> Bars {
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
                bar.set_message(format!("retrying: {}", ui::mask(&why)));
            }
        }
    }
    fn done(&self, tool: &str, _: &str) {
        self.bars[tool].finish_with_message("✔ verified");
    }
}

/// What a deploy shows while it runs: on a terminal a live table, a row
/// per release (waiting, deploying with its time, deployed, failed, not
/// started); elsewhere a line as each release starts and ends; nothing
/// with `--quiet`.
pub struct DeployDisplay {
    table: Mutex<Option<Table>>,
}

struct Table {
    _multi: MultiProgress,
    rows: HashMap<String, ProgressBar>,
    running: ProgressStyle,
    done: ProgressStyle,
}

impl DeployDisplay {
    pub fn new() -> DeployDisplay {
        DeployDisplay {
            table: Mutex::new(None),
        }
    }

    fn lines() -> bool {
        !ui::quiet() && !std::io::stderr().is_terminal()
    }
}

impl Observer for DeployDisplay {
    fn begin(&self, releases: &[Release], target: &Target) {
        if ui::quiet() || !std::io::stderr().is_terminal() {
            return;
        }
        let multi = MultiProgress::new();
        let width = releases.iter().map(|r| r.id().len()).max().unwrap_or(10);
        let style = |template: &str| {
            ProgressStyle::with_template(
                &template.replace("PREFIX", &format!("{{prefix:<{width}}}")),
            )
            .expect("a valid template")
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
        };
        let (waiting, running, done) = (
            style("  PREFIX  {msg}"),
            style("{spinner} PREFIX  deploying {elapsed}"),
            style("  PREFIX  {msg}"),
        );
        let _ = multi.println(format!(
            "deploying to {} (context {})",
            target.name(),
            target.context
        ));
        let rows = deploy_order(releases)
            .into_iter()
            .map(|i| {
                let row = multi.add(ProgressBar::new_spinner().with_style(waiting.clone()));
                row.set_prefix(releases[i].id());
                row.set_message("waiting");
                (releases[i].id(), row)
            })
            .collect();
        *self.table.lock().expect("not poisoned") = Some(Table {
            _multi: multi,
            rows,
            running,
            done,
        });
    }

    fn started(&self, release: &Release) {
        if Self::lines() {
            stagecraft_core::errln!("▶ {} deploying ({})", release.id(), release.namespace);
        }
        if let Some(table) = &*self.table.lock().expect("not poisoned") {
            let row = &table.rows[&release.id()];
            row.set_style(table.running.clone());
            row.reset_elapsed();
            row.enable_steady_tick(Duration::from_millis(100));
        }
    }

    fn finished(&self, release: &Release, done: &Finished) {
        let secs = done.duration.as_secs_f64();
        let text = match &done.outcome {
            Outcome::Deployed => format!("✔ deployed in {secs:.1}s"),
            Outcome::Unchanged => "= unchanged since its last deploy".to_owned(),
            Outcome::Skipped { because } => format!("- skipped: it needs {because}, which failed"),
            Outcome::NotStarted => "not started".to_owned(),
            Outcome::Failed { .. } => {
                format!("{} failed after {secs:.1}s", ui::paint(ui::RED_BOLD, "✘"))
            }
        };
        if Self::lines() {
            stagecraft_core::errln!("{} {text}", release.id());
        }
        if let Some(table) = &*self.table.lock().expect("not poisoned") {
            let row = &table.rows[&release.id()];
            row.set_style(table.done.clone());
            row.finish_with_message(text);
        }
    }

    fn end(&self) {
        if let Some(table) = self.table.lock().expect("not poisoned").take() {
            for row in table.rows.values().filter(|r| !r.is_finished()) {
                row.set_style(table.done.clone());
                row.finish_with_message("not started");
            }
        }
    }
}

/// The summary table after a deploy (not after a dry run, nor `--quiet`).
pub fn print_summary(report: &Report, dry_run: bool) {
    if !dry_run && !ui::quiet() {
        stagecraft_core::out!("{}", report.summary());
    }
}

/// `--json`: the report as JSON (a dry run's too: its plan's reasons);
/// else the table.
pub fn print_report(report: &Report, dry_run: bool, json: bool) {
    match json {
        true => stagecraft_core::outln!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).expect("JSON")
        ),
        false => print_summary(report, dry_run),
    }
}
