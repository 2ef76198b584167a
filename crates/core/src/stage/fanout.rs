//! One command in several stages at once (`run local,test -- ...`, `run
//! all`, `run 'te*'`): each stage's environment resolved and its protected
//! stages confirmed before anything runs, the commands side by side, each
//! output line prefixed with its stage, the exit status the worst one.

use std::ffi::OsString;
use std::io::Read;
use std::sync::mpsc;

use anyhow::{Context, Result, bail};

use crate::process::{self, Cmd};
use crate::repo::{Repo, Scope, Stage};
use crate::stage::confirm;
use crate::stage::environment::{self, Secrets, StageEnv};
use crate::{suggest, ui};

/// Whether `spec` names several stages (else it is one stage's name).
pub fn names_several(spec: &str) -> bool {
    spec == "all" || spec.contains([',', '*', '?'])
}

/// The stages of `local,test`, `all` or `te*`, in the order named (a
/// glob's in the repository's order), each once.
pub fn select(repo: &Repo, spec: &str) -> Result<Vec<Stage>> {
    let all = repo.stage_names()?;
    let mut names: Vec<String> = Vec::new();
    for item in spec.split(',').map(str::trim) {
        let found: Vec<&String> = match item {
            "" => bail!("`{spec}`: an empty stage name\n  hint: write stages as local,test"),
            "all" => all.iter().collect(),
            glob if glob.contains(['*', '?']) => {
                let found: Vec<&String> = all.iter().filter(|n| matches(glob, n)).collect();
                if found.is_empty() {
                    bail!(
                        "no stage matches `{glob}`\n  hint: the stages are {}",
                        all.join(", ")
                    );
                }
                found
            }
            // A stage, or an instance of one (`test@pr-42`).
            name => {
                let base = name.split('@').next().unwrap_or(name);
                if !all.iter().any(|n| n == base) {
                    return Err(suggest::unknown("stage", base, &all));
                }
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
                continue;
            }
        };
        for name in found {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names.iter().map(|n| repo.stage(n)).collect()
}

/// `*` any run of characters, `?` one.
fn matches(glob: &str, name: &str) -> bool {
    let (g, n): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    let (mut gi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ni;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

/// A stage's own command line (`task NAME --stage S`).
pub type CommandOf<'a> = dyn Fn(&Stage) -> Vec<OsString> + Sync + 'a;

pub struct Options<'a> {
    pub stages: Vec<Stage>,
    pub scope: &'a Scope,
    pub command: &'a [OsString],
    /// Stop the other stages at the first failure.
    pub fail_fast: bool,
    /// Confirms the protected stages of the list.
    pub yes: bool,
    /// Each stage's own command, run in the user's environment (it sets
    /// up the stage itself: `task NAME --stage S`); None: `command` in
    /// the stage's environment.
    pub per_stage: Option<&'a CommandOf<'a>>,
}

/// Runs the command in every stage; the worst exit code.
pub fn run(repo: &Repo, options: Options) -> Result<i32> {
    // Every stage resolves and every protected one is confirmed before
    // the first command starts.
    let mut stages: Vec<(Stage, StageEnv)> = Vec::new();
    // A stage's own command resolves its environment itself (and asks for
    // its secrets then).
    let secrets = match options.per_stage {
        Some(_) => Secrets::Skip,
        None => Secrets::Resolve,
    };
    for stage in options.stages {
        let env = environment::resolve(repo, &stage, options.scope, secrets)
            .with_context(|| format!("cannot resolve the environment of stage {}", stage.name))?;
        stages.push((stage, env));
    }
    for (stage, _) in &stages {
        confirm::protected(stage, options.yes, "run", None)?;
    }
    let width = stages
        .iter()
        .map(|(s, _)| s.label().len())
        .max()
        .unwrap_or(0);
    let (done_tx, done_rx) = mpsc::channel::<(usize, i32)>();
    let mut pids = Vec::new();
    let mut codes = vec![0; stages.len()];
    // Stages --fail-fast ended: their exit code is not theirs.
    let mut stopped: Vec<usize> = Vec::new();
    let mut finished: Vec<usize> = Vec::new();
    std::thread::scope(|scope| {
        for (i, (stage, env)) in stages.iter().enumerate() {
            env.prepare_kubeconfig(repo);
            let prefix = format!("{} {:width$} │ ", stage.emoji(), stage.label());
            let cmd = match options.per_stage {
                Some(command_of) => {
                    let command = command_of(stage);
                    let (program, args) = command.split_first().expect("a command");
                    let own: Vec<(String, String)> = crate::user_env::user_env()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    Cmd::new(program).args(args).full_env(own)
                }
                None => {
                    let (program, args) = options
                        .command
                        .split_first()
                        .expect("clap requires a command");
                    Cmd::new(program).args(args).full_env(env.child_env())
                }
            };
            let mut piped = match cmd.spawn_piped() {
                Ok(piped) => piped,
                Err(e) => {
                    let code = if is_not_found(&e) { 127 } else { 1 };
                    crate::errln!("{prefix}{}", ui::escape_controls(&format!("{e:#}")));
                    let _ = done_tx.send((i, code));
                    continue;
                }
            };
            pids.push((i, piped.pid()));
            let stdout = piped.child.stdout.take().expect("piped");
            let stderr = piped.child.stderr.take().expect("piped");
            let out_prefix = prefix.clone();
            let readers = [
                scope.spawn(move || copy_lines(stdout, &out_prefix, false)),
                scope.spawn(move || copy_lines(stderr, &prefix, true)),
            ];
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                for reader in readers {
                    let _ = reader.join();
                }
                let code = piped.wait().unwrap_or(1);
                let _ = done_tx.send((i, code));
            });
        }
        drop(done_tx);
        for (i, code) in done_rx {
            codes[i] = code;
            if code != 0 && options.fail_fast && stopped.is_empty() {
                for &(j, pid) in &pids {
                    if j != i && !finished.contains(&j) {
                        process::terminate_group(pid);
                        stopped.push(j);
                    }
                }
            }
            finished.push(i);
        }
    });
    let failed: Vec<String> = stages
        .iter()
        .enumerate()
        .filter(|(i, _)| codes[*i] != 0)
        .map(|(i, (stage, _))| match stopped.contains(&i) {
            true => format!("{} (stopped)", stage.label()),
            false => format!("{} (exit {})", stage.label(), codes[i]),
        })
        .collect();
    if !failed.is_empty() {
        ui::warn(&format!(
            "{} of {} stages failed: {}",
            failed.len(),
            stages.len(),
            failed.join(", ")
        ));
    }
    let worst = codes
        .iter()
        .enumerate()
        .filter(|(i, _)| !stopped.contains(i))
        .map(|(_, code)| *code)
        .max();
    Ok(worst.unwrap_or(0))
}

/// The most one prefixed line holds: a longer run of output with no
/// newline is passed on in pieces of this size, each with the prefix, so
/// that no output is ever held whole.
const CHUNK: usize = 64 * 1024;

/// Each line of `from`, with the stage's prefix, to stdout or stderr; its
/// control characters shown escaped (a `\r` must not draw another stage's
/// prefix over this one).
fn copy_lines(mut from: impl Read, prefix: &str, to_stderr: bool) {
    let emit = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        let text = ui::escape_controls(text.strip_suffix('\r').unwrap_or(&text));
        if to_stderr {
            crate::errln!("{prefix}{text}");
        } else {
            crate::outln!("{prefix}{text}");
        }
    };
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(at) = pending[start..].iter().position(|b| *b == b'\n') {
            emit(&pending[start..start + at]);
            start += at + 1;
        }
        while pending.len() - start >= CHUNK {
            let cut = start + utf8_boundary(&pending[start..], CHUNK);
            emit(&pending[start..cut]);
            start = cut;
        }
        pending.drain(..start);
    }
    if !pending.is_empty() {
        emit(&pending);
    }
}

