//! `doctor`: checks of this machine and repository, each with its fix.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::apps;
use crate::cluster::{Target, provider};
use crate::hosts;
use crate::process::Cmd;
use crate::repo::Repo;
use crate::tools::{self, Pins, Record, Status, Verify};

/// Every check, in order.
pub fn checks(repo: &Repo, hosts_file: &std::path::Path) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    docker(repo, &mut checks);
    pinned_tools(repo, &mut checks);
    remote_kubeconfigs(repo, &mut checks)?;
    shell_integration(repo, &mut checks);
    local_hosts(repo, hosts_file, &mut checks)?;
    Ok(checks)
}

#[derive(Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
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
    for name in pins.names() {
        let Ok(pin) = pins.get(&name) else { continue };
        let status = tools::status(repo, &record, &name, pin, platform, Verify::Full);
        let check = format!("tool {name}");
        checks.push(match status {
            Status::UpToDate => Check::ok(check, format!("{} installed in deps/bin", pin.version)),
            Status::Unpinned => Check::fail(
                check,
                "no sha256 pinned for this platform",
                format!("cargo xtask deps lock {name}"),
            ),
            other => Check::fail(
                check,
                format!("{} (pinned {})", other.describe(), pin.version),
                format!("cargo xtask deps install {name}"),
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
            let file = target.kubeconfig().display().to_string();
            let text = std::fs::read_to_string(target.kubeconfig()).unwrap_or_default();
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
        }
    }
    Ok(())
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

fn shell_integration(repo: &Repo, checks: &mut Vec<Check>) {
    if repo.shell.value.prompt.enabled {
        return checks.push(Check::ok(
            "shell prompt",
            "the prompt prefix is on (shell.toml [prompt])",
        ));
    }
    let starship = std::env::var_os("STARSHIP_CONFIG")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/starship.toml"))
        });
    let shows = starship
        .and_then(|p| std::fs::read_to_string(p).ok())
        .is_some_and(|text| text.contains("XTASK_PROMPT"));
    checks.push(if shows {
        Check::ok("shell prompt", "starship shows $XTASK_PROMPT")
    } else {
        Check::fail(
            "shell prompt",
            "the prompt prefix is off and no starship config shows $XTASK_PROMPT",
            "add the starship snippet of docs/shell.md, or set `enabled = true` under [prompt] in shell.toml",
        )
    });
}

/// The hostnames of the stage whose names the hosts file resolves: the
/// default stage when its provider uses the hosts file, else the first
/// stage that does.
fn local_hosts(repo: &Repo, hosts_file: &std::path::Path, checks: &mut Vec<Check>) -> Result<()> {
    let uses_hosts = |stage: &crate::repo::Stage| provider(stage.target()).uses_hosts_file();
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
        let names = apps::hostnames(repo, &target)?;
        if names.is_empty() {
            continue;
        }
        let check = format!("hosts {}", target.name());
        checks.push(
            if hosts::has_block(hosts_file, &target.name(), "127.0.0.1", &names) {
                Check::ok(
                    check,
                    format!("{} names {}", hosts_file.display(), names.join(", ")),
                )
            } else {
                Check::fail(
                    check,
                    format!(
                        "{} lacks the {} hostnames",
                        hosts_file.display(),
                        target.name()
                    ),
                    format!(
                        "cargo xtask cluster add-hosts {cluster_name} --stage {}",
                        stage.name
                    ),
                )
            },
        );
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
