//! `app intercept APP -- CMD`: one service on your laptop, the rest of the
//! stage in the cluster, the cluster's traffic for it reaching your
//! process (telepresence 2.x). telepresence gets the stage's pinned
//! kubeconfig and context (never ~/.kube); the traffic manager is
//! installed when the cluster has none; the release's workload is
//! intercepted; CMD runs with the app's stage environment over the
//! intercepted pod's; and whatever way CMD ends (it exits, fails, Ctrl-C),
//! the intercept is left and telepresence quits: nothing dangles.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

use crate::app::pods;
use crate::app::releases::AppAt;
use crate::tools::toolbox::{Planned, Tool, Toolbox};
use stagecraft_core::fsx;
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::repo::{Repo, Scope};
use stagecraft_core::stage::confirm;
use stagecraft_core::stage::environment::{self, Secrets};

pub struct Options<'a> {
    pub release: Option<&'a str>,
    pub workload: Option<&'a str>,
    /// The local port the traffic goes to (default: the Service's port).
    pub port: Option<u16>,
    pub command: &'a [std::ffi::OsString],
    pub dry_run: bool,
    pub yes: bool,
}

/// Runs CMD with the release intercepted; CMD's exit code.
pub fn intercept(repo: &Repo, at: &AppAt, app: &str, options: &Options) -> Result<i32> {
    let runner = Runner {
        dry_run: options.dry_run,
    };
    if !options.dry_run {
        at.target.require_kubeconfig()?;
        confirm::protected(
            &at.target.stage,
            options.yes,
            "an intercept (the cluster's traffic to your machine)",
            Some(&at.target.name()),
        )?;
    }
    let release = at.release(options.release, app)?;
    let tools = Toolbox::find(
        repo,
        &[Tool::Telepresence, Tool::Kubectl],
        &Planned::default(),
    )?;
    crate::cluster::identity::verify(repo, &at.target, &tools, runner)?;
    // The workload and its Service's port, from the release's own objects.
    let (workload, service_port) = match pods::intercepted(repo, at, release, options.workload) {
        Ok(found) => found,
        Err(_) if options.dry_run => (release.name.clone(), None),
        Err(e) => return Err(e),
    };
    // Traffic to the Service's port goes to the local one (default: the
    // same number).
    let port = match (options.port, &service_port) {
        (Some(local), Some((remote, _))) => format!("{local}:{remote}"),
        (Some(local), None) => local.to_string(),
        (None, Some((remote, number))) => format!("{number}:{remote}"),
        (None, None) => bail!(
            "{} has no Service to take the port from\n  hint: --port 8080",
            release.id()
        ),
    };
    let telepresence = |head: &[&str]| tools.telepresence(&at.target.kube, head).no_stdin();
    let namespace = release.namespace.as_str();
    // The pod's environment lands in a private file, removed on every exit.
    let private = fsx::private_temp_dir("stagecraft-intercept")?;
    let env_file = private.path().join("pod.env");
    let connect = telepresence(&["connect", "--namespace", namespace]);
    let name = format!("{workload}-{namespace}");
    let intercept = telepresence(&["intercept", &workload, "--namespace", namespace])
        .args(["--port", &port, "--mount=false", "--env-file"])
        .arg(&env_file);
    let leave = telepresence(&["leave", &name]);
    let quit = telepresence(&["quit"]);
    if options.dry_run {
        for cmd in [&connect, &intercept] {
            stagecraft_core::outln!("{}", cmd.script());
        }
        stagecraft_core::outln!(
            "# then, with {}'s stage environment over the pod's: {}",
            release.id(),
            options
                .command
                .iter()
                .map(|a| stagecraft_core::quote::posix(&a.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        for cmd in [&leave, &quit] {
            stagecraft_core::outln!("{}", cmd.script());
        }
        return Ok(0);
    }
    // Connected from here on: quit on every way out.
    let mut session = Session {
        runner,
        leave: None,
        quit,
    };
    if let Err(e) = runner.run(&connect) {
        let text = format!("{e:#}");
        if !text.contains("traffic-manager") && !text.contains("helm install") {
            return Err(e.context("telepresence cannot connect to the stage's cluster"));
        }
        // No traffic manager in the cluster yet: install it, then connect.
        stagecraft_core::ui::say("telepresence: the cluster has no traffic manager; installing it");
        runner.run(&telepresence(&["helm", "install"]))?;
        runner.run(&connect)?;
    }
    runner
        .run(&intercept)
        .with_context(|| format!("cannot intercept {workload} in {namespace}"))?;
    session.leave = Some(leave);
    let pod_env = read_env_file(&env_file);
    let stage_env = environment::resolve(
        repo,
        &at.target.stage,
        &Scope::app(&at.target.cluster, app),
        Secrets::Resolve,
    )?;
    let mut env: BTreeMap<String, String> = stagecraft_core::user_env::user_env().clone();
    env.extend(pod_env);
    env.extend(stage_env.child_env());
    let (program, args) = options
        .command
        .split_first()
        .context("name a command after --")?;
    stagecraft_core::ui::say(&format!(
        "intercepting {workload} in {namespace} (port {port}): running {}",
        program.to_string_lossy()
    ));
    let code = Cmd::new(program)
        .args(args)
        .full_env(env.into_iter().collect())
        .status();
    drop(session);
    code
}

/// Leaves the intercept and quits telepresence when dropped: after CMD
/// exits, fails or is interrupted, and on an error on the way.
struct Session {
    runner: Runner,
    leave: Option<Cmd>,
    quit: Cmd,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(leave) = &self.leave
            && let Err(e) = self.runner.run(leave)
        {
            stagecraft_core::ui::warn(&format!("{e:#}"));
        }
        if let Err(e) = self.runner.run(&self.quit) {
            stagecraft_core::ui::warn(&format!("{e:#}"));
        }
    }
}

/// `KEY=VALUE` lines (what `telepresence intercept --env-file` writes).
fn read_env_file(path: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}
