//! The stage's `[notify] webhook`: a JSON POST as each app's releases are
//! all done. A failure to notify is a warning, never a failed deploy.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use stagecraft_core::ui;

use super::schedule::Outcome;
use crate::app::model::{Plan, Release};
use crate::cluster::Target;

/// The stage's `[notify] webhook` gets a JSON POST as soon as each app's
/// releases are all done (at the end for an app a failure cut short). A
/// failure to notify is a warning, never a failed deploy.
pub(super) struct Notifier<'a> {
    target: &'a Target,
    plan: &'a Plan,
    dry_run: bool,
    state: Mutex<NotifyState>,
}

#[derive(Default)]
struct NotifyState {
    outcomes: HashMap<String, Outcome>,
    started: HashMap<String, Instant>,
    sent: Vec<String>,
}

impl<'a> Notifier<'a> {
    pub(super) fn new(target: &'a Target, plan: &'a Plan, dry_run: bool) -> Notifier<'a> {
        Notifier {
            target,
            plan,
            dry_run,
            state: Mutex::new(NotifyState::default()),
        }
    }

    pub(super) fn started(&self, release: &Release) {
        let mut state = self.state.lock().expect("not poisoned");
        state
            .started
            .entry(release.app.clone())
            .or_insert_with(Instant::now);
    }

    pub(super) fn finished(&self, release: &Release, outcome: &Outcome) {
        let mut state = self.state.lock().expect("not poisoned");
        state.outcomes.insert(release.id(), outcome.clone());
        let all_done = self
            .plan
            .releases
            .iter()
            .filter(|r| r.app == release.app)
            .all(|r| state.outcomes.contains_key(&r.id()));
        if all_done {
            self.send(&release.app, &mut state);
        }
    }

    pub(super) fn send_the_rest(&self) {
        let mut state = self.state.lock().expect("not poisoned");
        let mut apps: Vec<String> = self.plan.releases.iter().map(|r| r.app.clone()).collect();
        apps.dedup();
        for app in apps {
            if !state.sent.contains(&app) {
                self.send(&app, &mut state);
            }
        }
    }

    fn send(&self, app: &str, state: &mut NotifyState) {
        state.sent.push(app.to_owned());
        let Some(notify) = &self.target.stage.file.value.notify else {
            return;
        };
        let releases: Vec<(&Release, Outcome)> = self
            .plan
            .releases
            .iter()
            .filter(|r| r.app == app)
            .map(|r| {
                (
                    r,
                    state
                        .outcomes
                        .get(&r.id())
                        .cloned()
                        .unwrap_or(Outcome::NotStarted),
                )
            })
            .collect();
        let ok = releases.iter().all(|(_, o)| *o == Outcome::Deployed);
        let listed: Vec<serde_json::Value> = releases
            .iter()
            .map(|(r, o)| serde_json::json!({ "name": r.name, "namespace": r.namespace, "outcome": o }))
            .collect();
        let duration = state
            .started
            .get(app)
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        let body = serde_json::json!({
            "app": app,
            "cluster": self.target.cluster,
            "stage": self.target.stage.name,
            // The app's built images (every release of it has them all).
            "images": releases.first().map(|(r, _)| r.images.iter().map(|i| serde_json::json!({ "name": i.name, "reference": i.reference })).collect::<Vec<_>>()).unwrap_or_default(),
            "releases": listed,
            "result": if ok { "deployed" } else { "failed" },
            "duration_seconds": duration,
        });
        let shown = ui::redact_url(&notify.webhook);
        if self.dry_run {
            stagecraft_core::outln!("# POST {shown} (deploy notification of {app})");
        } else if let Err(e) = crate::download::post_json(&notify.webhook, &body) {
            ui::warn(&format!(
                "the deploy notification of {app} was not delivered: {e:#}"
            ));
        }
    }
}
