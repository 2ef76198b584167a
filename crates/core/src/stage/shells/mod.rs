//! The user's own shell (bash, zsh, fish) started in a stage: their rc
//! files, then the stage's values put back, the prompt prefix, and the
//! `stage` function. One file per shell; the scripts are real files
//! (`bash.rc`, `zsh/`, `fish.fish`), the same for every stage, written
//! once to a folder named by their hash. The stage's values reach them in
//! `__XTASK_*` variables that the scripts read and unset: no stage value,
//! and no secret, is ever written to disk.

mod bash;
mod fish;
mod zsh;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;

use crate::fsx;
use crate::process::{self, Cmd};
use crate::stage::environment::{Entry, StageEnv};

/// The completion of `xtask ...` words, per shell: loaded by the stage
/// shells and by the `cargo xtask completions` scripts.
pub const COMPLETE_BASH: &str = include_str!("complete.bash");
pub const COMPLETE_ZSH: &str = include_str!("zsh/complete.zsh");
pub const COMPLETE_FISH: &str = include_str!("complete.fish");

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
        let export = match self {
            ShellKind::Bash => bash::export,
            ShellKind::Zsh => zsh::export,
            ShellKind::Fish => fish::export,
        };
        entries
            .into_iter()
            .map(|(name, value)| export(name, value))
            .collect()
    }

    /// The script `doctor` types to learn the prompt framework.
    pub fn detect_script(self) -> &'static str {
        match self {
            ShellKind::Bash => bash::DETECT,
            ShellKind::Zsh => zsh::DETECT,
            ShellKind::Fish => fish::DETECT,
        }
    }

    /// The script files of this shell: name and text.
    pub fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ShellKind::Bash => bash::FILES,
            ShellKind::Zsh => zsh::FILES,
            ShellKind::Fish => fish::FILES,
        }
    }
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
        (Some(kind), _) => {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let found = process::find_on_path(kind.name(), &path, None).with_context(|| {
                format!(
                    "{} is not installed (not found on PATH)\n  hint: install it, or pick another --shell",
                    kind.name()
                )
            })?;
            Ok((kind, found))
        }
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

/// What to start: the shell, and what its scripts get.
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
    /// The prompt prefix (`XTASK_PROMPT`), when shell.toml turns it on.
    pub prompt: Option<&'a str>,
    /// Started by `stage NAME`: the user's rc files run quietly, their
    /// greeting was seen on the way in.
    pub switching: bool,
}

impl<'a> Launch<'a> {
    /// The user's shell in `stage_env`, started by this binary.
    pub fn new(
        kind: ShellKind,
        program: PathBuf,
        stage_env: &'a StageEnv,
        prompt_on: bool,
    ) -> Result<Launch<'a>> {
        Ok(Launch {
            kind,
            program,
            exe: std::env::current_exe()
                .context("cannot find the path of the running xtask binary")?,
            env: stage_env.child_env(),
            entries: &stage_env.entries,
            path_prefix: &stage_env.path_prefix,
            prompt: prompt_on.then_some(stage_env.prompt.as_str()),
            switching: false,
        })
    }

    /// What the scripts read (and unset): the stage's values to put back
    /// after the user's rc files, the binary, the PATH prefix, the prompt.
    pub fn script_inputs(&self) -> Vec<(String, String)> {
        let snapshot: Vec<(&str, &str)> = self
            .entries
            .iter()
            .filter(|e| e.name != "PATH")
            .map(|e| (e.name.as_str(), e.value.as_str()))
            .collect();
        let prefix = match self.kind {
            ShellKind::Fish => self.path_prefix.join("\n"),
            _ => self.path_prefix.join(":"),
        };
        vec![
            (
                "__XTASK_SNAPSHOT".to_owned(),
                self.kind.export_script(snapshot),
            ),
            ("__XTASK_EXE".to_owned(), self.exe.display().to_string()),
            ("__XTASK_PATH_PREFIX".to_owned(), prefix),
            (
                "__XTASK_PROMPT_WIDTH".to_owned(),
                self.prompt
                    .map(|p| prompt_width(p).to_string())
                    .unwrap_or_default(),
            ),
            (
                "__XTASK_SWITCH".to_owned(),
                if self.switching { "1" } else { "" }.to_owned(),
            ),
        ]
    }

    /// The command that starts the shell with its scripts in `dir`.
    pub fn command(&self, dir: &Path) -> Cmd {
        let mut env = self.env.clone();
        env.extend(self.script_inputs());
        let args: Vec<OsString> = match self.kind {
            ShellKind::Bash => bash::args(dir),
            ShellKind::Zsh => {
                zsh::env(dir, &mut env);
                zsh::args(dir)
            }
            ShellKind::Fish => fish::args(dir),
        };
        Cmd::new(&self.program).args(args).full_env(env)
    }

    /// Replaces this process with the shell: its exit status is the
    /// user's, and no Stagecraft process lingers behind it.
    pub fn exec(self) -> anyhow::Error {
        match scripts_dir(self.kind) {
            Ok(dir) => self.command(&dir).exec(),
            Err(e) => e,
        }
    }
}

