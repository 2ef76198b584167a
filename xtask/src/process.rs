//! The one seam for running external programs: build argv, log it with
//! `--verbose`, run it through duct, and turn failure into an error that
//! names the program, its arguments, the exit code or signal and the tail of
//! its stderr.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;

use anyhow::{Context, Result, bail};

use crate::{shells, ui};

/// How many lines of a failed program's stderr an error shows.
const STDERR_TAIL_LINES: usize = 20;

#[derive(Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    dir: Option<PathBuf>,
    env: Option<Vec<(String, String)>>,
    extra_env: Vec<(String, OsString)>,
    stdin: Option<Vec<u8>>,
}

impl Cmd {
    pub fn new(program: impl Into<OsString>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            dir: None,
            env: None,
            extra_env: Vec::new(),
            stdin: None,
        }
    }

    /// Sets one variable on top of the inherited environment.
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Cmd {
        self.extra_env.push((key.to_owned(), value.into()));
        self
    }

    /// Feeds these bytes on stdin.
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(bytes.into());
        self
    }

    /// The command line and, for a command fed on stdin, a here-document:
    /// what a dry run prints, ready to paste into a shell.
    pub fn script(&self) -> String {
        match &self.stdin {
            Some(bytes) => format!(
                "{self} <<'EOF'\n{}\nEOF",
                String::from_utf8_lossy(bytes).trim_end()
            ),
            None => self.to_string(),
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

    /// Replaces the whole environment of the child.
    pub fn full_env(mut self, env: Vec<(String, String)>) -> Cmd {
        self.env = Some(env);
        self
    }

    fn expression(&self) -> duct::Expression {
        if ui::verbose() {
            eprintln!("{}", ui::dim(&format!("+ {self}")));
        }
        let mut expr = duct::cmd(&self.program, &self.args);
        if let Some(dir) = &self.dir {
            expr = expr.dir(dir);
        }
        if let Some(env) = &self.env {
            expr = expr.full_env(env.iter().map(|(k, v)| (k, v)));
        }
        for (key, value) in &self.extra_env {
            expr = expr.env(key, value);
        }
        if let Some(bytes) = &self.stdin {
            expr = expr.stdin_bytes(bytes.clone());
        }
        expr.unchecked()
    }

    /// Runs with stdout and stderr captured (stderr for the error message);
    /// stdin stays with the user, for a password prompt.
    pub fn read(&self) -> Result<String> {
        let output = self.captured()?;
        if !output.status.success() {
            bail!(self.failure(output.status, &output.stderr));
        }
        String::from_utf8(output.stdout)
            .with_context(|| format!("`{self}` printed output that is not UTF-8"))
    }

    fn captured(&self) -> Result<std::process::Output> {
        self.expression()
            .stdout_capture()
            .stderr_capture()
            .run()
            .with_context(|| format!("cannot start `{self}`"))
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

    /// Runs with stdin, stdout and stderr inherited; returns the exit code
    /// the way a shell reports it (128+N for death by signal N).
    pub fn status(&self) -> Result<i32> {
        let handle = self
            .expression()
            .start()
            .with_context(|| format!("cannot start `{self}`"))?;
        // Ctrl-C and Ctrl-\ are the child's to handle: it decides how it
        // exits, and that exit code is what we report.
        let _guard = IgnoreInterrupts::new();
        let output = handle
            .wait()
            .with_context(|| format!("cannot wait for `{self}`"))?;
        Ok(exit_code(output.status))
    }

    /// "`kind create cluster ...` failed with exit code 1" and the tail of
    /// stderr.
    pub fn failure(&self, status: ExitStatus, stderr: &[u8]) -> String {
        let how = describe_status(status);
        let mut message = format!("`{self}` {how}");
        let stderr = String::from_utf8_lossy(stderr);
        let lines: Vec<&str> = stderr.trim_end().lines().collect();
        if !lines.is_empty() {
            let tail = &lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..];
            message.push_str("; its stderr ends with:");
            for line in tail {
                message.push_str("\n    ");
                message.push_str(line);
            }
        }
        message
    }
}

/// A copy-pasteable command line.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = std::iter::once(&self.program)
            .chain(&self.args)
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        f.write_str(&shells::posix_line(&words))
    }
}

/// The seam for the commands a task runs against tools (docker, kind,
/// kubectl): changes run, or in a dry run are printed and not run; probes
/// (read-only questions) likewise, and in a dry run answer "nothing there",
/// so a dry run prints every command of a first run, in order.
pub struct Runner {
    pub dry_run: bool,
}

impl Runner {
    /// A command that changes something; its output is captured and shown
    /// only in the error when it fails.
    pub fn run(&self, cmd: &Cmd) -> Result<String> {
        if self.dry_run {
            println!("{}", cmd.script());
            return Ok(String::new());
        }
        cmd.read()
    }

    /// A question whose failure means "no" (`docker inspect` of a missing
    /// container): its stdout, or None.
    pub fn probe(&self, cmd: &Cmd) -> Option<String> {
        if self.dry_run {
            println!("{}", cmd.script());
            return None;
        }
        cmd.read().ok()
    }

    /// A question that must be answered (`kind get clusters`); empty in a
    /// dry run.
    pub fn ask(&self, cmd: &Cmd) -> Result<String> {
        self.run(cmd)
    }
}

/// SIGINT and SIGQUIT ignored in this process while it lives.
struct IgnoreInterrupts {
    previous: [libc::sighandler_t; 2],
}

impl IgnoreInterrupts {
    fn new() -> IgnoreInterrupts {
        // SAFETY: installs SIG_IGN, a disposition that runs no code.
        let previous = unsafe {
            [
                libc::signal(libc::SIGINT, libc::SIG_IGN),
                libc::signal(libc::SIGQUIT, libc::SIG_IGN),
            ]
        };
        IgnoreInterrupts { previous }
    }
}

impl Drop for IgnoreInterrupts {
    fn drop(&mut self) {
        // SAFETY: restores the dispositions saved by `new`.
        unsafe {
            libc::signal(libc::SIGINT, self.previous[0]);
            libc::signal(libc::SIGQUIT, self.previous[1]);
        }
    }
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
}
