//! A task's run: the plan (each task once, after what it depends on),
//! the refusals before the first line (stages, confirmation, each task's
//! environment and folder), then each line through `sh -c`.

use std::ffi::OsString;
use std::ops::Range;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};

use super::owner::{File, Id, Owner, owner_dir};
use crate::config::TaskToml;
use crate::process::Cmd;
use crate::repo::{Repo, Stage};
use crate::stage::confirm;
use crate::stage::environment::{self, Secrets, StageEnv};
use crate::ui;

/// What `run` runs: the tasks in order, the one asked for last.
pub struct Plan<'r> {
    pub(super) steps: Vec<Step<'r>>,
}

pub(super) struct Step<'r> {
    pub(super) id: Id,
    pub(super) qualified: String,
    pub(super) file: File<'r>,
    pub(super) key_span: Range<usize>,
}

impl Step<'_> {
    fn task(&self) -> &TaskToml {
        self.file
            .task(&self.id.name)
            .expect("planned from its file")
            .1
    }

    fn defined_at(&self) -> String {
        format!(
            "{}:{}",
            self.file.display(),
            self.file.line_of(&self.key_span)
        )
    }
}

/// How `run` runs a plan.
#[derive(Clone, Copy)]
pub struct RunOptions<'a> {
    pub stage: &'a Stage,
    /// For the task asked for (not its dependencies).
    pub args: &'a [OsString],
    pub yes: bool,
    pub dry_run: bool,
}

impl Plan<'_> {
    /// The task asked for.
    pub fn target(&self) -> &str {
        &self
            .steps
            .last()
            .expect("a plan ends with its task")
            .qualified
    }

    /// Runs the plan in `stage`: refusals first (stages, confirmation, the
    /// environments, the folders), then each task's lines in order; the
    /// first failure stops the rest and its exit code is returned.
    pub fn run(&self, repo: &Repo, options: RunOptions) -> Result<i32> {
        let stage = options.stage;
        let target = self.target();
        for step in &self.steps {
            let task = step.task();
            let Some(stages) = &task.stages else { continue };
            if stages.iter().any(|s| s.get_ref() == &stage.name) {
                continue;
            }
            let allowed: Vec<&str> = stages.iter().map(|s| s.get_ref().as_str()).collect();
            let which = if step.qualified == target {
                format!("task `{target}`")
            } else {
                format!("task `{}` (which `{target}` depends on)", step.qualified)
            };
            bail!(
                "{which} runs only on {} ({}), not on {}; nothing was run\n  hint: pass --stage {}",
                allowed.join(", "),
                step.defined_at(),
                stage.name,
                allowed[0]
            );
        }
        if !options.dry_run {
            let asks = self.steps.iter().find(|s| s.task().confirm);
            let what = format!("task {target}");
            match asks {
                Some(step) if !stage.protected() => confirm::asked(
                    stage,
                    options.yes,
                    &what,
                    &format!("`{}` has confirm = true", step.qualified),
                )?,
                _ => confirm::protected(stage, options.yes, &what, None)?,
            }
        }
        let secrets = match options.dry_run {
            true => Secrets::Skip,
            false => Secrets::Resolve,
        };
        let mut prepared = Vec::new();
        for step in &self.steps {
            prepared.push(self.prepare(repo, step, stage, secrets)?);
        }
        for (index, (step, ready)) in self.steps.iter().zip(&prepared).enumerate() {
            let task = step.task();
            let args: &[OsString] = match step.qualified == target {
                true => options.args,
                false => &[],
            };
            let lines = &task.run.get_ref().0;
            if options.dry_run {
                crate::outln!(
                    "# {} ({}), stage {}",
                    step.qualified,
                    step.defined_at(),
                    stage.name
                );
            } else {
                ready.env.prepare_kubeconfig(repo);
            }
            for (n, (line, line_args)) in with_args(lines, args).into_iter().enumerate() {
                let cmd = Cmd::new("sh")
                    .arg("-c")
                    .arg(&line)
                    .arg(&step.qualified)
                    .args(line_args)
                    .dir(&ready.dir)
                    .full_env(ready.child.clone());
                if options.dry_run {
                    crate::outln!("{cmd}");
                    continue;
                }
                let code = cmd.status()?;
                if code != 0 {
                    let which = match lines.len() {
                        1 => String::new(),
                        _ => format!("line {} of its `run`, ", n + 1),
                    };
                    let not_run: Vec<&str> = self.steps[index + 1..]
                        .iter()
                        .map(|s| s.qualified.as_str())
                        .collect();
                    let not_run = match not_run.is_empty() {
                        true => String::new(),
                        false => format!("; not run: {}", not_run.join(", ")),
                    };
                    ui::print_error(&anyhow!(
                        "task `{}` failed: `{}` {} ({which}{}){not_run}",
                        step.qualified,
                        ui::escape_controls(&line),
                        describe_code(code),
                        step.defined_at()
                    ));
                    return Ok(code);
                }
            }
        }
        Ok(0)
    }

    /// A step's environment and folder, found before anything runs.
    fn prepare(
        &self,
        repo: &Repo,
        step: &Step,
        stage: &Stage,
        secrets: Secrets,
    ) -> Result<Prepared> {
        let task = step.task();
        let scope = step.id.owner.scope(repo)?;
        let env = environment::resolve_with(repo, stage, &scope, secrets, |model| {
            step.file.add_env_layer(model, task)
        })
        .map_err(|e| {
            e.context(format!(
                "cannot resolve the environment of task `{}` in stage {}",
                step.qualified, stage.name
            ))
        })?;
        let home = owner_dir(repo, &step.id.owner);
        let dir = match &task.dir {
            None => home,
            Some(dir) => {
                let path = home.join(dir.get_ref());
                if !path.is_dir() {
                    return Err(step.file.error_at(
                        &dir.span(),
                        format!(
                            "task `{}`: dir `{}` is not a folder ({})\n  hint: `dir` is relative to the file's folder",
                            step.qualified,
                            dir.get_ref(),
                            path.display()
                        ),
                    ));
                }
                path
            }
        };
        // A cluster's or an app's hostnames in this stage (`hmlet:smoke`
        // curls them); the repository's tasks get none.
        let mut child = env.child_env();
        let hosts = match &step.id.owner {
            Owner::Repo => None,
            Owner::Cluster(cluster) => {
                Some(crate::stage::routes::hostnames(repo, stage, cluster, None)?)
            }
            // Without an `env` of its own, the task's environment is the
            // app's: no second resolution.
            Owner::App { cluster, app } if task.env.is_empty() => Some(
                match crate::stage::routes::AppHosts::of(repo, cluster, app)? {
                    Some(hosts) => hosts.expand(&env)?,
                    None => Vec::new(),
                },
            ),
            Owner::App { cluster, app } => Some(crate::stage::routes::hostnames(
                repo,
                stage,
                cluster,
                Some(app),
            )?),
        };
        if let Some(hosts) = hosts {
            child.push(("XTASK_HOSTS".to_owned(), hosts.join(" ")));
        }
        Ok(Prepared { child, env, dir })
    }
}

