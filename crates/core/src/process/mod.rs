//! The one seam for running external programs: build argv, log it with
//! `--verbose` as a copy-pasteable line (`cd DIR && KEY=... cmd args`),
//! run it, and turn failure into an error that names the program, its
//! arguments, the exit code or signal and the tail of its stderr.
//!
//! Children start from the user's own environment (see [`crate::user_env`])
//! unless given a complete one. Secret values go to children through the
//! environment or stdin, never argv, and are masked in every line shown.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::{quote, ui, user_env};

mod children;
mod running;

use children::IgnoreInterrupts;
pub use running::{Piped, Running, terminate_group};
use running::{read_in_thread, wait_timeout};

/// How many lines of a failed program's stderr an error shows.
const STDERR_TAIL_LINES: usize = 20;

#[derive(Clone, Default)]
enum Input {
    /// The user's terminal: a password prompt still works.
    #[default]
    Inherit,
    Null,
    Bytes(Vec<u8>),
}

#[derive(Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    dir: Option<PathBuf>,
    /// The complete environment; None: the user's own.
    full_env: Option<Vec<(String, String)>>,
    /// Set on top, and shown in the command line.
    vars: Vec<(String, OsString)>,
    stdin: Input,
    timeout: Option<Duration>,
    max_output: Option<usize>,
}

impl Cmd {
    pub fn new(program: impl Into<OsString>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            dir: None,
            full_env: None,
            vars: Vec::new(),
            stdin: Input::Inherit,
            timeout: None,
            max_output: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = A>, A: Into<OsString>>(mut self, args: I) -> Cmd {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.dir = Some(dir.into());
        self
    }

    /// Sets one variable on top of the environment.
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Cmd {
        self.vars.push((key.to_owned(), value.into()));
        self
    }

    /// Replaces the whole environment of the child.
    pub fn full_env(mut self, env: Vec<(String, String)>) -> Cmd {
        self.full_env = Some(env);
        self
    }

    /// Feeds these bytes on stdin.
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Input::Bytes(bytes.into());
        self
    }

    /// No stdin: the child cannot wait on the user's terminal.
    pub fn no_stdin(mut self) -> Cmd {
        self.stdin = Input::Null;
        self
    }

    /// Kills the child (and its process group) after this long.
    pub fn timeout(mut self, limit: Duration) -> Cmd {
        self.timeout = Some(limit);
        self
    }

    /// Refuses more stdout than this.
    pub fn max_output(mut self, bytes: usize) -> Cmd {
        self.max_output = Some(bytes);
        self
    }

