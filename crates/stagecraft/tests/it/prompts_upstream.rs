//! The stage on every prompt with the upstream trees of the team's
//! fixtures (`../shared/fixtures/prompt-frameworks.tar.gz`, unpacked by
//! .ci/prompts.sh): oh-my-zsh with powerlevel10k in its lean, classic,
//! rainbow and pure configurations, with instant prompt off and on; and
//! liquidprompt with bash-preexec.

use crate::prompts::{
    LOCAL, P10K, Setup, TEST, check, no_fragments, open_stage_shell, prepare, wait_prompt,
};

/// The upstream liquidprompt with bash-preexec loaded first (the team's
/// fixtures): the prefix hook stays before bash-preexec's, which must be
/// last.
#[test]
fn bash_upstream_liquidprompt_with_bash_preexec() {
    check(&Setup {
        shell: "bash",
        rc: "[[ $- = *i* ]] || return\n\
             source {fixtures}/bash-preexec/bash-preexec.sh\n\
             source {fixtures}/liquidprompt/liquidprompt\n",
        needs: &[
            ("{fixtures}/bash-preexec/bash-preexec.sh", P10K.1),
            ("{fixtures}/liquidprompt/liquidprompt", P10K.1),
        ],
        framework: Some("liquidprompt"),
        input_prompt: None,
        prompt_rows: None,
    });
}

/// oh-my-zsh with powerlevel10k and one of its configurations, as the
/// wizard writes them: gitstatus off (it would download its daemon),
/// instant prompt off, or on with p10k's preamble first.
pub fn p10k_rc(config: &str, instant: bool) -> &'static str {
    let preamble = "if [[ -r \"${XDG_CACHE_HOME:-$HOME/.cache}/p10k-instant-prompt-${(%):-%n}.zsh\" ]]; then\n\
           source \"${XDG_CACHE_HOME:-$HOME/.cache}/p10k-instant-prompt-${(%):-%n}.zsh\"\n\
         fi\n";
    let oh_my_zsh = "export ZSH={fixtures}/ohmyzsh\n\
         ZSH_CUSTOM=$HOME/.oh-my-zsh-custom\n\
         ZSH_CACHE_DIR=$HOME/.cache/oh-my-zsh\n\
         ZSH_DISABLE_COMPFIX=true\n\
         DISABLE_AUTO_UPDATE=true\n\
         ZSH_THEME=powerlevel10k/powerlevel10k\n\
         plugins=(git)\n\
         mkdir -p $ZSH_CUSTOM/themes $ZSH_CACHE_DIR\n\
         [[ -e $ZSH_CUSTOM/themes/powerlevel10k ]] || ln -s {fixtures}/powerlevel10k $ZSH_CUSTOM/themes/powerlevel10k\n\
         source $ZSH/oh-my-zsh.sh\n";
    let mode = if instant { "quiet" } else { "off" };
    let rc = format!(
        "{}{oh_my_zsh}source {{fixtures}}/powerlevel10k/config/p10k-{config}.zsh\n\
         typeset -g POWERLEVEL9K_DISABLE_GITSTATUS=true POWERLEVEL9K_DISABLE_CONFIGURATION_WIZARD=true POWERLEVEL9K_INSTANT_PROMPT={mode}\n",
        if instant { preamble } else { "" }
    );
    // A setup's rc is static text; these few live as long as the tests.
    Box::leak(rc.into_boxed_str())
}

fn p10k(config: &str, instant: bool) -> Setup {
    Setup {
        shell: "zsh",
        rc: p10k_rc(config, instant),
        needs: &[P10K],
        framework: Some("powerlevel10k"),
        input_prompt: None,
        prompt_rows: None,
    }
}

/// powerlevel10k shows the stage as its own first segment: no fragment
/// of its prompt code on screen, on every prompt, through `stage test`.
#[test]
fn zsh_oh_my_zsh_powerlevel10k_lean() {
    check(&p10k("lean", false));
}

#[test]
fn zsh_oh_my_zsh_powerlevel10k_classic() {
    check(&p10k("classic", false));
}

#[test]
fn zsh_oh_my_zsh_powerlevel10k_rainbow() {
    check(&p10k("rainbow", false));
}

#[test]
fn zsh_oh_my_zsh_powerlevel10k_pure() {
    check(&p10k("pure", false));
}

/// With instant prompt on, the prompt p10k recorded in one stage is drawn
/// at the start of the next shell: after `stage test` it shows test, and
/// again after switching back.
#[test]
fn zsh_oh_my_zsh_powerlevel10k_with_instant_prompt() {
    for config in ["lean", "rainbow"] {
        let setup = p10k(config, true);
        check(&setup);
        let (repo, env) = prepare(&setup);
        let t = open_stage_shell(&repo, &env, "clusters/hmlet/apps/photos");
        wait_prompt(&t, None, LOCAL);
        t.send_line("echo m-first; stage test");
        no_fragments(&wait_prompt(&t, Some("m-first"), TEST));
        t.send_line("echo m-back; stage local");
        no_fragments(&wait_prompt(&t, Some("m-back"), LOCAL));
        assert!(
            repo.home.join(".cache").read_dir().unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("p10k-instant-prompt-")),
            "{config}: p10k recorded an instant prompt"
        );
        t.send_line("echo m-again; stage test");
        let region = wait_prompt(&t, Some("m-again"), TEST);
        no_fragments(&region);
        assert!(
            !region.iter().any(|r| r.contains(LOCAL)),
            "{config}: the instant prompt of local is not left behind: {region:#?}"
        );
        t.send_line("exit 3");
        t.wait_for("EXIT:3");
    }
}
