//! What the benchmarks share (each is a crate of its own).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root: this package is crates/stagecraft, two folders down.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned()
}

pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Runs `cmd` with stdin closed and times it; a failure stops the
/// benchmark with the command and its stderr.
#[track_caller]
pub fn timed(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

/// Two commands timed in pairs, one right after the other: a moment of
/// load on the machine weighs on both sides of a pair, so the median of
/// the pairs' ratios holds steadier than a ratio of two medians.
pub struct Paired {
    pub ours: Duration,
    pub theirs: Duration,
    /// The median of the pairs' ratios (ours / theirs).
    pub ratio: f64,
    pub pairs: usize,
}

pub fn paired(
    pairs: usize,
    mut ours: impl FnMut() -> Duration,
    mut theirs: impl FnMut() -> Duration,
) -> Paired {
    let (mut our_samples, mut their_samples, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..pairs {
        let their = theirs();
        let our = ours();
        ratios.push(our.as_secs_f64() / their.as_secs_f64());
        our_samples.push(our);
        their_samples.push(their);
    }
    ratios.sort_by(f64::total_cmp);
    Paired {
        ours: median(&mut our_samples),
        theirs: median(&mut their_samples),
        ratio: ratios[ratios.len() / 2],
        pairs,
    }
}

/// A ratio budget: measured, and when over `budget` measured once more
/// (a burst of load elsewhere on the machine can cover a whole series);
/// over budget only when both series are. Both are reported.
pub struct Judged {
    pub first: Paired,
    pub again: Option<Paired>,
}

impl Judged {
    pub fn new(budget: f64, mut measure: impl FnMut() -> Paired) -> Judged {
        let first = measure();
        let again = (first.ratio > budget).then(&mut measure);
        Judged { first, again }
    }

    /// The ratio the budget holds: the better of the two series.
    pub fn ratio(&self) -> f64 {
        self.again
            .as_ref()
            .map_or(self.first.ratio, |a| a.ratio.min(self.first.ratio))
    }

    /// `1.85x`, or `2.04x, then 1.88x` when measured again.
    pub fn ratios(&self) -> String {
        match &self.again {
            None => format!("{:.2}x", self.first.ratio),
            Some(again) => format!("{:.2}x, then {:.2}x", self.first.ratio, again.ratio),
        }
    }
}