    /// The command line and, for a command fed on stdin, a here-document:
    /// what a dry run prints, ready to paste into a shell.
    pub fn script(&self) -> String {
        match &self.stdin {
            Input::Bytes(bytes) => format!(
                "{self} <<'EOF'\n{}\nEOF",
                String::from_utf8_lossy(bytes).trim_end()
            ),
            Input::Inherit | Input::Null => self.to_string(),
        }
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        command.env_clear();
        match &self.full_env {
            Some(env) => command.envs(env.iter().map(|(k, v)| (k, v))),
            None => command.envs(user_env::user_env()),
        };
        command.envs(self.vars.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs with stdout and stderr captured (stderr for the error message).
    pub fn read(&self) -> Result<String> {
        let output = self.captured()?;
        if !output.status.success() {
            bail!(self.failure(output.status, &output.stderr));
        }
        String::from_utf8(output.stdout)
            .with_context(|| format!("`{self}` printed output that is not UTF-8"))
    }

    /// Runs with stdout captured whatever the exit code (`diff` exits 1 on
    /// differences): the code and stdout.
    pub fn read_any(&self) -> Result<(i32, String)> {
        let output = self.captured()?;
        Ok((
            exit_code(output.status),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ))
    }

    fn captured(&self) -> Result<Captured> {
        ui::trace(&self.to_string());
        let mut command = self.command();
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command.stdin(match self.stdin {
            Input::Inherit => Stdio::inherit(),
            Input::Null => Stdio::null(),
            Input::Bytes(_) => Stdio::piped(),
        });
        let own_group = self.timeout.is_some();
        if own_group {
            // Its own process group: a timeout or a signal to us ends the
            // whole tree it started, not only the shell.
            command.process_group(0);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start `{self}`"))?;
        let _guard = children::register(child.id(), own_group);
        let feeder = match &self.stdin {
            Input::Bytes(bytes) => {
                let mut stdin = child.stdin.take().expect("piped");
                let bytes = bytes.clone();
                // A child that exits without reading is not an error here.
                Some(std::thread::spawn(move || {
                    let _ = stdin.write_all(&bytes);
                }))
            }
            _ => None,
        };
        let limit = self.max_output.unwrap_or(usize::MAX);
        let child_out = child.stdout.take().expect("piped");
        let child_err = child.stderr.take().expect("piped");
        // The pipes, by inode: what still holds them after the deadline is
        // killed, wherever it went (a `setsid` child left our group).
        let pipes = [pipe_inode(&child_out), pipe_inode(&child_err)];
        let stdout = read_in_thread(child_out, limit);
        let stderr = read_in_thread(child_err, 1 << 20);
        let stopped = |limit: Duration| {
            anyhow!(
                "`{self}` did not finish within {} s and was stopped",
                limit.as_secs()
            )
        };
        let status = match self.timeout {
            None => child
                .wait()
                .with_context(|| format!("cannot wait for `{self}`"))?,
            Some(limit) => {
                let deadline = Instant::now() + limit;
                let status = wait_timeout(&mut child, limit)?;
                // The deadline covers reading the output too: a background
                // child that keeps it open must not keep us waiting.
                let read = status.is_some()
                    && wait_until(deadline, || stdout.is_finished() && stderr.is_finished());
                if !read {
                    children::kill_tree(child.id(), true);
                    kill_holders_of(&pipes);
                    let _ = child.wait();
                    return Err(stopped(limit));
                }
                status.expect("read only after it ended")
            }
        };
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }
        let (stdout, truncated) = stdout.join().expect("a reader thread");
        let (stderr, _) = stderr.join().expect("a reader thread");
        if truncated {
            bail!(
                "`{self}` printed more than {} bytes; refusing its output",
                limit
            );
        }
        Ok(Captured {
            status,
            stdout,
            stderr,
        })
    }

    /// Starts the command in a process group of its own, output captured,
    /// and returns at once: the caller watches it and may stop it (a
    /// deploy stops a helm whose pods cannot become ready).
    pub fn spawn(&self) -> Result<Running> {
        let (mut child, guard) = self.start_in_own_group()?;
        let stdout = read_in_thread(child.stdout.take().expect("piped"), 16 << 20);
        let stderr = read_in_thread(child.stderr.take().expect("piped"), 1 << 20);
        Ok(Running {
            line: self.clone(),
            child,
            stdout: Some(stdout),
            stderr: Some(stderr),
            _guard: guard,
        })
    }

    /// Starts the command in a process group of its own, no stdin, its
    /// stdout and stderr pipes for the caller to read as they come (one
    /// stage of `run local,test`).
    pub fn spawn_piped(&self) -> Result<Piped> {
        let (child, guard) = self.start_in_own_group()?;
        Ok(Piped {
            child,
            _guard: guard,
        })
    }

    /// Started in a process group of its own (so that stopping it stops
    /// all it started), stdout and stderr piped; stdin its bytes, if it
    /// has some, else nothing.
    fn start_in_own_group(&self) -> Result<(Child, children::Guard)> {
        ui::trace(&self.to_string());
        let mut command = self.command();
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(match self.stdin {
                Input::Bytes(_) => Stdio::piped(),
                Input::Inherit | Input::Null => Stdio::null(),
            })
            .process_group(0);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start `{self}`"))?;
        let guard = children::register(child.id(), true);
        if let Input::Bytes(bytes) = &self.stdin {
            let mut stdin = child.stdin.take().expect("piped");
            let bytes = bytes.clone();
            // A child that exits without reading is not an error here.
            std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            });
        }
        Ok((child, guard))
    }

