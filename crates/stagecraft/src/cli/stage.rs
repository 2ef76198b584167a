//! `stage instances` and `stage gc`: output.

use anyhow::Result;
use stagecraft_core::cli::stage::{StageArgs, StageCommand};
use stagecraft_core::cli::{Code, Ctx};
use stagecraft_core::process::Runner;
use stagecraft_core::ui;

use crate::cluster::instances::{self, Instance};

pub fn run(args: StageArgs, ctx: &Ctx) -> Result<Code> {
    let repo = ctx.repo()?;
    match args.command {
        StageCommand::Instances(args) => {
            let found = instances::live(&repo, args.stage.as_deref())?;
            if args.json.json {
                return stagecraft_core::cli::print_json(&found);
            }
            if found.is_empty() {
                ui::say("no live instances");
            }
            for live in &found {
                print(&live.instance, &live.cluster, &live.apps, &live.urls);
            }
            Ok(Code::OK)
        }
        StageCommand::Gc(args) => {
            let runner = Runner {
                dry_run: args.dry_run.dry_run,
            };
            let gone = instances::gc(&repo, args.stage.as_deref(), runner)?;
            for instance in &gone {
                runner.say(&format!(
                    "- {}@{}: expired {}, namespaces {} deleted",
                    instance.stage,
                    instance.name,
                    instance.expires_at.as_deref().unwrap_or("?"),
                    instance.namespaces.join(", ")
                ));
            }
            if gone.is_empty() {
                runner.say("no expired instances");
            }
            Ok(Code::OK)
        }
    }
}

fn print(instance: &Instance, cluster: &str, apps: &[String], urls: &[String]) {
    let age = instance.age_seconds.map_or("?".to_owned(), |s| match s {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s => format!("{}m", s / 60),
    });
    let expiry = match (&instance.expires_at, instance.expired) {
        (Some(at), true) => format!("expired {at}"),
        (Some(at), false) => format!("expires {at}"),
        (None, _) => "no expiry".to_owned(),
    };
    stagecraft_core::outln!(
        "{}@{} ({cluster})  {}  age {age}  {expiry}",
        instance.stage,
        ui::escape_controls(&instance.name),
        ui::escape_controls(&instance.owner)
    );
    stagecraft_core::outln!("  apps: {}", apps.join(", "));
    for url in urls {
        stagecraft_core::outln!("  {url}");
    }
}
