//! The user's own shell: quoting for bash, zsh, fish and dotenv, and
//! starting the shell with the stage's environment, the prompt prefix and
//! the `stage` function, with the user's rc files still loaded.
//!
//! The stage's environment is passed in the process environment. Because a
//! user's rc file may set KUBECONFIG or any other stage variable, the rc
//! prelude re-applies the stage's values after the user's files ran, from a
//! snapshot kept in memory (`__XTASK_SNAPSHOT`, unset at once), never from a
//! file, so no secret is written to disk.

use std::convert::Infallible;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;

use crate::environment::Entry;
use crate::ui;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellKind {
    Bash,
    Zsh,
    Fish,
}

impl ShellKind {
    pub fn name(self) -> &'static str {
        match self {
            ShellKind::Bash => "bash",
            ShellKind::Zsh => "zsh",
            ShellKind::Fish => "fish",
        }
    }

    /// A script that sets every entry when evaluated by this shell.
    pub fn export_script<'a>(
        self,
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> String {
        let mut out = String::new();
        for (name, value) in entries {
            match self {
                ShellKind::Bash | ShellKind::Zsh => {
                    out.push_str(&format!("export {name}={}\n", posix_quote(value)));
                }
                ShellKind::Fish => out.push_str(&format!("set -gx {name} {}\n", fish_quote(value))),
            }
        }
        out
    }
}

/// Single-quoted for POSIX sh, bash and zsh: nothing inside is expanded.
pub fn posix_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Quoted only when needed, for copy-pasteable command lines.
pub fn posix_quote_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        posix_quote(word)
    }
}

/// Words joined into one copy-pasteable command line.
pub fn posix_line<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| posix_quote_word(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Single-quoted for fish, where `\\` and `\'` are the only escapes.
pub fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// The shell named by `--shell`, else by `$SHELL`, and its program.
pub fn detect(flag: Option<ShellKind>) -> Result<(ShellKind, PathBuf)> {
    let login_shell = std::env::var_os("SHELL").map(PathBuf::from);
    let from_env = login_shell.as_ref().and_then(|path| {
        let name = path.file_name()?.to_str()?;
        let kind = ShellKind::from_str(name, false).ok()?;
        Some((kind, path.clone()))
    });
    match (flag, from_env) {
        (Some(kind), Some((env_kind, path))) if kind == env_kind => Ok((kind, path)),
        (Some(kind), _) => Ok((kind, find_in_path(kind.name())?)),
        (None, Some(found)) => Ok(found),
        (None, None) => bail!(
            "cannot tell which shell to start: $SHELL is {}\n  hint: pass --shell bash, --shell zsh or --shell fish",
            login_shell.map_or_else(
                || "not set".to_owned(),
                |p| format!("`{}`, which is not supported", p.display())
            )
        ),
    }
}

fn find_in_path(program: &str) -> Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .with_context(|| format!("{program} is not installed (not found on PATH)\n  hint: install it, or pick another --shell"))
}

/// What to start: the shell, and what goes into its rc prelude.
pub struct Launch<'a> {
    pub kind: ShellKind,
    pub program: PathBuf,
    /// The running xtask binary, for the `stage` function.
    pub exe: PathBuf,
    /// The complete environment of the shell.
    pub env: Vec<(String, String)>,
    /// The stage's entries, re-applied after the user's rc files.
    pub entries: &'a [Entry],
    pub path_prefix: &'a [String],
    pub prompt: bool,
}

