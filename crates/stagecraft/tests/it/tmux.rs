//! Drives a real interactive shell in tmux: type, then read the screen.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(20);

pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts `program args` in `cwd` in a new tmux server of its own (its
    /// socket in `socket_dir`), with exactly `env`. When the program ends,
    /// its exit status is printed as `EXIT:<code>`.
    pub fn start(
        socket_dir: &Path,
        cwd: &Path,
        env: &[(String, String)],
        program: &str,
        args: &[&str],
    ) -> Tmux {
        // A socket per server: a new server never races the shutdown of
        // the previous one.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = socket_dir.join(format!("tmux-{n}.sock"));
        let mut line = String::from("env -i");
        for (k, v) in env {
            line.push_str(&format!(" {}", quote(&format!("{k}={v}"))));
        }
        line.push_str(" TERM=xterm-256color ");
        line.push_str(&quote(program));
        for arg in args {
            line.push(' ');
            line.push_str(&quote(arg));
        }
        line.push_str("; echo EXIT:$?; sleep 600");
        let status = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args([
                "-u",
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "50",
                "-c",
            ])
            .arg(cwd)
            .arg(line)
            .env("LANG", "C.UTF-8")
            .status()
            .expect("tmux is installed (apt-get install tmux)");
        assert!(status.success(), "tmux new-session failed");
        Tmux { socket }
    }

    fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&self.socket);
        cmd
    }

    /// Presses one key, such as `C-c`.
    pub fn send_key(&self, key: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "0", key])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux send-keys {key} failed");
    }

    /// Types a line and presses Enter.
    pub fn send_line(&self, text: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "0", "-l", text])
            .status()
            .unwrap()
            .success()
            && self
                .tmux()
                .args(["send-keys", "-t", "0", "Enter"])
                .status()
                .unwrap()
                .success();
        assert!(ok, "tmux send-keys failed");
    }

    pub fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-J", "-t", "0", "-S", "-500"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The visible rows, one per terminal line (wrapped lines not joined),
    /// so that row numbers match [`Tmux::cursor`].
    pub fn rows(&self) -> Vec<String> {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The cursor's column and row in the pane, from 0.
    pub fn cursor(&self) -> (usize, usize) {
        let out = self
            .tmux()
            .args([
                "display-message",
                "-p",
                "-t",
                "0",
                "#{cursor_x} #{cursor_y}",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.split_whitespace().map(|n| n.parse().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    }

    /// Types text without pressing Enter.
    pub fn type_text(&self, text: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "0", "-l", text])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux send-keys failed");
    }

    /// Polls `check` until it returns Some; panics with `what` and the
    /// screen after the time limit.
    #[track_caller]
    pub fn wait_until<T>(&self, what: &str, mut check: impl FnMut(&Tmux) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(found) = check(self) {
                return found;
            }
            if start.elapsed() > TIMEOUT {
                panic!(
                    "timed out waiting for {what}; the screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen shows `needle`, runs of spaces counting as
    /// one (a terminal may draw an emoji narrower than the prefix pads
    /// for); returns the screen.
    #[track_caller]
    pub fn wait_for_words(&self, needle: &str) -> String {
        let needle = squeeze(needle);
        self.wait_until(&format!("{needle:?}"), |t| {
            let screen = t.screen();
            screen
                .lines()
                .any(|l| squeeze(l).contains(&needle))
                .then_some(screen)
        })
    }

    /// Waits until the screen shows `needle`; returns the screen.
    #[track_caller]
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_within(needle, TIMEOUT)
    }

    /// Like [`Tmux::wait_for`], for something slow (a first build).
    #[track_caller]
    pub fn wait_for_within(&self, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            if start.elapsed() > limit {
                panic!("timed out waiting for {needle:?}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

/// Runs of whitespace as one space.
pub fn squeeze(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if text.ends_with(char::is_whitespace) && !out.is_empty() {
        out.push(' ');
    }
    out
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