/// A step, ready to run: found before the first line of any step runs.
struct Prepared {
    /// The child's complete environment.
    child: Vec<(String, String)>,
    /// The stage environment it came from (its kubeconfig).
    env: StageEnv,
    dir: PathBuf,
}

/// Each line with the positional parameters it gets: every line gets the
/// extra arguments as `$1`, `"$@"`...; when no line refers to them, they
/// are appended to the last line too, as `npm run` and `mise run` do.
fn with_args(lines: &[String], args: &[OsString]) -> Vec<(String, Vec<OsString>)> {
    let uses_args = lines.iter().any(|l| refers_to_args(l));
    let last = lines.len().saturating_sub(1);
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let mut line = line.clone();
            if !uses_args && i == last && !args.is_empty() {
                line.push_str(" \"$@\"");
            }
            (line, args.to_vec())
        })
        .collect()
}

/// Whether a command line reads its positional parameters.
fn refers_to_args(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.windows(2).enumerate().any(|(i, w)| {
        let escaped = i > 0 && bytes[i - 1] == b'\\';
        !escaped
            && w[0] == b'$'
            && (w[1] == b'@'
                || w[1] == b'*'
                || w[1] == b'#'
                || w[1].is_ascii_digit() && w[1] != b'0'
                || (w[1] == b'{'
                    && bytes.get(i + 2).is_some_and(|c| {
                        matches!(c, b'@' | b'*' | b'#') || (c.is_ascii_digit() && *c != b'0')
                    })))
    })
}

fn describe_code(code: i32) -> String {
    if code > 128 && code < 160 {
        format!("was killed by signal {} (exit code {code})", code - 128)
    } else {
        format!("exited with code {code}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn args_go_to_the_last_line_unless_a_line_reads_them() {
        let lines = vec!["make build".to_owned(), "pytest".to_owned()];
        let got = with_args(&lines, &os(&["-k", "smoke"]));
        assert_eq!(got[0].0, "make build");
        assert_eq!(got[1].0, "pytest \"$@\"");
        let lines = vec!["echo \"$1\"".to_owned(), "true".to_owned()];
        let got = with_args(&lines, &os(&["x"]));
        assert_eq!(got[1].0, "true", "a line reads them: nothing appended");
        assert_eq!(got[0].1, os(&["x"]));
        let got = with_args(&["true".to_owned()], &[]);
        assert_eq!(got[0].0, "true", "no args: nothing appended");
    }

    #[test]
    fn positional_parameters_are_recognised() {
        for line in [
            "echo $1",
            "f \"$@\"",
            "echo $*",
            "echo ${1:-x}",
            "echo ${@}",
            "[ $# -gt 0 ]",
        ] {
            assert!(refers_to_args(line), "{line}");
        }
        for line in [
            "echo $0",
            "echo $HOME",
            "echo \\$1",
            "echo ${HOME}",
            "price 5$",
        ] {
            assert!(!refers_to_args(line), "{line}");
        }
    }
}