impl Launch<'_> {
    /// Replaces this process with the shell: its exit status is the
    /// command's, and no Stagecraft process lingers behind it.
    pub fn exec(self) -> Result<Infallible> {
        let snapshot: Vec<(&str, &str)> = self
            .entries
            .iter()
            .filter(|e| e.name != "PATH")
            .map(|e| (e.name.as_str(), e.value.as_str()))
            .collect();
        let mut env = self.env.clone();
        env.push((
            "__XTASK_SNAPSHOT".to_owned(),
            self.kind.export_script(snapshot),
        ));
        let mut command = std::process::Command::new(&self.program);
        let mut tmp_dir = None;
        match self.kind {
            ShellKind::Bash => {
                let dir = make_private_dir()?;
                let rcfile = dir.join("bashrc");
                write_new(&rcfile, &self.bash_rc(&dir))?;
                command.arg("--rcfile").arg(&rcfile).arg("-i");
                tmp_dir = Some(dir);
            }
            ShellKind::Zsh => {
                let dir = make_private_dir()?;
                write_new(&dir.join(".zshenv"), &zsh_env(&dir))?;
                write_new(&dir.join(".zshrc"), &self.zsh_rc())?;
                if let Some((_, user)) = env.iter().find(|(k, _)| k == "ZDOTDIR") {
                    env.push(("XTASK_USER_ZDOTDIR".to_owned(), user.clone()));
                }
                env.retain(|(k, _)| k != "ZDOTDIR");
                env.push(("ZDOTDIR".to_owned(), dir.display().to_string()));
                command.arg("-i");
                tmp_dir = Some(dir);
            }
            ShellKind::Fish => {
                command.arg("-i").arg("-C").arg(self.fish_init());
            }
        }
        command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        if ui::verbose() {
            eprintln!(
                "{}",
                ui::dim(&format!(
                    "+ exec {} ({} variables)",
                    self.program.display(),
                    env.len()
                ))
            );
        }
        let err = command.exec();
        if let Some(dir) = tmp_dir {
            let _ = fs::remove_dir_all(dir);
        }
        Err(err).with_context(|| format!("cannot start {}", self.program.display()))
    }

    /// `stage NAME`: checks first, so a typo keeps the current shell, then
    /// replaces the shell with the new stage's shell.
    fn stage_function_posix(&self) -> String {
        let exe = posix_quote(&self.exe.display().to_string());
        let kind = self.kind.name();
        format!(
            "stage() {{\n  \
               if [ $# -eq 0 ]; then echo \"usage: stage <name> [--cluster C] [--app A]; now in $XTASK_STAGE\" >&2; return 2; fi\n  \
               {exe} shell --switch --check --shell {kind} \"$@\" || return\n  \
               exec {exe} shell --switch --shell {kind} \"$@\"\n\
             }}\n"
        )
    }

    /// Re-applies the stage's values after the user's rc files, and warns
    /// when those files had changed KUBECONFIG.
    fn posix_restore(&self) -> String {
        let prefix = posix_quote(&self.path_prefix.join(":"));
        format!(
            "__xtask_kubeconfig=$KUBECONFIG\n\
             eval \"$__xtask_snapshot\"\n\
             if [ \"$__xtask_kubeconfig\" != \"$KUBECONFIG\" ]; then\n  \
               echo \"stagecraft: your shell startup files set KUBECONFIG; the stage's own ($KUBECONFIG) was put back\" >&2\n\
             fi\n\
             unset __xtask_snapshot __xtask_kubeconfig\n\
             __xtask_path_prefix={prefix}\n\
             case \"$PATH\" in\n  \
               \"$__xtask_path_prefix\"|\"$__xtask_path_prefix\":*) ;;\n  \
               *) PATH=\"$__xtask_path_prefix${{PATH:+:$PATH}}\" ;;\n\
             esac\n\
             unset __xtask_path_prefix\n"
        )
    }

    fn bash_rc(&self, dir: &Path) -> String {
        let mut rc = format!(
            "# Stagecraft: generated rcfile; it deletes itself.\n\
             command rm -rf -- {}\n\
             __xtask_snapshot=$__XTASK_SNAPSHOT\n\
             unset __XTASK_SNAPSHOT\n\
             if [ -f \"$HOME/.bashrc\" ]; then . \"$HOME/.bashrc\"; fi\n",
            posix_quote(&dir.display().to_string())
        );
        rc.push_str(&self.posix_restore());
        rc.push_str(&self.stage_function_posix());
        if self.prompt {
            // A PS1 that refers to the variable: no escaping of the prefix,
            // and themes that rewrite PS1 get it back before the next prompt.
            rc.push_str(
                "__xtask_prompt() {\n  \
                   local s=$?\n  \
                   case \"$PS1\" in '${XTASK_PROMPT} '*) ;; *) PS1='${XTASK_PROMPT} '\"$PS1\" ;; esac\n  \
                   return $s\n\
                 }\n\
                 if [[ \"$(declare -p PROMPT_COMMAND 2>/dev/null)\" == \"declare -a\"* ]]; then\n  \
                   PROMPT_COMMAND+=(__xtask_prompt)\n\
                 else\n  \
                   PROMPT_COMMAND=\"${PROMPT_COMMAND:+$PROMPT_COMMAND$'\\n'}__xtask_prompt\"\n\
                 fi\n",
            );
        }
        rc
    }

    fn zsh_rc(&self) -> String {
        let mut rc = String::from(
            "# Stagecraft: generated .zshrc; its folder is deleted at once.\n\
             if [[ -n $__xtask_had_zdotdir ]]; then ZDOTDIR=$__xtask_user_zdotdir; else unset ZDOTDIR; fi\n\
             command rm -rf -- \"$__xtask_tmp\"\n\
             unset __xtask_had_zdotdir __xtask_user_zdotdir __xtask_tmp\n\
             __xtask_snapshot=$__XTASK_SNAPSHOT\n\
             unset __XTASK_SNAPSHOT\n\
             if [[ -f ${ZDOTDIR:-$HOME}/.zshrc ]]; then source ${ZDOTDIR:-$HOME}/.zshrc; fi\n",
        );
        rc.push_str(&self.posix_restore());
        rc.push_str(&self.stage_function_posix());
        if self.prompt {
            rc.push_str(
                "__xtask_precmd() {\n  \
                   local p=${XTASK_PROMPT//\\%/%%}\n  \
                   if [[ -o promptsubst ]]; then p=${p//\\\\/\\\\\\\\}; p=${p//\\$/\\\\\\$}; p=${p//\\`/\\\\\\`}; fi\n  \
                   p=\"$p \"\n  \
                   [[ $PS1 == \"$p\"* ]] || PS1=\"$p$PS1\"\n\
                 }\n\
                 autoload -Uz add-zsh-hook && add-zsh-hook precmd __xtask_precmd\n",
            );
        }
        rc
    }

    fn fish_init(&self) -> String {
        let exe = fish_quote(&self.exe.display().to_string());
        let prefix: Vec<String> = self.path_prefix.iter().map(|p| fish_quote(p)).collect();
        let prefix = prefix.join(" ");
        let mut init = format!(
            "set -l __xtask_kubeconfig $KUBECONFIG\n\
             printf '%s' $__XTASK_SNAPSHOT | source\n\
             set -e __XTASK_SNAPSHOT\n\
             if test \"$__xtask_kubeconfig\" != \"$KUBECONFIG\"\n  \
               echo \"stagecraft: your shell startup files set KUBECONFIG; the stage's own ($KUBECONFIG) was put back\" >&2\n\
             end\n\
             set -l __xtask_prefix {prefix}\n\
             set -l __xtask_n (count $__xtask_prefix)\n\
             if test \"$PATH[1..$__xtask_n]\" != \"$__xtask_prefix\"\n  \
               set -gx PATH $__xtask_prefix $PATH\n\
             end\n\
             function stage\n  \
               if test (count $argv) -eq 0\n    \
                 echo \"usage: stage <name> [--cluster C] [--app A]; now in $XTASK_STAGE\" >&2\n    \
                 return 2\n  \
               end\n  \
               {exe} shell --switch --check --shell fish $argv; or return\n  \
               exec {exe} shell --switch --shell fish $argv\n\
             end\n"
        );
        if self.prompt {
            init.push_str(
                "function __xtask_status; return $argv[1]; end\n\
                 function __xtask_wrap_prompt\n  \
                   functions -e __xtask_user_prompt\n  \
                   if functions -q fish_prompt\n    \
                     functions -c fish_prompt __xtask_user_prompt\n  \
                   else\n    \
                     function __xtask_user_prompt; printf '> '; end\n  \
                   end\n  \
                   function fish_prompt\n    \
                     set -l s $status\n    \
                     printf '%s ' $XTASK_PROMPT\n    \
                     __xtask_status $s\n    \
                     __xtask_user_prompt\n  \
                   end\n\
                 end\n\
                 __xtask_wrap_prompt\n\
                 function __xtask_keep_prompt --on-event fish_prompt\n  \
                   functions fish_prompt | string match -q '*__xtask_user_prompt*'; or __xtask_wrap_prompt\n\
                 end\n",
            );
        }
        init
    }
}

