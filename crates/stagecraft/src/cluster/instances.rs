//! The life of a stage's instances (`test@pr-42`) in its cluster: every
//! namespace of an instance carries the labels `stagecraft.dev/stage` and
//! `stagecraft.dev/instance`, the annotation `stagecraft.dev/owner` (who
//! deployed it, from git), and with `--ttl` `stagecraft.dev/expires-at`
//! (RFC 3339, UTC). `stage instances` lists them; `stage gc` deletes the
//! namespaces of expired ones, and never a namespace without both labels;
//! `down STAGE@NAME` deletes one instance's namespaces, never the cluster.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde_json::json;

use crate::cluster::Target;
use crate::tools::toolbox::{Planned, Tool, Toolbox};
use stagecraft_core::process::{Cmd, Runner};
use stagecraft_core::repo::{Repo, Stage};

pub const STAGE_LABEL: &str = "stagecraft.dev/stage";
pub const INSTANCE_LABEL: &str = "stagecraft.dev/instance";
pub const OWNER_ANNOTATION: &str = "stagecraft.dev/owner";
pub const EXPIRES_ANNOTATION: &str = "stagecraft.dev/expires-at";

/// `--ttl`: `1h` to `30d` (`h`, `d` or `w`).
pub fn parse_ttl(text: &str) -> Result<Duration> {
    let hint = "hint: a duration from 1h to 30d, e.g. --ttl 12h, --ttl 2d, --ttl 1w";
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| anyhow!("--ttl {text}: no unit\n  {hint}"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| anyhow!("--ttl {text}: not a duration\n  {hint}"))?;
    let hours = match unit {
        "h" => number,
        "d" => number * 24,
        "w" => number * 24 * 7,
        _ => bail!("--ttl {text}: unknown unit `{unit}`\n  {hint}"),
    };
    if !(1..=30 * 24).contains(&hours) {
        bail!("--ttl {text}: out of range\n  {hint}");
    }
    Ok(Duration::from_secs(hours * 3600))
}

/// Seconds since the epoch as RFC 3339 UTC (`2026-12-06T09:30:00Z`).
pub fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let rest = epoch % 86_400;
    let (y, m, d) = crate::x509::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// RFC 3339 UTC back to seconds since the epoch (what `rfc3339` writes,
/// and offsets such as `+02:00`).
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (clock, offset) = match time.find(['Z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => (time, "Z"),
    };
    let mut c = clock
        .split(':')
        .map(|p| p.split('.').next()?.parse::<i64>().ok());
    let (h, min, s) = (c.next()??, c.next()??, c.next().flatten().unwrap_or(0));
    let offset_secs = match offset {
        "Z" | "" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o[1..].split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    let days = crate::x509::days_from_civil(y, m as u32, day as u32);
    let epoch = days * 86_400 + h * 3600 + min * 60 + s - offset_secs;
    u64::try_from(epoch).ok()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Who deploys: git's user.email, else user.name, else $USER.
pub fn owner(root: &std::path::Path) -> String {
    let git = |key: &str| {
        Cmd::new("git")
            .arg("-C")
            .arg(root)
            .args(["config", key])
            .read()
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    git("user.email")
        .or_else(|| git("user.name"))
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Before an instance's releases: its namespaces, labelled and annotated
/// (a field manager of their own, so that other applies of the namespace
/// never drop them); with a TTL, the expiry (another manager: a deploy
/// without `--ttl` keeps it, one with `--ttl` moves it).
pub fn label_namespaces(
    runner: &Runner,
    tools: &Toolbox,
    target: &Target,
    namespaces: &[String],
    ttl: Option<Duration>,
    owner: &str,
) -> Result<()> {
    let Some(instance) = &target.stage.instance else {
        return Ok(());
    };
    let expires = ttl.map(|ttl| rfc3339(now() + ttl.as_secs()));
    for namespace in namespaces {
        let labelled = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": { STAGE_LABEL: target.stage.name, INSTANCE_LABEL: instance },
                "annotations": { OWNER_ANNOTATION: owner },
            },
        });
        runner.run(&apply(
            tools.kubectl(&target.kube),
            "stagecraft-instance",
            &labelled,
        ))?;
        if let Some(expires) = &expires {
            let expiry = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": { "name": namespace, "annotations": { EXPIRES_ANNOTATION: expires } },
            });
            runner.run(&apply(
                tools.kubectl(&target.kube),
                "stagecraft-ttl",
                &expiry,
            ))?;
        }
    }
    Ok(())
}

