//! The stage on every prompt, in the prompt setups people use: real bash,
//! zsh and fish with real prompt frameworks (Debian's liquidprompt,
//! powerlevel9k, powerline, zsh-autosuggestions, zsh-syntax-highlighting;
//! npm's pure and spaceship; oh-my-zsh with powerlevel10k from the team's
//! fixtures), driven in tmux with a sandboxed HOME. For each: the prefix
//! on the first prompt, after `cd`, after a failing command and after
//! `stage test`; never a literal `$XTASK_PROMPT` nor a fragment of prompt
//! code; the cursor where the terminal shows it after a long line; and
//! `doctor` reading the same prompt off a terminal of its own.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use unicode_width::UnicodeWidthStr;

use crate::support::{TestRepo, XTASK, workspace};
use crate::tmux::{Tmux, squeeze};

pub const LOCAL: &str = "🐣 local hmlet/photos";
pub const TEST: &str = "🛠️ test hmlet/photos";
/// The pane's width (tests/it/tmux.rs).
const COLUMNS: usize = 200;

pub struct Setup {
    pub shell: &'static str,
    /// The user's rc file; `{npm}` stands for the npm frameworks' folder.
    pub rc: &'static str,
    /// Files the setup needs, and the package that has them.
    pub needs: &'static [(&'static str, &'static str)],
    /// What `doctor` names.
    pub framework: Option<&'static str>,
    /// The user's own prompt on the input line, when it is plain text:
    /// the cursor must then be at the prefix's width plus its width.
    pub input_prompt: Option<&'static str>,
    /// The rows the prompt takes, when the setup is about that.
    pub prompt_rows: Option<usize>,
}

pub const LIQUIDPROMPT: (&str, &str) = ("/usr/share/liquidprompt/liquidprompt", "liquidprompt");
pub const POWERLINE: (&str, &str) = ("/usr/share/powerline/bindings", "powerline");
pub const P9K: (&str, &str) = (
    "/usr/share/powerlevel9k/powerlevel9k.zsh-theme",
    "zsh-theme-powerlevel9k",
);
pub const NPM: (&str, &str) = ("{npm}/pure-prompt/pure.zsh", "npm: bash .ci/prompts.sh");
pub const P10K: (&str, &str) = (
    "{fixtures}/powerlevel10k/powerlevel10k.zsh-theme",
    "../shared/fixtures/prompt-frameworks.tar.gz: bash .ci/prompts.sh",
);

pub fn npm_dir() -> PathBuf {
    workspace().join("target/prompt-frameworks/node_modules")
}

/// oh-my-zsh, powerlevel10k, liquidprompt, bash-preexec: the upstream
/// trees of the team's fixtures, unpacked by .ci/prompts.sh.
pub fn fixtures_dir() -> PathBuf {
    workspace().join("target/prompt-frameworks/fixtures")
}

/// `{npm}` and `{fixtures}` in a setup's text.
pub fn expand(text: &str) -> String {
    text.replace("{npm}", &npm_dir().display().to_string())
        .replace("{fixtures}", &fixtures_dir().display().to_string())
}

pub fn rc_file(shell: &str) -> &'static str {
    match shell {
        "bash" => ".bashrc",
        "zsh" => ".zshrc",
        _ => ".config/fish/config.fish",
    }
}

pub fn program(shell: &str) -> String {
    format!("/usr/bin/{shell}")
}

/// A sandboxed HOME with the setup's rc file, and the environment of a
/// user whose login shell it is.
pub fn prepare(setup: &Setup) -> (TestRepo, Vec<(String, String)>) {
    for (path, package) in setup.needs {
        let path = expand(path);
        assert!(
            std::path::Path::new(&path).exists(),
            "{path} is missing: install {package} (.ci/run does)"
        );
    }
    let repo = TestRepo::example();
    let rc = repo.home.join(rc_file(setup.shell));
    fs::create_dir_all(rc.parent().unwrap()).unwrap();
    fs::write(&rc, expand(setup.rc)).unwrap();
    let mut env = repo.base_env();
    env.retain(|(k, _)| k != "NO_COLOR");
    env.push(("SHELL".to_owned(), program(setup.shell)));
    (repo, env)
}

/// A sandboxed HOME whose `shell` has the rc file `rc`, nothing else.
pub fn prepare_plain(shell: &'static str, rc: &'static str) -> (TestRepo, Vec<(String, String)>) {
    prepare(&Setup {
        shell,
        rc,
        needs: &[],
        framework: None,
        input_prompt: None,
        prompt_rows: None,
    })
}

