//! A pseudo-terminal for a program that must believe a user sits at it:
//! `doctor` renders the user's real prompt in one, and the prompt
//! benchmark times the first prompt. The screen is a vt100 emulator, so
//! what is checked is what a terminal would show, not the bytes.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// A program running in a terminal of its own.
pub struct Terminal {
    master: File,
    child: Child,
    parser: vt100::Parser<Replies>,
    output: Vec<u8>,
}

/// Answers to the questions a program asks its terminal (where is the
/// cursor, what are you), which some line editors wait for.
#[derive(Default)]
struct Replies(Vec<u8>);

impl vt100::Callbacks for Replies {
    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        match (i1, c, params.first().and_then(|p| p.first())) {
            (None, 'n', Some(6)) => {
                let (row, col) = screen.cursor_position();
                self.0
                    .extend(format!("\x1b[{};{}R", row + 1, col + 1).as_bytes());
            }
            (None, 'c', None | Some(0)) => self.0.extend(b"\x1b[?62;22c"),
            _ => {}
        }
    }
}

impl Terminal {
    /// Starts `command` in a new session whose controlling terminal is a
    /// pseudo-terminal of `rows` x `cols`.
    pub fn start(mut command: Command, rows: u16, cols: u16) -> Result<Terminal> {
        let (master, slave) = open(rows, cols)?;
        command
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().with_context(|| {
            format!(
                "cannot start {} in a terminal",
                command.get_program().to_string_lossy()
            )
        })?;
        // The child's copies of the slave are all it needs; dropping
        // `command` closes ours, so its exit ends our reads.
        drop(command);
        Ok(Terminal {
            master: File::from(master),
            child,
            parser: vt100::Parser::new_with_callbacks(rows, cols, 0, Replies::default()),
            output: Vec::new(),
        })
    }

    /// Reads what the program draws until `done` says so (given all
    /// output so far), the program goes quiet for `quiet` after drawing
    /// something, or `limit` passes. Tells whether `done` said so.
    pub fn read_until(
        &mut self,
        limit: Duration,
        quiet: Option<Duration>,
        mut done: impl FnMut(&[u8]) -> bool,
    ) -> Result<bool> {
        let start = Instant::now();
        let mut last_output: Option<Instant> = None;
        let mut buf = [0u8; 8192];
        loop {
            if done(&self.output) {
                return Ok(true);
            }
            let now = Instant::now();
            let mut wait = limit.saturating_sub(now - start);
            if let (Some(quiet), Some(last)) = (quiet, last_output) {
                wait = wait.min(quiet.saturating_sub(now - last));
            }
            if wait.is_zero() {
                return Ok(false);
            }
            let mut poll = libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let millis = wait.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut poll, 1, millis) };
            if ready < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err).context("cannot wait for the terminal");
            }
            if ready == 0 {
                continue;
            }
            match self.master.read(&mut buf) {
                // EIO: every slave closed, the program ended.
                Ok(0) | Err(_) => return Ok(done(&self.output)),
                Ok(n) => {
                    self.output.extend_from_slice(&buf[..n]);
                    self.parser.process(&buf[..n]);
                    let replies = std::mem::take(&mut self.parser.callbacks_mut().0);
                    if !replies.is_empty() {
                        self.master.write_all(&replies)?;
                    }
                    last_output = Some(Instant::now());
                }
            }
        }
    }

    /// Types `text` as the user would.
    pub fn type_text(&mut self, text: &str) -> Result<()> {
        self.master
            .write_all(text.as_bytes())
            .context("cannot type into the terminal")
    }

    pub fn screen(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    /// Everything the program wrote, escape sequences included.
    pub fn output(&self) -> &[u8] {
        &self.output
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // The program leads its own session: hang up on all of it.
        let group = self.child.id() as libc::pid_t;
        // SAFETY: signals to a process group we created.
        unsafe { libc::kill(-group, libc::SIGHUP) };
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn open(rows: u16, cols: u16) -> Result<(OwnedFd, File)> {
    let mut master = -1;
    let mut slave = -1;
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: out-pointers to two ints and a valid winsize.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot open a pseudo-terminal");
    }
    // SAFETY: openpty returned two fresh descriptors that we now own.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), File::from_raw_fd(slave)) };
    for fd in [master.as_raw_fd(), slave.as_raw_fd()] {
        // SAFETY: fcntl on descriptors we own; the child gets its own
        // copies through Stdio, not these.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok((master, slave))
}
