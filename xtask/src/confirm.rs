//! Protected stages ask before the first step of anything that changes
//! them: `--yes`, or the stage's name typed on a terminal. Without a
//! terminal and without `--yes`, nothing runs.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Result, bail};

use crate::repo::Stage;

/// Asks for `what` on `stage` (`on` names the cluster, when there is one)
/// when the stage is protected; Ok means go ahead.
pub fn protected(stage: &Stage, yes: bool, what: &str, on: Option<&str>) -> Result<()> {
    if !stage.protected() || yes {
        return Ok(());
    }
    let name = &stage.name;
    if !std::io::stdin().is_terminal() {
        bail!(
            "stage {name} is protected: {what} needs --yes when there is no terminal to confirm on; nothing was run"
        );
    }
    let on = on.map(|o| format!(" ({o})")).unwrap_or_default();
    let mut stderr = std::io::stderr();
    let _ = write!(
        stderr,
        "{} {what} on protected stage {name}{on}. Type the stage name to confirm: ",
        stage.emoji()
    );
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != name {
        bail!("not confirmed: nothing was run");
    }
    Ok(())
}