    /// Runs with stdin, stdout and stderr inherited; returns the exit code
    /// the way a shell reports it (128+N for death by signal N).
    pub fn status(&self) -> Result<i32> {
        ui::trace(&self.to_string());
        let mut command = self.command();
        if let Input::Null = self.stdin {
            command.stdin(Stdio::null());
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start `{self}`"))?;
        // Ctrl-C and Ctrl-\ are the child's to handle: it decides how it
        // exits, and that exit code is what we report.
        let _guard = IgnoreInterrupts::new();
        let status = child
            .wait()
            .with_context(|| format!("cannot wait for `{self}`"))?;
        Ok(exit_code(status))
    }

    /// Replaces this process with the command (a shell): no Stagecraft
    /// process lingers, and its exit status is the user's.
    pub fn exec(&self) -> anyhow::Error {
        ui::trace(&self.to_string());
        let err = self.command().exec();
        anyhow!(err).context(format!("cannot start `{self}`"))
    }

    /// "`kind create cluster ...` failed with exit code 1" and the tail of
    /// stderr.
    pub fn failure(&self, status: ExitStatus, stderr: &[u8]) -> String {
        let mut message = format!("`{self}` {}", describe_status(status));
        message.push_str(&stderr_tail(stderr));
        message
    }
}

/// Whether `done` holds before `deadline` (looked at every 10 ms).
fn wait_until(deadline: Instant, done: impl Fn() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The inode of a pipe, to find who else holds it.
fn pipe_inode(pipe: &impl std::os::fd::AsRawFd) -> Option<u64> {
    // SAFETY: fstat of a descriptor we own, into a zeroed struct.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::fstat(pipe.as_raw_fd(), &mut stat) } == 0;
    ok.then_some(stat.st_ino)
}

/// Kills every other process that holds one of these pipes open (Linux:
/// read off /proc/*/fd; elsewhere the process group's kill is all).
fn kill_holders_of(pipes: &[Option<u64>]) {
    let wanted: Vec<String> = pipes
        .iter()
        .flatten()
        .map(|ino| format!("pipe:[{ino}]"))
        .collect();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    let me = std::process::id();
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|link| wanted.iter().any(|w| link.as_os_str() == w.as_str()))
        });
        if holds {
            // SAFETY: a signal to a process holding our command's pipe.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

/// "; its stderr ends with:" and the last lines, or nothing.
pub fn stderr_tail(stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from("; its stderr ends with:");
    for line in &lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..] {
        out.push_str("\n    ");
        // Masked here, where the error is made: it may be printed on
        // stdout too (a deploy's summary), where nothing masks it later.
        out.push_str(&ui::escape_controls(&ui::mask(line)));
    }
    out
}

struct Captured {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// A copy-pasteable command line: `cd DIR && KEY=value program args`.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(dir) = &self.dir {
            write!(f, "cd {} && ", quote::posix_word(&dir.to_string_lossy()))?;
        }
        for (key, value) in &self.vars {
            write!(f, "{key}={} ", quote::posix_word(&value.to_string_lossy()))?;
        }
        // Masked word by word: the line stays valid shell.
        let words: Vec<String> = std::iter::once(&self.program)
            .chain(&self.args)
            .map(|w| ui::mask(&w.to_string_lossy()))
            .collect();
        f.write_str(&quote::posix_line(&words))
    }
}

/// The seam for the commands a task runs against tools (docker, kind,
/// kubectl, helm): changes run, or in a dry run are printed and not run;
/// probes (read-only questions) likewise, and in a dry run answer "nothing
/// there", so a dry run prints every command of a first run, in order.
#[derive(Clone, Copy)]
pub struct Runner {
    pub dry_run: bool,
}

impl Runner {
    /// A command that changes something; its output is captured and shown
    /// only in the error when it fails.
    pub fn run(&self, cmd: &Cmd) -> Result<String> {
        if self.dry_run {
            crate::outln!("{}", cmd.script());
            return Ok(String::new());
        }
        cmd.read()
    }

    /// A question whose failure means "no" (`docker inspect` of a missing
    /// container): its stdout, or None.
    pub fn probe(&self, cmd: &Cmd) -> Option<String> {
        if self.dry_run {
            crate::outln!("{}", cmd.script());
            return None;
        }
        cmd.read().ok()
    }

