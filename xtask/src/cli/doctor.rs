use std::path::PathBuf;

use clap::Args;

use super::Json;

/// Check this machine and repository, and say how to fix what is wrong.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask doctor
  cargo xtask doctor --json | jq '.[] | select(.ok | not)'")]
pub struct DoctorArgs {
    #[command(flatten)]
    json: Json,
    /// The hosts file to check (default: $XTASK_HOSTS_FILE, else /etc/hosts).
    #[arg(long, value_name = "FILE")]
    hosts_file: Option<PathBuf>,
}

#[cfg(feature = "ops")]
mod output {
    use crate::cli::{Code, Ctx};
    use anyhow::Result;

    use super::*;
    use crate::{doctor, hosts, ui};

    impl DoctorArgs {
        pub fn run(self, ctx: &Ctx) -> Result<Code> {
            let repo = ctx.repo()?;
            let checks = doctor::checks(&repo, &hosts::hosts_file(self.hosts_file), &ctx.cwd)?;
            let failing = checks.iter().filter(|c| !c.ok).count();
            if self.json.json {
                crate::cli::print_json(&checks)?;
            } else {
                let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(10);
                for c in &checks {
                    let mark = if c.ok {
                        "✔".to_owned()
                    } else {
                        ui::paint(ui::RED_BOLD, "✘")
                    };
                    crate::outln!(
                        "{mark} {:width$}  {}",
                        c.check,
                        ui::escape_controls(&c.detail)
                    );
                    if let Some(fix) = &c.fix {
                        let mut lines = fix.lines();
                        crate::outln!("  {:width$}  fix: {}", "", lines.next().unwrap_or(""));
                        for line in lines {
                            crate::outln!("  {:width$}       {line}", "");
                        }
                    }
                }
                match failing {
                    0 => crate::outln!("\nall {} checks pass", checks.len()),
                    n => crate::outln!("\n{n} of {} checks fail", checks.len()),
                }
            }
            Ok(if failing > 0 { Code::FAILED } else { Code::OK })
        }
    }
}