/// zsh reads `$ZDOTDIR/.zshenv` first: it runs the user's own .zshenv with
/// the user's ZDOTDIR, remembers what that left, and points zsh back at the
/// prelude's .zshrc.
fn zsh_env(dir: &Path) -> String {
    format!(
        "# Stagecraft: generated .zshenv\n\
         __xtask_tmp={}\n\
         if [[ -n ${{XTASK_USER_ZDOTDIR+x}} ]]; then ZDOTDIR=$XTASK_USER_ZDOTDIR; else unset ZDOTDIR; fi\n\
         unset XTASK_USER_ZDOTDIR\n\
         if [[ -f ${{ZDOTDIR:-$HOME}}/.zshenv ]]; then source ${{ZDOTDIR:-$HOME}}/.zshenv; fi\n\
         __xtask_had_zdotdir=${{ZDOTDIR+x}}\n\
         __xtask_user_zdotdir=${{ZDOTDIR-}}\n\
         ZDOTDIR=$__xtask_tmp\n",
        posix_quote(&dir.display().to_string())
    )
}

/// A new folder only this user can read, for the rc prelude.
fn make_private_dir() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = base.join(format!("stagecraft-shell-{}-{nanos}", std::process::id()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_quoting() {
        assert_eq!(posix_quote("it's"), r"'it'\''s'");
        assert_eq!(posix_quote(""), "''");
        assert_eq!(posix_quote_word("a-b/c.d"), "a-b/c.d");
        assert_eq!(posix_quote_word("a b"), "'a b'");
        assert_eq!(posix_quote_word(""), "''");
    }

    #[test]
    fn fish_quoting() {
        assert_eq!(fish_quote(r"a\b'c"), r"'a\\b\'c'");
    }
}
