//! Shell completion of `cargo xtask ...`: clap_complete's engine walks the
//! command line; stage, cluster, app and tool names come from the
//! repository of the current folder. The shell scripts hook into `cargo`'s
//! completion and hand the words after `cargo xtask` to the hidden
//! `__complete` entry point.

use std::ffi::OsString;

use clap_complete::engine::CompletionCandidate;

use crate::repo::Repo;
use crate::stage::shells::ShellKind;

fn repo() -> Option<Repo> {
    Repo::discover(&std::env::current_dir().ok()?).ok()
}

fn candidates(names: Vec<String>) -> Vec<CompletionCandidate> {
    names.into_iter().map(CompletionCandidate::new).collect()
}

pub fn stages() -> Vec<CompletionCandidate> {
    candidates(
        repo()
            .and_then(|r| r.stage_names().ok())
            .unwrap_or_default(),
    )
}

pub fn clusters() -> Vec<CompletionCandidate> {
    candidates(
        repo()
            .and_then(|r| r.cluster_names().ok())
            .unwrap_or_default(),
    )
}

pub fn apps() -> Vec<CompletionCandidate> {
    let Some(repo) = repo() else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for cluster in repo.cluster_names().unwrap_or_default() {
        names.extend(repo.app_names(&cluster).unwrap_or_default());
    }
    names.sort();
    names.dedup();
    candidates(names)
}

/// The tasks this folder sees, with their descriptions; after a `:`, every
/// task of the repository (`hmlet:` from the root).
pub fn tasks(current: &std::ffi::OsStr) -> Vec<CompletionCandidate> {
    let Some(repo) = repo() else {
        return Vec::new();
    };
    let Ok(tasks) = crate::tasks::Tasks::new(&repo) else {
        return Vec::new();
    };
    let current = current.to_string_lossy();
    let listed = match current.contains(':') {
        true => tasks.list_all(),
        false => std::env::current_dir()
            .map_err(anyhow::Error::from)
            .and_then(|cwd| repo.scope(&cwd, None, None))
            .and_then(|scope| tasks.list(&crate::tasks::Owner::of(&scope))),
    };
    listed
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.name.starts_with(current.as_ref()))
        .map(|t| {
            let help = (!t.description.is_empty()).then(|| t.description.into());
            CompletionCandidate::new(t.name).help(help)
        })
        .collect()
}

/// The `[tools.<name>]` of deps/deps.toml.
pub fn tools() -> Vec<CompletionCandidate> {
    let names = repo().map(|r| crate::pins::read(&r).into_iter().map(|p| p.name).collect());
    candidates(names.unwrap_or_default())
}

/// `xtask __complete [--describe] INDEX -- xtask WORDS...`: the candidates
/// for word INDEX, one a line; with `--describe`, a tab and the
/// description after each that has one. Handled before the normal parse.
pub fn run(mut cmd: clap::Command, args: &[OsString]) -> u8 {
    let describe = args.first().is_some_and(|a| a == "--describe");
    let args = &args[usize::from(describe)..];
    let index = args
        .first()
        .and_then(|i| i.to_str())
        .and_then(|i| i.parse::<usize>().ok());
    let words: Vec<OsString> = args
        .iter()
        .skip_while(|a| *a != "--")
        .skip(1)
        .cloned()
        .collect();
    let (Some(index), false) = (index, words.is_empty()) else {
        eprintln!("usage: xtask __complete [--describe] INDEX -- xtask WORDS...");
        return 2;
    };
    let cwd = std::env::current_dir().ok();
    match clap_complete::engine::complete(&mut cmd, words, index, cwd.as_deref()) {
        Ok(found) => {
            for candidate in found {
                let value = candidate.get_value().to_string_lossy();
                match candidate.get_help().filter(|_| describe) {
                    Some(help) => crate::outln!("{value}\t{}", one_line(&help.to_string())),
                    None => crate::outln!("{value}"),
                }
            }
            0
        }
        Err(_) => 1,
    }
}

/// A description as a completion menu shows it: its first line, no tabs.
fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or("").replace('\t', " ")
}

/// How `cargo xtask completions` scripts find the binary: $STAGECRAFT_XTASK,
/// else the built binary of the repository around the current folder, else
/// `cargo xtask`.
const FIND_BINARY_POSIX: &str = r#"_stagecraft_xtask() {
  if [ -n "${STAGECRAFT_XTASK-}" ]; then "$STAGECRAFT_XTASK" "$@"; return; fi
  local dir=$PWD
  while [ -n "$dir" ] && [ ! -f "$dir/shell.toml" ]; do dir=${dir%/*}; done
  if [ -x "$dir/target/debug/xtask" ]; then "$dir/target/debug/xtask" "$@"; else cargo xtask "$@"; fi
}
"#;

const FIND_BINARY_FISH: &str = r#"function __stagecraft_xtask
    if set -q STAGECRAFT_XTASK
        $STAGECRAFT_XTASK $argv
        return
    end
    set -l dir $PWD
    while test -n "$dir"; and not test -f "$dir/shell.toml"
        set dir (string replace -r '/[^/]*$' '' -- $dir)
    end
    if test -x "$dir/target/debug/xtask"
        $dir/target/debug/xtask $argv
    else
        cargo xtask $argv
    end
end
"#;

/// The script of `cargo xtask completions SHELL`: the binary's finder, the
/// shell's completion of xtask words (the stage shells load the same file),
/// and the hook on `cargo`.
pub fn script(shell: ShellKind) -> String {
    match shell {
        ShellKind::Bash => format!(
            r#"# Stagecraft: completion of `cargo xtask ...` for bash.
# Load it with: source <(cargo xtask completions bash)
{FIND_BINARY_POSIX}{}
_stagecraft_cargo() {{
  if [ "${{COMP_WORDS[1]}}" = xtask ] && [ "$COMP_CWORD" -ge 2 ]; then
    _stagecraft_complete 1
    return 0
  fi
  if [ -n "$_stagecraft_cargo_fallback" ] && declare -F "$_stagecraft_cargo_fallback" >/dev/null; then
    "$_stagecraft_cargo_fallback" "$@"
  fi
}}
_stagecraft_cargo_fallback=$(complete -p cargo 2>/dev/null | sed -n 's/.*-F \([^ ]*\).*/\1/p')
[ "$_stagecraft_cargo_fallback" = _stagecraft_cargo ] && _stagecraft_cargo_fallback=
complete -o default -F _stagecraft_cargo cargo
"#,
            crate::stage::shells::COMPLETE_BASH
        ),
        ShellKind::Zsh => format!(
            r#"# Stagecraft: completion of `cargo xtask ...` for zsh (after compinit).
# Load it with: source <(cargo xtask completions zsh)
{FIND_BINARY_POSIX}{}
_stagecraft_cargo() {{
  if [[ ${{words[2]}} == xtask && $CURRENT -ge 3 ]]; then
    _stagecraft_complete 1
    return
  fi
  (( $+functions[_cargo] )) && _cargo "$@"
}}
compdef _stagecraft_cargo cargo
"#,
            crate::stage::shells::COMPLETE_ZSH
        ),
        ShellKind::Fish => format!(
            r#"# Stagecraft: completion of `cargo xtask ...` for fish.
# Load it with: cargo xtask completions fish | source
{FIND_BINARY_FISH}{}
complete -c cargo -n '__fish_seen_subcommand_from xtask' -f -a '(__stagecraft_complete 1)'
"#,
            crate::stage::shells::COMPLETE_FISH
        ),
    }
}