/// The user's own switch, over shell.toml's `[prompt] enabled`: a theme
/// that shows `$XTASK_PROMPT` itself (docs/shell.md) turns the prefix off
/// for one user, not the whole team.
pub const PREFIX_SWITCH: &str = "STAGECRAFT_PROMPT_PREFIX";

/// Whether stage shells prefix the prompt.
pub fn prefix_enabled(project_default: bool) -> Result<bool> {
    let value = std::env::var(PREFIX_SWITCH).unwrap_or_default();
    match value.as_str() {
        "" => Ok(project_default),
        "on" | "1" | "true" => Ok(true),
        "off" | "0" | "false" => Ok(false),
        other => bail!(
            "{PREFIX_SWITCH}={other}: expected `on` or `off`\n  hint: export {PREFIX_SWITCH}=off when your prompt theme shows $XTASK_PROMPT itself"
        ),
    }
}

/// The columns the prefix `<prompt> ` takes, as the line editor is told
/// to count them: an emoji with a variation selector (🛠️) is 2 wide, as
/// Unicode and current terminals have it. Terminals that draw it narrower
/// leave a blank column, and the cursor stays right (the scripts move it).
pub fn prompt_width(prompt: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(prompt) + 1
}

/// The folder holding this shell's scripts, written once: its name is the
/// hash of what they say, so a new version gets a new folder and a stage
/// shell never writes a file.
pub fn scripts_dir(kind: ShellKind) -> Result<PathBuf> {
    let files = kind.files();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, text) in files {
        for byte in name.bytes().chain(text.bytes()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let base = cache_home()?.join("stagecraft");
    let dir = base.join(format!("{}-{hash:016x}", kind.name()));
    if dir.is_dir() {
        return Ok(dir);
    }
    fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    let tmp = fsx::TempDir::new_in(&base, &format!(".{}-", kind.name()), 0o755)?;
    for (name, text) in files {
        fs::write(tmp.path().join(name), text)
            .with_context(|| format!("cannot write {}", tmp.path().join(name).display()))?;
    }
    // Another shell starting at the same moment may have won the race.
    match tmp.persist(&dir) {
        Ok(()) => {}
        Err(_) if dir.is_dir() => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
    }
    Ok(dir)
}

fn cache_home() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home =
        std::env::var_os("HOME").context("$HOME is not set: no place for the shell scripts")?;
    Ok(PathBuf::from(home).join(".cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, value: &str) -> Entry {
        Entry {
            name: name.to_owned(),
            value: value.to_owned(),
            secret: false,
        }
    }

    /// What each shell is started with: its argv, what its scripts read,
    /// and the scripts themselves.
    #[test]
    fn generated_preludes() {
        let entries = [
            entry("XTASK_STAGE", "local"),
            entry("KUBECONFIG", "/repo/deps/kube/hmlet-local.yaml"),
            entry("XTASK_PROMPT", "🐣 local hmlet/photos"),
            entry("PATH", "/repo/deps/bin:/usr/bin"),
            entry("QUOTED", "it's $HOME `x` \\ \"q\""),
        ];
        let prefix = ["/repo/deps/bin".to_owned(), "/repo/.bin".to_owned()];
        for kind in [ShellKind::Bash, ShellKind::Zsh, ShellKind::Fish] {
            let launch = Launch {
                kind,
                program: PathBuf::from(format!("/bin/{}", kind.name())),
                exe: PathBuf::from("/repo/target/debug/xtask"),
                env: vec![("HOME".to_owned(), "/home/me".to_owned())],
                entries: &entries,
                path_prefix: &prefix,
                prompt: Some("🐣 local hmlet/photos"),
                switching: false,
            };
            let mut text = format!(
                "$ {}\n",
                launch.command(Path::new("/cache/stagecraft/scripts"))
            );
            for (name, value) in launch.script_inputs() {
                text.push_str(&format!("\n# {name}\n{value}\n"));
            }
            for (name, script) in kind.files() {
                text.push_str(&format!("\n# file {name}\n{script}"));
            }
            insta::assert_snapshot!(format!("prelude_{}", kind.name()), text);
        }
    }

    #[test]
    fn prompt_widths_count_emoji_as_the_terminal_should() {
        assert_eq!(prompt_width("🛠️ test"), 8);
        assert_eq!(prompt_width("🐣 local hmlet/photos"), 22);
        assert_eq!(prompt_width("🔥 prod"), 8);
        assert_eq!(prompt_width("🤖 stage"), 9);
        assert_eq!(prompt_width("e\u{301}t\u{e9} 漢字"), 9);
    }
}
