//! The children running now, so that SIGTERM, SIGINT or SIGHUP to this
//! process ends them too instead of leaving them behind; and the
//! interrupts a child in the foreground handles itself.

use std::sync::atomic::{AtomicI32, Ordering};

const SLOTS: usize = 64;
/// A pid, negated for a process group of its own.
static RUNNING: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];

pub struct Guard(Option<usize>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(slot) = self.0 {
            RUNNING[slot].store(0, Ordering::SeqCst);
        }
    }
}

pub fn register(pid: u32, own_group: bool) -> Guard {
    install_handlers();
    let value = if own_group { -(pid as i32) } else { pid as i32 };
    let slot = RUNNING.iter().position(|s| {
        s.compare_exchange(0, value, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    });
    Guard(slot)
}

pub fn kill_tree(pid: u32, own_group: bool) {
    let target = if own_group { -(pid as i32) } else { pid as i32 };
    // SAFETY: kill() sends a signal; the target is our own child.
    unsafe { libc::kill(target, libc::SIGKILL) };
}

extern "C" fn on_signal(signal: libc::c_int) {
    for slot in &RUNNING {
        let target = slot.load(Ordering::SeqCst);
        if target != 0 {
            // SAFETY: kill() is async-signal-safe.
            unsafe { libc::kill(target, libc::SIGTERM) };
        }
    }
    // SAFETY: signal() and raise() are async-signal-safe; the default
    // disposition ends this process the way the sender meant.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

fn install_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
            // SAFETY: `on_signal` only calls async-signal-safe functions.
            unsafe {
                let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                let previous = libc::signal(signal, handler);
                // A signal the user's shell ignores (nohup) stays ignored.
                if previous == libc::SIG_IGN {
                    libc::signal(signal, libc::SIG_IGN);
                }
            }
        }
    });
}

/// SIGINT and SIGQUIT ignored in this process while it lives.
pub struct IgnoreInterrupts {
    previous: [libc::sighandler_t; 2],
}

impl IgnoreInterrupts {
    pub fn new() -> IgnoreInterrupts {
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