    /// A question that must be answered (`kind get clusters`); empty in a
    /// dry run.
    pub fn ask(&self, cmd: &Cmd) -> Result<String> {
        self.run(cmd)
    }

    /// A read-only question whose answer decides what a run does (is this
    /// release deployed as it is now?). A dry run prints it and asks for
    /// real, so its plan leaves out what the run would leave out; there,
    /// a question that cannot be answered (no cluster yet) is "nothing".
    pub fn look(&self, cmd: &Cmd) -> Result<String> {
        if self.dry_run {
            crate::outln!("{}", cmd.script());
            // A cluster that does not answer must not hold a plan up.
            let bounded = cmd.clone().timeout(std::time::Duration::from_secs(10));
            return Ok(bounded.read().unwrap_or_default());
        }
        cmd.read()
    }

    /// A step's outcome: a comment in a dry run.
    pub fn say(&self, text: &str) {
        if self.dry_run {
            crate::outln!("# {text}");
        } else if !ui::quiet() {
            crate::outln!("{text}");
        }
    }
}

/// The first executable `name` on `path` (a PATH value), skipping `skip`
/// (a folder that is not executable, or a file without its x bit, is not
/// a program).
pub fn find_on_path(name: &str, path: &OsStr, skip: Option<&Path>) -> Option<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return is_executable(&path).then_some(path);
    }
    std::env::split_paths(path)
        .filter(|dir| Some(dir.as_path()) != skip && !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// An executable file (not a folder, not without its x bit).
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("failed with exit code {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal} ({})", signal_name(signal)),
        _ => "failed".to_owned(),
    }
}

/// A signal death is never 0: it is 128+N, as shells report it.
pub fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        _ => 1,
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_program_args_code_and_stderr_tail() {
        let cmd = Cmd::new("sh").args(["-c", "echo one >&2; echo two >&2; exit 7"]);
        let err = cmd.read().unwrap_err().to_string();
        assert!(
            err.contains("`sh -c 'echo one >&2; echo two >&2; exit 7'` failed with exit code 7"),
            "{err}"
        );
        assert!(err.ends_with("one\n    two"), "{err}");
    }

    #[test]
    fn signal_death_is_128_plus_n() {
        let code = Cmd::new("sh")
            .args(["-c", "kill -TERM $$"])
            .status()
            .unwrap();
        assert_eq!(code, 128 + libc::SIGTERM);
        let err = Cmd::new("sh")
            .args(["-c", "kill -KILL $$"])
            .read()
            .unwrap_err()
            .to_string();
        assert!(err.contains("killed by signal 9 (SIGKILL)"), "{err}");
    }

    #[test]
    fn missing_program_is_named() {
        let err = format!("{:#}", Cmd::new("no-such-program-xyz").read().unwrap_err());
        assert!(err.contains("cannot start `no-such-program-xyz`"), "{err}");
    }

    #[test]
    fn lines_are_copy_pasteable_and_hide_secrets() {
        ui::register_secret("hunter2-secret");
        let cmd = Cmd::new("helm")
            .args(["upgrade", "a b", "--password=hunter2-secret"])
            .dir("/srv/x y")
            .env("KUBECONFIG", "/k.yaml");
        assert_eq!(
            cmd.to_string(),
            "cd '/srv/x y' && KUBECONFIG=/k.yaml helm upgrade 'a b' '--password=***'"
        );
    }

    #[test]
    fn a_timeout_stops_the_whole_process_group() {
        let started = Instant::now();
        let err = Cmd::new("sh")
            .args(["-c", "sleep 30 & sleep 30"])
            .timeout(Duration::from_millis(300))
            .read()
            .unwrap_err()
            .to_string();
        assert!(err.contains("did not finish within"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn output_over_the_limit_is_refused() {
        let err = Cmd::new("sh")
            .args(["-c", "head -c 100000 /dev/zero"])
            .max_output(1000)
            .read()
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than 1000 bytes"), "{err}");
    }
}
