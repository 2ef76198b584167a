use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCandidates;
use toml_edit::{DocumentMut, InlineTable, Item, Table, Value};

use super::{Ctx, ScopeArgs};
use crate::complete;
use crate::config::{self, AppToml, ClusterToml, CommToml, StageToml};
use crate::environment::{self, MASK};
use crate::repo::Repo;
use crate::{suggest, tools, ui};

/// Edit variables in place: the right file and table for the stage and
/// scope, comments and layout kept, the write atomic.
///
/// No --stage: the scope's common [vars]; with --stage: the stage's table.
/// The scope is --cluster/--app, else the folder you are in; at the root it
/// is envs/comm.toml (or envs/<stage>.toml with --stage).
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask var set LOG_LEVEL debug --stage local            # envs/local.toml [vars]
  cargo xtask var set REPLICAS 3 --app photos --stage prod     # app.toml [stages.prod.vars]
  cargo xtask var set DB_PASSWORD PHOTOS_DB_PASSWORD --app photos --secret-from env
  cargo xtask var get LOG_LEVEL --stage local
  cargo xtask var unset LOG_LEVEL --stage local")]
pub struct VarArgs {
    #[command(subcommand)]
    command: VarCommand,
}

#[derive(Subcommand)]
enum VarCommand {
    /// Set KEY to VALUE (or to a secret source).
    Set(SetArgs),
    /// Remove KEY.
    Unset(KeyArgs),
    /// Print KEY as that file defines it.
    Get(KeyArgs),
}

#[derive(Args)]
struct Where {
    /// The stage's table instead of the common [vars].
    #[arg(long, add = ArgValueCandidates::new(complete::stages))]
    stage: Option<String>,
    #[command(flatten)]
    scope: ScopeArgs,
}

#[derive(Args)]
struct SetArgs {
    key: String,
    /// The value; with --secret-from, the variable, file or command to read.
    value: String,
    #[command(flatten)]
    place: Where,
    /// Store a source instead of the value: `{ from_env = VALUE, secret = true }`.
    #[arg(long, value_enum)]
    secret_from: Option<SecretFrom>,
    /// Mark a literal value secret (masked in every output).
    #[arg(long, conflicts_with = "secret_from")]
    secret: bool,
    /// Print the new file; write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
struct KeyArgs {
    key: String,
    #[command(flatten)]
    place: Where,
    #[arg(long)]
    dry_run: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum SecretFrom {
    Env,
    File,
    Cmd,
}

/// A config file and the table of it that holds the variables.
struct Place {
    rel: String,
    table: Vec<String>,
}

impl Place {
    fn resolve(ctx: &Ctx, repo: &Repo, place: &Where) -> Result<Place> {
        let scope = place.scope.resolve(ctx, repo)?;
        if let Some(stage) = &place.stage {
            repo.stage(stage)?;
        }
        let scoped_table = |stage: &Option<String>| match stage {
            Some(stage) => vec!["stages".to_owned(), stage.clone(), "vars".to_owned()],
            None => vec!["vars".to_owned()],
        };
        Ok(match (&scope.cluster, &scope.app, &place.stage) {
            (Some(c), Some(a), stage) => Place {
                rel: format!("clusters/{c}/apps/{a}/app.toml"),
                table: scoped_table(stage),
            },
            (Some(c), None, stage) => Place {
                rel: format!("clusters/{c}/cluster.toml"),
                table: scoped_table(stage),
            },
            (None, _, Some(stage)) => Place {
                rel: format!("envs/{stage}.toml"),
                table: vec!["vars".to_owned()],
            },
            (None, _, None) => Place {
                rel: "envs/comm.toml".to_owned(),
                table: vec!["vars".to_owned()],
            },
        })
    }

    fn label(&self) -> String {
        format!("{} [{}]", self.rel, self.table.join("."))
    }
}

impl VarArgs {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let repo = ctx.repo()?;
        match self.command {
            VarCommand::Set(args) => set(ctx, &repo, args),
            VarCommand::Unset(args) => unset(ctx, &repo, args),
            VarCommand::Get(args) => get(ctx, &repo, args),
        }
    }
}

fn read(repo: &Repo, place: &Place) -> Result<(String, DocumentMut)> {
    let path = repo.root.join(&place.rel);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && place.rel == "envs/comm.toml" => {
            String::new()
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", place.rel)),
    };
    let doc = text
        .parse::<DocumentMut>()
        .map_err(|e| anyhow::anyhow!("{}: {e}", place.rel))?;
    Ok((text, doc))
}

/// The variables table, created (as `[stages.local.vars]`, not three
/// headers) when absent.
fn table_mut<'d>(doc: &'d mut DocumentMut, path: &[String]) -> Result<&'d mut Table> {
    let mut table = doc.as_table_mut();
    for (i, segment) in path.iter().enumerate() {
        let item = table.entry(segment).or_insert_with(|| {
            let mut new = Table::new();
            new.set_implicit(i + 1 < path.len());
            Item::Table(new)
        });
        table = item
            .as_table_mut()
            .with_context(|| format!("[{}] is not a table", path[..=i].join(".")))?;
    }
    Ok(table)
}

