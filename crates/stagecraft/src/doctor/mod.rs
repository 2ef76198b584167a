//! `doctor`: checks of this machine and repository, each with its fix.

mod frameworks;
mod probe;

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::app::model;
use crate::cluster::Target;
use crate::cluster::hosts;
use crate::tools::{self, Pins, Record, Status, Verify};
use stagecraft_core::cluster::provider;
use stagecraft_core::process::Cmd;
use stagecraft_core::repo::Repo;
use stagecraft_core::stage::environment::{self, Secrets};
use stagecraft_core::stage::shells::{self, Launch, ShellKind};

/// Every check, in order.
pub fn checks(repo: &Repo, hosts_file: &Path, cwd: &Path) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    docker(repo, &mut checks);
    pinned_tools(repo, &mut checks);
    remote_kubeconfigs(repo, &mut checks)?;
    let prompt = shell_prompt(repo, cwd).unwrap_or_else(|e| {
        Check::fail(
            "shell prompt",
            format!("{e:#}"),
            "run `cargo xtask shell` and look at what your startup files print",
        )
    });
    let completion = prompt
        .prompt
        .as_ref()
        .and_then(|p| p.completion.as_deref())
        .map(zsh_completion);
    checks.push(prompt);
    checks.extend(completion);
    local_hosts(repo, hosts_file, &mut checks)?;
    Ok(checks)
}

#[derive(Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    pub fix: Option<String>,
    /// The shell prompt check: what the prompt showed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<probe::Rendered>,
}

impl Check {
    fn ok(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
            prompt: None,
        }
    }

    fn fail(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
            prompt: None,
        }
    }
}

fn docker(repo: &Repo, checks: &mut Vec<Check>) {
    match repo.tool("docker") {
        Err(_) => checks.push(Check::fail(
            "docker",
            "not installed",
            "install Docker (https://docs.docker.com/engine/install/) and start it",
        )),
        Ok(path) => match Cmd::new(&path)
            .args(["info", "--format", "{{.ServerVersion}}"])
            .read()
        {
            Ok(version) => checks.push(Check::ok(
                "docker",
                format!("daemon {} answers ({})", version.trim(), path.display()),
            )),
            Err(_) => checks.push(Check::fail(
                "docker",
                format!(
                    "{} is installed but its daemon does not answer",
                    path.display()
                ),
                "start Docker (Docker Desktop, or `sudo systemctl start docker`)",
            )),
        },
    }
}

fn pinned_tools(repo: &Repo, checks: &mut Vec<Check>) {
    let pins = match Pins::load(repo) {
        Ok(pins) => pins,
        Err(e) => {
            return checks.push(Check::fail(
                "deps/deps.toml",
                format!("{e:#}"),
                "fix the file as the error says",
            ));
        }
    };
    let Ok(platform) = tools::host_platform() else {
        return checks.push(Check::fail(
            "pinned tools",
            "no pins for this platform",
            "run on linux or macOS, amd64 or arm64",
        ));
    };
    let record = Record::load(repo);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let install = |name: &str| {
        format!(
            "cargo xtask deps install {name}\n  offline: XTASK_DEPS_MIRROR=file:///path/to/mirror cargo xtask deps install {name} (a folder laid out as HOST/PATH, checksums verified as online; docs/deps.md)"
        )
    };
    for name in pins.names() {
        let Ok(pin) = pins.get(&name) else { continue };
        let status = tools::status(repo, &record, &name, pin, platform, Verify::Full);
        let check = format!("tool {name}");
        let version_args = pin
            .version_args
            .clone()
            .unwrap_or_else(|| vec!["--version".to_owned()]);
        // What other commands run instead: the first copy on PATH.
        let on_path =
            || stagecraft_core::pins::on_path(&name, &version_args, &path, &repo.bin_dir());
        checks.push(match status {
            Status::UpToDate => Check::ok(check, format!("{} installed in deps/bin", pin.version)),
            Status::Missing => match on_path() {
                Some(found) => Check::fail(
                    check,
                    format!(
                        "not in deps/bin; PATH has {} at {} (used, unverified; pinned {})",
                        found.version.as_deref().unwrap_or("an unknown version"),
                        found.path,
                        pin.version
                    ),
                    install(&name),
                ),
                None => match tools::optional_use(&name) {
                    Some(command) => Check::ok(
                        check,
                        format!("not installed; only {command} needs it (`cargo xtask deps install {name}`)"),
                    ),
                    None => Check::fail(
                        check,
                        format!("missing: not in deps/bin nor on PATH (pinned {})", pin.version),
                        install(&name),
                    ),
                },
            },
            Status::Unpinned => Check::fail(
                check,
                "no sha256 pinned for this platform",
                format!("cargo xtask deps lock {name}"),
            ),
            other => Check::fail(
                check,
                format!("{} (pinned {})", other.describe(), pin.version),
                install(&name),
            ),
        });
    }
}

