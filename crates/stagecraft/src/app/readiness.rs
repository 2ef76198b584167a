//! What a release's pods are doing while helm waits for them: the states
//! that never get better on their own (CrashLoopBackOff, an image that
//! cannot be pulled, a readiness probe failing well past its budget) end
//! the release at once instead of at helm's timeout, with the pod's last
//! events and log lines. And the CRDs a release installs, which must be
//! Established before releases that use them start.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Container waiting reasons that only a new release fixes.
const HOPELESS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// A pod that will not become ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pod: String,
    pub container: String,
    /// `CrashLoopBackOff`, `ImagePullBackOff`, `Unready`, ...
    pub reason: String,
    pub message: String,
    pub restarts: u64,
}

impl Problem {
    /// The crashed instance's logs are the previous container's.
    pub fn crashed(&self) -> bool {
        self.reason == "CrashLoopBackOff"
    }

    pub fn describe(&self) -> String {
        let mut text = format!(
            "pod {} (container {}): {}",
            self.pod, self.container, self.reason
        );
        if self.restarts > 0 {
            text.push_str(&format!(", restarted {} times", self.restarts));
        }
        if !self.message.is_empty() {
            text.push_str(&format!(": {}", self.message));
        }
        text
    }
}

/// The first hopeless pod in `kubectl get pods --output json`, at `now`.
pub fn problem_in(pods: &str, now: SystemTime) -> Option<Problem> {
    let pods: Value = serde_json::from_str(pods).ok()?;
    for pod in pods["items"].as_array()? {
        let name = pod["metadata"]["name"].as_str().unwrap_or("?");
        if pod["metadata"]["deletionTimestamp"].is_string() {
            continue; // an old pod on its way out
        }
        let specs = pod["spec"]["containers"].as_array();
        for key in ["initContainerStatuses", "containerStatuses"] {
            for status in pod["status"][key].as_array().into_iter().flatten() {
                let container = status["name"].as_str().unwrap_or("?").to_owned();
                let restarts = status["restartCount"].as_u64().unwrap_or(0);
                let problem = |reason: &str, message: String| Problem {
                    pod: name.to_owned(),
                    container: container.clone(),
                    reason: reason.to_owned(),
                    message,
                    restarts,
                };
                let waiting = &status["state"]["waiting"];
                if let Some(reason) = waiting["reason"].as_str()
                    && HOPELESS.contains(&reason)
                {
                    let message = waiting["message"].as_str().unwrap_or("").to_owned();
                    return Some(problem(reason, message));
                }
                let ready = status["ready"].as_bool().unwrap_or(false);
                let started = status["state"]["running"]["startedAt"].as_str();
                if key == "containerStatuses" && !ready {
                    let Some(started) = started.and_then(parse_rfc3339) else {
                        continue;
                    };
                    let spec = specs
                        .into_iter()
                        .flatten()
                        .find(|c| c["name"].as_str() == Some(&container));
                    let Some(budget) = spec.and_then(|c| readiness_budget(&c["readinessProbe"]))
                    else {
                        continue;
                    };
                    let running = now.duration_since(started).unwrap_or_default();
                    if running > budget {
                        return Some(problem(
                            "Unready",
                            format!(
                                "its readiness probe still fails after {} s (budget {} s)",
                                running.as_secs(),
                                budget.as_secs()
                            ),
                        ));
                    }
                }
            }
        }
    }
    None
}

/// How long a container may run unready before it counts as failing: the
/// probe's own time to give up (initialDelaySeconds + periodSeconds ×
/// failureThreshold, Kubernetes' defaults 0, 10 and 3) and 30 s more.
fn readiness_budget(probe: &Value) -> Option<Duration> {
    if !probe.is_object() {
        return None;
    }
    let field = |name: &str, default: u64| probe[name].as_u64().unwrap_or(default);
    let seconds = field("initialDelaySeconds", 0)
        + field("periodSeconds", 10) * field("failureThreshold", 3)
        + 30;
    Some(Duration::from_secs(seconds))
}

