//! Time to the first prompt of a stage shell against the bare shell with
//! the same rc file, in a pseudo-terminal, for bash, zsh and fish, with
//! the rc files users have: the default one (bash: Debian's
//! /etc/skel/.bashrc, what a new account gets; zsh and fish: a prompt
//! line), and a prompt framework (liquidprompt for bash, powerlevel9k for
//! zsh).
//!
//! Budget: the shell exactly as `xtask shell local` execs it (its argv and
//! environment, captured by a stand-in shell) <= 1.3x the bare shell
//! (medians): what the generated rc adds to start-up. The whole
//! `xtask shell local` (xtask's own start, resolving the stage, then the
//! exec) is shown beside it; its own cost is budgeted by the startup
//! benchmark.
//!
//! Run: `cargo bench --bench prompt`
//! (see docs/benchmarks.md).

mod common;
use common::{median, workspace};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use stagecraft::pty::Terminal;

const BUDGET: f64 = 1.3;
const RUNS: usize = 31;
const PROMPT: &str = "benchprompt> ";

struct Case {
    shell: &'static str,
    label: &'static str,
    /// The rc file; `{skel}` is Debian's default ~/.bashrc.
    rc: &'static str,
    /// A file the rc needs (.ci/run installs it).
    needs: Option<&'static str>,
}

fn rc_path(home: &Path, shell: &str) -> PathBuf {
    match shell {
        "bash" => home.join(".bashrc"),
        "zsh" => home.join(".zshrc"),
        _ => home.join(".config/fish/config.fish"),
    }
}

/// Starts `command` in a terminal; the time until `PROMPT` shows.
fn first_prompt(command: Command) -> Duration {
    let start = Instant::now();
    let mut term = Terminal::start(command, 40, 160).expect("a terminal");
    let drawn = term
        .read_until(Duration::from_secs(20), None, |out| {
            out.windows(PROMPT.len()).any(|w| w == PROMPT.as_bytes())
        })
        .unwrap();
    let took = start.elapsed();
    assert!(
        drawn,
        "no prompt within 20 s:\n{}",
        String::from_utf8_lossy(term.output())
    );
    took
}

/// The argv and environment `xtask shell local` execs the shell with:
/// `$SHELL` is a stand-in of the same name that writes them down.
fn captured_launch(
    xtask: &str,
    shell: &str,
    home: &Path,
    root: &Path,
) -> (Vec<String>, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let stand_in = dir.path().join(shell);
    let record = dir.path().join("record");
    fs::write(
        &stand_in,
        format!(
            "#!/bin/sh\nprintf '%s\\0' \"$@\" > '{0}.args'\nenv -0 > '{0}.env'\n",
            record.display()
        ),
    )
    .unwrap();
    fs::set_permissions(
        &stand_in,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let status = Command::new(xtask)
        .args(["shell", "local", "--quiet"])
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .env("TERM", "xterm-256color")
        .env("SHELL", &stand_in)
        .current_dir(root)
        .status()
        .unwrap();
    assert!(status.success(), "xtask shell local with a stand-in shell");
    let split = |path: PathBuf| -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let args = split(record.with_extension("args"));
    let env = split(record.with_extension("env"))
        .into_iter()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        // The stand-in's shell adds these; the real one sets its own.
        .filter(|(k, _)| !["PWD", "SHLVL", "_", "OLDPWD"].contains(&k.as_str()))
        .collect();
    (args, env)
}

fn main() {
    let xtask = env!("CARGO_BIN_EXE_stagecraft");
    let root = workspace();
    let cases = [
        Case {
            shell: "bash",
            label: "Debian's default",
            rc: "{skel}\nPS1='benchprompt> '\n",
            needs: Some("/etc/skel/.bashrc"),
        },
        Case {
            shell: "bash",
            label: "liquidprompt",
            rc: "source /usr/share/liquidprompt/liquidprompt\nLP_PS1_POSTFIX='benchprompt> '\n",
            needs: Some("/usr/share/liquidprompt/liquidprompt"),
        },
        Case {
            shell: "zsh",
            label: "a prompt line",
            rc: "PS1='benchprompt> '\n",
            needs: None,
        },
        Case {
            shell: "zsh",
            label: "powerlevel9k",
            rc: "source /usr/share/powerlevel9k/powerlevel9k.zsh-theme\nPOWERLEVEL9K_LEFT_PROMPT_ELEMENTS=(dir)\nPOWERLEVEL9K_MULTILINE_LAST_PROMPT_PREFIX='benchprompt> '\nPOWERLEVEL9K_PROMPT_ON_NEWLINE=true\n",
            needs: Some("/usr/share/powerlevel9k/powerlevel9k.zsh-theme"),
        },
        Case {
            shell: "fish",
            label: "a prompt line",
            rc: "function fish_prompt; printf 'benchprompt> '; end\nset -g fish_greeting\n",
            needs: None,
        },
    ];
    let mut failed = Vec::new();
    println!(
        "{:<6} {:<24} {:>10} {:>12} {:>7} {:>12}",
        "shell", "rc", "bare", "stage shell", "ratio", "xtask shell"
    );
    for case in &cases {
        let label = case.label;
        if let Some(needs) = case.needs {
            assert!(
                Path::new(needs).exists(),
                "{needs} is missing: install the prompt frameworks (.ci/run does)"
            );
        }
        let program = format!("/usr/bin/{}", case.shell);
        let home = tempfile::tempdir().unwrap();
        let rc = rc_path(home.path(), case.shell);
        fs::create_dir_all(rc.parent().unwrap()).unwrap();
        let skel = fs::read_to_string("/etc/skel/.bashrc").unwrap_or_default();
        fs::write(&rc, case.rc.replace("{skel}", &skel)).unwrap();
        let env = |cmd: &mut Command| {
            cmd.env_clear()
                .env("HOME", home.path())
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("LANG", "C.UTF-8")
                .env("TERM", "xterm-256color")
                .env("SHELL", &program)
                .current_dir(&root);
        };
        let bare = || {
            let mut cmd = Command::new(&program);
            cmd.arg("-i");
            env(&mut cmd);
            cmd
        };
        let whole = || {
            let mut cmd = Command::new(xtask);
            cmd.args(["shell", "local", "--quiet"]);
            env(&mut cmd);
            cmd
        };
        let (args, launch_env) = captured_launch(xtask, case.shell, home.path(), &root);
        let launched = || {
            let mut cmd = Command::new(&program);
            cmd.args(&args)
                .env_clear()
                .envs(launch_env.iter().map(|(k, v)| (k, v)))
                .current_dir(&root);
            cmd
        };
        // Warm the caches (the scripts' folder, the page cache), then
        // alternate so that drift hits all alike.
        first_prompt(bare());
        first_prompt(launched());
        first_prompt(whole());
        let (mut b, mut l, mut w) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            b.push(first_prompt(bare()));
            l.push(first_prompt(launched()));
            w.push(first_prompt(whole()));
        }
        let (b, l, w) = (median(&mut b), median(&mut l), median(&mut w));
        let ratio = l.as_secs_f64() / b.as_secs_f64();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:<6} {label:<24} {:>8.1}ms {:>10.1}ms {:>6.2}x {:>10.1}ms",
            case.shell,
            ms(b),
            ms(l),
            ratio,
            ms(w)
        );
        if ratio > BUDGET {
            failed.push(format!(
                "{} with {label}: {ratio:.2}x the bare shell (budget {BUDGET}x)",
                case.shell
            ));
        }
    }
    if !failed.is_empty() {
        eprintln!("over budget:\n  {}", failed.join("\n  "));
        std::process::exit(1);
    }
}