fn remote_kubeconfigs(repo: &Repo, checks: &mut Vec<Check>) -> Result<()> {
    for stage_name in repo.stage_names()? {
        let stage = repo.stage(&stage_name)?;
        if provider(stage.target()).creates_clusters() {
            continue;
        }
        for cluster in repo.cluster_names()? {
            let check = format!("kubeconfig {cluster}-{stage_name}");
            let target = match Target::new(repo, &cluster, repo.stage(&stage_name)?) {
                Ok(target) => target,
                Err(e) => {
                    checks.push(Check::fail(
                        check,
                        format!("{e:#}"),
                        "fix the stage's context as the error says",
                    ));
                    continue;
                }
            };
            let file = target.source().display().to_string();
            let text = std::fs::read_to_string(target.source()).unwrap_or_default();
            checks.push(if text.is_empty() {
                Check::fail(
                    check,
                    format!("{file} does not exist"),
                    format!("write the cluster's credentials there, e.g. `aws eks update-kubeconfig --name <cluster> --kubeconfig {file} --alias {}`", target.context),
                )
            } else if kubeconfig_has_context(&text, &target.context) {
                Check::ok(check, format!("{file} has context {}", target.context))
            } else {
                Check::fail(
                    check,
                    format!("{file} has no context {}", target.context),
                    format!("add the context {} to {file}, or fix `context` of stage {stage_name}", target.context),
                )
            });
            if !text.is_empty() {
                checks.push(identity_pinned(&target));
            }
        }
    }
    Ok(())
}

/// A shared stage's cluster is pinned: its changes check that the
/// kubeconfig reaches that cluster.
fn identity_pinned(target: &Target) -> Check {
    let check = format!("identity {}", target.name());
    match crate::cluster::identity::recorded(target) {
        Ok(Some(identity)) => Check::ok(
            check,
            format!("pinned: uid {} at {}", identity.uid, identity.server),
        ),
        Ok(None) => Check::fail(
            check,
            "not pinned: nothing checks that its kubeconfig reaches the right cluster",
            format!(
                "cargo xtask cluster pin {} --stage {}, then commit clusters/{}/cluster.toml",
                target.cluster, target.stage.name, target.cluster
            ),
        ),
        Err(e) => Check::fail(
            check,
            format!("{e:#}"),
            "pin it again: cargo xtask cluster pin",
        ),
    }
}

/// The `name:` of each entry under `contexts:` (a kubeconfig is YAML; this
/// reads only what kubectl itself writes).
fn kubeconfig_has_context(text: &str, context: &str) -> bool {
    let mut in_contexts = false;
    for line in text.lines() {
        if !line.starts_with([' ', '-']) && !line.is_empty() {
            in_contexts = line.trim_end() == "contexts:";
            continue;
        }
        if in_contexts
            && let Some(name) = line.trim_start_matches([' ', '-']).strip_prefix("name:")
            && name.trim().trim_matches(['"', '\'']) == context
        {
            return true;
        }
    }
    false
}

/// Starts the user's shell as `cargo xtask shell` would, in a terminal,
/// and checks that the prompt it draws shows the stage.
fn shell_prompt(repo: &Repo, cwd: &Path) -> Result<Check> {
    const CHECK: &str = "shell prompt";
    let (kind, program) = shells::detect(None)?;
    let stage = repo.stage_or_default(None)?;
    let scope = repo.stage_scope(cwd, None, None)?;
    let stage_env = environment::resolve(repo, &stage, &scope, Secrets::Skip)?;
    let project_on = repo.shell.value.prompt.enabled;
    let prefix_on = shells::prefix_enabled(project_on)?;
    let mut launch = Launch::new(kind, program, &stage_env, prefix_on)?;
    launch.env.push(("XTASK_DEPTH".to_owned(), "1".to_owned()));
    let rendered = probe::render(&launch, &shells::scripts_dir(kind)?, &stage_env.prompt)?;

    let setup = match &rendered.framework {
        Some(framework) => format!("{} with {framework}", kind.name()),
        None => kind.name().to_owned(),
    };
    let last_line = rendered.prompt.lines().last().unwrap_or("").trim();
    let mut check = if rendered.shows_stage && !rendered.shows_reference {
        let how = if prefix_on {
            "Stagecraft's prefix"
        } else {
            "your theme (the prefix is off)"
        };
        Check::ok(
            CHECK,
            format!("{setup}: the prompt shows `{}`, by {how}", stage_env.prompt),
        )
    } else {
        let what = if rendered.shows_reference {
            "the text `$XTASK_PROMPT` instead of the stage".to_owned()
        } else {
            format!("no `{}`", stage_env.prompt)
        };
        let off = if prefix_on {
            String::new()
        } else if std::env::var_os(shells::PREFIX_SWITCH).is_some() {
            format!(" ({}=off)", shells::PREFIX_SWITCH)
        } else {
            " (shell.toml [prompt] enabled = false)".to_owned()
        };
        Check::fail(
            CHECK,
            format!(
                "{setup}: the prompt `{last_line}` shows {what}; the prefix is {}{off}",
                if prefix_on { "on" } else { "off" }
            ),
            prompt_fix(kind, rendered.framework.as_deref(), prefix_on),
        )
    };
    check.prompt = Some(rendered);
    Ok(check)
}