/// The largest cut at or below `limit` that splits no UTF-8 character.
fn utf8_boundary(bytes: &[u8], limit: usize) -> usize {
    let mut cut = limit.min(bytes.len());
    // Continuation bytes are 0b10xxxxxx: step back over at most three.
    while cut > 0 && limit - cut < 4 && bytes.get(cut).is_some_and(|b| b & 0xc0 == 0x80) {
        cut -= 1;
    }
    if cut == 0 { limit } else { cut }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.root_cause()
        .downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_output_is_cut_at_character_boundaries() {
        let text = "ab🐣cd".as_bytes();
        // 🐣 is four bytes, from 2 to 5: a cut inside it goes back to 2.
        assert_eq!(utf8_boundary(text, 3), 2);
        assert_eq!(utf8_boundary(text, 6), 6);
        assert_eq!(utf8_boundary(text, 100), text.len());
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(matches("te*", "test"));
        assert!(matches("*", "prod"));
        assert!(matches("?ocal", "local"));
        assert!(matches("*a*e", "stage"));
        assert!(!matches("te*", "stage"));
        assert!(!matches("loc", "local"));
        assert!(names_several("local,test"));
        assert!(names_several("all"));
        assert!(names_several("te*"));
        assert!(!names_several("local"));
    }
}
