use anyhow::Result;
use stagecraft_core::cli::{Code, Ctx};

use crate::cluster::hosts;
use crate::doctor;
use stagecraft_core::cli::doctor::*;
use stagecraft_core::ui;

pub fn run(args: DoctorArgs, ctx: &Ctx) -> Result<Code> {
    let repo = ctx.repo()?;
    let checks = doctor::checks(&repo, &hosts::hosts_file(args.hosts_file), &ctx.cwd)?;
    let failing = checks.iter().filter(|c| !c.ok).count();
    if args.json.json {
        stagecraft_core::cli::print_json(&checks)?;
    } else {
        let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(10);
        for c in &checks {
            let mark = if c.ok {
                "✔".to_owned()
            } else {
                ui::paint(ui::RED_BOLD, "✘")
            };
            stagecraft_core::outln!(
                "{mark} {:width$}  {}",
                c.check,
                ui::escape_controls(&c.detail)
            );
            if let Some(fix) = &c.fix {
                let mut lines = fix.lines();
                stagecraft_core::outln!("  {:width$}  fix: {}", "", lines.next().unwrap_or(""));
                for line in lines {
                    stagecraft_core::outln!("  {:width$}       {line}", "");
                }
            }
        }
        match failing {
            0 => stagecraft_core::outln!("\nall {} checks pass", checks.len()),
            n => stagecraft_core::outln!("\n{n} of {} checks fail", checks.len()),
        }
    }
    Ok(if failing > 0 { Code::FAILED } else { Code::OK })
}