/// `xtask shell local` in `dir` (relative to the repository), in tmux.
pub fn open_stage_shell(repo: &TestRepo, env: &[(String, String)], dir: &str) -> Tmux {
    Tmux::start(
        repo.home.parent().unwrap(),
        &repo.root.join(dir),
        env,
        XTASK,
        &["shell", "local"],
    )
}

/// The rows of the prompt drawn after the output line `after` (from the
/// top without it), once it shows `prefix` and stays so for a moment
/// (themes redraw asynchronously).
#[track_caller]
pub fn wait_prompt(t: &Tmux, after: Option<&str>, prefix: &str) -> Vec<String> {
    let find = |t: &Tmux| -> Option<Vec<String>> {
        let rows = t.rows();
        let (_, y) = t.cursor();
        let start = match after {
            Some(marker) => rows.iter().rposition(|r| r.trim_end() == marker)? + 1,
            None => 0,
        };
        // Notes the switch printed (no cluster yet, a tool not installed)
        // come before the prompt; at 200 columns each is one row.
        let start = start
            + rows[start.min(rows.len())..]
                .iter()
                .take_while(|r| r.starts_with("note: "))
                .count();
        if y < start || y >= rows.len() {
            return None;
        }
        let region = rows[start..=y].to_vec();
        let shown = region.iter().any(|r| squeeze(r).contains(&squeeze(prefix)));
        shown.then_some(region)
    };
    let what = format!("a prompt showing {prefix:?} after {after:?}");
    loop {
        let first = t.wait_until(&what, find);
        std::thread::sleep(Duration::from_millis(300));
        if let Some(region) = find(t).filter(|r| *r == first) {
            return region;
        }
    }
}

/// Types a line longer than the pane: the cursor must follow where the
/// terminal draws the text, wrapping included, and go back to the
/// prompt's end on Ctrl-A. A line editor that counts the prefix's width
/// unlike the terminal misplaces both.
#[track_caller]
fn cursor_follows_typing(t: &Tmux, input_prompt: Option<&str>) {
    let (x0, y0) = t.cursor();
    if let Some(prompt) = input_prompt {
        // The prefix is padded to its width as Unicode counts it (🛠️: 2).
        let on_input_line = squeeze(&t.rows()[y0]).contains(&squeeze(TEST));
        let prefix = if on_input_line { TEST.width() + 1 } else { 0 };
        let expected = prefix + prompt.width();
        assert_eq!(
            x0,
            expected,
            "the prompt should end at column {expected}:\n{}",
            t.screen()
        );
    }
    let text = format!(": {}", "abcdefghij".repeat(25));
    t.type_text(&text);
    let end = x0 + text.len();
    let expected = (end % COLUMNS, y0 + end / COLUMNS);
    t.wait_until(
        &format!(
            "the cursor at {expected:?} after typing {} columns",
            text.len()
        ),
        |t| (t.cursor() == expected).then_some(()),
    );
    // Wrapped exactly at the margin: the rows joined hold it unbroken.
    let rows = t.rows();
    let joined: String = rows[y0..=expected.1].iter().map(|r| r.as_str()).collect();
    assert!(
        joined.contains(&text),
        "the typed line is drawn in one piece:\n{}",
        rows.join("\n")
    );
    t.send_key("C-a");
    t.wait_until(
        &format!("the cursor back at the prompt's end {:?}", (x0, y0)),
        |t| (t.cursor() == (x0, y0)).then_some(()),
    );
    t.send_key("C-e");
    t.send_key("C-u");
    t.wait_until("the typed line cleared", |t| {
        (t.cursor() == (x0, y0)).then_some(())
    });
}

/// What a prompt that splices text into a theme's own prompt code leaves
/// on screen (as powerlevel10k's `❯+❯ }}` once was): never drawn.
#[track_caller]
pub fn no_fragments(region: &[String]) {
    for row in region {
        for fragment in ["${", "%{", "%}", "}}", "❯+", "+❯", "$'"] {
            assert!(
                !row.contains(fragment),
                "a fragment {fragment:?} of prompt code on screen: {region:#?}"
            );
        }
    }
}

/// `doctor --json`'s shell prompt check in the same HOME.
pub fn doctor_prompt(repo: &TestRepo, env: &[(String, String)]) -> serde_json::Value {
    doctor_check(repo, env, "shell prompt")
}

