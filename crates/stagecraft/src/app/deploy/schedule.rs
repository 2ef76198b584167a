//! The scheduler of a deploy: each release runs once all it needs is
//! done, up to `jobs` at once, the ready one with the longest chain after
//! it first; after a failure, nothing new starts, or (`--keep-going`) what
//! does not need the failed release goes on.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use crate::app::model::{Release, deploy_order};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum Outcome {
    Deployed,
    /// Chart, values and image as at its last successful deploy.
    Unchanged,
    Failed {
        error: String,
    },
    /// Not started: it needs a release that failed (`--keep-going`).
    Skipped {
        because: String,
    },
    NotStarted,
}

impl Outcome {
    fn ok(&self) -> bool {
        matches!(self, Outcome::Deployed | Outcome::Unchanged)
    }
}

/// What one release's deploy did, when it went well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Deployed,
    Unchanged,
}

pub struct Finished {
    pub outcome: Outcome,
    pub duration: Duration,
}

/// Runs each release once all it needs is done, up to `jobs` at once, the
/// ready one with the longest chain of releases waiting on it first.
/// After a failure nothing new starts (the running ones finish); with
/// `keep_going`, what does not need the failed release goes on, and what
/// does is skipped.
pub fn execute(
    releases: &[Release],
    jobs: usize,
    keep_going: bool,
    deploy: &(dyn Fn(&Release) -> Result<Done> + Sync),
    on_start: &(dyn Fn(&Release) + Sync),
    on_done: &(dyn Fn(&Release, &Finished) + Sync),
) -> Vec<Finished> {
    #[derive(Clone, PartialEq)]
    enum State {
        Waiting,
        Running,
        Done(Outcome),
    }
    let priority = chain_lengths(releases);
    let mut state = vec![State::Waiting; releases.len()];
    let mut finished: Vec<Option<Finished>> = (0..releases.len()).map(|_| None).collect();
    let (tx, rx) = mpsc::channel::<(usize, Result<Done>, Duration)>();
    std::thread::scope(|scope| {
        let mut running = 0;
        let mut failed = false;
        loop {
            if keep_going {
                // What needs a failed or skipped release is skipped, naming
                // the failure at the root.
                loop {
                    let blocked = (0..releases.len()).find_map(|i| {
                        if state[i] != State::Waiting {
                            return None;
                        }
                        releases[i].needs.iter().find_map(|&j| match &state[j] {
                            State::Done(Outcome::Failed { .. }) => Some((i, releases[j].id())),
                            State::Done(Outcome::Skipped { because }) => Some((i, because.clone())),
                            _ => None,
                        })
                    });
                    let Some((i, because)) = blocked else { break };
                    let done = Finished {
                        outcome: Outcome::Skipped { because },
                        duration: Duration::ZERO,
                    };
                    on_done(&releases[i], &done);
                    state[i] = State::Done(done.outcome.clone());
                    finished[i] = Some(done);
                }
            }
            while (keep_going || !failed) && running < jobs.max(1) {
                let ready = (0..releases.len())
                    .filter(|&i| {
                        state[i] == State::Waiting
                            && releases[i]
                                .needs
                                .iter()
                                .all(|&j| matches!(&state[j], State::Done(o) if o.ok()))
                    })
                    .max_by_key(|&i| (priority[i], std::cmp::Reverse(i)));
                let Some(i) = ready else { break };
                state[i] = State::Running;
                running += 1;
                on_start(&releases[i]);
                let tx = tx.clone();
                scope.spawn(move || {
                    let start = Instant::now();
                    let result = deploy(&releases[i]);
                    let _ = tx.send((i, result, start.elapsed()));
                });
            }
            if running == 0 {
                break;
            }
            let (i, result, duration) = rx.recv().expect("a deploy thread reports back");
            running -= 1;
            let outcome = match result {
                Ok(Done::Deployed) => Outcome::Deployed,
                Ok(Done::Unchanged) => Outcome::Unchanged,
                Err(e) => {
                    failed = true;
                    Outcome::Failed {
                        error: format!("{e:#}"),
                    }
                }
            };
            state[i] = State::Done(outcome.clone());
            let done = Finished { outcome, duration };
            on_done(&releases[i], &done);
            finished[i] = Some(done);
        }
    });
    finished
        .into_iter()
        .map(|f| {
            f.unwrap_or(Finished {
                outcome: Outcome::NotStarted,
                duration: Duration::ZERO,
            })
        })
        .collect()
}

