//! `xtask shell` in real bash, zsh and fish, driven through tmux.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{TestRepo, XTASK};
use crate::tmux::Tmux;

struct Case {
    shell: &'static str,
    /// The user's rc file (relative to HOME) and its text.
    rc: (&'static str, &'static str),
    prompt: &'static str,
    pid: &'static str,
    /// Typed to change the prompt the way a theme would.
    new_theme: &'static str,
}

const BASH: Case = Case {
    shell: "bash",
    rc: (
        ".bashrc",
        "alias hello='echo hello-from-bash-alias'\n\
         PS1='bashprompt> '\n\
         export KUBECONFIG=\"$HOME/.kube/config\"\n\
         export PATH=\"$HOME/bin:$PATH\"\n",
    ),
    prompt: "bashprompt> ",
    pid: "$$",
    new_theme: "PS1='newtheme> '",
};

const ZSH: Case = Case {
    shell: "zsh",
    rc: (
        ".zshrc",
        "alias hello='echo hello-from-zsh-alias'\n\
         PS1='zshprompt> '\n\
         HISTFILE=$HOME/.zsh_custom_history\n\
         SAVEHIST=1000\n\
         HISTSIZE=1000\n\
         export KUBECONFIG=$HOME/.kube/config\n\
         export PATH=$HOME/bin:$PATH\n",
    ),
    prompt: "zshprompt> ",
    pid: "$$",
    new_theme: "PS1='newtheme> '",
};

const FISH: Case = Case {
    shell: "fish",
    rc: (
        ".config/fish/config.fish",
        "alias hello='echo hello-from-fish-alias'\n\
         function fish_prompt; printf 'fishprompt> '; end\n\
         set -gx KUBECONFIG $HOME/.kube/config\n\
         set -gx PATH $HOME/bin $PATH\n",
    ),
    prompt: "fishprompt> ",
    pid: "$fish_pid",
    new_theme: "function fish_prompt; printf 'newtheme> '; end",
};

fn program(shell: &str) -> PathBuf {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(shell))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{shell} is not installed: apt-get install -y {shell}"))
}

fn script(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, format!("#!/bin/sh\n{text}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn stagecraft_temp_files(repo: &TestRepo) -> Vec<String> {
    fs::read_dir(&repo.tmp)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("stagecraft"))
        .collect()
}

fn drive(case: &Case) {
    let repo = TestRepo::example();
    let rc = repo.home.join(case.rc.0);
    fs::create_dir_all(rc.parent().unwrap()).unwrap();
    fs::write(&rc, case.rc.1).unwrap();
    // A pinned tool and a same-named one of the user's, which the user's rc
    // puts first on PATH: the stage's must win.
    script(&repo.root.join("deps/bin/kubectl"), "echo stage-kubectl");
    script(&repo.home.join("bin/kubectl"), "echo user-kubectl");

    let shell = program(case.shell);
    let mut env = repo.base_env();
    env.retain(|(k, _)| k != "NO_COLOR");
    env.push(("SHELL".to_owned(), shell.display().to_string()));
    let app_dir = repo.root.join("clusters/hmlet/apps/photos");
    let base = repo.home.parent().unwrap();
    let t = Tmux::start(base, &app_dir, &env, XTASK, &["shell", "local"]);

    t.wait_for_words(&format!("🐣 local hmlet/photos {}", case.prompt));
    t.wait_for("your shell startup files set KUBECONFIG");
    let kubeconfig = repo.root.join("deps/kube/views/hmlet-local.yaml");
    t.send_line(&format!(
        "echo \"R1 stage=$XTASK_STAGE log=$LOG_LEVEL bucket=$PHOTOS_BUCKET depth=$XTASK_DEPTH pid={} kc=$KUBECONFIG\"",
        case.pid
    ));
    let screen = t.wait_for("R1 stage=local log=debug bucket=photos-local depth=1 pid=");
    let pid = field(&screen, "R1 ", "pid=");
    assert!(
        screen.contains(&format!("kc={}", kubeconfig.display())),
        "{screen}"
    );

    t.send_line("hello");
    t.wait_for(&format!("hello-from-{}-alias", case.shell));
    t.send_line("kubectl");
    t.wait_for("\nstage-kubectl");
    t.send_line("printenv PHOTOS_UPLOAD_LIMIT_MB && echo R0-set");
    t.wait_for("50\nR0-set");

    // A theme that rewrites the prompt keeps the prefix.
    t.send_line(case.new_theme);
    t.wait_for_words("🐣 local hmlet/photos newtheme> ");

    // No nesting without --nest; a typo keeps the shell.
    t.send_line(&format!("{XTASK} shell test"));
    t.wait_for("already in a Stagecraft shell");
    t.send_line("stage lcoal");
    t.wait_for("did you mean `local`?");

    if case.shell == "bash" {
        // --nest opens a second level on purpose; `exit` comes back.
        t.send_line(&format!("{XTASK} shell test --nest"));
        t.wait_for_words(&format!("🛠️ test hmlet/photos {}", case.prompt));
        t.send_line("echo \"N depth=$XTASK_DEPTH stage=$XTASK_STAGE\"");
        t.wait_for("N depth=2 stage=test");
        t.send_line("exit");
        t.send_line("echo \"B depth=$XTASK_DEPTH stage=$XTASK_STAGE\"");
        t.wait_for("B depth=1 stage=local");
    }

    t.send_line("stage test");
    t.wait_for_words(&format!("🛠️ test hmlet/photos {}", case.prompt));
    t.send_line(&format!(
        "echo \"R2 stage=$XTASK_STAGE depth=$XTASK_DEPTH pid={}\"",
        case.pid
    ));
    t.wait_for(&format!("R2 stage=test depth=1 pid={pid}"));
    // The variables of the stage left behind do not leak into the new one.
    t.send_line("printenv PHOTOS_UPLOAD_LIMIT_MB || echo R3-unset");
    t.wait_for("\nR3-unset");
    if case.shell == "zsh" {
        t.send_line("echo \"H=$HISTFILE\"");
        t.wait_for(&format!("H={}/.zsh_custom_history", repo.home.display()));
    }

    t.send_line("exit 3");
    t.wait_for("EXIT:3");
    assert_eq!(
        stagecraft_temp_files(&repo),
        Vec::<String>::new(),
        "temporary files left behind"
    );
    assert!(!repo.home.join(".kube").exists(), "~/.kube was created");
    if case.shell == "zsh" {
        let history = fs::read_to_string(repo.home.join(".zsh_custom_history")).unwrap();
        assert!(
            history.contains("R2 stage="),
            "the user's HISTFILE has the session:\n{history}"
        );
    }
}

