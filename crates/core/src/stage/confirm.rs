//! Protected stages ask before the first step of anything that changes
//! them: `--yes`, or the stage's name typed on a terminal. Without a
//! terminal and without `--yes`, nothing runs.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Result, bail};

use crate::process::Cmd;
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
    type_stage_name(
        stage,
        &format!("{} {what} on protected stage {name}{on}.", stage.emoji()),
    )
}

/// Asks for `what` on `stage` whatever the stage (`why`: what asks for it,
/// e.g. a task's `confirm = true`); Ok means go ahead.
pub fn asked(stage: &Stage, yes: bool, what: &str, why: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    let name = &stage.name;
    if !std::io::stdin().is_terminal() {
        bail!(
            "{what} asks for confirmation ({why}): it needs --yes when there is no terminal to confirm on; nothing was run"
        );
    }
    type_stage_name(
        stage,
        &format!("{} {what} on stage {name} ({why}).", stage.emoji()),
    )
}

/// Asks `question` on the terminal, `[y/N]`, unless `yes`. Without a
/// terminal it refuses: `refusal` says what was not done and how to
/// confirm. Ok means go ahead.
pub fn yes_no(question: &str, yes: bool, refusal: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{refusal}");
    }
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{question} [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES") {
        bail!("not confirmed: nothing was changed");
    }
    Ok(())
}

/// The stage's name typed on the terminal, or an error.
fn type_stage_name(stage: &Stage, question: &str) -> Result<()> {
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{question} Type the stage name to confirm: ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != stage.name {
        bail!("not confirmed: nothing was run");
    }
    Ok(())
}

/// On a protected stage, what pushes or deploys code (`up`, `app build`,
/// `app deploy`) refuses a work tree with uncommitted changes: prod gets
/// what a commit says, never `-dirty` images. `--allow-dirty` overrides.
pub fn clean_tree(root: &Path, stage: &Stage, allow_dirty: bool, what: &str) -> Result<()> {
    if !stage.protected() || allow_dirty {
        return Ok(());
    }
    let status = Cmd::new("git")
        .arg("-C")
        .arg(root)
        .args(["status", "--porcelain"])
        .no_stdin()
        .read();
    // Not a git checkout: nothing to compare with.
    let Ok(changes) = status else { return Ok(()) };
    if changes.trim().is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = changes.lines().take(5).collect();
    bail!(
        "stage {} is protected and the work tree has uncommitted changes: {what} would ship what no commit holds; nothing was run\n    {}\n  hint: commit or stash them, or pass --allow-dirty",
        stage.name,
        shown.join("\n    ")
    )
}