/// For each release, how many releases the longest chain through it and
/// what waits on it holds: the critical path it starts.
fn chain_lengths(releases: &[Release]) -> Vec<usize> {
    let mut length = vec![1; releases.len()];
    // Dependents come after what they need in deploy order: walk it back.
    for &i in deploy_order(releases).iter().rev() {
        for &j in &releases[i].needs {
            length[j] = length[j].max(length[i] + 1);
        }
    }
    length
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Routing;
    use anyhow::anyhow;

    fn release(name: &str, needs: Vec<usize>) -> Release {
        Release {
            app: "a".into(),
            name: name.into(),
            source: crate::app::source::Source::Chart { dir: "c".into() },
            sets: vec![],
            images: vec![],
            namespace: "n".into(),
            values: vec![],
            image: None,
            env: vec![],
            hosts: vec![],
            routing: Routing::Ingress,
            timeout: "5m".into(),
            needs,
            checksum_key: None,
        }
    }

    /// Runs `execute` one at a time; `fail` names the releases that fail.
    fn run(releases: &[Release], keep_going: bool, fail: &[&str]) -> (Vec<String>, Vec<Finished>) {
        let order = std::sync::Mutex::new(Vec::new());
        let finished = execute(
            releases,
            1,
            keep_going,
            &|r| {
                order.lock().unwrap().push(r.name.clone());
                match fail.contains(&r.name.as_str()) {
                    true => Err(anyhow!("boom")),
                    false => Ok(Done::Deployed),
                }
            },
            &|_| {},
            &|_, _| {},
        );
        (order.into_inner().unwrap(), finished)
    }

    #[test]
    fn execute_respects_needs_and_stops_after_a_failure() {
        let releases = vec![
            release("db", vec![]),
            release("api", vec![0]),
            release("bad", vec![]),
            release("late", vec![1]),
        ];
        let (order, finished) = run(&releases, false, &["api"]);
        assert_eq!(order, ["db", "api"]);
        assert_eq!(finished[0].outcome, Outcome::Deployed);
        assert!(matches!(finished[1].outcome, Outcome::Failed { .. }));
        assert_eq!(finished[2].outcome, Outcome::NotStarted);
        assert_eq!(finished[3].outcome, Outcome::NotStarted);
    }

    #[test]
    fn keep_going_finishes_what_does_not_need_the_failure() {
        let releases = vec![
            release("db", vec![]),
            release("api", vec![0]),
            release("leaf", vec![]),
            release("web", vec![1]),
            release("worker", vec![3]),
        ];
        let (order, finished) = run(&releases, true, &["api"]);
        assert_eq!(order, ["db", "api", "leaf"]);
        assert_eq!(finished[2].outcome, Outcome::Deployed);
        for i in [3, 4] {
            assert_eq!(
                finished[i].outcome,
                Outcome::Skipped {
                    because: "a/api".into()
                },
                "{}",
                releases[i].name
            );
        }
    }

    /// Of the ready releases, the one that starts the longest chain goes
    /// first: a chain of three is not left to the end behind independents.
    #[test]
    fn the_longest_chain_starts_first() {
        let mut releases: Vec<Release> = (0..4)
            .map(|i| release(&format!("solo{i}"), vec![]))
            .collect();
        releases.push(release("c1", vec![]));
        releases.push(release("c2", vec![4]));
        releases.push(release("c3", vec![5]));
        assert_eq!(chain_lengths(&releases), [1, 1, 1, 1, 3, 2, 1]);
        let (order, _) = run(&releases, false, &[]);
        assert_eq!(order[0], "c1");
    }
}