fn apply(kubectl: Cmd, manager: &str, manifest: &serde_json::Value) -> Cmd {
    kubectl
        .args([
            "apply",
            "--server-side",
            "--force-conflicts",
            "--filename=-",
        ])
        .arg(format!("--field-manager={manager}"))
        .stdin_bytes(serde_json::to_string_pretty(manifest).expect("JSON"))
}

/// One live instance, as its namespaces say.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub stage: String,
    pub name: String,
    pub owner: String,
    pub namespaces: Vec<String>,
    /// Seconds since its oldest namespace was created.
    pub age_seconds: Option<u64>,
    pub expires_at: Option<String>,
    pub expired: bool,
}

/// The instances of the target's stage in its cluster (namespaces with
/// both labels, the stage's).
pub fn list(tools: &Toolbox, target: &Target) -> Result<Vec<Instance>> {
    let listing = tools
        .kubectl(&target.kube)
        .args(["get", "namespaces", "--output", "json"])
        .arg(format!(
            "--selector={STAGE_LABEL}={},{INSTANCE_LABEL}",
            target.stage.name
        ))
        .no_stdin()
        .read()
        .with_context(|| format!("cannot list the instances of {}", target.name()))?;
    let json: serde_json::Value =
        serde_json::from_str(&listing).context("kubectl listed namespaces as no JSON")?;
    let now = now();
    let mut by_name: BTreeMap<String, Instance> = BTreeMap::new();
    for namespace in json["items"].as_array().into_iter().flatten() {
        let metadata = &namespace["metadata"];
        // Both labels, and this stage's: never anything else.
        let (Some(stage), Some(name)) = (
            metadata["labels"][STAGE_LABEL].as_str(),
            metadata["labels"][INSTANCE_LABEL].as_str(),
        ) else {
            continue;
        };
        if stage != target.stage.name {
            continue;
        }
        let created = metadata["creationTimestamp"]
            .as_str()
            .and_then(parse_rfc3339);
        let expires = metadata["annotations"][EXPIRES_ANNOTATION]
            .as_str()
            .map(str::to_owned);
        let expired = expires
            .as_deref()
            .and_then(parse_rfc3339)
            .is_some_and(|at| at <= now);
        let entry = by_name.entry(name.to_owned()).or_insert_with(|| Instance {
            stage: stage.to_owned(),
            name: name.to_owned(),
            owner: metadata["annotations"][OWNER_ANNOTATION]
                .as_str()
                .unwrap_or("unknown")
                .to_owned(),
            namespaces: Vec::new(),
            age_seconds: None,
            expires_at: None,
            expired,
        });
        entry
            .namespaces
            .push(metadata["name"].as_str().unwrap_or_default().to_owned());
        if let Some(created) = created {
            let age = now.saturating_sub(created);
            entry.age_seconds = Some(entry.age_seconds.map_or(age, |a| a.max(age)));
        }
        // The earliest expiry of its namespaces is the instance's.
        if let Some(expires) = expires
            && entry.expires_at.as_ref().is_none_or(|e| expires < *e)
        {
            entry.expired = expired;
            entry.expires_at = Some(expires);
        }
    }
    Ok(by_name.into_values().collect())
}

/// Deletes namespaces (and all in them); `--wait=false`, the cluster
/// finishes on its own.
pub fn delete_namespaces(
    runner: &Runner,
    tools: &Toolbox,
    target: &Target,
    namespaces: &[String],
) -> Result<()> {
    if namespaces.is_empty() {
        return Ok(());
    }
    runner
        .run(
            &tools
                .kubectl(&target.kube)
                .args(["delete", "namespace", "--ignore-not-found", "--wait=false"])
                .args(namespaces),
        )
        .map(drop)
}

/// An instance as `stage instances` shows it: where, its apps, its URLs.
#[derive(Debug, Clone, Serialize)]
pub struct Live {
    #[serde(flatten)]
    pub instance: Instance,
    pub cluster: String,
    pub apps: Vec<String>,
    pub urls: Vec<String>,
}

/// The stage `stage` names (it must allow instances), or every stage that
/// allows them.
fn stages_with_instances(repo: &Repo, stage: Option<&str>) -> Result<Vec<Stage>> {
    let allows = |stage: &Stage| {
        stage
            .file
            .value
            .instances
            .as_ref()
            .is_some_and(|i| *i.get_ref())
    };
    let Some(name) = stage else {
        let mut out = Vec::new();
        for name in repo.stage_names()? {
            let stage = repo.stage(&name)?;
            if allows(&stage) {
                out.push(Stage {
                    instance: None,
                    ..stage
                });
            }
        }
        return Ok(out);
    };
    let stage = repo.stage(name)?;
    if stage.instance.is_some() && name.contains('@') {
        bail!("name a stage, not an instance (`{name}`)");
    }
    if !allows(&stage) {
        bail!(
            "stage {} has no instances\n  hint: set `instances = true` in {}",
            stage.name,
            stage.file.display
        );
    }
    Ok(vec![Stage {
        instance: None,
        ..stage
    }])
}