/// `2026-11-23T20:46:55Z` (what Kubernetes writes) as a time.
fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// The names of the CustomResourceDefinitions in a release's manifest.
pub fn crds_in(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    for doc in manifest.split("\n---") {
        let is_crd = doc
            .lines()
            .any(|l| l.trim_end() == "kind: CustomResourceDefinition");
        if !is_crd {
            continue;
        }
        // The first `name:` under the top-level `metadata:`.
        let mut in_metadata = false;
        for line in doc.lines() {
            if line.starts_with("metadata:") {
                in_metadata = true;
            } else if in_metadata && !line.starts_with(' ') && !line.is_empty() {
                in_metadata = false;
            } else if in_metadata
                && let Some(name) = line.trim().strip_prefix("name:")
                && line.len() - line.trim_start().len() == 2
            {
                names.push(name.trim().trim_matches(['"', '\'']).to_owned());
                break;
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        parse_rfc3339(text).unwrap()
    }

    fn pods(statuses: &str, probe: &str) -> String {
        format!(
            r#"{{"items":[{{"metadata":{{"name":"api-7d9f8"}},
               "spec":{{"containers":[{{"name":"api"{probe}}}]}},
               "status":{{"containerStatuses":[{statuses}]}}}}]}}"#
        )
    }

    #[test]
    fn timestamps_are_read_as_kubernetes_writes_them() {
        assert_eq!(
            at("1970-01-02T00:00:01Z"),
            UNIX_EPOCH + Duration::from_secs(86_401)
        );
        assert_eq!(
            at("2026-11-23T20:46:55Z")
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_795_466_815
        );
        assert!(parse_rfc3339("yesterday").is_none());
    }

    #[test]
    fn hopeless_states_are_found_and_healthy_ones_are_not() {
        let now = at("2026-11-23T12:00:00Z");
        let crash = pods(
            r#"{"name":"api","ready":false,"restartCount":4,
                "state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off 40s restarting failed container"}}}"#,
            "",
        );
        let found = problem_in(&crash, now).unwrap();
        assert_eq!(found.reason, "CrashLoopBackOff");
        assert!(found.crashed());
        assert_eq!(
            found.describe(),
            "pod api-7d9f8 (container api): CrashLoopBackOff, restarted 4 times: back-off 40s restarting failed container"
        );
        let pull = pods(
            r#"{"name":"api","ready":false,"restartCount":0,"state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image"}}}"#,
            "",
        );
        assert_eq!(problem_in(&pull, now).unwrap().reason, "ImagePullBackOff");
        let starting = pods(
            r#"{"name":"api","ready":false,"restartCount":0,"state":{"waiting":{"reason":"ContainerCreating"}}}"#,
            "",
        );
        assert_eq!(problem_in(&starting, now), None);
        let ready = pods(
            r#"{"name":"api","ready":true,"restartCount":0,"state":{"running":{"startedAt":"2026-11-23T11:00:00Z"}}}"#,
            r#","readinessProbe":{"periodSeconds":5}"#,
        );
        assert_eq!(problem_in(&ready, now), None);
        assert_eq!(problem_in("not json", now), None);
    }

    #[test]
    fn a_readiness_probe_fails_the_release_only_past_its_budget() {
        let unready = pods(
            r#"{"name":"api","ready":false,"restartCount":0,"state":{"running":{"startedAt":"2026-11-23T12:00:00Z"}}}"#,
            r#","readinessProbe":{"initialDelaySeconds":10,"periodSeconds":5,"failureThreshold":3}"#,
        );
        // Budget: 10 + 5 x 3 + 30 = 55 s.
        assert_eq!(problem_in(&unready, at("2026-11-23T12:00:50Z")), None);
        let late = problem_in(&unready, at("2026-11-23T12:01:00Z")).unwrap();
        assert_eq!(late.reason, "Unready");
        assert!(
            late.message.contains("after 60 s (budget 55 s)"),
            "{late:?}"
        );
        // Without a readiness probe, running is ready enough.
        let no_probe = unready.replace(
            r#","readinessProbe":{"initialDelaySeconds":10,"periodSeconds":5,"failureThreshold":3}"#,
            "",
        );
        assert_eq!(problem_in(&no_probe, at("2026-11-23T13:00:00Z")), None);
    }

    #[test]
    fn crds_are_found_in_a_manifest() {
        let manifest = "---\n# Source: x/crds.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n  labels:\n    name: not-this\nspec:\n  names:\n    kind: Widget\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n";
        assert_eq!(crds_in(manifest), ["widgets.example.com"]);
        assert!(crds_in("kind: Deployment\nmetadata:\n  name: api\n").is_empty());
    }
}