/// The value after `key` on the line that starts with `line_start`.
fn field(screen: &str, line_start: &str, key: &str) -> String {
    let line = screen
        .lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no line {line_start:?} in:\n{screen}"));
    let rest = &line[line.find(key).unwrap() + key.len()..];
    rest.split(' ').next().unwrap().to_owned()
}

#[test]
fn bash_shell() {
    drive(&BASH);
}

#[test]
fn zsh_shell() {
    drive(&ZSH);
}

#[test]
fn fish_shell() {
    drive(&FISH);
}

#[test]
fn protected_stage_prints_a_warning_banner() {
    let repo = TestRepo::example();
    fs::write(repo.home.join(".bashrc"), "PS1='bashprompt> '\n").unwrap();
    let mut env = repo.base_env();
    env.push(("SHELL".to_owned(), program("bash").display().to_string()));
    let base = repo.home.parent().unwrap();
    let t = Tmux::start(base, &repo.root, &env, XTASK, &["shell", "prod"]);
    // At the root of a repository with one cluster, the shell is that cluster's.
    let screen = t.wait_for_words("🔥 prod hmlet bashprompt> ");
    assert!(screen.contains("PROTECTED STAGE `prod`"), "{screen}");
    t.send_line("exit");
    t.wait_for("EXIT:0");
}

#[test]
fn shell_refuses_an_unsupported_shell_with_a_hint() {
    let mut repo = TestRepo::example();
    repo.env.insert("SHELL".into(), "/bin/tcsh".into());
    repo.run(["shell", "local"])
        .fails()
        .stderr_has("`/bin/tcsh`, which is not supported")
        .stderr_has("--shell bash");
}

/// Ctrl-C goes to the wrapped command, which decides how it exits; xtask
/// reports that exit code instead of dying with it.
#[test]
fn ctrl_c_is_the_wrapped_commands_to_handle() {
    let repo = TestRepo::example();
    let base = repo.home.parent().unwrap();
    let t = Tmux::start(
        base,
        &repo.root,
        &repo.base_env(),
        XTASK,
        &[
            "run",
            "local",
            "--",
            "sh",
            "-c",
            "trap 'echo caught-int; exit 7' INT; echo ready; while :; do sleep 0.1; done",
        ],
    );
    t.wait_for("ready");
    t.send_key("C-c");
    t.wait_for("caught-int");
    t.wait_for("EXIT:7");
}