/// Writes the edited file after checking that it still loads.
fn save(repo: &Repo, place: &Place, old: &str, doc: &DocumentMut, dry_run: bool) -> Result<()> {
    let text = doc.to_string();
    let check = match place.rel.as_str() {
        "envs/comm.toml" => toml::from_str::<CommToml>(&text).map(drop),
        rel if rel.starts_with("envs/") => toml::from_str::<StageToml>(&text).map(drop),
        rel if rel.ends_with("cluster.toml") => toml::from_str::<ClusterToml>(&text).map(drop),
        _ => toml::from_str::<AppToml>(&text).map(drop),
    };
    check.map_err(|e| anyhow::anyhow!("the edit would break {}: {}", place.rel, e.message()))?;
    if dry_run {
        print!("{text}");
        return Ok(());
    }
    if text != old {
        tools::write_atomic(&repo.root.join(&place.rel), text.as_bytes())?;
    }
    Ok(())
}

fn set(ctx: &Ctx, repo: &Repo, args: SetArgs) -> Result<()> {
    if let Some(problem) = environment::var_name_problem(&args.key) {
        bail!(problem);
    }
    let place = Place::resolve(ctx, repo, &args.place)?;
    let (old, mut doc) = read(repo, &place)?;
    let source = match args.secret_from {
        Some(SecretFrom::Env) => Some("from_env"),
        Some(SecretFrom::File) => Some("from_file"),
        Some(SecretFrom::Cmd) => Some("from_cmd"),
        None if args.secret => Some("value"),
        None => None,
    };
    let value = match source {
        None => Value::from(args.value.as_str()),
        Some(source) => {
            let mut table = InlineTable::new();
            table.insert(source, args.value.as_str().into());
            table.insert("secret", true.into());
            Value::InlineTable(table)
        }
    };
    config::set_keeping_decor(table_mut(&mut doc, &place.table)?, &args.key, value);
    save(repo, &place, &old, &doc, args.dry_run)?;
    if !args.dry_run {
        ui::info(&format!("set {} in {}", args.key, place.label()));
    }
    Ok(())
}

fn keys(doc: &DocumentMut, path: &[String]) -> Vec<String> {
    let mut item = doc.as_item();
    for segment in path {
        match item.get(segment) {
            Some(next) => item = next,
            None => return Vec::new(),
        }
    }
    item.as_table_like()
        .map(|t| t.iter().map(|(k, _)| k.to_owned()).collect())
        .unwrap_or_default()
}

fn missing(key: &str, place: &Place, doc: &DocumentMut) -> anyhow::Error {
    let names = keys(doc, &place.table);
    let hint = suggest::unknown("variable", key, &names).to_string();
    let hint = hint.split_once('\n').map_or("", |(_, h)| h);
    anyhow::anyhow!("{} has no `{key}`\n{hint}", place.label())
}

fn unset(ctx: &Ctx, repo: &Repo, args: KeyArgs) -> Result<()> {
    let place = Place::resolve(ctx, repo, &args.place)?;
    let (old, mut doc) = read(repo, &place)?;
    if !keys(&doc, &place.table).contains(&args.key) {
        return Err(missing(&args.key, &place, &doc));
    }
    table_mut(&mut doc, &place.table)?.remove(&args.key);
    save(repo, &place, &old, &doc, args.dry_run)?;
    if !args.dry_run {
        ui::info(&format!("removed {} from {}", args.key, place.label()));
    }
    Ok(())
}

fn get(ctx: &Ctx, repo: &Repo, args: KeyArgs) -> Result<()> {
    let place = Place::resolve(ctx, repo, &args.place)?;
    let (_, mut doc) = read(repo, &place)?;
    if !keys(&doc, &place.table).contains(&args.key) {
        return Err(missing(&args.key, &place, &doc));
    }
    let value = table_mut(&mut doc, &place.table)?
        .get(&args.key)
        .expect("checked")
        .clone();
    let secret = value
        .as_inline_table()
        .and_then(|t| t.get("secret"))
        .and_then(Value::as_bool)
        == Some(true);
    match (value.as_str(), secret) {
        (_, true)
            if value
                .as_inline_table()
                .is_some_and(|t| t.contains_key("value")) =>
        {
            println!("{MASK}")
        }
        (Some(text), _) => println!("{text}"),
        _ => println!("{}", value.to_string().trim()),
    }
    Ok(())
}