/// The check named `name` of `doctor --json`, run in the photos app.
pub fn doctor_check(repo: &TestRepo, env: &[(String, String)], name: &str) -> serde_json::Value {
    let out = std::process::Command::new(XTASK)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(repo.root.join("clusters/hmlet/apps/photos"))
        .args(["doctor", "--json"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} check in {checks:#}"))
}

pub fn check(setup: &Setup) {
    let (repo, env) = prepare(setup);
    let t = open_stage_shell(&repo, &env, "clusters/hmlet/apps/photos");
    wait_prompt(&t, None, LOCAL);
    t.send_line("cd / && echo m-cd");
    wait_prompt(&t, Some("m-cd"), LOCAL);
    t.send_line("echo m-false; false");
    wait_prompt(&t, Some("m-false"), LOCAL);
    // Outside the repository: the shell switches in its own.
    t.send_line("echo m-stage; stage test");
    let region = wait_prompt(&t, Some("m-stage"), TEST);
    for (marker, prefix) in [("m-cd", LOCAL), ("m-false", LOCAL)] {
        let rows = t.rows();
        if let Some(at) = rows.iter().position(|r| r.trim_end() == marker) {
            let before: Vec<String> = rows[at.saturating_sub(3)..at].to_vec();
            assert!(
                before.iter().any(|r| squeeze(r).contains(&squeeze(prefix))),
                "the prompt before {marker} showed the stage: {before:#?}"
            );
        }
    }
    assert!(
        !region.iter().any(|r| r.contains(LOCAL)),
        "the previous stage's prefix is gone: {region:#?}"
    );
    if let Some(rows) = setup.prompt_rows {
        assert_eq!(region.len(), rows, "the prompt's rows: {region:#?}");
        assert!(
            squeeze(region.last().unwrap()).contains(&squeeze(TEST)),
            "the prefix is on the line you type on: {region:#?}"
        );
    }
    no_fragments(&region);
    cursor_follows_typing(&t, setup.input_prompt);
    let screen = t.screen();
    assert!(
        !screen.contains("${XTASK_PROMPT}") && !screen.contains("$XTASK_PROMPT"),
        "a literal reference on screen:\n{screen}"
    );
    t.send_line("exit 4");
    t.wait_for("EXIT:4");

    let prompt = doctor_prompt(&repo, &env);
    assert_eq!(prompt["ok"], true, "{prompt:#}");
    assert_eq!(
        prompt["prompt"]["framework"].as_str(),
        setup.framework,
        "{prompt:#}"
    );
    assert_eq!(prompt["prompt"]["shows_stage"], true, "{prompt:#}");
}

#[test]
fn bash_plain() {
    check(&Setup {
        shell: "bash",
        rc: "PS1='bashprompt> '\n",
        needs: &[],
        framework: None,
        input_prompt: Some("bashprompt> "),
        prompt_rows: Some(1),
    });
}

#[test]
fn bash_liquidprompt() {
    check(&Setup {
        shell: "bash",
        rc: "[[ $- = *i* ]] && source /usr/share/liquidprompt/liquidprompt\n",
        needs: &[LIQUIDPROMPT],
        framework: Some("liquidprompt"),
        input_prompt: None,
        prompt_rows: None,
    });
}

/// Themes that turn `promptvars` off (liquidprompt did) get the prefix
/// as text, not as a reference they would print literally.
#[test]
fn bash_liquidprompt_without_promptvars() {
    check(&Setup {
        shell: "bash",
        rc: "[[ $- = *i* ]] && source /usr/share/liquidprompt/liquidprompt\n\
             shopt -u promptvars\n",
        needs: &[LIQUIDPROMPT],
        framework: Some("liquidprompt"),
        input_prompt: None,
        prompt_rows: None,
    });
}

#[test]
fn bash_powerline() {
    check(&Setup {
        shell: "bash",
        rc: ". /usr/share/powerline/bindings/bash/powerline.sh\n",
        needs: &[POWERLINE],
        framework: Some("powerline"),
        input_prompt: None,
        prompt_rows: None,
    });
}

#[test]
fn zsh_plain() {
    check(&Setup {
        shell: "zsh",
        rc: "PS1='zshprompt> '\n",
        needs: &[],
        framework: None,
        input_prompt: Some("zshprompt> "),
        prompt_rows: Some(1),
    });
}

#[test]
fn zsh_powerlevel9k() {
    check(&Setup {
        shell: "zsh",
        rc: "source /usr/share/powerlevel9k/powerlevel9k.zsh-theme\n",
        needs: &[P9K],
        framework: Some("powerlevel9k"),
        input_prompt: None,
        prompt_rows: None,
    });
}

#[test]
fn zsh_powerline() {
    check(&Setup {
        shell: "zsh",
        rc: "source /usr/share/powerline/bindings/zsh/powerline.zsh\n",
        needs: &[POWERLINE],
        framework: Some("powerline"),
        input_prompt: None,
        prompt_rows: None,
    });
}

#[test]
fn zsh_autosuggestions_and_syntax_highlighting() {
    check(&Setup {
        shell: "zsh",
        rc: "PS1='zshprompt> '\n\
             source /usr/share/zsh-autosuggestions/zsh-autosuggestions.zsh\n\
             source /usr/share/zsh-syntax-highlighting/zsh-syntax-highlighting.zsh\n",
        needs: &[
            (
                "/usr/share/zsh-autosuggestions/zsh-autosuggestions.zsh",
                "zsh-autosuggestions",
            ),
            (
                "/usr/share/zsh-syntax-highlighting/zsh-syntax-highlighting.zsh",
                "zsh-syntax-highlighting",
            ),
        ],
        framework: None,
        input_prompt: Some("zshprompt> "),
        prompt_rows: Some(1),
    });
}

#[test]
fn zsh_pure() {
    check(&Setup {
        shell: "zsh",
        rc: "fpath+=({npm}/pure-prompt)\nautoload -U promptinit; promptinit\nprompt pure\n",
        needs: &[NPM],
        framework: Some("pure"),
        input_prompt: Some("❯ "),
        prompt_rows: None,
    });
}

/// spaceship redraws from async callbacks: the prefix is its section.
#[test]
fn zsh_spaceship() {
    check(&Setup {
        shell: "zsh",
        rc: "source {npm}/spaceship-prompt/spaceship.zsh\n",
        needs: &[NPM],
        framework: Some("spaceship"),
        input_prompt: Some("➜ "),
        prompt_rows: None,
    });
}

/// adam2 fills its first line to the terminal's width: the prefix goes
/// on the last line, so the prompt stays two lines.
#[test]
fn zsh_adam2() {
    check(&Setup {
        shell: "zsh",
        rc: "autoload -Uz promptinit; promptinit; prompt adam2\n",
        needs: &[],
        framework: Some("prompt adam2"),
        input_prompt: None,
        prompt_rows: Some(2),
    });
}

/// A theme whose hook puts itself last on every prompt and rebuilds PS1,
/// as powerlevel10k's does.
#[test]
fn zsh_theme_whose_hook_insists_on_running_last() {
    check(&Setup {
        shell: "zsh",
        rc: "__theme_precmd() {\n\
               PS1='theme> '\n\
               precmd_functions=(${precmd_functions:#__theme_precmd} __theme_precmd)\n\
             }\n\
             precmd_functions+=(__theme_precmd)\n\
             __theme_line_init() { PS1='theme> '; zle .reset-prompt }\n\
             zle -N zle-line-init __theme_line_init\n",
        needs: &[],
        framework: None,
        input_prompt: Some("theme> "),
        prompt_rows: Some(1),
    });
}

#[test]
fn fish_plain() {
    check(&Setup {
        shell: "fish",
        rc: "function fish_prompt; printf 'fishprompt> '; end\n",
        needs: &[],
        framework: None,
        input_prompt: Some("fishprompt> "),
        prompt_rows: Some(1),
    });
}

/// A two-line fish prompt: the prefix goes on the line you type on.
#[test]
fn fish_two_line_prompt() {
    check(&Setup {
        shell: "fish",
        rc: "function fish_prompt; printf '%s\\n' (prompt_pwd); printf 'fishprompt> '; end\n",
        needs: &[],
        framework: None,
        input_prompt: Some("fishprompt> "),
        prompt_rows: Some(2),
    });
}

#[test]
fn fish_powerline() {
    check(&Setup {
        shell: "fish",
        rc: "set -g fish_key_bindings fish_default_key_bindings\n\
             set fish_function_path $fish_function_path /usr/share/powerline/bindings/fish\n\
             source /usr/share/powerline/bindings/fish/powerline-setup.fish\n\
             powerline-setup\n",
        needs: &[POWERLINE],
        framework: Some("powerline"),
        input_prompt: None,
        prompt_rows: None,
    });
}

/// A prompt format with shell syntax in it shows as written: bash with
/// promptvars on and off, zsh with promptsubst, fish.
#[test]
fn the_prefix_is_text_whatever_the_prompt_options() {
    for (shell, rc) in [
        ("bash", "PS1='bashprompt> '\n"),
        ("bash", "PS1='bashprompt> '\nshopt -u promptvars\n"),
        ("zsh", "setopt promptsubst promptbang\nPS1='zshprompt> '\n"),
        ("fish", "function fish_prompt; printf 'fishprompt> '; end\n"),
    ] {
        let (repo, env) = prepare_plain(shell, rc);
        let shell_toml = repo.read("shell.toml").replace(
            "format = \"{emoji} {stage} {scope}\"",
            r#"format = "{emoji} {stage} $(echo hacked) $HOME `id` \\w %~ !x 100%""#,
        );
        repo.write("shell.toml", &shell_toml);
        let t = open_stage_shell(&repo, &env, "");
        let literal = r"🐣 local $(echo hacked) $HOME `id` \w %~ !x 100%";
        let region = wait_prompt(&t, None, literal);
        let text = region.join("\n");
        assert!(!text.contains("hacked hmlet"), "{shell}: {text}");
        t.send_line("exit");
        t.wait_for("EXIT:0");
    }
}

/// `stage NAME` replaces the shell without a second greeting: the rc
/// file's output, fish's greeting and Stagecraft's own notes show once.
#[test]
fn switching_stage_keeps_the_session_quiet() {
    for (shell, rc, greeting) in [
        (
            "bash",
            "echo motd-from-bashrc\nexport KUBECONFIG=$HOME/k\nPS1='bashprompt> '\n",
            "motd-from-bashrc",
        ),
        (
            "zsh",
            "echo motd-from-zshrc\nexport KUBECONFIG=$HOME/k\nPS1='zshprompt> '\n",
            "motd-from-zshrc",
        ),
        (
            "fish",
            "set -gx KUBECONFIG $HOME/k\nfunction fish_prompt; printf 'fishprompt> '; end\n",
            "Welcome to fish",
        ),
    ] {
        let (repo, env) = prepare_plain(shell, rc);
        let t = open_stage_shell(&repo, &env, "");
        wait_prompt(&t, None, "🐣 local hmlet");
        t.send_line("echo m-stage; stage test");
        wait_prompt(&t, Some("m-stage"), "🛠️ test hmlet");
        t.send_line("echo m-back; stage local");
        wait_prompt(&t, Some("m-back"), "🐣 local hmlet");
        let screen = t.screen();
        for once in [
            greeting,
            "your shell startup files set KUBECONFIG",
            "`stage <name>` switches",
        ] {
            assert_eq!(
                screen.matches(once).count(),
                1,
                "{shell}: {once:?} shows once:\n{screen}"
            );
        }
        t.send_line("exit");
        t.wait_for("EXIT:0");
    }
}

/// `STAGECRAFT_PROMPT_PREFIX` is the user's: `off` wins over shell.toml's
/// `enabled = true`, `on` over `false`, anything else is refused with
/// what to write.
#[test]
fn each_user_turns_the_prefix_on_or_off_for_themselves() {
    let (repo, mut env) = prepare_plain("bash", "PS1='bashprompt> '\n");
    let mut with = |value: &str| {
        env.retain(|(k, _)| k != "STAGECRAFT_PROMPT_PREFIX");
        env.push(("STAGECRAFT_PROMPT_PREFIX".to_owned(), value.to_owned()));
        env.clone()
    };
    let off = with("off");
    let t = open_stage_shell(&repo, &off, "");
    t.wait_for("bashprompt> ");
    t.send_line("echo \"m-off $XTASK_PROMPT\"");
    let screen = t.wait_for("\nm-off 🐣 local hmlet");
    let prompt_lines: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("bashprompt>"))
        .collect();
    assert!(
        prompt_lines.iter().all(|l| l.starts_with("bashprompt> ")),
        "no prefix, $XTASK_PROMPT still set:\n{screen}"
    );
    t.send_line("exit");
    t.wait_for("EXIT:0");

    let toml = repo
        .read("shell.toml")
        .replace("enabled = true", "enabled = false");
    repo.write("shell.toml", &toml);
    let on = with("on");
    let t = open_stage_shell(&repo, &on, "");
    wait_prompt(&t, None, "🐣 local hmlet bashprompt>");
    t.send_line("exit");
    t.wait_for("EXIT:0");

    let bad = with("maybe");
    let out = std::process::Command::new(XTASK)
        .env_clear()
        .envs(bad.iter().map(|(k, v)| (k, v)))
        .current_dir(&repo.root)
        .args(["shell", "local"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("STAGECRAFT_PROMPT_PREFIX=maybe: expected `on` or `off`"),
        "{stderr}"
    );
}