/// zsh's completion system in a stage shell, from the prompt probe.
fn zsh_completion(completion: &str) -> Check {
    const CHECK: &str = "zsh completion";
    const LOAD: &str = "autoload -Uz compinit && compinit";
    match completion {
        "compinit" => Check::ok(CHECK, "on (your startup files load compinit)"),
        "first-tab" => Check::ok(
            CHECK,
            format!(
                "your ~/.zshrc does not load compinit: stage shells start it on the first Tab (add `{LOAD}` to ~/.zshrc to have completion in every zsh)"
            ),
        ),
        other => Check::fail(
            CHECK,
            format!(
                "compinit not loaded, completion off ({other}: Tab is bound to another widget)"
            ),
            format!("add `{LOAD}` to ~/.zshrc"),
        ),
    }
}

fn prompt_fix(kind: ShellKind, framework: Option<&str>, prefix_on: bool) -> String {
    let turn_off = format!(
        "\nand, so that the stage shows once, turn Stagecraft's prefix off for yourself: export {}=off",
        shells::PREFIX_SWITCH
    );
    match framework.and_then(|f| frameworks::snippet_for(kind, f)) {
        Some(snippet) => format!(
            "show $XTASK_PROMPT with {}'s own setting; add to {}:\n{}{}",
            snippet.framework,
            snippet.file,
            snippet.text,
            if prefix_on { turn_off.as_str() } else { "" }
        ),
        None if !prefix_on => format!(
            "turn the prefix on: unset {} (or set `enabled = true` under [prompt] in shell.toml), or show $XTASK_PROMPT in your prompt (docs/shell.md)",
            shells::PREFIX_SWITCH
        ),
        None => format!(
            "your startup files redraw the prompt after Stagecraft's hook; show $XTASK_PROMPT in your prompt yourself (docs/shell.md){turn_off}"
        ),
    }
}

/// The hostnames of the stage whose names the hosts file resolves: the
/// default stage when its provider uses the hosts file, else the first
/// stage that does.
fn local_hosts(repo: &Repo, hosts_file: &Path, checks: &mut Vec<Check>) -> Result<()> {
    let uses_hosts =
        |stage: &stagecraft_core::repo::Stage| provider(stage.target()).uses_hosts_file();
    let default = repo.stage_or_default(None)?;
    let stage = if uses_hosts(&default) {
        Some(default)
    } else {
        let mut found = None;
        for name in repo.stage_names()? {
            let stage = repo.stage(&name)?;
            if uses_hosts(&stage) {
                found = Some(stage);
                break;
            }
        }
        found
    };
    let Some(stage) = stage else {
        return Ok(());
    };
    for cluster_name in repo.cluster_names()? {
        let target = Target::new(repo, &cluster_name, stage.clone())?;
        let names = model::hostnames(repo, &target)?;
        if names.is_empty() {
            continue;
        }
        let check = format!("hosts {}", target.name());
        let missing = hosts::missing_names(hosts_file, "127.0.0.1", &names);
        checks.push(if missing.is_empty() {
            // Its own block, or lines of the user's: the names resolve.
            Check::ok(
                check,
                format!("{} names {}", hosts_file.display(), names.join(", ")),
            )
        } else {
            Check::fail(
                check,
                format!(
                    "{} lacks {} of the {} hostnames: {}",
                    hosts_file.display(),
                    missing.len(),
                    target.name(),
                    missing.join(", ")
                ),
                format!(
                    "cargo xtask cluster add-hosts {cluster_name} --stage {}",
                    stage.name
                ),
            )
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_of_a_kubeconfig() {
        let text = "apiVersion: v1\nclusters:\n- name: c\ncontexts:\n- context:\n    cluster: c\n  name: hmlet-stage\ncurrent-context: x\nusers:\n- name: u\n";
        assert!(kubeconfig_has_context(text, "hmlet-stage"));
        assert!(
            !kubeconfig_has_context(text, "c"),
            "a cluster's name is not a context"
        );
        assert!(!kubeconfig_has_context(text, "u"));
    }
}
