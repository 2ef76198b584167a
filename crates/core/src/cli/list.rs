use anyhow::Result;
use clap::Args;
use serde::Serialize;

use super::{AffectedArgs, Code, Ctx, Json, StageArg};
use crate::affected::Affected;
use crate::config::Target;
use crate::repo::Repo;
use crate::ui::escape_controls;

/// List the stages, clusters and apps of this repository.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask list
  cargo xtask list --json | jq '.clusters[].apps[].name'
  cargo xtask list --affected --since origin/main --stage test --json")]
pub struct ListArgs {
    #[command(flatten)]
    json: Json,
    #[command(flatten)]
    affected: AffectedArgs,
    /// The stage --affected looks at (its env files, the apps on in it).
    #[command(flatten)]
    stage: StageArg,
}

#[derive(Serialize)]
struct Listing {
    project: String,
    root: String,
    default_stage: String,
    stages: Vec<StageItem>,
    clusters: Vec<ClusterItem>,
}

#[derive(Serialize)]
struct StageItem {
    name: String,
    emoji: String,
    description: String,
    target: Target,
    protected: bool,
}

#[derive(Serialize)]
struct ClusterItem {
    name: String,
    description: String,
    apps: Vec<AppItem>,
}

#[derive(Serialize)]
struct AppItem {
    name: String,
    description: String,
    /// Its folder, from the repository root.
    dir: String,
    /// The stages it is off in (app.toml `enabled`).
    off_in: Vec<String>,
    /// With --affected: the changed paths that reach it (or the app it
    /// depends on), and the revision compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
}

impl ListArgs {
    pub fn run(self, ctx: &Ctx) -> Result<Code> {
        let repo = ctx.repo()?;
        let affected = match self.affected.affected {
            true => self.affected.resolve(&repo, &self.stage.resolve(&repo)?)?,
            false => None,
        };
        let listing = collect(&repo, affected.as_ref())?;
        if self.json.json {
            return super::print_json(&listing);
        }
        crate::out!("{}", render(&listing));
        Ok(Code::OK)
    }
}

fn collect(repo: &Repo, affected: Option<&Affected>) -> Result<Listing> {
    let mut stages = Vec::new();
    for name in repo.stage_names()? {
        let stage = repo.stage(&name)?;
        let file = &stage.file.value;
        stages.push(StageItem {
            emoji: file.emoji.clone(),
            description: file.description.clone(),
            target: stage.target(),
            protected: file.protected,
            name,
        });
    }
    // The order of a release's life: kind stages, remote ones, protected last.
    stages.sort_by(|a, b| {
        (a.protected, a.target == Target::Remote, &a.name).cmp(&(
            b.protected,
            b.target == Target::Remote,
            &b.name,
        ))
    });
    let mut clusters = Vec::new();
    for name in repo.cluster_names()? {
        let cluster = repo.cluster(&name)?;
        let mut apps = Vec::new();
        for app in repo.app_dirs(&name)?.iter() {
            let reached = affected.map(|a| a.of(&name, &app.name));
            if matches!(reached, Some(None)) {
                continue;
            }
            let reached = reached.flatten();
            let file = repo.app_once(&name, &app.name)?;
            let off_in = stages
                .iter()
                .filter(|s| !file.value.enabled_in(&s.name))
                .map(|s| s.name.clone())
                .collect();
            apps.push(AppItem {
                name: app.name.clone(),
                description: file.value.description.clone(),
                dir: app.rel.clone(),
                off_in,
                why: reached.map(|r| r.why.clone()),
                since: reached.map(|r| r.since.clone()),
            });
        }
        clusters.push(ClusterItem {
            name,
            description: cluster.value.description.clone(),
            apps,
        });
    }
    Ok(Listing {
        project: repo.shell.value.project.name.clone(),
        root: repo.root.display().to_string(),
        default_stage: repo.shell.value.project.default_stage.get_ref().clone(),
        stages,
        clusters,
    })
}

fn render(listing: &Listing) -> String {
    let mut out = format!(
        "{} ({})\nStages (default: {})\n",
        listing.project, listing.root, listing.default_stage
    );
    let width = listing
        .stages
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0);
    for stage in &listing.stages {
        let protected = if stage.protected { "protected" } else { "" };
        out.push_str(&format!(
            "  {} {:width$}  {:<6}  {:<9}  {}\n",
            stage.emoji,
            stage.name,
            stage.target,
            protected,
            escape_controls(&stage.description)
        ));
    }
    out.push_str("Clusters\n");
    if listing.clusters.is_empty() {
        out.push_str("  (none yet: add clusters/<name>/cluster.toml)\n");
    }
    let width = listing
        .clusters
        .iter()
        .flat_map(|c| c.apps.iter().map(|a| a.name.len() + 2))
        .chain(listing.clusters.iter().map(|c| c.name.len()))
        .max()
        .unwrap_or(0)
        .max(12);
    for cluster in &listing.clusters {
        out.push_str(&format!(
            "  {:<width$}  {}\n",
            cluster.name,
            escape_controls(&cluster.description)
        ));
        for app in &cluster.apps {
            let off = match app.off_in.len() {
                0 => String::new(),
                n if n == listing.stages.len() => " (off)".to_owned(),
                _ => format!(" (off in {})", app.off_in.join(", ")),
            };
            out.push_str(&format!(
                "    {:<w$}  {}{off}\n",
                app.name,
                escape_controls(&app.description),
                w = width - 2
            ));
            if let (Some(why), Some(since)) = (&app.why, &app.since) {
                const SHOWN: usize = 3;
                let mut reasons: Vec<String> =
                    why.iter().take(SHOWN).map(|w| escape_controls(w)).collect();
                if why.len() > SHOWN {
                    reasons.push(format!("{} more", why.len() - SHOWN));
                }
                out.push_str(&format!(
                    "    {:<w$}  affected since {since}: {}\n",
                    "",
                    reasons.join(", "),
                    w = width - 2
                ));
            }
        }
    }
    out
}
