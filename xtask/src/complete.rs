//! Shell completion of `cargo xtask ...`: clap_complete's engine walks the
//! command line; stage, cluster, app and tool names come from the
//! repository of the current folder. The shell scripts hook into `cargo`'s
//! completion and hand the words after `cargo xtask` to the hidden
//! `__complete` entry point.

use std::ffi::OsString;

use clap_complete::engine::CompletionCandidate;

use crate::repo::Repo;
use crate::shells::ShellKind;

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
    let listed = match current.to_string_lossy().contains(':') {
        true => tasks.list_all(),
        false => std::env::current_dir()
            .map_err(anyhow::Error::from)
            .and_then(|cwd| repo.scope(&cwd, None, None))
            .and_then(|scope| tasks.list(&crate::tasks::Owner::of(&scope))),
    };
    listed
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            let help = (!t.description.is_empty()).then(|| t.description.into());
            CompletionCandidate::new(t.name).help(help)
        })
        .collect()
}

/// The `[tools.<name>]` of deps/deps.toml, read as plain TOML (the pins'
/// schema is the ops binary's).
pub fn tools() -> Vec<CompletionCandidate> {
    let names = repo()
        .and_then(|r| std::fs::read_to_string(r.root.join("deps/deps.toml")).ok())
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|doc| {
            doc.get("tools")
                .and_then(|t| t.as_table())
                .map(|t| t.keys().cloned().collect())
        });
    candidates(names.unwrap_or_default())
}

/// `xtask __complete INDEX -- xtask WORDS...`: the candidates for word
/// INDEX, one a line. Handled before the normal parse.
pub fn run(mut cmd: clap::Command, args: &[OsString]) -> u8 {
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
        eprintln!("usage: xtask __complete INDEX -- xtask WORDS...");
        return 2;
    };
    let cwd = std::env::current_dir().ok();
    match clap_complete::engine::complete(&mut cmd, words, index, cwd.as_deref()) {
        Ok(found) => {
            for candidate in found {
                crate::outln!("{}", candidate.get_value().to_string_lossy());
            }
            0
        }
        Err(_) => 1,
    }
}

/// How each script finds the binary: $STAGECRAFT_XTASK, else the built
/// binary of the repository around the current folder, else `cargo xtask`.
const FIND_BINARY_POSIX: &str = r#"_stagecraft_xtask() {
  if [ -n "${STAGECRAFT_XTASK-}" ]; then "$STAGECRAFT_XTASK" "$@"; return; fi
  local dir=$PWD
  while [ -n "$dir" ] && [ ! -f "$dir/shell.toml" ]; do dir=${dir%/*}; done
  if [ -x "$dir/target/debug/xtask" ]; then "$dir/target/debug/xtask" "$@"; else cargo xtask "$@"; fi
}
"#;

pub fn script(shell: ShellKind) -> String {
    match shell {
        ShellKind::Bash => format!(
            r#"# Stagecraft: completion of `cargo xtask ...` for bash.
# Load it with: source <(cargo xtask completions bash)
{FIND_BINARY_POSIX}_stagecraft_cargo() {{
  if [ "${{COMP_WORDS[1]}}" = xtask ] && [ "$COMP_CWORD" -ge 2 ]; then
    local IFS=$'\n'
    COMPREPLY=($(_stagecraft_xtask __complete "$((COMP_CWORD - 1))" -- xtask "${{COMP_WORDS[@]:2}}" 2>/dev/null))
    return 0
  fi
  if [ -n "$_stagecraft_cargo_fallback" ] && declare -F "$_stagecraft_cargo_fallback" >/dev/null; then
    "$_stagecraft_cargo_fallback" "$@"
  fi
}}
_stagecraft_cargo_fallback=$(complete -p cargo 2>/dev/null | sed -n 's/.*-F \([^ ]*\).*/\1/p')
[ "$_stagecraft_cargo_fallback" = _stagecraft_cargo ] && _stagecraft_cargo_fallback=
complete -o default -F _stagecraft_cargo cargo
"#
        ),
        ShellKind::Zsh => format!(
            r#"# Stagecraft: completion of `cargo xtask ...` for zsh (after compinit).
# Load it with: source <(cargo xtask completions zsh)
{FIND_BINARY_POSIX}_stagecraft_cargo() {{
  if [[ ${{words[2]}} == xtask && $CURRENT -ge 3 ]]; then
    local -a found
    found=(${{(f)"$(_stagecraft_xtask __complete $((CURRENT - 2)) -- xtask "${{(@)words[3,-1]}}" 2>/dev/null)"}})
    compadd -a found
    return
  fi
  (( $+functions[_cargo] )) && _cargo "$@"
}}
compdef _stagecraft_cargo cargo
"#
        ),
        ShellKind::Fish => r#"# Stagecraft: completion of `cargo xtask ...` for fish.
# Load it with: cargo xtask completions fish | source
function __stagecraft_xtask
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
function __stagecraft_xtask_candidates
    set -l before (commandline -opc)
    set -l words xtask $before[3..-1] (commandline -ct)
    if test (count $words) -eq (math (count $before) - 1)
        set words $words ''
    end
    __stagecraft_xtask __complete (math (count $words) - 1) -- $words 2>/dev/null
end
complete -c cargo -n '__fish_seen_subcommand_from xtask' -f -a '(__stagecraft_xtask_candidates)'
"#
        .to_owned(),
    }
}