/// The live instances of the stages (every stage with instances when
/// `stage` is None), in every cluster that answers.
pub fn live(repo: &Repo, stage: Option<&str>) -> Result<Vec<Live>> {
    let stages = stages_with_instances(repo, stage)?;
    let mut out = Vec::new();
    for stage in stages {
        for cluster in repo.cluster_names()? {
            let target = Target::new(repo, &cluster, stage.clone())?;
            target.connect()?;
            let tools = Toolbox::find(repo, &[Tool::Kubectl], &Planned::default())?;
            for instance in list(&tools, &target)? {
                let named = repo.stage(&format!("{}@{}", stage.name, instance.name))?;
                let apps = repo
                    .enabled_app_names(&cluster, &stage.name)?
                    .into_iter()
                    .filter(|app| {
                        let ns = instance_namespace_of(repo, &cluster, app, &named);
                        ns.is_some_and(|ns| instance.namespaces.contains(&ns))
                    })
                    .collect();
                let urls = stagecraft_core::stage::routes::hostnames(repo, &named, &cluster, None)?
                    .into_iter()
                    .map(|host| format!("https://{host}/"))
                    .collect();
                out.push(Live {
                    instance,
                    cluster: cluster.clone(),
                    apps,
                    urls,
                });
            }
        }
    }
    Ok(out)
}

fn instance_namespace_of(repo: &Repo, cluster: &str, app: &str, stage: &Stage) -> Option<String> {
    let file = repo.app(cluster, app).ok()?;
    let env = stagecraft_core::stage::environment::resolve(
        repo,
        stage,
        &stagecraft_core::repo::Scope::app(cluster, app),
        stagecraft_core::stage::environment::Secrets::Skip,
    )
    .ok()?;
    stagecraft_core::stage::namespaces::app_namespace(&file, app, &env).ok()
}

/// Deletes the namespaces of the expired instances of the stages, and
/// nothing else; the instances that went.
pub fn gc(repo: &Repo, stage: Option<&str>, runner: Runner) -> Result<Vec<Instance>> {
    let mut gone = Vec::new();
    for stage in stages_with_instances(repo, stage)? {
        for cluster in repo.cluster_names()? {
            let target = Target::new(repo, &cluster, stage.clone())?;
            target.connect()?;
            let tools = Toolbox::find(repo, &[Tool::Kubectl], &Planned::default())?;
            crate::cluster::identity::verify(repo, &target, &tools, runner)?;
            for instance in list(&tools, &target)?.into_iter().filter(|i| i.expired) {
                delete_namespaces(&runner, &tools, &target, &instance.namespaces)?;
                gone.push(instance);
            }
        }
    }
    Ok(gone)
}

/// `down STAGE@NAME`: the instance's namespaces in every cluster, never a
/// cluster.
pub fn down(repo: &Repo, stage: &Stage, runner: Runner) -> Result<()> {
    let name = stage.instance.as_deref().expect("an instance");
    for cluster in repo.cluster_names()? {
        let target = Target::new(repo, &cluster, stage.clone())?;
        if !runner.dry_run {
            target.connect()?;
        }
        let tools = Toolbox::find(repo, &[Tool::Kubectl], &Planned::default())?;
        crate::cluster::identity::verify(repo, &target, &tools, runner)?;
        let namespaces: Vec<String> = list(&tools, &target)?
            .into_iter()
            .filter(|i| i.name == name)
            .flat_map(|i| i.namespaces)
            .collect();
        if namespaces.is_empty() {
            runner.say(&format!(
                "{} has no namespaces in {}: nothing to delete",
                stage.label(),
                target.name()
            ));
            continue;
        }
        delete_namespaces(&runner, &tools, &target, &namespaces)?;
        runner.say(&format!(
            "- {} in {}: namespaces {} deleted",
            stage.label(),
            target.name(),
            namespaces.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_from_an_hour_to_thirty_days() {
        assert_eq!(parse_ttl("2d").unwrap(), Duration::from_secs(2 * 86_400));
        assert_eq!(parse_ttl("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_ttl("30d").is_ok());
        for bad in ["0h", "31d", "5w", "2", "d", "2m", "-1h"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_round_trip_through_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_552_400), "2026-12-06T10:20:00Z");
        assert_eq!(parse_rfc3339("2026-12-06T10:20:00Z"), Some(1_796_552_400));
        assert_eq!(
            parse_rfc3339("2026-12-06T12:20:00+02:00"),
            Some(1_796_552_400)
        );
    }
}
