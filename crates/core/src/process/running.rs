//! Commands that run while the caller does something else: a deploy's
//! helm watched and maybe stopped ([`Running`]), one stage of a fan-out
//! whose output is read as it comes ([`Piped`]).

use std::io::Read;
use std::process::{Child, ExitStatus};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Cmd, children, exit_code};

/// Ends the process group `pid` leads (a [`Piped`] command and all it
/// started) with SIGTERM.
pub fn terminate_group(pid: u32) {
    // SAFETY: a signal to the process group of a child we started.
    unsafe { libc::kill(-(pid as i32), libc::SIGTERM) };
}

/// A started command whose output the caller reads (see
/// [`Cmd::spawn_piped`]).
pub struct Piped {
    pub child: Child,
    pub(super) _guard: children::Guard,
}

impl Piped {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit code as a shell reports it (128+N for signal N).
    pub fn wait(&mut self) -> Result<i32> {
        Ok(exit_code(
            self.child.wait().context("cannot wait for a command")?,
        ))
    }
}

/// A started command (see [`Cmd::spawn`]).
pub struct Running {
    pub(super) line: Cmd,
    pub(super) child: Child,
    pub(super) stdout: Option<Reader>,
    pub(super) stderr: Option<Reader>,
    pub(super) _guard: children::Guard,
}

impl Running {
    /// Whether it ends within `limit` (noticed within 10 ms).
    pub fn finished_within(&mut self, limit: Duration) -> Result<bool> {
        Ok(wait_timeout(&mut self.child, limit)
            .with_context(|| format!("cannot wait for `{}`", self.line))?
            .is_some())
    }

    /// Stops it and all it started: SIGTERM to its process group (helm
    /// then ends its operation), SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        let group = -(self.child.id() as i32);
        // SAFETY: signals to the process group of our own child.
        unsafe { libc::kill(group, libc::SIGTERM) };
        if wait_timeout(&mut self.child, grace)
            .ok()
            .flatten()
            .is_none()
        {
            unsafe { libc::kill(group, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }

    /// Waits for the end: stdout, or the failure with stderr's tail.
    pub fn wait(mut self) -> Result<String> {
        let status = self
            .child
            .wait()
            .with_context(|| format!("cannot wait for `{}`", self.line))?;
        let (stdout, _) = self.stdout.take().expect("once").join().expect("a reader");
        let (stderr, _) = self.stderr.take().expect("once").join().expect("a reader");
        if !status.success() {
            bail!(self.line.failure(status, &stderr));
        }
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    }
}

pub(super) type Reader = JoinHandle<(Vec<u8>, bool)>;

/// Reads all of `from` (draining past `limit` so the child never blocks);
/// the bytes and whether the limit was passed.
pub(super) fn read_in_thread(mut from: impl Read + Send + 'static, limit: usize) -> Reader {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let mut over = false;
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) if out.len() + n > limit => {
                    over = true;
                    out.extend_from_slice(&buf[..limit.saturating_sub(out.len())]);
                }
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        (out, over)
    })
}

pub(super) fn wait_timeout(child: &mut Child, limit: Duration) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause);
        // Short: a deploy waits on many of these, one after another.
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}
